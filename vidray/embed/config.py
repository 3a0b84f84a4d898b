"""Settings of the embedding job, validated once at the door."""

from __future__ import annotations

from dataclasses import dataclass

from vidray.embed.inputs import check_split_ratios

DTYPES = ("float16", "float32")


@dataclass
class EmbedConfig:
    """``vidray embed`` settings; ``identity()`` is what a resumed run must keep unchanged."""

    model: str = "ViT-B-32"
    pretrained: str | None = None     # tag | path | "none"; None: the model's first open_clip tag
    fps: float | None = 1.0           # frames sampled per second of video
    every_n: int | None = None        # or every n-th decoded frame (then fps is ignored)
    shard_size: int = 10000
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    dtype: str = "float16"            # stored embedding dtype
    batch_size: int = 256             # frames per model forward
    frames_per_block: int = 32        # frames per decoded block handed to the model actors

    def problems(self) -> list[str]:
        problems = check_split_ratios(self.split_ratios)
        if self.every_n is None and (self.fps is None or self.fps <= 0):
            problems.append(f"fps must be > 0, got {self.fps}")
        if self.every_n is not None and self.every_n < 1:
            problems.append(f"every_n must be >= 1, got {self.every_n}")
        for name in ("shard_size", "batch_size", "frames_per_block"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if not self.model:
            problems.append("model must not be empty")
        return problems

    @property
    def sample_fps(self) -> float | None:
        return None if self.every_n is not None else self.fps

    def identity(self, pretrained_label: str) -> dict:
        """The settings that change sample contents: a rerun with other values is a different run."""
        return {"model": self.model, "pretrained": pretrained_label, "fps": self.sample_fps,
                "every_n": self.every_n, "dtype": self.dtype, "split_ratios": list(self.split_ratios)}
