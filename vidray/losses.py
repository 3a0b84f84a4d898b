"""Training losses for frames/videos in [0, 1]: MSE, L1, VGG16 perceptual, and their weighted sum.

``build({"mse": 1.0, "vgg": 0.01, "l1": 0.0})`` -> :class:`WeightedLoss` (terms with weight 0
are not built, so a zero VGG weight never loads VGG). Adding a loss = one ``nn.Module`` taking
``(pred, true)`` and returning a scalar + one entry in ``LOSSES``.
"""

from __future__ import annotations

import numbers
import os
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidray.errors import VidrayError
from vidray.vgg_weights import load_vgg16_features

# index of each ReLU output in torchvision's vgg16().features
VGG_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class UnknownLossError(VidrayError, ValueError):
    """A loss name that is not in ``LOSSES``, or an invalid weight; the message lists valid names."""


class VGGPerceptualLoss(nn.Module):
    """Perceptual loss: sum over ``layers`` of ``layer_weight * mean((vgg(pred) - vgg(true))**2)``.

    ``pred``, ``true``: float ``[B, T, C, H, W]`` (time is folded into batch) or ``[B, C, H, W]``,
    values in [0, 1], C = 1 (repeated to RGB) or 3. Inputs are ImageNet-normalised and go through
    frozen ImageNet VGG16 ``features`` (see :mod:`vidray.vgg_weights` for where weights come
    from); the network follows the input's device. Returns a float32 scalar; 0 for identical inputs.
    """

    def __init__(
        self,
        layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        layer_weights: Sequence[float] | None = None,
        weights_path: str | os.PathLike | None = None,
        allow_download: bool | None = None,
        features: nn.Sequential | None = None,
    ):
        super().__init__()
        unknown = [name for name in layers if name not in VGG_LAYERS]
        if unknown or not layers:
            raise UnknownLossError(f"vgg layers {unknown or list(layers)}: choose from {', '.join(VGG_LAYERS)}")
        self.layer_index = {VGG_LAYERS[name]: name for name in layers}
        self.layer_weights = dict(zip(layers, layer_weights or [1.0] * len(layers)))
        depth = max(self.layer_index) + 1
        if features is None:
            features = load_vgg16_features(weights_path, allow_download=allow_download, num_layers=depth)
        self.features = features[:depth].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGPerceptualLoss":
        super().train(mode)
        self.features.eval()  # frozen: never in training mode
        return self

    def feature_maps(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """ImageNet-normalised ``[N, 3, H, W]`` images -> ``{layer name: [N, C_l, H_l, W_l]}``."""
        out = {}
        x = images
        for idx, module in enumerate(self.features):
            x = module(x)
            if idx in self.layer_index:
                out[self.layer_index[idx]] = x
        return out

    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, H, W]`` or ``[B, C, H, W]`` in [0, 1] -> normalised RGB ``[N, 3, H, W]``."""
        if frames.dim() == 5:
            frames = frames.reshape(-1, *frames.shape[2:])
        if frames.shape[1] == 1:
            frames = frames.expand(-1, 3, -1, -1)
        elif frames.shape[1] != 3:
            raise ValueError(f"vgg loss: expected 1 or 3 channels, got shape {tuple(frames.shape)}")
        return (frames - self.mean.to(frames.dtype)) / self.std.to(frames.dtype)

    def forward(self, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        if self.mean.device != pred.device:
            self.to(pred.device)
        n = pred.shape[0] * (pred.shape[1] if pred.dim() == 5 else 1)
        feats = self.feature_maps(torch.cat([self.prepare(pred), self.prepare(true)]))
        loss = pred.new_zeros((), dtype=torch.float32)
        for name, fmap in feats.items():
            loss = loss + self.layer_weights[name] * F.mse_loss(fmap[:n].float(), fmap[n:].float())
        return loss


LOSSES: dict[str, Callable[..., nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "vgg": VGGPerceptualLoss,
}


class WeightedLoss(nn.Module):
    """``sum(weight[name] * term[name](pred, true))``; ``forward`` returns the total (a scalar).

    The unweighted per-term values of the last call are kept (detached) in ``last_terms`` for
    logging; :meth:`compute` returns them alongside the total without storing anything.
    """

    def __init__(self, terms: Mapping[str, nn.Module], weights: Mapping[str, float]):
        super().__init__()
        self.terms = nn.ModuleDict(dict(terms))
        self.weights = {name: float(weights[name]) for name in terms}
        self.last_terms: dict[str, torch.Tensor] = {}

    def compute(self, pred: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total, {name: unweighted value})`` for ``pred``, ``true`` of the same shape."""
        values = {name: term(pred, true).float() for name, term in self.terms.items()}
        total = sum(self.weights[name] * value for name, value in values.items())
        return total, values

    def forward(self, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        total, values = self.compute(pred, true)
        self.last_terms = {name: value.detach() for name, value in values.items()}
        return total


def build(
    weights: Mapping[str, float],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    device: str | torch.device | None = None,
) -> WeightedLoss:
    """Weighted loss from ``{name: weight}`` on ``device`` (default CPU); ``options`` gives per-term
    constructor kwargs, e.g. ``build({"mse": 1, "vgg": 0.01}, {"vgg": {"layers": ["relu2_2"]}})``.
    Terms with weight 0 are skipped (their options ignored); unknown names and negative weights
    raise ``UnknownLossError``."""
    options = dict(options or {})
    problems = [f"unknown loss {name!r}" for name in weights if name not in LOSSES]
    problems += [f"loss {name!r}: weight {w!r} is not a number >= 0" for name, w in weights.items()
                 if not isinstance(w, numbers.Real) or isinstance(w, bool) or not w >= 0]
    problems += [f"options for unknown loss {name!r}" for name in options if name not in LOSSES]
    if not problems and not any(w > 0 for w in weights.values()):
        problems.append("no loss term has a positive weight")
    if problems:
        raise UnknownLossError("; ".join(problems) + f" (losses: {', '.join(LOSSES)})")
    terms = {name: LOSSES[name](**options.get(name, {})) for name, w in weights.items() if w > 0}
    loss = WeightedLoss(terms, weights)
    return loss.to(device) if device is not None else loss
