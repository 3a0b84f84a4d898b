"""A decoded frame as a person sees it: square pixels, turned upright by the display matrix, and HDR
tone-mapped to SDR bt709 — the one place the embedding job and the patch job agree on what a frame shows."""

from __future__ import annotations

import av
import cv2
import numpy as np

from vidray.io.probe import display_size


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Turn ``rgb`` [H,W,C] by ``rotation`` degrees counter-clockwise (the display matrix's angle, nearest
    quarter turn), as a player shows it."""
    k = int(round(rotation / 90)) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def square_pixels(rgb: np.ndarray, pixel_aspect: float) -> np.ndarray:
    """Stretch (or squeeze) the width of ``rgb`` [H,W,C] by ``pixel_aspect`` so that pixels are square."""
    if abs(pixel_aspect - 1.0) <= 1e-3:
        return rgb
    h, w = rgb.shape[:2]
    width, _ = display_size(w, h, pixel_aspect)
    return cv2.resize(rgb, (width, h), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_CUBIC)


def sdr_rgb(frame: av.VideoFrame, hdr: str | None) -> np.ndarray:
    """uint8 RGB [H,W,3] of ``frame`` in its coded geometry: bt709/bt2020 matrices honoured for SDR; HDR
    (``"pq"``/``"hlg"``) converted to rgb48 and tone-mapped with vidray's default HDR chain."""
    if hdr:
        from vidray.patches.tonemap import tonemap_to_bt709

        rgb16 = frame.reformat(format="rgb48le", src_colorspace="bt2020").to_ndarray()
        return tonemap_to_bt709(rgb16, hdr)
    cs = "itu709" if frame.colorspace == 1 else ("bt2020" if frame.colorspace in (9, 10) else None)
    return frame.reformat(format="rgb24", **({"src_colorspace": cs} if cs else {})).to_ndarray()


def display_rgb(frame: av.VideoFrame, hdr: str | None = None, rotation: int = 0,
                pixel_aspect: float = 1.0) -> np.ndarray:
    """uint8 RGB [H,W,3] of ``frame`` as a player shows it (SDR, square pixels, upright)."""
    return upright(square_pixels(sdr_rgb(frame, hdr), pixel_aspect), rotation)
