"""Streaming PyAV decode with frame sampling: fixed-size batches, never the whole video.

Sampling is by time (``fps``: the first frame at or after each multiple of 1/fps from the
first frame) or by count (``every_n``: frames 0, n, 2n, …); both depend only on the file.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterator

import av
import numpy as np

from vidray.errors import InputError
from vidray.io.picture import display_rgb
from vidray.io.probe import VideoInfo, open_source, open_video, probe_video


@dataclass
class FrameBatch:
    """Sampled frames of one video: ``frames`` uint8 [B,H,W,3] RGB, ``indices`` int64 [B] (decode order),
    ``times`` float64 [B] seconds."""

    frames: np.ndarray
    indices: np.ndarray
    times: np.ndarray


class FrameSampler:
    """Decides, frame by frame, whether a decoded frame is kept (``fps`` xor ``every_n``)."""

    def __init__(self, fps: float | None = None, every_n: int | None = None):
        if (fps is None) == (every_n is None):
            raise ValueError("give exactly one of fps and every_n")
        self.fps, self.every_n = fps, every_n
        self.origin: float | None = None
        self.next_k = 0

    def keep(self, index: int, time: float) -> bool:
        """True if frame ``index`` at ``time`` seconds is sampled."""
        if self.every_n is not None:
            return index % self.every_n == 0
        if self.origin is None:
            self.origin = time
        # the small epsilon absorbs pts rounding: a frame at 0.99999 s counts as 1 s
        if time - self.origin + 1e-6 >= self.next_k / self.fps:
            self.next_k = int(np.floor((time - self.origin + 1e-6) * self.fps)) + 1
            return True
        return False


def iter_frame_batches(path: str | os.PathLike, batch_size: int = 32, fps: float | None = 1.0,
                       every_n: int | None = None, info: VideoInfo | None = None) -> Iterator[FrameBatch]:
    """Decode ``path`` once, yielding sampled frames in batches of ``batch_size`` (the last may be
    smaller) as a player shows them: upright, square pixels, HDR tone-mapped to SDR (``info``: the
    probe, made here if not given). Raises :class:`InputError` for a missing, corrupt or empty file."""
    info = info or probe_video(path)
    sampler = FrameSampler(fps=fps, every_n=every_n)
    frames, indices, times = [], [], []
    emitted = 0
    source = open_source(path)  # None for a local file; a read-ahead handle for a URI
    container, stream = open_video(path, source)
    with (source or nullcontext()), container:
        stream.thread_type = "AUTO"
        step = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = frame.time if frame.time is not None else index * step
                if not sampler.keep(index, time):
                    continue
                frames.append(display_rgb(frame, info.hdr, info.rotation, info.pixel_aspect))
                indices.append(index)
                times.append(time)
                if len(frames) == batch_size:
                    yield FrameBatch(np.stack(frames), np.asarray(indices, np.int64), np.asarray(times))
                    emitted += len(frames)
                    frames, indices, times = [], [], []
        except av.error.FFmpegError as exc:
            raise InputError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})") from exc
    if frames:
        yield FrameBatch(np.stack(frames), np.asarray(indices, np.int64), np.asarray(times))
        emitted += len(frames)
    if not emitted:
        raise InputError(path, "contains no decodable frames")

