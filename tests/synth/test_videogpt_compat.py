"""The default VideoMNIST HDF5 loads in VideoGPT's HDF5Dataset at its default sequence_length (16).

VideoGPT's loader (wilson1yan/VideoGPT, videogpt/data.py), restated from its behaviour: video ``i`` spans
``{split}_idx[i]`` to the next start (or the end of ``{split}_data``); a window start is drawn with
``np.random.randint(0, end - start - sequence_length)`` (so the video must be *longer* than the window);
``preprocess`` reads the window as ``[T, H, W, C]`` uint8 (``permute(0, 3, 1, 2)``), scales the short side to
``resolution``, centre-crops and returns ``[C, T, H, W]`` in [-0.5, 0.5]; its VQ-VAE takes C = 3.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidray.synth.config import VIDEOGPT_SEQUENCE_LENGTH, VideoMNISTConfig
from vidray.synth.job import run_videomnist


def videogpt_preprocess(video: torch.Tensor, resolution: int) -> torch.Tensor:
    video = video.permute(0, 3, 1, 2).float() / 255.0  # THWC -> TCHW
    t, c, h, w = video.shape
    scale = resolution / min(h, w)
    size = (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)
    video = F.interpolate(video, size=size, mode="bilinear", align_corners=False)
    h, w = video.shape[-2:]
    top, left = (h - resolution) // 2, (w - resolution) // 2
    video = video[:, :, top:top + resolution, left:left + resolution]
    return video.permute(1, 0, 2, 3).contiguous() - 0.5  # CTHW


def videogpt_item(f: h5py.File, split: str, i: int, sequence_length: int, rng: np.random.RandomState,
                  resolution: int = 64) -> torch.Tensor:
    images, starts = f[f"{split}_data"], f[f"{split}_idx"]
    start = starts[i]
    end = starts[i + 1] if i < len(starts) - 1 else len(images)
    start = start + rng.randint(low=0, high=end - start - sequence_length)
    assert start < start + sequence_length <= end
    return videogpt_preprocess(torch.tensor(images[start:start + sequence_length]), resolution)


def test_default_output_loads_in_videogpt_at_its_default_window(ray_local, mnist_dir, tmp_path):
    cfg = VideoMNISTConfig(videos_per_digit=1, test_videos_per_digit=1, mnist_dir=mnist_dir, write_mp4=False)
    assert cfg.sequence_length > VIDEOGPT_SEQUENCE_LENGTH == 16  # the defaults, only the counts made small
    summary = run_videomnist(cfg, tmp_path / "vm")
    assert summary.warnings == []
    rng = np.random.RandomState(0)
    with h5py.File(tmp_path / "vm" / "hdf5" / "videomnist.h5", "r") as f:
        for split in ("train", "test"):
            videos = [videogpt_item(f, split, i, 16, rng) for i in range(len(f[f"{split}_idx"]))]
            assert len(videos) == 10
            for video in videos:
                assert video.shape == (3, 16, 64, 64) and -0.5 <= float(video.min()) < float(video.max()) <= 0.5


def test_the_rule_refuses_what_videogpt_refuses(tmp_path):
    """The restated rule is a real check: 16-frame videos fail at window 16, grayscale [N,H,W] fails to load."""
    path = tmp_path / "short.h5"
    with h5py.File(path, "w") as f:
        f["train_data"] = np.zeros((32, 64, 64, 3), np.uint8)
        f["train_idx"] = np.array([0, 16], np.int64)
        f["gray_data"] = np.zeros((34, 64, 64), np.uint8)
        f["gray_idx"] = np.array([0, 17], np.int64)
    rng = np.random.RandomState(0)
    with h5py.File(path, "r") as f:
        with pytest.raises(ValueError):
            videogpt_item(f, "train", 0, 16, rng)
        assert videogpt_item(f, "train", 0, 15, rng).shape == (3, 15, 64, 64)
        with pytest.raises(RuntimeError):
            videogpt_item(f, "gray", 0, 16, rng)
