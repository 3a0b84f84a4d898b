"""Fixtures for the embedding tests: tiny real H.264 clips made with PyAV, and one corrupt file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidray.io.video import write_mp4

CLIPS = {  # name: (frames, height, width, fps)
    "clip_a": (12, 48, 80, 10),
    "clip_b": (20, 64, 64, 10),
    "clip_c": (16, 72, 56, 8),
    "clip_d": (10, 40, 64, 5),
}


def make_frames(seed: int, t: int, h: int, w: int) -> np.ndarray:
    """uint8 [T,H,W,3]: a smooth colour gradient with a moving square, different per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // w), (yy * 255 // h), np.full((h, w), rng.integers(0, 255))], -1)
    frames = np.repeat(base[None], t, 0).astype(np.uint8)
    for i in range(t):
        top, left = (3 * i) % (h - 12), (5 * i + seed * 7) % (w - 12)
        frames[i, top:top + 12, left:left + 12] = rng.integers(0, 255, 3)
    return frames


@pytest.fixture(scope="session")
def embed_videos(tmp_path_factory):
    """A folder of 4 good clips (10-20 frames) and their frame arrays: (dir, {name: frames})."""
    root = tmp_path_factory.mktemp("embed_videos")
    frames = {}
    for seed, (name, (t, h, w, fps)) in enumerate(CLIPS.items()):
        frames[name] = make_frames(seed, t, h, w)
        write_mp4(root / f"{name}.mp4", frames[name], fps=fps, crf=10)
    return root, frames


@pytest.fixture(scope="session")
def corrupt_video(tmp_path_factory):
    """An .mp4 of random bytes: no container PyAV can open."""
    path = tmp_path_factory.mktemp("embed_corrupt") / "broken.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 255, 4096, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def embed_config(embed_videos, corrupt_video, tmp_path_factory):
    """A video-list JSON: the 4 good clips (captions, one fixed split, metadata) + the corrupt file,
    plus patch-job fields that the embed job ignores."""
    root, _ = embed_videos
    videos = [{"name": name, "path": str(root / f"{name}.mp4"), "caption": f"a clip called {name}",
               "metadata": {"idx": i}, "categories": {"general": 1.0}} for i, name in enumerate(CLIPS)]
    videos[1]["split"] = "test"
    videos.append({"name": "broken", "path": str(corrupt_video), "caption": "broken"})
    path = tmp_path_factory.mktemp("embed_cfg") / "videos.json"
    path.write_text(json.dumps({"base_settings": {"max_workers": 2}, "videos": videos}))
    return path
