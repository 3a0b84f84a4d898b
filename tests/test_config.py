"""Declared config bounds: checked generically by from_dict, with one-line problems; cross-field checks kept."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from vidray.config import Bound, bounded, config_problems, from_dict, load_config
from vidray.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    """A nested config: one bound and one cross-field rule."""

    low: int = bounded(0, ge=0)
    high: int = bounded(10, le=100)

    def problems(self) -> list[str]:
        return [f"low must be <= high, got {self.low} > {self.high}"] if self.low > self.high else []


@dataclass(frozen=True)
class Outer:
    """Every kind of bound, an optional setting and a nested config."""

    count: int = bounded(1, ge=1)
    rate: float = bounded(0.5, gt=0, lt=1)
    level: int = bounded(3, ge=0, le=9)
    retries: int = bounded(2, ge=-1, note="(-1 = retry forever)")
    limit: int | None = bounded(None, ge=1)
    curve: str = bounded("hable", choices=("hable", "mobius"))
    inner: Inner = Inner()
    free: int = -5


def test_defaults_pass_and_values_in_range_pass():
    assert from_dict(Outer, {}) == Outer()
    cfg = from_dict(Outer, {"count": 7, "rate": 0.25, "level": 9, "retries": -1, "limit": 1, "curve": "mobius"})
    assert (cfg.count, cfg.level, cfg.retries, cfg.limit) == (7, 9, -1, 1)


def test_every_violated_bound_is_one_line_in_one_error():
    bad = {"count": 0, "rate": 1.0, "level": 10, "retries": -2, "limit": 0, "curve": "reinhard"}
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, bad, source="run.yaml")
    assert err.value.problems == [
        "count must be >= 1, got 0",
        "rate must be in (0, 1), got 1.0",
        "level must be in 0..9, got 10",
        "retries must be >= -1 (-1 = retry forever), got -2",
        "limit must be >= 1, got 0",
        "curve must be one of hable, mobius, got 'reinhard'",
    ]
    assert str(err.value).startswith("run.yaml: 6 problems:")


def test_none_skips_the_bound_of_an_optional_setting():
    assert from_dict(Outer, {"limit": None}).limit is None
    assert Bound(ge=1).problem("x", None) is None


def test_unbounded_settings_take_any_value_of_their_type():
    assert from_dict(Outer, {"free": -100}).free == -100


def test_types_are_checked_before_bounds():
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"count": "many", "level": 99})
    assert err.value.problems == ["count: expected int, got 'many'"]


def test_nested_config_from_a_mapping_is_built_and_checked_with_dotted_names():
    assert from_dict(Outer, {"inner": {"low": 2, "high": 5}}).inner == Inner(2, 5)
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"count": 0, "inner": {"low": -1, "high": 101, "colour": 1}})
    assert err.value.problems[0].startswith("inner.unknown setting 'colour'")
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"count": 0, "inner": {"low": -1, "high": 101}})
    assert err.value.problems == ["inner.low must be >= 0, got -1", "inner.high must be <= 100, got 101"]
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"inner": {"low": 50, "high": 40}})
    assert err.value.problems == ["inner.low must be <= high, got 50 > 40"]


def test_config_problems_checks_configs_built_in_code_too():
    assert config_problems(Outer()) == []
    assert config_problems(Outer(count=0, inner=Inner(low=-3))) == ["count must be >= 1, got 0",
                                                                      "inner.low must be >= 0, got -3"]
    assert config_problems(Outer(count="x")) == ["count must be >= 1, got 'x'"]  # not a number: still one line


def test_missing_required_setting_is_a_problem():
    @dataclass(frozen=True)
    class Needs:
        name: str
        n: int = bounded(1, ge=1)

    with pytest.raises(ConfigError) as err:
        from_dict(Needs, {"n": 0})
    assert err.value.problems == ["name is required"]


def test_bounds_of_the_real_configs_and_their_cross_field_checks(tmp_path):
    from vidray.embed.config import EmbedConfig
    from vidray.patches.config import BaseSettings
    from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
    from vidray.train.config import TrainConfig, TuneConfig

    path = tmp_path / "vm.yaml"
    path.write_text("videos_per_digit: 0\ncrf: 52\nimage_size: 31\n")
    with pytest.raises(ConfigError) as err:
        load_config(VideoMNISTConfig, path)
    assert err.value.problems == ["videos_per_digit must be >= 1, got 0", "crf must be in 0..51, got 52",
                                  "image_size must be even for H.264 MP4 output, got 31 (or use --no-mp4)"]
    assert load_config(VideoMNISTConfig, path, {"videos_per_digit": 2, "crf": 0, "write_mp4": False}).image_size == 31
    with pytest.raises(ConfigError, match=r"image_size must be > 28 \(the digit size\), got 20"):
        from_dict(MovingMNISTConfig, {"image_size": 20})
    with pytest.raises(ConfigError, match="png_compression must be in 0..9, got 10"):
        from_dict(BaseSettings, {"png_compression": 10})
    assert from_dict(BaseSettings, {"max_workers": None}).max_workers is None
    with pytest.raises(ConfigError, match=r"val_fraction must be in \[0, 1\), got 1.0"):
        from_dict(TrainConfig, {"data": "x", "val_fraction": 1.0})
    with pytest.raises(ConfigError) as err:
        from_dict(TuneConfig, {"vgg_weight_min": 0.5, "vgg_weight_max": 0.1, "mode": "mid"})
    assert err.value.problems == ["mode must be one of min, max, got 'mid'",
                                  "need vgg_weight_min < vgg_weight_max, got 0.5, 0.1"]
    assert from_dict(EmbedConfig, {"fps": None, "every_n": 3}).sample_fps is None
    with pytest.raises(ConfigError, match="fps must be > 0, got None"):
        from_dict(EmbedConfig, {"fps": None})
    with pytest.raises(ConfigError, match="fps must be > 0, got 0"):
        from_dict(EmbedConfig, {"fps": 0})

