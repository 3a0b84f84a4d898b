"""Ray Train edge: build the ``TorchTrainer`` for a :class:`TrainConfig`, run it, and turn its
checkpoints into the results folder (metrics.csv, loss_curve.png, predictions.gif).

Resume = rerun with the same run name and storage: Ray Train V2 finds the run's latest
checkpoint and the worker loop continues from the epoch after it. Ray Train's own INFO logs (one
line per report with its whole metrics dict) show only with ``vidray -v``; the driver gets one
concise line per epoch through :class:`EpochQueueCallback`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vidray.config import to_dict
from vidray.errors import ConfigError, VidrayError
from vidray.stage import Scale
from vidray.train.config import TrainConfig

log = logging.getLogger("vidray.train")
RUN_RECORD = "vidray_run.json"
# settings a rerun may change without making it a different run
# (vsr_source: folders and shards of one patch run hold the same samples)
RESUMABLE_CHANGES = {"epochs", "num_workers", "gpu", "cpus_per_worker", "max_failures", "storage", "vsr_source"}


class TrainingStopped(VidrayError):
    """Training stopped before the last epoch (non-finite loss); the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What a run left behind; ``run_dir``, ``files`` and checkpoints are Paths on local storage, URIs on
    object storage."""

    run_dir: Path | str
    epochs_done: int
    history: list[dict]
    best_checkpoint: str | None
    latest_checkpoint: str | None
    files: list[Path | str] = field(default_factory=list)
    stopped: str | None = None

    def line(self) -> str:
        last = self.history[-1] if self.history else {}
        from vidray.train.report import verdict

        metric = ", ".join(f"{k}={last[k]:.4g}" for k in ("train_loss", "val_openstl_mse", "val_openstl_ssim",
                                                           "val_openstl_psnr") if isinstance(last.get(k), (int, float)))
        against = f"; model {verdict(last)}" if verdict(last) else ""
        return (f"train: {self.epochs_done} epochs → {self.run_dir} ({metric}{against}); "
                f"best checkpoint {self.best_checkpoint}")


def check_run_record(cfg: TrainConfig) -> None:
    """Refuse to resume a run whose record holds different settings (other than RESUMABLE_CHANGES).
    The record lives beside the checkpoints, through the storage door (local, NFS, s3://…)."""
    from vidray.io import storage

    record = storage.join(run_location(cfg), RUN_RECORD)
    new = to_dict(cfg)
    if storage.exists(record):
        old = json.loads(storage.read_bytes(record).decode())
        diffs = [f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in sorted(set(old) | set(new))
                 if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k)]
        if diffs:
            raise ConfigError([f"run {cfg.name!r} in {cfg.storage_path} was started with other settings ("
                               + "; ".join(diffs) + "); use another --run-name or the same settings"],
                              source="arguments")
    storage.write_json(record, new)  # local: temp + rename; object storage: one whole object


def use_gpu(requested: bool | None, capacity: dict[str, float]) -> bool:
    """GPU workers or not: ``--gpu``/``--no-gpu`` when given, else whether the cluster at its largest
    has GPUs (an autoscaling cluster with a GPU node type counts even while none is up)."""
    return requested if requested is not None else capacity.get("GPU", 0) > 0


def resolve_gpu(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with ``gpu`` decided (auto → :func:`use_gpu` on the connected cluster's capacity); on the driver."""
    if cfg.gpu is not None:
        return cfg
    from vidray.capacity import cluster_capacity

    return dataclasses.replace(cfg, gpu=use_gpu(None, cluster_capacity()))


def worker_resources(cfg: TrainConfig) -> dict[str, float]:
    """What one Train worker reserves: ``cpus_per_worker`` CPUs (data loading is in-process), 1 GPU with ``gpu``."""
    return {"CPU": cfg.cpus_per_worker, **({"GPU": 1.0} if cfg.gpu else {})}


def verbose_logging() -> bool:
    """Whether the user asked for details (``vidray -v`` sets the ``vidray`` logger to INFO)."""
    return logging.getLogger("vidray").isEnabledFor(logging.INFO)


def build_trainer(cfg: TrainConfig, callbacks=(), extra_loop_config: dict | None = None,
                  verbose: bool | None = None, scale: Scale | None = None):
    """The ``TorchTrainer`` for ``cfg`` (gloo on CPU, nccl on GPU — Ray's TorchConfig default).

    VSR reads its patches through Ray Data (:mod:`vidray.train.feed`): decode tasks ask for what ``scale``
    says (``--task-cpus``, ``--task-resources decode=1``). Ray Train's INFO logs (every report's metrics
    dict, worker-group starts) only when ``verbose`` (default: :func:`verbose_logging`); warnings and errors
    always.
    """
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from vidray.train.loop import train_loop_per_worker
    from vidray.train.tasks import TASKS

    cfg = resolve_gpu(cfg)
    verbose = verbose_logging() if verbose is None else verbose
    loop_config = {"train": to_dict(cfg), "threads_per_worker": max(1, int(cfg.cpus_per_worker)),
                   "verbose": verbose, **(extra_loop_config or {})}
    data = {}
    if TASKS[cfg.model].kind == "vsr":
        from vidray.train.feed import FEED_KEY, build_feed, data_config

        feed = build_feed(cfg, scale)
        loop_config[FEED_KEY] = feed.rows
        data = {"datasets": feed.datasets, "dataset_config": data_config()}
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        **data,
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.gpu,
                                     resources_per_worker=worker_resources(cfg)),
        run_config=RunConfig(
            name=cfg.name, storage_path=cfg.storage_path, callbacks=list(callbacks),
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.num_to_keep, checkpoint_score_attribute="val_loss",
                                               checkpoint_score_order="min"),
            failure_config=FailureConfig(max_failures=cfg.max_failures),
            logging_config=LoggingConfig(log_level="INFO" if verbose else "WARNING"),
        ),
    )


def _epoch_queue_callback_class():
    """:class:`EpochQueueCallback`, built on first use (Ray Train's callback base needs ``import ray.train``)."""
    from ray.train.v2.api.callback import UserCallback

    class EpochQueueCallback(UserCallback):
        """On the Train controller: put rank 0's metrics of each report on a Ray queue the driver reads."""

        def __init__(self, queue):
            self.queue = queue

        def after_report(self, run_context, metrics, checkpoint):
            self.queue.put(dict(metrics[0]))

    return EpochQueueCallback


def fit_reporting_epochs(trainer_for: Callable, on_epoch: Callable[[dict], None] | None):
    """``trainer_for(callbacks).fit()``, calling ``on_epoch(metrics)`` on the driver after each epoch's
    report (through a zero-CPU Ray queue actor, drained by a thread while ``fit`` blocks)."""
    if on_epoch is None:
        return trainer_for([]).fit()
    from ray.util.queue import Empty, Queue

    queue = Queue(actor_options={"num_cpus": 0})
    done = threading.Event()

    def drain(wait: float) -> None:
        while True:
            try:
                on_epoch(queue.get(timeout=wait) if wait else queue.get_nowait())
            except Empty:
                return

    def forward() -> None:
        while not done.is_set():
            drain(0.5)

    thread = threading.Thread(target=forward, name="vidray-epoch-lines", daemon=True)
    thread.start()
    try:
        return trainer_for([_epoch_queue_callback_class()(queue)]).fit()
    finally:
        done.set()
        thread.join()
        drain(0)
        queue.shutdown()


def run_location(cfg: TrainConfig) -> str:
    """The run's directory: ``STORAGE/RUN_NAME``, a local path or a URI (never ``Path()`` of a URI)."""
    from vidray.io import storage

    return storage.join(cfg.storage_path, cfg.name)


def run_dir_of(cfg: TrainConfig) -> Path | str:
    """What results name as the run directory: a Path on local storage (as always), the URI otherwise."""
    from vidray.io import storage

    location = run_location(cfg)
    return location if storage.is_uri(location) else Path(location)


def read_stop_marker(cfg: TrainConfig, remove: bool = False) -> str | None:
    """Why the last attempt of this run stopped early (non-finite loss), if it did."""
    from vidray.io import storage
    from vidray.train.loop import STOP_MARKER

    marker = storage.join(run_location(cfg), STOP_MARKER)
    if not storage.exists(marker):
        return None
    reason = json.loads(storage.read_bytes(marker).decode())["stopped"]
    if remove:
        storage.delete(marker)
    return reason


def run_training(cfg: TrainConfig, write_results: bool = True, on_epoch: Callable[[dict], None] | None = None,
                 verbose: bool | None = None, extra_loop_config: dict | None = None,
                 scale: Scale | None = None) -> TrainResult:
    """Train (or resume) ``cfg`` on the connected Ray cluster and write the results folder.

    ``gpu=None`` is decided here, once, from the cluster's capacity and recorded in the run record;
    ``on_epoch(metrics)`` runs on the driver after every epoch (the CLI prints a line); ``scale``: what
    VSR's decode tasks ask for (:func:`build_trainer`).
    """
    from vidray.io import storage
    from vidray.train.tasks import check_data

    storage.check_location(cfg.storage_path, flag="--storage")  # one line, before any worker starts
    check_data(cfg)  # bad data: one line, and no run record left behind to refuse the corrected rerun
    cfg = resolve_gpu(cfg)
    check_run_record(cfg)
    read_stop_marker(cfg, remove=True)  # a rerun gets a fresh chance
    clear_data_error(cfg)
    try:
        result = fit_reporting_epochs(
            lambda callbacks: build_trainer(cfg, callbacks, extra_loop_config=extra_loop_config, verbose=verbose,
                                            scale=scale),
            on_epoch)
    except Exception as exc:  # bad data met by a worker (an unreadable PNG): one line, not Ray's report
        from vidray.train.feed import data_error

        bad = data_error(exc)
        if bad is None:
            raise
        raise bad from None
    return finish_run(cfg, result, write_results=write_results)


def clear_data_error(cfg: TrainConfig) -> None:
    """Forget the bad input an earlier run of this name met (the user may have fixed it)."""
    from vidray.io import storage
    from vidray.train.feed import DATA_ERROR_FILE

    record = storage.join(run_location(cfg), DATA_ERROR_FILE)
    if storage.exists(record):
        storage.delete(record)


def finish_run(cfg: TrainConfig, result, write_results: bool = True) -> TrainResult:
    """Results folder from a finished Ray Train ``Result``; raises :class:`TrainingStopped` on a NaN stop."""
    from vidray.train.loop import load_state

    run_dir = run_dir_of(cfg)
    latest = result.checkpoint
    history: list[dict] = []
    if latest is not None:
        with latest.as_directory() as d:
            history = load_state(d)["history"]
    best = None
    if result.best_checkpoints:
        scored = [(m.get("val_loss", float("inf")), c) for c, m in result.best_checkpoints]
        best = min(scored, key=lambda x: x[0])[1]
    best = best or latest
    stopped = read_stop_marker(cfg)
    out = TrainResult(run_dir=run_dir, epochs_done=len(history), history=history,
                      best_checkpoint=_checkpoint_location(best), latest_checkpoint=_checkpoint_location(latest),
                      stopped=stopped)
    if write_results and history:
        out.files = _write_results(cfg, run_dir, history, best)
    if stopped:
        kept = (f"; last good checkpoint: {out.latest_checkpoint}" if out.latest_checkpoint
                else "; no checkpoint was saved")
        raise TrainingStopped(f"run {cfg.name!r} stopped: {stopped}{kept}")
    return out


def _checkpoint_location(checkpoint) -> str | None:
    """A Ray checkpoint's local path or URI (``s3://…``: what ``vidray evaluate`` takes)."""
    from vidray.io.storage import location_of

    return location_of(checkpoint.filesystem, checkpoint.path) if checkpoint is not None else None


def _write_results(cfg: TrainConfig, run_dir: Path | str, history: list[dict], best) -> list[Path | str]:
    """The results beside the checkpoints, through the storage door (whole objects on object storage)."""
    import contextlib

    from vidray.train.report import write_results_folder

    with (best.as_directory() if best else contextlib.nullcontext(None)) as ckpt:
        return write_results_folder(cfg, run_dir, history, ckpt)
