"""Training reads the patch job's folders from the crop-format registry, not from a copy of it."""

from __future__ import annotations

import pytest

from vidray.errors import InputError
from vidray.patches.formats import FORMATS, register_format
from vidray.train.datasets import patch_splits


def _pair(root, folder: str, name: str) -> None:
    for kind in ("GT", "LR"):
        (root / "Universal" / folder / kind).mkdir(parents=True, exist_ok=True)
        (root / "Universal" / folder / kind / name).write_bytes(b"png")


def test_patch_splits_use_the_registered_format_folders(tmp_path):
    _pair(tmp_path, FORMATS["fullhd"].folder, "patch_a_idx0000_fullhd.png")
    train, val = patch_splits(str(tmp_path), "fullhd", 0.0)
    assert [gt.rsplit("/", 1)[1] for gt, _ in train] == ["patch_a_idx0000_fullhd.png"] and val == []
    with pytest.raises(InputError, match="unknown crop format; choose from small_540"):
        patch_splits(str(tmp_path), "giant", 0.0)


def test_a_newly_registered_format_is_trainable(tmp_path):
    register_format("tiny_test", 90, 90, "Patches_TinyTest", "_tiny")
    try:
        _pair(tmp_path, "Patches_TinyTest", "patch_a_idx0000_tiny.png")
        train, _ = patch_splits(str(tmp_path), "tiny_test", 0.0)
        assert len(train) == 1
    finally:
        FORMATS.pop("tiny_test")
