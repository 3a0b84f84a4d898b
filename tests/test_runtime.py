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
