"""Shared by the fault scenarios (run as scripts, one multi-node Ray per process): start a Ray cluster
on this machine whose nodes are declared dead quickly, and find a node that is doing work."""

from __future__ import annotations

FAST_HEALTH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
               "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}


def start_cluster(workers: int, **head_args):
    """A head without CPUs (the driver's home) and ``workers`` 1-CPU worker nodes; connects to it."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": FAST_HEALTH,
                                                            **head_args})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(workers)]
    ray.init(address=cluster.address, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    return cluster, nodes


def node_running(nodes, marker: str = "ray::"):
    """The first node with a busy Ray worker process (cmdline containing ``marker``) under its raylet."""
    import psutil

    for node in nodes:
        try:
            raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
            titles = [" ".join(p.cmdline()) for p in raylet.children(recursive=True)]
        except psutil.Error:
            continue
        if any(marker in t and "IDLE" not in t for t in titles):
            return node
    return nodes[0]
