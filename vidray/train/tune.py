"""Ray Tune sweeps of the loss weights ``{mse_weight, vgg_weight}`` (and optionally the learning
rate): each trial is a Ray Train run (Train V2 inside a Tune function trainable), ASHA stops
weak trials on the per-epoch validation metric, and an interrupted sweep resumes with
``Tuner.restore``.

Failures are handled at both levels: a Train worker that fails is restarted by Train from the
trial's last checkpoint (``max_failures``); a trial whose Train run fails for good is restarted by
Tune (``max_trial_failures``), and its new Train run, having the same name and storage, resumes
from that checkpoint too. Trials report ``epoch`` (continuing after a resume), ASHA's time axis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ray.tune import Callback

from vidray.config import from_dict, to_dict
from vidray.stage import Scale
from vidray.train.config import TrainConfig, TuneConfig

log = logging.getLogger("vidray.tune")
CHECKPOINT_PATH_KEY = "checkpoint_path"
AIR_NEW_OUTPUT_ENV = "RAY_AIR_NEW_OUTPUT"  # Ray's switch between Tune's new and legacy output engines
TUNE_ERROR_FILE = "error.txt"  # Tune appends "Failure # N (occurred at …)" and the error to it per failure


def trial_config(base: TrainConfig, params: dict, trial_id: str, storage: str) -> TrainConfig:
    """The TrainConfig of one trial: the sampled weights/lr over the sweep's base settings (Train's
    ``max_failures`` kept: a failed worker is retried inside the trial before Tune sees a failure)."""
    loss = dict(base.loss)
    loss["mse"] = float(params.get("mse_weight", loss.get("mse", 1.0)))
    loss["vgg"] = float(params["vgg_weight"])
    return dataclasses.replace(base, loss=loss, lr=float(params.get("lr", base.lr)), run_name=trial_id,
                               storage=storage)


def _run_trial(params: dict) -> None:
    """Tune function trainable: one Ray Train run whose per-epoch reports reach Tune (and ASHA).
    A restarted trial builds the same run (name = trial id), which resumes from its last checkpoint."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from vidray.train.trainer import build_trainer

    base = from_dict(TrainConfig, params["base"])
    cfg = trial_config(base, params, ray.tune.get_context().get_trial_id(), params["trial_storage"])
    build_trainer(cfg, callbacks=[TuneReportCallback()], extra_loop_config=params.get("loop_extra"),
                  verbose=params.get("verbose", False), scale=Scale(**params.get("scale", {}))).fit()


def param_space(tcfg: TuneConfig, base: TrainConfig) -> dict:
    """The search space: log-uniform VGG weight, MSE weight fixed at 1 or uniform, optional log-uniform lr."""
    from ray import tune

    space = {"vgg_weight": tune.loguniform(tcfg.vgg_weight_min, tcfg.vgg_weight_max),
             "mse_weight": tune.uniform(0.1, 1.0) if tcfg.sweep_mse_weight else 1.0}
    if tcfg.sweep_lr:
        space["lr"] = tune.loguniform(base.lr / 10, base.lr * 10)
    return space


def trial_resources(base: TrainConfig) -> dict[str, float]:
    """What one trial's Train workers reserve together (``gpu`` already decided)."""
    from vidray.train.trainer import worker_resources

    return {k: v * base.num_workers for k, v in worker_resources(base).items()}


def trials_that_fit(capacity: dict[str, float], per_trial: dict[str, float]) -> int:
    """How many trials needing ``per_trial`` fit in ``capacity`` at once; never 0 (a trial that does not
    fit yet waits for the autoscaler rather than the sweep refusing to start)."""
    fits = [int(capacity.get(name, 0.0) / need + 1e-9) for name, need in per_trial.items() if need > 0]
    return max(1, min(fits, default=1))


def concurrent_trials(tcfg: TuneConfig, base: TrainConfig) -> int:
    """``--max-concurrent-trials``, else how many trials the cluster at its largest fits (an
    autoscaling cluster: its node types' maximum, not the nodes up at start)."""
    if tcfg.max_concurrent_trials:
        return tcfg.max_concurrent_trials
    from vidray.capacity import cluster_capacity

    return trials_that_fit(cluster_capacity(), trial_resources(base))


def asha_for(tcfg: TuneConfig, base: TrainConfig):
    """ASHA on the reported ``epoch`` (continues after a trial restart, unlike ``training_iteration``):
    rungs from ``grace_period`` epochs up to the run's ``epochs``."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="epoch", max_t=base.epochs, grace_period=min(tcfg.grace_period, base.epochs))


class TrialEpochLines(Callback):
    """On the Tune driver: ``emit`` one line per trial epoch and per trial failure (``emit=print`` in the
    CLI). Module-level and plain so that Tune can pickle it with the sweep's state for a resume."""

    def __init__(self, epochs: int, emit: Callable[[str], None]):
        self.epochs, self.emit = epochs, emit

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "epoch" in result:
            from vidray.train.report import epoch_line

            self.emit(epoch_line(result, self.epochs, prefix=f"tune {trial.trial_id}"))

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.emit(f"tune {trial.trial_id}: failed (failure {trial.num_failures}); restarting it from its last "
                  "checkpoint")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.emit(f"tune {trial.trial_id}: failed for good after {trial.num_failures} failure(s); "
                  "the sweep goes on without it")


@dataclass
class SweepResult:
    """The sweep's table (sorted best first) and where things went."""

    sweep_dir: Path | str  # a Path on local storage, the URI on object storage
    rows: list[dict]
    best: dict
    files: list[Path | str]

    def line(self) -> str:
        b = self.best
        failed = sum(1 for r in self.rows if r["error"])
        return (f"tune: {len(self.rows)} trials ({failed} failed) → {self.sweep_dir}; "
                f"best vgg_weight={b.get('vgg_weight'):.3g} "
                f"mse_weight={b.get('mse_weight'):.3g} {b.get('metric_name')}={b.get('metric'):.5g} "
                f"checkpoint {b.get('checkpoint')}")


def run_sweep(base: TrainConfig, tcfg: TuneConfig, verbose: bool | None = None,
              emit: Callable[[str], None] | None = None, extra_loop_config: dict | None = None,
              scale: Scale | None = None) -> SweepResult:
    """Run (or resume) the sweep ``base.name`` under ``base.storage_path``; write results.csv and sweep.png.

    Tune's status tables and Train's per-report logs only when ``verbose`` (default: ``vidray -v``);
    ``emit`` gets one line per trial epoch. ``gpu=None`` is decided once here from the cluster's capacity;
    ``scale`` (``--task-cpus``, ``--task-resources``) reaches each trial's VSR decode tasks.
    """
    from ray import tune

    from vidray.io import storage
    from vidray.train.report import in_dir
    from vidray.train.tasks import check_data
    from vidray.train.trainer import resolve_gpu, run_dir_of, verbose_logging

    storage.check_location(base.storage_path, flag="--storage")  # one line, before any trial starts
    check_data(base)  # bad data: one line before any trial is started
    verbose = verbose_logging() if verbose is None else verbose
    base = resolve_gpu(base)
    sweep_dir = run_dir_of(base)
    # the trial only drives its Train workers: no CPU (Tune refuses an empty request: 1 MiB of memory)
    trainable = tune.with_resources(_run_trial, {"CPU": 0, "memory": 2**20})
    if tune.Tuner.can_restore(str(sweep_dir)):
        log.info("resuming sweep %s", sweep_dir)
        tuner = tune.Tuner.restore(str(sweep_dir), trainable=trainable, resume_errored=True)
    else:
        space = {**param_space(tcfg, base), "base": to_dict(base),
                 "trial_storage": str(in_dir(sweep_dir, "trials")),
                 "verbose": verbose, "loop_extra": extra_loop_config or {},
                 "scale": dataclasses.asdict(scale or Scale())}
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric=tcfg.metric, mode=tcfg.mode, num_samples=tcfg.num_samples,
                scheduler=asha_for(tcfg, base),
                max_concurrent_trials=concurrent_trials(tcfg, base)),
            run_config=tune.RunConfig(
                name=base.name, storage_path=base.storage_path,
                failure_config=tune.FailureConfig(max_failures=tcfg.max_trial_failures),
                callbacks=[TrialEpochLines(base.epochs, emit)] if emit else None,
                verbose=None if verbose else 0),
        )
    with _quiet_tune_output(not verbose):
        grid = tuner.fit()
    rows = []
    for result in grid:
        m, c = result.metrics or {}, result.config or {}
        rows.append({"trial": m.get("trial_id") or (Path(result.path).name if result.path else ""),
                     "vgg_weight": c.get("vgg_weight"),
                     "mse_weight": c.get("mse_weight"), "lr": c.get("lr", base.lr), "metric_name": tcfg.metric,
                     "metric": m.get(tcfg.metric, math.nan), "epochs": m.get("epoch", 0),
                     "val_ssim": m.get("val_openstl_ssim", math.nan), "val_psnr": m.get("val_openstl_psnr", math.nan),
                     "checkpoint": checkpoint_location(result, m.get(CHECKPOINT_PATH_KEY, "")),
                     "failures": trial_failures(result),
                     "error": failure_reason(result.error) if result.error else ""})
    sign = 1 if tcfg.mode == "min" else -1
    # trials that failed for good go last whatever their last metric: their run did not finish
    rows.sort(key=lambda r: (bool(r["error"]), math.isnan(r["metric"]),
                             sign * r["metric"] if not math.isnan(r["metric"]) else 0))
    files = write_sweep_outputs(sweep_dir, rows, tcfg)
    return SweepResult(sweep_dir, rows, rows[0] if rows else {}, files)


@contextlib.contextmanager
def _quiet_tune_output(quiet: bool) -> Iterator[None]:
    """With ``quiet``, run Tune's legacy output engine (``RAY_AIR_NEW_OUTPUT=0``) for this ``fit``: at
    ``verbose=0`` it prints nothing, while the new engine still prints its experiment header box and
    result paths at ``verbose=0`` (Ray 2.60). The driver's environment is restored afterwards."""
    if not quiet:
        yield
        return
    old = os.environ.get(AIR_NEW_OUTPUT_ENV)
    os.environ[AIR_NEW_OUTPUT_ENV] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(AIR_NEW_OUTPUT_ENV, None)
        else:
            os.environ[AIR_NEW_OUTPUT_ENV] = old


def checkpoint_location(result, path: str) -> str:
    """A trial's reported checkpoint path as a local path or URI (Train reports the path inside its
    file system: ``bucket/runs/…`` for ``s3://bucket/runs/…``)."""
    from vidray.io.storage import location_of

    return location_of(result.filesystem, path) if path and result.filesystem is not None else path


def trial_failures(result) -> int:
    """How often Tune saw this trial fail, retried failures included (Tune's error file in the trial dir)."""
    import pyarrow.fs

    if not result.path or result.filesystem is None:
        return 0
    path = f"{result.path}/{TUNE_ERROR_FILE}"
    if result.filesystem.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return 0
    with result.filesystem.open_input_stream(path) as f:
        return sum(line.startswith("Failure # ") for line in f.read().decode(errors="replace").splitlines())


def failure_reason(error: BaseException) -> str:
    """Why a trial failed, in one line: the innermost error (a Train worker's exception), not the Tune
    and Train wrappers around it."""
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        workers = getattr(error, "worker_failures", None)
        inner = next(iter(workers.values())) if workers else getattr(error, "cause", None) or error.__cause__
        if not isinstance(inner, BaseException):
            break
        error = inner
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


def write_sweep_outputs(sweep_dir: Path | str, rows: list[dict], tcfg: TuneConfig) -> list[Path | str]:
    """results.csv (one row per trial, best first) and sweep.png (metric vs VGG weight), in ``sweep_dir``
    (a local Path or a URI) through the storage door."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vidray.io import storage
    from vidray.train.report import figure_png, in_dir, write_metrics_csv

    files = [write_metrics_csv(in_dir(sweep_dir, "results.csv"), rows)]
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
    storage.write_bytes(in_dir(sweep_dir, "sweep.png"), figure_png(fig))
    return files + [in_dir(sweep_dir, "sweep.png")]


def format_table(rows: list[dict]) -> str:
    """The sweep table as aligned text, best first."""
    head = (f"{'trial':<18}{'vgg_weight':>12}{'mse_weight':>12}{'lr':>10}{'metric':>12}{'epochs':>8}{'ssim':>8}"
            f"{'failures':>10}")
    lines = [head]
    for r in rows:
        lines.append(f"{r['trial']:<18}{r['vgg_weight']:>12.4g}{r['mse_weight']:>12.3g}{r['lr']:>10.3g}"
                     f"{r['metric']:>12.5g}{int(r['epochs']):>8d}{r['val_ssim']:>8.3f}{int(r.get('failures', 0)):>10d}"
                     + (f"  failed: {r['error']}" if r["error"] else ""))
    return "\n".join(lines)
