"""The synthetic dataset jobs on Ray Data: plan → render (+ encode MP4) in workers → driver
assembles HDF5 / NumPy outputs and the resume manifest.

Rendering is deterministic and cheap, so a rerun re-renders every item for the HDF5 but
re-encodes only MP4s the manifest does not list; a finished output is not touched again.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from vidray.config import to_dict
from vidray.io import storage
from vidray.io.atomic import reserve
from vidray.io.hdf5 import VideoH5Writer
from vidray.io.video import write_mp4
from vidray.progress import Progress
from vidray.run import JobRun
from vidray.stage import Resources, Scale, Stage, rows_per_block
from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
from vidray.synth.digits import load_digits
from vidray.synth.plan import SPLIT_CODES, plan_moving_mnist, plan_videomnist, videomnist_split_size
from vidray.synth.render import render_videos

log = logging.getLogger("vidray.synth")


@dataclass
class SynthSummary:
    """What a synthetic job did: counts per split, files written, timings, warnings."""

    job: str
    output: Path
    videos: dict[str, int]
    encoded: int = 0
    reused: int = 0
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    already_complete: bool = False

    def line(self) -> str:
        """A one-line summary for the CLI."""
        counts = ", ".join(f"{n} {s}" for s, n in self.videos.items())
        state = "already complete, nothing to do" if self.already_complete else (
            f"{self.encoded} MP4 encoded, {self.reused} reused")
        return f"{self.job}: {counts} videos → {self.output} ({state}) in {self.seconds:.1f}s"


def render_and_encode(batch: dict, *, canvas_size: int, output: str, fps: int, crf: int,
                      return_frames: bool) -> dict:
    """Ray Data UDF: render a batch of items, encode those flagged ``encode``; small rows out."""
    frames = render_videos(batch["sprites"], batch["positions"], canvas_size)
    encoded = np.zeros(len(frames), dtype=bool)
    for j, flag in enumerate(batch.get("encode", ())):
        if flag:
            write_mp4(storage.join(output, str(batch["path"][j])), frames[j], fps=fps, crf=crf)
            encoded[j] = True
    out = {name: batch[name] for name in ("key", "split", "index", "labels", "motion", "path")}
    out["encoded"] = encoded
    if return_frames:
        out["frames"] = frames
    return out


RENDER = Stage("render", render_and_encode, Resources(cpus=1), batch_size=None)  # one block per task


def _render(run: JobRun, items: list[dict], *, canvas_size: int, fps: int = 10, crf: int = 17,
            return_frames: bool) -> Iterator[dict]:
    """Stream ``items`` through the render/encode stage; yields each finished batch."""
    stage = dataclasses.replace(RENDER, fn_kwargs=dict(canvas_size=canvas_size, output=str(run.root), fps=fps,
                                                       crf=crf, return_frames=return_frames))
    return run.stream(items, [stage], rows_per_block=rows_per_block(len(items), run.scale))


def run_videomnist(cfg: VideoMNISTConfig, output, *, scale: Scale | None = None, write_hdf5: bool = True,
                   overwrite: bool = False, progress: Progress | None = None) -> SynthSummary:
    """Generate VideoMNIST into ``output``: MP4 tree and ``hdf5/videomnist.h5``; resumes."""
    run = JobRun("videomnist", output, to_dict(cfg), owned=("videos", "hdf5"), overwrite=overwrite, scale=scale,
                 progress=progress, unit="videos")
    h5_path = storage.join(run.root, "hdf5", "videomnist.h5")
    sizes = {split: videomnist_split_size(cfg, split) for split in SPLIT_CODES}
    summary = SynthSummary("videomnist", run.root, sizes, warnings=videogpt_warnings(cfg))
    for message in summary.warnings:
        log.warning(message)
    if run.already_complete and (storage.exists(h5_path) or not write_hdf5):
        summary.already_complete = True
        summary.seconds = run.seconds
        run.release()
        return summary

    # plan: every item, flagged for encoding unless an earlier run recorded its MP4
    digits = {split: load_digits(split, cfg.mnist_dir) for split in SPLIT_CODES if sizes[split]}
    items = plan_videomnist(cfg, digits)
    on_storage = set(storage.list_files(storage.join(run.root, "videos")))  # one listing, not one request each
    for item in items:
        item["encode"] = cfg.write_mp4 and not (item["key"] in run.record
                                                and storage.join(run.root, item["path"]) in on_storage)
    summary.reused = sum(1 for it in items if cfg.write_mp4 and not it["encode"])
    wanted_h5 = write_hdf5 and not storage.exists(h5_path)
    if not wanted_h5:  # rendering is only needed for the MP4s still missing
        items = [it for it in items if it["encode"]]
    writer = None
    if wanted_h5:
        layout = {s: (n, cfg.sequence_length, 1) for s, n in sizes.items()}
        writer = VideoH5Writer(h5_path, layout, cfg.image_size, rgb=not cfg.grayscale,
                               compression=cfg.h5_compression, attrs={"vidray_config": to_dict(cfg)})
        motions = {s: np.zeros(n, dtype=np.uint8) for s, n in sizes.items()}

    # stream: render (+ encode) in workers; the driver fills the HDF5 and records finished MP4s
    run.progress.start(len(items))
    try:
        for batch in _render(run, items, canvas_size=cfg.image_size, fps=cfg.fps, crf=cfg.crf,
                             return_frames=writer is not None):
            records = []
            for j, key in enumerate(batch["key"]):
                split, index = str(batch["split"][j]), int(batch["index"][j])
                if writer is not None:
                    writer.put(split, index, batch["frames"][j], batch["labels"][j])
                    motions[split][index] = cfg.motion_types.index(str(batch["motion"][j]))
                if batch["encoded"][j]:
                    records.append({"key": str(key), "path": str(batch["path"][j]),
                                    "label": int(batch["labels"][j][0]), "motion": str(batch["motion"][j])})
            run.record.append(records)
            summary.encoded += len(records)
            run.progress.add(ok=len(batch["key"]))
        if writer is not None:
            for split, codes in motions.items():
                writer.put_extra(f"{split}_motion", codes, names=list(cfg.motion_types))
            writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise

    # finish
    if write_hdf5:
        summary.files.append(h5_path)
    if cfg.write_mp4:
        summary.files.append(storage.join(run.root, "videos"))
    run.finish()
    summary.seconds = run.seconds
    return summary


def run_moving_mnist(cfg: MovingMNISTConfig, output, *, scale: Scale | None = None, overwrite: bool = False,
                     progress: Progress | None = None) -> SynthSummary:
    """Generate classic Moving MNIST: ``moving_mnist.npy`` [T,N,64,64] (train), ``moving_mnist_test.npy``
    and ``moving_mnist.h5`` (VideoGPT layout unless grayscale, labels = the digits of each sequence).

    Rendering is cheap and deterministic, so an interrupted run renders again; only whole files count.
    """
    run = JobRun("moving-mnist", output, to_dict(cfg), overwrite=overwrite, scale=scale, progress=progress,
                 owned=("moving_mnist.npy", "moving_mnist_test.npy", "moving_mnist.h5"), unit="sequences")
    sizes = {"train": cfg.num_sequences, "test": cfg.test_sequences}
    npy_paths = {"train": storage.join(run.root, "moving_mnist.npy"),
                 "test": storage.join(run.root, "moving_mnist_test.npy")}
    h5_path = storage.join(run.root, "moving_mnist.h5")
    summary = SynthSummary("moving-mnist", run.root, sizes)
    summary.files = [npy_paths["train"]] + ([npy_paths["test"]] if sizes["test"] else []) + [h5_path]
    if run.already_complete and all(storage.exists(p) for p in summary.files):
        summary.already_complete = True
        summary.seconds = run.seconds
        run.release()
        return summary

    # plan, and open the outputs as temp files
    digits = {split: load_digits(split, cfg.mnist_dir) for split, n in sizes.items() if n}
    items = plan_moving_mnist(cfg, digits)
    shape = (cfg.sequence_length, cfg.image_size, cfg.image_size)
    arrays, pending = {}, {}
    try:
        for split, n in sizes.items():
            if n:
                pending[split] = storage.PendingFile(npy_paths[split], ".npy")
                arrays[split] = np.lib.format.open_memmap(pending[split].tmp, mode="w+", dtype=np.uint8,
                                                          shape=(shape[0], n) + shape[1:])
                reserve(pending[split].tmp)  # a full disk is an OSError here, not a SIGBUS mid-write
    except BaseException:
        arrays.clear()
        for file in pending.values():
            file.discard()
        raise
    layout = {s: (n, cfg.sequence_length, cfg.num_digits) for s, n in sizes.items() if n}
    writer = VideoH5Writer(h5_path, layout, cfg.image_size, rgb=not cfg.grayscale,
                           compression=cfg.h5_compression, attrs={"vidray_config": to_dict(cfg)})

    # stream: render in workers, the driver writes each sequence into the arrays and the HDF5
    run.progress.start(len(items))
    try:
        for batch in _render(run, items, canvas_size=cfg.image_size, return_frames=True):
            for j in range(len(batch["key"])):
                split, index = str(batch["split"][j]), int(batch["index"][j])
                arrays[split][:, index] = batch["frames"][j]
                writer.put(split, index, batch["frames"][j], batch["labels"][j])
            run.progress.add(ok=len(batch["key"]))
        for split, array in arrays.items():
            array.flush()
            del array
            pending[split].publish()
        arrays.clear()
        writer.commit()
    except BaseException:
        writer.abort()
        for file in pending.values():
            file.discard()
        raise
    run.finish()
    summary.seconds = run.seconds
    return summary


def videogpt_warnings(cfg: VideoMNISTConfig) -> list[str]:
    """Warn when VideoGPT's HDF5Dataset cannot load the output: videos not longer than its sequence length,
    or grayscale ``[N,H,W]`` frames (its loader needs ``[N,H,W,3]``)."""
    warnings = []
    if cfg.sequence_length <= cfg.videogpt_sequence_length:
        warnings.append(
            f"videos have {cfg.sequence_length} frames, not more than VideoGPT's sequence_length="
            f"{cfg.videogpt_sequence_length}: its HDF5Dataset samples windows only from videos longer than "
            f"sequence_length, so train VideoGPT with --sequence_length {cfg.sequence_length - 1} or lower, "
            f"or generate with --sequence-length {cfg.videogpt_sequence_length + 1} or more")
    if cfg.grayscale:
        warnings.append("--grayscale writes [N,H,W] frames, which VideoGPT's loader cannot read (it needs "
                        "[N,H,W,3]): leave out --grayscale for VideoGPT")
    return warnings
