"""Fault tolerance of the data jobs on a multi-node Ray on this machine, and driver kills."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from vidray.io.video import write_mp4

HERE = Path(__file__).parent


def make_videos(root: Path, n: int = 10) -> Path:
    """n small distinct clips (24 frames, 64x48) for the embedding job."""
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        rng = np.random.default_rng(k)
        frames = np.zeros((24, 48, 64, 3), np.uint8)
        frames[:] = rng.integers(0, 255, 3, dtype=np.uint8)
        for t in range(24):
            frames[t, (2 * t) % 36:(2 * t) % 36 + 12, (3 * t + k) % 52:(3 * t + k) % 52 + 12] = 255
        write_mp4(root / f"clip_{k:02d}.mp4", frames, fps=12)
    return root


def processed(root: Path) -> dict[str, np.ndarray]:
    processed = root / "processed"
    return {p.relative_to(processed).as_posix(): np.load(p) for p in sorted(processed.rglob("*.npy"))}


def test_embedding_job_survives_a_killed_worker_node(tmp_path):
    videos = make_videos(tmp_path / "videos")
    proc = subprocess.run([sys.executable, str(HERE / "embed_node_kill_scenario.py"), str(videos), str(tmp_path)],
                          capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"events"')))
    assert report["events"]["killed_at_done"] < report["events"]["total"]  # killed mid-job
    assert report["reference_errors"] == {} and report["disturbed_errors"] == {}
    ref, got = processed(tmp_path / "reference"), processed(tmp_path / "disturbed")
    assert sorted(ref) == sorted(got) and len(got) == 10  # every video exactly once
    for name in ref:
        np.testing.assert_allclose(got[name].astype(np.float32), ref[name].astype(np.float32), atol=2e-3)
    for split_dir in ("wds", "parquet"):
        assert sorted(p.name for p in (tmp_path / "reference" / split_dir).iterdir()) == \
            sorted(p.name for p in (tmp_path / "disturbed" / split_dir).iterdir())


def test_killed_embedding_driver_resumes_to_the_same_outputs(tmp_path):
    import os
    import signal
    import time

    videos = make_videos(tmp_path / "videos", n=40)
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="vr")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "VIDRAY_RAY_TMPDIR": ray_tmp, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "vidray", "embed", str(videos), "--model", "vidray-tiny", "--pretrained", "none",
           "--every-n", "1", "--shard-size", "16", "--num-cpus", "2", "--workers", "1"]
    out = tmp_path / "killed"
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen(cmd + ["--output", str(out)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None and not list(out.rglob("processed/*/*.npy")):
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.wait()
    before = len(list(out.rglob("processed/*/*.npy")))
    assert 1 <= before < 40, "the kill should land mid-job:\n" + (tmp_path / "driver.log").read_text()[-3000:]
    assert not (out / "wds").exists() or not list((out / "wds").glob("*.tar"))
    for run in (out, tmp_path / "reference"):
        done = subprocess.run(cmd + ["--output", str(run)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    assert not list(out.rglob("*.part"))
    ref, got = processed(tmp_path / "reference"), processed(out)
    assert sorted(ref) == sorted(got) and len(got) == 40
    for name in ref:
        np.testing.assert_allclose(got[name].astype(np.float32), ref[name].astype(np.float32), atol=2e-3)
    for sub in ("wds", "parquet"):
        names = sorted(p.name for p in (out / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "reference" / sub).iterdir())
    assert (out / "wds" / "splits.csv").read_text() == (tmp_path / "reference" / "wds" / "splits.csv").read_text()


def test_patch_job_survives_a_killed_worker_node(tmp_path):
    proc = subprocess.run([sys.executable, str(HERE / "patches_node_kill_scenario.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"events"')))
    assert report["events"]["killed_at_done"] < report["planned"]  # killed mid-job
    assert report["ok"] == [report["planned"]] * 2 and report["failed"] == [0, 0]
    ref, got = tmp_path / "reference", tmp_path / "disturbed"
    ref_files = sorted(p.relative_to(ref).as_posix() for p in ref.rglob("*.png"))
    assert ref_files == sorted(p.relative_to(got).as_posix() for p in got.rglob("*.png"))
    assert len(ref_files) == 3 * report["planned"]  # GT + LR + LR_7frames, each exactly once
    for name in ref_files:  # the same bytes as the undisturbed run
        assert (ref / name).read_bytes() == (got / name).read_bytes(), name
    manifest = [json.loads(line)["key"] for line in (got / ".generator_manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == len(set(manifest)) == report["planned"]
    assert_same_shards_and_index(ref, got)


def assert_same_shards_and_index(ref, got) -> None:
    """The shard tars byte-identical to the undisturbed run's, the index equal, no fragment left."""
    import pyarrow.parquet as pq

    tars = lambda root: {p.relative_to(root).as_posix(): p.read_bytes() for p in (root / "shards").rglob("*.tar")}
    assert tars(got) == tars(ref) and len(tars(ref)) >= 2
    assert pq.read_table(got / "index.parquet").equals(pq.read_table(ref / "index.parquet"))
    assert not (got / ".fragments").exists()


def test_killed_patch_driver_resumes_to_identical_files(tmp_path):
    import os
    import signal
    import tempfile
    import time

    from vidray.patches.demo import make_demo_clip

    videos = [{"name": f"pan_{k}", "path": str(make_demo_clip(tmp_path / f"pan_{k}.mp4")),
               "categories": {"general": 1.0, "space": 0.5}} for k in range(2)]
    config = tmp_path / "films.json"
    config.write_text(json.dumps({"base_settings": {"frame_limit": 24, "segment_seconds": 0.5, "min_file_size": 512},
                                  "videos": videos}))
    env = {**os.environ, "VIDRAY_RAY_TMPDIR": tempfile.mkdtemp(prefix="vr")}
    cmd = [sys.executable, "-m", "vidray", "patches", str(config), "--no-live", "--num-cpus", "2", "--workers", "1",
           "--output-format", "both", "--shard-size", "7"]
    out = tmp_path / "killed"
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen(cmd + ["--output", str(out)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    manifest = out / ".generator_manifest.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None and not (manifest.exists() and manifest.read_text()):
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.wait()
    done_before = len(manifest.read_text().splitlines()) if manifest.exists() else 0
    assert 1 <= done_before, (tmp_path / "driver.log").read_text()[-3000:]
    for run in (out, tmp_path / "reference"):
        done = subprocess.run(cmd + ["--output", str(run)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    keys = [json.loads(line)["key"] for line in manifest.read_text().splitlines()]
    ref_manifest = tmp_path / "reference" / ".generator_manifest.jsonl"
    ref_keys = [json.loads(line)["key"] for line in ref_manifest.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == len(ref_keys) == 2 * 24  # weights 1 : 0.5 normalised, 24 per film, each once
    assert sorted(keys) == sorted(ref_keys)
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    ref = tmp_path / "reference"
    files = sorted(p.relative_to(ref).as_posix() for p in ref.rglob("*.png"))
    assert files == sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    for name in files:
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name
    assert_same_shards_and_index(ref, out)
