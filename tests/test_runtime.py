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


def test_decode_task_options_from_the_environment(monkeypatch):
    from vidray.runtime import decode_task_options

    monkeypatch.delenv("VIDRAY_TASK_RESOURCES", raising=False)
    monkeypatch.delenv("VIDRAY_TASK_CPUS", raising=False)
    assert decode_task_options() == {"num_cpus": 1.0}
    monkeypatch.setenv("VIDRAY_TASK_CPUS", "2")
    monkeypatch.setenv("VIDRAY_TASK_RESOURCES", "decode=1,ssd=0.5")
    assert decode_task_options() == {"num_cpus": 2.0, "resources": {"decode": 1.0, "ssd": 0.5}}


def test_bad_task_resources_flag_is_a_one_line_error(tmp_path, capsys):
    from vidray.cli import main

    assert main(["synth", "moving-mnist", str(tmp_path / "o"), "--task-resources", "decode"]) == 2
    assert "--task-resources 'decode'" in capsys.readouterr().err
