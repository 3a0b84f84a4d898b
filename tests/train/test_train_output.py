"""What `vidray train` / `vidray tune` print, as `ray job logs --follow` users see it: one line per epoch on
stdout; Ray Train's per-report metric dicts and Tune's status tables only with `vidray -v`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

TRAIN_DICT = "Reporting training result"  # Ray Train V2's per-report INFO line, with the whole metrics dict
TUNE_TABLE = "Trial status"  # Ray Tune's status table


def vidray(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    """Run the CLI in its own process (its own local Ray), as a user or a Ray job would."""
    ray_tmp = tempfile.mkdtemp(prefix="vr-")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1",
           "HF_HUB_OFFLINE": "1", "VIDRAY_RAY_TMPDIR": ray_tmp}
    try:
        proc = subprocess.run([sys.executable, "-m", "vidray", *args], capture_output=True, text=True, env=env,
                              timeout=400)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def tiny(mm_dir, tmp_path, epochs: int) -> list[str]:
    return ["--model", "convlstm", "--preset", "tiny", "--data", str(mm_dir), "--epochs", str(epochs),
            "--batch-size", "8", "--storage", str(tmp_path / "runs"), "--num-cpus", "2",
            "--set", "max_train_samples=8", "max_val_samples=8"]


def test_train_prints_one_line_per_epoch_and_no_metric_dicts(mm_dir, tmp_path):
    proc = vidray(["train", *tiny(mm_dir, tmp_path, 2), "--run-name", "quiet"], tmp_path)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("train: epoch ")]
    assert [line.split()[2] for line in lines] == ["1/2", "2/2"], proc.stdout
    assert all("train_loss" in line and "samples/s" in line and "ETA" in line for line in lines)
    assert TRAIN_DICT not in proc.stdout + proc.stderr
    assert "metrics={" not in proc.stdout + proc.stderr
    with open(tmp_path / "runs" / "quiet" / "vidray_run.json") as f:
        assert '"gpu": false' in f.read()  # auto, resolved on the driver and recorded


def test_verbose_brings_back_rays_details(mm_dir, tmp_path):
    """`vidray -v tune`: Tune's tables and, from each trial's Train run, Ray Train's INFO logs."""
    proc = vidray(["-v", "tune", *tiny(mm_dir, tmp_path, 1), "--run-name", "loud", "--num-samples", "1",
                   "--max-concurrent-trials", "1"], tmp_path)
    out = proc.stdout + proc.stderr
    assert TRAIN_DICT in out and TUNE_TABLE in out
    assert any(line.startswith("tune ") and " epoch 1/1 " in line for line in proc.stdout.splitlines()), proc.stdout


def test_verbose_train_asks_ray_train_for_its_info_logs():
    """`vidray -v train` sets the vidray logger to INFO, and then the trainer asks Ray Train for INFO logs
    (the same LoggingConfig whose output the tune run above shows reaching the terminal)."""
    import logging

    from vidray.config import from_dict
    from vidray.train.config import TrainConfig
    from vidray.train.trainer import build_trainer

    cfg = from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": "synthetic:moving-mnist",
                                  "gpu": False})
    assert build_trainer(cfg).run_config.logging_config.log_level == "WARNING"
    logger = logging.getLogger("vidray")
    level = logger.level
    logger.setLevel(logging.INFO)  # as `vidray -v` (basicConfig at INFO) leaves it
    try:
        assert build_trainer(cfg).run_config.logging_config.log_level == "INFO"
    finally:
        logger.setLevel(level)
