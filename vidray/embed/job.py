"""The embedding job on Ray Data: plan → decode+resize in CPU tasks (streamed in blocks) →
embed in a model actor pool (GPU when present) → driver writes each finished video's sample →
WebDataset and Parquet shards rebuilt from the processed layout.

Resume is per video: a sample whose ``.npy``, ``.txt`` and ``.json`` exist is not embedded again.
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from vidray.embed.config import EmbedConfig
from vidray.embed.frames import iter_frame_batches, probe
from vidray.embed.inputs import VideoItem
from vidray.embed.model import ModelSpec, default_pretrained, embed_images, load_model, resolve_model
from vidray.embed.preprocess import Preprocess, resize_center_crop
from vidray.errors import InputError
from vidray.io.atomic import remove_stale_parts, write_bytes_atomic, write_json_atomic
from vidray.io.outdir import OutputDir
from vidray.io.parquet_shards import write_parquet
from vidray.io.webdataset_shards import Sample, format_key, plan_shards, write_webdataset
from vidray.runtime import decode_task_options

log = logging.getLogger("vidray.embed")
Progress = Callable[[int, int], None]
BLOCKS_PER_DECODE_TASK = 4         # input blocks (groups of videos) per decode task slot
DECODE_BATCH = 8                   # full-size frames decoded before resizing
DECODE_TASK_MEMORY = 2**30          # a decode worker: torch + PyAV (~0.5 GB) + a few full-size frames + a block


@dataclass
class EmbedSummary:
    """What the embedding job did: videos embedded/reused/failed, frames, shards, timings."""

    output: Path
    videos: int
    embedded: int = 0
    reused: int = 0
    frames: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    shards: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    stream_seconds: float = 0.0       # first model call's start to last one's end: frames / this
                                      # is the steady-state rate (actor start and model load excluded)
    model_seconds: float = 0.0        # time the actors spent inside model calls (summed over actors)
    pretrained: str = ""

    def line(self) -> str:
        """A one-line summary for the CLI."""
        splits = ", ".join(f"{n} {s}" for s, n in self.splits.items() if n)
        failed = f", {len(self.errors)} failed" if self.errors else ""
        return (f"embed: {self.videos} videos ({splits or 'none done'}) → {self.output}: {self.embedded} embedded "
                f"({self.frames} frames), {self.reused} reused{failed}; {self.shards} shards, in {self.seconds:.1f}s")


def sample_paths(root: Path, video: VideoItem) -> dict[str, Path]:
    """The processed-layout files of ``video``: ``processed/{split}/{name}.{npy,txt,json}``."""
    base = root / "processed" / video.split / video.name
    return {ext: base.with_suffix(f".{ext}") for ext in ("npy", "txt", "json")}


def is_done(root: Path, video: VideoItem) -> bool:
    """A sample is done once all three files exist (the JSON is written last)."""
    return all(p.exists() for p in sample_paths(root, video).values())


# ---- Ray Data UDFs -------------------------------------------------------------------------------

def decode_videos(batch: dict, *, pre: Preprocess, fps: float | None, every_n: int | None,
                  frames_per_block: int) -> Iterator[dict]:
    """Ray Data generator UDF: video rows in → blocks of about ``frames_per_block`` model-sized frames.

    Rows: ``video`` int64, ``frame_index`` int64, ``time`` float64, ``image`` uint8 [S,S,3],
    ``total`` int64, ``error`` str, ``duration``/``source_fps`` float64 (NaN if unknown). After a
    video's frames comes one marker row (``frame_index`` -1, blank image): ``total`` = its frame
    count, or ``error`` = why it failed. Blocks may mix videos, so short videos still fill them.
    """
    import torch

    torch.set_num_threads(1)
    pending: list[dict] = []  # rows not yet yielded: at most one block plus one decode batch
    for video, path in zip(batch["video"], batch["path"]):
        video, path, count = int(video), str(path), 0
        try:
            info = probe(path)
            meta = (np.nan if info.duration is None else info.duration,
                    np.nan if info.frame_rate is None else info.frame_rate)
            # decode a few full-size frames at a time (a 4K frame is 25 MB), keep only resized ones
            for fb in iter_frame_batches(path, batch_size=min(DECODE_BATCH, frames_per_block), fps=fps,
                                         every_n=every_n):
                pending.append(_rows(video, fb.indices, fb.times, resize_center_crop(fb.frames, pre), meta))
                count += len(fb.indices)
                if sum(len(r["video"]) for r in pending) >= frames_per_block:
                    yield _concat(pending)
                    pending = []
            pending.append(_marker_row(video, pre, total=count))
        except InputError as exc:
            pending.append(_marker_row(video, pre, error=exc.reason))
    if pending:
        yield _concat(pending)


def _rows(video: int, indices, times, images, meta) -> dict:
    n = len(indices)
    return {"video": np.full(n, video, np.int64), "frame_index": np.asarray(indices, np.int64),
            "time": np.asarray(times, np.float64), "image": images, "total": np.full(n, -1, np.int64),
            "error": np.array([""] * n, dtype=object), "duration": np.full(n, meta[0], np.float64),
            "source_fps": np.full(n, meta[1], np.float64)}


def _marker_row(video: int, pre: Preprocess, total: int = -1, error: str = "") -> dict:
    row = _rows(video, [-1], [np.nan], np.zeros((1, *pre.size, 3), np.uint8), (np.nan, np.nan))
    row["total"][0], row["error"][0] = total, error
    return row


def _concat(rows: list[dict]) -> dict:
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


class Embedder:
    """Ray Data callable class: holds one open_clip model; frames in, L2-normalised float32 [B,D] out."""

    def __init__(self, spec: ModelSpec, cpu_threads: int = 1):
        import torch

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.set_num_threads(cpu_threads)
        self.spec = spec
        self.model = load_model(spec, self.device)

    def __call__(self, batch: dict) -> dict:
        start = time.time()
        ok = batch["frame_index"] >= 0
        emb = np.zeros((len(ok), self.spec.embed_dim), np.float32)
        if ok.any():
            emb[ok] = embed_images(self.model, batch["image"][ok], self.spec.preprocess, self.device)
        out = {k: v for k, v in batch.items() if k != "image"}
        out["embedding"] = emb
        # wall-clock span of this call, so the driver can tell the actors' steady-state rate
        out["embed_start"] = np.full(len(ok), start)
        out["embed_end"] = np.full(len(ok), time.time())
        return out


# ---- driver --------------------------------------------------------------------------------------

class _Collector:
    """Gathers each video's embedded frames (in any order) and writes its sample once all arrived."""

    def __init__(self, root: Path, videos: list[VideoItem], todo: int, cfg: EmbedConfig, spec: ModelSpec,
                 summary: EmbedSummary, progress: Progress | None):
        self.root, self.videos, self.todo, self.cfg, self.spec = root, videos, todo, cfg, spec
        self.summary, self.progress = summary, progress
        self.parts: dict[int, dict[int, tuple]] = {}
        self.totals: dict[int, int] = {}
        self.meta: dict[int, tuple[float, float]] = {}
        self.finished: set[int] = set()

    def add(self, batch: dict) -> None:
        for j in range(len(batch["video"])):
            v = int(batch["video"][j])
            if v in self.finished:
                continue
            if batch["error"][j]:
                self.summary.errors[self.videos[v].name] = f"{self.videos[v].path}: {batch['error'][j]}"
                log.warning("embed: %s failed: %s", self.videos[v].path, batch["error"][j])
                self.parts.pop(v, None)
                self._finish(v)
                continue
            # keyed by frame: a retried decode task re-sending frames cannot duplicate them
            parts = self.parts.setdefault(v, {})
            if batch["frame_index"][j] >= 0:
                parts[int(batch["frame_index"][j])] = (float(batch["time"][j]), batch["embedding"][j])
                self.meta[v] = (float(batch["duration"][j]), float(batch["source_fps"][j]))
            else:
                self.totals[v] = int(batch["total"][j])
            if len(parts) == self.totals.get(v, -1):
                self._write(v)

    def _finish(self, v: int) -> None:
        self.finished.add(v)
        if self.progress:
            self.progress(len(self.finished), self.todo)

    def _write(self, v: int) -> None:
        video = self.videos[v]
        parts = [(index, *rest) for index, rest in sorted(self.parts.pop(v).items())]
        emb = np.stack([p[2] for p in parts]).astype(self.cfg.dtype)
        duration, source_fps = self.meta.pop(v)
        paths = sample_paths(self.root, video)
        buf = io.BytesIO()
        np.save(buf, emb)
        write_bytes_atomic(paths["npy"], buf.getvalue())
        write_bytes_atomic(paths["txt"], video.caption.encode("utf-8"))
        write_json_atomic(paths["json"], sample_metadata(video, self.cfg, self.spec, parts, emb.shape,
                                                         duration, source_fps))
        self.summary.embedded += 1
        self.summary.frames += len(parts)
        self._finish(v)


def sample_metadata(video: VideoItem, cfg: EmbedConfig, spec: ModelSpec, parts, shape, duration, source_fps) -> dict:
    """The ``name.json`` of one sample."""
    nan_none = lambda x: None if x != x else x  # noqa: E731 - NaN → null
    return {
        "name": video.name, "split": video.split, "source_path": video.path, "caption": video.caption,
        "frame_count": int(shape[0]), "embed_dim": int(shape[1]), "dtype": cfg.dtype,
        "sample_fps": cfg.sample_fps, "every_n": cfg.every_n,
        "source_fps": nan_none(source_fps), "duration": nan_none(duration),
        "frame_indices": [p[0] for p in parts], "frame_timestamps": [round(p[1], 6) for p in parts],
        "model": spec.name, "pretrained": spec.pretrained_label, "random_weights": spec.pretrained is None,
        "preprocess": spec.preprocess.to_dict(), "metadata": video.metadata,
    }


def cluster_gpus() -> int:
    """GPUs in the connected Ray cluster."""
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def resolve_job_model(cfg: EmbedConfig) -> ModelSpec:
    """The model of ``cfg``, checked at once (missing weights raise before any work); with no
    network, sets HF_HUB_OFFLINE for this process so nothing waits on hub retries."""
    pretrained = cfg.pretrained if cfg.pretrained is not None else default_pretrained(cfg.model)
    spec = resolve_model(cfg.model, pretrained)
    if spec.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    return spec


def run_embed(cfg: EmbedConfig, videos: list[VideoItem], output, *, workers: int | None = None,
              actors: int | None = None, actor_cpus: int = 1, overwrite: bool = False,
              progress: Progress | None = None, spec: ModelSpec | None = None) -> EmbedSummary:
    """Embed ``videos`` into ``output`` (processed layout, ``wds/``, ``parquet/``); resumes per video.

    ``workers``: decode tasks (default: the CPUs the actors leave free); ``actors``: model replicas
    (default: one per GPU, else 1), each with ``actor_cpus`` CPUs (its torch threads on CPU);
    ``spec``: the model as :func:`resolve_job_model` gave it (resolved here if not given).
    """
    start = time.perf_counter()
    spec = spec or resolve_job_model(cfg)
    out = OutputDir(output, job="embed", config=cfg.identity(spec.pretrained or "none"), overwrite=overwrite,
                    owned=("processed", "wds", "parquet", "errors.json"))
    remove_stale_parts(out.root)
    summary = EmbedSummary(out.root, len(videos), pretrained=spec.pretrained_label)
    todo = [i for i, v in enumerate(videos) if not is_done(out.root, v)]
    summary.reused = len(videos) - len(todo)
    if spec.pretrained is None:
        log.warning("embed: --pretrained none: random weights, for tests and smoke runs only")
    if todo:
        t0 = time.perf_counter()
        _execute(cfg, spec, videos, todo, out.root, summary, workers, actors, actor_cpus, progress)
        summary.embed_seconds = time.perf_counter() - t0
    done = [v for v in videos if is_done(out.root, v)]
    samples = build_samples(out.root, done)
    shards = plan_shards(samples, cfg.shard_size)
    write_webdataset(shards, out.root / "wds")
    write_parquet(shards, out.root / "parquet")
    write_json_atomic(out.root / "errors.json", summary.errors)
    summary.shards = len(shards)
    summary.splits = {s: sum(1 for v in done if v.split == s) for s in ("train", "val", "test")}
    out.mark_complete()
    summary.seconds = time.perf_counter() - start
    return summary


def build_samples(root: Path, done: list[VideoItem]) -> list[Sample]:
    """Finished samples in shard order (train, val, test; by name in each) with zero-padded keys."""
    order = {"train": 0, "val": 1, "test": 2}
    ordered = sorted(done, key=lambda v: (order.get(v.split, 3), v.split, v.name))
    samples = []
    for i, video in enumerate(ordered):
        paths = sample_paths(root, video)
        samples.append(Sample(format_key(i), video.split, video.name, paths["npy"], paths["txt"], paths["json"]))
    return samples


def _execute(cfg: EmbedConfig, spec: ModelSpec, videos, todo, root, summary, workers, actors, actor_cpus,
             progress) -> None:
    import ray

    gpus = cluster_gpus()
    actors = actors or max(1, gpus)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = workers or max(1, cpus - (0 if gpus else actors * actor_cpus))
    items = [{"video": i, "path": videos[i].path} for i in todo]
    # a few input blocks per decode task: a task then decodes its videos one after another (each
    # streamed), which saves the per-task overhead on many short videos and still balances load
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), BLOCKS_PER_DECODE_TASK * workers))
    # declaring the decode memory also keeps Ray Data from fusing decode into the model actors
    # (it fuses ops with equal resource requests), which would serialise decode and inference
    ds = ds.map_batches(decode_videos, batch_size=None, batch_format="numpy", **decode_task_options(),
                        memory=DECODE_TASK_MEMORY, compute=ray.data.TaskPoolStrategy(size=min(workers, len(items))),
                        fn_kwargs=dict(pre=spec.preprocess, fps=cfg.sample_fps, every_n=cfg.every_n,
                                       frames_per_block=cfg.frames_per_block))
    ds = ds.map_batches(Embedder, fn_constructor_kwargs={"spec": spec, "cpu_threads": actor_cpus},
                        batch_size=cfg.batch_size, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=1 if gpus else 0,
                        num_cpus=actor_cpus)
    log.info("embed: %d videos, %d decode tasks, %d model actors (%s)", len(items), workers, actors,
             "GPU" if gpus else "CPU")
    collector = _Collector(root, videos, len(todo), cfg, spec, summary, progress)
    calls: set[tuple[float, float]] = set()  # (start, end) of each model call; blocks may split a call
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        collector.add(batch)
        calls.update(zip(batch["embed_start"].tolist(), batch["embed_end"].tolist()))
    if calls:
        summary.stream_seconds = max(e for _, e in calls) - min(s for s, _ in calls)
        summary.model_seconds = sum(e - s for s, e in calls)
    for v in todo:
        if v not in collector.finished:
            summary.errors[videos[v].name] = f"{videos[v].path}: not all frames came back from the model actors"
