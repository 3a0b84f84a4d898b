"""The videos to embed: from a JSON/YAML video list or a directory, each with a split.

Config shape (shared with the patch job): ``{"videos": [{"name", "path", "caption"?, "split"?,
"metadata"?, "categories"?}], "base_settings"?: {...}}``; patch-job fields are accepted and
ignored. Videos without a split get one from a hash of their name, so the assignment never
depends on order, worker count or which other videos are listed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

from vidray.config import read_config_file
from vidray.errors import ConfigError, InputError
from vidray.io import storage
from vidray.io.names import clean_name
from vidray.io.video import VIDEO_SUFFIXES

SPLITS = ("train", "val", "test")
_VIDEO_KEYS = {"name", "path", "caption", "split", "metadata", "categories"}
_SPLIT_ALIASES = {"validation": "val", "valid": "val", "eval": "val"}
# a sample's name in file names: clean_name, also trimming dots so no sample file is hidden (".name.npy")
safe_name = partial(clean_name, trim="_.")


@dataclass(frozen=True)
class VideoItem:
    """One input video: a unique file-safe ``name``, its ``path``, ``split``, caption and metadata."""

    name: str
    path: str
    split: str
    caption: str = ""
    metadata: dict = field(default_factory=dict)


def hash_split(name: str, ratios: tuple[float, float, float]) -> str:
    """train/val/test for ``name`` from a SHA-256 of it, in proportion to ``ratios``."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    total = float(sum(ratios))
    edge = 0.0
    for split, ratio in zip(SPLITS, ratios):
        edge += ratio / total
        if u < edge:
            return split
    return next(s for s, r in reversed(list(zip(SPLITS, ratios))) if r > 0)


def check_split_ratios(ratios) -> list[str]:
    """Problems with ``--split-ratios``: three non-negative numbers, not all zero."""
    ratios = tuple(ratios)
    if len(ratios) != 3:
        return [f"split_ratios must be 3 numbers (train val test), got {len(ratios)}"]
    if any(r < 0 for r in ratios) or sum(ratios) <= 0:
        return [f"split_ratios must be >= 0 and not all 0, got {list(ratios)}"]
    return []


def load_videos(source: str | os.PathLike, split_ratios=(0.8, 0.1, 0.1)) -> list[VideoItem]:
    """Videos from a config file, a directory (searched recursively) or one video file; each may be a
    local path or a URI (``s3://b/list.json``, ``s3://b/videos/`` = every video object under the prefix)."""
    problems = check_split_ratios(split_ratios)
    if problems:
        raise ConfigError(problems)
    local = storage.local_path(source)
    location = str(local if local is not None and storage.is_uri(source) else source)
    what = storage.kind(location)
    if what == "directory":
        return videos_from_directory(location, split_ratios)
    if PurePosixPath(location).suffix.lower() in VIDEO_SUFFIXES:
        if what != "file":
            raise InputError(location, "video file does not exist")
        stem = safe_name(PurePosixPath(location).stem)
        whole = str(Path(location).absolute()) if local is not None else location
        return [VideoItem(stem, whole, hash_split(stem, split_ratios))]
    if what is None:
        raise InputError(location, "input does not exist (give a video list JSON/YAML, a directory or a video)")
    return videos_from_config(read_config_file(location), split_ratios, source=location)


def videos_from_directory(root: str | os.PathLike, split_ratios) -> list[VideoItem]:
    """Every video under the folder or object prefix ``root``; name = its relative path without suffix,
    ``/`` → ``_``."""
    if storage.local_path(root) is None:
        base = str(root).rstrip("/")
        files = [(loc[len(base) + 1:], loc) for loc in storage.list_files(root)]
    else:
        root = Path(root)
        files = [(p.relative_to(root).as_posix(), str(p.absolute())) for p in sorted(root.rglob("*")) if p.is_file()]
    files = [(rel, loc) for rel, loc in files if PurePosixPath(rel).suffix.lower() in VIDEO_SUFFIXES
             and not PurePosixPath(rel).name.startswith(".")]
    if not files:
        raise InputError(root, f"holds no video files ({', '.join(VIDEO_SUFFIXES)})")
    items, seen = [], {}
    for rel, location in files:
        rel = str(PurePosixPath(rel).with_suffix(""))
        name = safe_name(rel.replace("/", "_"))
        if name in seen:
            raise InputError(root, f"{rel!r} and {seen[name]!r} map to the same sample name {name!r}; "
                                   "use a video list config with explicit names")
        seen[name] = rel
        items.append(VideoItem(name, location, hash_split(name, split_ratios)))
    return items


def videos_from_config(data: dict, split_ratios, source: str | os.PathLike = "config") -> list[VideoItem]:
    """Validate a video-list mapping and build the items; every problem is listed at once.

    Relative paths are looked up beside the config file, then in the current directory.
    """
    remote = storage.local_path(source) is None  # a list on object storage: relative paths are beside it
    base = Path(source).parent if source != "config" and not remote else Path(".")
    videos = data.get("videos")
    if not isinstance(videos, list) or not videos:
        raise ConfigError("needs a non-empty 'videos' list of {name, path, ...} objects", source=str(source))
    problems, items, seen = [], [], set()
    for i, video in enumerate(videos):
        where = f"videos[{i}]"
        if not isinstance(video, dict):
            problems.append(f"{where}: expected an object with name and path, got {video!r}")
            continue
        unknown = sorted(set(video) - _VIDEO_KEYS)
        if unknown:
            problems.append(f"{where}: unknown keys {unknown} (known: {sorted(_VIDEO_KEYS)})")
        name, path = video.get("name"), video.get("path")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: 'name' must be a non-empty string")
            continue
        if safe_name(name) != name:
            problems.append(f"{where}: name {name!r} must use only letters, digits, '.', '_' and '-' "
                            f"(e.g. {safe_name(name)!r}); it names the output files")
        if name in seen:
            problems.append(f"{where}: duplicate name {name!r}")
        seen.add(name)
        if not isinstance(path, str) or not path:
            problems.append(f"{where} ({name}): 'path' must be a non-empty string")
            continue
        caption = video.get("caption", "")
        if not isinstance(caption, str):
            problems.append(f"{where} ({name}): 'caption' must be a string")
        metadata = video.get("metadata", {})
        if not isinstance(metadata, dict):
            problems.append(f"{where} ({name}): 'metadata' must be an object")
        split = video.get("split")
        if split is not None:
            split = _SPLIT_ALIASES.get(split, split)
            if split not in SPLITS:
                problems.append(f"{where} ({name}): split {video['split']!r} is not one of {list(SPLITS)}")
        else:
            split = hash_split(name, split_ratios)
        if storage.is_uri(path) or (remote and not Path(path).expanduser().is_absolute()):
            location = storage.locate(path, storage.parent(source))
        else:
            full = Path(path).expanduser()
            if not full.is_absolute():
                # beside the config file first, then the current directory (how the patch job reads it)
                full = base / full if (base / full).exists() or not full.exists() else full
            location = str(full.absolute())
        items.append(VideoItem(name, location, split, caption if isinstance(caption, str) else "",
                               metadata if isinstance(metadata, dict) else {}))
    if problems:
        raise ConfigError(problems, source=str(source))
    return items
