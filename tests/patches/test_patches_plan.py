"""The plan: weights → counts, formats that fit, determinism, segments independent of the cluster."""

import pytest

from vidray.patches.config import parse_patches_config
from vidray.patches.formats import FORMATS
from vidray.patches.plan import VideoInfo, apportion, plan_segments, plan_video, work_size


def cfg_for(categories, frame_limit=100, seed=0, **base):
    return parse_patches_config({"base_settings": {"frame_limit": frame_limit, "seed": seed, **base},
                                 "videos": [{"name": "film one", "path": "f.mp4", "categories": categories}]},
                                check_files=False)


UHD = VideoInfo("f.mp4", 3840, 2160, frames=5000, fps=25.0)


def counts(plan):
    out = {}
    for e in plan.extractions:
        out.setdefault(e["category"], {}).setdefault(e["format"], 0)
        out[e["category"]][e["format"]] += 1
    return out


def test_weights_to_counts_and_distribution():
    cfg = cfg_for({"general": 0.5, "space": 0.3})
    plan = plan_video(cfg.videos[0], UHD, cfg)
    c = counts(plan)
    assert sum(c["general"].values()) == 50 and sum(c["space"].values()) == 30
    assert c["general"] == apportion(50, cfg.distribution("general"))
    # the seed generator's table: 0.45*50=22.5 and 0.35*50=17.5 tie on the remainder → the first listed gets it
    assert c["general"] == {"small_540": 23, "medium_169": 17, "large_720": 10}
    assert set(c["space"]) == {"small_540", "xlarge_169", "fullhd"} and c["space"]["xlarge_169"] == 14
    assert plan.work_size == (1920, 1080)


def test_apportion_sums_exactly():
    for total in (0, 1, 7, 99):
        assert sum(apportion(total, {"a": 0.35, "b": 0.2, "c": 0.2, "d": 0.15, "e": 0.1}).values()) == total


def test_plan_is_deterministic_and_categories_differ():
    cfg = cfg_for({"general": 0.5, "space": 0.5})
    a, b = plan_video(cfg.videos[0], UHD, cfg), plan_video(cfg.videos[0], UHD, cfg)
    assert a.extractions == b.extractions
    g = {(e["format"], e["index"]): (e["centre"], tuple(e["box"])) for e in a.extractions if e["category"] == "general"}
    s = {(e["format"], e["index"]): (e["centre"], tuple(e["box"])) for e in a.extractions if e["category"] == "space"}
    common = set(g) & set(s)
    assert common and sum(g[k] != s[k] for k in common) >= len(common) - 1
    other = plan_video(cfg.videos[0], UHD, cfg_for({"general": 0.5, "space": 0.5}, seed=1))
    assert other.extractions != a.extractions
    keys = [e["key"] for e in a.extractions]
    assert len(keys) == len(set(keys))
    for e in a.extractions:
        f = FORMATS[e["format"]]
        x, y, w, h = e["box"]
        assert (w, h) == (f.width, f.height) and 0 <= x <= 1920 - w and 0 <= y <= 1080 - h
        assert 3 <= e["centre"] <= 5000 - 4


def test_centres_spread_over_the_film():
    cfg = cfg_for({"general": 1.0})
    centres = sorted(e["centre"] for e in plan_video(cfg.videos[0], UHD, cfg).extractions)
    assert centres[0] < 100 and centres[-1] > 4900
    assert max(b - a for a, b in zip(centres, centres[1:])) < 110


def test_small_source_moves_extractions_to_formats_that_fit():
    cfg = cfg_for({"space": 1.0}, frame_limit=40)
    plan = plan_video(cfg.videos[0], VideoInfo("f.mp4", 1280, 720, 500, 25.0), cfg)
    c = counts(plan)["space"]
    assert c == {"small_540": 40}
    assert "xlarge_169, fullhd larger than the 1280x720 frame skipped" in plan.notes[0]


def test_no_format_fits_or_too_short_fail_with_reason():
    cfg = cfg_for({"general": 1.0})
    tiny = plan_video(cfg.videos[0], VideoInfo("f.mp4", 640, 272, 250, 25.0), cfg)
    assert tiny.error and "smaller than every crop format" in tiny.error and not tiny.extractions
    short = plan_video(cfg.videos[0], VideoInfo("f.mp4", 1920, 1080, 5, 25.0), cfg)
    assert short.error and "7 consecutive frames" in short.error


def test_zero_weights_skipped_with_note():
    cfg = cfg_for({"general": 0})
    plan = plan_video(cfg.videos[0], UHD, cfg)
    assert not plan.extractions and not plan.error and "skipped" in plan.notes[0]


@pytest.mark.parametrize("size,expected", [((3840, 2160), (1920, 1080)), ((4096, 1716), (1920, 804)),
                                           ((1920, 1080), (1920, 1080)), ((810, 606), (810, 606))])
def test_work_size_scales_only_above_fullhd(size, expected):
    assert work_size(*size) == expected


def test_segments_cover_plan_and_skip_done():
    cfg = cfg_for({"general": 1.0})
    plan = plan_video(cfg.videos[0], UHD, cfg)
    segs = plan_segments(plan, UHD, 10.0)
    assert sum(len(s["windows"]) for s in segs) == 100
    for s in segs:
        assert all(s["start"] <= w["centre"] < s["end"] for w in s["windows"])
    done = {e["key"] for e in plan.extractions[:30]}
    rest = plan_segments(plan, UHD, 10.0, done=done)
    assert sum(len(s["windows"]) for s in rest) == 70
