"""Config validation at the door: every problem in one error; weights; relative paths."""

import json

import pytest

from vidray.errors import ConfigError
from vidray.patches.config import (
    ALIASES,
    BaseSettings,
    VideoEntry,
    clean_name,
    load_patches_config,
    parse_patches_config,
)


def test_every_problem_listed_in_one_error(tmp_path, clips):
    data = {"base_settings": {"frame_limit": 10, "colour": "red", "max_retry_attempts": -1},
            "videos": [{"name": "a", "path": str(clips["h264"]), "categories": {"general": -0.5}},
                       {"name": "a", "path": str(clips["hevc"]), "categories": {"space": 1}},
                       {"name": "b", "path": str(tmp_path / "nope.mp4"), "categories": {"sky": 1}},
                       {"name": "c", "path": str(clips["h264"]), "categories": {}, "fps": 3}],
            "extra": 1}
    with pytest.raises(ConfigError) as err:
        parse_patches_config(data)
    text = "\n".join(err.value.problems)
    for needle in ("unknown top-level key 'extra'", "unknown setting 'colour'", "max_retry_attempts must be >= 0",
                   "weight of general is negative", "duplicate name 'a'", "nope.mp4 does not exist",
                   "unknown category 'sky'", "unknown setting 'fps'"):
        assert needle in text, needle
    assert len(err.value.problems) >= 8


def test_bad_format_distribution_is_a_problem(clips):
    with pytest.raises(ConfigError, match="unknown crop format 'giant'"):
        parse_patches_config({"base_settings": {"format_distribution": {"general": {"giant": 1}}},
                              "videos": [{"name": "a", "path": str(clips["h264"]), "categories": {"general": 1}}]})


def test_weights_normalised_only_above_one():
    assert VideoEntry("a", "x", {"general": 0.5, "space": 0.25}).weights() == {"general": 0.5, "space": 0.25}
    assert VideoEntry("a", "x", {"general": 3, "toon": 1}).weights() == {"general": 0.75, "toon": 0.25}
    assert VideoEntry("a", "x", {"general": 0, "toon": 0}).weights() == {}


def test_relative_paths_resolve_against_config_dir_and_overrides(tmp_path, clips):
    (tmp_path / "v.mp4").write_bytes(clips["short"].read_bytes())
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"base_settings": {"frame_limit": 5},
                                "videos": [{"name": "My Film (2019)", "path": "v.mp4", "categories": {"toon": 1}}]}))
    cfg = load_patches_config(path, {"seed": 7, "base_frame_limit": None})
    assert cfg.videos[0].path == str(tmp_path / "v.mp4")
    assert cfg.base_settings.seed == 7 and cfg.base_settings.base_frame_limit == 5
    assert load_patches_config(path, {"base_frame_limit": 9}).base_settings.base_frame_limit == 9  # flag wins
    assert clean_name(cfg.videos[0].name) == "My_Film_2019"


GENERATOR_BASE = {"base_frame_limit": 3000, "max_workers": 12, "val_percent": 0.0,
                  "output_base_dir": "/data/dataset", "temp_dir": "/data/dataset/temp", "min_file_size": 10000,
                  "scene_diff_threshold": 45, "max_retry_attempts": 10, "retry_skip_seconds": 60}


def test_generator_settings_are_canonical_and_old_names_are_aliases(clips):
    video = [{"name": "a", "path": str(clips["h264"]), "categories": {"general": 1}}]
    new = parse_patches_config({"base_settings": GENERATOR_BASE, "videos": video})
    assert new.base_settings == BaseSettings(**GENERATOR_BASE)
    old_names = {k: v for k, v in GENERATOR_BASE.items() if k not in ALIASES.values()}
    old_names.update(frame_limit=3000, workers=12, retry_attempts=10)
    old = parse_patches_config({"base_settings": old_names, "videos": video})
    assert old.base_settings == new.base_settings and old.identity() == new.identity()
    # the run's workers, paths and the unused scene threshold do not make it another run
    other = parse_patches_config({"base_settings": {**GENERATOR_BASE, "max_workers": 2, "scene_diff_threshold": 9,
                                                    "output_base_dir": "/else"}, "videos": video})
    assert other.identity() == new.identity()
    defaults = BaseSettings()
    assert (defaults.min_file_size, defaults.max_retry_attempts, defaults.retry_skip_seconds,
            defaults.scene_diff_threshold, defaults.val_percent) == (10000, 10, 60.0, 45, 0.0)
    assert any("scene_diff_threshold 45: accepted and unused" in n for n in defaults.unused_notes())
    assert any("val_percent 0: no validation split" in n for n in defaults.unused_notes())


def test_both_spellings_unknown_keys_and_val_percent_are_refused(clips):
    video = [{"name": "a", "path": str(clips["h264"]), "categories": {"general": 1}}]
    with pytest.raises(ConfigError) as err:
        parse_patches_config({"base_settings": {"frame_limit": 5, "base_frame_limit": 6, "workers": 2,
                                                "max_workers": 2, "scene_threshold": 1, "val_percent": 10},
                              "videos": video})
    text = "\n".join(err.value.problems)
    assert "'frame_limit' and 'base_frame_limit' are the same setting" in text
    assert "'workers' and 'max_workers' are the same setting" in text
    assert "unknown setting 'scene_threshold' (known: base_frame_limit," in text
    assert "also accepted: frame_limit (= base_frame_limit)" in text
    assert "val_percent 10: a validation split is not implemented; set 0" in text
    with pytest.raises(ConfigError, match="tone_curve must be one of mobius, hable"):
        parse_patches_config({"base_settings": {"tone_curve": "aces"}, "videos": video})
    with pytest.raises(ConfigError, match="scale_filter must be one of lanczos, area"):
        parse_patches_config({"base_settings": {"scale_filter": "bicubic"}, "videos": video})
