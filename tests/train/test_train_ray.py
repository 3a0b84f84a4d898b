"""Ray Train DDP on local Ray: 2 CPU workers, checkpoints, resume, a killed worker, NaN (sweeps: test_tune.py)."""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import threading
import time

import pytest

from vidray.config import from_dict
from vidray.train.config import TrainConfig
from vidray.train.report import evaluate_checkpoint, load_model
from vidray.train.trainer import TrainingStopped, run_training


def cfg_for(mm_dir, storage, **kw):
    base = {"model": "convlstm", "preset": "tiny", "data": str(mm_dir), "batch_size": 8, "epochs": 3,
            "num_workers": 2, "lr": 3e-3, "storage": str(storage), "run_name": "ddp"}
    return from_dict(TrainConfig, {**base, **kw})


@pytest.fixture(scope="module")
def ddp_run(ray_local, mm_dir, tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    cfg = cfg_for(mm_dir, storage)
    return cfg, run_training(cfg)


def test_two_worker_ddp_learns_on_disjoint_shards(ddp_run):
    cfg, result = ddp_run
    hist = result.history
    assert [r["epoch"] for r in hist] == [1, 2, 3]  # epochs done, 1-based
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert all(r["shard_overlap"] == 0 and r["shard_coverage"] == 48 for r in hist)  # 2 ranks x 24, disjoint
    for name in ("metrics.csv", "loss_curve.png", "predictions.gif"):
        assert (result.run_dir / name).stat().st_size > 0
    rows = list(csv.DictReader(open(result.run_dir / "metrics.csv")))
    assert len(rows) == 3 and {"val_openstl_mse", "val_openstl_ssim", "val_openstl_psnr", "beats_baselines",
                               "baseline_copy_last_frame_openstl_mse", "baseline_all_black_openstl_mse"} <= set(rows[0])


def test_checkpoint_restores_the_weights_that_were_validated(ddp_run):
    cfg, result = ddp_run
    model, saved_cfg = load_model(result.latest_checkpoint)
    assert saved_cfg == dataclasses.replace(cfg, gpu=False)  # gpu auto, resolved once on the driver (no GPU here)
    values = evaluate_checkpoint(result.latest_checkpoint)
    assert values["val_openstl_mse"] == pytest.approx(result.history[-1]["val_openstl_mse"], rel=1e-4)
    for name in ("copy_last_frame", "all_black"):
        key = f"baseline_{name}_openstl_mse"
        assert values[key] == pytest.approx(result.history[-1][key], rel=1e-5)


def test_rerun_by_name_continues_at_the_next_epoch(ddp_run):
    cfg, first = ddp_run
    before = list(first.history)
    result = run_training(dataclasses.replace(cfg, epochs=4))
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert result.history[:3] == before  # earlier epochs were not repeated
    changed = dataclasses.replace(cfg, lr=0.5, epochs=4)
    with pytest.raises(Exception, match="other settings"):
        run_training(changed)


def test_killed_worker_restarts_from_the_last_checkpoint(ray_local, mm_dir, tmp_path):
    import psutil

    cfg = cfg_for(mm_dir, tmp_path, epochs=6, run_name="fault", max_failures=2)
    killed = []

    def kill_a_worker_after_first_checkpoint():
        deadline = time.time() + 120
        while time.time() < deadline and not list((tmp_path / "fault").glob("checkpoint_*")):
            time.sleep(0.2)
        # this session's Ray runs under this process: its Train workers are our descendants
        for proc in psutil.Process().children(recursive=True):
            try:
                title = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if "RayTrainWorker" in title:
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)
                return

    killer = threading.Thread(target=kill_a_worker_after_first_checkpoint)
    killer.start()
    result = run_training(cfg)
    killer.join()
    assert killed, "no worker was running to kill"
    assert [r["epoch"] for r in result.history] == list(range(1, 7))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_nan_loss_stops_the_run_naming_the_step(ray_local, mm_dir, tmp_path):
    cfg = cfg_for(mm_dir, tmp_path, num_workers=1, lr=1e30, grad_clip=0.0, run_name="nan", max_failures=0)
    with pytest.raises(TrainingStopped, match=r"non-finite training loss .* step \d+"):
        run_training(cfg)
