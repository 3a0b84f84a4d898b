"""Synthetic-data throughput: vidray's generator vs a straightforward per-frame Python
reference, and the Ray Data job (generation alone, + HDF5, + MP4) on 1 and 2 workers.

    python bench/synth.py [--videos-per-digit 100] [--sequences 2000]

Every number is measured in this run; the last line prints the ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def reference_moving_mnist(images: np.ndarray, num_sequences: int, seq_len: int = 20, num_digits: int = 2,
                           size: int = 64, seed: int = 0) -> np.ndarray:
    """The usual per-frame loop (as in OpenSTL's MovingMNIST): step, bounce, paste — frame by frame."""
    rng = random.Random(seed)
    digit, travel = 28, 64 - 28
    out = np.zeros((seq_len, num_sequences, size, size), dtype=np.uint8)
    for n in range(num_sequences):
        for _ in range(num_digits):
            img = images[rng.randrange(len(images))]
            y, x = rng.random(), rng.random()
            theta = rng.random() * 2 * math.pi
            vy, vx = math.sin(theta), math.cos(theta)
            for t in range(seq_len):
                y += vy * 0.1
                x += vx * 0.1
                if x <= 0:
                    x, vx = 0.0, -vx
                if x >= 1.0:
                    x, vx = 1.0, -vx
                if y <= 0:
                    y, vy = 0.0, -vy
                if y >= 1.0:
                    y, vy = 1.0, -vy
                top, left = int(travel * y), int(travel * x)
                frame = out[t, n]
                frame[top:top + digit, left:left + digit] = np.maximum(frame[top:top + digit, left:left + digit], img)
    return out


def reference_bounce(images: np.ndarray, num_videos: int, seq_len: int = 16, size: int = 64,
                     seed: int = 0) -> np.ndarray:
    """The usual per-frame loop for one bouncing digit: step, reflect at the walls, paste."""
    rng = random.Random(seed)
    travel = size - 28
    out = np.zeros((num_videos, seq_len, size, size), dtype=np.uint8)
    for n in range(num_videos):
        img = images[rng.randrange(len(images))]
        y, x = rng.uniform(0, travel), rng.uniform(0, travel)
        angle, speed = rng.uniform(0, 2 * math.pi), rng.uniform(2, 4)
        vy, vx = speed * math.sin(angle), speed * math.cos(angle)
        for t in range(seq_len):
            top, left = int(round(y)), int(round(x))
            out[n, t, top:top + 28, left:left + 28] = img
            y, x = y + vy, x + vx
            if not 0 <= y <= travel:
                vy, y = -vy, (-y if y < 0 else 2 * travel - y)
            if not 0 <= x <= travel:
                vx, x = -vx, (-x if x < 0 else 2 * travel - x)
    return out


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos-per-digit", type=int, default=100, help="VideoMNIST train videos per class")
    parser.add_argument("--sequences", type=int, default=2000, help="Moving MNIST sequences for the core comparison")
    args = parser.parse_args()

    import ray

    from vidray.run import JobRun
    from vidray.stage import Scale
    from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
    from vidray.synth.digits import load_digits
    from vidray.synth.job import _render, run_videomnist
    from vidray.synth.plan import plan_moving_mnist, plan_videomnist
    from vidray.synth.render import render_videos

    digits = {s: load_digits(s) for s in ("train", "test")}
    n = args.sequences
    t_ref, _ = timed(reference_moving_mnist, digits["train"].images, n)

    def core():
        items = plan_moving_mnist(MovingMNISTConfig(num_sequences=n, test_sequences=0), digits)
        return render_videos(np.stack([i["sprites"] for i in items]), np.stack([i["positions"] for i in items]), 64)

    t_core, _ = timed(core)
    print(f"Moving MNIST (classic, 2 digits), {n} sequences x 20 frames, 1 process:")
    print(f"  per-frame Python reference : {n / t_ref:9.0f} seq/s")
    print(f"  vidray plan + render       : {n / t_core:9.0f} seq/s   ({t_ref / t_core:.1f}x)")

    t_ref_b, _ = timed(reference_bounce, digits["train"].images, n)

    def core_bounce():
        cfg = VideoMNISTConfig(videos_per_digit=n // 10, test_videos_per_digit=0, motion_types=("bounce",))
        items = plan_videomnist(cfg, digits)
        return render_videos(np.stack([i["sprites"] for i in items]), np.stack([i["positions"] for i in items]), 64)

    t_core_b, _ = timed(core_bounce)
    print(f"VideoMNIST (bounce, 1 digit), {n} videos x 16 frames, 1 process:")
    print(f"  per-frame Python reference : {n / t_ref_b:9.0f} videos/s")
    print(f"  vidray plan + render       : {n / t_core_b:9.0f} videos/s   ({t_ref_b / t_core_b:.1f}x)")

    cfg = VideoMNISTConfig(videos_per_digit=args.videos_per_digit, test_videos_per_digit=0)
    videos = 10 * args.videos_per_digit
    rates = {}
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    tmp = Path(tempfile.mkdtemp(prefix="vidray-bench-"))
    try:
        items = plan_videomnist(cfg, digits)

        def render_only(items, workers, name):
            run = JobRun("bench", tmp / name, {}, scale=Scale(workers=workers))
            for _ in _render(run, items, canvas_size=64, return_frames=True):
                pass

        render_only(items[:50], 2, "warm")  # warm up workers
        for workers in (1, 2):
            t, _ = timed(render_only, items, workers, f"gen_{workers}")
            rates[("gen", workers)] = videos / t
            out = tmp / f"h5_{workers}"
            t, _ = timed(run_videomnist, VideoMNISTConfig(**{**cfg.__dict__, "write_mp4": False}), out,
                         scale=Scale(workers=workers))
            rates[("gen+hdf5", workers)] = videos / t
            out = tmp / f"mp4_{workers}"
            t, _ = timed(run_videomnist, cfg, out, scale=Scale(workers=workers))
            rates[("gen+hdf5+mp4", workers)] = videos / t
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"VideoMNIST job on Ray Data, {videos} videos x {cfg.sequence_length} frames "
          "(whole job incl. Ray Data start):")
    for stage in ("gen", "gen+hdf5", "gen+hdf5+mp4"):
        one, two = rates[(stage, 1)], rates[(stage, 2)]
        print(f"  {stage:13s} 1 worker {one:8.0f} videos/s   2 workers {two:8.0f} videos/s   scaling {two / one:.2f}x")
    print(f"RESULT synth: core/reference moving-mnist={t_ref / t_core:.1f}x bounce={t_ref_b / t_core_b:.1f}x "
          + " ".join(f"{s}={rates[(s, 2)]:.0f}v/s(2w/1w={rates[(s, 2)] / rates[(s, 1)]:.2f})"
                     for s in ("gen", "gen+hdf5", "gen+hdf5+mp4")))


if __name__ == "__main__":
    main()
