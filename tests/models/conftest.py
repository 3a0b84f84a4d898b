"""Fixtures for model/loss/metric tests: a real Moving MNIST clip, a natural image, VGG16 features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: on the shared 2-core box, 2 OpenMP threads next to other jobs ran 10-30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mm_clip() -> torch.Tensor:
    """Two real Moving MNIST sequences (2 digits, 20 frames): float ``[2, 20, 1, 64, 64]`` in [0, 1]."""
    from vidray.synth.moving_mnist import render_sequences

    seq = render_sequences(2, sequence_length=20, num_digits=2, seed=3, split="train")  # [T, N, 64, 64]
    return torch.from_numpy(seq).permute(1, 0, 2, 3).unsqueeze(2).float() / 255.0


@pytest.fixture(scope="session")
def mm_small(mm_clip) -> torch.Tensor:
    """First sequence, 8 frames, 2x average-pooled to 32x32: ``[1, 8, 1, 32, 32]`` (fast overfitting)."""
    return F.avg_pool2d(mm_clip[:1, :8].flatten(0, 1), 2).view(1, 8, 1, 32, 32)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """skimage's bundled astronaut photo, uint8 ``[512, 512, 3]`` (a natural image, no download)."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def vgg_features() -> torch.nn.Sequential:
    """ImageNet VGG16 ``features`` (all 31 modules) from whichever source the loader picks."""
    from vidray.vgg_weights import load_vgg16_features

    return load_vgg16_features(allow_download=False)
