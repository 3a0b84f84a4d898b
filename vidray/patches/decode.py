"""Conversion of the frames a window needs to RGB at the work size (uint8 SDR, uint16 rgb48 for HDR).
Opening and probing live in :mod:`vidray.io.probe`, the sparse decoder in :mod:`vidray.io.segments`."""

from __future__ import annotations

import os

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidray.io.picture import upright
from vidray.io.probe import probe_video
from vidray.io.segments import SegmentDecoder
from vidray.patches.plan import work_size


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
