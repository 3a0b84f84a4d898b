"""What "training model X" means for each registered model: its data, its forward pass on a batch,
and its baseline. Every task returns video tensors ``[B, T, C, H, W]`` so that losses, metrics
and the prediction GIF treat all models alike.

Adding a trainable model = a model in :mod:`vidray.models` + one entry in ``TASKS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from vidray.metrics import all_black, copy_last_frame


@dataclass(frozen=True)
class Baseline:
    """A trivial predictor the model must beat: ``predict(batch, cfg)`` -> ``(pred, true)`` video tensors."""

    name: str
    predict: Callable


@dataclass(frozen=True)
class Task:
    """How one model family trains.

    ``clip_length(cfg)``: frames per training clip (``None`` = not clip data); ``forward(model,
    batch, cfg)`` -> ``(pred, true, context)`` video tensors; ``baselines``: the trivial predictors
    validation scores beside the model (copy-last-frame and all-black, keyframe blend, bicubic);
    ``extra_metrics``: validation metrics beyond :data:`vidray.metrics.METRICS` (``"lpips_vgg"``);
    ``train_forward(model, batch, cfg, step)`` -> ``(pred, true)``: the training pass when it differs from
    ``forward`` (scheduled sampling, loss over every output; ``step`` = the global optimiser step).
    """

    kind: str
    channels: int
    clip_length: Callable
    forward: Callable
    baselines: tuple[Baseline, ...]
    extra_metrics: tuple[str, ...] = ()
    train_forward: Callable | None = None

    def training_pass(self, model, batch, cfg, step: int):
        """``(pred, true)`` of one training step: ``train_forward`` if the task has one, else ``forward``."""
        if self.train_forward is None:
            return self.forward(model, batch, cfg)[:2]
        return self.train_forward(model, batch, cfg, step)


def _split(batch, cfg):
    clip = batch[0]
    return clip[:, : cfg.input_frames], clip[:, cfg.input_frames: cfg.input_frames + cfg.output_frames]


def _predict_forward(model, batch, cfg):
    x, y = _split(batch, cfg)
    return model(x), y, x


def _predict_train_forward(model, batch, cfg, step: int):
    """The predictors' training pass: as :func:`_predict_forward`, or with OpenSTL's protocol when ``cfg``
    asks (``sampling``: ground truth fed by :func:`vidray.train.schedules.sampling_mask`; ``loss_outputs=all``:
    every output ``[B, T_in + T_out - 1, ...]`` against frames 1 .. T_in + T_out - 1)."""
    if cfg.sampling == "none" and cfg.loss_outputs == "future":
        return _predict_forward(model, batch, cfg)[:2]
    from vidray.train.schedules import sampling_mask

    x, y = _split(batch, cfg)
    generator = torch.Generator().manual_seed(_sampling_seed(cfg.seed, step))
    mask = sampling_mask(cfg.sampling, step, cfg.sampling_iters, x.shape[0], cfg.input_frames, cfg.output_frames,
                         generator)
    all_outputs = cfg.loss_outputs == "all"
    pred = model(x, future=y, feed_mask=None if mask is None else mask.to(x.device), all_outputs=all_outputs)
    return pred, (torch.cat([x[:, 1:], y], dim=1) if all_outputs else y)


def _sampling_seed(seed: int, step: int) -> int:
    """Seed of step ``step``'s sampling draws on this rank: fixed by (seed, rank, step), so a resumed run
    draws what an uninterrupted one would, and ranks draw independently."""
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    return ((seed % 2**20) << 42) | ((rank % 2**10) << 32) | (step % 2**32)  # distinct per (seed, rank, step)


def _copy_last_baseline(batch, cfg):
    x, y = _split(batch, cfg)
    return copy_last_frame(x, y.shape[1]), y


def _black_baseline(batch, cfg):
    x, y = _split(batch, cfg)
    return all_black(x, y.shape[1]), y


def _ae_forward(model, batch, cfg):
    clip = batch[0]
    return model(clip), clip, clip


def _ae_baseline(batch, cfg):
    clip = batch[0]
    return clip.mean(dim=(3, 4), keepdim=True).expand_as(clip), clip  # the flat mean image


def _interp_parts(batch, cfg):
    clip = batch[0]  # [B, K+1, C, H, W]: keyframes at both ends
    b, k = clip.shape[0], clip.shape[1] - 1
    times = torch.arange(1, k, device=clip.device, dtype=clip.dtype) / k  # [K-1]
    return clip[:, 0], clip[:, -1], times, clip[:, 1:-1], b


def _interp_forward(model, batch, cfg):
    f0, f1, times, true, b = _interp_parts(batch, cfg)
    n = len(times)
    pred = model(f0.repeat(n, 1, 1, 1), f1.repeat(n, 1, 1, 1), times.repeat_interleave(b))
    pred = pred.reshape(n, b, *pred.shape[1:]).transpose(0, 1)
    return pred, true, torch.stack([f0, f1], dim=1)


def _interp_baseline(batch, cfg):
    f0, f1, times, true, _ = _interp_parts(batch, cfg)
    t = times.view(1, -1, 1, 1, 1)
    return (1 - t) * f0.unsqueeze(1) + t * f1.unsqueeze(1), true  # linear cross-fade


def _vsr_forward(model, batch, cfg):
    lr, gt = batch[0]
    return model(lr).unsqueeze(1), gt.unsqueeze(1), lr


def _vsr_baseline(batch, cfg):
    from vidray.models import bicubic_upsample

    lr, gt = batch[0]
    return bicubic_upsample(lr[:, lr.shape[1] // 2]).unsqueeze(1), gt.unsqueeze(1)


PREDICT = Task("predict", 1, lambda cfg: cfg.input_frames + cfg.output_frames, _predict_forward,
               (Baseline("copy_last_frame", _copy_last_baseline), Baseline("all_black", _black_baseline)),
               train_forward=_predict_train_forward)
TASKS: dict[str, Task] = {
    "convlstm": PREDICT,
    "vit_predictor": PREDICT,
    "keyframe_ae": Task("autoencode", 1, lambda cfg: cfg.keyframe_interval + 1, _ae_forward,
                        (Baseline("mean_image", _ae_baseline),), ("lpips_vgg",)),
    "interpolator": Task("interpolate", 1, lambda cfg: cfg.keyframe_interval + 1, _interp_forward,
                         (Baseline("cross_fade", _interp_baseline),), ("lpips_vgg",)),
    "vsr": Task("vsr", 3, lambda cfg: None, _vsr_forward, (Baseline("bicubic", _vsr_baseline),), ("lpips_vgg",)),
}


def model_kwargs(cfg) -> dict:
    """Constructor overrides implied by the run's settings, then the user's ``--set`` values."""
    kwargs = {}
    if TASKS[cfg.model].kind == "predict":
        kwargs.update(in_frames=cfg.input_frames, out_frames=cfg.output_frames)
    kwargs.update(cfg.model_args)
    return kwargs


def channels_of(cfg) -> int:
    """Channels the model is built with (``--set channels=…`` or the task's default)."""
    return int(cfg.model_args.get("channels", TASKS[cfg.model].channels))


def build_datasets(cfg):
    """(train, val) torch Datasets for ``cfg``; items are ``(data, index)``."""
    from vidray.train import datasets as ds

    task = TASKS[cfg.model]
    if task.kind == "vsr":  # map-style, for readers on one process; training reads through vidray.train.feed
        sel = vsr_selection(cfg)
        return (ds.PatchPairs(sel, sel.train, cfg.vsr_crop, True, cfg.seed),
                ds.PatchPairs(sel, sel.val, cfg.vsr_crop, False, cfg.seed))
    length = task.clip_length(cfg)
    channels = channels_of(cfg)
    if cfg.data == ds.SYNTHETIC_MOVING_MNIST:
        train = ds.FreshMovingMNIST(cfg.samples_per_epoch, length, cfg.seed)
        from vidray.synth.moving_mnist import render_sequences

        n_val = cfg.max_val_samples or 1000
        val_videos = render_sequences(n_val, sequence_length=length, seed=cfg.seed, split="test").swapaxes(0, 1)
        return train, ds.ClipDataset(val_videos, length, channels, cfg.data)
    train, val = ds.video_splits(cfg.data, cfg.val_fraction)
    train, val = ds._limit(train, cfg.max_train_samples), ds._limit(val, cfg.max_val_samples)
    return ds.ClipDataset(train, length, channels, cfg.data), ds.ClipDataset(val, length, channels, cfg.data)


def vsr_selection(cfg):
    """The patch-index rows of a VSR run (:func:`vidray.train.patch_index.select_patches` of its settings)."""
    from vidray.train.patch_index import select_patches

    return select_patches(cfg.data, cfg.vsr_format, cfg.vsr_categories, cfg.val_fraction, cfg.vsr_source,
                          cfg.max_train_samples, cfg.max_val_samples)


def check_data(cfg) -> None:
    """Check ``cfg.data`` on the driver before anything is written (the run record, checkpoints): the
    same loading as the workers', except that a folder of videos is only listed, not decoded."""
    from vidray.io import storage
    from vidray.train import datasets as ds

    task = TASKS[cfg.model]
    if cfg.data == ds.SYNTHETIC_MOVING_MNIST:
        return
    if task.kind == "vsr":  # the index and one sample (decoded and cropped), not a walk of the folders
        ds.check_first_pair(vsr_selection(cfg), cfg.vsr_crop)
        return
    kind = storage.kind(cfg.data)
    if kind == "directory" and not {"moving_mnist.npy", "videomnist.h5", "hdf5"} & set(storage.list_names(cfg.data)):
        if not any(f.lower().endswith(ds.VIDEO_SUFFIXES) for f in storage.list_files(cfg.data)):
            raise ds.InputError(cfg.data, f"holds no videos ({', '.join(ds.VIDEO_SUFFIXES)}) and no synth output")
        return
    build_datasets(cfg)
