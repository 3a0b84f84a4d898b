"""Training data as torch Datasets: clips from the synth outputs / video folders, fresh Moving MNIST
sequences per epoch, and VSR pairs from the patch job's PNG folders.

Torch map-style Datasets (not Ray Data) because every training set here is small enough to sit
on shared storage and be read at random; Ray Train's ``prepare_data_loader`` shards them with a
``DistributedSampler`` so ranks see disjoint samples and each epoch is reshuffled.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from vidray.errors import InputError
from vidray.io import storage
from vidray.io.video import VIDEO_SUFFIXES
from vidray.patches.formats import FORMATS

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
    """VSR pairs from the patch job's output: ``(lr float [5,3,c/3,c/3], gt float [3,c,c], index)``.

    GT/LR PNGs of one crop format (``Patches*/GT`` + ``Patches*/LR``, 5 LR frames stacked
    vertically) under every category; a random aligned crop of ``crop`` GT pixels per item for
    training (re-drawn each epoch), the centre crop for validation.
    """

    def __init__(self, files: list[tuple[str, str]], crop: int, train: bool, seed: int):
        self.files, self.crop, self.train, self.seed, self.epoch = files, crop, train, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):

        gt_path, lr_path = self.files[i]
        gt, lr = (_read_image(p) for p in (gt_path, lr_path))
        if gt is None or lr is None:
            raise InputError(gt_path if gt is None else lr_path, "cannot be read as an image")
        h, w = gt.shape[:2]
        lh, lw = h // 3, w // 3
        if lr.shape[:2] != (5 * lh, lw):
            raise InputError(lr_path, f"LR stack is {lr.shape[1]}x{lr.shape[0]}, expected {lw}x{5 * lh} "
                                      f"(5 frames at 1/3 of the {w}x{h} GT)")
        c, lc = self.crop, self.crop // 3
        if lc > min(lh, lw):
            raise InputError(gt_path, f"GT {w}x{h} is smaller than vsr_crop {c}")
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            y, x = int(rng.integers(lh - lc + 1)), int(rng.integers(lw - lc + 1))
        else:
            y, x = (lh - lc) // 2, (lw - lc) // 2
        frames = lr.reshape(5, lh, lw, 3)[:, y:y + lc, x:x + lc, ::-1]
        gt = gt[3 * y:3 * y + c, 3 * x:3 * x + c, ::-1]
        return (to_float_clip(frames, 3), to_float_clip(gt[None], 3)[0]), i


def _read_image(location) -> np.ndarray | None:
    """BGR uint8 [H,W,3] of a PNG at a local path or a URI; None if it is not an image."""
    import cv2

    local = storage.local_path(location)
    if local is not None:
        return cv2.imread(str(local), cv2.IMREAD_COLOR)
    return cv2.imdecode(np.frombuffer(storage.read_bytes(location), np.uint8), cv2.IMREAD_COLOR)


def patch_splits(data: str, fmt: str, val_fraction: float) -> tuple[list, list]:
    """(train, val) lists of (GT, LR) PNG locations of crop format ``fmt`` under a patch-job output (a
    folder or a URI prefix); the split is a stable hash of the file name."""
    if fmt not in FORMATS:
        raise InputError(fmt, f"unknown crop format; choose from {', '.join(FORMATS)}")
    if storage.kind(data) != "directory":
        raise InputError(data, "training data does not exist")
    folder = FORMATS[fmt].folder
    files = set(storage.list_files(data))
    pairs = []
    for gt in sorted(files):
        head, name = gt.rsplit("/", 1)
        if head.endswith(f"/{folder}/GT") and name.endswith(".png"):
            lr = f"{head[:-len('GT')]}LR/{name}"
            if lr in files:
                pairs.append((gt, lr))
    if not pairs:
        raise InputError(data, f"holds no {folder}/GT + {folder}/LR patch pairs (a `vidray patches` output?)")
    val = [p for p in pairs if zlib.crc32(p[0].rsplit("/", 1)[1].encode()) % 1000 < val_fraction * 1000]
    train = [p for p in pairs if p not in set(val)]
    if not train:
        raise InputError(data, "every patch fell into the validation split; lower val_fraction")
    return train, val
