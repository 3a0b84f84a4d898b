"""The embedding job writing to a real S3 endpoint (moto on 127.0.0.1): samples, WebDataset tars and
Parquet shards as whole objects with the same bytes as on disk; a rerun reuses every sample."""

import pyarrow.parquet as pq

from vidray.embed.config import EmbedConfig
from vidray.embed.inputs import load_videos
from vidray.embed.job import run_embed
from vidray.io import storage
from vidray.stage import Scale


def test_s3_output_matches_a_local_run_and_resumes(ray_local, embed_config, s3_bucket, tmp_path):
    cfg = EmbedConfig(model="vidray-tiny", pretrained="none", fps=4.0, shard_size=2, split_ratios=(1.0, 0.0, 0.0),
                      batch_size=8, frames_per_block=3)
    videos = load_videos(embed_config, cfg.split_ratios)
    local = run_embed(cfg, videos, tmp_path / "out", scale=Scale(workers=1))
    uri = f"{s3_bucket}/embed"
    remote = run_embed(cfg, videos, uri, scale=Scale(workers=1))
    assert (remote.embedded, remote.shards, set(remote.errors)) == (local.embedded, local.shards, {"broken"})
    files = {f[len(uri) + 1:] for f in storage.list_files(uri)}
    records = {f for f in files if f.startswith(".vidray/manifest.jsonl.parts/")}  # no append: one object each
    assert len(records) == local.embedded
    on_disk = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert files - records == on_disk - {".vidray/manifest.jsonl", ".vidray/lease.lock"}  # a local run's OS lock
    for name in sorted(files - records - {".vidray/run.json"}):
        assert storage.read_bytes(f"{uri}/{name}") == (tmp_path / "out" / name).read_bytes(), name
    table = pq.read_table(f"{uri}/parquet/ds_00000.parquet")  # how users read it: pyarrow on the URI
    assert table.column("key").to_pylist() == ["000000000", "000000001"]
    again = run_embed(cfg, videos, uri, scale=Scale(workers=1))
    assert again.embedded == 0 and again.reused == local.embedded
