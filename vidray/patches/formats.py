"""Crop formats, categories and the per-category format distributions (registries users extend).

Adding a format = one :func:`register_format` call; a category's mix of formats can also be
overridden per run with ``base_settings.format_distribution``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CropFormat:
    """A GT crop size (divisible by 3 for the LR), its output folder and file-name suffix."""

    name: str
    width: int
    height: int
    folder: str
    suffix: str


FORMATS: dict[str, CropFormat] = {}
CATEGORY_FOLDERS: dict[str, str] = {}
CATEGORY_DISTRIBUTIONS: dict[str, dict[str, float]] = {}


def register_format(name: str, width: int, height: int, folder: str, suffix: str) -> CropFormat:
    """Add (or replace) a crop format; width and height must be multiples of 3."""
    if width % 3 or height % 3 or width <= 0 or height <= 0:
        raise ValueError(f"crop format {name}: {width}x{height} must be positive multiples of 3")
    FORMATS[name] = CropFormat(name, width, height, folder, suffix)
    return FORMATS[name]


def register_category(name: str, folder: str, distribution: dict[str, float]) -> None:
    """Add (or replace) a category: its output folder and its format distribution."""
    CATEGORY_FOLDERS[name] = folder
    CATEGORY_DISTRIBUTIONS[name] = dict(distribution)


register_format("small_540", 540, 540, "Patches", "")
register_format("medium_169", 720, 405, "Patches_Medium169", "_med169")
register_format("large_720", 720, 720, "Patches_Large", "_large")
register_format("xlarge_169", 1440, 810, "Patches_XLarge169", "_xl169")
register_format("fullhd", 1920, 1080, "Patches_FullHD", "_fullhd")

# the seed generator's table (its users' training code expects this mix); a category leaves out formats it
# does not list, and ``base_settings.format_distribution`` overrides a category for one run
register_category("general", "Universal/Mastermodell/Learn", {"small_540": 0.45, "medium_169": 0.35, "large_720": 0.20})
register_category("space", "Space/SpaceModel/Learn", {"small_540": 0.30, "xlarge_169": 0.45, "fullhd": 0.25})
register_category("toon", "Toon/ToonModel/Learn", {"small_540": 0.65, "medium_169": 0.35})

def distribution_problems(distribution: dict) -> list[str]:
    """Problems of a ``{format: weight}`` mapping (unknown formats, negative or all-zero weights)."""
    problems = [f"unknown crop format {f!r} (known: {', '.join(FORMATS)})" for f in distribution if f not in FORMATS]
    for f, w in distribution.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
            problems.append(f"format weight {f}: must be a number >= 0, got {w!r}")
    if not problems and sum(distribution.values()) <= 0:
        problems.append("format weights are all zero")
    return problems
