"""Each job on an autoscaling cluster (Ray's fake multi-node provider, autoscaler v2, a 1-CPU head and up to
3 one-CPU ``cpu`` workers): it makes the autoscaler add nodes, its work runs on more than one node, and it
writes the same outputs as a local run. The jobs run through the real CLI with ``--address``."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_autoscaler import FakeAutoscaledRay, FakeClusterSpec, PeakNodes  # noqa: E402
from test_cluster_jobs import make_videos, processed  # noqa: E402

# workers idle this long are removed, so that each test starts from the head alone and has to ask again
SPEC = FakeClusterSpec(head_cpus=1, worker_cpus=1, max_workers=3, idle_timeout_minutes=0.1)


@dataclass
class ClusterRun:
    """What a CLI run on the fake cluster did: its process, the nodes it made the autoscaler ask for,
    the most nodes alive at once during it, and its finished tasks per node."""

    proc: subprocess.CompletedProcess
    requested: int
    peak_nodes: int
    tasks_per_node: dict[str, int]


@pytest.fixture(scope="module")
def cluster():
    with FakeAutoscaledRay(SPEC) as c:
        yield c


def vidray(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vidray", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def run_local(args: list[str]) -> subprocess.CompletedProcess:
    """The same command on a fixed local 2-CPU Ray of its own."""
    ray_tmp = tempfile.mkdtemp(prefix="vr-")  # short: Ray's socket paths must fit in 107 bytes
    try:
        return vidray([*args, "--num-cpus", "2"], {**os.environ, "VIDRAY_RAY_TMPDIR": ray_tmp})
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def run_on_cluster(cluster: FakeAutoscaledRay, args: list[str]) -> ClusterRun:
    """``vidray ARGS --address HEAD`` from the head alone; what it made the cluster do."""
    assert cluster.wait_for_nodes(1, timeout=90, at_most=True) == 1, "idle workers were not removed"
    requested_before = sum(cluster.nodes_requested().values())
    jobs_before = cluster.driver_job_ids()
    with PeakNodes(cluster) as peak:
        proc = vidray([*args, "--address", cluster.address], cluster.env)
    jobs = cluster.driver_job_ids() - jobs_before
    return ClusterRun(proc, sum(cluster.nodes_requested().values()) - requested_before, peak.peak,
                      cluster.tasks_per_node(jobs))


def assert_grew(run: ClusterRun) -> None:
    seen = f"requested {run.requested}, peak {run.peak_nodes} nodes, tasks per node {run.tasks_per_node}"
    assert run.requested >= 1, "the autoscaler was asked for no node: " + seen
    assert run.peak_nodes >= 2, "no worker node came up: " + seen
    assert len(run.tasks_per_node) >= 2, "all work ran on one node: " + seen


def png_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_capacity_is_what_the_cluster_can_grow_to(cluster):
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
            "from vidray.capacity import cluster_capacity, has_gpu_nodes; "
            "print(json.dumps([cluster_capacity(), has_gpu_nodes(), ray.cluster_resources()]))" % cluster.address)
    proc = subprocess.run([sys.executable, "-c", code], env=cluster.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    capacity, gpu, now = json.loads(proc.stdout.splitlines()[-1])
    assert now["CPU"] == 1 and "decode" not in now  # only the head is up
    assert capacity["CPU"] == SPEC.capacity()["CPU"] == 4.0 and capacity["decode"] == 3.0
    assert gpu is False


def test_videomnist_grows_the_cluster_and_matches_a_local_run(cluster, mnist_dir, tmp_path):
    # ~1600 small videos: long enough on the head alone for a fake node to start (1000 was too close under load)
    args = ["synth", "videomnist", "--videos-per-digit", "160", "--test-videos-per-digit", "1",
            "--sequence-length", "8", "--grayscale", "--mnist-dir", mnist_dir]
    run = run_on_cluster(cluster, [*args[:2], str(tmp_path / "cluster"), *args[2:]])
    run_local([*args[:2], str(tmp_path / "local"), *args[2:]])
    assert_grew(run)
    a, b = tmp_path / "cluster", tmp_path / "local"
    assert sorted(p.relative_to(a).as_posix() for p in a.rglob("*.mp4")) == \
        sorted(p.relative_to(b).as_posix() for p in b.rglob("*.mp4"))
    with h5py.File(a / "hdf5" / "videomnist.h5", "r") as x, h5py.File(b / "hdf5" / "videomnist.h5", "r") as y:
        assert sorted(x) == sorted(y)
        for name in x:
            np.testing.assert_array_equal(x[name][()], y[name][()], err_msg=name)


def test_patches_grow_the_cluster_and_match_a_local_run(cluster, tmp_path):
    from vidray.patches.demo import make_demo_clip

    # 3 films x 32 extractions: enough work to keep the head busy until Ray Data asks for more nodes
    videos = [{"name": f"pan_{k}", "path": str(make_demo_clip(tmp_path / f"pan_{k}.mp4")),
               "categories": {"general": 1.0, "space": 0.5}} for k in range(3)]
    config = tmp_path / "films.json"
    config.write_text(json.dumps({"base_settings": {"frame_limit": 32, "segment_seconds": 0.4, "min_file_size": 512},
                                  "videos": videos}))
    args = ["patches", str(config), "--no-live"]
    run = run_on_cluster(cluster, [*args, "--output", str(tmp_path / "cluster")])
    run_local([*args, "--output", str(tmp_path / "local")])
    assert_grew(run)
    got, ref = png_files(tmp_path / "cluster"), png_files(tmp_path / "local")
    assert sorted(got) == sorted(ref) and len(got) == 3 * 3 * 32  # GT + LR + LR_7frames per extraction
    assert got == ref  # the same bytes
    keys = [sorted(json.loads(line)["key"] for line in (tmp_path / run_ / ".generator_manifest.jsonl").read_text()
                   .splitlines()) for run_ in ("cluster", "local")]
    assert keys[0] == keys[1] and len(keys[0]) == 3 * 32


def test_embed_grows_the_cluster_and_matches_a_local_run(cluster, tmp_path):
    videos = make_videos(tmp_path / "videos", n=12)
    args = ["embed", str(videos), "--model", "vidray-tiny", "--pretrained", "none", "--every-n", "1",
            "--shard-size", "8"]
    run = run_on_cluster(cluster, [*args, "--output", str(tmp_path / "cluster")])
    run_local([*args, "--output", str(tmp_path / "local")])
    assert_grew(run)
    got, ref = processed(tmp_path / "cluster"), processed(tmp_path / "local")
    assert sorted(got) == sorted(ref) and len(got) == 12
    for name in ref:
        np.testing.assert_allclose(got[name].astype(np.float32), ref[name].astype(np.float32), atol=2e-3)
    for sub in ("wds", "parquet"):
        assert sorted(p.name for p in (tmp_path / "cluster" / sub).iterdir()) == \
            sorted(p.name for p in (tmp_path / "local" / sub).iterdir())


def test_tune_sweep_grows_the_cluster(cluster, tmp_path):
    """The sweep's trials (each a Ray Train run) land beyond the head. Not compared with a local run: the
    sweep samples its loss weights unseeded, so only its results' shape is checkable (and the run is the
    slowest of this module)."""
    from vidray.synth.moving_mnist import render_sequences

    data = tmp_path / "mm"
    data.mkdir()
    np.save(data / "moving_mnist.npy", render_sequences(16, 20, 2, seed=3, split="train"))
    np.save(data / "moving_mnist_test.npy", render_sequences(8, 20, 2, seed=3, split="test"))
    args = ["tune", "--model", "convlstm", "--preset", "tiny", "--data", str(data), "--epochs", "1",
            "--batch-size", "8", "--set", "max_train_samples=8", "max_val_samples=8", "--num-samples", "2",
            "--run-name", "sweep"]
    run = run_on_cluster(cluster, [*args, "--storage", str(tmp_path / "cluster")])
    assert_grew(run)
    sweep = tmp_path / "cluster" / "sweep"
    assert (sweep / "sweep.png").is_file()
    with open(sweep / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"metric", "epochs", "failures", "error", "vgg_weight"} <= set(rows[0])
    assert all(np.isfinite(float(row["metric"])) and row["epochs"] == "1" and not row["error"] for row in rows)
