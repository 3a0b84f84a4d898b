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

TONE_CURVES = ("mobius", "hable", "reinhard", "clip")
SCALE_FILTERS = ("lanczos", "area")
HLG_OOTFS = ("per_channel", "luminance")
# vidray's earlier names of the seed generator's settings, accepted and mapped at the door
ALIASES = {"frame_limit": "base_frame_limit", "workers": "max_workers", "retry_attempts": "max_retry_attempts"}


@dataclass(frozen=True)
class BaseSettings:
    """Run-wide settings, named as the seed generator's ``base_settings`` (its users' configs run unchanged),
    then vidray's own. ``base_frame_limit`` = extractions per video at category weight 1."""

    base_frame_limit: int = bounded(3000, ge=1, le=1_000_000, note="(a plan holds every extraction in memory)")
    max_workers: int | None = bounded(None, ge=1)
    val_percent: float = bounded(0.0, ge=0, le=100)
    output_base_dir: str | None = None
    temp_dir: str | None = None  # accepted for seed configs; nothing goes through a temp dir
    min_file_size: int = bounded(10000, ge=0)
    scene_diff_threshold: float = 45.0  # accepted for seed configs; unused there too (all cuts are kept)
    max_retry_attempts: int = bounded(10, ge=0)
    retry_skip_seconds: float = bounded(60.0, gt=0)
    seed: int = bounded(0, ge=0)
    segment_seconds: float = bounded(30.0, gt=0)
    tone_curve: str = bounded("mobius", choices=TONE_CURVES)
    tone_desat: float = bounded(2.0, ge=0)
    hdr_peak_nits: float | None = bounded(None, gt=100, note="(null: the film's MaxCLL, else its mastering "
                                                             "display's peak, else 1000, as FFmpeg's tonemap)")
    hlg_ootf: str = bounded("per_channel", choices=HLG_OOTFS)
    scale_filter: str = bounded("lanczos", choices=SCALE_FILTERS)
    png_compression: int = bounded(1, ge=0, le=9)
    output_format: str = bounded("folders", choices=("folders", "webdataset", "both"))
    shard_size: int = bounded(1000, ge=1)
    format_distribution: dict = field(default_factory=dict)

    def unused_notes(self) -> list[str]:
        """What the run says about the generator's settings it accepts but does not act on."""
        return [f"val_percent {self.val_percent:g}: no validation split (Val/GT and Val/LR left empty, as the "
                "generator)",
                f"scene_diff_threshold {self.scene_diff_threshold:g}: accepted and unused (as in the generator: "
                "windows across scene cuts are kept)"]

    def problems(self) -> list[str]:
        """Problems of the format mix, which is checked against the crop-format registry."""
        p = []
        if self.val_percent > 0:
            p.append(f"val_percent {self.val_percent:g}: a validation split is not implemented; set 0 (Val/GT and "
                     "Val/LR are created empty for hand-picked images, as the generator does)")
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
        """Category weights, scaled down so they sum to at most 1 (the generator's "normalised"); zero weights
        dropped. Below 1 they stand as given: extractions = base_frame_limit × sum of weights."""
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
        """What makes two runs the same output (worker count, paths and unused settings excluded; aliases are
        mapped at the door, so both spellings of a run are the same run)."""
        base = dataclasses.asdict(self.base_settings)
        for k in ("max_workers", "output_base_dir", "temp_dir", "scene_diff_threshold"):
            base.pop(k)
        return {"base_settings": base, "videos": [dataclasses.asdict(v) for v in self.videos]}


def _build(cls, raw: dict, label: str, problems: list[str], aliases: dict | None = None):
    """``from_dict`` that reports unknown keys *and* the problems of the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    also = f"; also accepted: {', '.join(f'{a} (= {c})' for a, c in aliases.items())}" if aliases else ""
    unknown = [k for k in raw if k not in known]
    problems += [f"{label}: unknown setting {k!r} (known: {', '.join(sorted(known))}{also})" for k in unknown]
    try:
        return from_dict(cls, {k: v for k, v in raw.items() if k in known}, source=label)
    except ConfigError as exc:
        problems += [f"{label}: {x}" for x in exc.problems]
        return None


def canonical_settings(raw: dict, problems: list[str]) -> dict:
    """``base_settings`` with vidray's old names mapped to the generator's (:data:`ALIASES`); a setting given
    under both names is a problem."""
    out = dict(raw)
    for alias, name in ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            if name in out:
                problems.append(f"base_settings: {alias!r} and {name!r} are the same setting; give it once "
                                f"(as {name!r})")
            else:
                out[name] = value
    return out


def parse_patches_config(data: dict, source: str = "config", base_dir: str | os.PathLike | None = None,
                         check_files: bool = True) -> PatchesConfig:
    """Validate a config mapping; relative video paths resolve against ``base_dir``."""
    problems: list[str] = []
    unknown = [k for k in data if k not in ("base_settings", "videos")]
    problems += [f"unknown top-level key {k!r} (known: base_settings, videos)" for k in unknown]
    raw_base = data.get("base_settings") or {}
    if not isinstance(raw_base, dict):
        problems.append("base_settings: must be a mapping")
        raw_base = {}
    raw_base = canonical_settings(raw_base, problems)
    base = _build(BaseSettings, raw_base, "base_settings", problems, ALIASES) or BaseSettings()
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
    """Read and validate a JSON/YAML config file; non-None ``overrides`` (canonical names) replace base settings,
    under either spelling."""
    data = read_config_file(path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if overrides and isinstance(data.get("base_settings") or {}, dict):
        base = dict(data.get("base_settings") or {})
        for name, value in overrides.items():
            for alias in [a for a, c in ALIASES.items() if c == name]:
                base.pop(alias, None)
            base[name] = value
        data = {**data, "base_settings": base}
    return parse_patches_config(data, source=str(path), base_dir=storage.parent(path))
