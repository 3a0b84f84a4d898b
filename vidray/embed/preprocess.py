"""open_clip's eval preprocessing, batched in torch: resize + center crop on uint8, then normalise.

Same steps as ``open_clip.image_transform(is_train=False)`` (PIL Resize → CenterCrop → ToTensor →
Normalize) but on a whole [B,H,W,3] batch at once with torchvision's tensor kernels (antialiased,
so it matches PIL within a grey level). The uint8 step runs in the CPU decode tasks, so only
model-sized frames travel to the model actors; normalisation runs on the model's device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
RESIZE_MODES = ("shortest", "squash")


@dataclass(frozen=True)
class Preprocess:
    """The preprocessing constants of one open_clip model (its ``preprocess_cfg``)."""

    size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    @classmethod
    def from_open_clip(cls, cfg: dict) -> "Preprocess":
        """From an open_clip preprocess dict (``size`` int or pair, ``mean``, ``std``, …)."""
        size = cfg.get("size", 224)
        size = (int(size), int(size)) if isinstance(size, (int, float)) else tuple(int(s) for s in size)
        mean, std = cfg.get("mean") or OPENAI_MEAN, cfg.get("std") or OPENAI_STD
        mean = tuple(float(m) for m in (mean if isinstance(mean, (list, tuple)) else (mean,) * 3))
        std = tuple(float(s) for s in (std if isinstance(std, (list, tuple)) else (std,) * 3))
        interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
        return cls(size, mean, std, interpolation, cfg.get("resize_mode") or "shortest")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def resize_center_crop(frames: np.ndarray, pre: Preprocess) -> np.ndarray:
    """uint8 [B,H,W,3] → uint8 [B,S_h,S_w,3]: shortest side to the model size, center crop
    (``resize_mode='squash'``: straight to the size)."""
    if pre.resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode {pre.resize_mode!r} is not supported (supported: {RESIZE_MODES})")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    mode = InterpolationMode.BILINEAR if pre.interpolation == "bilinear" else InterpolationMode.BICUBIC
    out_h, out_w = pre.size
    if pre.resize_mode == "squash":
        x = TF.resize(x, [out_h, out_w], interpolation=mode, antialias=True)
    else:
        h, w = x.shape[-2:]
        if out_h == out_w:
            # torchvision's own shortest-edge rule, as open_clip's Resize(int) uses it
            x = TF.resize(x, [out_h], interpolation=mode, antialias=True)
        else:
            scale = max(out_h / h, out_w / w)
            x = TF.resize(x, [round(h * scale), round(w * scale)], interpolation=mode, antialias=True)
        x = TF.center_crop(x, [out_h, out_w])
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def normalize(images: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """uint8 [B,H,W,3] (any device) → float32 [B,3,H,W]: /255, minus mean, over std."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(pre.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)
