"""The deterministic plan: every extraction (video, category, format, index, centre frame, crop box)
and the (video, segment) work items, from config + seed + probed video sizes only."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from vidray.io.names import clean_name
from vidray.io.probe import VideoInfo
from vidray.patches.config import PatchesConfig, VideoEntry
from vidray.patches.formats import FORMATS
from vidray.patches.layout import patch_paths

HALF = 3  # a window is centre-3 .. centre+3
MAX_WORK_SIZE = (1920, 1080)


@dataclass
class VideoPlan:
    """A video's extractions and notes (skipped formats, reasons), or why it cannot be used."""

    name: str
    extractions: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    work_size: tuple[int, int] = (0, 0)


def work_size(width: int, height: int) -> tuple[int, int]:
    """Frame size crops are cut from: UHD and larger scaled to fit 1920×1080 keeping aspect (even sizes)."""
    mw, mh = MAX_WORK_SIZE
    if width <= mw and height <= mh:
        return width, height
    s = min(mw / width, mh / height)
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` over ``weights`` by largest remainder (ties by order); sums to ``total``."""
    names = [k for k, w in weights.items() if w > 0]
    if not names:
        return {}
    w = np.array([weights[k] for k in names], dtype=np.float64)
    exact = total * w / w.sum()
    counts = np.floor(exact).astype(int)
    order = sorted(range(len(names)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - counts.sum()]:
        counts[i] += 1
    return {names[i]: int(counts[i]) for i in range(len(names))}


def _rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng([seed] + [zlib.crc32(p.encode()) for p in parts])


def plan_video(entry: VideoEntry, info: VideoInfo, cfg: PatchesConfig) -> VideoPlan:
    """Plan one video's extractions; formats larger than the frame move to formats that fit."""
    plan = VideoPlan(entry.name)
    weights = entry.weights()
    if not weights:
        plan.notes.append("skipped: no category has a weight > 0")
        return plan
    ww, wh = plan.work_size = work_size(*info.display_size)  # crops are cut from the picture as players show it
    if info.interlaced:
        plan.error = ("is interlaced: its frames hold two fields (combing on motion) that would be poor ground "
                      "truth; deinterlace it first (e.g. ffmpeg -vf bwdif=mode=send_frame) and list that file")
        return plan
    if info.frames < 2 * HALF + 1:
        plan.error = f"has {info.frames} frames; an extraction needs 7 consecutive frames"
        return plan
    clean = clean_name(entry.name)
    seed = cfg.base_settings.seed
    if info.rotation % 360:
        plan.notes.append(f"shown turned by {info.rotation}° (display matrix): crops are cut from the upright "
                          f"{ww}x{wh} picture")
    if abs(info.pixel_aspect - 1) > 1e-3:
        plan.notes.append(f"pixels are {info.pixel_aspect:.4g}:1 (anamorphic): frames are resampled to square "
                          f"pixels, {info.width}x{info.height} → {ww}x{wh}")
    if info.timestamps is not None:
        plan.notes.append(f"variable frame rate ({info.frames} frames over {info.timestamps[-1]:.2f}s): windows "
                          "are 7 consecutive frames in presentation order")
    for cat, weight in weights.items():
        dist = cfg.distribution(cat)
        fits = {f: w for f, w in dist.items() if FORMATS[f].width <= ww and FORMATS[f].height <= wh}
        too_big = [f for f, w in dist.items() if w > 0 and f not in fits]
        if not any(w > 0 for w in fits.values()):
            smallest = min((FORMATS[f] for f in dist), key=lambda f: f.width * f.height)
            plan.error = (f"frame {ww}x{wh} is smaller than every crop format of {cat} "
                          f"(smallest {smallest.name} {smallest.width}x{smallest.height})")
            plan.extractions.clear()
            return plan
        if too_big:
            plan.notes.append(f"{cat}: formats {', '.join(too_big)} larger than the {ww}x{wh} frame skipped; "
                              f"their extractions moved to {', '.join(f for f, w in fits.items() if w > 0)}")
        total = int(round(cfg.base_settings.base_frame_limit * weight))
        counts = apportion(total, fits)
        rng = _rng(seed, clean, cat)
        fmts = [f for f, n in counts.items() for _ in range(n)]
        fmts = [fmts[i] for i in rng.permutation(len(fmts))]
        # stratified centres over the usable frames: one draw per equal slice of the film
        lo, hi = HALF, info.frames - 1 - HALF
        edges = np.linspace(lo, hi + 1, len(fmts) + 1)
        index_of = {f: 0 for f in counts}
        for k, fmt in enumerate(fmts):
            a = min(int(np.ceil(edges[k])), hi)
            b = min(max(int(np.ceil(edges[k + 1])) - 1, a), hi)
            centre = int(rng.integers(a, b + 1))
            f = FORMATS[fmt]
            x = int(rng.integers(0, ww - f.width + 1))
            y = int(rng.integers(0, wh - f.height + 1))
            n = index_of[fmt]
            index_of[fmt] += 1
            plan.extractions.append({
                "key": f"{clean}/{cat}/{fmt}/{n}", "video": entry.name, "category": cat, "format": fmt,
                "index": n, "centre": centre, "box": [x, y, f.width, f.height],
                "paths": patch_paths(cat, fmt, clean, n),
            })
    plan.extractions.sort(key=lambda e: (e["centre"], e["key"]))
    return plan


def plan_segments(plan: VideoPlan, info: VideoInfo, segment_seconds: float, done: set[str] = frozenset()) -> list[dict]:
    """(video, segment) work items holding the not-yet-done extractions whose centre lies in the segment."""
    seg_frames = max(1, int(round(segment_seconds * info.fps)))
    segments: dict[int, list[dict]] = {}
    for e in plan.extractions:
        if e["key"] not in done:
            segments.setdefault(e["centre"] // seg_frames, []).append(e)
    return [{"video": plan.name, "segment": s, "start": s * seg_frames, "end": (s + 1) * seg_frames,
             "windows": windows} for s, windows in sorted(segments.items())]
