"""Convert a class-folder video tree (``{split}/{class}/*.mp4``) into a VideoGPT-layout HDF5.

Decoding runs on Ray Data workers; the driver appends videos in sorted path order, so the
file is the same whatever the worker count. ``class_{d}`` folders get label ``d``; other
class names get their index in sorted order (stored in the ``class_names`` attribute).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidray.errors import InputError
from vidray.io.hdf5 import VideoH5Appender
from vidray.io.video import read_frames
from vidray.runtime import decode_task_options

log = logging.getLogger("vidray.synth")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class ConvertSummary:
    """What the converter wrote."""

    output: Path
    videos: dict[str, int]
    frames: dict[str, int]
    min_length: int
    seconds: float
    warnings: list[str]
    failed: list[str]

    def line(self) -> str:
        counts = ", ".join(f"{n} {s} videos ({self.frames[s]} frames)" for s, n in self.videos.items())
        skipped = f", {len(self.failed)} unreadable videos skipped" if self.failed else ""
        return f"to-hdf5: {counts} → {self.output}{skipped} in {self.seconds:.1f}s"


def find_videos(video_dir) -> tuple[list[dict], list[str]]:
    """List (split, label, path) of every video under ``video_dir`` in a deterministic order."""
    root = Path(video_dir)
    if not root.is_dir():
        raise InputError(root, "video directory does not exist")
    if (root / "videos").is_dir() and not any((root / s).is_dir() for s in SPLIT_NAMES):
        root = root / "videos"  # accept the output dir of `vidray synth videomnist` too
    split_dirs = [(s, root / s) for s in SPLIT_NAMES if (root / s).is_dir()] or [("train", root)]
    class_names = sorted({d.name for _, sd in split_dirs for d in sd.iterdir() if d.is_dir()})
    if not class_names:
        raise InputError(root, "holds no class folders (expected {split}/{class}/video.mp4)")
    labels = {name: _label_of(name, i) for i, name in enumerate(class_names)}
    items = []
    for split, split_dir in split_dirs:
        for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
            for path in sorted(class_dir.iterdir()):
                if path.suffix.lower() in VIDEO_EXTENSIONS:
                    items.append({"split": split, "label": labels[class_dir.name], "path": str(path)})
    if not items:
        raise InputError(root, f"holds no videos ({', '.join(VIDEO_EXTENSIONS)})")
    return items, class_names


def _label_of(name: str, index: int) -> int:
    match = re.fullmatch(r"class_(\d+)", name)
    return int(match.group(1)) if match else index


def decode_video_row(row: dict, *, gray: bool) -> dict:
    """Ray Data UDF: decode one video to uint8 [T,H,W(,3)]; a bad file gives an error row."""
    try:
        row["frames"] = read_frames(row["path"], gray=gray)
        row["error"] = ""
    except InputError as exc:
        row["frames"] = np.zeros((0, 1, 1) if gray else (0, 1, 1, 3), dtype=np.uint8)
        row["error"] = exc.reason
    return row


def convert_tree(video_dir, output, *, grayscale: bool = False, compression: str = "none",
                 videogpt_sequence_length: int = 16, workers: int | None = None) -> ConvertSummary:
    """Decode every video under ``video_dir`` and write ``output`` (HDF5, atomically)."""
    import ray

    start = time.perf_counter()
    items, class_names = find_videos(video_dir)
    concurrency = workers or max(1, int(ray.available_resources().get("CPU", 1)))
    ctx = ray.data.DataContext.get_current()
    previous_order = ctx.execution_options.preserve_order
    ctx.execution_options.preserve_order = True
    writer = None
    videos, frames, min_length, failed = {}, {}, None, []
    try:
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), 4 * concurrency))
        ds = ds.map(decode_video_row, fn_kwargs={"gray": grayscale},
                    compute=ray.data.TaskPoolStrategy(size=concurrency), **decode_task_options())
        for row in ds.iter_rows():
            clip = row["frames"]
            if row["error"]:
                failed.append(f"{row['path']}: {row['error']}")
                continue
            if writer is None:
                writer = VideoH5Appender(output, clip.shape[1:], compression=compression,
                                         attrs={"class_names": class_names, "source": str(video_dir)})
            if tuple(clip.shape[1:]) != writer.frame_shape:
                failed.append(f"{row['path']}: frame size {clip.shape[1:]} differs from the first video's "
                              f"{writer.frame_shape}")
                continue
            writer.append(row["split"], clip, row["label"])
            videos[row["split"]] = videos.get(row["split"], 0) + 1
            frames[row["split"]] = frames.get(row["split"], 0) + len(clip)
            min_length = len(clip) if min_length is None else min(min_length, len(clip))
        if writer is None:
            raise InputError(video_dir, "no video could be decoded: " + "; ".join(failed[:5]))
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        ctx.execution_options.preserve_order = previous_order
    warnings = [f"skipped {f}" for f in failed]
    if min_length <= videogpt_sequence_length:
        warnings.append(f"the shortest video has {min_length} frames, not more than VideoGPT's sequence_length="
                        f"{videogpt_sequence_length}: train VideoGPT with --sequence_length {max(1, min_length - 1)} "
                        "or lower, or use longer videos")
    for message in warnings:
        log.warning(message)
    return ConvertSummary(Path(output), videos, frames, min_length, time.perf_counter() - start, warnings, failed)
