"""The embedding job on Ray Data: plan → decode+resize in CPU tasks (streamed in blocks) →
embed in a model actor pool (GPU when present) → driver writes each finished video's sample →
WebDataset and Parquet shards rebuilt from the processed layout.

Resume is per video: a sample whose ``.npy``, ``.txt`` and ``.json`` exist is not embedded again.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from vidray.embed.config import EmbedConfig
from vidray.embed.frames import iter_frame_batches
from vidray.embed.inputs import VideoItem
from vidray.embed.model import ModelSpec, default_pretrained, embed_images, load_model, resolve_model
from vidray.embed.preprocess import Preprocess, resize_center_crop
from vidray.errors import InputError
from vidray.io import storage
from vidray.io.parquet_shards import write_parquet
from vidray.io.probe import probe_video
from vidray.io.webdataset_shards import Sample, format_key, plan_shards, write_webdataset
from vidray.progress import Progress
from vidray.run import JobRun
from vidray.stage import Resources, Scale, Stage, rows_per_block

log = logging.getLogger("vidray.embed")
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


def sample_paths(root, video: VideoItem) -> dict[str, str]:
    """The processed-layout files of ``video``: ``processed/{split}/{name}.{npy,txt,json}``."""
    base = storage.join(root, "processed", video.split, video.name)
    return {ext: f"{base}.{ext}" for ext in ("npy", "txt", "json")}


def is_done(run: JobRun, video: VideoItem, existing: set[str]) -> bool:
    """A sample is done once the run's record lists it and its three files are among ``existing``
    (:func:`processed_files`: one listing, not three requests per video on an object store)."""
    return video.name in run.record and all(p in existing for p in sample_paths(run.root, video).values())


def processed_files(run: JobRun) -> set[str]:
    """Every file under the run's ``processed/``."""
    return set(storage.list_files(storage.join(run.root, "processed")))


# ---- Ray Data UDFs -------------------------------------------------------------------------------

def decode_videos(batch: dict, *, pre: Preprocess, fps: float | None, every_n: int | None,
                  frames_per_block: int, sample: str = "time") -> Iterator[dict]:
    """Ray Data generator UDF: video rows in → blocks of about ``frames_per_block`` model-sized frames
    (sampled by ``sample``: "time" = ``fps`` or ``every_n``, or "keyframes"; only those are decoded).

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
            info = probe_video(path)
            meta = (np.nan if info.duration is None else info.duration,
                    np.nan if info.fps is None else info.fps)
            # decode a few full-size frames at a time (a 4K frame is 25 MB), keep only resized ones
            for fb in iter_frame_batches(path, batch_size=min(DECODE_BATCH, frames_per_block), fps=fps,
                                         every_n=every_n, info=info, sample=sample):
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
        self.frames = _frames_counter()

    def __call__(self, batch: dict) -> dict:
        start = time.time()
        ok = batch["frame_index"] >= 0
        emb = np.zeros((len(ok), self.spec.embed_dim), np.float32)
        if ok.any():
            emb[ok] = embed_images(self.model, batch["image"][ok], self.spec.preprocess, self.device)
            if self.frames is not None:
                self.frames.inc(int(ok.sum()), tags={"device": self.device})
        out = {k: v for k, v in batch.items() if k != "image"}
        out["embedding"] = emb
        # wall-clock span of this call, so the driver can tell the actors' steady-state rate
        out["embed_start"] = np.full(len(ok), start)
        out["embed_end"] = np.full(len(ok), time.time())
        return out


def _frames_counter():
    """The ``vidray_frames_embedded`` Ray metric (the dashboard's Grafana shows it), if metrics work here."""
    try:
        from ray.util.metrics import Counter

        return Counter("vidray_frames_embedded", "video frames embedded by vidray embed", tag_keys=("device",))
    except Exception as exc:  # metrics are a nicety; never fail a job on them
        log.debug("no frames counter: %s", exc)
        return None


# ---- driver --------------------------------------------------------------------------------------

class _Collector:
    """Gathers each video's embedded frames (in any order) and writes its sample once all arrived."""

    def __init__(self, run: JobRun, videos: list[VideoItem], cfg: EmbedConfig, spec: ModelSpec,
                 summary: EmbedSummary):
        self.run, self.root, self.videos, self.cfg, self.spec = run, run.root, videos, cfg, spec
        self.summary = summary
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
                self.finished.add(v)
                self.run.progress.add(failed=1)
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

    def _write(self, v: int) -> None:
        video = self.videos[v]
        parts = [(index, *rest) for index, rest in sorted(self.parts.pop(v).items())]
        emb = np.stack([p[2] for p in parts]).astype(self.cfg.dtype)
        duration, source_fps = self.meta.pop(v)
        paths = sample_paths(self.root, video)
        buf = io.BytesIO()
        np.save(buf, emb)
        storage.write_bytes(paths["npy"], buf.getvalue())
        storage.write_bytes(paths["txt"], video.caption.encode("utf-8"))
        storage.write_json(paths["json"], sample_metadata(video, self.cfg, self.spec, parts, emb.shape,
                                                         duration, source_fps))
        self.run.record.append([{"key": video.name, "split": video.split, "frames": len(parts)}])
        self.summary.embedded += 1
        self.summary.frames += len(parts)
        self.finished.add(v)
        self.run.progress.add(ok=1)


def sample_metadata(video: VideoItem, cfg: EmbedConfig, spec: ModelSpec, parts, shape, duration, source_fps) -> dict:
    """The ``name.json`` of one sample."""
    nan_none = lambda x: None if x != x else x  # noqa: E731 - NaN → null
    return {
        "name": video.name, "split": video.split, "source_path": video.path, "caption": video.caption,
        "frame_count": int(shape[0]), "embed_dim": int(shape[1]), "dtype": cfg.dtype,
        "sample": cfg.sample, "sample_fps": cfg.sample_fps, "every_n": cfg.every_n,
        "source_fps": nan_none(source_fps), "duration": nan_none(duration),
        "frame_indices": [p[0] for p in parts], "frame_timestamps": [round(p[1], 6) for p in parts],
        "model": spec.name, "pretrained": spec.pretrained_label, "random_weights": spec.pretrained is None,
        "preprocess": spec.preprocess.to_dict(), "metadata": video.metadata,
    }


def resolve_job_model(cfg: EmbedConfig) -> ModelSpec:
    """The model of ``cfg``, checked at once (missing weights raise before any work); with no
    network, sets HF_HUB_OFFLINE for this process so nothing waits on hub retries."""
    pretrained = cfg.pretrained if cfg.pretrained is not None else default_pretrained(cfg.model)
    spec = resolve_model(cfg.model, pretrained)
    if spec.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    return spec


DECODE = Stage("decode", decode_videos, batch_size=None,  # one block of videos per call, streamed out
               # declaring the decode memory also keeps Ray Data from fusing decode into the model actors
               # (it fuses ops with equal resource requests), which would serialise decode and inference
               resources=Resources(cpus=1, memory=DECODE_TASK_MEMORY))


@dataclass(frozen=True)
class ActorPool:
    """The CLIP model actors: the pool autoscales between ``min_actors`` and ``max_actors`` (None: one per
    GPU the cluster can grow to, else 1); ``gpus`` per actor (None: 1 when the cluster has GPU node types)."""

    min_actors: int = 1
    max_actors: int | None = None
    cpus: float = 1.0
    gpus: float | None = None

    def resolve(self, capacity: dict[str, float]) -> "ActorPool":
        """Concrete sizes for a cluster that can grow to ``capacity``."""
        gpus = self.gpus if self.gpus is not None else (1.0 if capacity.get("GPU", 0) > 0 else 0.0)
        most = int(capacity.get("GPU", 0) // gpus) if gpus else 1
        max_actors = max(self.min_actors, self.max_actors or most or 1)
        return ActorPool(self.min_actors, max_actors, self.cpus, gpus)


def embed_stages(cfg: EmbedConfig, spec: ModelSpec, pool: ActorPool) -> list[Stage]:
    """Decode tasks (CPU) → model actors (GPU when ``pool.gpus``)."""
    decode = dataclasses.replace(DECODE, fn_kwargs=dict(pre=spec.preprocess, fps=cfg.sample_fps, every_n=cfg.every_n,
                                                        frames_per_block=cfg.frames_per_block, sample=cfg.sample))
    embed = Stage("embed", Embedder, Resources(cpus=pool.cpus, gpus=pool.gpus or 0.0), batch_size=cfg.batch_size,
                  constructor_kwargs={"spec": spec, "cpu_threads": max(1, int(pool.cpus))},
                  min_actors=pool.min_actors, max_actors=pool.max_actors or pool.min_actors, cpu_work=False)
    return [decode, embed]


def run_embed(cfg: EmbedConfig, videos: list[VideoItem], output, *, scale: Scale | None = None,
              pool: ActorPool | None = None, overwrite: bool = False, progress: Progress | None = None,
              spec: ModelSpec | None = None) -> EmbedSummary:
    """Embed ``videos`` into ``output`` (processed layout, ``wds/``, ``parquet/``); resumes per video.

    ``scale`` caps/decorates the decode tasks; ``pool`` sizes the model actors; ``spec``: the model as
    :func:`resolve_job_model` gave it (resolved here if not given, so missing weights fail first).
    """
    from vidray.capacity import cluster_capacity

    spec = spec or resolve_job_model(cfg)
    run = JobRun("embed", output, cfg.identity(spec.pretrained or "none"), overwrite=overwrite, scale=scale,
                 progress=progress, unit="videos", owned=("processed", "wds", "parquet", "errors.json"))
    summary = EmbedSummary(run.root, len(videos), pretrained=spec.pretrained_label)
    if spec.pretrained is None:
        log.warning("embed: --pretrained none: random weights, for tests and smoke runs only")

    # plan: the videos not embedded by an earlier run
    existing = processed_files(run)
    todo = [i for i, v in enumerate(videos) if not is_done(run, v, existing)]
    summary.reused = len(videos) - len(todo)
    run.progress.start(len(videos), resumed=summary.reused)

    # stream: decode → embed; the collector writes each video's sample once all its frames are back
    if todo:
        t0 = time.perf_counter()
        pool = (pool or ActorPool()).resolve(cluster_capacity())
        log.info("embed: %d videos, model actors %d..%d (%s)", len(todo), pool.min_actors, pool.max_actors,
                 "GPU" if pool.gpus else "CPU")
        items = [{"video": i, "path": videos[i].path} for i in todo]
        collector = _Collector(run, videos, cfg, spec, summary)
        calls: set[tuple[float, float]] = set()  # (start, end) of each model call; blocks may split a call
        # a few videos per decode task: it decodes them one after another (each streamed), which saves
        # per-task overhead on many short videos and still balances load
        for batch in run.stream(items, embed_stages(cfg, spec, pool),
                                rows_per_block=rows_per_block(len(items), run.scale, most=16)):
            collector.add(batch)
            calls.update(zip(batch["embed_start"].tolist(), batch["embed_end"].tolist()))
        if calls:
            summary.stream_seconds = max(e for _, e in calls) - min(s for s, _ in calls)
            summary.model_seconds = sum(e - s for s, e in calls)
        for v in todo:
            if v not in collector.finished:
                summary.errors[videos[v].name] = f"{videos[v].path}: not all frames came back from the model actors"
        summary.embed_seconds = time.perf_counter() - t0

    # finish: shards rebuilt from every finished sample, in a fixed order
    existing = processed_files(run)
    done = [v for v in videos if is_done(run, v, existing)]
    shards = plan_shards(build_samples(run.root, done), cfg.shard_size)
    write_webdataset(shards, storage.join(run.root, "wds"))
    write_parquet(shards, storage.join(run.root, "parquet"))
    storage.write_json(storage.join(run.root, "errors.json"), summary.errors)
    summary.shards = len(shards)
    summary.splits = {s: sum(1 for v in done if v.split == s) for s in ("train", "val", "test")}
    run.finish()
    summary.seconds = run.seconds
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
