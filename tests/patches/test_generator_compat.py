"""The seed generator's users: their generator_config.json runs unchanged with its format table, the HDR
chain follows its FFmpeg string, the status file carries its keys (and `vidray monitor` reads a file the
generator wrote, locally or from s3://), `--dry-run` plans without writing, `--retry-failed` re-attempts."""

import io
import json
from pathlib import Path

import av
import numpy as np
import pytest

from tests.patches.conftest import encode, moving_scene
from vidray.io import storage
from vidray.io.manifest import Manifest
from vidray.patches.config import load_patches_config
from vidray.patches.extract import frame_peak_nits
from vidray.patches.job import run_patches
from vidray.patches.layout import MANIFEST_FILE, STATUS_FILE
from vidray.patches.tonemap import pq_inverse_eotf, signal_peak_nits, tonemap_to_bt709

TABLE = {"general": {"small_540": 0.45, "medium_169": 0.35, "large_720": 0.20},
         "space": {"small_540": 0.30, "xlarge_169": 0.45, "fullhd": 0.25},
         "toon": {"small_540": 0.65, "medium_169": 0.35}}
LIMIT = 20


def generator_config(tmp_path: Path, clips) -> Path:
    """A generator_config.json exactly as the seed README writes it (all nine base_settings), one film each."""
    out = tmp_path / "dataset"
    config = {"base_settings": {"base_frame_limit": LIMIT, "max_workers": 12, "val_percent": 0.0,
                                "output_base_dir": str(out), "temp_dir": str(out / "temp"), "min_file_size": 10000,
                                "scene_diff_threshold": 45, "max_retry_attempts": 10, "retry_skip_seconds": 60},
              "videos": [{"name": "Pan Film", "path": str(clips["h264"]), "categories": {"general": 1.0}},
                         {"name": "Space Film", "path": str(clips["fhd"]), "categories": {"space": 1.0}},
                         {"name": "Toon Film", "path": str(clips["hevc"]), "categories": {"toon": 1.0}},
                         {"name": "Skip This", "path": str(clips["h264"]), "categories": {}}]}
    path = tmp_path / "generator_config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def manifest(out) -> dict:
    return Manifest(storage.join(out, MANIFEST_FILE)).records


def generator_keys(status: dict) -> dict:
    return {k: status[k] for k in ("version", "workers", "category_stats", "video_checkpoints")} | {
        k: status["progress"][k] for k in ("total_videos", "completed_videos", "current_video_index")}


@pytest.fixture(scope="module")
def generator_run(ray_local, clips, tmp_path_factory):
    path = generator_config(tmp_path_factory.mktemp("generator"), clips)
    cfg = load_patches_config(path)
    summary = run_patches(cfg)
    return cfg, summary, Path(cfg.base_settings.output_base_dir)


def test_generator_config_runs_unchanged_with_its_format_table(generator_run):
    cfg, summary, out = generator_run
    assert summary.failed == 0 and summary.ok == summary.planned == 3 * LIMIT and not summary.video_errors
    counts: dict = {}
    for r in manifest(out).values():
        counts.setdefault(r["category"], {}).setdefault(r["format"], 0)
        counts[r["category"]][r["format"]] += 1
    for cat, shares in TABLE.items():
        assert set(counts[cat]) == set(shares), cat
        for fmt, share in shares.items():
            assert abs(counts[cat][fmt] - LIMIT * share) <= 1, (cat, fmt, counts[cat])
    assert any("val_percent 0: no validation split" in n for n in summary.notes)
    assert any("scene_diff_threshold 45: accepted and unused" in n for n in summary.notes)
    assert any(n.startswith("Skip This: skipped") for n in summary.notes)
    assert (out / "Space/SpaceModel/Learn/Patches_FullHD/GT/patch_Space_Film_idx0000_fullhd.png").is_file()
    assert not (out / "temp").exists()  # nothing goes through a temp dir


def test_status_file_carries_the_generator_keys(generator_run):
    cfg, _, out = generator_run
    status = json.loads((out / STATUS_FILE).read_text())
    assert status["version"] == "2.0" and status["status"] == "completed" and status["workers"] == 12
    assert status["progress"]["total"] == 3 * LIMIT  # vidray's own keys stay beside the generator's
    assert {k: status["progress"][k] for k in ("total_videos", "completed_videos", "current_video_index")} == \
        {"total_videos": 4, "completed_videos": 4, "current_video_index": 4}
    recs = manifest(out).values()
    for cat in TABLE:
        stats = status["category_stats"][cat]
        made = [r for r in recs if r["category"] == cat]
        assert stats["images_created"] == stats["target"] == len(made) == LIMIT
        assert stats["videos_processed"] == 1
        assert stats["disk_usage_gb"] == round(sum(r["bytes"] for r in made) / 2**30, 3) > 0
    checkpoints = status["video_checkpoints"]
    assert set(checkpoints) == {"0", "1", "2", "3"}  # the position in `videos`
    assert checkpoints["3"] == {"status": "skipped", "last_frame_idx": None, "extractions_done": 0}
    for index, video in enumerate(v.name for v in cfg.videos[:3]):
        mine = [r for r in recs if r["video"] == video]
        assert checkpoints[str(index)] == {"status": "completed", "extractions_done": LIMIT,
                                           "last_frame_idx": max(r["centre"] for r in mine)}


def test_status_keys_right_after_an_interrupted_run_and_its_resume(generator_run, clips, tmp_path):
    _, _, ref = generator_run
    cfg = load_patches_config(generator_config(tmp_path, clips))

    def crash(done):
        if done >= 1:
            raise RuntimeError("simulated driver crash")

    with pytest.raises(RuntimeError, match="simulated"):
        run_patches(cfg, after_records=crash)
    out = Path(cfg.base_settings.output_base_dir)
    partial = json.loads((out / STATUS_FILE).read_text())
    assert partial["status"] == "interrupted"
    done_videos = [k for k, c in partial["video_checkpoints"].items() if c["status"] == "completed"]
    assert partial["progress"]["completed_videos"] == len(done_videos) + 1  # + the skipped one
    assert 1 <= len(done_videos) < 3 and partial["progress"]["current_video_index"] < 3
    run_patches(cfg)
    assert generator_keys(json.loads((out / STATUS_FILE).read_text())) == \
        generator_keys(json.loads((ref / STATUS_FILE).read_text()))


GENERATOR_STATUS = {  # as the seed README shows it: only the generator's own keys
    "version": "2.0", "status": "running", "workers": 12,
    "progress": {"total_videos": 497, "completed_videos": 145, "current_video_index": 145},
    "category_stats": {"general": {"videos_processed": 42, "images_created": 28456, "target": 80000,
                                   "disk_usage_gb": 38.2}},
    "video_checkpoints": {"145": {"status": "in_progress", "last_frame_idx": 1847, "extractions_done": 1847}}}


def render(location) -> tuple[str, dict]:
    from rich.console import Console

    from vidray.patches.monitor import follow

    buf = io.StringIO()
    data = follow(location, once=True, console=Console(file=buf, width=200))
    return buf.getvalue(), data


def test_monitor_renders_a_file_the_generator_wrote(tmp_path, capsys):
    (tmp_path / STATUS_FILE).write_text(json.dumps(GENERATOR_STATUS))
    shown, data = render(tmp_path)
    for needle in ("videos 145/497 (current #145)", "workers 12", "28456 / 80000", "38.2 GB", "#145",
                   "in_progress", "frame 1847", "1847 / -"):
        assert needle in shown, needle
    from vidray.patches.monitor import finished, summary_line

    assert summary_line(data) == "monitor: running: 145/497 videos, 28456 images" and not finished(data)
    assert finished({**data, "status": "completed"})


def test_monitor_reads_a_status_file_on_s3(s3_bucket, generator_run):
    _, _, out = generator_run
    storage.write_bytes(f"{s3_bucket}/gen/{STATUS_FILE}", json.dumps(GENERATOR_STATUS).encode())
    storage.write_bytes(f"{s3_bucket}/run/{STATUS_FILE}", (out / STATUS_FILE).read_bytes())
    shown, _ = render(f"{s3_bucket}/gen")
    assert "28456 / 80000" in shown
    shown, data = render(f"{s3_bucket}/run/{STATUS_FILE}")  # the object itself, a file vidray wrote
    assert f"{LIMIT} / {LIMIT}" in shown and "videos 4/4" in shown and data["state"] == "complete"
    from vidray.errors import InputError

    with pytest.raises(InputError, match="no status file here yet"):
        render(f"{s3_bucket}/nothing")


def cli(argv) -> int:
    from vidray.cli_flags import OneLineParser
    from vidray.patches.cli import register

    parser = OneLineParser(prog="vidray")
    register(parser.add_subparsers(dest="command", parser_class=OneLineParser))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_dry_run_prints_the_plan_and_writes_nothing(clips, tmp_path, capsys, generator_run):
    path = generator_config(tmp_path, clips)
    assert cli(["patches", str(path), "--dry-run", "--frame-limit", "40"]) == 0
    text = capsys.readouterr().out
    assert "plan: 4 videos (1 skipped, 0 failing), 120 extractions" in text
    assert "  general: 40 = large_720 8, medium_169 14, small_540 18" in text
    assert "  toon: 40 = medium_169 14, small_540 26" in text
    assert "note: Skip This: skipped" in text and "note: val_percent 0: no validation split" in text
    assert "work items: 3 (video, 30s segment) holding 120 extractions to do" in text
    assert "frames to decode: ~" in text and "(estimate:" in text and "core-hours" in text
    assert not (tmp_path / "dataset").exists()  # nothing written, not even the output folder
    # against a finished output of the same run: nothing left to do
    _, _, out = generator_run
    assert cli(["patches", str(path), "--dry-run", "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "60 extractions, 60 already done in the output" in text and "work items: 0" in text


def test_retry_failed_reattempts_failed_extractions(ray_local, clips, tmp_path, capsys):
    film = tmp_path / "film.mp4"
    film.write_bytes(clips["black"].read_bytes())  # 600x600 black: every GT below min_file_size
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"base_settings": {"base_frame_limit": 3, "output_base_dir": str(tmp_path / "out")},
                                "videos": [{"name": "film", "path": str(film), "categories": {"toon": 1}}]}))
    assert cli(["patches", str(path), "--no-live"]) == 2  # no extraction succeeded
    first = manifest(tmp_path / "out")
    assert len(first) == 3 and all(r["status"] == "failed" and "min_file_size" in r["reason"] for r in first.values())
    encode(film, moving_scene(30, 600, 600, seed=7), "libx264")  # the film replaced by a good copy
    assert cli(["patches", str(path), "--no-live"]) == 2  # a plain rerun does not redo recorded failures
    assert "(already complete, nothing to do)" in capsys.readouterr().out
    assert cli(["patches", str(path), "--no-live", "--retry-failed"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("patches: 3/3 extractions ok, 0 failed")
    again = manifest(tmp_path / "out")
    assert set(again) == set(first) and all(r["status"] == "ok" for r in again.values())
    status = json.loads((tmp_path / "out" / STATUS_FILE).read_text())
    assert status["progress"]["ok"] == 3 and status["progress"]["failed"] == 0
    assert status["video_checkpoints"]["0"]["extractions_done"] == 3


# FFmpeg 5.1 (Debian) on a grey PQ ramp through the generator's chain ending in gbrp full range:
# (nits, 8-bit output); no metadata → peak 1000 nits, MaxCLL 4000 → peak 4000 nits
FFMPEG_MOBIUS = {1000.0: [(28.17, 149), (62.39, 194), (138.14, 225), (305.9, 243), (677.39, 252), (1500.0, 255)],
                 4000.0: [(19.28, 128), (44.72, 177), (103.7, 214), (240.51, 236), (557.77, 247), (1293.57, 252),
                          (3000.0, 255)]}


@pytest.mark.parametrize("peak", sorted(FFMPEG_MOBIUS))
def test_default_tonemap_is_ffmpeg_mobius_on_greys(peak):
    nits, expected = zip(*FFMPEG_MOBIUS[peak])
    code = np.round(pq_inverse_eotf(np.array(nits)) * 65535).astype(np.uint16)
    out = tonemap_to_bt709(np.repeat(code[:, None], 3, axis=1), "pq", peak_nits=peak)
    assert np.abs(out[:, 1].astype(int) - np.array(expected)).max() <= 2, out[:, 1]


def test_peak_from_light_level_metadata_as_ffmpeg(tmp_path):
    assert signal_peak_nits(4000, 1000.0) == 4000 and signal_peak_nits(0, 1000.0) == 1000.0
    assert signal_peak_nits() == 1000.0
    path = tmp_path / "hdr10.mp4"
    planes = np.concatenate([np.full((128, 128), 600, np.uint16), np.full((64, 128), 512, np.uint16)])  # Y, U, V
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx265", rate=25)
        s.width, s.height, s.pix_fmt = 128, 128, "yuv420p10le"
        s.options = {"preset": "ultrafast", "x265-params": "log-level=error:colorprim=bt2020:transfer=smpte2084:"
                     "colormatrix=bt2020nc:hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)"
                     "WP(15635,16450)L(20000000,50):max-cll=4000,400"}
        for _ in range(4):
            c.mux(s.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p10le")))
        c.mux(s.encode())
    frame = next(av.open(str(path)).decode(video=0))
    assert frame_peak_nits(frame) == 4000.0
