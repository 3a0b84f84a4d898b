"""HDF5 in the VideoGPT layout: ``{split}_data`` frames of all videos concatenated,
``{split}_idx`` start frame of each video, ``{split}_labels`` one label row per video.

Frames are uint8 ``[N,H,W,3]`` (what VideoGPT's HDF5Dataset and VQ-VAE expect) or
``[N,H,W]`` (grayscale). The file is built under a temp name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

from vidray.io import storage

COMPRESSION = {"none": {}, "gzip": {"compression": "gzip", "compression_opts": 4}, "lzf": {"compression": "lzf"}}


def set_attrs(obj, attrs: dict) -> None:
    """Store attributes readably: scalars as is, lists of strings as string arrays, the rest as JSON."""
    for key, value in attrs.items():
        if isinstance(value, (str, int, float)):
            obj.attrs[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            obj.attrs[key] = np.array(value, dtype=h5py.string_dtype())
        else:
            obj.attrs[key] = json.dumps(value)


class VideoH5Writer:
    """Write videos of a known count and length per split into one HDF5 file, in any order.

    ``layout`` maps split → (num_videos, frames_per_video, label_width). Call :meth:`put`
    once per video (any order), then :meth:`commit` to publish the file atomically.
    """

    def __init__(self, path, layout: dict[str, tuple[int, int, int]], frame_size: int,
                 rgb: bool = True, compression: str = "none", attrs: dict | None = None):
        self.path = path
        self.pending = storage.PendingFile(path, ".h5")  # local: renamed into place; object store: uploaded
        self.tmp = self.pending.tmp
        self.rgb = rgb
        self.lengths = {split: frames for split, (_, frames, _) in layout.items()}
        self.file, self.guard = _open(self.tmp)
        pixel_shape = (frame_size, frame_size, 3) if rgb else (frame_size, frame_size)
        for split, (videos, frames, label_width) in layout.items():
            total = videos * frames
            chunk = (max(1, frames),) + pixel_shape
            self.file.create_dataset(f"{split}_data", shape=(total,) + pixel_shape, dtype=np.uint8,
                                     chunks=chunk if total else None, **COMPRESSION[compression])
            self.file.create_dataset(f"{split}_idx", data=np.arange(videos, dtype=np.int64) * frames)
            label_shape = (videos,) if label_width == 1 else (videos, label_width)
            self.file.create_dataset(f"{split}_labels", shape=label_shape, dtype=np.int64)
        self.file.attrs["layout"] = "NHWC" if rgb else "NHW"
        set_attrs(self.file, attrs or {})

    def put(self, split: str, index: int, frames: np.ndarray, labels: np.ndarray) -> None:
        """Store video ``index`` of ``split``: frames uint8 [T,H,W] gray (expanded if rgb)."""
        length = self.lengths[split]
        if frames.shape[0] != length:
            raise ValueError(f"{split} video {index} has {frames.shape[0]} frames, expected {length}")
        if self.rgb:
            frames = np.repeat(frames[..., None], 3, axis=-1)
        self._dataset(f"{split}_data")[index * length:(index + 1) * length] = frames
        labels = np.asarray(labels)
        self._dataset(f"{split}_labels")[index] = labels[0] if labels.size == 1 else labels
        self.guard.check()

    def _dataset(self, name: str):
        """One handle per dataset for the file's life: a handle freed after each write would flush its chunk
        cache on the way out, where a failed write (a full disk) can only be printed, not raised."""
        handles = self.__dict__.setdefault("_handles", {})
        if name not in handles:
            handles[name] = self.file[name]
        return handles[name]

    def put_extra(self, name: str, data: np.ndarray, **attrs) -> None:
        """Add an extra dataset (e.g. per-video motion codes) with attributes."""
        set_attrs(self.file.create_dataset(name, data=data), attrs)

    def commit(self):
        """Close the file and publish it whole."""
        _close(self)
        return self.pending.publish()

    def abort(self) -> None:
        """Close and delete the unfinished file (a close that fails, e.g. on a full disk, changes nothing)."""
        try:
            _drop_quietly(self)
        finally:
            self.pending.discard()


class WriteGuard:
    """The file HDF5 writes through (h5py's file-object driver). The first failed write (a full disk) is
    kept for vidray to raise, and HDF5 is told that it and every later write succeeded: HDF5 2.0 crashes
    the process (SIGSEGV, at close or at exit) once a flush of an open file has failed."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "w+b")
        self.error: OSError | None = None

    def _guarded(self, call, *args, default=None):
        if self.error is None:
            try:
                return call(*args)
            except OSError as exc:
                self.error = exc
        return default

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        written = self._guarded(self.file.write, data, default=size)
        return size if written is None else written

    def flush(self) -> None:
        self._guarded(self.file.flush)

    def truncate(self, size=None) -> int:
        return self._guarded(self.file.truncate, size, default=size or 0)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def readinto(self, buffer) -> int:
        return self.file.readinto(buffer)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def check(self) -> None:
        """Raise the failed write, naming the file."""
        if self.error is not None:
            raise OSError(self.error.errno, self.error.strerror, str(self.path)) from self.error

    def close(self) -> None:
        if not self.file.closed:
            self._guarded(self.file.flush)
            self._guarded(os.fsync, self.file.fileno())  # recorded as done only once it is on disk
            self.file.close()


def _open(tmp: Path) -> tuple[h5py.File, WriteGuard]:
    guard = WriteGuard(tmp)
    return h5py.File(guard, "w"), guard


def _drop_quietly(writer) -> None:
    """Close a writer's HDF5 file that is being discarded, whatever state a failed write left it in."""
    with contextlib.suppress(Exception):
        writer.file.close()
    with contextlib.suppress(Exception):
        writer.guard.close()


def _close(writer) -> None:
    """Close an HDF5 file being written and its file; a failed write anywhere is raised as the OSError it is."""
    writer.file.close()
    writer.guard.close()
    writer.guard.check()


def read_split(path, split: str) -> dict[str, np.ndarray]:
    """Load ``{split}_data/_idx/_labels`` of a VideoGPT-layout file into memory."""
    with h5py.File(path, "r") as f:
        return {name: f[f"{split}_{name}"][()] for name in ("data", "idx", "labels")}


class VideoH5Appender:
    """Append videos of any length, split by split, in order (for converting a video tree)."""

    def __init__(self, path, frame_shape: tuple[int, ...], compression: str = "none", attrs: dict | None = None):
        self.path = path
        self.pending = storage.PendingFile(path, ".h5")
        self.tmp = self.pending.tmp
        self.frame_shape = tuple(frame_shape)
        self.compression = compression
        self.file, self.guard = _open(self.tmp)
        self.starts: dict[str, list[int]] = {}
        self.labels: dict[str, list[int]] = {}
        self._handles: dict = {}  # one handle per dataset (see VideoH5Writer._dataset)
        self.file.attrs["layout"] = "NHWC" if len(self.frame_shape) == 3 else "NHW"
        set_attrs(self.file, attrs or {})

    def append(self, split: str, frames: np.ndarray, label: int) -> None:
        """Add one video (uint8 [T, *frame_shape]) to the end of ``split``."""
        if tuple(frames.shape[1:]) != self.frame_shape:
            raise ValueError(f"frames {frames.shape[1:]} differ from the file's frame shape {self.frame_shape}")
        name = f"{split}_data"
        if name not in self.file:
            self.file.create_dataset(name, shape=(0,) + self.frame_shape, maxshape=(None,) + self.frame_shape,
                                     dtype=np.uint8, chunks=(16,) + self.frame_shape, **COMPRESSION[self.compression])
            self.starts[split], self.labels[split] = [], []
        data = self._handles.setdefault(name, self.file[name])
        start = data.shape[0]
        data.resize(start + len(frames), axis=0)
        data[start:] = frames
        self.starts[split].append(start)
        self.labels[split].append(int(label))
        self.guard.check()

    def commit(self) -> Path:
        """Write the idx/labels datasets, close and rename into place."""
        for split in self.starts:
            self.file.create_dataset(f"{split}_idx", data=np.asarray(self.starts[split], dtype=np.int64))
            self.file.create_dataset(f"{split}_labels", data=np.asarray(self.labels[split], dtype=np.int64))
        _close(self)
        return self.pending.publish()

    def abort(self) -> None:
        """Close and delete the unfinished file (a close that fails, e.g. on a full disk, changes nothing)."""
        try:
            _drop_quietly(self)
        finally:
            self.pending.discard()
