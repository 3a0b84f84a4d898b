"""Config validation at the door: every problem in one error; weights; relative paths."""

import json

import pytest

from vidray.errors import ConfigError
from vidray.patches.config import VideoEntry, clean_name, load_patches_config, parse_patches_config


def test_every_problem_listed_in_one_error(tmp_path, clips):
    data = {"base_settings": {"frame_limit": 10, "colour": "red", "retry_attempts": -1},
            "videos": [{"name": "a", "path": str(clips["h264"]), "categories": {"general": -0.5}},
                       {"name": "a", "path": str(clips["hevc"]), "categories": {"space": 1}},
                       {"name": "b", "path": str(tmp_path / "nope.mp4"), "categories": {"sky": 1}},
                       {"name": "c", "path": str(clips["h264"]), "categories": {}, "fps": 3}],
            "extra": 1}
    with pytest.raises(ConfigError) as err:
        parse_patches_config(data)
    text = "\n".join(err.value.problems)
    for needle in ("unknown top-level key 'extra'", "unknown setting 'colour'", "retry_attempts must be >= 0",
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
    cfg = load_patches_config(path, {"seed": 7, "frame_limit": None})
    assert cfg.videos[0].path == str(tmp_path / "v.mp4")
    assert cfg.base_settings.seed == 7 and cfg.base_settings.frame_limit == 5
    assert clean_name(cfg.videos[0].name) == "My_Film_2019"
