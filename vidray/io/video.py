"""MP4 read/write with PyAV, in-process (no ffmpeg subprocess, no temp frame files)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from vidray.errors import InputError
from vidray.io import storage

# file suffixes every stage treats as video when it scans a folder (lower case)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")


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
    with storage.output_file(path, ".mp4") as tmp:  # whole file / whole object
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            # one encoder thread: x264's bytes depend on its thread count, which would follow the node's cores
            stream.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
            for planes_t in zip(*planes):
                container.mux(stream.encode(_yuv_frame(planes_t)))
            container.mux(stream.encode())
    return storage.local_path(path) or path


def to_yuv420p(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 [T,H,W] gray or [T,H,W,3] RGB → planes Y [T,H,W], U and V [T,H/2,W/2] (BT.601, TV range).

    Exact integer arithmetic in numpy rather than swscale inside the encoder: swscale's SIMD and
    C paths round differently with the buffer's alignment, which made the same frames encode
    to different pixels in different worker processes.
    """
    x = frames.astype(np.int64)
    t, h, w = frames.shape[:3]
    if frames.ndim == 3:
        y = 16 + (219 * x + 127) // 255
        u = v = np.full((t, h // 2, w // 2), 128)
    else:
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        y = 16 + (65481 * r + 128553 * g + 24966 * b + 127500) // 255000
        # chroma of the 2x2 sums: the /4 is folded into the divisor, rounded half up
        rs, gs, bs = (c.reshape(t, h // 2, 2, w // 2, 2).sum(axis=(2, 4)) for c in (r, g, b))
        u = 128 + (-37797 * rs - 74203 * gs + 112000 * bs + 510000) // 1020000
        v = 128 + (112000 * rs - 93786 * gs - 18214 * bs + 510000) // 1020000
    return tuple(np.clip(c, 0, 255).astype(np.uint8) for c in (y, u, v))


def _yuv_frame(planes: tuple[np.ndarray, ...]) -> av.VideoFrame:
    """A yuv420p VideoFrame from its Y, U, V planes (rows padded to FFmpeg's line size)."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, planes):
        padded = np.zeros((plane.height, plane.line_size), np.uint8)
        padded[:, : plane.width] = data
        plane.update(padded.tobytes())
    return frame


def read_frames(path: str | os.PathLike, gray: bool = False) -> np.ndarray:
    """Decode every frame of a video (local path or URI): uint8 [T,H,W] if ``gray`` else [T,H,W,3] RGB."""
    from vidray.io.probe import open_source, open_video

    fmt = "gray" if gray else "rgb24"
    source = open_source(path)
    try:
        container, stream = open_video(path, source)
        with container:
            stream.thread_type = "AUTO"
            frames = [f.to_ndarray(format=fmt) for f in container.decode(stream)]
    except av.error.FFmpegError as exc:
        raise InputError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})") from exc
    finally:
        if source is not None:
            source.close()
    if not frames:
        raise InputError(path, "contains no decodable frames")
    return np.stack(frames)
