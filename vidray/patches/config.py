"""The patch-extraction config: ``base_settings`` + ``videos``, validated at the door listing every problem."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from vidray.config import bounded, from_dict, read_config_file
from vidray.errors import ConfigError, InputError
from vidray.io import storage
from vidray.io.names import clean_name
from vidray.patches.formats import CATEGORY_FOLDERS, distribution_problems

TONE_CURVES = ("hable", "mobius", "reinhard", "clip")


@dataclass(frozen=True)
class BaseSettings:
    """Run-wide settings. ``frame_limit`` = extractions per video at category weight 1."""

    frame_limit: int = bounded(3000, ge=1)
    output_base_dir: str | None = None
    temp_dir: str | None = None  # accepted for seed configs; nothing goes through a temp dir
    min_file_size: int = bounded(1024, ge=0)
    retry_attempts: int = bounded(3, ge=0)
    retry_skip_seconds: float = bounded(2.0, gt=0)
    workers: int | None = bounded(None, ge=1)
    seed: int = bounded(0, ge=0)
    segment_seconds: float = bounded(30.0, gt=0)
    tone_curve: str = bounded("hable", choices=TONE_CURVES)
    hdr_peak_nits: float = bounded(1000.0, gt=100)
    png_compression: int = bounded(1, ge=0, le=9)
    format_distribution: dict = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Problems of the format mix, which is checked against the crop-format registry."""
        p = []
        for cat, dist in self.format_distribution.items():
            if cat not in CATEGORY_FOLDERS:
                p.append(f"format_distribution: unknown category {cat!r} (known: {', '.join(CATEGORY_FOLDERS)})")
            elif not isinstance(dist, dict):
                p.append(f"format_distribution.{cat}: must map format names to weights")
            else:
                p.extend(f"format_distribution.{cat}: {x}" for x in distribution_problems(dist))
        return p


@dataclass(frozen=True)
class VideoEntry:
    """One source video and its category weights (``{"general": 0.5, "space": 0.5}``)."""

    name: str
    path: str
    categories: dict = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Every problem with this entry (the file's existence is checked by :func:`load_patches_config`)."""
        p = []
        if not self.name.strip():
            p.append("name is empty")
        for cat, w in self.categories.items():
            if cat not in CATEGORY_FOLDERS:
                p.append(f"unknown category {cat!r} (known: {', '.join(CATEGORY_FOLDERS)})")
            if not isinstance(w, (int, float)) or isinstance(w, bool):
                p.append(f"weight of {cat} must be a number, got {w!r}")
            elif w < 0:
                p.append(f"weight of {cat} is negative ({w})")
        return p

    def weights(self) -> dict[str, float]:
        """Category weights, scaled down so they sum to at most 1; zero weights dropped."""
        w = {c: float(v) for c, v in self.categories.items() if float(v) > 0}
        total = sum(w.values())
        return {c: v / total for c, v in w.items()} if total > 1 else w


@dataclass(frozen=True)
class PatchesConfig:
    """The whole job: run-wide settings and the video list."""

    base_settings: BaseSettings
    videos: tuple[VideoEntry, ...]

    def distribution(self, category: str) -> dict[str, float]:
        """This run's ``{format: weight}`` for ``category`` (override, else the registry's)."""
        from vidray.patches.formats import CATEGORY_DISTRIBUTIONS

        return dict(self.base_settings.format_distribution.get(category) or CATEGORY_DISTRIBUTIONS[category])

    def identity(self) -> dict:
        """What makes two runs the same output (worker count and paths of the run excluded)."""
        base = dataclasses.asdict(self.base_settings)
        for k in ("workers", "output_base_dir", "temp_dir"):
            base.pop(k)
        return {"base_settings": base, "videos": [dataclasses.asdict(v) for v in self.videos]}


def _build(cls, raw: dict, label: str, problems: list[str]):
    """``from_dict`` that reports unknown keys *and* the problems of the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in known]
    problems += [f"{label}: unknown setting {k!r} (known: {', '.join(sorted(known))})" for k in unknown]
    try:
        return from_dict(cls, {k: v for k, v in raw.items() if k in known}, source=label)
    except ConfigError as exc:
        problems += [f"{label}: {x}" for x in exc.problems]
        return None


def parse_patches_config(data: dict, source: str = "config", base_dir: str | os.PathLike | None = None,
                         check_files: bool = True) -> PatchesConfig:
    """Validate a config mapping; relative video paths resolve against ``base_dir``."""
    problems: list[str] = []
    unknown = [k for k in data if k not in ("base_settings", "videos")]
    problems += [f"unknown top-level key {k!r} (known: base_settings, videos)" for k in unknown]
    base = _build(BaseSettings, dict(data.get("base_settings") or {}), "base_settings", problems) or BaseSettings()
    raw_videos = data.get("videos")
    videos: list[VideoEntry] = []
    if not isinstance(raw_videos, list) or not raw_videos:
        problems.append("videos: must be a non-empty list")
        raw_videos = []
    seen: dict[str, int] = {}
    missing = _missing_films(raw_videos, base_dir) if check_files else {}
    for i, raw in enumerate(raw_videos):
        label = f"videos[{i}]" + (f" ({raw.get('name')})" if isinstance(raw, dict) and raw.get("name") else "")
        if not isinstance(raw, dict):
            problems.append(f"{label}: must be a mapping")
            continue
        entry = _build(VideoEntry, raw, label, problems)
        name, path = str(raw.get("name", "")), raw.get("path")
        if isinstance(path, (str, os.PathLike)):
            path = storage.locate(path, base_dir)
            if path in missing:
                problems.append(f"{label}: video file {path} {missing[path]}")
        key = clean_name(name)
        if name and key in seen:
            problems.append(f"{label}: duplicate name {name!r} (same file names as videos[{seen[key]}])")
        seen.setdefault(key, i)
        if entry is not None:
            videos.append(dataclasses.replace(entry, path=str(path)))
    if problems:
        raise ConfigError(problems, source=source)
    return PatchesConfig(base, tuple(videos))


def _missing_films(raw_videos: list, base_dir) -> dict[str, str]:
    """{location: why it cannot be used} of the listed films that are not files (URIs checked concurrently)."""
    paths = {storage.locate(v["path"], base_dir) for v in raw_videos
             if isinstance(v, dict) and isinstance(v.get("path"), (str, os.PathLike))}
    local = {p for p in paths if storage.local_path(p) is not None}
    missing = {p: "does not exist" for p in local if not storage.local_path(p).is_file()}
    remote = sorted(paths - local)
    try:
        found = storage.exist_all(remote)
    except InputError as exc:  # no such bucket, no credentials, endpoint unreachable: one reason for all
        return {**missing, **{p: f"cannot be checked: {exc.reason}" for p in remote}}
    return {**missing, **{p: "does not exist" for p, ok in zip(remote, found) if not ok}}


def load_patches_config(path: str | os.PathLike, overrides: dict | None = None) -> PatchesConfig:
    """Read and validate a JSON/YAML config file; non-None ``overrides`` replace base settings."""
    data = read_config_file(path)
    if overrides:
        base = dict(data.get("base_settings") or {})
        base.update({k: v for k, v in overrides.items() if v is not None})
        data = {**data, "base_settings": base}
    return parse_patches_config(data, source=str(path), base_dir=storage.parent(path))
