"""Keyframe coding: a light conv autoencoder for keyframes and a flow-based frame interpolator.

Together they rebuild a video from every ``interval``-th frame (:func:`reconstruct_from_keyframes`):
keyframes go through the autoencoder, the frames between two keyframes are interpolated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidray.models.blocks import ConvAct, check_video, fold_time, unfold_time


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` by ``flow``: ``out[:, :, y, x] = image[:, :, y + fy, x + fx]`` (bilinear).

    ``image``: float ``[B, C, H, W]``; ``flow``: float ``[B, 2, H, W]`` in pixels, channel 0 = x
    (columns), channel 1 = y (rows). Samples outside the image take the nearest border value.
    A constant flow of ``(-s, 0)`` therefore moves the content ``s`` pixels to the right.
    """
    _, _, height, width = image.shape
    ys = torch.arange(height, device=flow.device, dtype=flow.dtype).view(1, height, 1)
    xs = torch.arange(width, device=flow.device, dtype=flow.dtype).view(1, 1, width)
    gx = (xs + flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def intermediate_flows(flow_01: torch.Tensor, flow_10: torch.Tensor,
                       t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flows from time ``t`` back to frames 0 and 1, assuming linear motion (Super SloMo, eq. 4).

    ``flow_01``, ``flow_10``: ``[B, 2, H, W]``; ``t``: ``[B, 1, 1, 1]`` in (0, 1).
    Returns ``(flow_t0, flow_t1)``, each ``[B, 2, H, W]``, for use with :func:`warp`.
    """
    flow_t0 = -(1 - t) * t * flow_01 + t * t * flow_10
    flow_t1 = (1 - t) * (1 - t) * flow_01 - t * (1 - t) * flow_10
    return flow_t0, flow_t1


class KeyframeAutoencoder(nn.Module):
    """Conv autoencoder for keyframes: ``[N, C, H, W]`` (or ``[B, T, C, H, W]``) in [0, 1] -> same shape.

    ``encode`` gives a latent ``[N, latent_channels, H / 2**len(features), W / 2**len(features)]``.
    The decoder output is linear (unbounded, trained towards [0, 1]; clamp for display): a final
    sigmoid saturates on the mostly-black MNIST frames and stalls training. H, W must be
    divisible by ``2**len(features)``.
    """

    def __init__(self, channels: int = 1, features: tuple[int, ...] = (16, 32), latent_channels: int = 8):
        super().__init__()
        enc, prev = [], channels
        for ch in features:
            enc += [ConvAct(prev, ch, 3), ConvAct(ch, ch, 3, stride=2)]
            prev = ch
        self.encoder = nn.Sequential(*enc, nn.Conv2d(prev, latent_channels, 1))
        dec, prev = [ConvAct(latent_channels, features[-1], 3)], features[-1]
        for ch in reversed(features):
            dec += [nn.ConvTranspose2d(prev, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.1, inplace=True),
                    ConvAct(ch, ch, 3)]
            prev = ch
        self.decoder = nn.Sequential(*dec, nn.Conv2d(prev, channels, 3, padding=1))

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` -> latent ``[N, latent_channels, h, w]``."""
        return self.encoder(frames)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent ``[N, latent_channels, h, w]`` -> frames ``[N, C, H, W]`` (unbounded, ~[0, 1])."""
        return self.decoder(latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5:
            return unfold_time(self.decode(self.encode(fold_time(x))), x.shape[0])
        return self.decode(self.encode(x))


class FlowUNet(nn.Module):
    """Small U-Net: ``[B, in_ch, H, W]`` -> ``[B, out_ch, H, W]``; last conv initialised tiny (output ~0,
    gradients still reach every layer)."""

    def __init__(self, in_ch: int, out_ch: int, features: tuple[int, ...]):
        super().__init__()
        self.down = nn.ModuleList()
        prev = in_ch
        for level, ch in enumerate(features):
            stride = 1 if level == 0 else 2
            self.down.append(nn.Sequential(ConvAct(prev, ch, 3, stride=stride), ConvAct(ch, ch, 3)))
            prev = ch
        self.up = nn.ModuleList(
            nn.Sequential(ConvAct(features[i + 1] + features[i], features[i], 3), ConvAct(features[i], features[i], 3))
            for i in reversed(range(len(features) - 1))
        )
        self.out = nn.Conv2d(features[0], out_ch, 3, padding=1)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        skips.pop()
        for stage in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = stage(torch.cat([x, skip], dim=1))
        return self.out(x)


class FlowInterpolator(nn.Module):
    """Interpolate the frame at time ``t`` between two frames via bidirectional flow + warping + fusion.

    ``frame0``, ``frame1``: float ``[B, C, H, W]`` in [0, 1]; ``t``: float or ``[B]`` in (0, 1).
    Output: ``[B, C, H, W]`` (unbounded, clamp for display). A U-Net estimates flows 0->1 and
    1->0 (in pixels, scaled by ``flow_scale``), these are turned into flows from ``t`` (linear
    motion), both frames are warped to ``t`` with :func:`warp`, and a second small net predicts a
    fusion mask and a residual. At initialisation the output is ~ the (1 - t, t) blend of the two frames.
    H, W must be divisible by ``2**(len(flow_features) - 1)``.
    """

    def __init__(
        self,
        channels: int = 1,
        flow_features: tuple[int, ...] = (16, 32, 64),
        refine_features: tuple[int, ...] = (16, 32),
        flow_scale: float = 4.0,
    ):
        super().__init__()
        self.flow_scale = flow_scale
        self.flow_net = FlowUNet(2 * channels, 4, flow_features)
        # refine input: frame0, frame1, warped0, warped1, flow_t0, flow_t1, t
        self.refine_net = FlowUNet(4 * channels + 5, channels + 1, refine_features)

    def estimate_flow(self, frame0: torch.Tensor, frame1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bidirectional flow in pixels: ``(flow_01, flow_10)``, each ``[B, 2, H, W]``."""
        flows = self.flow_net(torch.cat([frame0, frame1], dim=1)) * self.flow_scale
        return flows[:, :2], flows[:, 2:]

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, t: float | torch.Tensor = 0.5) -> torch.Tensor:
        b, c, height, width = frame0.shape
        t = torch.as_tensor(t, dtype=frame0.dtype, device=frame0.device).reshape(-1, 1, 1, 1).expand(b, 1, 1, 1)
        flow_01, flow_10 = self.estimate_flow(frame0, frame1)
        flow_t0, flow_t1 = intermediate_flows(flow_01, flow_10, t)
        warped0, warped1 = warp(frame0, flow_t0), warp(frame1, flow_t1)
        t_map = t.expand(b, 1, height, width)
        refine = self.refine_net(torch.cat([frame0, frame1, warped0, warped1, flow_t0, flow_t1, t_map], dim=1))
        # prior weight (1 - t) for frame 0, moved by the learnt logit; residual corrects occlusions
        mask = torch.sigmoid(refine[:, :1] + torch.logit((1 - t_map).clamp(0.01, 0.99)))
        return mask * warped0 + (1 - mask) * warped1 + refine[:, 1:]


def keyframe_indices(num_frames: int, interval: int) -> list[int]:
    """Indices of the keyframes: every ``interval``-th frame, plus the last frame so the tail is covered."""
    if interval < 1 or num_frames < 1:
        raise ValueError(f"need interval >= 1 and num_frames >= 1, got {interval}, {num_frames}")
    idx = list(range(0, num_frames, interval))
    if idx[-1] != num_frames - 1:
        idx.append(num_frames - 1)
    return idx


def reconstruct_from_keyframes(
    video: torch.Tensor,
    interval: int,
    interpolator: FlowInterpolator,
    autoencoder: KeyframeAutoencoder | None = None,
) -> torch.Tensor:
    """Rebuild every frame of ``video`` from its keyframes (see :func:`keyframe_indices`).

    ``video``: float ``[B, T, C, H, W]`` in [0, 1] -> ``[B, T, C, H, W]`` clamped to [0, 1].
    Keyframes pass through ``autoencoder`` (if given; else kept exact); all in-between frames
    are interpolated in one batched ``interpolator`` call.
    """
    check_video(video, "video")
    b, num_frames = video.shape[:2]
    idx = keyframe_indices(num_frames, interval)
    keys = video[:, idx]
    if autoencoder is not None:
        keys = autoencoder(keys)
    slots: list[torch.Tensor | None] = [None] * num_frames
    for k, frame_idx in enumerate(idx):
        slots[frame_idx] = keys[:, k]
    starts, ends, times, targets = [], [], [], []
    for k in range(len(idx) - 1):
        a, z = idx[k], idx[k + 1]
        for j in range(a + 1, z):
            starts.append(keys[:, k])
            ends.append(keys[:, k + 1])
            times.append(torch.full((b,), (j - a) / (z - a), dtype=video.dtype, device=video.device))
            targets.append(j)
    if targets:
        mids = interpolator(torch.cat(starts), torch.cat(ends), torch.cat(times))
        for n, j in enumerate(targets):
            slots[j] = mids[n * b:(n + 1) * b]
    return torch.stack(slots, dim=1).clamp(0, 1)
