"""Deterministic work items for the synthetic jobs: item k depends only on (config, seed, split, k).

An item is a dict of small values: sprites uint8 [D,28,28], positions int16 [D,T,2],
labels int64 [D], plus its key, split, index, motion name and MP4 path (VideoMNIST).
"""

from __future__ import annotations

import numpy as np

from vidray.errors import InputError
from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
from vidray.synth.digits import DIGIT_SIZE, Digits
from vidray.synth.motion import trajectory

SPLIT_CODES = {"train": 0, "test": 1}
NUM_CLASSES = 10


def item_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one item: independent of every other item and of scheduling."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def videomnist_split_size(cfg: VideoMNISTConfig, split: str) -> int:
    """Number of videos in ``split`` (10 classes × videos per class)."""
    per_class = cfg.videos_per_digit if split == "train" else cfg.test_videos_per_digit
    return NUM_CLASSES * per_class


def videomnist_path(split: str, label: int, video_index: int) -> str:
    """Relative MP4 path of one VideoMNIST video."""
    return f"videos/{split}/class_{label}/video_{video_index:04d}.mp4"


def plan_videomnist(cfg: VideoMNISTConfig, digits: dict[str, Digits]) -> list[dict]:
    """All VideoMNIST items, train then test; video k of a split has label k // videos_per_class."""
    items = []
    travel = cfg.image_size - DIGIT_SIZE
    for split in SPLIT_CODES:
        count = videomnist_split_size(cfg, split)
        if count == 0:
            continue
        per_class = count // NUM_CLASSES
        pools = [digits[split].indices_of(label) for label in range(NUM_CLASSES)]
        for label, pool in enumerate(pools):
            if len(pool) == 0:
                raise InputError(f"MNIST {split} digits", f"hold no image of class {label}")
        for k in range(count):
            label, video_index = divmod(k, per_class)
            rng = item_rng(cfg.seed, split, k)
            digit_index = int(pools[label][rng.integers(len(pools[label]))])
            motion = cfg.motion_types[video_index % len(cfg.motion_types)]
            positions = trajectory(motion, rng, cfg.sequence_length, travel)
            items.append({
                "key": f"{split}/{k}",
                "split": split,
                "index": k,
                "labels": np.array([label], dtype=np.int64),
                "digit_index": digit_index,
                "motion": motion,
                "sprites": digits[split].images[digit_index][None],
                "positions": positions[None],
                "path": videomnist_path(split, label, video_index),
            })
    return items


def plan_moving_mnist(cfg: MovingMNISTConfig, digits: dict[str, Digits]) -> list[dict]:
    """All Moving MNIST items: ``num_digits`` random digits of the split, classic motion each."""
    items = []
    travel = cfg.image_size - DIGIT_SIZE
    for split, count in (("train", cfg.num_sequences), ("test", cfg.test_sequences)):
        if count == 0 or split not in digits:
            continue  # a split whose digits were not loaded is not wanted (render_sequences)
        pool = digits[split]
        for k in range(count):
            rng = item_rng(cfg.seed, split, k)
            chosen = rng.integers(len(pool.labels), size=cfg.num_digits)
            positions = np.stack([trajectory("classic", rng, cfg.sequence_length, travel) for _ in chosen])
            items.append({
                "key": f"{split}/{k}",
                "split": split,
                "index": k,
                "labels": pool.labels[chosen].astype(np.int64),
                "digit_index": int(chosen[0]),
                "motion": "classic",
                "sprites": pool.images[chosen],
                "positions": positions,
                "path": "",
            })
    return items
