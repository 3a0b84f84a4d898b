"""Cut one extraction's outputs from a 7-frame window: GT, LR 5-stack, LR 7-stack (pure numpy/OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

LR_SCALE = 3


def crop_window(frames: np.ndarray, box) -> np.ndarray:
    """frames [7,H,W,3] → crops [7,h,w,3] at ``box`` = (x, y, w, h)."""
    x, y, w, h = box
    if x < 0 or y < 0 or x + w > frames.shape[2] or y + h > frames.shape[1]:
        raise ValueError(f"crop box {tuple(box)} outside the {frames.shape[2]}x{frames.shape[1]} frame")
    return frames[:, y:y + h, x:x + w]


def downscale(crop: np.ndarray) -> np.ndarray:
    """uint8 [h,w,3] → [h/3,w/3,3] by area averaging (an exact 3×3 box mean: no ringing, no aliasing)."""
    h, w = crop.shape[:2]
    return cv2.resize(crop, (w // LR_SCALE, h // LR_SCALE), interpolation=cv2.INTER_AREA)


def make_patch_set(crops: np.ndarray) -> dict[str, np.ndarray]:
    """crops uint8 [7,h,w,3] → GT [h,w,3] (centre), LR [5h/3,w/3,3] (frames −2..+2 top to bottom),
    LR_7frames [7h/3,w/3,3] (−3..+3)."""
    if crops.shape[0] != 7:
        raise ValueError(f"a window has 7 frames, got {crops.shape[0]}")
    lr = [downscale(c) for c in crops]
    return {"GT": np.ascontiguousarray(crops[3]), "LR": np.concatenate(lr[1:6], axis=0),
            "LR_7frames": np.concatenate(lr, axis=0)}
