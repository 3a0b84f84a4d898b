"""The embedding job reading its video list and videos from a real S3 endpoint (moto on 127.0.0.1), writing
to a local folder: the same embeddings as from disk; an ``s3://…/videos/`` prefix lists like a folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidray.embed.config import EmbedConfig
from vidray.embed.inputs import load_videos
from vidray.embed.job import run_embed
from vidray.errors import InputError
from vidray.io import storage
from vidray.stage import Scale


@pytest.fixture
def s3_videos(embed_videos, corrupt_video, s3_bucket):
    """The embed clips (+ the corrupt one) under ``BUCKET/videos/``; returns the bucket URI."""
    root, _ = embed_videos
    for path in [*sorted(root.glob("*.mp4")), corrupt_video]:
        storage.write_bytes(f"{s3_bucket}/videos/{path.name}", path.read_bytes())
    storage.write_bytes(f"{s3_bucket}/videos/notes.txt", b"not a video")
    return s3_bucket


def test_a_prefix_lists_like_a_directory(embed_videos, corrupt_video, s3_videos, tmp_path):
    root, _ = embed_videos
    (tmp_path / "local").mkdir()
    for path in [*root.glob("*.mp4"), corrupt_video]:
        (tmp_path / "local" / path.name).write_bytes(path.read_bytes())
    local = load_videos(tmp_path / "local")
    for prefix in (f"{s3_videos}/videos/", f"{s3_videos}/videos"):
        remote = load_videos(prefix)
        assert [(v.name, v.split) for v in remote] == [(v.name, v.split) for v in local]
        assert [v.path for v in remote] == [f"{s3_videos}/videos/{v.name}.mp4" for v in local]
    one = load_videos(f"{s3_videos}/videos/clip_a.mp4")
    assert [(v.name, v.path) for v in one] == [("clip_a", f"{s3_videos}/videos/clip_a.mp4")]
    with pytest.raises(InputError, match="video file does not exist"):
        load_videos(f"{s3_videos}/videos/nope.mp4")
    with pytest.raises(InputError, match="input does not exist"):
        load_videos(f"{s3_videos}/elsewhere/")


def test_video_list_on_s3_embeds_like_local_files(ray_local, embed_config, s3_videos, tmp_path):
    cfg = EmbedConfig(model="vidray-tiny", pretrained="none", fps=4.0, shard_size=2, split_ratios=(1.0, 0.0, 0.0),
                      batch_size=8, frames_per_block=3)
    listed = json.loads(embed_config.read_text())
    for video in listed["videos"]:  # relative to the list's prefix; one missing on S3 only
        video["path"] = video["path"].rsplit("/", 1)[1]
    listed["videos"].append({"name": "gone", "path": "gone.mp4"})
    uri = f"{s3_videos}/videos/list.json"
    storage.write_bytes(uri, json.dumps(listed).encode())
    remote_videos = load_videos(uri, cfg.split_ratios)
    assert remote_videos[0].path == f"{s3_videos}/videos/clip_a.mp4"
    remote = run_embed(cfg, remote_videos, tmp_path / "from_s3", scale=Scale(workers=1))
    local = run_embed(cfg, load_videos(embed_config, cfg.split_ratios), tmp_path / "from_disk", scale=Scale(workers=1))
    assert remote.embedded == local.embedded == 4
    assert set(remote.errors) == {"broken", "gone"} and "video file does not exist" in remote.errors["gone"]
    npy = lambda out: {p.relative_to(out).as_posix(): np.load(p) for p in sorted(out.glob("processed/*/*.npy"))}
    a, b = npy(tmp_path / "from_s3"), npy(tmp_path / "from_disk")
    assert sorted(a) == sorted(b) and len(a) == 4
    assert all(np.array_equal(a[k], b[k]) for k in a)
