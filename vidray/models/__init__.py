"""Model registry: name -> constructor + presets. ``build("convlstm", preset="tiny")``.

Adding a model = one ``nn.Module`` class (in its own file, docstring with shapes) + one entry in
``MODELS``. Presets: ``tiny`` for smoke runs and tests, ``small`` for short CPU benchmarks,
``base`` = the constructor defaults (the sizes described in each class docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn

from vidray.errors import VidrayError
from vidray.models.convlstm import ConvLSTM
from vidray.models.keyframe import FlowInterpolator, KeyframeAutoencoder, reconstruct_from_keyframes, warp
from vidray.models.vit_predictor import ViTPredictor
from vidray.models.vsr import SlidingWindowVSR, bicubic_upsample

__all__ = [
    "MODELS", "ModelSpec", "UnknownModelError", "build", "names", "presets", "param_count",
    "ConvLSTM", "ViTPredictor", "KeyframeAutoencoder", "FlowInterpolator", "SlidingWindowVSR",
    "warp", "reconstruct_from_keyframes", "bicubic_upsample",
]


class UnknownModelError(VidrayError, ValueError):
    """A model name or preset that is not in the registry; the message lists the valid ones."""


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model: its constructor and named keyword-argument presets."""

    constructor: Callable[..., nn.Module]
    summary: str
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "convlstm": ModelSpec(
        ConvLSTM, "ConvLSTM 10->10 frames, 64x64x1, patch 4 (OpenSTL ConvLSTM-S layout)",
        {"tiny": dict(hidden=(8, 8), kernel=3), "small": dict(hidden=(64, 64), kernel=3), "base": {}},
    ),
    "vit_predictor": ModelSpec(
        ViTPredictor, "ViT 10->10 frames, 8x8 patches, joint space-time attention, autoregressive rollout",
        {"tiny": dict(dim=32, depth=2, heads=2, decoder_channels=16),
         "small": dict(dim=128, depth=4, heads=4, decoder_channels=64), "base": {}},
    ),
    "keyframe_ae": ModelSpec(
        KeyframeAutoencoder, "conv autoencoder for keyframes, [N,C,H,W] -> same, latent at 1/4 size",
        {"tiny": dict(features=(8, 8), latent_channels=4), "small": dict(features=(8, 16), latent_channels=4),
         "base": {}},
    ),
    "interpolator": ModelSpec(
        FlowInterpolator, "bidirectional flow + grid_sample warp + fusion net, (frame0, frame1, t) -> frame_t",
        {"tiny": dict(flow_features=(8, 16), refine_features=(8,)),
         "small": dict(flow_features=(8, 16, 32), refine_features=(8, 16)), "base": {}},
    ),
    "vsr": ModelSpec(
        SlidingWindowVSR, "sliding-window x3 VSR, [B,5,3,h,w] -> [B,3,3h,3w], residual over bicubic",
        {"tiny": dict(features=16, blocks=2), "small": dict(features=32, blocks=4), "base": {}},
    ),
}


def names() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UnknownModelError(f"model {name!r}: unknown; registered: {', '.join(names())}")
    return MODELS[name]


def presets(name: str) -> dict[str, dict[str, Any]]:
    """Presets of model ``name``: preset name -> constructor keyword arguments (``base`` = defaults)."""
    return {preset: dict(kwargs) for preset, kwargs in _spec(name).presets.items()}


def build(name: str, preset: str = "base", **overrides: Any) -> nn.Module:
    """Build model ``name`` with the ``preset`` keyword arguments, updated by ``overrides``."""
    spec = _spec(name)
    if preset not in spec.presets:
        raise UnknownModelError(f"model {name!r}: unknown preset {preset!r}; presets: {', '.join(spec.presets)}")
    return spec.constructor(**{**spec.presets[preset], **overrides})


def param_count(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
