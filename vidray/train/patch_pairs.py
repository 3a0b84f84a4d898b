"""The pure core of VSR patch pairs: PNG bytes → RGB arrays → aligned GT/LR crops (numpy, no torch, so
that Ray Data's decode tasks start without importing it), and reading a sample's members from its shard tar."""

from __future__ import annotations

import numpy as np

from vidray.errors import InputError
from vidray.io import storage
from vidray.patches.shards import MEMBERS

PAIR_MEMBERS = (MEMBERS["GT"], MEMBERS["LR"])  # what training reads of a shard sample: gt.png, lr5.png


def read_tar_members(location, names) -> dict[str, bytes]:
    """The members ``names`` of a tar at a local path or URI, read from its start (one stream: one request on
    object storage) up to the last of them; names it does not hold are absent from the result."""
    import tarfile

    fs, path = storage.resolve(location)
    wanted, found = set(names), {}
    try:
        with fs.open_input_stream(path, buffer_size=1 << 20) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for member in tar:
                if member.name in wanted:
                    found[member.name] = tar.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
    except FileNotFoundError:
        raise InputError(location, "is listed in the patch index but does not exist; rerun the patch job") from None
    except tarfile.TarError as exc:
        raise InputError(location, f"is not a readable tar ({exc}); rerun the patch job") from exc
    return found


def decode_png(data: bytes, name: str) -> np.ndarray:
    """PNG bytes → uint8 [H,W,3] RGB; anything else is an :class:`InputError` naming ``name``."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB) if data else None
    if img is None:
        raise InputError(name, "cannot be read as a PNG image; rerun the patch job to rewrite it")
    return img


def decode_patch_pair(gt_png: bytes, lr_png: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(GT uint8 [H,W,3], LR uint8 [5,H/3,W/3,3]) RGB from an extraction's GT and 5-frame LR stack PNGs
    (frames stacked vertically); a stack of another shape is an :class:`InputError` naming ``name``."""
    gt, lr = decode_png(gt_png, name), decode_png(lr_png, f"{name} (LR)")
    h, w = gt.shape[:2]
    lh, lw = h // 3, w // 3
    if lr.shape[:2] != (5 * lh, lw):
        raise InputError(name, f"LR stack is {lr.shape[1]}x{lr.shape[0]}, expected {lw}x{5 * lh} "
                               f"(5 frames at 1/3 of the {w}x{h} GT)")
    return gt, lr.reshape(5, lh, lw, 3)


def crop_patch_pair(gt: np.ndarray, lr: np.ndarray, crop: int, name: str,
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops ``(lr uint8 [5,3,crop/3,crop/3], gt uint8 [3,crop,crop])`` (channels first, as the model
    takes them): at a position drawn from ``rng``, or the centre when ``rng`` is None."""
    lh, lw = lr.shape[1:3]
    lc = crop // 3
    if lc > min(lh, lw):
        raise InputError(name, f"GT {gt.shape[1]}x{gt.shape[0]} is smaller than vsr_crop {crop}")
    if rng is not None:
        y, x = int(rng.integers(lh - lc + 1)), int(rng.integers(lw - lc + 1))
    else:
        y, x = (lh - lc) // 2, (lw - lc) // 2
    lr_crop = lr[:, y:y + lc, x:x + lc].transpose(0, 3, 1, 2)
    gt_crop = gt[3 * y:3 * y + crop, 3 * x:3 * x + crop].transpose(2, 0, 1)
    return np.ascontiguousarray(lr_crop), np.ascontiguousarray(gt_crop)
