"""What the connected Ray cluster can grow to, so work is sized by the cluster's maximum, not by
the nodes that happen to be up when a job starts (an autoscaling cluster starts with none)."""

from __future__ import annotations


def cluster_capacity() -> dict[str, float]:
    """Total resources of the cluster at its largest: head + every worker type × its max_workers
    for an autoscaling cluster; the resources alive now for a fixed one (local Ray, cluster_utils)."""
    import ray

    return {k: float(v) for k, v in ray.cluster_resources().items()}
