"""Batched torch preprocessing matches open_clip's own PIL transform."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from vidray.embed.preprocess import Preprocess, normalize, resize_center_crop


@pytest.mark.parametrize("shape,size,interp", [((48, 80), 64, "bicubic"), ((240, 320), 224, "bicubic"),
                                               ((130, 90), 64, "bilinear"), ((33, 47), 64, "bicubic")])
def test_matches_open_clip_pil_transform(shape, size, interp):
    rng = np.random.default_rng(0)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (h + w)], -1)
    frames = np.stack([np.clip(smooth + rng.integers(-20, 20, (h, w, 3)), 0, 255) for _ in range(3)]).astype(np.uint8)
    pre = Preprocess.from_open_clip({"size": size, "interpolation": interp, "mean": (0.5, 0.4, 0.3),
                                     "std": (0.2, 0.3, 0.25)})
    ours = normalize(torch.from_numpy(resize_center_crop(frames, pre)), pre)
    transform = open_clip.image_transform(size, is_train=False, mean=pre.mean, std=pre.std, interpolation=interp)
    ref = torch.stack([transform(Image.fromarray(f)) for f in frames])
    assert ours.shape == ref.shape == (3, 3, size, size)
    # both round to uint8 after resizing: differences are at most a grey level here and there
    diff = (ours - ref) * torch.tensor(pre.std).view(1, 3, 1, 1) * 255
    assert diff.abs().max() <= 1.01 and diff.abs().mean() < 0.1


def test_squash_and_non_square_sizes():
    frames = np.zeros((2, 50, 100, 3), np.uint8)
    frames[:, :, 50:] = 255
    squash = resize_center_crop(frames, Preprocess(size=(32, 32), resize_mode="squash"))
    assert squash.shape == (2, 32, 32, 3) and squash[0, 0, 0, 0] == 0 and squash[0, 0, -1, 0] == 255
    rect = resize_center_crop(frames, Preprocess(size=(20, 40)))
    assert rect.shape == (2, 20, 40, 3)
    with pytest.raises(ValueError, match="longest"):
        resize_center_crop(frames, Preprocess(resize_mode="longest"))
