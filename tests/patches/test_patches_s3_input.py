"""The patch job reading its config and films from a real S3 endpoint (moto on 127.0.0.1) and writing to a
local folder: the same PNG bytes as the same job on local films; HEVC and 10-bit PQ decode identically."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidray.errors import ConfigError
from vidray.io import storage
from vidray.io.probe import probe_video
from vidray.io.segments import SegmentDecoder
from vidray.patches.config import load_patches_config
from vidray.patches.decode import frame_to_array
from vidray.patches.job import run_patches
from vidray.stage import Scale

SETTINGS = {"frame_limit": 4, "segment_seconds": 0.5, "min_file_size": 0}


def films(paths: dict) -> list[dict]:
    return [{"name": "pan", "path": paths["h264"], "categories": {"general": 1.0, "space": 0.5}},
            {"name": "pq", "path": paths["pq"], "categories": {"general": 1.0}}]


def pngs(out) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


@pytest.fixture
def s3_films(clips, s3_bucket):
    """The h264 and PQ clips uploaded under ``BUCKET/films/``; returns the bucket URI."""
    for key in ("h264", "pq", "hevc"):
        storage.write_bytes(f"{s3_bucket}/films/{clips[key].name}", clips[key].read_bytes())
    return s3_bucket


def test_films_and_config_on_s3_give_the_same_pngs_as_local_films(ray_local, clips, s3_films, tmp_path):
    local_cfg = tmp_path / "films.json"
    local_cfg.write_text(json.dumps({"base_settings": SETTINGS,
                                     "videos": films({k: str(clips[k]) for k in ("h264", "pq")})}))
    # on S3: one film by absolute URI, one relative to the config's prefix (as a local config's folder)
    remote_cfg = f"{s3_films}/configs/films.json"
    storage.write_bytes(remote_cfg, json.dumps({"base_settings": SETTINGS, "videos": films(
        {"h264": f"{s3_films}/films/{clips['h264'].name}", "pq": f"../films/{clips['pq'].name}"})}).encode())
    cfg = load_patches_config(remote_cfg)
    assert [v.path for v in cfg.videos] == [f"{s3_films}/films/{clips['h264'].name}",
                                            f"{s3_films}/films/{clips['pq'].name}"]
    remote = run_patches(cfg, tmp_path / "from_s3", scale=Scale(workers=2))
    local = run_patches(load_patches_config(local_cfg), tmp_path / "from_disk", scale=Scale(workers=2))
    assert remote.failed == 0 and not remote.video_errors and remote.ok == remote.planned == local.planned > 0
    assert pngs(tmp_path / "from_s3") == pngs(tmp_path / "from_disk")


def test_a_missing_film_on_s3_is_reported_like_a_missing_local_one(ray_local, clips, s3_films, tmp_path):
    for where in (str(tmp_path), f"{s3_films}/films"):
        cfg = _write(f"{where}/films.json", [{"name": "gone", "path": "gone.mp4", "categories": {"general": 1.0}}])
        with pytest.raises(ConfigError, match=r"videos\[0\] \(gone\): video file .*gone.mp4 does not exist"):
            load_patches_config(cfg)
    # a film that disappears after the config was checked: one reason for that video, the job goes on
    cfg = load_patches_config(_write(f"{s3_films}/films/two.json", [
        {"name": "pan", "path": clips["h264"].name, "categories": {"general": 1.0}},
        {"name": "late", "path": clips["hevc"].name, "categories": {"general": 1.0}}]))
    fs, path = storage.resolve(f"{s3_films}/films/{clips['hevc'].name}")
    fs.delete_file(path)
    summary = run_patches(cfg, tmp_path / "out", scale=Scale(workers=1))
    assert summary.video_errors == {"late": "video file does not exist"}
    assert summary.ok == summary.planned > 0 and summary.failed == 0


def _write(uri: str, videos: list[dict]):
    storage.write_bytes(uri, json.dumps({"base_settings": SETTINGS, "videos": videos}).encode())
    return uri


@pytest.mark.parametrize("key", ["hevc", "pq"])
def test_hevc_and_hdr_segments_decode_identically_from_s3(clips, s3_films, key):
    uri = f"{s3_films}/films/{clips[key].name}"
    info = probe_video(clips[key])
    assert {**vars(probe_video(uri)), "path": info.path} == vars(info)
    wanted = [5, 6, 7, 8, 9, 10, 11, 17, 18, 19]

    def decode(path):
        dec = SegmentDecoder(path, info.fps)
        try:
            return {i: frame_to_array(f, (info.width, info.height), info.hdr) for i, f in
                    dec.wanted_frames(wanted[0], lambda i: next((w for w in wanted if w >= i), None))}
        finally:
            dec.close()

    local, remote = decode(clips[key]), decode(uri)
    assert sorted(remote) == wanted
    assert all(remote[i].dtype == local[i].dtype and np.array_equal(remote[i], local[i]) for i in wanted)
