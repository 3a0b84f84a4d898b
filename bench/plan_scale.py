"""Simulated 530-film patch job: the real planner and segmenter on synthetic metadata (no video files),
to show the plan's balance across tasks, per-task memory bounds, and a runtime estimate from a
measured per-core decode speed.

    python bench/plan_scale.py [--films 530] [--frame-limit 3000] [--decode-fps-per-core 14] [--window-seconds 0.2]

The decoder decodes only GOPs that hold a window, from the GOP's keyframe to the window's end (the
frames it decodes are counted exactly from the plan on a GOP grid; skipped non-reference frames are
not credited). Defaults are measurements: PyAV 4K HEVC Main10 ~14 fps per core (PLATFORM.md) and
the per-window cost (UHD→1080p area scale of 7 frames, crops, 3 PNGs) from profiling
bench/patches.py's 4K clip. Pass your own.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from vidray.patches.config import BaseSettings, PatchesConfig, VideoEntry
from vidray.patches.estimate import sparse_decoded  # the model `vidray patches --dry-run` uses too
from vidray.patches.plan import HALF, VideoInfo, plan_segments, plan_video


def synthetic_films(n: int, seed: int = 0) -> list[tuple[VideoEntry, VideoInfo]]:
    """Films of 80-150 min at 23.976/24/25 fps, UHD (16:9 and scope) and some 1080p, 30% HDR."""
    rng = np.random.default_rng(seed)
    cats = [{"general": 1.0}, {"general": 0.5, "space": 0.5}, {"toon": 1.0}, {"general": 0.7, "toon": 0.3}]
    sizes = [(3840, 2160), (3840, 1600), (1920, 1080)]
    films = []
    for k in range(n):
        fps = float(rng.choice([23.976, 24.0, 25.0]))
        frames = int(rng.uniform(80, 150) * 60 * fps)
        w, h = sizes[int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
        hdr = "pq" if rng.random() < 0.3 else None
        films.append((VideoEntry(f"film_{k:03d}", f"/mnt/shared/films/film_{k:03d}.mkv", cats[k % len(cats)]),
                      VideoInfo(f"/mnt/shared/films/film_{k:03d}.mkv", w, h, frames, fps, hdr, "hevc")))
    return films


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--films", type=int, default=530)
    p.add_argument("--frame-limit", type=int, default=3000)
    p.add_argument("--segment-seconds", type=float, default=30.0)
    p.add_argument("--decode-fps-per-core", type=float, default=14.0, help="4K HEVC frames/s one core decodes")
    p.add_argument("--window-seconds", type=float, default=0.2,
                   help="core-s per window besides decoding (measured 0.15 4K SDR, 0.25 1080p HDR10)")
    p.add_argument("--gop-seconds", type=float, default=1.0, help="keyframe interval of the films")
    p.add_argument("--hdr-slowdown", type=float, default=2.0, help="tone-mapping roughly halves throughput")
    p.add_argument("--nodes", type=int, nargs="+", default=[10, 40])
    p.add_argument("--cores-per-node", type=int, default=16)
    p.add_argument("--node-price", type=float, default=0.68, help="$/h of one CPU node (c6i.4xlarge on-demand)")
    args = p.parse_args()

    films = synthetic_films(args.films)
    cfg = PatchesConfig(BaseSettings(base_frame_limit=args.frame_limit, segment_seconds=args.segment_seconds),
                        tuple(e for e, _ in films))
    start = time.perf_counter()
    tasks, extractions, video_hours, seed_decoded = [], 0, 0.0, 0
    for entry, info in films:
        plan = plan_video(entry, info, cfg)
        extractions += len(plan.extractions)
        video_hours += info.frames / info.fps / 3600
        for item in plan_segments(plan, info, args.segment_seconds):
            gop = max(1, int(round(args.gop_seconds * info.fps)))
            decoded = sparse_decoded(sorted(w["centre"] for w in item["windows"]), gop)
            seed_decoded += sum((w["centre"] - HALF) % gop + 2 * HALF + 1 for w in item["windows"])
            cost = decoded / args.decode_fps_per_core * (args.hdr_slowdown if info.hdr else 1.0) \
                + len(item["windows"]) * args.window_seconds
            tasks.append({"windows": len(item["windows"]), "decoded": decoded, "cost": cost,
                          "work": plan.work_size, "hdr": bool(info.hdr)})
    plan_s = time.perf_counter() - start
    costs = [t["cost"] for t in tasks]
    windows = [t["windows"] for t in tasks]
    mean_cost = statistics.mean(costs)
    # per-task memory: at most 7 decoded frames of the working size (rgb48/float for HDR) + 3 PNG buffers
    worst = max(tasks, key=lambda t: t["work"][0] * t["work"][1] * (8 if t["hdr"] else 3))
    w, h = worst["work"]
    frame_bytes = w * h * 3 * (4 if worst["hdr"] else 1)
    mem_mb = (2 * HALF + 1) * frame_bytes / 2**20 + 3 * w * h * 3 / 2**20
    print(f"{args.films} films, {video_hours:.0f} video-hours, {extractions} extractions, planned in {plan_s:.1f}s")
    print(f"  work items (video, {args.segment_seconds:.0f}s segment): {len(tasks)}; windows per task mean "
          f"{statistics.mean(windows):.1f}, max {max(windows)}")
    print(f"  core-seconds per task (HDR decode x{args.hdr_slowdown:g}): mean {mean_cost:.0f}, max {max(costs):.0f}, "
          f"max/mean {max(costs) / mean_cost:.2f}")
    print(f"  memory bound per task: 7 frames at {w}x{h} ({'HDR float' if worst['hdr'] else 'uint8'}) + 3 PNG "
          f"buffers ≈ {mem_mb:.0f} MB, whatever the film length")
    total_frames = sum(i.frames for _, i in films)
    decoded = sum(t["decoded"] for t in tasks)
    core_hours = sum(costs) / 3600
    print(f"  decoded frames: {decoded / 1e6:.1f} M of {total_frames / 1e6:.1f} M "
          f"({100 * decoded / total_frames:.0f}%; "
          f"the seed's per-extraction seeks decode {seed_decoded / 1e6:.1f} M)")
    print(f"  total: {core_hours:.0f} core-hours = {3600 * core_hours / extractions:.2f} core-s per extraction")
    rows = []
    for n in args.nodes:
        cores = n * args.cores_per_node
        # the longest task bounds the tail: makespan >= max(total/cores, max task)
        hours = max(core_hours / cores, max(costs) / 3600)
        cost = hours * n * args.node_price
        rows.append((n, hours, cost))
        print(f"  {n} nodes x {args.cores_per_node} cores: {hours:.1f} h, ${cost:.0f} "
              f"(${cost / video_hours:.3f} per video-hour)")
    print("RESULT plan_scale: tasks=%d max/mean=%.2f mem_per_task=%.0fMB "
          % (len(tasks), max(costs) / mean_cost, mem_mb)
          + " ".join(f"{n}nodes={h:.1f}h/${c:.0f}" for n, h, c in rows))


if __name__ == "__main__":
    main()
