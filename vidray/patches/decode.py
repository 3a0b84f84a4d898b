"""PyAV access to a source: seek + decode forward, and conversion of the frames a window needs to
RGB (uint8 SDR, uint16 rgb48 for HDR). Opening and probing live in :mod:`vidray.io.probe`."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable, Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidray.io.picture import upright
from vidray.io.probe import Timeline, open_source, open_video, probe_video
from vidray.io.storage import ReadAheadFile
from vidray.patches.plan import work_size


class SegmentDecoder:
    """Decode the frames of one open video that a caller wants, yielding (index, av.VideoFrame).

    Decoding is sparse: packets are demuxed a GOP (keyframe to keyframe) at a time and a GOP is
    decoded only if it holds a wanted frame; inside it, non-reference frames nobody wants are
    skipped (``skip_frame=NONREF``), and a long gap to the next wanted frame is crossed by seeking.
    Wanted frames come out bit-identical to a full decode: every reference frame they depend on is
    decoded, and the decoder is flushed wherever packets were left out.
    """

    def __init__(self, path: str | os.PathLike, fps: float, threads: int = 1, source: ReadAheadFile | None = None,
                 timestamps=None, first_pts: int | None = None):
        self.path = str(path)
        self.timeline = Timeline(fps, timestamps)  # index ↔ time: by presentation time for variable frame rate
        # a URI streams through a read-ahead handle (``source``; pass one to count a local file's reads too)
        self.source = source if source is not None else open_source(path)
        self.container, self.stream = open_video(path, self.source)
        self.stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        self.codec = self.stream.codec_context
        self.codec.thread_count = threads
        self.fps = fps
        self.reformatter = VideoReformatter()
        self.tb = self.stream.time_base or Fraction(1, 90000)
        # frame 0's pts: the probed first frame's (B-frame delays put it after the stream's start time)
        self.start_pts = first_pts if first_pts is not None else (self.stream.start_time or 0)
        self.position = -1  # highest frame index whose packet was read (decoded or skipped)
        self.decoded = 0  # frames the codec produced (for benchmarks and tests)
        self._last: int | None = None

    def _flush(self) -> None:
        """Reset the codec (after a seek or left-out packets); frame order restarts there."""
        self.codec.flush_buffers()
        self._last = None

    def _index(self, pts: int | None) -> int | None:
        if pts is None:
            return None
        return self.timeline.index_at(float((pts - self.start_pts) * self.tb))

    def index_of(self, frame: av.VideoFrame) -> int | None:
        """The frame's index in the video (its place in presentation order), from its pts."""
        return self._index(frame.pts)

    def frames_from(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield every frame with index >= start, in order."""
        return self.wanted_frames(start, lambda i: max(i, start))

    def _seek(self, start: int) -> Iterator[av.Packet]:
        """Packets from the keyframe at or before frame ``start`` on (backing off where a seek lands late)."""
        back = 1.0
        while True:
            target = self.timeline.time_of(start) - back
            offset = int(target / self.tb) if target > 0 else 0
            self.container.seek(self.start_pts + offset, stream=self.stream, backward=True)
            self._flush()
            packets = self.container.demux(self.stream)
            first = next((p for p in packets if p.size), None)
            idx = None if first is None else self._index(first.pts)
            if target <= 0 or idx is None or idx <= start:
                if first is not None:
                    yield first
                yield from packets
                return
            back *= 4  # landed after the wanted frame (sparse keyframes, open GOP): seek further back

    def wanted_frames(self, start: int, next_wanted: Callable[[int], int | None],
                      seek_gap: float = 4.0) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield (index, frame) for the frames from ``start`` on that the caller wants, in order.

        ``next_wanted(i)`` is the smallest wanted index >= i (None: nothing more); it is asked
        again as decoding moves on, so the caller may add windows ahead of :attr:`position`.
        A gap of more than ``seek_gap`` seconds (and two GOPs) to the next wanted frame is seeked over.
        """
        gop: list[av.Packet] = []
        gop_len = 0  # longest GOP seen, in frames
        live = False  # the codec has decoded the packets just before the current GOP
        packets = self._seek(start)
        while True:
            packet = next(packets, None)
            eof = packet is None
            if not eof and not packet.size:
                continue
            idx = None if eof else self._index(packet.pts)
            if gop and (eof or packet.is_keyframe):
                hi = None if eof else (idx - 1 if idx is not None else None)
                first = self._gop_start(gop)
                nxt = next_wanted(max(start, first if first is not None else start))
                needed = nxt is not None and (first is None or hi is None or nxt <= hi or
                                              any(p.pts is None for p in gop))
                if needed:
                    if not live:
                        self._flush()
                    live = yield from self._decode(gop, start, next_wanted, hi)
                elif live:
                    yield from self._drain(start, next_wanted)
                    live = False
                if first is not None and idx is not None:
                    gop_len = max(gop_len, idx - first)
                gop = []
                if nxt is None:
                    if live:
                        yield from self._drain(start, next_wanted)
                    return
                if not live and idx is not None and nxt - idx > max(seek_gap * self.fps, 2 * gop_len):
                    start = max(start, nxt)  # far ahead: seek instead of reading every packet
                    packets = self._seek(start)
                    continue
            if eof:
                if live:
                    yield from self._drain(start, next_wanted)
                return
            if idx is not None:
                self.position = max(self.position, idx)
            gop.append(packet)

    def _gop_start(self, gop: list[av.Packet]) -> int | None:
        known = [self._index(p.pts) for p in gop if p.pts is not None]
        return min(known) if known else None

    def _decode(self, gop, start, next_wanted, hi):
        """Decode one GOP's packets; stop (and flush) once every wanted frame up to ``hi`` is out.
        Returns whether the codec is still live (holds the GOP's end for the next one)."""
        try:
            for packet in gop:
                idx = self._index(packet.pts)
                self.codec.skip_frame = "DEFAULT" if idx is None or next_wanted(idx) == idx else "NONREF"
                yield from self._emit(self.codec.decode(packet), start, next_wanted)
                if self._last is not None:
                    nxt = next_wanted(max(start, self._last + 1))
                    if nxt is None or (hi is not None and nxt > hi):  # the rest of the GOP is not needed
                        self._flush()
                        return False
        finally:
            self.codec.skip_frame = "DEFAULT"
        return True

    def _drain(self, start, next_wanted):
        yield from self._emit(self.codec.decode(None), start, next_wanted)
        self._flush()

    def _emit(self, frames, start, next_wanted):
        for frame in frames:
            self.decoded += 1
            idx = self.index_of(frame)
            idx = self._last + 1 if idx is None and self._last is not None else idx
            if idx is None:
                continue
            self._last = idx
            if idx >= start and next_wanted(idx) == idx:
                yield idx, frame

    @property
    def bytes_read(self) -> int | None:
        """Bytes fetched from storage so far (None for a local file opened by path)."""
        return None if self.source is None else self.source.bytes_read

    def close(self) -> None:
        """Release the file."""
        self.container.close()
        if self.source is not None:
            self.source.close()


def frame_to_array(frame: av.VideoFrame, size: tuple[int, int], hdr: str | None,
                   reformatter: VideoReformatter | None = None, rotation: int = 0,
                   scale_filter: str = "lanczos") -> np.ndarray:
    """Convert one frame on one thread to the work ``size`` (as shown: upright by ``rotation``, square
    pixels; sources above 1920×1080 downscaled, by swscale's ``scale_filter``: ``lanczos`` as the seed
    generator's ``scale=…:flags=lanczos``, or ``area``): RGB uint8 [H,W,3] for SDR, full-range bt2020 rgb48
    uint16 [H,W,3] for HDR (tone-mapped later, crop only). Pass the same ``reformatter`` for every frame of a
    video to reuse swscale's context."""
    w, h = size if rotation % 180 != 90 else size[::-1]  # the coded frame's orientation
    kwargs = {"interpolation": scale_filter.upper()} if (w, h) != (frame.width, frame.height) else {}
    if hdr:
        kwargs.update(format="rgb48le", src_colorspace="bt2020")
    else:
        kwargs["format"] = "rgb24"
        cs = "itu709" if frame.colorspace == 1 else ("bt2020" if frame.colorspace in (9, 10) else None)
        if cs:
            kwargs["src_colorspace"] = cs
    rgb = (reformatter or VideoReformatter()).reformat(frame, width=w, height=h, threads=1, **kwargs).to_ndarray()
    return upright(rgb, rotation)


def decode_all_rgb(path: str | os.PathLike, threads: int = 1) -> int:
    """Decode every frame to RGB (the benchmark's baseline); returns the frame count."""
    info = probe_video(path)
    dec = SegmentDecoder(path, info.fps, threads, first_pts=info.first_pts)
    n = 0
    size = work_size(*info.display_size)
    try:
        for frame in dec.container.decode(dec.stream):
            frame_to_array(frame, size, info.hdr, dec.reformatter, info.rotation)
            n += 1
    finally:
        dec.close()
    return n
