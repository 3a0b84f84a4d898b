"""End to end on local Ray: layout, alignment, HDR path, bad inputs, determinism 1 vs 2 workers,
resume after a crashed driver, the CLI and the monitor."""

import json
from pathlib import Path

import numpy as np
import pytest

from vidray.io.png import read_png
from vidray.io.probe import probe_video
from vidray.io.segments import SegmentDecoder
from vidray.io.video import read_frames
from vidray.patches.config import parse_patches_config
from vidray.patches.crops import downscale
from vidray.patches.decode import frame_to_array
from vidray.patches.formats import register_format
from vidray.patches.job import run_patches
from vidray.patches.layout import MANIFEST_FILE, STATUS_FILE
from vidray.patches.plan import plan_video
from vidray.patches.tonemap import tonemap_to_bt709
from vidray.stage import Scale

register_format("test_132", 132, 132, "Patches_Test132", "_t132")  # a small format, through the registry


def make_cfg(clips, bikes, **base):
    videos = [
        {"name": "pan", "path": str(clips["h264"]), "categories": {"general": 1.0}},
        {"name": "odd hevc", "path": str(clips["hevc"]), "categories": {"toon": 1.0}},
        {"name": "pq", "path": str(clips["pq"]), "categories": {"general": 0.5}},
        {"name": "fhd", "path": str(clips["fhd"]), "categories": {"toon": 1.0}},
        {"name": "bikes", "path": str(bikes), "categories": {"space": 1.0}},
        {"name": "short", "path": str(clips["short"]), "categories": {"general": 1.0}},
        {"name": "truncated", "path": str(clips["truncated"]), "categories": {"general": 1.0}},
        {"name": "garbage", "path": str(clips["garbage"]), "categories": {"general": 1.0}},
        {"name": "black", "path": str(clips["black"]), "categories": {"general": 0.5}},
        {"name": "cut", "path": str(clips["cut"]), "categories": {"general": 1.0}},
        {"name": "unused", "path": str(clips["h264"]), "categories": {"space": 0}},
    ]
    settings = {"frame_limit": 6, "segment_seconds": 1.0, "min_file_size": 5000, "retry_attempts": 1,
                "retry_skip_seconds": 0.4,
                "format_distribution": {"space": {"small_540": 1, "test_132": 1},
                                        "toon": {"small_540": 1, "medium_169": 1, "xlarge_169": 1, "fullhd": 1}},
                **base}
    return parse_patches_config({"base_settings": settings, "videos": videos})


def records(out: Path) -> dict:
    lines = (out / MANIFEST_FILE).read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    assert len({r["key"] for r in recs}) == len(recs), "duplicate manifest records"
    return {r["key"]: r for r in recs}


def tree_bytes(out: Path) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


@pytest.fixture(scope="module")
def main_run(ray_local, clips, bikes, tmp_path_factory):
    out = tmp_path_factory.mktemp("patches") / "out"
    summary = run_patches(make_cfg(clips, bikes), out, scale=Scale(workers=2))
    return out, summary


def test_bad_inputs_have_reasons_and_the_rest_completes(main_run):
    out, summary = main_run
    errors = summary.video_errors
    assert set(errors) == {"short", "truncated", "garbage"}
    assert "7 consecutive frames" in errors["short"]
    assert "cannot be opened" in errors["garbage"] and errors["truncated"]
    recs = records(out)
    by_video = {}
    for r in recs.values():
        by_video.setdefault(r["video"], []).append(r)
    for name in ("pan", "odd hevc", "pq", "fhd", "bikes"):
        assert by_video[name] and all(r["status"] == "ok" for r in by_video[name]), name
    black = by_video["black"]
    assert len(black) == 3 and all(r["status"] == "failed" and "min_file_size" in r["reason"]
                                   and r["attempts"] == 2 for r in black)
    cut = by_video["cut"]
    assert any(r["status"] == "ok" for r in cut) and any(r["status"] == "failed" for r in cut)
    assert all(("end of file" in r["reason"] or "decode error" in r["reason"]) for r in cut if r["status"] != "ok")
    status = json.loads((out / STATUS_FILE).read_text())
    assert status["state"] == "complete_with_errors"
    assert status["videos"]["garbage"]["state"] == "failed" and status["videos"]["unused"]["state"] == "skipped"
    assert status["progress"]["done"] == status["progress"]["total"] == len(recs)
    ok_general = sum(r["status"] == "ok" and r["category"] == "general" for r in recs.values())
    assert status["categories"]["general"]["created"] == ok_general
    assert status["categories"]["general"]["bytes"] > 0
    assert any("bikes: space: formats small_540 larger" in n for n in summary.notes)
    assert summary.line().startswith(f"patches: {summary.ok}/{summary.planned} extractions ok")


def test_layout_names_and_shapes(main_run):
    out, _ = main_run
    for folder in ("Universal/Mastermodell/Learn", "Space/SpaceModel/Learn", "Toon/ToonModel/Learn"):
        for kind in ("GT", "LR"):
            val = out / folder / "Val" / kind
            assert val.is_dir() and not any(val.iterdir())
    recs = records(out)
    assert (out / "Universal/Mastermodell/Learn/Patches/GT/patch_pan_idx0000.png").is_file()
    assert (out / "Toon/ToonModel/Learn/Patches_FullHD/LR_7frames/patch_fhd_idx0000_fullhd.png").is_file()
    assert (out / "Toon/ToonModel/Learn/Patches_XLarge169/LR/patch_fhd_idx0000_xl169.png").is_file()
    assert (out / "Toon/ToonModel/Learn/Patches_Medium169/GT/patch_odd_hevc_idx0000_med169.png").is_file()
    assert (out / "Space/SpaceModel/Learn/Patches_Test132/GT/patch_bikes_idx0000_t132.png").is_file()
    sizes = {"small_540": (540, 540), "medium_169": (405, 720), "xlarge_169": (810, 1440),
             "fullhd": (1080, 1920), "test_132": (132, 132), "large_720": (720, 720)}
    seen = set()
    for r in recs.values():
        if r["status"] != "ok":
            continue
        h, w = sizes[r["format"]]
        gt, lr, lr7 = (read_png(out / f) for f in r["files"])
        assert gt.shape == (h, w, 3) and lr.shape == (5 * h // 3, w // 3, 3) and lr7.shape == (7 * h // 3, w // 3, 3)
        seen.add(r["format"])
    assert {"small_540", "medium_169", "xlarge_169", "fullhd", "test_132"} <= seen
    assert not list(out.rglob("*.part"))


def planned_boxes(cfg, name):
    entry = next(v for v in cfg.videos if v.name == name)
    plan = plan_video(entry, probe_video(entry.path), cfg)
    return {e["key"]: e["box"] for e in plan.extractions}


def test_gt_and_lr_align_with_decoded_frames(main_run, clips, bikes):
    out, _ = main_run
    frames = read_frames(clips["h264"])
    boxes = planned_boxes(make_cfg(clips, bikes), "pan")
    recs = [r for r in records(out).values() if r["video"] == "pan"]
    assert len(recs) == len(boxes) == 6
    for r in recs:
        x, y, w, h = boxes[r["key"]]
        c = r["centre"]
        gt = read_png(out / r["files"][0])
        assert (gt == frames[c, y:y + h, x:x + w]).all(), f"GT of {r['key']} is not decoded frame {c}"
        assert not (gt == frames[c - 1, y:y + h, x:x + w]).all()  # the neighbour frame differs (pan)
        lr = read_png(out / r["files"][1]).reshape(5, h // 3, w // 3, 3)
        for k in range(5):  # frame −2 at the top
            assert (lr[k] == downscale(frames[c - 2 + k, y:y + h, x:x + w])).all(), (r["key"], k)
        lr7 = read_png(out / r["files"][2]).reshape(7, h // 3, w // 3, 3)
        assert (lr7[1:6] == lr).all() and (lr7[0] == downscale(frames[c - 3, y:y + h, x:x + w])).all()


def test_hdr_path_only_for_hdr_input(main_run, clips, bikes):
    out, _ = main_run
    boxes = planned_boxes(make_cfg(clips, bikes), "pq")
    r = next(r for r in records(out).values() if r["video"] == "pq")
    x, y, w, h = boxes[r["key"]]
    gt = read_png(out / r["files"][0]).astype(int)
    dec = SegmentDecoder(clips["pq"], 25.0)
    frame = next(f for i, f in dec.frames_from(r["centre"]) if i == r["centre"])
    hdr = frame_to_array(frame, (600, 600), "pq")
    sdr = frame.to_ndarray(format="rgb24")
    dec.close()
    assert (tonemap_to_bt709(hdr[y:y + h, x:x + w], "pq").astype(int) == gt).all()  # the tone-mapped crop
    assert np.abs(sdr[y:y + h, x:x + w].astype(int) - gt).mean() > 5  # not the untouched PQ signal


def test_one_vs_two_workers_identical(main_run, clips, bikes, tmp_path):
    out2, _ = main_run
    out1 = tmp_path / "w1"
    run_patches(make_cfg(clips, bikes), out1, scale=Scale(workers=1))
    a, b = tree_bytes(out1), tree_bytes(out2)
    assert a.keys() == b.keys() and len(a) > 30
    assert all(a[k] == b[k] for k in a)
    assert records(out1) == records(out2)


def test_resume_after_crash_gives_identical_output(main_run, clips, bikes, tmp_path):
    ref, _ = main_run
    out = tmp_path / "crash"

    def crash(done):
        if done >= 3:
            raise RuntimeError("simulated driver crash")

    with pytest.raises(RuntimeError, match="simulated"):
        run_patches(make_cfg(clips, bikes), out, scale=Scale(workers=2), after_records=crash)
    partial = records(out)
    assert 3 <= len(partial) < len(records(ref))
    assert json.loads((out / STATUS_FILE).read_text())["state"] == "interrupted"
    summary = run_patches(make_cfg(clips, bikes), out, scale=Scale(workers=2))
    assert summary.written == sum(r["status"] == "ok" for r in records(ref).values()) - \
        sum(r["status"] == "ok" for r in partial.values())
    a, b = tree_bytes(out), tree_bytes(ref)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert records(out) == records(ref)
    again = run_patches(make_cfg(clips, bikes), out, scale=Scale(workers=2))
    assert again.written == 0 and again.already_complete


def test_cli_patches_and_monitor(ray_local, clips, tmp_path, capsys):
    from vidray.cli_flags import OneLineParser
    from vidray.patches.cli import register

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"base_settings": {"frame_limit": 2, "output_base_dir": str(tmp_path / "default")},
                               "videos": [{"name": "pan", "path": str(clips["h264"]),
                                           "categories": {"general": 1}}]}))
    parser = OneLineParser(prog="vidray")
    register(parser.add_subparsers(dest="command", parser_class=OneLineParser))
    args = parser.parse_args(["patches", str(cfg), "--seed", "3", "--no-live"])
    assert args.handler(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("patches: 2/2 extractions ok, 0 failed") and str(tmp_path / "default") in line
    args = parser.parse_args(["monitor", str(tmp_path / "default"), "--once"])
    assert args.handler(args) == 0
    shown = capsys.readouterr().out
    assert "general" in shown and "2 / 2" in shown and "monitor: complete: 2 ok" in shown


def test_different_config_in_same_output_is_refused(main_run, clips, bikes):
    from vidray.errors import OutputError

    out, _ = main_run
    with pytest.raises(OutputError, match="holds a different run"):
        run_patches(make_cfg(clips, bikes, seed=1), out, scale=Scale(workers=2))


def test_demo_runs_and_says_where_things_went(ray_local, tmp_path):
    from vidray.patches.cli import run_patches_demo

    lines = run_patches_demo(tmp_path / "demo", scale=Scale(workers=2))
    assert lines[0].startswith("patches: 12/12 extractions ok, 0 failed")
    assert "bigbuckbunny.mp4" in lines[1]  # real footage, not generated noise
    assert any("Toon/ToonModel/Learn/Patches/{GT,LR,LR_7frames}" in line for line in lines)
    gts = list((tmp_path / "demo" / "patches").rglob("GT/*.png"))
    assert len(gts) == 12 and len(list((tmp_path / "demo" / "patches").rglob("*.png"))) == 36
    from vidray.io.png import read_png

    assert all(read_png(p).std() > 20 for p in gts)  # pictures, not flat frames
