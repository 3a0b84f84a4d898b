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
from vidray.train.config import TrainConfig

log = logging.getLogger("vidray.train")
RUN_RECORD = "vidray_run.json"
# settings a rerun may change without making it a different run
RESUMABLE_CHANGES = {"epochs", "num_workers", "gpu", "cpus_per_worker", "max_failures", "storage"}


class TrainingStopped(VidrayError):
    """Training stopped before the last epoch (non-finite loss); the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What a run left behind."""

    run_dir: Path
    epochs_done: int
    history: list[dict]
    best_checkpoint: str | None
    latest_checkpoint: str | None
    files: list[Path] = field(default_factory=list)
    stopped: str | None = None

    def line(self) -> str:
        last = self.history[-1] if self.history else {}
        metric = ", ".join(f"{k}={last[k]:.4g}" for k in ("train_loss", "val_mse", "val_ssim", "val_psnr")
                           if isinstance(last.get(k), (int, float)))
        return f"train: {self.epochs_done} epochs → {self.run_dir} ({metric}); best checkpoint {self.best_checkpoint}"


def check_run_record(cfg: TrainConfig) -> None:
    """Refuse to resume a run whose record holds different settings (other than RESUMABLE_CHANGES).
    The record lives beside the checkpoints, on any pyarrow filesystem (local, NFS, s3://…)."""
    import pyarrow.fs

    fs, run = _run_fs(cfg)
    record = f"{run}/{RUN_RECORD}"
    new = to_dict(cfg)
    if fs.get_file_info(record).type != pyarrow.fs.FileType.NotFound:
        with fs.open_input_stream(record) as f:
            old = json.loads(f.read().decode())
        diffs = [f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in sorted(set(old) | set(new))
                 if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k)]
        if diffs:
            raise ConfigError([f"run {cfg.name!r} in {cfg.storage_path} was started with other settings ("
                               + "; ".join(diffs) + "); use another --run-name or the same settings"],
                              source="arguments")
    fs.create_dir(run, recursive=True)
    tmp = f"{run}/.{RUN_RECORD}.part"
    with fs.open_output_stream(tmp) as f:
        f.write((json.dumps(new, indent=2, sort_keys=True) + "\n").encode())
    fs.move(tmp, record)


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
                  verbose: bool | None = None):
    """The ``TorchTrainer`` for ``cfg`` (gloo on CPU, nccl on GPU — Ray's TorchConfig default).

    Ray Train's INFO logs (every report's metrics dict, worker-group starts) only when ``verbose``
    (default: :func:`verbose_logging`); warnings and errors always.
    """
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from vidray.train.loop import train_loop_per_worker

    cfg = resolve_gpu(cfg)
    verbose = verbose_logging() if verbose is None else verbose
    loop_config = {"train": to_dict(cfg), "threads_per_worker": max(1, int(cfg.cpus_per_worker)),
                   "verbose": verbose, **(extra_loop_config or {})}
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
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


def _run_fs(cfg: TrainConfig):
    """(pyarrow filesystem, path of the run dir on it) for local paths and URIs alike."""
    import pyarrow.fs

    if "://" in cfg.storage_path:
        fs, root = pyarrow.fs.FileSystem.from_uri(cfg.storage_path)
    else:
        fs, root = pyarrow.fs.LocalFileSystem(), cfg.storage_path
    return fs, f"{root.rstrip('/')}/{cfg.name}"


def read_stop_marker(cfg: TrainConfig, remove: bool = False) -> str | None:
    """Why the last attempt of this run stopped early (non-finite loss), if it did."""
    import json

    import pyarrow.fs

    from vidray.train.loop import STOP_MARKER

    fs, run = _run_fs(cfg)
    path = f"{run}/{STOP_MARKER}"
    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as f:
        reason = json.loads(f.read().decode())["stopped"]
    if remove:
        fs.delete_file(path)
    return reason


def run_training(cfg: TrainConfig, write_results: bool = True, on_epoch: Callable[[dict], None] | None = None,
                 verbose: bool | None = None, extra_loop_config: dict | None = None) -> TrainResult:
    """Train (or resume) ``cfg`` on the connected Ray cluster and write the results folder.

    ``gpu=None`` is decided here, once, from the cluster's capacity and recorded in the run record;
    ``on_epoch(metrics)`` runs on the driver after every epoch (the CLI prints a line).
    """
    cfg = resolve_gpu(cfg)
    check_run_record(cfg)
    read_stop_marker(cfg, remove=True)  # a rerun gets a fresh chance
    result = fit_reporting_epochs(
        lambda callbacks: build_trainer(cfg, callbacks, extra_loop_config=extra_loop_config, verbose=verbose),
        on_epoch)
    return finish_run(cfg, result, write_results=write_results)


def finish_run(cfg: TrainConfig, result, write_results: bool = True) -> TrainResult:
    """Results folder from a finished Ray Train ``Result``; raises :class:`TrainingStopped` on a NaN stop."""
    from vidray.train.loop import load_state
    run_dir = Path(cfg.storage_path) / cfg.name
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
                      best_checkpoint=best.path if best else None, latest_checkpoint=latest.path if latest else None,
                      stopped=stopped)
    if write_results and history:
        out.files = _write_results(cfg, run_dir, history, best)
    if stopped:
        kept = (f"; last good checkpoint: {out.latest_checkpoint}" if out.latest_checkpoint
                else "; no checkpoint was saved")
        raise TrainingStopped(f"run {cfg.name!r} stopped: {stopped}{kept}")
    return out


def _write_results(cfg: TrainConfig, run_dir: Path, history: list[dict], best) -> list[Path]:
    """The results folder beside the checkpoints; for URI storage drawn locally, then uploaded."""
    import contextlib
    import tempfile

    from vidray.train.report import write_results_folder

    with (best.as_directory() if best else contextlib.nullcontext(None)) as ckpt:
        if "://" not in cfg.storage_path:
            return write_results_folder(cfg, run_dir, history, ckpt)
        import pyarrow.fs

        fs, run = _run_fs(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            files = write_results_folder(cfg, Path(tmp), history, ckpt)
            for path in files:
                pyarrow.fs.copy_files(str(path), f"{run}/{path.name}", destination_filesystem=fs)
        return [Path(f"{cfg.storage_path}/{cfg.name}/{p.name}") for p in files]
