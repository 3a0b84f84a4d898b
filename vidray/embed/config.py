"""Settings of the embedding job, validated once at the door."""

from __future__ import annotations

from dataclasses import dataclass

from vidray.config import bounded
from vidray.embed.inputs import check_split_ratios

DTYPES = ("float16", "float32")
SAMPLE_MODES = ("time", "keyframes")  # time: --fps or --every-n; keyframes: every keyframe, decoded on its own


@dataclass
class EmbedConfig:
    """``vidray embed`` settings; ``identity()`` is what a resumed run must keep unchanged."""

    model: str = "ViT-B-32"
    pretrained: str | None = None     # tag | path | "none"; None: the model's first open_clip tag
    sample: str = bounded("time", choices=SAMPLE_MODES)  # time: by fps or every_n; keyframes: each keyframe
    fps: float | None = bounded(1.0, gt=0)       # frames sampled per second of video
    every_n: int | None = bounded(None, ge=1)     # or every n-th decoded frame (then fps is ignored)
    shard_size: int = bounded(10000, ge=1)
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    dtype: str = bounded("float16", choices=DTYPES)  # stored embedding dtype
    batch_size: int = bounded(256, ge=1)          # frames per model forward
    frames_per_block: int = bounded(32, ge=1)     # frames per decoded block handed to the model actors

    def problems(self) -> list[str]:
        """Problems the declared bounds cannot say: the split ratios, a sampling rule, a model name."""
        problems = check_split_ratios(self.split_ratios)
        if self.sample == "keyframes" and self.every_n is not None:
            problems.append(f"sample keyframes takes every keyframe: drop every_n ({self.every_n}) or sample by time")
        elif self.sample != "keyframes" and self.every_n is None and self.fps is None:
            problems.append("fps must be > 0, got None (or give every_n)")
        if not self.model:
            problems.append("model must not be empty")
        return problems

    @property
    def sample_fps(self) -> float | None:
        """Frames per second sampled by time; None when sampling by count or the keyframes."""
        return None if self.every_n is not None or self.sample == "keyframes" else self.fps

    def identity(self, pretrained_label: str) -> dict:
        """The settings that change sample contents: a rerun with other values is a different run."""
        ident = {"model": self.model, "pretrained": pretrained_label, "fps": self.sample_fps,
                 "every_n": self.every_n, "dtype": self.dtype, "split_ratios": list(self.split_ratios)}
        if self.sample != "time":  # named only when not the default, so runs made before it resume
            ident["sample"] = self.sample
        return ident
