"""Training benchmark: Ray Train loop vs a plain PyTorch loop (same model, batch, threads, same run),
2-worker DDP scaling, and a fixed-budget quality run of ConvLSTM and ViT on Moving MNIST against
the copy-last-frame baseline (MSE in OpenSTL units: summed over the 64x64 pixels, mean over frames).

    python bench/train.py                      # CPU defaults, a few minutes on 2 cores
    python bench/train.py --gpu --quality-epochs 50 --quality-sequences 10000
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# RAY_TRAIN_HEALTH_CHECK_INTERVAL_S is left at Ray's default (2 s): the tests' 0.1 s makes the controller
# poll the worker 10x a second, which is not what a user's run does.

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from vidray.config import from_dict
from vidray.models import build
from vidray.runtime import ray_session
from vidray.synth.moving_mnist import render_sequences
from vidray.train.config import TrainConfig
from vidray.train.loop import build_loss, make_optimizer, reduce_validation, save_state, train_one_epoch, validate
from vidray.train.report import verdict
from vidray.train.tasks import build_datasets, model_kwargs
from vidray.train.trainer import run_training


def make_data(root: Path, n_train: int, n_test: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "moving_mnist.npy", render_sequences(n_train, 20, 2, seed=0, split="train"))
    np.save(root / "moving_mnist_test.npy", render_sequences(n_test, 20, 2, seed=0, split="test"))
    return root


def plain_loop(cfg: TrainConfig, threads: int) -> tuple[list[float], list[dict]]:
    """The same epochs without Ray: train, validate, save a checkpoint; (wall s per epoch, train_one_epoch's
    stats per epoch: seconds, cpu_seconds, runq_seconds)."""
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if cfg.gpu else "cpu")
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg)).to(device)
    train, val = build_datasets(cfg)
    sampler = DistributedSampler(train, num_replicas=1, rank=0, shuffle=True, seed=cfg.seed)
    loader = DataLoader(train, batch_size=cfg.batch_size, sampler=sampler)
    val_loader = DataLoader(val, batch_size=cfg.batch_size)
    optimizer, scheduler = make_optimizer(model, cfg, len(loader))
    loss_fn = build_loss(cfg, device)
    times, train_times = [], []
    with tempfile.TemporaryDirectory() as d:
        for epoch in range(cfg.epochs):
            start = time.perf_counter()
            sampler.set_epoch(epoch)
            stats = train_one_epoch(model, loader, loss_fn, optimizer, scheduler, cfg, device, epoch)
            reduce_validation(validate(model, val_loader, loss_fn, cfg, device), device)
            save_state(d, model, optimizer, scheduler, epoch, {}, [])
            times.append(time.perf_counter() - start)
            train_times.append({k: stats[k] for k in ("seconds", "cpu_seconds", "runq_seconds")})
    return times, train_times


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def ray_epochs(cfg: TrainConfig) -> tuple[list[float], list[dict]]:
    """Wall seconds between successive epoch reports of a Ray Train run (the first epoch is startup)."""
    result = run_training(cfg, write_results=False)
    stamps = [r["reported_at"] for r in result.history]
    return [b - a for a, b in zip(stamps, stamps[1:])], result.history


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="convlstm")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--sequences", type=int, default=256, help="train sequences for the overhead runs")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--quality-sequences", type=int, default=1000)
    p.add_argument("--quality-epochs", type=int, default=3)
    p.add_argument("--quality-preset", default="small")
    p.add_argument("--rounds", type=int, default=3, help="alternating plain / Ray Train blocks (overhead runs)")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--gpu", action="store_true")
    args = p.parse_args()

    import ray

    # as `vidray train` does: local Ray with the dashboard on 127.0.0.1 (Train V2's placement-group
    # cleaner queries the state API it serves)
    session = contextlib.ExitStack()
    session.enter_context(ray_session(dashboard=True))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_data(tmp / "mm", args.sequences, max(64, args.sequences // 4))
        base = from_dict(TrainConfig, {"model": args.model, "preset": args.preset, "data": str(data),
                                       "epochs": args.epochs, "batch_size": args.batch_size, "gpu": args.gpu,
                                       "storage": str(tmp / "runs"), "num_workers": 1})
        # Plain and Ray Train blocks alternate (plain first, then Ray first, ...) with Ray up the whole
        # time, so both see the same background load; the machine may be shared, so each epoch also
        # records the loop thread's CPU seconds and its wait for a CPU (runq) to tell load from overhead.
        plain, plain_train, one, ray_train, round_overheads = [], [], [], [], []
        for r in range(args.rounds):
            block = {}
            for what in (("plain", "ray") if r % 2 == 0 else ("ray", "plain")):
                if what == "plain":
                    times, stats = plain_loop(base, threads=1)
                    plain += times[1:]
                    block[what] = stats[1:]
                else:
                    walls, hist = ray_epochs(dataclasses.replace(base, run_name=f"w1-{r}"))
                    one += walls
                    block[what] = [{"seconds": h["epoch_seconds"], "cpu_seconds": h["epoch_cpu_seconds"],
                                    "runq_seconds": h["epoch_runq_seconds"]} for h in hist[1:]]
            plain_train += block["plain"]
            ray_train += block["ray"]
            round_overheads.append(100 * (med(block["ray"], "seconds") / med(block["plain"], "seconds") - 1))
        plain_epoch, ray_epoch = statistics.median(plain), statistics.median(one)
        plain_steps, ray_steps = med(plain_train, "seconds"), med(ray_train, "seconds")
        ratio, loop_ratio = plain_epoch / ray_epoch, plain_steps / ray_steps
        cpu_ratio = med(plain_train, "cpu_seconds") / med(ray_train, "cpu_seconds")
        n = len(build_datasets(base)[0])
        print(f"{args.model}/{args.preset}, {n} train sequences, batch {args.batch_size}, 1 thread per worker, "
              f"{args.epochs} epochs x {args.rounds} alternating rounds (medians of epochs 2..); nice: plain "
              f"{os.nice(0)}, Ray workers {os.environ.get('RAY_worker_niceness', '15 (Ray default)')}:")
        print(f"  training steps only   : plain {n / plain_steps:7.1f} samples/s, Ray Train worker "
              f"{n / ray_steps:7.1f} samples/s  ratio {loop_ratio:.3f} (overhead {100 * (1 / loop_ratio - 1):+.1f}%; "
              f"per round {', '.join(f'{o:+.1f}%' for o in round_overheads)})")
        for name, rows in (("plain", plain_train), ("Ray  ", ray_train)):
            print(f"    {name}: per epoch {med(rows, 'seconds'):.3f} s wall, {med(rows, 'cpu_seconds'):.3f} s CPU, "
                  f"{med(rows, 'runq_seconds'):.3f} s waiting for a CPU (other processes)")
        print(f"    CPU seconds per epoch ray/plain {1 / cpu_ratio:.3f} ({100 * (1 / cpu_ratio - 1):+.1f}%)")
        print("  whole epoch (train + validate + checkpoint + report):")
        print(f"  plain PyTorch loop    : {plain_epoch:6.2f} s/epoch  ({n / plain_epoch:7.1f} samples/s)")
        print(f"  Ray Train, 1 worker   : {ray_epoch:6.2f} s/epoch  ({n / ray_epoch:7.1f} samples/s)  "
              f"ratio {ratio:.3f} (overhead {100 * (1 / ratio - 1):+.1f}%)")
        scaling = float("nan")
        if cpus >= 2:
            two, _ = ray_epochs(dataclasses.replace(base, run_name="w2", num_workers=2))
            scaling = ray_epoch / statistics.median(two)
            print(f"  Ray Train, 2 workers  : {statistics.median(two):6.2f} s/epoch  "
                  f"({n / statistics.median(two):7.1f} samples/s)  2w/1w {scaling:.2f}x")
        quality = []
        if not args.skip_quality:
            qdata = make_data(tmp / "mmq", args.quality_sequences, 500)
            for model in ("convlstm", "vit_predictor"):
                cfg = dataclasses.replace(base, model=model, preset=args.quality_preset, data=str(qdata),
                                          epochs=args.quality_epochs, num_workers=min(2, cpus), run_name=f"q-{model}",
                                          lr=2e-3)
                start = time.perf_counter()
                result = run_training(cfg, write_results=False)
                last = result.history[-1]
                black = last["baseline_all_black_openstl_mse"]
                quality.append((model, last["val_openstl_mse"], black, last["val_openstl_ssim"]))
                print(f"  quality {model}/{args.quality_preset}: {args.quality_epochs} epochs x "
                      f"{args.quality_sequences} seq in {time.perf_counter() - start:.0f}s → val MSE "
                      f"{last['val_openstl_mse']:.1f} vs all-black {black:.1f} / copy-last-frame "
                      f"{last['baseline_copy_last_frame_openstl_mse']:.1f} (SSIM {last['val_openstl_ssim']:.3f} vs "
                      f"{last['baseline_all_black_openstl_ssim']:.3f} / "
                      f"{last['baseline_copy_last_frame_openstl_ssim']:.3f}): {verdict(last)}")
    q = " ".join(f"{m}_mse={v:.1f}/all_black={b:.1f}" for m, v, b, _ in quality)
    print(f"RESULT train: steps ray/plain={loop_ratio:.3f} ({100 * (1 / loop_ratio - 1):+.1f}%) "
          f"steps_cpu ray/plain={cpu_ratio:.3f} ({100 * (1 / cpu_ratio - 1):+.1f}%) "
          f"epoch ray/plain={ratio:.3f} ({100 * (1 / ratio - 1):+.1f}%) 2w/1w={scaling:.2f} {q}")
    session.close()


if __name__ == "__main__":
    main()
