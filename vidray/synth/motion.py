"""Motion models: where a sprite's top-left corner is in each frame.

A motion model is ``fn(rng, num_frames, travel) -> float [T, 2]`` of (y, x) positions in
``[0, travel]`` (``travel`` = canvas size − sprite size), registered by name::

    @register_motion("zigzag")
    def zigzag(rng, num_frames, travel): ...

Positions are rounded to whole pixels by :func:`trajectory`. Trigonometry uses ``math`` (libm),
not numpy's SIMD ``sin``/``cos``, whose last bit can differ between CPU generations: a plan must
be the same on every node of a heterogeneous cluster.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

MotionFn = Callable[[np.random.Generator, int, int], np.ndarray]
MOTIONS: dict[str, MotionFn] = {}


def register_motion(name: str) -> Callable[[MotionFn], MotionFn]:
    """Decorator: add a motion model to the registry under ``name``."""

    def add(fn: MotionFn) -> MotionFn:
        if name in MOTIONS:
            raise ValueError(f"motion model {name!r} is already registered")
        MOTIONS[name] = fn
        return fn

    return add


def motion_names() -> list[str]:
    """Names of the registered motion models."""
    return sorted(MOTIONS)


def trajectory(name: str, rng: np.random.Generator, num_frames: int, travel: int) -> np.ndarray:
    """Integer top-left positions int16 [T, 2] for motion ``name``, inside [0, travel]."""
    try:
        fn = MOTIONS[name]
    except KeyError:
        raise ValueError(f"unknown motion type {name!r}; choose from {', '.join(motion_names())}") from None
    pos = np.asarray(fn(rng, num_frames, travel), dtype=np.float64)
    if pos.shape != (num_frames, 2):
        raise ValueError(f"motion {name!r} returned shape {pos.shape}, expected ({num_frames}, 2)")
    return np.clip(np.rint(pos), 0, travel).astype(np.int16)


def reflect(p: np.ndarray, travel: float) -> np.ndarray:
    """Fold unbounded positions into [0, travel] as a ball bouncing between two walls."""
    period = 2.0 * travel
    return travel - np.abs(np.mod(p, period) - travel)


@register_motion("bounce")
def bounce(rng: np.random.Generator, num_frames: int, travel: int) -> np.ndarray:
    """Constant velocity (2–4 px/frame, any direction), mirror-reflected at the walls."""
    start = rng.uniform(0, travel, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(2.0, 4.0)
    velocity = speed * np.array([math.sin(angle), math.cos(angle)])
    t = np.arange(num_frames)[:, None]
    return reflect(start + t * velocity, travel)


@register_motion("circular")
def circular(rng: np.random.Generator, num_frames: int, travel: int) -> np.ndarray:
    """Uniform circular motion: a circle that fits the canvas, one turn per 12–36 frames."""
    radius = rng.uniform(travel / 6, travel / 2)
    centre = rng.uniform(radius, travel - radius, size=2)
    omega = rng.choice([-1.0, 1.0]) * 2 * np.pi / rng.uniform(12, 36)
    phase = rng.uniform(0, 2 * np.pi)
    angles = [phase + omega * t for t in range(num_frames)]
    return centre + radius * np.array([[math.sin(a), math.cos(a)] for a in angles])


@register_motion("linear")
def linear(rng: np.random.Generator, num_frames: int, travel: int) -> np.ndarray:
    """A straight path between two random points (≥ travel/2 apart) with ±0.5 px jitter."""
    start = rng.uniform(0, travel, size=2)
    end = rng.uniform(0, travel, size=2)
    for _ in range(32):  # resample a too-short path; bounded so the draw count is fixed-ish
        if np.hypot(*(end - start)) >= travel / 2:
            break
        end = rng.uniform(0, travel, size=2)
    frac = np.linspace(0.0, 1.0, num_frames)[:, None]
    jitter = rng.normal(0.0, 0.5, size=(num_frames, 2))
    return np.clip(start + frac * (end - start) + jitter, 0, travel)


CLASSIC_STEP = 0.1  # fraction of the travel per frame: 0.1 * (64 - 28) = 3.6 px


@register_motion("classic")
def classic(rng: np.random.Generator, num_frames: int, travel: int) -> np.ndarray:
    """The classic Moving MNIST procedure (Srivastava et al. 2015; OpenSTL's generator).

    Random start in the unit square, unit-speed direction, a step of 0.1 of the travel
    per frame, clamp-and-reflect at the walls; the step is taken before the first frame,
    and positions are truncated to int like the reference code.
    """
    y, x = float(rng.random()), float(rng.random())
    theta = float(rng.random()) * 2 * math.pi
    vy, vx = math.sin(theta), math.cos(theta)
    out = []
    for _ in range(num_frames):
        y += vy * CLASSIC_STEP
        x += vx * CLASSIC_STEP
        if x <= 0:
            x, vx = 0.0, -vx
        if x >= 1.0:
            x, vx = 1.0, -vx
        if y <= 0:
            y, vy = 0.0, -vy
        if y >= 1.0:
            y, vy = 1.0, -vy
        out.append((y, x))
    return np.floor(np.array(out) * travel)
