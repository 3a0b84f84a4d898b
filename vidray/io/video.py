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
    fmt = "gray" if frames.ndim == 3 else "rgb24"
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for image in frames:
                frame = av.VideoFrame.from_ndarray(image, format=fmt)
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    return Path(path)


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
