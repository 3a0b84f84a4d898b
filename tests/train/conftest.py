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
