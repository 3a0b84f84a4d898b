"""Run by tests/cluster/test_cluster_train.py in its own process (a multi-node Ray is process-global):
a 3-node Ray on this machine, 2-worker DDP training, one worker node killed after the first
checkpoint and a fresh node added. Prints one JSON line with what happened."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.1"


def _hosts_train_worker(node) -> bool:
    """Whether a Ray Train worker process runs under this node's raylet."""
    import psutil

    raylet = node.all_processes["raylet"][0].process.pid
    try:
        return any("RayTrainWorker" in " ".join(p.cmdline()) for p in psutil.Process(raylet).children(recursive=True))
    except psutil.Error:
        return False


def main(data: str, storage: str) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from vidray.config import from_dict
    from vidray.runtime import dashboard_port
    from vidray.train.config import TrainConfig
    from vidray.train.trainer import run_training

    fast_health = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                   "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": True,
                                                            "dashboard_host": "127.0.0.1",
                                                            "dashboard_port": dashboard_port(),
                                                            "_system_config": fast_health})
    # three 1-CPU worker nodes for a 2-worker run: one spare takes over after the kill (nodes can
    # only be added from the main thread, so the replacement is there from the start)
    workers = [cluster.add_node(num_cpus=1) for _ in range(3)]
    ray.init(address=cluster.address, logging_level="WARNING")
    cfg = from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": data, "batch_size": 8,
                                  "epochs": 5, "num_workers": 2, "lr": 3e-3, "storage": storage,
                                  "run_name": "node-kill", "max_failures": 3})
    events = {}

    def kill_a_node_after_first_checkpoint():
        deadline = time.time() + 240
        while time.time() < deadline and not list(Path(storage, "node-kill").glob("checkpoint_*")):
            time.sleep(0.2)
        events["checkpoints_before_kill"] = len(list(Path(storage, "node-kill").glob("checkpoint_*")))
        victim = next(node for node in workers if _hosts_train_worker(node))
        cluster.remove_node(victim, allow_graceful=False)
        events["killed_at"] = time.time()

    killer = threading.Thread(target=kill_a_node_after_first_checkpoint)
    killer.start()
    result = run_training(cfg)
    killer.join()
    print(json.dumps({"epochs": [r["epoch"] for r in result.history], "events": events,
                      "train_loss": [r["train_loss"] for r in result.history],
                      "reported_at": [r["reported_at"] for r in result.history]}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
