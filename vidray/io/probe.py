"""Opening a video with PyAV and probing its stream: size, rate, frame count, duration, colour tags, rotation.

The one place every stage asks "what is this file?"; failures are :class:`InputError` with the reason.
A local path is opened by path; a URI (``s3://…``) is streamed through a seekable read-ahead handle
(:class:`vidray.io.storage.ReadAheadFile`): ranged reads, never a whole download, never Ray's object store.
"""

from __future__ import annotations

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
    """A video stream as probed: ``width``×``height`` (coded, before ``rotation``), ``frames`` (header
    count, else duration × fps), ``fps``, ``hdr`` ("pq", "hlg" or None for SDR), codec name,
    ``duration`` seconds (None if the file does not say), the FFmpeg colour tags, and ``rotation``
    (degrees counter-clockwise from the display matrix; players show the frame turned by it)."""

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
    if not container.streams.video:
        container.close()
        raise InputError(path, "has no video stream")
    return container, container.streams.video[0]


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
        return VideoInfo(path=str(path), width=first.width, height=first.height, frames=frames, fps=fps,
                         hdr=hdr_transfer(trc), codec=codec.name, duration=duration, color_trc=trc,
                         color_primaries=tag("color_primaries"), colorspace=tag("colorspace"),
                         rotation=int(first.rotation or 0))
    finally:
        container.close()
        if source is not None:
            source.close()
