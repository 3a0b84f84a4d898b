"""What "training model X" means for each registered model: its data, its forward pass on a batch,
and its baseline. Every task returns video tensors ``[B, T, C, H, W]`` so that losses, metrics
and the prediction GIF treat all models alike.

Adding a trainable model = a model in :mod:`vidray.models` + one entry in ``TASKS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from vidray.metrics import copy_last_frame


@dataclass(frozen=True)
class Task:
    """How one model family trains.

    ``clip_length(cfg)``: frames per training clip (``None`` = not clip data); ``forward(model,
    batch, cfg)`` -> ``(pred, true, context)`` video tensors; ``baseline(batch, cfg)`` -> the
    prediction of the trivial baseline (copy-last-frame, keyframe blend, bicubic).
    """

    kind: str
    channels: int
    clip_length: Callable
    forward: Callable
    baseline: Callable
    baseline_name: str


def _split(batch, cfg):
    clip = batch[0]
    return clip[:, : cfg.input_frames], clip[:, cfg.input_frames: cfg.input_frames + cfg.output_frames]


def _predict_forward(model, batch, cfg):
    x, y = _split(batch, cfg)
    return model(x), y, x


def _predict_baseline(batch, cfg):
    x, y = _split(batch, cfg)
    return copy_last_frame(x, y.shape[1]), y


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


PREDICT = Task("predict", 1, lambda cfg: cfg.input_frames + cfg.output_frames, _predict_forward, _predict_baseline,
               "copy_last_frame")
TASKS: dict[str, Task] = {
    "convlstm": PREDICT,
    "vit_predictor": PREDICT,
    "keyframe_ae": Task("autoencode", 1, lambda cfg: cfg.keyframe_interval + 1, _ae_forward, _ae_baseline,
                        "mean_image"),
    "interpolator": Task("interpolate", 1, lambda cfg: cfg.keyframe_interval + 1, _interp_forward,
                         _interp_baseline, "cross_fade"),
    "vsr": Task("vsr", 3, lambda cfg: None, _vsr_forward, _vsr_baseline, "bicubic"),
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
    if task.kind == "vsr":
        train, val = ds.patch_splits(cfg.data, cfg.vsr_format, cfg.val_fraction)
        train, val = train[: cfg.max_train_samples], val[: cfg.max_val_samples]
        return (ds.PatchPairs(train, cfg.vsr_crop, True, cfg.seed), ds.PatchPairs(val, cfg.vsr_crop, False, cfg.seed))
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


def check_data(cfg) -> None:
    """Check ``cfg.data`` on the driver before anything is written (the run record, checkpoints): the
    same loading as the workers', except that a folder of videos is only listed, not decoded."""
    from vidray.io import storage
    from vidray.train import datasets as ds

    task = TASKS[cfg.model]
    if cfg.data == ds.SYNTHETIC_MOVING_MNIST:
        return
    if task.kind == "vsr":
        ds.patch_splits(cfg.data, cfg.vsr_format, cfg.val_fraction)
        return
    kind = storage.kind(cfg.data)
    if kind == "directory" and not {"moving_mnist.npy", "videomnist.h5", "hdf5"} & set(storage.list_names(cfg.data)):
        if not any(f.lower().endswith(ds.VIDEO_SUFFIXES) for f in storage.list_files(cfg.data)):
            raise ds.InputError(cfg.data, f"holds no videos ({', '.join(ds.VIDEO_SUFFIXES)}) and no synth output")
        return
    build_datasets(cfg)
