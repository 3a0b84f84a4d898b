"""Classic Moving MNIST in-process (no Ray): for notebooks, tests and model benchmarks."""

from __future__ import annotations

import numpy as np

from vidray.config import config_problems
from vidray.synth.config import MovingMNISTConfig
from vidray.synth.digits import load_digits
from vidray.synth.plan import plan_moving_mnist
from vidray.synth.render import render_videos


def render_sequences(
    num_sequences: int,
    sequence_length: int = 20,
    num_digits: int = 2,
    seed: int = 0,
    split: str = "train",
    mnist_dir: str | None = None,
) -> np.ndarray:
    """``num_sequences`` Moving MNIST sequences, uint8 [T, N, 64, 64] like ``mnist_test_seq.npy``.

    Identical to sequences 0..N-1 of ``split`` written by ``vidray synth moving-mnist`` with
    the same seed.
    """
    counts = {"num_sequences": num_sequences, "test_sequences": 0} if split == "train" else {
        "num_sequences": 1, "test_sequences": num_sequences}
    cfg = MovingMNISTConfig(sequence_length=sequence_length, num_digits=num_digits, seed=seed,
                            mnist_dir=mnist_dir, **counts)
    problems = config_problems(cfg)
    if problems:
        raise ValueError("; ".join(problems))
    items = plan_moving_mnist(cfg, {split: load_digits(split, mnist_dir)})
    sprites = np.stack([it["sprites"] for it in items])
    positions = np.stack([it["positions"] for it in items])
    frames = render_videos(sprites, positions, cfg.image_size)  # [N,T,H,W]
    return np.ascontiguousarray(frames.transpose(1, 0, 2, 3))
