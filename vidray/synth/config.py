"""Settings of the synthetic dataset jobs, validated at the door."""

from __future__ import annotations

from dataclasses import dataclass

from vidray.synth.digits import DIGIT_SIZE
from vidray.synth.motion import MOTIONS, motion_names

H5_COMPRESSIONS = ("none", "gzip", "lzf")


def _common_problems(cfg) -> list[str]:
    problems = []
    if cfg.seed < 0:
        problems.append(f"seed must be >= 0, got {cfg.seed}")
    if cfg.h5_compression not in H5_COMPRESSIONS:
        problems.append(f"h5_compression must be one of {', '.join(H5_COMPRESSIONS)}, got {cfg.h5_compression!r}")
    return problems


@dataclass(frozen=True)
class VideoMNISTConfig:
    """One labelled digit per video (label = digit), moving by one of ``motion_types``."""

    sequence_length: int = 16
    videos_per_digit: int = 1000
    test_videos_per_digit: int = 200
    image_size: int = 64
    motion_types: tuple[str, ...] = ("bounce", "circular", "linear")
    seed: int = 0
    grayscale: bool = False
    write_mp4: bool = True
    fps: int = 10
    crf: int = 17
    h5_compression: str = "none"
    mnist_dir: str | None = None
    videogpt_sequence_length: int = 16

    def problems(self) -> list[str]:
        """Every problem with these settings (empty when valid)."""
        problems = _common_problems(self)
        if self.sequence_length < 1:
            problems.append(f"sequence_length must be >= 1, got {self.sequence_length}")
        if self.videos_per_digit < 1:
            problems.append(f"videos_per_digit must be >= 1, got {self.videos_per_digit}")
        if self.test_videos_per_digit < 0:
            problems.append(f"test_videos_per_digit must be >= 0, got {self.test_videos_per_digit}")
        if self.image_size <= DIGIT_SIZE:
            problems.append(f"image_size must be > {DIGIT_SIZE} (the digit size) to leave room to move, got {self.image_size}")
        elif self.write_mp4 and self.image_size % 2:
            problems.append(f"image_size must be even for H.264 MP4 output, got {self.image_size} (or use --no-mp4)")
        if not self.motion_types:
            problems.append("motion_types is empty")
        for name in self.motion_types:
            if name not in MOTIONS:
                problems.append(f"unknown motion type {name!r}; choose from {', '.join(motion_names())}")
        if self.fps < 1:
            problems.append(f"fps must be >= 1, got {self.fps}")
        if not 0 <= self.crf <= 51:
            problems.append(f"crf must be in 0..51, got {self.crf}")
        return problems


@dataclass(frozen=True)
class MovingMNISTConfig:
    """Classic Moving MNIST: ``num_digits`` digits bouncing on a 64×64 canvas."""

    num_sequences: int = 10000
    test_sequences: int = 1000
    sequence_length: int = 20
    num_digits: int = 2
    image_size: int = 64
    seed: int = 0
    grayscale: bool = False
    h5_compression: str = "none"
    mnist_dir: str | None = None

    def problems(self) -> list[str]:
        """Every problem with these settings (empty when valid)."""
        problems = _common_problems(self)
        if self.num_sequences < 1:
            problems.append(f"num_sequences must be >= 1, got {self.num_sequences}")
        if self.test_sequences < 0:
            problems.append(f"test_sequences must be >= 0, got {self.test_sequences}")
        if self.sequence_length < 1:
            problems.append(f"sequence_length must be >= 1, got {self.sequence_length}")
        if self.num_digits < 1:
            problems.append(f"num_digits must be >= 1, got {self.num_digits}")
        if self.image_size <= DIGIT_SIZE:
            problems.append(f"image_size must be > {DIGIT_SIZE}, got {self.image_size}")
        return problems
