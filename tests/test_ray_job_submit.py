"""`ray job submit` against a real local head started here (token auth off on loopback: PLATFORM.md)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    temp_dir = tmp_path_factory.mktemp("head")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    dashboard = free_port()
    start = [str(BIN / "ray"), "start", "--head", "--port", str(free_port()), "--num-cpus", "1",
             "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard), "--include-dashboard", "true",
             "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
             "--temp-dir", str(temp_dir), "--disable-usage-stats"]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        yield address, env
    finally:
        stop_processes_of(temp_dir)


def stop_processes_of(temp_dir) -> None:
    """Kill only this head's processes (`ray stop` would also kill the tests' shared local Ray)."""
    import psutil

    procs = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid != os.getpid() and str(temp_dir) in " ".join(proc.info["cmdline"] or ()):
            procs.append(proc)
    for proc in procs:
        proc.kill()
    psutil.wait_procs(procs, timeout=30)


def submit(address, env, args, submission_id, while_running: list | None = None):
    """Submit ``args`` as a Ray job, wait for it; (status, final logs). ``while_running`` collects the
    logs read while the job was still RUNNING (what `ray job logs --follow` users see)."""
    cmd = [str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO),
           "--submission-id", submission_id, "--no-wait", "--", sys.executable, *args]
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=120)
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(address)
    deadline = time.time() + 240
    while time.time() < deadline:
        status = client.get_job_status(submission_id)
        if status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
            break
        if while_running is not None and status == JobStatus.RUNNING:
            while_running.append(client.get_job_logs(submission_id))
        time.sleep(0.5 if while_running is not None else 1)
    logs = subprocess.run([str(BIN / "ray"), "job", "logs", "--address", address, submission_id],
                          env=env, capture_output=True, text=True, timeout=60).stdout
    return status, logs


def test_synth_job_via_ray_job_submit(ray_head, tmp_path, mnist_dir):
    address, env = ray_head
    out = tmp_path / "mm"
    status, logs = submit(address, env, ["ray_jobs/synth_moving_mnist.py", str(out), "--num-sequences", "4",
                                         "--test-sequences", "2", "--mnist-dir", mnist_dir], "synth-ok")
    assert status == "SUCCEEDED", logs
    assert "moving-mnist: 4 train, 2 test videos" in logs
    assert np.load(out / "moving_mnist.npy").shape == (20, 4, 64, 64)


def test_failing_job_reports_failed_with_the_error(ray_head, tmp_path):
    address, env = ray_head
    (tmp_path / "file").write_text("x")
    status, logs = submit(address, env, ["ray_jobs/synth_moving_mnist.py", str(tmp_path / "file" / "out"),
                                         "--num-sequences", "2"], "synth-bad")
    assert status == "FAILED"
    assert "cannot create the output directory" in logs


def test_patch_job_logs_progress_lines_while_it_runs(ray_head, tmp_path):
    import json
    import re

    from vidray.patches.demo import make_demo_clip

    address, env = ray_head
    clip = make_demo_clip(tmp_path / "pan.mp4", frames=60)
    config = tmp_path / "films.json"
    config.write_text(json.dumps({"base_settings": {"base_frame_limit": 6, "segment_seconds": 0.4,
                                                    "min_file_size": 1000},  # a coarse generated texture
                                  "videos": [{"name": "pan", "path": str(clip), "categories": {"general": 1}}]}))
    seen: list[str] = []
    status, logs = submit(address, env, ["ray_jobs/extract_patches.py", str(config), "--output",
                                         str(tmp_path / "out"), "--progress-every", "0.5"], "patches-progress",
                          while_running=seen)
    assert status == "SUCCEEDED", logs
    line = re.compile(r"^patches: \d+/6 extractions \(\d+\.\d%\), .*/s, (ETA|in) ", re.M)
    assert any(line.search(text) for text in seen), seen[-1:] or logs  # shown before the job ended
    assert re.search(r"^patches: 6/6 extractions \(100\.0%\)", logs, re.M), logs
    assert "6/6 extractions ok" in logs
    job_output = logs.split("Running entrypoint", 1)[1]
    assert " INFO " not in job_output and "Dataset" not in job_output, job_output  # Ray's own chatter stays out


def test_relative_output_inside_a_ray_job_is_refused(ray_head):
    address, env = ray_head
    status, logs = submit(address, env, ["ray_jobs/synth_moving_mnist.py", "relative/out", "--num-sequences", "2"],
                          "synth-relative")
    assert status == "FAILED"
    assert "error: arguments: OUTPUT 'relative/out' is relative" in logs and "Traceback" not in logs


def test_shared_local_ray_survives(ray_local, ray_head):
    assert ray_local.get(ray_local.remote(lambda: 41 + 1).remote()) == 42
