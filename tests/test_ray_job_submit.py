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


def submit(address, env, args, submission_id):
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
        time.sleep(1)
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


def test_shared_local_ray_survives(ray_local, ray_head):
    assert ray_local.get(ray_local.remote(lambda: 41 + 1).remote()) == 42
