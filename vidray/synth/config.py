"""Settings of the synthetic dataset jobs, validated at the door."""

from __future__ import annotations

from dataclasses import dataclass

from vidray.config import bounded
from vidray.synth.digits import DIGIT_SIZE
from vidray.synth.motion import MOTIONS, motion_names

H5_COMPRESSIONS = ("none", "gzip", "lzf")


# VideoGPT's HDF5Dataset (videogpt/data.py) draws each training window's start with
# np.random.randint(0, len - sequence_length): it needs videos *longer* than its sequence_length (16 by
# default), so 16-frame videos fail (`high <= 0`) and 17 is the shortest default it loads.
VIDEOGPT_SEQUENCE_LENGTH = 16


@dataclass(frozen=True)
class VideoMNISTConfig:
    """One labelled digit per video (label = digit), moving by one of ``motion_types``.

    ``sequence_length`` defaults to 17, one more than VideoGPT's default window (16): its HDF5Dataset loads
    only videos longer than the window. ``grayscale`` writes ``[N,H,W]`` frames, which VideoGPT cannot read
    (its loader needs ``[N,H,W,3]``): the compact layout for other tools.
    """

    sequence_length: int = bounded(VIDEOGPT_SEQUENCE_LENGTH + 1, ge=1)
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
    videogpt_sequence_length: int = bounded(VIDEOGPT_SEQUENCE_LENGTH, ge=1)

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
