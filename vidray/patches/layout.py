"""The output tree: category folders, ``Patches*/{GT,LR,LR_7frames}``, ``Val/{GT,LR}``, file names."""

from __future__ import annotations

from pathlib import Path

from vidray.patches.formats import CATEGORY_FOLDERS, FORMATS

KINDS = ("GT", "LR", "LR_7frames")
STATUS_FILE = ".generator_status.json"
MANIFEST_FILE = ".generator_manifest.jsonl"


def patch_file_name(clean: str, index: int, fmt: str) -> str:
    """``patch_{clean_name}_idx{n:04d}{suffix}.png``."""
    return f"patch_{clean}_idx{index:04d}{FORMATS[fmt].suffix}.png"


def patch_paths(category: str, fmt: str, clean: str, index: int) -> dict[str, str]:
    """Relative paths of one extraction's GT, LR (5-stack) and LR_7frames files."""
    base = f"{CATEGORY_FOLDERS[category]}/{FORMATS[fmt].folder}"
    name = patch_file_name(clean, index, fmt)
    return {kind: f"{base}/{kind}/{name}" for kind in KINDS}


def create_tree(root: Path, categories, formats) -> None:
    """Create every category's ``Patches*/{GT,LR,LR_7frames}`` for ``formats`` and empty ``Val/{GT,LR}``."""
    for cat in categories:
        learn = root / CATEGORY_FOLDERS[cat]
        for fmt in formats:
            for kind in KINDS:
                (learn / FORMATS[fmt].folder / kind).mkdir(parents=True, exist_ok=True)
        for kind in ("GT", "LR"):
            (learn / "Val" / kind).mkdir(parents=True, exist_ok=True)
