"""Training data as torch Datasets: clips from the synth outputs / video folders, fresh Moving MNIST
sequences per epoch, and the pure decode + crop of VSR patch pairs.

Torch map-style Datasets (not Ray Data) for the synthetic sets: they are small enough to sit on shared
storage and be read at random, and a ``DistributedSampler`` gives ranks disjoint samples, reshuffled each
epoch. VSR training at scale reads its pairs through Ray Data instead (:mod:`vidray.train.feed`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import Dataset, IterableDataset

from vidray.errors import InputError
from vidray.io import storage
from vidray.io.video import VIDEO_SUFFIXES
from vidray.train.patch_index import sample_id
from vidray.train.patch_pairs import PAIR_MEMBERS, crop_patch_pair, decode_patch_pair, read_tar_members

SYNTHETIC_MOVING_MNIST = "synthetic:moving-mnist"


def to_float_clip(frames: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 [T,H,W] or [T,H,W,C] -> float [T,channels,H,W] in [0,1] (RGB→gray by mean, gray→RGB by repeat)."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    if x.dim() == 3:
        x = x.unsqueeze(-1)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[1] != channels:
        x = x.mean(dim=1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1).contiguous()
    return x


class ClipDataset(Dataset):
    """Fixed-length clips ``float [length, channels, H, W]`` cut from videos ``uint8 [N][T,H,W(,C)]``.

    Each video gives its first ``length`` frames (one clip per video, as OpenSTL does for Moving
    MNIST); item i also returns its index so that sharding can be checked.
    """

    def __init__(self, videos, length: int, channels: int, source: str):
        self.videos, self.length, self.channels = videos, length, channels
        short = [i for i in range(len(videos)) if len(videos[i]) < length]
        if short:
            raise InputError(source, f"{len(short)} of {len(videos)} videos have fewer than {length} frames "
                                     f"(first: #{short[0]} with {len(videos[short[0]])}); this model needs clips "
                                     f"of {length}")

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int):
        return to_float_clip(np.asarray(self.videos[i][: self.length]), self.channels), i


class _H5Videos:
    """Videos of one split of a VideoGPT-layout HDF5 (``{split}_data`` + ``{split}_idx``), opened lazily
    per process so the Dataset pickles to workers."""

    def __init__(self, path: Path, split: str):
        import h5py

        self.path, self.split = path, split
        with h5py.File(path, "r") as f:
            if f"{split}_data" not in f:
                raise InputError(path, f"has no {split}_data dataset (not a VideoGPT-layout HDF5)")
            idx = f[f"{split}_idx"][()].astype(np.int64)
            total = len(f[f"{split}_data"])
        self.bounds = list(zip(idx, np.append(idx[1:], total)))
        self._file = None

    def __len__(self) -> int:
        return len(self.bounds)

    def __getitem__(self, i: int) -> np.ndarray:
        import h5py

        if self._file is None:
            self._file = h5py.File(self.path, "r")
        start, end = self.bounds[i]
        return self._file[f"{self.split}_data"][start:end]

    def __getstate__(self):
        return {**self.__dict__, "_file": None}


class _Subset:
    """Indexable view of ``videos`` at ``indices``."""

    def __init__(self, videos, indices):
        self.videos, self.indices = videos, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.videos[self.indices[i]]


def _limit(videos, n: int | None):
    return videos if n is None or n >= len(videos) else _Subset(videos, range(n))


def video_splits(data: str, val_fraction: float) -> tuple[object, object]:
    """(train videos, val videos) from a synth output, an .npy/.h5 file or a folder of videos, local or a
    URI (objects that must be files, .npy and .h5, are copied once into the node's cache).

    Moving MNIST ``[T,N,H,W]`` npy files are memory-mapped; val = the test split where the data
    has one, else the last ``val_fraction`` of the videos.
    """
    where = storage.kind(data)
    if where is None:
        raise InputError(data, "training data does not exist")
    if where == "directory":
        names = set(storage.list_names(data))
        if "moving_mnist.npy" in names:
            train = load_npy(storage.join(data, "moving_mnist.npy"))
            val = None
            if "moving_mnist_test.npy" in names:
                val = load_npy(storage.join(data, "moving_mnist_test.npy"))
            return _with_val(train.swapaxes(0, 1), None if val is None else val.swapaxes(0, 1), val_fraction)
        for h5 in (storage.join(data, "hdf5", "videomnist.h5"), storage.join(data, "videomnist.h5")):
            if storage.kind(h5) == "file":
                return video_splits(h5, val_fraction)
        return _video_folder(data, val_fraction)
    suffix = Path(str(data)).suffix.lower()
    if suffix == ".npy":
        return _with_val(load_npy(data).swapaxes(0, 1), None, val_fraction)
    if suffix in (".h5", ".hdf5"):
        import h5py

        path = storage.cached_copy(data)
        try:
            with h5py.File(path, "r") as f:
                has_test = "test_data" in f and len(f["test_idx"]) > 0
        except OSError as exc:
            raise InputError(data, f"is not a readable HDF5 file ({str(exc).splitlines()[0]})") from exc
        return _with_val(_H5Videos(path, "train"), _H5Videos(path, "test") if has_test else None, val_fraction)
    raise InputError(data, "unknown training data: expected a synth output dir, .npy, .h5 or a folder of videos")


def load_npy(location) -> np.ndarray:
    """A Moving MNIST ``[T,N,H,W]`` uint8 array, memory-mapped (objects copied once into the node cache); a
    file that is empty, truncated, not an .npy or of another shape is an :class:`InputError` saying so."""
    try:
        arr = np.load(storage.cached_copy(location), mmap_mode="r")
    except (ValueError, EOFError, OSError) as exc:
        raise InputError(location, f"is not a readable .npy array ({exc.__class__.__name__}: {exc}); regenerate "
                                   "it with `vidray synth moving-mnist`") from exc
    if arr.ndim != 4 or arr.shape[1] == 0 or arr.shape[0] == 0:
        raise InputError(location, f"expected a non-empty [T,N,H,W] Moving MNIST array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise InputError(location, f"expected uint8 frames, got {arr.dtype}")
    return arr


def _with_val(train, val, val_fraction: float):
    if val is not None:
        return train, val
    n_val = int(round(len(train) * val_fraction))
    n_train = len(train) - n_val
    return _Subset(train, range(n_train)), _Subset(train, range(n_train, len(train)))


def _video_folder(root, val_fraction: float):
    """A folder / prefix of videos (any depth); ``train/`` and ``test/`` subfolders are used as splits when present."""
    from vidray.io.video import read_frames

    base = str(root).rstrip("/")
    files = [f for f in storage.list_files(root) if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    rel = [f[len(base) + 1:].split("/") for f in files]
    if any(r[0] == "videos" for r in rel):  # a `vidray synth videomnist` output
        files, rel = [f for f, r in zip(files, rel) if r[0] == "videos"], [r[1:] for r in rel if r[0] == "videos"]
    if not files:
        raise InputError(root, f"holds no videos ({', '.join(VIDEO_SUFFIXES)})")
    split = {name: [read_frames(f) for f, r in zip(files, rel) if len(r) > 1 and r[0] == name]
             for name in ("train", "test")}
    if split["train"]:
        return _with_val(split["train"], split["test"] or None, val_fraction)
    if any(len(r) > 1 and r[0] == "train" for r in rel) or not any(r[0] != "test" for r in rel):
        raise InputError(storage.join(root, "train"), "holds no videos")
    return _with_val([read_frames(f) for f in files], None, val_fraction)


class FreshMovingMNIST(IterableDataset):
    """New Moving MNIST sequences every epoch (OpenSTL's on-the-fly mode), disjoint across ranks.

    Yields ``(float [T,1,64,64], index)``; sequence k of (epoch, rank) is drawn from seed
    ``(seed, epoch, rank)``, rendered in chunks so memory stays at ``chunk`` sequences.
    """

    def __init__(self, samples_per_epoch: int, length: int, seed: int, chunk: int = 256):
        self.samples_per_epoch, self.length, self.seed, self.chunk = samples_per_epoch, length, seed, chunk
        self.epoch, self.rank, self.world = 0, 0, 1
        self._digits = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(range(self.rank, self.samples_per_epoch, self.world))

    def __iter__(self):
        from vidray.synth.config import MovingMNISTConfig
        from vidray.synth.digits import load_digits
        from vidray.synth.plan import plan_moving_mnist
        from vidray.synth.render import render_videos

        if self._digits is None:
            self._digits = {"train": load_digits("train")}
        mine = list(range(self.rank, self.samples_per_epoch, self.world))
        # a seed per epoch; item k of the plan below is global sample mine[k] of this epoch
        epoch_seed = (self.seed * 1_000_003 + self.epoch + 1) % (2**31)
        cfg = MovingMNISTConfig(num_sequences=self.samples_per_epoch, test_sequences=0, seed=epoch_seed,
                                sequence_length=self.length)
        plan = plan_moving_mnist(cfg, self._digits)
        for start in range(0, len(mine), self.chunk):
            items = [plan[k] for k in mine[start:start + self.chunk]]
            frames = render_videos(np.stack([it["sprites"] for it in items]),
                                   np.stack([it["positions"] for it in items]), cfg.image_size)
            for it, clip in zip(items, frames):
                yield to_float_clip(clip, 1), it["index"]


class PatchPairs(Dataset):
    """VSR pairs of a :class:`~vidray.train.patch_index.PatchSelection` split, read on this process:
    ``((lr float [5,3,c/3,c/3], gt float [3,c,c]), id)``. For the driver-side readers (predictions GIF,
    ``vidray evaluate``, the check of the first sample); training reads the same rows through Ray Data
    (:mod:`vidray.train.feed`).

    A random aligned crop of ``crop`` GT pixels per item for training (re-drawn each epoch), the centre
    crop for validation. From shards, the first access to a tar reads it from its start (one stream) up to
    the last sample these rows want from it, and keeps those samples until another tar is needed.
    """

    def __init__(self, selection, rows, crop: int, train: bool, seed: int):
        self.root, self.source = selection.root, selection.source
        self.rows = rows.to_pylist() if hasattr(rows, "to_pylist") else list(rows)
        self.crop, self.train, self.seed, self.epoch = crop, train, seed, 0
        self._wanted: dict[str, set[str]] = {}  # shard → the members these rows need from it
        for row in self.rows if self.source == "shards" else ():
            self._wanted.setdefault(row["shard"], set()).update(f"{row['shard_key']}.{m}" for m in PAIR_MEMBERS)
        self._cached: tuple[str | None, dict[str, bytes]] = (None, {})

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        row = self.rows[i]
        gt_png, lr_png, name = self._read(row)
        gt, lr = decode_patch_pair(gt_png, lr_png, name)
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        lr, gt = crop_patch_pair(gt, lr, self.crop, name, rng)
        return (torch.from_numpy(lr).float().div_(255.0), torch.from_numpy(gt).float().div_(255.0)), \
            sample_id(row["key"])

    def _read(self, row: dict) -> tuple[bytes, bytes, str]:
        if self.source == "folders":
            gt = storage.join(self.root, row["gt"])
            return storage.read_bytes(gt), storage.read_bytes(storage.join(self.root, row["lr"])), gt
        if self._cached[0] != row["shard"]:
            location = storage.join(self.root, row["shard"])
            self._cached = (row["shard"], read_tar_members(location, self._wanted[row["shard"]]))
        members, name = self._cached[1], f"{storage.join(self.root, row['shard'])}:{row['shard_key']}"
        gt, lr = (members.get(f"{row['shard_key']}.{m}") for m in PAIR_MEMBERS)
        if gt is None or lr is None:
            raise InputError(name, "is listed in the patch index but missing from its shard; rerun the patch job")
        return gt, lr, name


def check_first_pair(selection, crop: int) -> None:
    """Read, decode and crop one training pair of ``selection`` on this process (bad data fails here, before
    any worker starts). From shards: the first sample of the first tar that holds training rows (a short read)."""
    rows = selection.train
    if selection.source == "shards":
        first = rows.filter(pc.equal(rows["shard"], min(rows["shard"].to_pylist())))
        rows = first.take([int(np.argmin(first["shard_key"].to_numpy(zero_copy_only=False)))])
    PatchPairs(selection, rows.slice(0, 1), crop, False, 0)[0]
