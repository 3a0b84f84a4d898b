"""What a patch run will cost before it runs: frames to decode and core-hours from measured speeds, and the
``--dry-run`` report (counts per category and format, notes, work items) — from probing and planning only."""

from __future__ import annotations

from dataclasses import dataclass

from vidray.patches.plan import HALF

# measured decode speeds, one core, PyAV (PLATFORM.md): (frames/s, at this many pixels); other sizes scale by area
DECODE_SPEED = {"hevc": (14.0, 3840 * 2160), "h264": (226.0, 1920 * 1080)}
SLOW_CODECS = ("hevc", "av1", "vp9")  # decode like HEVC; everything else like H.264


@dataclass(frozen=True)
class SpeedModel:
    """Core-seconds per frame decoded and per window; defaults are this project's measurements
    (bench/patches.py's profile: ~0.15 core-s per window on 4K SDR, 0.25 on 1080p HDR10; tone-mapping
    roughly halves decode throughput)."""

    window_seconds: float = 0.2
    hdr_slowdown: float = 2.0
    gop_seconds: float = 1.0  # assumed keyframe interval when the file's index is not read

    def decode_fps(self, codec: str, width: int, height: int) -> float:
        """Frames per second one core decodes a ``codec`` stream of ``width``×``height``."""
        fps, pixels = DECODE_SPEED["hevc" if codec in SLOW_CODECS else "h264"]
        return fps * pixels / max(1, width * height)


def sparse_decoded(centres: list[int], gop: int) -> int:
    """Frames decoded for windows at ``centres`` (sorted) when each is decoded from its GOP's keyframe to its
    end, on a grid of ``gop``-frame GOPs (skipped non-reference frames are not credited)."""
    total, reach = 0, -1
    for c in centres:
        a, b = max(c - HALF - (c - HALF) % gop, reach + 1), c + HALF
        if b > reach:
            total += b - a + 1
            reach = b
    return total


def item_cost(centres: list[int], info, model: SpeedModel) -> tuple[int, float]:
    """(frames decoded, core-seconds) of one work item holding windows at ``centres`` of video ``info``."""
    gop = max(1, int(round(model.gop_seconds * info.fps)))
    decoded = sparse_decoded(sorted(centres), gop)
    decode_s = decoded / model.decode_fps(info.codec, info.width, info.height)
    return decoded, decode_s * (model.hdr_slowdown if info.hdr else 1.0) + len(centres) * model.window_seconds


def dry_run_report(cfg, planned: list, model: SpeedModel | None = None) -> list[str]:
    """The lines ``vidray patches CONFIG --dry-run`` prints for ``planned`` (:func:`vidray.patches.job.plan_job`,
    whose work items leave out what the output already holds)."""
    model = model or SpeedModel()
    counts: dict[str, dict[str, int]] = {}
    notes, errors, skipped = [], [], 0
    items = windows = decoded = total_frames = 0
    core_s = 0.0
    for pv in planned:
        name = pv.entry.name
        if pv.probe_error is not None:
            errors.append(f"{name}: {pv.probe_error.reason}")
            continue
        notes += [f"{name}: {n}" for n in pv.plan.notes]
        if pv.plan.error:
            errors.append(f"{name}: {pv.plan.error}")
            continue
        skipped += not pv.plan.extractions
        total_frames += pv.info.frames if pv.plan.extractions else 0
        for e in pv.plan.extractions:
            fmt = counts.setdefault(e["category"], {})
            fmt[e["format"]] = fmt.get(e["format"], 0) + 1
        for item in pv.items:
            n, s = item_cost([w["centre"] for w in item["windows"]], pv.info, model)
            items, windows, decoded, core_s = items + 1, windows + len(item["windows"]), decoded + n, core_s + s
    planned_n = sum(sum(c.values()) for c in counts.values())
    lines = [f"plan: {len(planned)} videos ({skipped} skipped, {len(errors)} failing), {planned_n} extractions"
             + (f", {planned_n - windows} already done in the output" if planned_n - windows else "")]
    for cat in sorted(counts):
        c = counts[cat]
        lines.append(f"  {cat}: {sum(c.values())} = " + ", ".join(f"{f} {n}" for f, n in sorted(c.items())))
    lines += [f"note: {n}" for n in notes + cfg.base_settings.unused_notes()]
    lines += [f"video fails: {e}" for e in errors]
    lines.append(f"work items: {items} (video, {cfg.base_settings.segment_seconds:g}s segment) holding {windows} "
                 "extractions to do")
    lines.append(f"frames to decode: ~{decoded} of {total_frames} (estimate: each window decoded from its GOP's "
                 f"keyframe, GOPs assumed {model.gop_seconds:g}s; the exact count needs each file's index)")
    lines.append(f"cost: ~{core_s / 3600:.2f} core-hours (~{core_s:.0f} core-s) at measured speeds: 4K HEVC "
                 f"{DECODE_SPEED['hevc'][0]:g} fps/core, 1080p H.264 {DECODE_SPEED['h264'][0]:g} fps/core (other "
                 f"sizes by area), HDR x{model.hdr_slowdown:g}, {model.window_seconds:g} core-s per window")
    lines.append("dry run: nothing decoded, nothing written")
    return lines
