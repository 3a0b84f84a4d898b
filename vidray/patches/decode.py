"""PyAV access to a source: probe (size, count, rate, HDR transfer), seek + decode forward, and
conversion of the frames a window needs to RGB (uint8 SDR, uint16 rgb48 for HDR)."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidray.errors import InputError
from vidray.patches.plan import VideoInfo, work_size

TRC_PQ, TRC_HLG = 16, 18  # AVColorTransferCharacteristic: SMPTE ST 2084, ARIB STD-B67
PRIMARIES_BT2020, SPACE_BT2020_NCL, SPACE_BT2020_CL = 9, 9, 10


def hdr_transfer(color_trc: int | None) -> str | None:
    """``"pq"`` / ``"hlg"`` for HDR transfer tags, else None (SDR)."""
    return {TRC_PQ: "pq", TRC_HLG: "hlg"}.get(int(color_trc or 0))


def open_video(path: str | os.PathLike):
    """Open ``path`` and return (container, first video stream); InputError with the reason if unusable."""
    if not os.path.isfile(path):
        raise InputError(path, "video file does not exist")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(path, f"cannot be opened as a video ({exc.__class__.__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(path, "has no video stream")
    return container, container.streams.video[0]


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame count, frame rate and HDR transfer of ``path`` (decodes only its first frame)."""
    container, stream = open_video(path)
    try:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise InputError(path, "has no frame rate")
        fps = float(rate)
        frames = int(stream.frames or 0)
        if frames <= 0:
            duration = (float(stream.duration * stream.time_base) if stream.duration
                        else (container.duration or 0) / 1e6)
            frames = int(round(duration * fps))
        try:
            first = next(container.decode(stream))
        except (StopIteration, av.error.FFmpegError) as exc:
            raise InputError(path, f"contains no decodable frame ({exc.__class__.__name__}: {exc})") from exc
        trc = first.color_trc if first.color_trc not in (None, 2) else stream.codec_context.color_trc
        return VideoInfo(path=str(path), width=first.width, height=first.height, frames=frames, fps=fps,
                         hdr=hdr_transfer(trc), codec=stream.codec_context.name)
    finally:
        container.close()


class SegmentDecoder:
    """Decode frames of one open video forward from a frame index, yielding (index, av.VideoFrame)."""

    def __init__(self, path: str | os.PathLike, fps: float, threads: int = 1):
        self.path = str(path)
        self.container, self.stream = open_video(path)
        self.stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        self.stream.codec_context.thread_count = threads
        self.fps = fps
        self.reformatter = VideoReformatter()
        self.tb = self.stream.time_base or Fraction(1, 90000)
        self.start_pts = self.stream.start_time or 0

    def index_of(self, frame: av.VideoFrame) -> int | None:
        """The frame's index in the video (constant frame rate assumed), from its pts."""
        if frame.pts is None:
            return None
        return int(round(float((frame.pts - self.start_pts) * self.tb) * self.fps))

    def frames_from(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield (index, frame) for frames with index >= start, seeking to the keyframe before ``start``."""
        back = 1.0
        while True:
            target = start / self.fps - back
            if target > 0:
                self.container.seek(self.start_pts + int(target / self.tb), stream=self.stream, backward=True)
            else:
                self.container.seek(self.start_pts, stream=self.stream, backward=True)
            it = self.container.decode(self.stream)
            first, previous = True, None
            for frame in it:
                idx = self.index_of(frame)
                idx = previous + 1 if idx is None and previous is not None else idx
                if idx is None:
                    continue
                if first and idx > start and target > 0:
                    break  # landed after the wanted frame: seek further back
                first, previous = False, idx
                if idx >= start:
                    yield idx, frame
            else:
                return
            back = back * 4

    def close(self) -> None:
        """Release the file."""
        self.container.close()


def frame_to_array(frame: av.VideoFrame, size: tuple[int, int], hdr: str | None,
                   reformatter: VideoReformatter | None = None) -> np.ndarray:
    """Convert (and, for sources above 1920×1080, area-downscale) one frame on one thread: RGB uint8
    [H,W,3] for SDR, full-range bt2020 rgb48 uint16 [H,W,3] for HDR (tone-mapped later, crop only).
    Pass the same ``reformatter`` for every frame of a video to reuse swscale's context."""
    w, h = size
    kwargs = {"interpolation": "AREA"} if (w, h) != (frame.width, frame.height) else {}
    if hdr:
        kwargs.update(format="rgb48le", src_colorspace="bt2020")
    else:
        kwargs["format"] = "rgb24"
        cs = "itu709" if frame.colorspace == 1 else ("bt2020" if frame.colorspace in (9, 10) else None)
        if cs:
            kwargs["src_colorspace"] = cs
    return (reformatter or VideoReformatter()).reformat(frame, width=w, height=h, threads=1, **kwargs).to_ndarray()


def decode_all_rgb(path: str | os.PathLike, threads: int = 1) -> int:
    """Decode every frame to RGB (the benchmark's baseline); returns the frame count."""
    info = probe_video(path)
    dec = SegmentDecoder(path, info.fps, threads)
    n = 0
    size = work_size(info.width, info.height)
    try:
        for frame in dec.container.decode(dec.stream):
            frame_to_array(frame, size, info.hdr, dec.reformatter)
            n += 1
    finally:
        dec.close()
    return n
