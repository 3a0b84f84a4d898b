"""Render sprites onto blank canvases along trajectories, vectorised over videos and frames."""

from __future__ import annotations

import numpy as np


def render_videos(sprites: np.ndarray, positions: np.ndarray, canvas_size: int) -> np.ndarray:
    """Paste sprites at per-frame positions, combining overlaps with ``np.maximum``.

    sprites: uint8 [B, D, s, s] (D sprites per video); positions: int [B, D, T, 2] top-left
    (y, x) with 0 <= p <= canvas_size - s. Returns uint8 [B, T, canvas_size, canvas_size].
    """
    sprites = np.asarray(sprites, dtype=np.uint8)
    positions = np.asarray(positions, dtype=np.intp)
    batch, num_sprites, size = sprites.shape[:3]
    num_frames = positions.shape[2]
    if positions.shape != (batch, num_sprites, num_frames, 2):
        raise ValueError(f"positions {positions.shape} do not match sprites {sprites.shape}")
    if positions.min(initial=0) < 0 or positions.max(initial=0) > canvas_size - size:
        raise ValueError("a sprite position falls outside the canvas")
    out = np.zeros((batch, num_frames, canvas_size, canvas_size), dtype=np.uint8)
    # A writeable view of every size×size window: windows[b, t, y, x] is out[b, t, y:y+s, x:x+s].
    # Indexing it with one (b, t, y, x) per frame moves whole sprite blocks at memcpy speed.
    sb, st, sy, sx = out.strides
    span = canvas_size - size + 1
    windows = np.lib.stride_tricks.as_strided(
        out, shape=(batch, num_frames, span, span, size, size), strides=(sb, st, sy, sx, sy, sx))
    b = np.repeat(np.arange(batch), num_frames)
    t = np.tile(np.arange(num_frames), batch)
    for d in range(num_sprites):
        y = positions[:, d, :, 0].reshape(-1)
        x = positions[:, d, :, 1].reshape(-1)
        sprite = np.repeat(sprites[:, d], num_frames, axis=0)  # [B*T, s, s]
        # one sprite per frame of a video, so the windows written by one assignment never overlap
        windows[b, t, y, x] = sprite if d == 0 else np.maximum(windows[b, t, y, x], sprite)
    return out


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """Gray uint8 [..., H, W] → RGB uint8 [..., H, W, 3] (a broadcast copy)."""
    return np.repeat(frames[..., None], 3, axis=-1)
