"""The embedding job end to end on local Ray: shards read back with the libraries users use,
embeddings equal to calling the model directly, resume, a corrupt video, the CLI and the demo."""

from __future__ import annotations

import csv
import json
import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from vidray.embed.config import EmbedConfig
from vidray.embed.inputs import load_videos
from vidray.embed.job import run_embed
from vidray.embed.model import load_model, resolve_model
from vidray.errors import InputError
from vidray.io.video import read_frames
from vidray.progress import Progress
from vidray.stage import Scale

GOOD = ("clip_a", "clip_b", "clip_c", "clip_d")


def tiny_cfg(**kw):
    base = dict(model="vidray-tiny", pretrained="none", fps=4.0, shard_size=2, split_ratios=(1.0, 0.0, 0.0),
                batch_size=8, frames_per_block=3)
    base.update(kw)
    return EmbedConfig(**base)


@pytest.fixture(scope="module")
def embed_run(ray_local, embed_config, tmp_path_factory):
    cfg = tiny_cfg()
    out = tmp_path_factory.mktemp("embed_job") / "out"
    seen = []

    class Seen(Progress):
        def add(self, ok=0, failed=0):
            super().add(ok, failed)
            seen.append((self.done, self.total))

    summary = run_embed(cfg, load_videos(embed_config, cfg.split_ratios), out, scale=Scale(workers=1),
                        progress=Seen("embed", quiet=True))
    return out, summary, seen


def test_summary_counts_and_corrupt_video_is_reported(embed_run):
    out, summary, seen = embed_run
    assert summary.embedded == 4 and summary.reused == 0
    assert set(summary.errors) == {"broken"} and "broken.mp4" in summary.errors["broken"]
    assert json.loads((out / "errors.json").read_text()) == summary.errors
    assert summary.splits == {"train": 3, "val": 0, "test": 1}
    assert seen[-1] == (5, 5)
    assert not (out / "processed" / "train" / "broken.npy").exists()


def test_processed_layout(embed_run):
    out, _, _ = embed_run
    meta = json.loads((out / "processed" / "train" / "clip_a.json").read_text())
    emb = np.load(out / "processed" / "train" / "clip_a.npy")
    # clip_a: 12 frames at 10 fps sampled at 4 fps → t = 0, .3, .5, .8, 1.0
    assert meta["frame_indices"] == [0, 3, 5, 8, 10]
    np.testing.assert_allclose(meta["frame_timestamps"], [0.0, 0.3, 0.5, 0.8, 1.0], atol=1e-6)
    assert emb.shape == (5, 64) and emb.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(emb.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert meta["frame_count"] == 5 and meta["model"] == "vidray-tiny" and meta["random_weights"] is True
    assert meta["pretrained"].startswith("none") and meta["metadata"] == {"idx": 0}
    assert meta["source_fps"] == pytest.approx(10.0) and meta["duration"] == pytest.approx(1.2, abs=0.01)
    assert (out / "processed" / "train" / "clip_a.txt").read_text() == "a clip called clip_a"
    assert (out / "processed" / "test" / "clip_b.npy").exists()  # split from the config wins


def test_embeddings_equal_the_model_called_directly(embed_run, embed_videos):
    """Same frames through open_clip's own PIL preprocessing and the same (seeded) model."""
    out, _, _ = embed_run
    root, _ = embed_videos
    spec = resolve_model("vidray-tiny", "none")
    model = load_model(spec)
    import open_clip

    transform = open_clip.image_transform(64, is_train=False)
    for name, split in (("clip_a", "train"), ("clip_c", "train"), ("clip_b", "test")):
        meta = json.loads((out / "processed" / split / f"{name}.json").read_text())
        frames = read_frames(root / f"{name}.mp4")[meta["frame_indices"]]
        x = torch.stack([transform(Image.fromarray(f)) for f in frames])
        with torch.inference_mode():
            direct = model.encode_image(x, normalize=True).numpy()
        stored = np.load(out / "processed" / split / f"{name}.npy").astype(np.float32)
        # float16 storage rounds by ~1.3e-4; batched torch resize vs PIL adds ~1e-5
        np.testing.assert_allclose(stored, direct, atol=1e-3)
        # ... far below how much the (random) model's embeddings of different frames differ
        assert np.abs(direct[0] - direct[-1]).max() > 5e-3


def test_webdataset_shards_read_back(embed_run):
    import webdataset as wds

    out, _, _ = embed_run
    tars = sorted((out / "wds").glob("ds_*.tar"))
    assert [t.name for t in tars] == ["ds_00000.tar", "ds_00001.tar", "ds_00002.tar"]
    with open(out / "wds" / "splits.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["shard"], r["split"], r["samples"]) for r in rows] == [
        ("ds_00000.tar", "train", "2"), ("ds_00001.tar", "train", "1"), ("ds_00002.tar", "test", "1")]
    samples = list(wds.WebDataset([str(t) for t in tars], shardshuffle=False).decode())
    assert [s["__key__"] for s in samples] == ["000000000", "000000001", "000000002", "000000003"]
    names = [s["json"]["name"] for s in samples]
    assert names == ["clip_a", "clip_c", "clip_d", "clip_b"]
    for s in samples:
        assert s["npy"].shape == (s["json"]["frame_count"], 64) and s["npy"].dtype == np.float16
        assert s["txt"] == f"a clip called {s['json']['name']}"
        np.testing.assert_array_equal(
            s["npy"], np.load(out / "processed" / s["json"]["split"] / f"{s['json']['name']}.npy"))
    per_shard = [sum(1 for _ in wds.WebDataset(str(t), shardshuffle=False)) for t in tars]
    assert per_shard == [2, 1, 1]


def test_parquet_shards_read_back(embed_run, ray_local):
    out, _, _ = embed_run
    table = pq.read_table(out / "parquet")
    assert table.num_rows == 4
    assert set(table.column_names) >= {"key", "split", "caption", "embedding", "frame_count", "metadata"}
    rows = table.sort_by("key").to_pylist()
    assert [r["key"] for r in rows] == ["000000000", "000000001", "000000002", "000000003"]
    first = rows[0]
    assert first["split"] == "train" and first["caption"] == "a clip called clip_a"
    assert json.loads(first["metadata"])["name"] == "clip_a"
    emb = np.asarray(first["embedding"], dtype=np.float32)
    np.testing.assert_array_equal(emb, np.load(out / "processed" / "train" / "clip_a.npy").astype(np.float32))
    emb_type = table.schema.field("embedding").type
    assert pa.types.is_list(emb_type) and pa.types.is_fixed_size_list(emb_type.value_type)
    assert emb_type.value_type.list_size == 64 and emb_type.value_type.value_type == pa.float16()
    ds = ray_local.data.read_parquet(str(out / "parquet"))
    got = {r["key"]: r for r in ds.take_all()}
    assert sorted(got) == [r["key"] for r in rows]
    assert {k: int(r["frame_count"]) for k, r in got.items()} == {r["key"]: r["frame_count"] for r in rows}
    ray_emb = np.stack([np.asarray(f, np.float32) for f in got["000000000"]["embedding"]])
    np.testing.assert_array_equal(ray_emb, emb)


def test_resume_embeds_only_missing_videos(embed_run, embed_config, tmp_path):
    out, _, _ = embed_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "processed" / "train" / "clip_c.json").unlink()
    kept = copy / "processed" / "train" / "clip_a.npy"
    before = kept.stat().st_mtime_ns
    cfg = tiny_cfg()
    summary = run_embed(cfg, load_videos(embed_config, cfg.split_ratios), copy, scale=Scale(workers=1))
    assert summary.embedded == 1 and summary.reused == 3 and set(summary.errors) == {"broken"}
    assert kept.stat().st_mtime_ns == before
    for tar in ("ds_00000.tar", "ds_00001.tar", "ds_00002.tar"):  # rebuilt shards: same bytes
        assert (copy / "wds" / tar).read_bytes() == (out / "wds" / tar).read_bytes()
    assert json.loads((copy / "processed" / "train" / "clip_c.json").read_text())["frame_indices"] == \
        json.loads((out / "processed" / "train" / "clip_c.json").read_text())["frame_indices"]


def test_missing_weights_fail_fast_before_any_work(ray_local, embed_config, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = tiny_cfg(model="ViT-B-32", pretrained="openai")
    start = time.perf_counter()
    with pytest.raises(InputError, match="open_clip_model.safetensors") as err:
        run_embed(cfg, load_videos(embed_config, cfg.split_ratios), tmp_path / "out")
    assert time.perf_counter() - start < 5
    assert "--pretrained /path/to/" in str(err.value) and "huggingface.co/timm/vit_base_patch32_clip_224.openai" \
        in str(err.value)
    assert not (tmp_path / "out").exists()


def test_cli_directory_input_every_n_float32(ray_local, embed_videos, tmp_path, capsys):
    from vidray.cli_flags import OneLineParser
    from vidray.embed.cli import register

    root, frames = embed_videos
    parser = OneLineParser(prog="vidray")
    register(parser.add_subparsers(dest="command", parser_class=OneLineParser))
    args = parser.parse_args(["embed", str(root), "--output", str(tmp_path / "out"), "--model", "vidray-tiny",
                              "--pretrained", "none", "--every-n", "4", "--dtype", "float32",
                              "--shard-size", "3", "--split-ratios", "0", "1", "0", "--workers", "1"])
    assert args.handler(args) == 0
    assert "4 embedded" in capsys.readouterr().out
    emb = np.load(tmp_path / "out" / "processed" / "val" / "clip_b.npy")
    assert emb.dtype == np.float32 and emb.shape == (5, 64)  # 20 frames, every 4th
    with open(tmp_path / "out" / "wds" / "splits.csv") as f:
        assert [r["samples"] for r in csv.DictReader(f)] == ["3", "1"]


def test_cli_rejects_bad_flags(capsys):
    from vidray.cli_flags import OneLineParser
    from vidray.embed.cli import register

    parser = OneLineParser(prog="vidray")
    register(parser.add_subparsers(dest="command", parser_class=OneLineParser))
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["embed", "x", "--output", "o", "--fps", "1", "--every-n", "2"])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_demo_on_a_list_of_files(ray_local, embed_videos, tmp_path):
    from vidray.embed.cli import run_embed_demo

    root, _ = embed_videos
    lines = run_embed_demo([root / "clip_a.mp4", root / "clip_d.mp4"], tmp_path / "demo", scale=Scale(workers=1))
    assert "2 embedded" in lines[0] and "random weights" in lines[1]
    assert len(list((tmp_path / "demo" / "processed").rglob("*.npy"))) == 2
    assert (tmp_path / "demo" / "wds" / "ds_00000.tar").exists()
