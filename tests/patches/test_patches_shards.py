"""Patches as WebDataset shards and the Parquet index: the same pixels as the folder tree, exact shard sizes,
the same bytes on 1 or 2 workers and after a crashed driver, read back by webdataset, Ray Data and pyarrow."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from vidray.io.png import read_png
from vidray.patches.config import parse_patches_config
from vidray.patches.index import INDEX_FILE
from vidray.patches.job import run_patches
from vidray.patches.shards import FRAGMENTS
from vidray.stage import Scale


def shard_cfg(clips, output_format="both", shard_size=3):
    videos = [{"name": "pan", "path": str(clips["h264"]), "categories": {"general": 1.0, "space": 0.5}},
              {"name": "pq", "path": str(clips["pq"]), "categories": {"general": 1.0}},
              {"name": "short", "path": str(clips["short"]), "categories": {"general": 1.0}}]
    return parse_patches_config({"base_settings": {"frame_limit": 4, "segment_seconds": 0.5, "min_file_size": 0,
                                                   "output_format": output_format, "shard_size": shard_size,
                                                   "format_distribution": {"general": {"small_540": 1},
                                                                           "space": {"small_540": 1}}},
                                 "videos": videos})


def tars(out) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "shards").rglob("*.tar"))}


@pytest.fixture(scope="module")
def both_run(ray_local, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("patches_shards") / "out"
    summary = run_patches(shard_cfg(clips), out, scale=Scale(workers=2))
    assert summary.ok == summary.planned > 6 and summary.failed == 0 and "short" in summary.video_errors
    return out, summary


def test_shards_hold_the_folder_trees_pixels_and_the_index_says_where(both_run):
    import webdataset as wds

    out, summary = both_run
    index = pq.read_table(out / INDEX_FILE).to_pylist()
    assert len(index) == summary.planned and {r["status"] for r in index} == {"ok"}
    sizes = {}
    samples = {}
    for shard in tars(out):
        for sample in wds.WebDataset(str(out / shard), shardshuffle=False):
            samples[(shard, sample["__key__"])] = sample
            sizes[shard] = sizes.get(shard, 0) + 1
    # exactly shard_size per shard of one (category, format), the last smaller
    expected = {}
    for cat in ("general", "space"):
        n = sum(r["category"] == cat for r in index)
        for k, start in enumerate(range(0, n, 3)):
            expected[f"shards/{cat}/small_540/patches-{k:06d}.tar"] = min(3, n - start)
    assert sizes == expected and len(expected) >= 3
    for row in index:
        sample = samples[(row["shard"], row["shard_key"])]
        assert sample["gt.png"] == (out / row["gt"]).read_bytes()
        assert sample["lr5.png"] == (out / row["lr"]).read_bytes()
        assert sample["lr7.png"] == (out / row["lr7"]).read_bytes()
        meta = json.loads(sample["json"])
        assert {k: meta[k] for k in ("key", "video", "category", "format", "centre", "box", "hdr")} == \
            {k: row[k] for k in ("key", "video", "category", "format", "centre", "box", "hdr")}
        assert meta["source_size"] == [row["source_width"], row["source_height"]]
        assert read_png(out / row["gt"]).shape[:2] == (row["box"][3], row["box"][2])
    assert {r["hdr"] for r in index} == {None, "pq"}
    assert not (out / FRAGMENTS).exists()  # every extraction is in a shard: the fragments are gone


def test_ray_data_reads_the_shards_and_the_index(both_run):
    import ray.data

    out, summary = both_run
    ds = ray.data.read_webdataset(sorted(str(out / s) for s in tars(out)))
    rows = ds.take_all()
    assert len(rows) == summary.ok
    first = rows[0]
    assert isinstance(first["gt.png"], np.ndarray) and first["gt.png"].ndim == 3  # decoded to pixels
    index = ray.data.read_parquet(str(out / INDEX_FILE))
    assert index.count() == summary.planned
    space = sum(c == "space" for c in pq.read_table(out / INDEX_FILE).column("category").to_pylist())
    assert index.filter(lambda r: r["category"] == "space").count() == space > 0


def test_webdataset_only_writes_no_folder_pngs_and_the_same_tars_on_one_worker(both_run, clips, tmp_path):
    ref, _ = both_run
    out = tmp_path / "wds"
    run_patches(shard_cfg(clips, "webdataset"), out, scale=Scale(workers=1))
    assert not list(out.rglob("*.png"))
    assert tars(out) == tars(ref) and len(tars(ref)) == 4
    index = pq.read_table(out / INDEX_FILE)
    assert index.column("gt").null_count == index.num_rows and index.column("shard").null_count == 0


def test_a_crashed_driver_resumes_to_the_same_tars_and_a_rerun_packs_nothing(both_run, clips, tmp_path):
    ref, _ = both_run
    out = tmp_path / "crash"

    def crash(done):
        if done >= 4:
            raise RuntimeError("simulated driver crash")

    with pytest.raises(RuntimeError, match="simulated"):
        run_patches(shard_cfg(clips), out, scale=Scale(workers=2), after_records=crash)
    assert not (out / "shards").exists() and list((out / FRAGMENTS).rglob("*.tar"))
    run_patches(shard_cfg(clips), out, scale=Scale(workers=2))
    assert tars(out) == tars(ref)
    assert pq.read_table(out / INDEX_FILE).equals(pq.read_table(ref / INDEX_FILE))
    before = {p: p.stat().st_mtime_ns for p in (out / "shards").rglob("*.tar")}
    again = run_patches(shard_cfg(clips), out, scale=Scale(workers=2))
    assert again.already_complete and {p: p.stat().st_mtime_ns for p in before} == before


def test_shards_on_object_storage_are_the_same_objects(both_run, clips, s3_bucket):
    from vidray.io import storage
    from vidray.patches.index import read_index

    ref, _ = both_run
    uri = f"{s3_bucket}/shards-run"
    run_patches(shard_cfg(clips, "webdataset"), uri, scale=Scale(workers=2))
    objects = {f[len(uri) + 1:]: storage.read_bytes(f) for f in storage.list_files(uri)}
    assert {k: v for k, v in objects.items() if k.startswith("shards/")} == tars(ref)
    assert not [k for k in objects if k.startswith(FRAGMENTS) or k.endswith(".png")]
    index = read_index(uri)
    assert index.drop_columns(["gt", "lr", "lr7"]).equals(pq.read_table(ref / INDEX_FILE).drop_columns(
        ["gt", "lr", "lr7"]))
