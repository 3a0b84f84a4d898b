"""Hostile input and a hostile machine: each failure is one line with the right exit code (2: the user's
to fix, 1: the environment's), writes nothing it should not, and loses nothing already done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch  # imported before Ray's threads run, as `vidray train` does (torch.distributed's import crashes after)

from vidray.cli import main


def run_cli(argv, capsys) -> tuple[int, list[str]]:
    code = main(argv)
    text = capsys.readouterr().err
    # vidray's own lines (a logging handler left on an earlier test's closed stream may complain too)
    err = [line for line in text.splitlines() if line.startswith("vidray")]
    assert "Traceback" not in text.replace("--- Logging error ---\nTraceback", ""), text
    return code, err


def one_error_line(err: list[str]) -> str:
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs: a real 'No space left on device' (ENOSPC) for whoever writes there."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def vidray_process(argv: list[str]) -> subprocess.CompletedProcess:
    """The CLI in its own process with its own local Ray, as a user runs it (a full disk leaves native
    libraries in states no later test should inherit)."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([sys.executable, "-m", "vidray", *argv, "--num-cpus", "2"], capture_output=True,
                          text=True, env=env, timeout=300)


def test_a_full_disk_is_one_line_and_the_rerun_after_freeing_space_finishes_the_same(
        ray_local, corpus, small_disk, tmp_path):
    config = tmp_path / "films.json"
    config.write_text(json.dumps({"base_settings": {"base_frame_limit": 6, "segment_seconds": 0.4},
                                  "videos": [{"name": "film", "path": str(corpus["upright"].path),
                                              "categories": {"general": 1.0}}]}))
    full = vidray_process(["patches", str(config), "--output", str(small_disk / "p"), "--no-live"])
    err = [line for line in full.stderr.splitlines() if line.startswith("vidray")]
    line = one_error_line(err)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-2000:]
    assert "No space left on device" in line and "rerun the same command" in line, line
    assert str(small_disk / "p") in line and ".part" not in line, line
    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)  # space freed
    again = vidray_process(["patches", str(config), "--output", str(small_disk / "p"), "--no-live"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert main(["patches", str(config), "--output", str(tmp_path / "undisturbed"), "--no-live"]) == 0
    pngs = lambda root: {p.relative_to(root): p.read_bytes() for p in root.rglob("*.png")}
    assert pngs(small_disk / "p") == pngs(tmp_path / "undisturbed") and len(pngs(tmp_path / "undisturbed")) == 18
    assert not list((small_disk / "p").rglob("*.part"))
    records = (small_disk / "p" / ".generator_manifest.jsonl").read_text().splitlines()
    assert len({json.loads(r)["key"] for r in records}) == len(records) == 6


HOLDER = textwrap.dedent("""
    import sys, time
    from vidray.io.lease import Lease
    Lease(sys.argv[1], sys.argv[1] + "/.vidray", "moving-mnist").acquire()
    print("held", flush=True)
    time.sleep(300)
""")


def test_a_second_run_into_a_live_output_is_refused_and_a_dead_ones_output_is_taken_over(
        ray_local, mnist_dir, tmp_path, capsys):
    out = tmp_path / "mm"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, err = run_cli(["synth", "moving-mnist", str(out), "--num-sequences", "4", "--test-sequences", "2",
                             "--mnist-dir", mnist_dir], capsys)
        line = one_error_line(err)
        assert code == 2 and "is being written by another run" in line and f"pid {holder.pid}" in line, line
        assert not (out / "moving_mnist.npy").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(["synth", "moving-mnist", str(out), "--num-sequences", "4", "--test-sequences", "2",
                 "--mnist-dir", mnist_dir]) == 0  # the killed run's lock died with it
    assert (out / "moving_mnist.npy").exists() and not (out / ".vidray" / "lease.json").exists()


def test_monitor_tells_a_killed_run_from_a_live_one(tmp_path, capsys):
    out = tmp_path / "patches"
    out.mkdir()
    status = {"state": "running", "progress": {"total": 10, "done": 3, "ok": 3, "failed": 0, "percent": 30.0,
                                                "rate_per_s": 1.0, "eta_s": 7}, "categories": {}, "videos": {},
              "errors": []}
    (out / ".generator_status.json").write_text(json.dumps(status))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["monitor", str(out), "--once"]) == 0  # alive: its lock is held, its heartbeat fresh
        assert "monitor: running: 3 ok" in capsys.readouterr().out
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    start = time.monotonic()
    assert main(["monitor", str(out), "--interval", "0.2"]) == 1  # follows, sees the run is gone, ends
    assert time.monotonic() - start < 10
    assert "monitor: not running: no run holds this output (it was killed); rerun" in capsys.readouterr().out


@pytest.mark.parametrize("content, needle", [
    (b"", "is not a readable .npy array"),
    (b"\x93NUMPY garbage", "is not a readable .npy array"),
    (None, "expected a non-empty [T,N,H,W] Moving MNIST array, got shape (5, 64, 64)"),
])
def test_bad_training_data_is_one_line_and_leaves_no_run_record(ray_local, tmp_path, capsys, content, needle):
    data = tmp_path / "mm.npy"
    if content is None:
        np.save(data, np.zeros((5, 64, 64), np.uint8))
    else:
        data.write_bytes(content)
    code, err = run_cli(["train", "--model", "convlstm", "--preset", "tiny", "--data", str(data), "--epochs", "1",
                         "--storage", str(tmp_path / "runs"), "--run-name", "r"], capsys)
    line = one_error_line(err)
    assert code == 2 and needle in line and str(data) in line, line
    assert not (tmp_path / "runs" / "r" / "vidray_run.json").exists()  # the corrected rerun is not refused


def test_a_run_name_cannot_leave_the_storage_folder(tmp_path, capsys):
    code, err = run_cli(["train", "--model", "convlstm", "--data", "synthetic:moving-mnist", "--storage",
                         str(tmp_path / "runs"), "--run-name", "../elsewhere"], capsys)
    assert code == 2 and "--run-name '../elsewhere' must be one folder name" in one_error_line(err)


def test_embed_on_nothing_usable_is_the_users_to_fix(ray_local, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = run_cli(["embed", str(tmp_path / "empty"), "--output", str(tmp_path / "e1"), "--model",
                         "vidray-tiny", "--pretrained", "none"], capsys)
    assert code == 2 and "holds no video files" in one_error_line(err)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("a.mp4", "b.mkv"):
        (bad / name).write_bytes(os.urandom(2048))
    code, err = run_cli(["embed", str(bad), "--output", str(tmp_path / "e2"), "--model", "vidray-tiny",
                         "--pretrained", "none"], capsys)
    assert code == 2 and "every one of the 2 videos failed" in one_error_line(err)


def test_ray_failing_to_start_is_one_line_of_the_environment(monkeypatch, tmp_path, capsys, mnist_dir):
    import ray

    def refuse(*args, **kwargs):
        raise RuntimeError("Failed to register worker to Raylet: IOError: [RayletClient] Unable to register "
                           "worker with raylet.\nmore detail")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    code, err = run_cli(["synth", "moving-mnist", str(tmp_path / "mm"), "--mnist-dir", mnist_dir], capsys)
    line = one_error_line(err)
    assert code == 1 and "local Ray: could not start (Failed to register worker to Raylet" in line, line
    assert "rerun the same command" in line


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch crafted-checkpoint-ran",))


def test_a_crafted_checkpoint_is_refused_without_running_its_code(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "checkpoint_x"
    ckpt.mkdir()
    torch.save({"model": _RunsCode()}, ckpt / "state.pt")
    code, err = run_cli(["evaluate", str(ckpt)], capsys)
    assert code == 2 and "is not a vidray checkpoint that loads safely" in one_error_line(err)
    assert not (tmp_path / "crafted-checkpoint-ran").exists()


def test_a_patch_job_whose_every_film_fails_exits_2(ray_local, corpus, tmp_path, capsys):
    config = tmp_path / "films.json"
    config.write_text(json.dumps({"videos": [{"name": n, "path": str(corpus[n].path), "categories": {"general": 1}}
                                             for n in ("garbage", "audio_only")]}))
    code, err = run_cli(["patches", str(config), "--output", str(tmp_path / "p"), "--no-live"], capsys)
    assert code == 2 and "no extraction succeeded" in one_error_line(err)


H5_ON_A_FULL_DISK = textwrap.dedent("""
    import sys, numpy as np
    from vidray.io.hdf5 import VideoH5Writer
    videos = int(sys.argv[2])
    writer = VideoH5Writer(sys.argv[1], {"train": (videos, 20, 1)}, 64, rgb=True)
    try:
        for i in range(videos):
            writer.put("train", i, np.full((20, 64, 64), i, np.uint8), np.array([i]))
        writer.commit()
    except OSError as exc:
        writer.abort()
        print(exc.errno, exc.filename, flush=True)
""")


@pytest.mark.parametrize("videos", [1, 4], ids=["fails-at-close", "fails-mid-write"])
def test_an_hdf5_file_on_a_full_disk_fails_as_oserror_and_the_process_ends_normally(small_disk, videos):
    """HDF5 2.0 crashes the process once a flush has failed; vidray's writer keeps the failure to raise it
    and lets HDF5 close cleanly: ENOSPC naming the file, exit 0 after the handler, no .part left."""
    out = subprocess.run([sys.executable, "-c", H5_ON_A_FULL_DISK, str(small_disk / "x.h5"), str(videos)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    errno_, filename = out.stdout.split()
    assert int(errno_) == 28 and filename.endswith(".part") and "x.h5" in filename
    assert not os.listdir(small_disk)


def test_a_memmapped_array_too_big_for_the_disk_fails_before_a_page_is_written(small_disk):
    """A sparse np.memmap on a full disk would kill the process with SIGBUS on first touch; reserve() says ENOSPC."""
    from vidray.io.atomic import reserve

    path = small_disk / "big.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(1 << 20,))
    with pytest.raises(OSError) as info:
        reserve(path)
    assert info.value.errno == 28 and info.value.filename == str(path)


def test_an_embedding_run_on_a_full_disk_is_one_line_and_resumes(ray_local, corpus, small_disk, tmp_path):
    """The embedding job's shard writes in Ray workers fail on a full disk as one line (exit 1); the rerun after
    freeing space finishes every frame once."""
    videos = tmp_path / "films"
    videos.mkdir()
    (videos / "film.mp4").symlink_to(corpus["upright"].path)
    argv = lambda out: ["embed", str(videos), "--output", str(out), "--model", "vidray-tiny", "--pretrained", "none",
                        "--fps", "5"]
    subprocess.run(["mount", "-o", "remount,size=8k", str(small_disk)], check=True)
    full = vidray_process(argv(small_disk / "e"))
    err = [line for line in full.stderr.splitlines() if line.startswith("vidray")]
    line = one_error_line(err)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-2000:]
    assert "No space left on device" in line and "rerun the same command" in line and ".part" not in line, line
    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)  # space freed
    assert main(argv(small_disk / "e")) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(small_disk / "e" / "parquet")
    embeddings = np.load(small_disk / "e" / "processed" / "val" / "film.npy")
    assert table.num_rows == 1 and len(table["embedding"][0]) == len(embeddings) == 5  # 1 s at --fps 5, once
    assert not list((small_disk / "e").rglob("*.part"))


def test_a_read_only_output_is_one_line_of_the_environment(ray_local, mnist_dir, small_disk, capsys):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, err = run_cli(["synth", "moving-mnist", str(small_disk / "mm"), "--num-sequences", "2",
                         "--test-sequences", "1", "--mnist-dir", mnist_dir], capsys)
    line = one_error_line(err)
    assert code == 1 and "Read-only file system" in line and str(small_disk / "mm") in line, line
