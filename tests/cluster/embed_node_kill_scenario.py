"""Run by tests/cluster/test_cluster_jobs.py in its own process: the embedding job on a 4-node Ray on
this machine, once undisturbed and once with a worker node killed mid-job (from the driver's
progress callback, so the kill lands while work is in flight). Prints one JSON line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _busy_node(nodes):
    """A worker node with a Ray Data task or actor process running under its raylet."""
    import psutil

    for node in nodes:
        raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
        try:
            titles = [" ".join(p.cmdline()) for p in raylet.children(recursive=True)]
        except psutil.Error:
            continue
        if any("ray::" in t and "IDLE" not in t for t in titles):
            return node
    return nodes[0]


def main(videos_dir: str, out: str) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from vidray.embed.config import EmbedConfig
    from vidray.embed.inputs import load_videos
    from vidray.embed.job import run_embed

    fast_health = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                   "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": fast_health})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(3)]
    ray.init(address=cluster.address, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    cfg = EmbedConfig(model="vidray-tiny", pretrained="none", fps=None, every_n=2, shard_size=4, batch_size=16,
                      frames_per_block=8)
    videos = load_videos(videos_dir, cfg.split_ratios)
    reference = run_embed(cfg, videos, Path(out) / "reference", workers=2, actors=1)
    events = {}

    def kill_once(done: int, total: int) -> None:
        if "killed_at_done" not in events and done >= 2:
            victim = _busy_node(nodes)
            cluster.remove_node(victim, allow_graceful=False)
            events["killed_at_done"] = done
            events["total"] = total

    disturbed = run_embed(cfg, videos, Path(out) / "disturbed", workers=2, actors=1, progress=kill_once)
    print(json.dumps({"events": events, "reference_errors": reference.errors, "disturbed_errors": disturbed.errors,
                      "videos": len(videos)}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
