"""Settings of a training run and of a loss-weight sweep, validated at the door."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vidray.config import bounded
from vidray.train.patch_index import vsr_data_problems
from vidray.train.tasks import TASKS


def default_storage() -> str:
    """Where runs go unless ``--storage`` says otherwise: ``$VIDRAY_RUNS`` or ./runs."""
    return os.environ.get("VIDRAY_RUNS") or str(Path("runs").absolute())


@dataclass(frozen=True)
class TrainConfig:
    """One Ray Train run of a registered model on one dataset.

    ``data`` is a synth output (Moving MNIST dir/.npy, VideoMNIST dir/.h5), a patch-job output
    (for ``vsr``), a folder of videos, or ``synthetic:moving-mnist`` for fresh sequences every epoch.

    Optimisation: ``optimizer`` (adamw / adam) at ``lr``, ``scheduler`` per step (cosine to 0 / OpenSTL's
    onecycle), ``grad_clip`` (0 = off). ``batch_size`` is per worker, or split over the workers with
    ``batch_scope=global``; with ``lr_base_batch`` the learning rate used is ``lr * global batch /
    lr_base_batch`` (the linear scaling rule). Recurrent predictors may train with OpenSTL's scheduled
    sampling (``sampling``, over ``sampling_iters`` steps) and a loss over every output (``loss_outputs=all``).
    """

    model: str = "convlstm"
    data: str = ""
    preset: str = "base"
    model_args: dict = field(default_factory=dict)
    epochs: int = bounded(10, ge=1)
    batch_size: int = bounded(16, ge=1)
    lr: float = bounded(1e-3, gt=0)
    weight_decay: float = bounded(0.0, ge=0)
    grad_clip: float = bounded(1.0, ge=0)
    optimizer: str = bounded("adamw", choices=("adamw", "adam"))
    scheduler: str = bounded("cosine", choices=("cosine", "onecycle"))
    batch_scope: str = bounded("worker", choices=("worker", "global"))  # what batch_size counts
    lr_base_batch: int | None = bounded(None, ge=1)  # None: lr as given; else scaled by global batch / this
    sampling: str = bounded("none", choices=("none", "scheduled", "reverse"))  # ground truth fed in training
    sampling_iters: int = bounded(50000, ge=1)  # steps over which the sampling schedule runs (OpenSTL: 50000)
    loss_outputs: str = bounded("future", choices=("future", "all"))  # all: every rollout output (19 for 10->10)
    loss: dict = field(default_factory=lambda: {"mse": 1.0})
    vgg_weights: str | None = None
    vgg_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    num_workers: int = bounded(1, ge=1)
    gpu: bool | None = None  # None = auto: GPU workers when the cluster has (or can add) GPUs
    cpus_per_worker: float = bounded(1.0, gt=0)
    amp: bool = True
    seed: int = 0
    input_frames: int = bounded(10, ge=1)
    output_frames: int = bounded(10, ge=1)
    keyframe_interval: int = bounded(4, ge=2, note="(1 leaves nothing to interpolate)")
    val_fraction: float = bounded(0.1, ge=0, lt=1)
    max_train_samples: int | None = bounded(None, ge=1)
    max_val_samples: int | None = bounded(None, ge=0)
    samples_per_epoch: int = bounded(10000, ge=1)
    vsr_crop: int = 96
    vsr_format: str = "small_540"
    vsr_categories: tuple[str, ...] | None = None  # None = every category of the patch index
    vsr_source: str = bounded("auto", choices=("auto", "folders", "shards"))  # auto: shards when every row has one
    num_to_keep: int = bounded(3, ge=1)
    max_failures: int = bounded(2, ge=-1, note="(-1 = retry forever)")
    run_name: str = ""
    storage: str = ""

    def problems(self) -> list[str]:
        """Problems the declared bounds cannot say: registry names, the data, loss weights (empty when valid)."""
        from vidray.models import names, presets

        problems = []
        if self.model not in TASKS:
            problems.append(f"model {self.model!r} unknown; choose from {', '.join(sorted(TASKS))}")
        elif self.model in names() and self.preset not in presets(self.model):
            problems.append(f"preset {self.preset!r} unknown for {self.model}; choose from "
                            f"{', '.join(presets(self.model))}")
        if not self.data:
            problems.append("data is required (a dataset path, or synthetic:moving-mnist)")
        if self.run_name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", self.run_name):
            problems.append(f"run_name {self.run_name!r} must be one folder name (letters, digits, '.', '_', '-'; "
                            "no '/' or leading '.'), so the run stays inside --storage")
        if self.vsr_crop < 3 or self.vsr_crop % 3:
            problems.append(f"vsr_crop must be a positive multiple of 3 (the GT crop), got {self.vsr_crop}")
        problems += vsr_data_problems(self.vsr_format, self.vsr_categories)
        if self.batch_scope == "global" and self.batch_size % self.num_workers:
            problems.append(f"batch_size {self.batch_size} (batch_scope global) must split evenly over "
                            f"num_workers {self.num_workers}")
        if (self.sampling != "none" or self.loss_outputs == "all") and not _teacher_forcing(self.model):
            problems.append(f"sampling {self.sampling!r} / loss_outputs {self.loss_outputs!r} need a recurrent "
                            f"predictor (convlstm); {self.model} has no teacher forcing")
        bad = [k for k, v in self.loss.items() if not isinstance(v, (int, float)) or v < 0]
        if bad or not self.loss or not any(v > 0 for v in self.loss.values() if isinstance(v, (int, float))):
            problems.append(f"loss weights must be numbers >= 0 with at least one > 0, got {self.loss}")
        return problems

    @property
    def worker_batch_size(self) -> int:
        """Samples per step on each worker."""
        return self.batch_size // self.num_workers if self.batch_scope == "global" else self.batch_size

    @property
    def global_batch_size(self) -> int:
        """Samples per optimiser step over all workers (DDP averages their gradients)."""
        return self.worker_batch_size * self.num_workers

    @property
    def scaled_lr(self) -> float:
        """The peak learning rate used: ``lr * global_batch_size / lr_base_batch`` (``lr`` without a base)."""
        return self.lr * self.global_batch_size / self.lr_base_batch if self.lr_base_batch else self.lr

    @property
    def name(self) -> str:
        """The run's name: ``run_name`` or ``{model}-{preset}``."""
        return self.run_name or f"{self.model}-{self.preset}"

    @property
    def storage_path(self) -> str:
        """Absolute storage root (local path or URI)."""
        s = self.storage or default_storage()
        return s if "://" in s else str(Path(s).expanduser().absolute())


def _teacher_forcing(model: str) -> bool:
    """Whether registered ``model``'s forward takes ground-truth frames (``future``/``feed_mask``/``all_outputs``)."""
    from vidray.models import MODELS

    return model in MODELS and getattr(MODELS[model].constructor, "teacher_forcing", False)


@dataclass(frozen=True)
class TuneConfig:
    """A Ray Tune sweep of the loss weights (and optionally the learning rate) of one model."""

    num_samples: int = bounded(8, ge=1)
    vgg_weight_min: float = bounded(1e-4, gt=0)
    vgg_weight_max: float = bounded(1e-1, gt=0)
    sweep_mse_weight: bool = False
    sweep_lr: bool = False
    metric: str = "val_openstl_mse"
    mode: str = bounded("min", choices=("min", "max"))
    grace_period: int = bounded(1, ge=1)
    max_concurrent_trials: int | None = bounded(None, ge=1)
    workers_per_trial: int = bounded(1, ge=1)
    # Tune restarts of a trial whose Train run failed for good
    max_trial_failures: int = bounded(1, ge=-1, note="(-1 = retry forever)")

    def problems(self) -> list[str]:
        """The one check across fields: the VGG-weight range is not empty."""
        if self.vgg_weight_min >= self.vgg_weight_max:
            return [f"need vgg_weight_min < vgg_weight_max, got {self.vgg_weight_min}, {self.vgg_weight_max}"]
        return []
