"""ViT frame predictor: 8x8 patch tokens, joint space-time transformer, linear + ConvTranspose decoder."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vidray.models.blocks import check_video, fold_time, unfold_time


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (attention + MLP) on ``[N, L, D]`` tokens, using SDPA."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(attn.transpose(1, 2).reshape(n, length, dim))
        return x + self.mlp(self.norm2(x))


class ViTPredictor(nn.Module):
    """Predict ``out_frames`` future frames from ``in_frames`` context frames with a ViT.

    Input ``x``: float ``[B, in_frames, C, image_size, image_size]`` in [0, 1].
    Output: float ``[B, horizon, C, H, W]``, unbounded (clamp for display). Each frame is cut
    into ``patch_size`` patches (64x64 / 8 -> 64 tokens), all ``T*N`` tokens attend jointly
    (``depth`` blocks), a linear map over time turns ``in_frames`` token sets into
    ``out_frames``, and a linear layer + ConvTranspose x2 stages decode each token grid to a
    frame. ``horizon > out_frames`` rolls out autoregressively on the last ``in_frames`` frames.
    """

    def __init__(
        self,
        in_frames: int = 10,
        out_frames: int = 10,
        channels: int = 1,
        image_size: int = 64,
        patch_size: int = 8,
        dim: int = 256,
        depth: int = 6,
        heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        decoder_channels: int = 64,
    ):
        super().__init__()
        if image_size % patch_size or patch_size & (patch_size - 1):
            raise ValueError(f"patch_size {patch_size} must be a power of 2 dividing image_size {image_size}")
        self.in_frames, self.out_frames = in_frames, out_frames
        self.image_size, self.patch_size = image_size, patch_size
        self.grid = image_size // patch_size
        self.embed = nn.Conv2d(channels, dim, patch_size, stride=patch_size)
        self.pos_space = nn.Parameter(torch.randn(1, 1, self.grid * self.grid, dim) * 0.02)
        self.pos_time = nn.Parameter(torch.randn(1, in_frames, 1, dim) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.time_proj = nn.Linear(in_frames, out_frames)
        self.to_pixels = nn.Linear(dim, decoder_channels)
        stages, ch = [], decoder_channels
        for _ in range(int(math.log2(patch_size))):
            stages += [nn.ConvTranspose2d(ch, max(ch // 2, 8), 2, stride=2), nn.GELU()]
            ch = max(ch // 2, 8)
        self.decoder = nn.Sequential(*stages, nn.Conv2d(ch, channels, 3, padding=1))

    def predict_block(self, x: torch.Tensor) -> torch.Tensor:
        """One pass: ``[B, in_frames, C, H, W]`` -> ``[B, out_frames, C, H, W]``."""
        b, t = x.shape[:2]
        if t != self.in_frames or x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"x: expected [B, {self.in_frames}, C, {self.image_size}, {self.image_size}], "
                             f"got {tuple(x.shape)}")
        tokens = self.embed(fold_time(x)).flatten(2).transpose(1, 2)  # [B*T, N, D]
        tokens = unfold_time(tokens, b) + self.pos_space + self.pos_time  # [B, T, N, D]
        n, dim = tokens.shape[2:]
        tokens = tokens.reshape(b, t * n, dim)
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens).reshape(b, t, n, dim)
        tokens = self.time_proj(tokens.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # [B, T_out, N, D]
        grid = self.to_pixels(tokens).transpose(2, 3)  # [B, T_out, D', N]
        grid = grid.reshape(b * self.out_frames, -1, self.grid, self.grid)
        return unfold_time(self.decoder(grid), b)

    def forward(self, x: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        check_video(x, "x")
        horizon = self.out_frames if horizon is None else horizon
        context, outputs, produced = x, [], 0
        while produced < horizon:
            block = self.predict_block(context[:, -self.in_frames:])
            outputs.append(block)
            produced += block.shape[1]
            context = torch.cat([context, block], dim=1)
        return torch.cat(outputs, dim=1)[:, :horizon]

    def predict(self, x: torch.Tensor, horizon: int) -> torch.Tensor:
        """Autoregressive rollout to ``horizon`` frames (same as ``forward(x, horizon)``)."""
        return self(x, horizon)
