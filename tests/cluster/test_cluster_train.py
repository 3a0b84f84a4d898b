"""Fault tolerance of training on a multi-node Ray (ray.cluster_utils.Cluster) on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def test_killed_worker_node_resumes_from_the_last_checkpoint(tmp_path):
    from vidray.synth.moving_mnist import render_sequences

    data = tmp_path / "mm"
    data.mkdir()
    np.save(data / "moving_mnist.npy", render_sequences(32, 20, 2, seed=5))
    np.save(data / "moving_mnist_test.npy", render_sequences(8, 20, 2, seed=5, split="test"))
    script = Path(__file__).with_name("train_node_kill_scenario.py")
    proc = subprocess.run([sys.executable, str(script), str(data), str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"epochs"')))
    assert report["epochs"] == [1, 2, 3, 4, 5]  # every epoch once: restored, not repeated
    assert report["events"]["checkpoints_before_kill"] >= 1
    # epochs after the kill were trained by the restarted group
    assert any(t > report["events"]["killed_at"] for t in report["reported_at"])
