"""Opening a video with PyAV and probing its stream: size, rate, frame count, duration, colour tags, rotation,
pixel aspect, interlacing and, for variable frame rate, the presentation time of every frame.

The one place every stage asks "what is this file?"; failures are :class:`InputError` with the reason.
A local path is opened by path; a URI (``s3://…``) is streamed through a seekable read-ahead handle
(:class:`vidray.io.storage.ReadAheadFile`): ranged reads, never a whole download, never Ray's object store.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

import av

from vidray.errors import InputError
from vidray.io import storage

TRC_PQ, TRC_HLG = 16, 18  # AVColorTransferCharacteristic: SMPTE ST 2084, ARIB STD-B67
TRANSFER_TAGS = {"pq": (TRC_PQ, "smpte2084"), "hlg": (TRC_HLG, "arib-std-b67")}  # (color_trc, x265/ffmpeg name)
UNSPECIFIED = 2  # FFmpeg's "unspecified" colour primaries / transfer / matrix


@dataclass(frozen=True)
class VideoInfo:
    """A video stream as probed: ``width``×``height`` (coded, before ``rotation`` and ``pixel_aspect``),
    ``frames`` (header count, else duration × fps; for variable frame rate the number of timestamps),
    ``fps`` (average), ``hdr`` ("pq", "hlg" or None for SDR), codec name, ``duration`` seconds (None if
    the file does not say), the FFmpeg colour tags, ``rotation`` (degrees counter-clockwise from the
    display matrix; players show the frame turned by it), ``pixel_aspect`` (width of a pixel ÷ its
    height; players stretch by it), ``interlaced``, ``stream`` (the index of the video stream used) and
    ``timestamps`` (presentation times in seconds of every frame, in order, for variable frame rate;
    None for constant) and ``first_pts`` (the first frame's pts: frame 0, which some files put after the
    stream's start time)."""

    path: str
    width: int
    height: int
    frames: int
    fps: float
    hdr: str | None = None
    codec: str = ""
    duration: float | None = None
    color_trc: int = UNSPECIFIED
    color_primaries: int = UNSPECIFIED
    colorspace: int = UNSPECIFIED
    rotation: int = 0
    pixel_aspect: float = 1.0
    interlaced: bool = False
    stream: int = 0
    timestamps: tuple[float, ...] | None = None
    first_pts: int | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as players show it: square pixels (even width), then turned by ``rotation``."""
        return display_size(self.width, self.height, self.pixel_aspect, self.rotation)

    def timeline(self) -> "Timeline":
        """Frame index ↔ presentation time for this stream."""
        return Timeline(self.fps, self.timestamps)


def display_size(width: int, height: int, pixel_aspect: float = 1.0, rotation: int = 0) -> tuple[int, int]:
    """Coded ``width``×``height`` → the size players show: pixels made square (the width stretched or
    squeezed, kept even), then turned by ``rotation`` (90/270 swap the sides)."""
    if abs(pixel_aspect - 1.0) > 1e-3:
        width = max(2, int(round(width * pixel_aspect / 2)) * 2)
    return (height, width) if rotation % 180 == 90 else (width, height)


class Timeline:
    """Frame index (0-based, presentation order) ↔ time in seconds from the first frame: ``index × 1/fps``
    for constant frame rate, the probed ``timestamps`` for variable frame rate."""

    def __init__(self, fps: float, timestamps=None):
        self.fps = fps
        self.times = list(timestamps) if timestamps else None

    def time_of(self, index: int) -> float:
        """Seconds from the first frame at which frame ``index`` is shown."""
        if self.times is None:
            return index / self.fps
        return self.times[min(max(index, 0), len(self.times) - 1)]

    def index_at(self, seconds: float) -> int:
        """The index of the frame shown at ``seconds`` from the first (the nearest timestamp)."""
        if self.times is None:
            return int(round(seconds * self.fps))
        k = bisect.bisect_left(self.times, seconds)
        if k > 0 and (k == len(self.times) or seconds - self.times[k - 1] <= self.times[k] - seconds):
            k -= 1
        return k


def hdr_transfer(color_trc: int | None) -> str | None:
    """``"pq"`` / ``"hlg"`` for HDR transfer tags, else None (SDR)."""
    return {trc: name for name, (trc, _) in TRANSFER_TAGS.items()}.get(int(color_trc or 0))


def open_source(path: str | os.PathLike) -> storage.ReadAheadFile | None:
    """The read-ahead handle PyAV reads a URI through; None for a local path (opened by path)."""
    if storage.local_path(path) is not None:
        return None
    try:
        return storage.open_readahead(path)
    except InputError as exc:
        raise InputError(path, "video file does not exist" if exc.reason == "does not exist" else exc.reason) from exc


def open_video(path: str | os.PathLike, source: storage.ReadAheadFile | None = None):
    """Open ``path`` and return (container, first video stream); InputError with the reason if unusable.

    ``source``: a handle to read instead (from :func:`open_source`); a URI without one gets its own."""
    if source is None:
        local = storage.local_path(path)
        if local is not None and not local.is_file():
            raise InputError(path, "video file does not exist")
        source = open_source(path) if local is None else None
    try:
        # a handle: FFmpeg asks for 32 KiB per read, served from the handle's read-ahead ranges
        container = av.open(source if source is not None else str(storage.local_path(path)))
    except (av.error.FFmpegError, OSError) as exc:
        if source is not None and not isinstance(exc, av.error.FFmpegError):
            raise  # the store failed mid-read (network, throttling): not bad input, let the task be retried
        raise InputError(path, f"cannot be opened as a video ({exc.__class__.__name__}: {exc})") from exc
    stream = pick_video_stream(container)
    if stream is None:
        container.close()
        raise InputError(path, "has no video stream")
    return container, stream


IMAGE_CODECS = ("mjpeg", "png", "bmp", "gif", "webp", "tiff", "jpeg2000")
NOT_THE_PICTURE = ("attached_pic", "still_image", "timed_thumbnails")  # dispositions of cover art, thumbnails


def pick_video_stream(container):
    """The film's picture among the container's video streams: cover art and thumbnails (by disposition,
    or a picture codec beside a real video codec) are passed over; then the most pixels; then the first."""
    import av.stream

    candidates = [s for s in container.streams.video
                  if not any(int(s.disposition) & int(getattr(av.stream.Disposition, d)) for d in NOT_THE_PICTURE)]
    if not candidates:
        return None
    if any(s.codec_context.name not in IMAGE_CODECS for s in candidates):
        candidates = [s for s in candidates if s.codec_context.name not in IMAGE_CODECS]
    return max(candidates, key=lambda s: (s.codec_context.width * s.codec_context.height, -s.index))


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Probe ``path`` from its header and its first frame (the only frame decoded)."""
    source = open_source(path)
    container, stream = open_video(path, source)
    try:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise InputError(path, "has no frame rate")
        fps = float(rate)
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        frames = int(stream.frames or 0)
        if frames <= 0:
            frames = int(round((duration or 0.0) * fps))
        try:
            first = next(container.decode(stream))
        except (StopIteration, av.error.FFmpegError) as exc:
            raise InputError(path, f"contains no decodable frame ({exc.__class__.__name__}: {exc})") from exc
        codec = stream.codec_context

        def tag(name: str) -> int:  # the frame's tag, else the stream's (some muxers tag only one)
            value = getattr(first, name)
            return int(value if value not in (None, UNSPECIFIED) else (getattr(codec, name) or UNSPECIFIED))

        trc = tag("color_trc")
        sar = stream.sample_aspect_ratio or codec.sample_aspect_ratio
        timestamps = _vfr_timestamps(container, stream)
        if timestamps is not None:
            frames, fps = len(timestamps), (len(timestamps) - 1) / max(timestamps[-1], 1e-9)
        return VideoInfo(path=str(path), width=first.width, height=first.height, frames=frames, fps=fps,
                         hdr=hdr_transfer(trc), codec=codec.name, duration=duration, color_trc=trc,
                         color_primaries=tag("color_primaries"), colorspace=tag("colorspace"),
                         rotation=int(first.rotation or 0) % 360,
                         pixel_aspect=float(sar) if sar and sar > 0 else 1.0,
                         interlaced=bool(first.interlaced_frame), stream=stream.index, timestamps=timestamps,
                         first_pts=first.pts)
    finally:
        container.close()
        if source is not None:
            source.close()


def _vfr_timestamps(container, stream, tolerance: float = 0.25) -> tuple[float, ...] | None:
    """Presentation times (s, from the first frame) of every frame if the stream's frame rate varies, else None.

    From the container's index where it lists every frame (MP4/MOV, AVI); otherwise only when the
    container's rates disagree (average vs. the rate every timestamp fits), by one pass over the packets
    (no decoding). Varying = some frame interval differs from the median by more than ``tolerance``."""
    tb = stream.time_base
    entries = stream.index_entries if stream.frames else None
    if entries is not None and len(entries) == stream.frames and len(entries) > 2:
        pts = sorted(e.timestamp for e in entries)
    else:
        avg, real = stream.average_rate, stream.base_rate or stream.guessed_rate
        if not avg or not real or abs(float(avg) / float(real) - 1) < 0.01:
            return None
        container.seek(0, stream=stream)
        pts = sorted(p.pts for p in container.demux(stream) if p.size and p.pts is not None)
        container.seek(0, stream=stream)
    if len(pts) < 3 or tb is None:
        return None
    steps = [b - a for a, b in zip(pts, pts[1:])]
    median = sorted(steps)[len(steps) // 2]
    if median <= 0 or all(abs(d - median) <= tolerance * median for d in steps):
        return None
    return tuple(float((p - pts[0]) * tb) for p in pts)
