"""Convert a class-folder video tree (``{split}/{class}/*.mp4``) into an HDF5 in VideoGPT's layout (``[N,H,W,3]``;
grayscale ``[N,H,W]`` is the compact layout VideoGPT cannot read).

Decoding runs on Ray Data workers; the driver appends videos in sorted path order, so the
file is the same whatever the worker count. ``class_{d}`` folders get label ``d``; other
class names get their index in sorted order (stored in the ``class_names`` attribute).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidray.errors import InputError
from vidray.io import storage
from vidray.io.hdf5 import VideoH5Appender
from vidray.io.video import VIDEO_SUFFIXES, read_frames
from vidray.progress import Progress
from vidray.stage import Resources, Scale, Stage, stream

log = logging.getLogger("vidray.synth")
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class ConvertSummary:
    """What the converter wrote."""

    output: Path | str
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
    """List (split, label, path) of every video under ``video_dir`` (a local folder or a URI prefix) in a
    deterministic order: ``{split}/{class}/video`` or ``{class}/video`` (all train)."""
    root = video_dir if storage.is_uri(video_dir) else Path(video_dir).expanduser().absolute()
    if storage.local_path(root) is not None and not Path(storage.local_path(root)).is_dir():
        raise InputError(root, "video directory does not exist")
    base = str(root).rstrip("/")
    rel = [r for r in (f[len(base) + 1:].split("/") for f in storage.list_files(root))
           if Path(r[-1]).suffix.lower() in VIDEO_SUFFIXES and not any(p.startswith(".") for p in r)]
    if any(r[0] == "videos" for r in rel) and not any(r[0] in SPLIT_NAMES for r in rel):
        base, rel = base + "/videos", [r[1:] for r in rel if r[0] == "videos"]  # a `vidray synth videomnist` output
    has_splits = any(r[0] in SPLIT_NAMES and len(r) >= 2 for r in rel)
    entries = []  # (split, class, path) of files exactly {split}/{class}/name or {class}/name
    for r in rel:
        if has_splits and len(r) == 3 and r[0] in SPLIT_NAMES:
            entries.append((r[0], r[1], r[2]))
        elif not has_splits and len(r) == 2:
            entries.append(("train", r[0], r[1]))
    class_names = sorted({c for _, c, _ in entries})
    if not class_names:
        raise InputError(root, f"holds no videos ({', '.join(VIDEO_SUFFIXES)}) in class folders "
                               "(expected {split}/{class}/video.mp4 or {class}/video.mp4)")
    labels = {name: _label_of(name, i) for i, name in enumerate(class_names)}
    order = {s: i for i, s in enumerate(SPLIT_NAMES)}
    items = [{"split": split, "label": labels[cls], "path": storage.join(base, *parts)}
             for split, cls, name in sorted(entries, key=lambda e: (order[e[0]], e[1], e[2]))
             for parts in [(split, cls, name) if has_splits else (cls, name)]]
    return items, class_names


def _label_of(name: str, index: int) -> int:
    match = re.fullmatch(r"class_(\d+)", name)
    return int(match.group(1)) if match else index


def decode_video(batch: dict, *, gray: bool) -> dict:
    """Ray Data UDF over one-row batches: decode the video to uint8 [1,T,H,W(,3)]; a bad file gives an
    empty clip and its ``error``."""
    path = str(batch["path"][0])
    try:
        frames, error = read_frames(path, gray=gray), ""
    except InputError as exc:
        frames, error = np.zeros((0, 1, 1) if gray else (0, 1, 1, 3), dtype=np.uint8), exc.reason
    return {**batch, "frames": frames[None], "error": np.array([error], dtype=object)}


DECODE = Stage("decode", decode_video, Resources(cpus=1), batch_size=1)


def convert_tree(video_dir, output, *, grayscale: bool = False, compression: str = "none",
                 videogpt_sequence_length: int = 16, scale: Scale | None = None,
                 progress: Progress | None = None) -> ConvertSummary:
    """Decode every video under ``video_dir`` and write ``output`` (HDF5, atomically, in sorted path order;
    either may be a URI: the file is written locally and uploaded whole)."""
    start = time.perf_counter()
    items, class_names = find_videos(video_dir)
    progress = progress or Progress("to-hdf5", "videos", quiet=True)
    progress.start(len(items))
    stage = dataclasses.replace(DECODE, fn_kwargs={"gray": grayscale})
    writer = None
    videos, frames, min_length, failed = {}, {}, None, []
    try:
        for batch in stream(items, [stage], scale or Scale(), ordered=True):
            row = {k: v[0] for k, v in batch.items()}
            clip = row["frames"]
            if row["error"]:
                failed.append(f"{row['path']}: {row['error']}")
                progress.add(failed=1)
                continue
            if writer is None:
                writer = VideoH5Appender(output, clip.shape[1:], compression=compression,
                                         attrs={"class_names": class_names, "source": str(video_dir)})
            if tuple(clip.shape[1:]) != writer.frame_shape:
                failed.append(f"{row['path']}: frame size {clip.shape[1:]} differs from the first video's "
                              f"{writer.frame_shape}")
                progress.add(failed=1)
                continue
            writer.append(str(row["split"]), clip, int(row["label"]))
            videos[str(row["split"])] = videos.get(str(row["split"]), 0) + 1
            frames[str(row["split"])] = frames.get(str(row["split"]), 0) + len(clip)
            min_length = len(clip) if min_length is None else min(min_length, len(clip))
            progress.add(ok=1)
        if writer is None:
            raise InputError(video_dir, "no video could be decoded: " + "; ".join(failed[:5]))
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        progress.close()
    warnings = [f"skipped {f}" for f in failed]
    if min_length <= videogpt_sequence_length:
        warnings.append(f"the shortest video has {min_length} frames, not more than VideoGPT's sequence_length="
                        f"{videogpt_sequence_length}: train VideoGPT with --sequence_length {max(1, min_length - 1)} "
                        "or lower, or use longer videos")
    if grayscale:
        warnings.append("grayscale [N,H,W] frames: VideoGPT's loader cannot read them (it needs [N,H,W,3])")
    for message in warnings:
        log.warning(message)
    output = output if storage.is_uri(output) else Path(output)
    return ConvertSummary(output, videos, frames, min_length, time.perf_counter() - start, warnings, failed)
