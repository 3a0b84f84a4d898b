"""Sparse, GOP-aware decoding of the frames a caller wants from one video, bit-identical to a full decode:
the one decoder the patch job (7-frame windows) and the embedding job (sampled frames, keyframes) share."""

from __future__ import annotations

import bisect
import os
from fractions import Fraction
from typing import Callable, Iterator, Sequence

import av
from av.video.reformatter import VideoReformatter

from vidray.io.probe import Timeline, open_source, open_video
from vidray.io.storage import ReadAheadFile


def next_in(wanted: Sequence[int]) -> Callable[[int], int | None]:
    """``next_wanted`` for :meth:`SegmentDecoder.wanted_frames` over sorted indices: the smallest >= i, else None."""
    def next_wanted(i: int) -> int | None:
        k = bisect.bisect_left(wanted, i)
        return wanted[k] if k < len(wanted) else None

    return next_wanted


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
        self.packets = 0  # packets sent to the codec, skipped non-reference ones included (an upper bound of work)
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
            self._seek_to(self.start_pts + int(target / self.tb))
            self._flush()
            packets = self.container.demux(self.stream)
            first = next((p for p in packets if p.size), None)
            idx = None if first is None else self._index(first.pts)
            if target < 0 or idx is None or idx <= start:
                if first is not None:
                    yield first
                yield from packets
                return
            back *= 4  # landed after the wanted frame (sparse keyframes, open GOP): seek further back

    def _seek_to(self, pts: int) -> None:
        """Seek to the keyframe at or before ``pts``. A pts before the first frame's starts at the first packet
        (asked for the first frame's own pts, MPEG-TS, which seeks by dts, lands a packet late); AVI refuses
        one, and gets the first frame's."""
        try:
            self.container.seek(pts, stream=self.stream, backward=True)
        except av.error.FFmpegError:
            if pts >= self.start_pts:
                raise
            self.container.seek(self.start_pts, stream=self.stream, backward=True)

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

    def keyframes(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield (index, frame) for every keyframe, in order, each decoded on its own (its packet, then a
        drain): an intra picture references nothing, so it comes out as a full decode shows it."""
        for packet in self._seek(0):
            if not packet.size or not packet.is_keyframe:
                continue
            self._flush()
            self.packets += 1
            frames = [*self.codec.decode(packet), *self.codec.decode(None)]
            self._flush()
            for frame in frames:
                self.decoded += 1
                idx = self.index_of(frame)
                idx = self._index(packet.pts) if idx is None else idx
                if idx is not None:  # no timestamp anywhere: no place in the video to give it
                    yield idx, frame

    def _gop_start(self, gop: list[av.Packet]) -> int | None:
        known = [self._index(p.pts) for p in gop if p.pts is not None]
        return min(known) if known else None

    def _decode(self, gop, start, next_wanted, hi):
        """Decode one GOP's packets; stop (and flush) once every wanted frame up to ``hi`` is out: drained as
        soon as the packets of all of them are in (a frame's references precede it in decode order), so
        the codec's reorder delay costs no extra pictures. Returns whether the codec is still live (holds
        the GOP's end for the next one)."""
        idxs = [self._index(p.pts) for p in gop]
        last_needed = self._last_needed(idxs, start, next_wanted, hi)
        try:
            for k, (packet, idx) in enumerate(zip(gop, idxs)):
                self.codec.skip_frame = "DEFAULT" if idx is None or next_wanted(idx) == idx else "NONREF"
                self.packets += 1
                yield from self._emit(self.codec.decode(packet), start, next_wanted)
                if k == last_needed:
                    yield from self._drain(start, next_wanted)
                    return False
                if self._last is not None:
                    nxt = next_wanted(max(start, self._last + 1))
                    if nxt is None or (hi is not None and nxt > hi):  # the rest of the GOP is not needed
                        self._flush()
                        return False
        finally:
            self.codec.skip_frame = "DEFAULT"
        return True

    @staticmethod
    def _last_needed(idxs: list[int | None], start: int, next_wanted, hi: int | None) -> int | None:
        """Where, in a GOP's packets (their frame indices ``idxs``, decode order), the last wanted frame up to
        ``hi`` is; None unless every such frame is in this GOP (an open GOP's next keyframe may carry some)."""
        if not idxs or any(i is None for i in idxs):
            return None
        where = {i: k for k, i in enumerate(idxs)}
        last = None
        w = next_wanted(max(start, min(idxs)))
        while w is not None and (hi is None or w <= hi):
            if w not in where:
                return None
            last = where[w] if last is None else max(last, where[w])
            w = next_wanted(w + 1)
        return last

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
