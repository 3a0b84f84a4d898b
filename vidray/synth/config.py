"""Settings of the synthetic dataset jobs, validated at the door."""

from __future__ import annotations

from dataclasses import dataclass

from vidray.config import bounded
from vidray.synth.digits import DIGIT_SIZE
from vidray.synth.motion import MOTIONS, motion_names

H5_COMPRESSIONS = ("none", "gzip", "lzf")


@dataclass(frozen=True)
class VideoMNISTConfig:
    """One labelled digit per video (label = digit), moving by one of ``motion_types``."""

    sequence_length: int = bounded(16, ge=1)
    videos_per_digit: int = bounded(1000, ge=1)
    test_videos_per_digit: int = bounded(200, ge=0)
    image_size: int = bounded(64, gt=DIGIT_SIZE, note="(the digit size) to leave room to move")
    motion_types: tuple[str, ...] = ("bounce", "circular", "linear")
    seed: int = bounded(0, ge=0)
    grayscale: bool = False
    write_mp4: bool = True
    fps: int = bounded(10, ge=1)
    crf: int = bounded(17, ge=0, le=51)
    h5_compression: str = bounded("none", choices=H5_COMPRESSIONS)
    mnist_dir: str | None = None
    videogpt_sequence_length: int = bounded(16, ge=1)

    def problems(self) -> list[str]:
        """Problems the declared bounds cannot say (empty when valid)."""
        problems = []
        if self.write_mp4 and self.image_size > DIGIT_SIZE and self.image_size % 2:
            problems.append(f"image_size must be even for H.264 MP4 output, got {self.image_size} (or use --no-mp4)")
        if not self.motion_types:
            problems.append("motion_types is empty")
        for name in self.motion_types:
            if name not in MOTIONS:
                problems.append(f"unknown motion type {name!r}; choose from {', '.join(motion_names())}")
        return problems


@dataclass(frozen=True)
class MovingMNISTConfig:
    """Classic Moving MNIST: ``num_digits`` digits bouncing on a 64×64 canvas."""

    num_sequences: int = bounded(10000, ge=1)
    test_sequences: int = bounded(1000, ge=0)
    sequence_length: int = bounded(20, ge=1)
    num_digits: int = bounded(2, ge=1)
    image_size: int = bounded(64, gt=DIGIT_SIZE, note="(the digit size)")
    seed: int = bounded(0, ge=0)
    grayscale: bool = False
    h5_compression: str = bounded("none", choices=H5_COMPRESSIONS)
    mnist_dir: str | None = None

    def problems(self) -> list[str]:
        """No rule here spans fields (the bounds above are checked by ``vidray.config.config_problems``)."""
        return []
