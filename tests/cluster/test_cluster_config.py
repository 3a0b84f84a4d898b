"""cluster.yaml is a launcher config Ray accepts, with the node roles and safety the docs promise."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_yaml_has_cpu_and_gpu_workers_and_a_private_dashboard():
    cfg = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    assert types["cpu_worker"]["resources"].get("decode", 0) > 0 and "GPU" not in types["cpu_worker"]["resources"]
    assert types["gpu_worker"]["resources"]["GPU"] >= 1 and "decode" not in types["gpu_worker"]["resources"]
    assert "GPU" not in types[cfg["head_node_type"]]["resources"]
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    assert any("/mnt/shared" in c for c in cfg["initialization_commands"])
    assert any("pip install" in c and "vidray" in c for c in cfg["setup_commands"])


def test_ray_validates_the_launcher_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text())))  # raises if invalid
