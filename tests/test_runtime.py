import os

from vidray.runtime import ray_session, ray_temp_dir


def test_running_ray_is_reused_and_left_running(ray_local):
    with ray_session(address="ray://unreachable:1"):  # an initialised Ray wins over any address
        assert ray_local.is_initialized()
    assert ray_local.is_initialized()
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


def test_temp_dir_is_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDRAY_RAY_TMPDIR", str(tmp_path))
    assert ray_temp_dir() == str(tmp_path)
    monkeypatch.delenv("VIDRAY_RAY_TMPDIR")
    assert "vidray-ray" in ray_temp_dir()


def test_task_flags_become_the_declared_resources_of_cpu_stages():
    from vidray.cli_flags import OneLineParser, add_ray_flags, scale_of
    from vidray.stage import Resources, Stage

    parser = OneLineParser(prog="t")
    add_ray_flags(parser)
    scale = scale_of(parser.parse_args(["--task-cpus", "2", "--task-resources", "decode=1", "ssd=0.5"]))
    work = Stage("w", len, Resources(cpus=1, memory=2**20))
    options = work.map_options(scale)
    assert (options["num_cpus"], options["memory"], options["resources"]) == (2.0, 2**20, {"decode": 1.0, "ssd": 0.5})
    assert options["compute"].size is None  # unbounded: the autoscaler sees the whole demand
    model = Stage("m", type("Model", (), {}), Resources(cpus=1, gpus=1), min_actors=1, max_actors=4,
                  cpu_work=False)
    options = model.map_options(scale)
    assert options["num_gpus"] == 1 and "resources" not in options
    assert (options["compute"].min_size, options["compute"].max_size) == (1, 4)
    capped = scale_of(parser.parse_args(["--workers", "3"]))
    assert work.map_options(capped)["compute"].size == 3 and work.map_options(capped)["num_cpus"] == 1.0


def test_bad_task_resources_flag_is_a_one_line_error(tmp_path, capsys):
    from vidray.cli import main

    assert main(["synth", "moving-mnist", str(tmp_path / "o"), "--task-resources", "decode"]) == 2
    assert "--task-resources 'decode'" in capsys.readouterr().err
