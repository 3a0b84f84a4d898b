"""Ray Tune sweeps: concurrency from a flag or the cluster's maximum, GPU auto, failures retried by Train
and then by Tune (resuming, epochs continuing), and a result table (results.csv, sweep.png) that names
failed trials."""

from __future__ import annotations

import csv
import os

import pytest

from vidray.config import from_dict
from vidray.errors import ConfigError
from vidray.train.config import TrainConfig, TuneConfig
from vidray.train.loop import FAULT_KEY, InjectedFault, inject_fault
from vidray.train.report import epoch_line
from vidray.train.trainer import resolve_gpu, use_gpu, worker_resources
from vidray.train.tune import concurrent_trials, failure_reason, trial_resources, trials_that_fit


def base_cfg(**kw) -> TrainConfig:
    return from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": "synthetic:moving-mnist", **kw})


# a cluster.yaml-like autoscaling cluster at its largest: 2-CPU head, 4 x 8-CPU workers, 2 x (8 CPU, 1 GPU)
AUTOSCALING_MAX = {"CPU": 2 + 4 * 8 + 2 * 8, "GPU": 2.0, "memory": 1e12}


def test_trials_that_fit_divides_capacity_by_what_a_trial_needs():
    assert trials_that_fit({"CPU": 16.0}, {"CPU": 4.0}) == 4
    assert trials_that_fit(AUTOSCALING_MAX, {"CPU": 2.0, "GPU": 2.0}) == 1  # GPUs are the limit
    assert trials_that_fit({"CPU": 3.0}, {"CPU": 0.1 * 3}) == 10  # no float floor error
    assert trials_that_fit({"CPU": 2.0}, {"CPU": 8.0}) == 1  # never 0: the trial waits for the autoscaler
    assert trials_that_fit({"CPU": 64.0}, {"CPU": 1.0, "GPU": 1.0}) == 1  # GPUs it cannot have yet
    assert trials_that_fit({"CPU": 4.0}, {}) == 1


def test_concurrency_from_the_flag_else_the_clusters_maximum(monkeypatch):
    import vidray.capacity

    monkeypatch.setattr(vidray.capacity, "cluster_capacity", lambda: dict(AUTOSCALING_MAX))
    cpu = base_cfg(num_workers=2, cpus_per_worker=4, gpu=False)
    assert trial_resources(cpu) == {"CPU": 8.0}
    assert concurrent_trials(from_dict(TuneConfig, {}), cpu) == 50 // 8
    assert concurrent_trials(from_dict(TuneConfig, {"max_concurrent_trials": 3}), cpu) == 3
    gpu = resolve_gpu(base_cfg(num_workers=1))  # auto: the cluster has GPU node types
    assert gpu.gpu is True and trial_resources(gpu) == {"CPU": 1.0, "GPU": 1.0}
    assert concurrent_trials(from_dict(TuneConfig, {}), gpu) == 2


def test_asha_runs_on_epochs():
    from vidray.train.tune import asha_for

    asha = asha_for(from_dict(TuneConfig, {"grace_period": 2}), base_cfg(epochs=20))
    # (Ray keeps these private: the scheduler's time axis, its max_t and rung milestones)
    assert (asha._time_attr, asha._max_t) == ("epoch", 20)
    assert [milestone for milestone, _ in asha._brackets[0]._rungs] == [8, 2]  # grace 2, reduction factor 4
    short = asha_for(from_dict(TuneConfig, {"grace_period": 5}), base_cfg(epochs=3))  # grace capped at epochs
    assert [milestone for milestone, _ in short._brackets[0]._rungs] == [3]


def test_gpu_auto_follows_the_clusters_node_types():
    assert use_gpu(None, {"CPU": 4.0, "GPU": 8.0}) is True  # GPU node types, even with none up
    assert use_gpu(None, {"CPU": 64.0}) is False
    assert use_gpu(False, {"GPU": 8.0}) is False and use_gpu(True, {"CPU": 1.0}) is True  # --no-gpu / --gpu
    assert base_cfg().gpu is None  # the config default is auto


def test_cpus_per_worker_is_a_setting_not_an_environment_variable(monkeypatch):
    monkeypatch.setenv("VIDRAY_CPUS_PER_WORKER", "7")
    assert worker_resources(base_cfg(gpu=False)) == {"CPU": 1.0}
    assert worker_resources(base_cfg(gpu=True, cpus_per_worker=2.5)) == {"CPU": 2.5, "GPU": 1.0}
    with pytest.raises(ConfigError, match="cpus_per_worker must be > 0"):
        base_cfg(cpus_per_worker=0)


def test_cli_flags_reach_the_configs():
    from vidray.cli_flags import OneLineParser
    from vidray.train.cli import register, train_config_from_args

    parser = OneLineParser(prog="vidray")
    register(parser.add_subparsers(dest="command"))
    common = ["--model", "convlstm", "--data", "x"]
    assert train_config_from_args(parser.parse_args(["train", *common])).gpu is None
    assert train_config_from_args(parser.parse_args(["train", *common, "--no-gpu"])).gpu is False
    cfg = train_config_from_args(parser.parse_args(["train", *common, "--gpu", "--cpus-per-worker", "3"]))
    assert cfg.gpu is True and cfg.cpus_per_worker == 3.0
    args = parser.parse_args(["tune", *common, "--max-trial-failures", "3", "--max-concurrent-trials", "2"])
    assert (args.max_trial_failures, args.max_concurrent) == (3, 2)


def test_epoch_line_is_short_and_says_progress_and_eta():
    row = {"epoch": 3, "train_loss": 0.04123, "val_loss": 0.0398, "val_openstl_mse": 163.24,
           "train_samples_per_s": 412.3, "epoch_wall_seconds": 2.0, "val_openstl_ssim": 0.5, "lr": 1e-3,
           "shard_overlap": 0}
    line = epoch_line(row, 10)
    assert line == ("train: epoch 3/10 train_loss 0.04123 val_loss 0.0398 val_openstl_mse 163.2 val_openstl_ssim 0.5, "
                    "412.3 samples/s, "
                    "2.0 s/epoch, ETA 14s")
    assert "\n" not in line and "{" not in line


def test_injected_faults_are_counted_per_run_in_claim_order(tmp_path):
    fault = {"dir": str(tmp_path), "from_epoch": 2, "times": [1, 0]}
    inject_fault(fault, "a", 1)  # before from_epoch: nothing, and no claim
    with pytest.raises(InjectedFault, match="fault 1 of run a at the start of epoch 2"):
        inject_fault(fault, "a", 2)
    inject_fault(fault, "a", 2)  # its one fault is spent
    inject_fault(fault, "b", 2)  # second claim: 0 faults
    inject_fault(fault, "c", 5)  # no slot left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fault0", "claim0", "claim1"]


def test_failure_reason_is_the_innermost_worker_error():
    class WorkerGroupLike(RuntimeError):
        def __init__(self):
            super().__init__("Training failed due to worker errors:\n[Rank 0]\n...")
            self.worker_failures = {0: InjectedFault("injected fault 2 of run t1 at the start of epoch 2")}

    try:
        try:
            raise WorkerGroupLike()
        except WorkerGroupLike as exc:
            raise RuntimeError("trial t1 errored") from exc
    except RuntimeError as outer:
        assert failure_reason(outer) == "InjectedFault: injected fault 2 of run t1 at the start of epoch 2"


def test_concurrency_on_local_ray(ray_local):
    # the session's local Ray has 2 CPUs and no GPU: 1-worker CPU trials -> 2 at once, 2-worker -> 1
    assert concurrent_trials(from_dict(TuneConfig, {}), resolve_gpu(base_cfg(num_workers=1))) == 2
    assert concurrent_trials(from_dict(TuneConfig, {}), resolve_gpu(base_cfg(num_workers=2))) == 1
    assert resolve_gpu(base_cfg()).gpu is False


def test_sweep_survives_failures_at_both_levels_and_resumes(ray_local, mm_dir, tmp_path, capfd):
    """Trial A fails at the start of epoch 2 twice: Train restarts its workers once (max_failures=1),
    then the run fails for good and Tune restarts the trial (max_trial_failures=1), whose new Train run
    resumes from the epoch-1 checkpoint. Trial B fails every time: the sweep finishes and names it."""
    from vidray.train.tune import format_table, run_sweep

    base = from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": str(mm_dir), "batch_size": 8,
                                   "epochs": 2, "num_workers": 1, "storage": str(tmp_path), "run_name": "faulty",
                                   "max_train_samples": 8, "max_val_samples": 8, "max_failures": 1,
                                   "vgg_layers": ["relu1_2"]})
    tcfg = from_dict(TuneConfig, {"num_samples": 2, "max_concurrent_trials": 2, "grace_period": 2,
                                  "max_trial_failures": 1})
    faults = tmp_path / "faults"
    lines: list[str] = []
    sweep = run_sweep(base, tcfg, verbose=False, emit=lines.append,
                      extra_loop_config={FAULT_KEY: {"dir": str(faults), "from_epoch": 2, "times": [2, 1000]}})
    trial_a, trial_b = ((faults / f"claim{i}").read_text() for i in range(2))
    rows = {r["trial"]: r for r in sweep.rows}
    assert set(rows) == {trial_a, trial_b} and sweep.rows[0]["trial"] == trial_a, sweep.rows
    a, b = rows[trial_a], rows[trial_b]
    assert a["error"] == "" and a["epochs"] == 2 and a["failures"] == 1 and a["checkpoint"], a
    assert len(list(faults.glob(f"{trial_a}.fault*"))) == 2  # one absorbed by Train, one by Tune
    assert b["error"].startswith("InjectedFault: injected fault") and b["epochs"] == 1 and b["failures"] == 2, b
    assert len(list(faults.glob(f"{trial_b}.fault*"))) == 4  # 2 Tune attempts x (1 + 1 Train retry)

    # the restarted trial went on from its checkpoint: every epoch reported once, in order
    epochs_a = [int(line.split("epoch ")[1].split("/")[0]) for line in lines
                if line.startswith(f"tune {trial_a}: epoch")]
    assert epochs_a == [1, 2]  # not [1, 1, 2]: the restarted trial did not start over
    from vidray.train.loop import load_state

    history = load_state(a["checkpoint"])["history"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert any(line.startswith(f"tune {trial_a}: failed (failure 1)") for line in lines)
    assert any(line.startswith(f"tune {trial_b}: failed for good") for line in lines)

    # the table: every trial, best first (errors last), in results.csv and as text; the plot
    assert sweep.best["trial"] == trial_a and os.path.isdir(sweep.best["checkpoint"])
    assert all(1e-4 <= r["vgg_weight"] <= 1e-1 for r in sweep.rows)  # the default range
    table = list(csv.DictReader(open(sweep.sweep_dir / "results.csv")))
    assert [r["trial"] for r in table] == [trial_a, trial_b] and table[1]["error"].startswith("InjectedFault")
    assert (sweep.sweep_dir / "sweep.png").stat().st_size > 0
    assert "vgg_weight" in format_table(sweep.rows) and trial_b in format_table(sweep.rows)

    out, err = capfd.readouterr()
    assert "Reporting training result" not in out + err  # Train's per-report metric dicts
    assert "Trial status" not in out + err  # Tune's tables
