"""Training finds the patch job's files through its index, by the crop-format registry's names (not a copy of
it, and not by walking the category folders)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidray.config import from_dict
from vidray.errors import ConfigError
from vidray.patches.formats import FORMATS, register_format
from vidray.patches.index import write_index
from vidray.train.config import TrainConfig
from vidray.train.tasks import build_datasets


def _extraction(root, fmt: str, index: int) -> dict:
    """One ok extraction of ``fmt`` in a folder the index names (no category folder layout needed)."""
    w, h = FORMATS[fmt].width, FORMATS[fmt].height
    gt = np.full((h, w, 3), 40 * index, np.uint8)
    lr = np.concatenate([cv2.resize(gt, (w // 3, h // 3), interpolation=cv2.INTER_AREA)] * 5)
    rel = {kind: f"anywhere/{kind}/{index}.png" for kind in ("GT", "LR")}
    for kind, img in (("GT", gt), ("LR", lr)):
        (root / rel[kind]).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel[kind]), img)
    return {"key": f"v/general/{fmt}/{index}", "video": "v", "category": "general", "format": fmt, "index": index,
            "status": "ok", "gt": rel["GT"], "lr": rel["LR"]}


def test_a_newly_registered_format_is_trainable_from_the_index(tmp_path):
    register_format("tiny_test", 90, 90, "Patches_TinyTest", "_tiny")
    try:
        write_index(str(tmp_path), [_extraction(tmp_path, "tiny_test", i) for i in range(3)]
                    + [_extraction(tmp_path, "small_540", 3)])
        cfg = from_dict(TrainConfig, {"model": "vsr", "data": str(tmp_path), "vsr_format": "tiny_test",
                                      "vsr_crop": 30, "val_fraction": 0.0})
        train, val = build_datasets(cfg)
        assert len(train) == 3 and len(val) == 0
        (lr, gt), _ = train[0]
        assert lr.shape == (5, 3, 10, 10) and gt.shape == (3, 30, 30)
    finally:
        FORMATS.pop("tiny_test")
    with pytest.raises(ConfigError, match="vsr_format 'tiny_test' unknown; choose from small_540"):
        from_dict(TrainConfig, {"model": "vsr", "data": str(tmp_path), "vsr_format": "tiny_test"})
