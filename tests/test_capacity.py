"""What a cluster can grow to: from an autoscaling config (cluster.yaml, KubeRay's RayCluster, the GCS's
autoscaler v2 config), and the resources alive now on a fixed Ray. The fake autoscaling cluster case is
in tests/cluster/test_autoscaling.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from vidray.capacity import (
    UNBOUNDED_GROUP_NODES,
    NodeGroup,
    capacity_of,
    cluster_capacity,
    groups_from_autoscaling_config,
    groups_from_cluster_config,
    has_gpu_nodes,
)

REPO = Path(__file__).resolve().parents[1]


def test_capacity_of_node_groups_respects_the_global_worker_cap():
    cpu, gpu = NodeGroup("cpu", {"CPU": 16, "decode": 16}, 40), NodeGroup("gpu", {"CPU": 8, "GPU": 1}, 10)
    assert capacity_of([cpu, gpu]) == {"CPU": 720.0, "decode": 640.0, "GPU": 10.0}
    # at most 45 workers: each resource counts the nodes richest in it that fit under the cap
    assert capacity_of([cpu, gpu], max_workers=45) == {"CPU": 680.0, "decode": 640.0, "GPU": 10.0}
    assert capacity_of([cpu, gpu], max_workers=5)["GPU"] == 5.0
    assert capacity_of([NodeGroup("idle", {"CPU": 4}, 0)]) == {"CPU": 0.0}


def test_cluster_yaml_worker_types():
    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    groups, cap = groups_from_autoscaling_config(config)
    assert config["head_node_type"] not in {g.name for g in groups}  # the head is counted from the live cluster
    workers = capacity_of(groups, cap)
    types = {name: t for name, t in config["available_node_types"].items() if name != config["head_node_type"]}
    assert workers["GPU"] > 0 and workers["decode"] > 0
    assert workers["CPU"] <= sum(t["resources"]["CPU"] * t["max_workers"] for t in types.values())


def test_kuberay_rayjob_groups_via_rays_own_translation():
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    job = next(d for d in yaml.safe_load_all((REPO / "k8s" / "rayjob.yaml").read_text()) if d["kind"] == "RayJob")
    ray_cr = {"metadata": {"name": "vidray", "namespace": "default"}, "spec": job["spec"]["rayClusterSpec"]}
    workers = capacity_of(*groups_from_autoscaling_config(_derive_autoscaling_config_from_ray_cr(ray_cr)))
    by_name = {g["groupName"]: g for g in ray_cr["spec"]["workerGroupSpecs"]}
    assert workers["decode"] == 16 * by_name["cpu"]["maxReplicas"]
    assert workers["GPU"] >= by_name["gpu"]["maxReplicas"]


def test_gcs_cluster_config_groups_leave_out_the_head_group():
    from ray.core.generated import autoscaler_pb2

    config = autoscaler_pb2.ClusterConfig()
    head = config.node_group_configs.add(name="headgroup", max_count=1)
    head.resources["CPU"] = 2
    cpu = config.node_group_configs.add(name="cpu", max_count=-1)
    cpu.resources["CPU"] = 4
    groups = groups_from_cluster_config(config, {"CPU": 2.0, "memory": 1e9})
    assert groups == [NodeGroup("cpu", {"CPU": 4.0}, UNBOUNDED_GROUP_NODES)]


def test_fixed_local_ray_falls_back_to_what_is_alive(ray_local):
    capacity = cluster_capacity()
    assert capacity == {k: float(v) for k, v in ray_local.cluster_resources().items()}
    assert capacity["CPU"] == 2.0 and has_gpu_nodes() is False
