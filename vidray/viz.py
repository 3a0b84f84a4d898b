"""Readable pictures of model outputs: comparison GIF/MP4, PNG frame grids, VSR contact sheets.

Pure builders return uint8 RGB arrays (``[H, W, 3]`` images, ``[N, H, W, 3]`` animations); the
``save_*`` functions write them atomically (PNG/GIF with Pillow, MP4 with PyAV).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vidray.io.atomic import atomic_path
from vidray.io.video import write_mp4

BACKGROUND = (24, 24, 24)
BORDER = (90, 90, 90)
EMPTY = (48, 48, 48)
TEXT = (235, 235, 235)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def to_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float frames in [0, 1], ``[..., C, H, W]`` with C = 1 or 3 -> uint8 RGB ``[..., H, W, 3]`` (clamped)."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().float().cpu().numpy()
    frames = np.moveaxis(np.asarray(frames, dtype=np.float32), -3, -1)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 ``[H, W, 3]``: nearest when enlarging (pixels stay visible), area when shrinking."""
    if image.shape[:2] == (height, width):
        return image
    interp = cv2.INTER_NEAREST if height >= image.shape[0] else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=interp)


def put_text(image: np.ndarray, text: str, x: int, y: int, scale: float = 0.45) -> None:
    """Draw ``text`` with its baseline at ``(x, y)`` on uint8 ``[H, W, 3]`` in place (anti-aliased)."""
    cv2.putText(image, text, (x, y), FONT, scale, TEXT, 1, cv2.LINE_AA)


def text_width(text: str, scale: float = 0.45) -> int:
    """Width in pixels of ``text`` drawn by :func:`put_text`."""
    return cv2.getTextSize(text, FONT, scale, 1)[0][0]


def wrap_text(text: str, width: int, scale: float = 0.45) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` pixels (a longer word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", scale) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def tile(
    cells: Sequence[Sequence[np.ndarray | None]],
    col_labels: Sequence[str] = (),
    row_labels: Sequence[str] = (),
    title: str = "",
    gap: int = 4,
    note: str = "",
) -> np.ndarray:
    """Lay out same-size uint8 ``[h, w, 3]`` cells (``None`` = empty) in a labelled, bordered grid.

    ``cells[r][c]``; ``col_labels`` go above the columns, ``row_labels`` left of the rows,
    ``title`` on top, then ``note`` (wrapped to the grid's width). Returns uint8 ``[H, W, 3]``.
    """
    sample = next(c for row in cells for c in row if c is not None)
    h, w = sample.shape[:2]
    n_rows, n_cols = len(cells), max(len(row) for row in cells)
    left = (max(text_width(s) for s in row_labels) + 2 * gap) if row_labels else 0
    width = left + n_cols * (w + gap) + gap
    note_lines = wrap_text(note, width - 2 * gap) if note else []
    head = (22 if title else 0) + 18 * len(note_lines)
    top = head + (20 if col_labels else 0)
    height = top + n_rows * (h + gap) + gap
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    if title:
        put_text(canvas, title, gap, 16, 0.5)
    for i, line in enumerate(note_lines):
        put_text(canvas, line, gap, (22 if title else 0) + 14 + 18 * i)
    for c, label in enumerate(col_labels):
        x0 = left + gap + c * (w + gap)
        put_text(canvas, label, x0 + max((w - text_width(label)) // 2, 0), top - 6)
    for r, row in enumerate(cells):
        y0 = top + gap + r * (h + gap)
        if r < len(row_labels):
            put_text(canvas, row_labels[r], gap, y0 + h // 2 + 5)
        for c in range(n_cols):
            x0 = left + gap + c * (w + gap)
            cv2.rectangle(canvas, (x0 - 1, y0 - 1), (x0 + w, y0 + h), BORDER, 1)
            cell = row[c] if c < len(row) else None
            canvas[y0:y0 + h, x0:x0 + w] = EMPTY if cell is None else cell
    return canvas


def comparison_frames(
    inputs: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, max_items: int = 4, scale: int = 3,
    note: str = "",
) -> np.ndarray:
    """Animation frames ``input | truth | prediction``, one row per batch item.

    ``inputs``: ``[B, T_in, C, H, W]``; ``truth``, ``pred``: ``[B, T_out, C, H, W]``, floats in
    [0, 1]. The animation plays the context (truth/prediction panels empty), then the future
    with the last input frame held; ``note`` (e.g. the verdict against the baselines) is written
    under the title of every frame. Returns uint8 ``[T_in + T_out, H', W', 3]``, H', W' even.
    """
    n = min(max_items, inputs.shape[0])
    ins, gts, prs = (to_uint8(v[:n]) for v in (inputs, truth, pred))
    t_in, t_out = ins.shape[1], gts.shape[1]
    h, w = ins.shape[2] * scale, ins.shape[3] * scale
    frames = []
    for step in range(t_in + t_out):
        future = step - t_in
        rows = []
        for i in range(n):
            if future < 0:
                rows.append([resize(ins[i, step], h, w), None, None])
            else:
                rows.append([resize(ins[i, -1], h, w), resize(gts[i, future], h, w), resize(prs[i, future], h, w)])
        if future < 0:
            title, labels = f"context {step + 1}/{t_in}", ("input", "truth", "prediction")
        else:
            title, labels = f"predicted +{future + 1}/{t_out}", ("last input", "truth", "prediction")
        frames.append(tile(rows, labels, title=title, note=note))
    return _even(np.stack(frames))


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad ``[N, H, W, 3]`` with background to even H and W (H.264 yuv420p needs them)."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    out = np.empty((frames.shape[0], frames.shape[1] + pad_h, frames.shape[2] + pad_w, 3), np.uint8)
    out[:] = BACKGROUND
    out[:, :frames.shape[1], :frames.shape[2]] = frames
    return out


def write_gif(path: str | os.PathLike, frames: np.ndarray, fps: float = 4.0) -> Path:
    """Write uint8 ``[N, H, W, 3]`` as a looping GIF (atomically)."""
    images = [Image.fromarray(f) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0)
    return Path(path)


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write uint8 ``[H, W, 3]`` as PNG (atomically)."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return Path(path)


def save_comparison_gif(path, inputs, truth, pred, fps: float = 4.0, max_items: int = 4, scale: int = 3,
                        note: str = "") -> Path:
    """GIF of :func:`comparison_frames` (input | truth | prediction per batch item, ``note`` under the title)."""
    return write_gif(path, comparison_frames(inputs, truth, pred, max_items, scale, note), fps)


def save_comparison_mp4(path, inputs, truth, pred, fps: int = 4, max_items: int = 4, scale: int = 3,
                        note: str = "") -> Path:
    """H.264 MP4 (PyAV) of :func:`comparison_frames`."""
    return write_mp4(path, comparison_frames(inputs, truth, pred, max_items, scale, note), fps=fps)


def frame_grid(rows: Mapping[str, torch.Tensor | np.ndarray], scale: int = 2, title: str = "") -> np.ndarray:
    """PNG-ready grid: one labelled row per sequence (``{label: [T, C, H, W] floats in [0, 1]}``),
    columns = time steps (shorter rows leave empty cells). Returns uint8 ``[H', W', 3]``."""
    images = {label: to_uint8(v) for label, v in rows.items()}
    first = next(iter(images.values()))
    h, w = first.shape[1] * scale, first.shape[2] * scale
    cells = [[resize(f, h, w) for f in seq] for seq in images.values()]
    n_cols = max(len(r) for r in cells)
    return tile(cells, [f"t{t + 1}" for t in range(n_cols)], list(images), title)


def save_prediction_grid(path, inputs, truth, pred, item: int = 0, scale: int = 2) -> Path:
    """PNG grid of one sample: rows input / truth / prediction / |error| (``[B, T, C, H, W]`` tensors)."""
    error = (pred[item].detach().float().cpu() - truth[item].detach().float().cpu()).abs()
    t_in, t_out = inputs.shape[1], truth.shape[1]
    future = f"t{t_in + 1}-{t_in + t_out}"
    rows = {f"input t1-{t_in}": inputs[item], f"truth {future}": truth[item], "prediction": pred[item],
            "|error|": error}
    return write_png(path, frame_grid(rows, scale, title=f"sample {item}: {t_in} in -> {t_out} out; columns = step"))


def vsr_contact_sheet(
    lr: torch.Tensor, gt: torch.Tensor, pred: torch.Tensor | None = None, max_items: int = 4, panel: int = 160
) -> np.ndarray:
    """One row per patch: the LR stack frames, bicubic x3 of the centre, the prediction (if given), GT.

    ``lr``: ``[B, T, C, h, w]``; ``gt``, ``pred``: ``[B, C, H, W]``; floats in [0, 1]. Every panel is
    shown at ``panel`` pixels high (LR enlarged with nearest neighbour, so its pixels show).
    Returns uint8 ``[H', W', 3]``.
    """
    n, t = min(max_items, lr.shape[0]), lr.shape[1]
    gt_h, gt_w = gt.shape[-2:]
    ph, pw = panel, max(1, round(panel * gt_w / gt_h))
    bicubic = F.interpolate(lr[:n, t // 2].float(), size=(gt_h, gt_w), mode="bicubic", align_corners=False)
    lrs, gts, bics = to_uint8(lr[:n]), to_uint8(gt[:n]), to_uint8(bicubic)
    prs = to_uint8(pred[:n]) if pred is not None else None
    labels = [f"LR t{k - t // 2:+d}" if k != t // 2 else "LR t0" for k in range(t)] + ["bicubic"]
    labels += ["prediction"] if prs is not None else []
    labels += ["GT"]
    rows = []
    for i in range(n):
        row = [resize(f, ph, pw) for f in lrs[i]] + [resize(bics[i], ph, pw)]
        row += [resize(prs[i], ph, pw)] if prs is not None else []
        rows.append(row + [resize(gts[i], ph, pw)])
    title = f"VSR patches: LR {lr.shape[-1]}x{lr.shape[-2]} x{t} -> GT {gt_w}x{gt_h}"
    return tile(rows, labels, [f"#{i}" for i in range(n)], title)


def save_vsr_contact_sheet(path, lr, gt, pred=None, max_items: int = 4, panel: int = 160) -> Path:
    """PNG of :func:`vsr_contact_sheet`."""
    return write_png(path, vsr_contact_sheet(lr, gt, pred, max_items, panel))
