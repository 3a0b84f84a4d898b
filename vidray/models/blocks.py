"""Small building blocks shared by the video models: time folding, conv + activation, residual blocks."""

from __future__ import annotations

import torch
from torch import nn


def fold_time(video: torch.Tensor) -> torch.Tensor:
    """Merge time into batch: ``[B, T, C, H, W]`` -> ``[B*T, C, H, W]`` (a view when possible)."""
    return video.reshape(video.shape[0] * video.shape[1], *video.shape[2:])


def unfold_time(frames: torch.Tensor, batch: int) -> torch.Tensor:
    """Inverse of :func:`fold_time`: ``[B*T, C, H, W]`` -> ``[B, T, C, H, W]``."""
    return frames.reshape(batch, frames.shape[0] // batch, *frames.shape[1:])


def check_video(video: torch.Tensor, name: str = "video") -> None:
    """Raise ``ValueError`` unless ``video`` is a 5-D ``[B, T, C, H, W]`` tensor."""
    if video.dim() != 5:
        raise ValueError(f"{name}: expected [B, T, C, H, W], got shape {tuple(video.shape)}")


class ConvAct(nn.Sequential):
    """``Conv2d`` (same padding for odd kernels) followed by LeakyReLU(0.1)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2),
            nn.LeakyReLU(0.1, inplace=True),
        )


class ResidualBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 plus identity (EDSR style, no normalisation): ``[N,C,H,W]`` -> same."""

    def __init__(self, channels: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)
