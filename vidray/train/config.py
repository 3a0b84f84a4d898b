"""Settings of a training run and of a loss-weight sweep, validated at the door."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vidray.train.tasks import TASKS


def default_storage() -> str:
    """Where runs go unless ``--storage`` says otherwise: ``$VIDRAY_RUNS`` or ./runs."""
    return os.environ.get("VIDRAY_RUNS") or str(Path("runs").absolute())


@dataclass(frozen=True)
class TrainConfig:
    """One Ray Train run of a registered model on one dataset.

    ``data`` is a synth output (Moving MNIST dir/.npy, VideoMNIST dir/.h5), a patch-job output
    (for ``vsr``), a folder of videos, or ``synthetic:moving-mnist`` for fresh sequences every epoch.
    """

    model: str = "convlstm"
    data: str = ""
    preset: str = "base"
    model_args: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    loss: dict = field(default_factory=lambda: {"mse": 1.0})
    vgg_weights: str | None = None
    vgg_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    num_workers: int = 1
    gpu: bool = False
    amp: bool = True
    seed: int = 0
    input_frames: int = 10
    output_frames: int = 10
    keyframe_interval: int = 4
    val_fraction: float = 0.1
    max_train_samples: int | None = None
    max_val_samples: int | None = None
    samples_per_epoch: int = 10000
    vsr_crop: int = 96
    vsr_format: str = "small_540"
    num_to_keep: int = 3
    max_failures: int = 2
    run_name: str = ""
    storage: str = ""

    def problems(self) -> list[str]:
        """Every problem with these settings (empty when valid)."""
        from vidray.models import names, presets

        problems = []
        if self.model not in TASKS:
            problems.append(f"model {self.model!r} unknown; choose from {', '.join(sorted(TASKS))}")
        elif self.model in names() and self.preset not in presets(self.model):
            problems.append(f"preset {self.preset!r} unknown for {self.model}; choose from "
                            f"{', '.join(presets(self.model))}")
        if not self.data:
            problems.append("data is required (a dataset path, or synthetic:moving-mnist)")
        for name in ("epochs", "batch_size", "num_workers", "input_frames", "output_frames", "keyframe_interval",
                     "samples_per_epoch", "num_to_keep"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.keyframe_interval < 2:
            problems.append(f"keyframe_interval must be >= 2 (1 leaves nothing to interpolate), "
                            f"got {self.keyframe_interval}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            problems.append("weight_decay and grad_clip must be >= 0")
        if not 0 <= self.val_fraction < 1:
            problems.append(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.max_failures < -1:
            problems.append(f"max_failures must be >= -1 (-1 = retry forever), got {self.max_failures}")
        if self.vsr_crop < 3 or self.vsr_crop % 3:
            problems.append(f"vsr_crop must be a positive multiple of 3 (the GT crop), got {self.vsr_crop}")
        bad = [k for k, v in self.loss.items() if not isinstance(v, (int, float)) or v < 0]
        if bad or not self.loss or not any(v > 0 for v in self.loss.values() if isinstance(v, (int, float))):
            problems.append(f"loss weights must be numbers >= 0 with at least one > 0, got {self.loss}")
        return problems

    @property
    def name(self) -> str:
        """The run's name: ``run_name`` or ``{model}-{preset}``."""
        return self.run_name or f"{self.model}-{self.preset}"

    @property
    def storage_path(self) -> str:
        """Absolute storage root (local path or URI)."""
        s = self.storage or default_storage()
        return s if "://" in s else str(Path(s).expanduser().absolute())


@dataclass(frozen=True)
class TuneConfig:
    """A Ray Tune sweep of the loss weights (and optionally the learning rate) of one model."""

    num_samples: int = 8
    vgg_weight_min: float = 1e-4
    vgg_weight_max: float = 1e-1
    sweep_mse_weight: bool = False
    sweep_lr: bool = False
    metric: str = "val_mse"
    mode: str = "min"
    grace_period: int = 1
    max_concurrent_trials: int | None = None
    workers_per_trial: int = 1

    def problems(self) -> list[str]:
        problems = []
        if self.num_samples < 1:
            problems.append(f"num_samples must be >= 1, got {self.num_samples}")
        if not 0 < self.vgg_weight_min < self.vgg_weight_max:
            problems.append(f"need 0 < vgg_weight_min < vgg_weight_max, got {self.vgg_weight_min}, "
                            f"{self.vgg_weight_max}")
        if self.mode not in ("min", "max"):
            problems.append(f"mode must be min or max, got {self.mode!r}")
        if self.grace_period < 1 or self.workers_per_trial < 1:
            problems.append("grace_period and workers_per_trial must be >= 1")
        if self.max_concurrent_trials is not None and self.max_concurrent_trials < 1:
            problems.append("max_concurrent_trials must be >= 1")
        return problems
