"""The patch job writing to a real S3 endpoint (moto on 127.0.0.1): the same bytes as on disk, whole
objects only, a record made of objects, and a rerun after a crash that neither redoes nor duplicates."""

import json

import pytest

from vidray.io import storage
from vidray.patches.config import parse_patches_config
from vidray.patches.job import run_patches
from vidray.patches.layout import MANIFEST_FILE, STATUS_FILE
from vidray.stage import Scale


def small_cfg(clips):
    videos = [{"name": "pan", "path": str(clips["h264"]), "categories": {"general": 1.0, "space": 0.5}},
              {"name": "pq", "path": str(clips["pq"]), "categories": {"general": 1.0}}]
    return parse_patches_config({"base_settings": {"frame_limit": 4, "segment_seconds": 0.5, "min_file_size": 0},
                                 "videos": videos})


def local_pngs(out) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def s3_pngs(uri) -> dict:
    return {f[len(uri) + 1:]: storage.read_bytes(f) for f in storage.list_files(uri) if f.endswith(".png")}


def s3_records(uri) -> list[dict]:
    parts = storage.list_files(f"{uri}/{MANIFEST_FILE}.parts")
    return [json.loads(line) for p in parts for line in storage.read_bytes(p).decode().splitlines()]


@pytest.fixture(scope="module")
def local_run(ray_local, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("patches_local") / "out"
    summary = run_patches(small_cfg(clips), out, scale=Scale(workers=2))
    assert summary.failed == 0 and summary.ok == summary.planned > 0
    return out, summary


def test_s3_output_has_the_same_bytes_as_disk(local_run, clips, s3_bucket):
    out, reference = local_run
    uri = f"{s3_bucket}/patches"
    summary = run_patches(small_cfg(clips), uri, scale=Scale(workers=2))
    assert (summary.planned, summary.ok, summary.failed) == (reference.planned, reference.ok, 0)
    assert s3_pngs(uri) == local_pngs(out)
    records = s3_records(uri)
    assert len(records) == len({r["key"] for r in records}) == summary.planned
    local = {json.loads(x)["key"] for x in (out / MANIFEST_FILE).read_text().splitlines()}
    assert {r["key"] for r in records} == local
    status = json.loads(storage.read_bytes(f"{uri}/{STATUS_FILE}"))
    assert status["state"] == "complete" and status["progress"]["ok"] == summary.planned
    assert json.loads(storage.read_bytes(f"{uri}/.vidray/run.json"))["complete"] is True
    again = run_patches(small_cfg(clips), uri, scale=Scale(workers=2))
    assert again.already_complete and again.written == 0
    assert len(s3_records(uri)) == summary.planned  # nothing recorded twice


def test_s3_rerun_after_a_crash_finishes_without_duplicates(local_run, clips, s3_bucket):
    out, reference = local_run
    uri = f"{s3_bucket}/crashed"

    def crash(done):
        if done >= 2:
            raise RuntimeError("simulated driver crash")

    with pytest.raises(RuntimeError, match="simulated"):
        run_patches(small_cfg(clips), uri, scale=Scale(workers=1), after_records=crash)
    before = s3_records(uri)
    assert 2 <= len(before) < reference.planned
    summary = run_patches(small_cfg(clips), uri, scale=Scale(workers=2))
    assert summary.written == reference.planned - sum(r["status"] == "ok" for r in before)
    records = s3_records(uri)
    assert len(records) == len({r["key"] for r in records}) == reference.planned
    assert s3_pngs(uri) == local_pngs(out)


def test_a_different_run_into_the_same_prefix_is_refused(clips, s3_bucket):
    from vidray.errors import OutputError

    storage.write_bytes(f"{s3_bucket}/taken/notes.txt", b"not a vidray run")
    with pytest.raises(OutputError, match="is not empty and holds no vidray run"):
        run_patches(small_cfg(clips), f"{s3_bucket}/taken")


def test_sigkilled_driver_then_rerun_gives_the_undisturbed_objects(local_run, clips, s3_bucket, tmp_path):
    """`vidray patches` killed with SIGKILL (driver and its local Ray) once records exist on S3; the rerun
    finishes with every extraction present once and byte-identical objects."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    import psutil

    out, reference = local_run
    uri = f"{s3_bucket}/killed"
    config = tmp_path / "films.json"
    config.write_text(json.dumps({"base_settings": {"frame_limit": 4, "segment_seconds": 0.5, "min_file_size": 0},
                                  "videos": [{"name": "pan", "path": str(clips["h264"]),
                                              "categories": {"general": 1.0, "space": 0.5}},
                                             {"name": "pq", "path": str(clips["pq"]),
                                              "categories": {"general": 1.0}}]}))
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="vr-", dir="/tmp")  # AF_UNIX socket paths must stay < 108 bytes
    env = {**os.environ, "VIDRAY_RAY_TMPDIR": ray_tmp}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "vidray", "patches", str(config), "--output", uri, "--no-live",
           "--num-cpus", "1", "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            if storage.list_files(f"{uri}/{MANIFEST_FILE}.parts"):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        for p in psutil.process_iter(["cmdline"]):  # Ray processes that left the group
            if ray_tmp in " ".join(p.info["cmdline"] or ()):
                p.kill()
    before = s3_records(uri)
    assert 1 <= len(before) < reference.planned
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    records = s3_records(uri)
    assert len(records) == len({r["key"] for r in records}) == reference.planned
    assert s3_pngs(uri) == local_pngs(out)
    assert f"{reference.planned}/{reference.planned} extractions ok" in done.stdout
