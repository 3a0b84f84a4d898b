"""Sampled frames of one video, decoded sparsely with PyAV and streamed in fixed-size batches.

Sampling is by time (``fps``: the first frame at or after each multiple of 1/fps from the first
frame, by presentation time), by count (``every_n``: frames 0, n, 2n, …) or the keyframes; all depend
only on the file. Only what is sampled is decoded: from the keyframe before each sampled frame up to
it (:class:`vidray.io.segments.SegmentDecoder`), a keyframe on its own; the frames are bit-identical
to a full decode's. A file whose frame count is unknown is decoded whole, as before.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterator

import av
import numpy as np

from vidray.embed.config import SAMPLE_MODES
from vidray.errors import InputError
from vidray.io.picture import display_rgb
from vidray.io.probe import Timeline, VideoInfo, open_source, open_video, probe_video
from vidray.io.segments import SegmentDecoder, next_in


@dataclass
class FrameBatch:
    """Sampled frames of one video: ``frames`` uint8 [B,H,W,3] RGB, ``indices`` int64 [B] (presentation
    order), ``times`` float64 [B] seconds."""

    frames: np.ndarray
    indices: np.ndarray
    times: np.ndarray


@dataclass
class DecodeCount:
    """What decoding one video cost: ``frames`` out of the decoder, ``packets`` sent to it (skipped
    non-reference ones included), ``sampled`` frames kept; filled in as the batches stream out."""

    frames: int = 0
    packets: int = 0
    sampled: int = 0


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


def sampled_indices(timeline: Timeline, frames: int, fps: float | None = None,
                    every_n: int | None = None) -> list[int]:
    """The indices :class:`FrameSampler` keeps among ``frames`` frames shown at ``timeline``'s times."""
    sampler = FrameSampler(fps=fps, every_n=every_n)
    return [i for i in range(frames) if sampler.keep(i, timeline.time_of(i))]


def iter_frame_batches(path: str | os.PathLike, batch_size: int = 32, fps: float | None = 1.0,
                       every_n: int | None = None, info: VideoInfo | None = None, sample: str = "time",
                       sparse: bool = True, threads: int = 1,
                       count: DecodeCount | None = None) -> Iterator[FrameBatch]:
    """Yield the sampled frames of ``path`` in batches of ``batch_size`` (the last may be smaller) as a
    player shows them: upright, square pixels, HDR tone-mapped to SDR (``info``: the probe, made here if
    not given). ``sample``: "time" (``fps`` or ``every_n``) or "keyframes"; ``sparse=False`` decodes every
    frame (the reference path; the same frames); ``count`` collects the decode cost. Raises
    :class:`InputError` for a missing, corrupt or empty file."""
    if sample not in SAMPLE_MODES:
        raise ValueError(f"sample must be one of {', '.join(SAMPLE_MODES)}, got {sample!r}")
    info = info or probe_video(path)
    count = count if count is not None else DecodeCount()
    if sample == "keyframes":
        frames = _keyframes(path, info, threads, count) if sparse else _full(path, info, None, threads, count)
    else:
        wanted = sampled_indices(info.timeline(), info.frames, fps, every_n) if info.frames > 0 else None
        if not sparse or wanted is None or len(wanted) == info.frames:  # unknown length, or every frame: decode all
            frames = _full(path, info, FrameSampler(fps=fps, every_n=every_n), threads, count)
        else:
            frames = _sparse(path, info, wanted, threads, count)
    batch: list[tuple[int, float, np.ndarray]] = []
    for index, time, frame in frames:
        batch.append((index, time, display_rgb(frame, info.hdr, info.rotation, info.pixel_aspect)))
        count.sampled += 1
        if len(batch) == batch_size:
            yield _batch(batch)
            batch = []
    if batch:
        yield _batch(batch)
    if not count.sampled:
        raise InputError(path, "contains no decodable frames")


def _batch(rows: list[tuple[int, float, np.ndarray]]) -> FrameBatch:
    return FrameBatch(np.stack([r[2] for r in rows]), np.asarray([r[0] for r in rows], np.int64),
                      np.asarray([r[1] for r in rows], np.float64))


def _full(path, info: VideoInfo, sampler: FrameSampler | None, threads: int,
          count: DecodeCount) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """Decode every frame, keeping what ``sampler`` keeps (None: the keyframes): (index, time, frame)."""
    source = open_source(path)  # None for a local file; a read-ahead handle for a URI
    container, stream = open_video(path, source)
    with (source or nullcontext()), container:
        stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        stream.codec_context.thread_count = threads
        step = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                count.frames += 1
                count.packets += 1
                time = frame.time if frame.time is not None else index * step
                if frame.key_frame if sampler is None else sampler.keep(index, time):
                    yield index, time, frame
        except av.error.FFmpegError as exc:
            raise InputError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})") from exc


def _decoder(path, info: VideoInfo, threads: int) -> SegmentDecoder:
    return SegmentDecoder(path, info.fps, threads, timestamps=info.timestamps, first_pts=info.first_pts)


def _sparse(path, info: VideoInfo, wanted: list[int], threads: int,
            count: DecodeCount) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """Decode only the ``wanted`` frames (sorted indices) and what they depend on: (index, time, frame)."""
    dec = _decoder(path, info, threads)
    try:
        yield from _timed(dec, dec.wanted_frames(wanted[0], next_in(wanted)), path, count)
    finally:
        dec.close()


def _keyframes(path, info: VideoInfo, threads: int, count: DecodeCount) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """Decode every keyframe on its own: (index, time, frame)."""
    dec = _decoder(path, info, threads)
    try:
        yield from _timed(dec, dec.keyframes(), path, count)
    finally:
        dec.close()


def _timed(dec: SegmentDecoder, frames, path, count: DecodeCount) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """(index, time, frame) of the decoder's frames, its costs copied into ``count`` as they grow."""
    step = 1.0 / float(dec.stream.average_rate) if dec.stream.average_rate else 0.0
    tb = dec.tb  # a drained frame carries no time base: PyAV's frame.time, with the stream's
    try:
        for index, frame in frames:
            count.frames, count.packets = dec.decoded, dec.packets
            time = float(frame.pts) * tb.numerator / tb.denominator if frame.pts is not None else index * step
            yield index, time, frame
    except av.error.FFmpegError as exc:
        raise InputError(path, f"cannot be decoded ({exc.__class__.__name__}: {exc})") from exc
    count.frames, count.packets = dec.decoded, dec.packets
