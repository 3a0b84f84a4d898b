"""What the connected Ray cluster can grow to, so work is sized by the cluster's maximum, not by
the nodes that happen to be up when a job starts (an autoscaling cluster starts with none).

Where the maximum comes from, first found wins:
1. the cluster config the GCS holds for autoscaler v2 (what Ray Data and Ray Train read; reported by
   platforms that run the autoscaler for you);
2. the autoscaling config of this cluster's own autoscaler: the file its monitor process was started
   with, when the driver runs on the head (``ray job submit``, the cluster launcher, Ray's fake
   multi-node provider), or the RayCluster resource on KubeRay;
3. the resources alive now (a fixed cluster: local Ray, ``ray.cluster_utils.Cluster``).
Any failure on the way falls through silently to the next source.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

log = logging.getLogger("vidray.capacity")

# A node group with no upper bound (max -1) counts as this many nodes: big enough to never be the
# limit, finite so that capacities stay usable numbers (pool sizes, trial counts).
UNBOUNDED_GROUP_NODES = 1000
HEAD_MARKER = "node:__internal_head__"


@dataclass(frozen=True)
class NodeGroup:
    """One autoscaler node type: the resources of one node and how many such nodes it may have."""

    name: str
    resources: dict[str, float] = field(default_factory=dict)
    max_nodes: int = 0


def cluster_capacity() -> dict[str, float]:
    """Total resources of the cluster at its largest: head + every worker type × its max_workers
    for an autoscaling cluster; the resources alive now for a fixed one (local Ray, cluster_utils)."""
    import ray

    now = {k: float(v) for k, v in ray.cluster_resources().items()}
    try:
        grown = _autoscaling_capacity(ray)
    except Exception as exc:  # any source may be missing or malformed: the fixed-cluster answer stands
        log.debug("no autoscaling capacity (%s); using the resources alive now", exc)
        grown = None
    if not grown:
        return now
    return {k: max(now.get(k, 0.0), grown.get(k, 0.0)) for k in {*now, *grown}}


def has_gpu_nodes() -> bool:
    """True when the cluster has, or can add, nodes with GPUs."""
    return cluster_capacity().get("GPU", 0.0) > 0


def capacity_of(groups: list[NodeGroup], max_workers: int | None = None) -> dict[str, float]:
    """Each resource's total over ``groups`` at their max counts; with ``max_workers`` (the config's
    global cap on worker nodes) a resource counts only the nodes richest in it that fit under the cap."""
    keys = {k for g in groups for k in g.resources}
    out = {}
    for key in keys:
        budget = max_workers if max_workers is not None else None
        total = 0.0
        for group in sorted(groups, key=lambda g: -g.resources.get(key, 0.0)):
            per_node = group.resources.get(key, 0.0)
            count = group.max_nodes if budget is None else min(group.max_nodes, budget)
            if per_node <= 0 or count <= 0:
                continue
            total += per_node * count
            if budget is not None:
                budget -= count
        out[key] = total
    return out


def groups_from_autoscaling_config(config: dict) -> tuple[list[NodeGroup], int | None]:
    """Worker node types of a Ray autoscaling config (cluster-launcher YAML / KubeRay-derived dict) and
    its global ``max_workers``; the head type is left out (its node is counted from the live cluster)."""
    head_type = config.get("head_node_type")
    groups = []
    for name, node_type in (config.get("available_node_types") or {}).items():
        if name == head_type:
            continue
        max_nodes = int(node_type.get("max_workers", 0))
        groups.append(NodeGroup(name, {k: float(v) for k, v in (node_type.get("resources") or {}).items()},
                                UNBOUNDED_GROUP_NODES if max_nodes < 0 else max_nodes))
    cap = config.get("max_workers")
    return groups, (int(cap) if cap is not None else None)


def groups_from_cluster_config(cluster_config, head: dict[str, float]) -> list[NodeGroup]:
    """Node groups of the GCS's autoscaler v2 ``ClusterConfig`` proto, less a one-node group shaped like
    the head (platforms list the head as a group of its own; it is counted from the live cluster)."""
    groups = []
    for ngc in cluster_config.node_group_configs:
        resources = {k: float(v) for k, v in ngc.resources.items()}
        if ngc.max_count == 1 and _same_shape(resources, head):
            continue
        groups.append(NodeGroup(ngc.name, resources, UNBOUNDED_GROUP_NODES if ngc.max_count < 0 else ngc.max_count))
    return groups


def _same_shape(a: dict[str, float], b: dict[str, float]) -> bool:
    keys = ("CPU", "GPU")
    return all(a.get(k, 0.0) == b.get(k, 0.0) for k in keys)


def _autoscaling_capacity(ray) -> dict[str, float] | None:
    """Head now + what the worker node types can add, or None for a cluster that does not autoscale."""
    head = _head_resources(ray)
    cluster_config = ray._private.state.state.get_cluster_config()
    if cluster_config is not None and cluster_config.node_group_configs:
        workers = capacity_of(groups_from_cluster_config(cluster_config, head))
        limits = dict(cluster_config.max_resources)
    else:
        config = _autoscaling_config_on_this_node(ray) or _kuberay_autoscaling_config()
        if not config:
            return None
        workers = capacity_of(*groups_from_autoscaling_config(config))
        limits = {}
    if not any(workers.values()):
        return None
    total = {k: head.get(k, 0.0) + workers.get(k, 0.0) for k in {*head, *workers} if not k.startswith("node:")}
    return {k: min(v, float(limits[k])) if k in limits else v for k, v in total.items()}


def _head_resources(ray) -> dict[str, float]:
    for node in ray.nodes():
        if node.get("Alive") and HEAD_MARKER in node.get("Resources", {}):
            return {k: float(v) for k, v in node["Resources"].items()}
    return {}


def _autoscaling_config_on_this_node(ray) -> dict | None:
    """The config file this cluster's autoscaler monitor runs with, if that monitor runs on this machine
    (it is started on the head with ``--autoscaling-config=PATH --gcs-address=HOST:PORT``)."""
    import psutil
    import yaml

    port = ray.get_runtime_context().gcs_address.rsplit(":", 1)[-1]
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info.get("cmdline") or []
        if not any(a.endswith("monitor.py") for a in args):
            continue
        flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
        if flags.get("gcs-address", "").rsplit(":", 1)[-1] == port and flags.get("autoscaling-config"):
            with open(os.path.expanduser(flags["autoscaling-config"])) as f:
                return yaml.safe_load(f)
    return None


def _kuberay_autoscaling_config() -> dict | None:
    """On a KubeRay head pod: the autoscaling config Ray derives from the RayCluster resource (needs the
    pod's service account to read rayclusters, which KubeRay grants when in-tree autoscaling is on)."""
    name = os.environ.get("RAY_CLUSTER_NAME")
    ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    if not name or not os.path.exists(ns_file):
        return None
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr
    from ray.autoscaler._private.kuberay.node_provider import KubernetesHttpApiClient

    with open(ns_file) as f:
        namespace = f.read().strip()
    ray_cr = KubernetesHttpApiClient(namespace=namespace).get(f"rayclusters/{name}")
    return _derive_autoscaling_config_from_ray_cr(ray_cr)
