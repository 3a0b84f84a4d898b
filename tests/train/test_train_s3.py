"""`vidray train` / `vidray tune` with `--storage s3://…` against a real S3 endpoint (moto on 127.0.0.1):
checkpoints, results and the run record are objects in the bucket, a rerun resumes from them, a rerun of a
sweep restores it from the bucket, and nothing lands in a local `s3:` folder. Each command runs in its own
process with its own local Ray, which inherits the AWS environment the way cluster workers do."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile

from vidray.io import storage


def vidray(args: list[str], cwd) -> subprocess.CompletedProcess:
    """Run the CLI in ``cwd`` in its own process (its own local Ray), as a user or a Ray job would."""
    ray_tmp = tempfile.mkdtemp(prefix="vr-")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1",
           "HF_HUB_OFFLINE": "1", "VIDRAY_RAY_TMPDIR": ray_tmp, "VIDRAY_CACHE": str(cwd / ".cache")}
    try:
        proc = subprocess.run([sys.executable, "-m", "vidray", *args], capture_output=True, text=True, env=env,
                              cwd=cwd, timeout=400)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def tiny(mm_dir, storage_uri: str, epochs: int) -> list[str]:
    return ["--model", "convlstm", "--preset", "tiny", "--data", str(mm_dir), "--epochs", str(epochs),
            "--batch-size", "8", "--storage", storage_uri, "--num-cpus", "2",
            "--set", "max_train_samples=8", "max_val_samples=8", "vgg_layers=[\"relu1_2\"]"]


def csv_rows(uri: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(storage.read_bytes(uri).decode())))


def no_local_uri_folders(root) -> bool:
    """No ``s3:`` folder (``Path("s3://b/x")`` gives ``s3:/b/x``) was created under ``root``."""
    return not [p for p in root.rglob("*") if p.name.startswith("s3:")]


def test_train_on_s3_writes_objects_and_a_rerun_resumes(mm_dir, s3_bucket, tmp_path):
    data = f"{s3_bucket}/data/mm"  # the training data is in the bucket too
    for f in mm_dir.glob("*.npy"):
        storage.write_bytes(f"{data}/{f.name}", f.read_bytes())
    runs = f"{s3_bucket}/runs"
    run = f"{runs}/mm"
    first = vidray(["train", *tiny(data, runs, 2), "--run-name", "mm"], tmp_path)
    epochs = [line.split()[2] for line in first.stdout.splitlines() if line.startswith("train: epoch ")]
    assert epochs == ["1/2", "2/2"], first.stdout
    assert f"train: 2 epochs → {run} (" in first.stdout  # the run directory is the URI
    names = {f[len(run) + 1:] for f in storage.list_files(run)}
    assert {"metrics.csv", "loss_curve.png", "predictions.gif", "vidray_run.json"} <= names, names
    assert len([n for n in names if n.startswith("checkpoint_") and n.endswith("/state.pt")]) == 2, names
    assert storage.read_bytes(f"{run}/loss_curve.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert storage.read_bytes(f"{run}/predictions.gif")[:6] == b"GIF89a"
    assert [r["epoch"] for r in csv_rows(f"{run}/metrics.csv")] == ["1", "2"]

    assert list((tmp_path / ".cache").rglob("moving_mnist*.npy"))  # read from the node's copy
    again = vidray(["train", *tiny(data, runs, 3), "--run-name", "mm"], tmp_path)
    epochs = [line.split()[2] for line in again.stdout.splitlines() if line.startswith("train: epoch ")]
    assert epochs == ["3/3"], again.stdout  # resumed from the epoch-2 checkpoint in the bucket
    assert [r["epoch"] for r in csv_rows(f"{run}/metrics.csv")] == ["1", "2", "3"]
    best = again.stdout.rsplit("best checkpoint ", 1)[1].strip()
    assert best.startswith(f"{run}/checkpoint_") and storage.exists(f"{best}/state.pt"), best

    evaluated = vidray(["evaluate", best, "--max-samples", "8"], tmp_path)  # the printed URI is usable
    assert "mse_per_pixel" in evaluated.stdout
    assert [line.split() for line in evaluated.stdout.splitlines() if line.startswith("samples")] == [["samples", "8"]]
    assert no_local_uri_folders(tmp_path)


def test_tune_on_s3_writes_the_table_to_the_bucket_and_restores_from_it(mm_dir, s3_bucket, tmp_path):
    runs = f"{s3_bucket}/runs"
    sweep = f"{runs}/sw"
    args = ["tune", *tiny(mm_dir, runs, 1), "--run-name", "sw", "--num-samples", "2", "--max-concurrent-trials", "2"]
    first = vidray(args, tmp_path)
    assert f"tune: 2 trials (0 failed) → {sweep};" in first.stdout, first.stdout
    rows = csv_rows(f"{sweep}/results.csv")
    assert len(rows) == 2 and all(r["error"] == "" for r in rows)
    assert all(r["checkpoint"].startswith(f"{sweep}/trials/") and storage.exists(f"{r['checkpoint']}/state.pt")
               for r in rows), rows
    assert storage.read_bytes(f"{sweep}/sweep.png")[:8] == b"\x89PNG\r\n\x1a\n"
    trial_dirs = [n for n in storage.list_names(sweep) if n.startswith("_run_trial_")]
    assert len(trial_dirs) == 2

    again = vidray(["-v", *args], tmp_path)  # Tuner.restore finds the sweep in the bucket: no new trials
    assert f"resuming sweep {sweep}" in again.stderr
    assert {r["trial"] for r in csv_rows(f"{sweep}/results.csv")} == {r["trial"] for r in rows}
    assert [n for n in storage.list_names(sweep) if n.startswith("_run_trial_")] == trial_dirs
    assert no_local_uri_folders(tmp_path)
