"""Run by tests/cluster/test_cluster_jobs.py in its own process: the patch job on a 4-node Ray on this
machine, once undisturbed and once with a busy worker node killed after the first records arrive.
Prints one JSON line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, str(Path(__file__).parent))

from cluster_scenario import node_running, start_cluster  # noqa: E402


def main(work: str) -> None:
    import ray

    from vidray.patches.config import parse_patches_config
    from vidray.patches.demo import make_demo_clip
    from vidray.patches.job import run_patches
    from vidray.stage import Scale

    cluster, nodes = start_cluster(3)
    work = Path(work)
    videos = [{"name": f"pan_{k}", "path": str(make_demo_clip(work / f"pan_{k}.mp4")),
               "categories": {"general": 1.0, "space": 0.5}} for k in range(2)]
    cfg = parse_patches_config({"base_settings": {"frame_limit": 12, "segment_seconds": 0.5, "min_file_size": 512,
                                                  "output_format": "both", "shard_size": 5},
                                "videos": videos}, source="scenario")
    reference = run_patches(cfg, work / "reference", scale=Scale(workers=2))
    events = {}

    def kill_once(done: int) -> None:
        if "killed_at_done" not in events:
            cluster.remove_node(node_running(nodes), allow_graceful=False)
            events["killed_at_done"] = done

    disturbed = run_patches(cfg, work / "disturbed", scale=Scale(workers=2), after_records=kill_once)
    print(json.dumps({"events": events, "planned": reference.planned,
                      "ok": [reference.ok, disturbed.ok], "failed": [reference.failed, disturbed.failed]}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
