"""Run by tests/cluster/test_cluster_train.py in its own process (a multi-node Ray is process-global):
a 3-node Ray on this machine, 2-worker DDP training, one worker node killed after the first
checkpoint; a spare node takes over. Prints one JSON line with what happened."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.1"
sys.path.insert(0, str(Path(__file__).parent))

from cluster_scenario import node_running, start_cluster  # noqa: E402


def main(data: str, storage: str) -> None:
    import ray

    from vidray.config import from_dict
    from vidray.runtime import dashboard_port
    from vidray.train.config import TrainConfig
    from vidray.train.trainer import run_training

    # three 1-CPU worker nodes for a 2-worker run: one spare takes over after the kill (nodes can
    # only be added from the main thread, so the replacement is there from the start)
    cluster, workers = start_cluster(3, include_dashboard=True, dashboard_host="127.0.0.1",
                                     dashboard_port=dashboard_port())
    cfg = from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": data, "batch_size": 8,
                                  "epochs": 5, "num_workers": 2, "lr": 3e-3, "storage": storage,
                                  "run_name": "node-kill", "max_failures": 3})
    events = {}

    def kill_a_node_after_first_checkpoint():
        deadline = time.time() + 240
        while time.time() < deadline and not list(Path(storage, "node-kill").glob("checkpoint_*")):
            time.sleep(0.2)
        events["checkpoints_before_kill"] = len(list(Path(storage, "node-kill").glob("checkpoint_*")))
        victim = node_running(workers, marker="RayTrainWorker")
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
