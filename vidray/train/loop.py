"""The training loop. ``train_one_epoch`` / ``validate`` are plain PyTorch (the benchmark runs them
without Ray); ``train_loop_per_worker`` is the Ray Train edge: DDP, sharded data, checkpoints,
resume, and the NaN stop. Each report carries ``epoch``: epochs done, 1-based, continuing after a
resume, so Tune's ASHA (``time_attr="epoch"``) puts a restored trial on the right rung.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset

from vidray import losses, metrics
from vidray.train.tasks import TASKS, build_datasets, model_kwargs

STATE_FILE = "state.pt"
# loop-config key of the fault-injection hook of the failure tests (see :func:`inject_fault`)
FAULT_KEY = "inject_fault"


class InjectedFault(RuntimeError):
    """Raised by :func:`inject_fault`: a stand-in for a crash, for the failure tests."""


class NonFiniteLoss(Exception):
    """The training loss became NaN/inf; carries where."""

    def __init__(self, value: float, epoch: int, step: int, global_step: int):
        self.value, self.epoch, self.step, self.global_step = value, epoch, step, global_step
        super().__init__(f"non-finite training loss ({value}) at epoch {epoch}, step {step} "
                         f"(global step {global_step})")


def to_device(batch, device):
    """Move a (nested tuple/list of) tensor batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch


def autocast_for(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; nothing on CPU (bf16 CPU autocast is slower there)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_loss(cfg, device) -> torch.nn.Module:
    """The weighted loss of ``cfg.loss`` on ``device`` (VGG layers ``cfg.vgg_layers``, weights from
    ``cfg.vgg_weights`` if given, else vidray.vgg_weights' search order)."""
    options = None
    if cfg.loss.get("vgg", 0) > 0:
        options = {"vgg": {"layers": list(cfg.vgg_layers), "weights_path": cfg.vgg_weights}}
    return losses.build(cfg.loss, options).to(device)


def _all_ranks_any(flag: bool, device) -> bool:
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def thread_times() -> tuple[float, float]:
    """(CPU seconds this thread has run, seconds it has waited runnable for a CPU). The wait comes from
    Linux's ``/proc/thread-self/schedstat`` (NaN elsewhere): it shows when another process held the CPU,
    which is how the benchmark tells a slower loop from a busy machine."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            run_ns, wait_ns = f.read().split()[:2]
        return int(run_ns) / 1e9, int(wait_ns) / 1e9
    except (OSError, ValueError):
        return time.thread_time(), float("nan")


def train_one_epoch(model, loader, loss_fn, optimizer, scheduler, cfg, device, epoch: int,
                    global_step: int = 0) -> dict:
    """One pass over ``loader``; returns ``{train_loss, steps, samples, seconds, cpu_seconds,
    runq_seconds, indices}`` (wall, this thread's CPU, and its wait for a CPU; see :func:`thread_times`).

    Raises :class:`NonFiniteLoss` on every rank at once when any rank's loss is not finite.
    """
    task = TASKS[cfg.model]
    model.train()
    total, steps, samples, indices = 0.0, 0, 0, []
    cpu0, runq0 = thread_times()
    start = time.perf_counter()
    for step, batch in enumerate(loader):
        batch = to_device(batch, device)
        with autocast_for(device, cfg.amp):
            pred, true = task.training_pass(model, batch, cfg, global_step + step)
            loss = loss_fn(pred.float(), true.float())
        if _all_ranks_any(not torch.isfinite(loss).item(), device):
            raise NonFiniteLoss(float(loss.item()), epoch, step, global_step + step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += float(loss.detach())
        steps += 1
        samples += len(batch[1])
        indices.extend(int(i) for i in batch[1])
    seconds = time.perf_counter() - start
    cpu1, runq1 = thread_times()
    return {"train_loss": total / max(steps, 1), "steps": steps, "samples": samples, "seconds": seconds,
            "cpu_seconds": cpu1 - cpu0, "runq_seconds": runq1 - runq0, "indices": indices}


@torch.no_grad()
def validate(model, loader, loss_fn, cfg, device) -> dict:
    """Validation metrics of this rank's share, as sums and a count (to all-reduce across ranks):
    the loss, every metric of :mod:`vidray.metrics` for the model (``val_*``) and for each of the
    task's baselines on the same samples (``baseline_{name}_*``), and LPIPS where the task lists it."""
    task = TASKS[cfg.model]
    model.eval()
    lpips = _validation_lpips(task, device)
    sums: dict[str, float] = {}
    lpips_sums: dict[str, float] = {}
    count = lpips_images = lpips_pixels = 0
    for batch in loader:
        batch = to_device(batch, device)
        with autocast_for(device, cfg.amp):
            pred, true, _ = task.forward(model, batch, cfg)
        pred, true = pred.float(), true.float()
        n = true.shape[0]
        scored = {"val": pred} | {f"baseline_{b.name}": b.predict(batch, cfg)[0].float() for b in task.baselines}
        values = {"val_loss": float(loss_fn(pred, true))}
        for prefix, guess in scored.items():
            values.update({f"{prefix}_{k}": v for k, v in metrics.evaluate(guess, true).items()})
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v * n
        count += n
        # LPIPS (VGG16 on every frame) costs far more than the rest: on CPU only the first images are scored
        take = n if device.type == "cuda" else min(n, -(-(LPIPS_CPU_PIXELS - lpips_pixels) // true[0].numel()))
        if lpips is not None and take > 0:
            for prefix, guess in scored.items():
                distances = lpips.distance(guess[:take], true[:take])
                lpips_sums[prefix] = lpips_sums.get(prefix, 0.0) + float(distances.sum())
            lpips_images += take * true.shape[1]
            lpips_pixels += take * true[0].numel()
    for prefix, total in lpips_sums.items():  # a mean over the scored images, weighted like the other sums
        sums[f"{prefix}_lpips_vgg"] = total / lpips_images * count
    return {"sums": sums, "count": count}


# LPIPS on CPU scores the first validation samples of each rank until this many values are scored (32 frames
# of 64x64 gray, 2 VSR crops of 192x192 RGB; at least one sample); on CUDA every sample
LPIPS_CPU_PIXELS = 32 * 64 * 64


def _validation_lpips(task, device):
    """The shared LPIPS metric on ``device`` for tasks that list ``lpips_vgg``; None (with a warning saying
    what to install) when its weights are missing, so that training goes on without the column."""
    if "lpips_vgg" not in task.extra_metrics:
        return None
    from vidray.lpips import shared_lpips
    from vidray.vgg_weights import WeightsNotFoundError

    try:
        return shared_lpips().to(device)
    except WeightsNotFoundError as exc:
        logging.getLogger("vidray.train").warning("validation without LPIPS: %s", exc)
        return None


def reduce_validation(result: dict, device) -> dict[str, float]:
    """Means over every rank's validation share (a rank whose share was empty, e.g. fewer validation samples
    than ranks, has no keys: the union of every rank's keys is reduced, so the collective sizes agree)."""
    keys = sorted(result["sums"])
    distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if distributed:
        every: list = [None] * dist.get_world_size()
        dist.all_gather_object(every, keys)
        keys = sorted(set().union(*every))
    t = torch.tensor([result["sums"].get(k, 0.0) for k in keys] + [float(result["count"])], dtype=torch.float64,
                     device=device)
    if distributed:
        dist.all_reduce(t)
    count = max(t[-1].item(), 1.0)
    return {k: t[i].item() / count for i, k in enumerate(keys)}


def make_optimizer(model, cfg, steps_per_epoch: int):
    """``cfg.optimizer`` (AdamW, or OpenSTL's Adam) at ``cfg.scaled_lr`` + ``cfg.scheduler`` over ``cfg.epochs``,
    stepped per optimiser step: cosine decay to 0, or OpenSTL's one-cycle (:class:`~vidray.train.schedules.OneCycle`).
    Both are closed forms of the step count, so resuming with more epochs stretches them instead of restarting."""
    from vidray.train.schedules import OneCycle, cosine_factor

    kind = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    optimizer = kind(model.parameters(), lr=cfg.scaled_lr, weight_decay=cfg.weight_decay)
    total = max(cfg.epochs * steps_per_epoch, 1)
    if cfg.scheduler == "onecycle":
        return optimizer, OneCycle(optimizer, total)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine_factor(step, total))


def save_state(directory: str, model, optimizer, scheduler, epoch: int, cfg_dict: dict, history: list) -> None:
    """Everything needed to continue exactly: weights, optimiser, scheduler, epoch (0-based index of the
    epoch just finished), config, history."""
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch, "config": cfg_dict, "history": history,
                "torch_rng": torch.get_rng_state()}, os.path.join(directory, STATE_FILE))


def load_state(directory: str | Path) -> dict:
    """The dict :func:`save_state` wrote (on CPU). Only tensors and plain containers load
    (``weights_only=True``): a crafted file that would run code is refused as bad input."""
    import pickle

    from vidray.errors import InputError

    path = Path(directory) / STATE_FILE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise InputError(path, f"is not a vidray checkpoint that loads safely ({first})") from exc


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def train_loop_per_worker(loop_config: dict) -> None:
    """Ray Train worker: build model/data, resume from the latest checkpoint, train, report each epoch."""
    import ray.train
    import ray.train.torch

    from vidray.config import from_dict
    from vidray.models import build
    from vidray.train.config import TrainConfig

    cfg = from_dict(TrainConfig, loop_config["train"])
    if not loop_config.get("verbose", True):
        # Ray Train V2 logs each report's whole metrics dict at INFO on a logger named after its source
        # file, which LoggingConfig(log_level=…) does not reach (it filters ``ray.train*`` names only),
        # through the worker's root logger: raise that to WARNING unless the user asked for -v
        logging.getLogger().setLevel(logging.WARNING)
    torch.set_num_threads(max(1, int(loop_config.get("threads_per_worker", 1))))
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(cfg.seed)
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    if TASKS[cfg.model].kind == "vsr":  # Ray Data: decoded and cropped on CPU tasks, sharded by Ray Train
        from vidray.train.feed import FEED_KEY, worker_batches

        sampler = train_ds = val_ds = None
        train_loader, val_loader, steps_per_epoch = worker_batches(cfg, loop_config[FEED_KEY], world)
    else:
        batch_size = cfg.worker_batch_size  # batch_scope=global: batch_size split over the workers
        train_ds, val_ds = build_datasets(cfg)
        if isinstance(train_ds, IterableDataset):
            train_ds.shard(rank, world)
            sampler = None
            train_loader = DataLoader(train_ds, batch_size=batch_size)
        else:
            sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed,
                                         drop_last=world > 1)  # no padding duplicates across ranks
            train_loader = DataLoader(train_ds, batch_size=batch_size, sampler=sampler)
        val_share = torch.utils.data.Subset(val_ds, range(rank, len(val_ds), world))
        val_loader = DataLoader(val_share, batch_size=batch_size)
        steps_per_epoch = math.ceil(len(train_ds) / (1 if sampler is None else world) / batch_size)
    optimizer, scheduler = make_optimizer(model, cfg, steps_per_epoch)

    start_epoch, history = 0, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            state = load_state(d)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scheduler.base_lrs = [cfg.scaled_lr] * len(scheduler.base_lrs)  # this run's workers set the lr scaling
        start_epoch, history = state["epoch"] + 1, state["history"]
    model = ray.train.torch.prepare_model(model)
    loss_fn = build_loss(cfg, device)

    for epoch in range(start_epoch, cfg.epochs):
        epoch_start = time.perf_counter()
        if rank == 0:
            inject_fault(loop_config.get(FAULT_KEY), cfg.name, epoch + 1)
        for ds in (sampler, train_ds, val_ds):
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(epoch)
        try:
            stats = train_one_epoch(model, train_loader, loss_fn, optimizer, scheduler, cfg, device, epoch,
                                    global_step=epoch * steps_per_epoch)
        except NonFiniteLoss as exc:
            if rank == 0:  # the driver reads this after fit(); no retry, the checkpoints stay as they are
                write_stop_marker(ctx.get_storage(), str(exc))
            return
        overlap, coverage = _shard_check(stats["indices"], world)
        val = reduce_validation(validate(model, val_loader, loss_fn, cfg, device), device)
        row = {"epoch": epoch + 1, "train_loss": _mean_over_ranks(stats["train_loss"], device),
               "lr": scheduler.get_last_lr()[0], "epoch_seconds": stats["seconds"],
               "epoch_cpu_seconds": stats["cpu_seconds"], "epoch_runq_seconds": stats["runq_seconds"],
               "train_samples_per_s": stats["samples"] * world / max(stats["seconds"], 1e-9),
               "shard_overlap": overlap, "shard_coverage": coverage, **val, "reported_at": time.time()}
        history.append(row)
        if rank == 0:
            with tempfile.TemporaryDirectory() as d:
                row["epoch_wall_seconds"] = time.perf_counter() - epoch_start  # train + validate (ETA lines)
                save_state(d, _unwrap(model), optimizer, scheduler, epoch, loop_config["train"], history)
                ray.train.report(row, checkpoint=ray.train.Checkpoint.from_directory(d))
        else:
            ray.train.report(row)


STOP_MARKER = "stopped.json"


def inject_fault(fault: dict | None, run_name: str, epoch: int) -> None:
    """Test hook: raise :class:`InjectedFault` at the start of every epoch >= ``fault["from_epoch"]``
    (1-based) until this run has failed ``fault["times"][k]`` times, ``k`` being the order in which runs
    first got here; counts are marker files in ``fault["dir"]``, so they survive worker and trial restarts."""
    if not fault or epoch < fault["from_epoch"]:
        return
    folder = Path(fault["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    times = fault["times"]
    mine = folder / f".{run_name}.{os.getpid()}"
    mine.write_text(run_name)
    try:
        for slot in range(len(times)):
            claim = folder / f"claim{slot}"
            with contextlib.suppress(FileExistsError):
                os.link(mine, claim)  # atomic: the claim appears with its content
            if claim.read_text() == run_name:
                break
        else:
            return
    finally:
        mine.unlink()
    failed = len(list(folder.glob(f"{run_name}.fault*")))
    if failed < times[slot]:
        (folder / f"{run_name}.fault{failed}").touch()
        raise InjectedFault(f"injected fault {failed + 1} of run {run_name} at the start of epoch {epoch}")


def write_stop_marker(storage, reason: str) -> None:
    """Record in the run's storage dir (any pyarrow filesystem) why training stopped early."""
    import json

    path = f"{storage.storage_fs_path}/{storage.experiment_dir_name}/{STOP_MARKER}"
    with storage.storage_filesystem.open_output_stream(path) as f:
        f.write(json.dumps({"stopped": reason}).encode())


def _mean_over_ranks(value: float, device) -> float:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.item() / dist.get_world_size()
    return value


def _shard_check(indices: list[int], world: int) -> tuple[int, int]:
    """(samples seen by more than one rank this epoch, distinct samples seen): 0 overlap = disjoint shards."""
    if world == 1 or not (dist.is_available() and dist.is_initialized()):
        return 0, len(set(indices))
    gathered: list = [None] * world
    dist.all_gather_object(gathered, indices)
    seen, overlap = set(), 0
    for part in gathered:
        part = set(part)
        overlap += len(seen & part)
        seen |= part
    return overlap, len(seen)
