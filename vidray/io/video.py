"""MP4 read/write with PyAV, in-process (no ffmpeg subprocess, no temp frame files)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from vidray.errors import InputError
from vidray.io.atomic import atomic_path


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: int = 10, crf: int = 17) -> Path:
    """Encode ``frames`` (uint8 [T,H,W] gray or [T,H,W,3] RGB, H and W even) as H.264 MP4.

    yuv420p so any player and torchvision/decord read it; written atomically.
    """
    frames = np.ascontiguousarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"frames must be uint8 [T,H,W] or [T,H,W,3], got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs even frame sizes, got {width}x{height}")
    planes = to_yuv420p(frames)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for image in planes:
                frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    return Path(path)


def to_yuv420p(frames: np.ndarray) -> np.ndarray:
    """uint8 [T,H,W] gray or [T,H,W,3] RGB → PyAV's yuv420p layout uint8 [T,H*3/2,W] (BT.601, TV range).

    Done in numpy rather than by swscale inside the encoder because swscale's SIMD and C
    paths round differently depending on the input buffer's alignment, which made the same
    frames encode to different pixels in different worker processes.
    """
    x = frames.astype(np.float32)
    t, h, w = frames.shape[:3]
    if frames.ndim == 3:
        y = 16.0 + x * (219.0 / 255.0)
        u = v = np.full((t, h // 2, w // 2), 128.0, np.float32)
    else:
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
        cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
        cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
        u = cb.reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
        v = cr.reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    out = np.empty((t, h * 3 // 2, w), np.uint8)
    out[:, :h] = np.clip(np.rint(y), 0, 255)
    out[:, h:h + h // 4] = np.clip(np.rint(u), 0, 255).reshape(t, h // 4, w)
    out[:, h + h // 4:] = np.clip(np.rint(v), 0, 255).reshape(t, h // 4, w)
    return out


def read_frames(path: str | os.PathLike, gray: bool = False) -> np.ndarray:
    """Decode every frame of a video: uint8 [T,H,W] if ``gray`` else [T,H,W,3] RGB."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "video file does not exist")
    fmt = "gray" if gray else "rgb24"
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(path, "has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [f.to_ndarray(format=fmt) for f in container.decode(stream)]
    except av.error.FFmpegError as exc:
        raise InputError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})") from exc
    if not frames:
        raise InputError(path, "contains no decodable frames")
    return np.stack(frames)
