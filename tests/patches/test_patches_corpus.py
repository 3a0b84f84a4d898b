"""The patch job over the real-footage corpus (tests/corpus.py): every file either gives its patches — cut
from the picture as a player shows it, from 7 consecutive frames in presentation order — or fails alone
with its reason, and the rest of the job is done."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from vidray.io.picture import display_rgb
from vidray.io.png import read_png
from vidray.io.probe import pick_video_stream, probe_video
from vidray.patches.config import parse_patches_config
from vidray.patches.crops import crop_window, make_patch_set
from vidray.patches.job import run_patches
from vidray.patches.layout import MANIFEST_FILE
from vidray.patches.plan import HALF, plan_video
from vidray.stage import Scale


@pytest.fixture(scope="module")
def corpus_run(ray_local, corpus, tmp_path_factory):
    videos = [{"name": name, "path": str(case.path), "categories": {"general": 1.0}} for name, case in corpus.items()]
    cfg = parse_patches_config({"base_settings": {"frame_limit": 3, "segment_seconds": 1.0, "min_file_size": 1000},
                                "videos": videos})
    out = tmp_path_factory.mktemp("corpus_patches")
    summary = run_patches(cfg, out, scale=Scale(workers=2))
    records = [json.loads(line) for line in (out / MANIFEST_FILE).read_text().splitlines()]
    return cfg, out, summary, records


def test_each_file_works_or_fails_alone_with_its_reason(corpus_run, corpus):
    _, _, summary, records = corpus_run
    failing = {name for name, case in corpus.items() if not case.works_patches}
    assert set(summary.video_errors) == failing, summary.video_errors
    for name in failing:
        assert corpus[name].reason in summary.video_errors[name], (name, summary.video_errors[name])
    bad = [r for r in records if r["status"] != "ok"]
    assert not bad, [(r["video"], r["reason"]) for r in bad]
    by_video = {}
    for r in records:
        by_video.setdefault(r["video"], []).append(r)
    assert {v: len(rs) for v, rs in by_video.items()} == {name: 3 for name in corpus if name not in failing}
    notes = "\n".join(summary.notes)
    assert "rotate90: shown turned by 90°" in notes and "anamorphic: pixels are 1.067:1" in notes
    assert "vfr: variable frame rate (45 frames" in notes


def shown_frames(path) -> list[np.ndarray]:
    """Every frame in presentation order, decoded front to back and made upright / square (the reference)."""
    info = probe_video(path)
    with av.open(str(path)) as c:
        stream = pick_video_stream(c)
        frames = sorted(c.decode(stream), key=lambda f: f.pts)
        return [display_rgb(f, info.hdr, info.rotation) for f in frames]


@pytest.mark.parametrize("name", ["vfr", "rotate90", "cover_art", "avi_no_index", "upright"])
def test_patches_are_seven_consecutive_shown_frames(corpus_run, corpus, name):
    cfg, out, _, records = corpus_run
    entry = next(v for v in cfg.videos if v.name == name)
    boxes = {e["key"]: e["box"] for e in plan_video(entry, probe_video(entry.path), cfg).extractions}
    frames = shown_frames(corpus[name].path)
    for rec in (r for r in records if r["video"] == name):
        c = rec["centre"]
        crops = np.stack([crop_window(frames[i][None], boxes[rec["key"]])[0] for i in range(c - HALF, c + HALF + 1)])
        want = make_patch_set(crops)
        for kind, rel in zip(("GT", "LR", "LR_7frames"), rec["files"]):
            got = read_png(out / rel)
            assert got.shape == want[kind].shape, (name, kind)
            assert np.abs(got.astype(int) - want[kind]).mean() < 0.5, (name, kind, rec["key"])
    if name == "rotate90":
        assert probe_video(corpus[name].path).display_size == (576, 720)
        assert all(boxes[r["key"]][1] + boxes[r["key"]][3] <= 720 for r in records if r["video"] == name)
