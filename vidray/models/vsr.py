"""Sliding-window video super-resolution: a stack of LR frames -> the x3 centre frame."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidray.models.blocks import ConvAct, ResidualBlock, check_video, fold_time


def bicubic_upsample(lr: torch.Tensor, scale: int = 3) -> torch.Tensor:
    """Bicubic baseline: the centre LR frame upscaled by ``scale``, clamped to [0, 1].

    ``lr``: float ``[B, T, C, h, w]`` (the centre frame ``T // 2`` is used) or ``[B, C, h, w]``.
    Returns ``[B, C, scale*h, scale*w]``.
    """
    centre = lr[:, lr.shape[1] // 2] if lr.dim() == 5 else lr
    up = F.interpolate(centre, scale_factor=scale, mode="bicubic", align_corners=False)
    return up.clamp(0, 1)


class SlidingWindowVSR(nn.Module):
    """Small early-fusion VSR net: ``[B, num_frames, C, h, w]`` in [0, 1] -> ``[B, C, scale*h, scale*w]``.

    Each LR frame gets shared conv features, the ``num_frames`` feature maps are fused by a 1x1
    conv, ``blocks`` residual blocks refine, and a PixelShuffle head predicts the residual over
    the bicubic upsample of the centre frame (so an untrained net starts ~ at the bicubic baseline).
    Any ``h, w`` works; the data format crops GT at 3x the LR crop size.
    """

    def __init__(self, num_frames: int = 5, channels: int = 3, scale: int = 3, features: int = 64, blocks: int = 8):
        super().__init__()
        self.num_frames, self.scale = num_frames, scale
        self.frame_features = nn.Sequential(ConvAct(channels, features // 2, 3),
                                            ConvAct(features // 2, features // 2, 3))
        self.fuse = ConvAct(num_frames * (features // 2), features, 1)
        self.body = nn.Sequential(*(ResidualBlock(features, res_scale=0.2) for _ in range(blocks)))
        self.body_out = nn.Conv2d(features, features, 3, padding=1)
        self.upsample = nn.Sequential(
            nn.Conv2d(features, channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        nn.init.normal_(self.upsample[0].weight, std=1e-3)  # start ~ at the bicubic baseline, but
        nn.init.zeros_(self.upsample[0].bias)  # not exactly 0: gradients must reach the body at step 0

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        check_video(lr, "lr")
        b, t, _, height, width = lr.shape
        if t != self.num_frames:
            raise ValueError(f"lr: expected {self.num_frames} frames, got {t}")
        feats = self.frame_features(fold_time(lr)).reshape(b, -1, height, width)
        x = self.fuse(feats)
        x = x + self.body_out(self.body(x))
        return bicubic_upsample(lr, self.scale) + self.upsample(x)
