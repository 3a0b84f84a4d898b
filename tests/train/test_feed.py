"""VSR training reads the patch job's index through Ray Data: the same samples from folders and from shards
on 2 Train workers (a run may switch between them and resume), no directory walk, a deterministic split by
key, and bad data as one line."""

from __future__ import annotations

import dataclasses
import shutil
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from vidray.config import from_dict
from vidray.errors import ConfigError, InputError
from vidray.io import storage
from vidray.stage import Scale
from vidray.train.config import TrainConfig
from vidray.train.feed import TRAIN, VAL, build_feed, check_feed_fits, data_error
from vidray.train.patch_index import in_val, sample_id, select_patches
from vidray.train.tasks import check_data
from vidray.train.trainer import run_training


def cfg_for(data, **kw) -> TrainConfig:
    return from_dict(TrainConfig, {"model": "vsr", "preset": "tiny", "data": str(data), "vsr_crop": 48,
                                   "val_fraction": 0.3, "batch_size": 2, "num_workers": 2, "cpus_per_worker": 0.5,
                                   "gpu": False, **kw})


@pytest.fixture
def no_listing(monkeypatch):
    """The training path must find its files through the index: listing a directory fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the VSR training path listed a directory")

    monkeypatch.setattr(storage, "list_files", refuse)
    monkeypatch.setattr(storage, "list_names", refuse)


def synthetic_index(root, n: int) -> None:
    """An index of ``n`` ok extractions (2 categories, 2 formats) with no files behind it."""
    from vidray.patches.index import write_index

    rows = [{"key": f"film{i // 500}/{('general', 'space')[i % 2]}/{('small_540', 'fullhd')[i % 3 == 0]}/{i}",
             "video": f"film{i // 500}", "category": ("general", "space")[i % 2],
             "format": ("small_540", "fullhd")[i % 3 == 0], "index": i, "status": "ok" if i % 50 else "failed",
             "gt": f"GT/{i}.png", "lr": f"LR/{i}.png"} for i in range(n)]
    write_index(str(root), rows)


def test_the_split_is_a_linear_time_function_of_the_key(tmp_path):
    synthetic_index(tmp_path, 60_000)
    start = time.perf_counter()
    sel = select_patches(str(tmp_path), "small_540", None, 0.1, "folders")
    seconds = time.perf_counter() - start
    assert seconds < 5  # the old per-element set rebuild took minutes at this size
    train, val = sel.train["key"].to_pylist(), sel.val["key"].to_pylist()
    index = pq.read_table(tmp_path / "index.parquet").to_pylist()
    ok = [r["key"] for r in index if r["status"] == "ok" and r["format"] == "small_540"]
    assert sorted(train + val) == sorted(ok) and not set(train) & set(val)
    assert all(in_val(k, 0.1) for k in val) and not any(in_val(k, 0.1) for k in train)
    assert 0.08 < len(val) / len(ok) < 0.12
    again = select_patches(str(tmp_path), "small_540", None, 0.1, "folders")
    assert again.train.equals(sel.train) and again.val.equals(sel.val)
    # a key keeps its side whatever else is selected: the split depends on the key alone
    space = select_patches(str(tmp_path), "small_540", ["space"], 0.1, "folders")
    assert set(space.val["key"].to_pylist()) == {k for k in val if "/space/" in k}
    assert len({sample_id(k) for k in ok}) == len(ok)


def test_folders_and_shards_feed_the_same_samples_without_listing_a_directory(ray_local, vsr_patches, no_listing):
    seen = {}
    for source in ("folders", "shards"):
        cfg = cfg_for(vsr_patches, vsr_source=source)
        check_data(cfg)
        feed = build_feed(cfg)
        assert feed.selection.source == source and feed.rows[TRAIN] >= 6 and feed.rows[VAL] >= 2
        seen[source] = {name: {r["id"]: r for r in ds.take_all()} for name, ds in feed.datasets.items()}
        keys = feed.selection.train["key"].to_pylist()
        assert sorted(seen[source][TRAIN]) == sorted(sample_id(k) for k in keys)
        for row in seen[source][TRAIN].values():  # a random crop, LR aligned with GT (LR = GT area-downscaled)
            lr, gt = torch.tensor(row["lr"]).float(), torch.tensor(row["gt"]).float()
            assert lr.shape == (5, 3, 16, 16) and gt.shape == (3, 48, 48)
            assert (torch.nn.functional.avg_pool2d(gt[None], 3)[0] - lr[2]).abs().mean() < 4
    folders, shards = seen["folders"], seen["shards"]
    assert folders[TRAIN].keys() == shards[TRAIN].keys() and folders[VAL].keys() == shards[VAL].keys()
    for i, row in folders[VAL].items():  # validation takes the centre crop: the same pixels from either source
        assert np.array_equal(row["gt"], shards[VAL][i]["gt"]) and np.array_equal(row["lr"], shards[VAL][i]["lr"])
    few = {s: build_feed(cfg_for(vsr_patches, vsr_source=s, max_train_samples=3)) for s in ("folders", "shards")}
    ids = {s: sorted(r["id"] for r in f.datasets[TRAIN].take_all()) for s, f in few.items()}
    assert ids["folders"] == ids["shards"] and len(ids["folders"]) == 3


def test_vsr_trains_on_two_workers_from_folders_then_resumes_from_shards(ray_local, vsr_patches, tmp_path,
                                                                        no_listing):
    cfg = cfg_for(vsr_patches, vsr_source="folders", epochs=1, run_name="vsr", storage=str(tmp_path))
    first = run_training(cfg, write_results=False, verbose=False)
    # the same run continues from its checkpoint reading the shards: epoch 1 is restored, epoch 2 trained
    resumed = run_training(dataclasses.replace(cfg, vsr_source="shards", epochs=2), write_results=False,
                           verbose=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert resumed.history[0]["reported_at"] == first.history[0]["reported_at"]
    n_train = build_feed(cfg).rows[TRAIN]
    folders, shards = resumed.history
    for row in (folders, shards):
        assert row["shard_overlap"] == 0 and row["shard_coverage"] == 2 * (n_train // 2)  # equal, disjoint shares
        assert np.isfinite(row["train_loss"]) and np.isfinite(row["val_openstl_mse"])
    # the same validation samples: the bicubic baseline scores them identically from either source (LPIPS
    # aside: on CPU it scores only each rank's first samples, and which rank gets which sample varies)
    base = [k for k in folders if k.startswith("baseline_") and "lpips" not in k]
    assert base and all(folders[k] == pytest.approx(shards[k], rel=1e-9) for k in base)


def test_bad_patch_data_is_one_line_before_any_worker(ray_local, vsr_patches, tmp_path):
    with pytest.raises(InputError, match="has no index.parquet: .*rerun `vidray patches"):
        check_data(cfg_for(tmp_path))
    with pytest.raises(InputError, match="Pass the patch job's output folder"):
        check_data(cfg_for(vsr_patches / "Universal"))
    with pytest.raises(InputError, match=r"no ok extractions of crop format fullhd; its index holds "
                                         r"small_540 \(general \d+, space \d+\)"):
        check_data(cfg_for(vsr_patches, vsr_format="fullhd"))
    with pytest.raises(ConfigError, match="vsr_categories: unknown 'cartoon'"):
        cfg_for(vsr_patches, vsr_categories=["cartoon"])
    with pytest.raises(InputError, match="has no index.parquet"):  # run_training checks before writing anything
        run_training(cfg_for(tmp_path, run_name="no-index", storage=str(tmp_path / "runs")))
    assert not (tmp_path / "runs" / "no-index").exists()


def test_an_unreadable_png_names_itself(ray_local, vsr_patches, tmp_path):
    data = tmp_path / "copy"
    shutil.copytree(vsr_patches, data)
    cfg = cfg_for(data, vsr_source="folders")
    train = build_feed(cfg).selection.train.to_pylist()
    (data / train[-1]["gt"]).write_bytes(b"not a png")  # met by a decode task, mid-epoch
    with pytest.raises(Exception) as failed:
        build_feed(cfg).datasets[TRAIN].take_all()
    bad = data_error(failed.value)
    assert isinstance(bad, InputError) and bad.path == str(data / train[-1]["gt"])
    assert "cannot be read as a PNG image" in str(bad)
    (data / train[0]["gt"]).write_bytes(b"")  # the first sample: caught on the driver, before Ray Train starts
    with pytest.raises(InputError, match="patch_bunny_idx.*cannot be read as a PNG image"):
        check_data(cfg)
    shards = dataclasses.replace(cfg, vsr_source="shards")
    first = min(r["shard"] for r in train)
    (data / first).write_bytes(b"not a tar" * 100)
    with pytest.raises(InputError, match=f"{first}: is not a readable tar"):
        check_data(shards)


def test_train_workers_must_leave_a_cpu_for_decoding():
    cfg = cfg_for("unused", num_workers=2, cpus_per_worker=1)
    with pytest.raises(ConfigError, match="2 Train worker.*leave 0 of the cluster's 2 CPUs.*--cpus-per-worker"):
        check_feed_fits(cfg, Scale(), {"CPU": 2.0})
    check_feed_fits(dataclasses.replace(cfg, cpus_per_worker=0.5), Scale(),
                    {"CPU": 2.0})
    with pytest.raises(ConfigError, match="no node of this cluster has a 'decode' resource"):
        check_feed_fits(cfg, Scale(task_resources={"decode": 1}), {"CPU": 8.0})
