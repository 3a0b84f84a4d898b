"""Run by tests/cluster/test_cluster_jobs.py in its own process: the embedding job on a 4-node Ray on
this machine, once undisturbed and once with a busy worker node killed mid-job (from the driver's
progress callback, so the kill lands while work is in flight). Prints one JSON line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from cluster_scenario import node_running, start_cluster  # noqa: E402


def main(videos_dir: str, out: str) -> None:
    import ray

    from vidray.embed.config import EmbedConfig
    from vidray.embed.inputs import load_videos
    from vidray.embed.job import ActorPool, run_embed
    from vidray.progress import Progress
    from vidray.stage import Scale

    cluster, nodes = start_cluster(3)
    cfg = EmbedConfig(model="vidray-tiny", pretrained="none", fps=None, every_n=2, shard_size=4, batch_size=16,
                      frames_per_block=8)
    videos = load_videos(videos_dir, cfg.split_ratios)
    reference = run_embed(cfg, videos, Path(out) / "reference", scale=Scale(workers=2), pool=ActorPool(1, 1))
    events = {}

    class KillOnce(Progress):
        def add(self, ok=0, failed=0):
            super().add(ok, failed)
            if "killed_at_done" not in events and self.done >= 2:
                cluster.remove_node(node_running(nodes), allow_graceful=False)
                events["killed_at_done"] = self.done
                events["total"] = self.total

    disturbed = run_embed(cfg, videos, Path(out) / "disturbed", scale=Scale(workers=2), pool=ActorPool(1, 1),
                          progress=KillOnce("embed", quiet=True))
    print(json.dumps({"events": events, "reference_errors": reference.errors, "disturbed_errors": disturbed.errors,
                      "videos": len(videos)}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
