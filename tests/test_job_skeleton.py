"""The shared data-job skeleton without Ray: progress lines, declared resources, output paths, actor pools."""

import io
import re

import pytest

from vidray.cli import main
from vidray.cli_flags import RAY_JOB_ENV_VAR, output_path
from vidray.errors import ConfigError
from vidray.progress import Progress, format_seconds
from vidray.stage import Resources, Scale, parse_resources


def test_plain_progress_lines_every_interval_and_a_final_one(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("vidray.progress.time.monotonic", lambda: clock[0])
    out = io.StringIO()
    progress = Progress("patches", "extractions", interval=5, stream=out, tty=False)
    progress.start(10, resumed=2)
    for _ in range(3):
        clock[0] += 1
        progress.add(ok=1)            # 1 s apart: no line until 5 s have passed
    clock[0] += 2
    progress.add(ok=1, failed=1)      # t = 5 s: a line
    clock[0] += 1
    progress.add(ok=1)
    progress.close()                  # always a final line
    lines = out.getvalue().splitlines()
    assert lines == [
        "patches: 2/10 extractions (20.0%), 2 from earlier runs, 0.00/s, ETA ?",
        "patches: 7/10 extractions (70.0%), 1 failed, 2 from earlier runs, 1.00/s, ETA 3s",
        "patches: 8/10 extractions (80.0%), 1 failed, 2 from earlier runs, 1.00/s, ETA 2s",
    ]


def test_quiet_progress_prints_nothing_and_still_counts():
    out = io.StringIO()
    with Progress("embed", "videos", stream=out, tty=False, quiet=True) as progress:
        progress.start(3)
        progress.add(ok=2, failed=1)
    assert out.getvalue() == "" and (progress.ok, progress.failed, progress.done) == (2, 1, 3)
    assert progress.line().startswith("embed: 3/3 videos (100.0%), 1 failed")


@pytest.mark.parametrize("seconds, text", [(None, "?"), (5, "5s"), (95, "1m35s"), (3 * 3600 + 120, "3h02m")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_resources_and_scale():
    declared = Resources(cpus=1, memory=2**30, custom={"ssd": 1})
    assert declared.ray_options() == {"num_cpus": 1, "memory": 2**30, "resources": {"ssd": 1}}
    scaled = Scale(task_cpus=4, task_resources={"decode": 1}).for_tasks(declared)
    assert scaled == Resources(cpus=4, memory=2**30, custom={"ssd": 1, "decode": 1})
    assert parse_resources(["decode=1", "gpu_mem=0.5"]) == {"decode": 1.0, "gpu_mem": 0.5}
    for bad in (["decode"], ["=1"], ["decode=lots"], ["decode=-1"]):
        with pytest.raises(ConfigError, match="--task-resources"):
            parse_resources(bad)


def test_relative_output_is_refused_only_inside_a_ray_job(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert output_path("out", "--output") == tmp_path / "out"
    monkeypatch.setenv(RAY_JOB_ENV_VAR, "{}")
    assert output_path(tmp_path / "abs", "--output") == tmp_path / "abs"
    with pytest.raises(ConfigError, match=r"--output 'out' is relative: inside a Ray job"):
        output_path("out", "--output")
    for argv in (["synth", "videomnist", "vm"], ["synth", "to-hdf5", str(tmp_path), "x.h5"],
                 ["demo", "d"]):
        assert main(argv) == 2
        # vidray's lines only: the session's Ray may still be printing an earlier test's worker logs here
        err = "\n".join(line for line in capsys.readouterr().err.splitlines() if line.startswith("vidray")) + "\n"
        assert re.search(r"error: arguments: \S+ '[^']+' is relative", err) and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_actor_pool_follows_what_the_cluster_can_grow_to():
    from vidray.embed.job import ActorPool

    gpu_cluster = {"CPU": 50, "GPU": 4}
    assert ActorPool().resolve(gpu_cluster) == ActorPool(1, 4, 1.0, 1.0)        # GPU node types: GPU actors
    assert ActorPool(gpus=0.5).resolve(gpu_cluster) == ActorPool(1, 8, 1.0, 0.5)
    assert ActorPool(2, 3).resolve(gpu_cluster) == ActorPool(2, 3, 1.0, 1.0)
    assert ActorPool().resolve({"CPU": 64}) == ActorPool(1, 1, 1.0, 0.0)        # CPU cluster: one CPU actor
    assert ActorPool(gpus=0).resolve(gpu_cluster) == ActorPool(1, 1, 1.0, 0.0)  # asked for CPU
    assert ActorPool(3, None).resolve({"CPU": 8}).max_actors == 3


@pytest.mark.parametrize("flags, problem", [(["--actors", "2", "--max-actors", "3"], "--actors N is a fixed pool"),
                                            (["--min-actors", "3", "--max-actors", "2"], "--max-actors 2 is below")])
def test_embed_pool_flags_conflicts_are_one_line_errors(flags, problem, tmp_path, capsys):
    assert main(["embed", str(tmp_path), "--output", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1


def test_finished_items_reach_ray_metrics(ray_local, mnist_dir, tmp_path):
    """The `vidray_items` counter is exported where Prometheus/Grafana scrape the node (slow: Ray
    reports metrics every ~10 s)."""
    import time
    import urllib.request

    from vidray.synth.config import MovingMNISTConfig
    from vidray.synth.job import run_moving_mnist

    cfg = MovingMNISTConfig(num_sequences=7, test_sequences=0, mnist_dir=mnist_dir)
    run_moving_mnist(cfg, tmp_path / "mm", progress=Progress("metrics-test", "sequences", quiet=True))
    port = ray_local._private.worker.global_worker.node.metrics_export_port
    pattern = re.compile(r'^ray_vidray_items_total\{[^}]*job="metrics-test"[^}]*status="ok"[^}]*\} 7\.0$', re.M)
    deadline = time.time() + 60
    while time.time() < deadline:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        if pattern.search(text):
            return
        time.sleep(1)
    pytest.fail("ray_vidray_items_total for job metrics-test never reached the metrics endpoint")


def test_demand_told_to_the_autoscaler_is_capped_by_workers_and_cluster_size():
    from vidray.stage import Stage, demand

    work = Stage("w", len, Resources(cpus=1, memory=2**30))
    model = Stage("m", type("Model", (), {}), Resources(cpus=1, gpus=1), min_actors=1, max_actors=4, cpu_work=False)
    grown = {"CPU": 8.0, "GPU": 2.0, "decode": 3.0}
    assert demand([work], Scale(), 20, grown) == [{"CPU": 1.0, "memory": float(2**30)}] * 8  # cluster's max
    assert len(demand([work], Scale(workers=3), 20, grown)) == 3                             # --workers cap
    assert len(demand([work], Scale(), 2, grown)) == 2                                       # few blocks
    assert demand([work], Scale(task_resources={"decode": 1}), 20, grown) == \
        [{"CPU": 1.0, "decode": 1.0, "memory": float(2**30)}] * 3                            # decode nodes
    assert demand([model], Scale(), 20, grown) == [{"CPU": 1.0, "GPU": 1.0}] * 2             # 2 GPUs at most
    assert demand([work], Scale(task_resources={"ssd": 1}), 20, grown) == []                 # infeasible


def test_errors_survive_pickling_from_ray_workers():
    import pickle

    from vidray.errors import InputError, OutputError

    for err in (ConfigError(["a", "b"], source="arguments"), InputError("/x.mp4", "too short"),
                OutputError("s3://b/o", "not writable")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
