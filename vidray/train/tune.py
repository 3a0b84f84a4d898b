"""Ray Tune sweeps of the loss weights ``{mse_weight, vgg_weight}`` (and optionally the learning
rate): each trial is a Ray Train run (Train V2 inside a Tune function trainable), ASHA stops
weak trials on the per-epoch validation metric, and an interrupted sweep resumes with
``Tuner.restore``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from vidray.config import from_dict, to_dict
from vidray.train.config import TrainConfig, TuneConfig

log = logging.getLogger("vidray.tune")
CHECKPOINT_PATH_KEY = "checkpoint_path"


def trial_config(base: TrainConfig, params: dict, trial_id: str, storage: str) -> TrainConfig:
    """The TrainConfig of one trial: the sampled weights/lr over the sweep's base settings."""
    loss = dict(base.loss)
    loss["mse"] = float(params.get("mse_weight", loss.get("mse", 1.0)))
    loss["vgg"] = float(params["vgg_weight"])
    return dataclasses.replace(base, loss=loss, lr=float(params.get("lr", base.lr)), run_name=trial_id,
                               storage=storage, max_failures=0)


def _run_trial(params: dict) -> None:
    """Tune function trainable: one Ray Train run whose per-epoch reports reach Tune (and ASHA)."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from vidray.train.trainer import build_trainer

    base = from_dict(TrainConfig, params["base"])
    cfg = trial_config(base, params, ray.tune.get_context().get_trial_id(), params["trial_storage"])
    build_trainer(cfg, callbacks=[TuneReportCallback()]).fit()


def param_space(tcfg: TuneConfig, base: TrainConfig) -> dict:
    """The search space: log-uniform VGG weight, MSE weight fixed at 1 or uniform, optional log-uniform lr."""
    from ray import tune

    space = {"vgg_weight": tune.loguniform(tcfg.vgg_weight_min, tcfg.vgg_weight_max),
             "mse_weight": tune.uniform(0.1, 1.0) if tcfg.sweep_mse_weight else 1.0}
    if tcfg.sweep_lr:
        space["lr"] = tune.loguniform(base.lr / 10, base.lr * 10)
    return space


def concurrent_trials(tcfg: TuneConfig, base: TrainConfig) -> int:
    """How many trials fit at once: cluster CPUs (GPUs) ÷ what one trial's Train workers take."""
    import ray

    from vidray.train.trainer import cpus_per_worker

    if tcfg.max_concurrent_trials:
        return tcfg.max_concurrent_trials
    res = ray.cluster_resources()
    per_trial_cpu = base.num_workers * cpus_per_worker(base)
    fit = int(res.get("CPU", 1) // max(per_trial_cpu, 1e-9))
    if base.gpu:
        fit = min(fit, int(res.get("GPU", 0) // base.num_workers))
    return max(1, fit)


@dataclass
class SweepResult:
    """The sweep's table (sorted best first) and where things went."""

    sweep_dir: Path
    rows: list[dict]
    best: dict
    files: list[Path]

    def line(self) -> str:
        b = self.best
        return (f"tune: {len(self.rows)} trials → {self.sweep_dir}; best vgg_weight={b.get('vgg_weight'):.3g} "
                f"mse_weight={b.get('mse_weight'):.3g} {b.get('metric_name')}={b.get('metric'):.5g} "
                f"checkpoint {b.get('checkpoint')}")


def run_sweep(base: TrainConfig, tcfg: TuneConfig) -> SweepResult:
    """Run (or resume) the sweep ``base.name`` under ``base.storage_path``; write results.csv and sweep.png."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    sweep_dir = Path(base.storage_path) / base.name
    # the trial only drives its Train workers: no CPU (Tune refuses an empty request: 1 MiB of memory)
    trainable = tune.with_resources(_run_trial, {"CPU": 0, "memory": 2**20})
    if tune.Tuner.can_restore(str(sweep_dir)):
        log.info("resuming sweep %s", sweep_dir)
        tuner = tune.Tuner.restore(str(sweep_dir), trainable=trainable, resume_errored=True)
    else:
        space = {**param_space(tcfg, base), "base": to_dict(base), "trial_storage": str(sweep_dir / "trials")}
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric=tcfg.metric, mode=tcfg.mode, num_samples=tcfg.num_samples,
                scheduler=ASHAScheduler(max_t=base.epochs, grace_period=min(tcfg.grace_period, base.epochs),
                                        time_attr="training_iteration"),
                max_concurrent_trials=concurrent_trials(tcfg, base)),
            run_config=tune.RunConfig(name=base.name, storage_path=base.storage_path),
        )
    grid = tuner.fit()
    rows = []
    for result in grid:
        m, c = result.metrics or {}, result.config or {}
        rows.append({"trial": m.get("trial_id") or (Path(result.path).name if result.path else ""),
                     "vgg_weight": c.get("vgg_weight"),
                     "mse_weight": c.get("mse_weight"), "lr": c.get("lr", base.lr), "metric_name": tcfg.metric,
                     "metric": m.get(tcfg.metric, math.nan), "epochs": m.get("training_iteration", 0),
                     "val_ssim": m.get("val_ssim", math.nan), "val_psnr": m.get("val_psnr", math.nan),
                     "checkpoint": m.get(CHECKPOINT_PATH_KEY, ""),
                     "error": str(result.error).splitlines()[0] if result.error else ""})
    sign = 1 if tcfg.mode == "min" else -1
    rows.sort(key=lambda r: (math.isnan(r["metric"]), sign * r["metric"] if not math.isnan(r["metric"]) else 0))
    files = write_sweep_outputs(sweep_dir, rows, tcfg)
    return SweepResult(sweep_dir, rows, rows[0] if rows else {}, files)


def write_sweep_outputs(sweep_dir: Path, rows: list[dict], tcfg: TuneConfig) -> list[Path]:
    """results.csv (one row per trial, best first) and sweep.png (metric vs VGG weight)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vidray.io.atomic import atomic_path
    from vidray.train.report import write_metrics_csv

    files = [write_metrics_csv(sweep_dir / "results.csv", rows)]
    ok = [r for r in rows if not math.isnan(r["metric"])]
    fig, ax = plt.subplots(figsize=(6, 4))
    points = ax.scatter([r["vgg_weight"] for r in ok], [r["metric"] for r in ok],
                        c=[r["epochs"] for r in ok], cmap="viridis")
    fig.colorbar(points, ax=ax, label="epochs run (ASHA)")
    if ok:
        ax.scatter([ok[0]["vgg_weight"]], [ok[0]["metric"]], s=160, facecolors="none", edgecolors="red", label="best")
        ax.legend()
    ax.set(xscale="log", xlabel="VGG loss weight", ylabel=tcfg.metric, title=f"{len(rows)} trials")
    fig.tight_layout()
    with atomic_path(sweep_dir / "sweep.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return files + [sweep_dir / "sweep.png"]


def format_table(rows: list[dict]) -> str:
    """The sweep table as aligned text, best first."""
    head = f"{'trial':<18}{'vgg_weight':>12}{'mse_weight':>12}{'lr':>10}{'metric':>12}{'epochs':>8}{'ssim':>8}"
    lines = [head]
    for r in rows:
        lines.append(f"{r['trial']:<18}{r['vgg_weight']:>12.4g}{r['mse_weight']:>12.3g}{r['lr']:>10.3g}"
                     f"{r['metric']:>12.5g}{int(r['epochs']):>8d}{r['val_ssim']:>8.3f}"
                     + (f"  error: {r['error']}" if r["error"] else ""))
    return "\n".join(lines)
