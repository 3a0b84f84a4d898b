"""The patch job on an autoscaling cluster: Ray's fake multi-node provider on this machine (autoscaler v2,
a 1-CPU head, a ``cpu`` worker type of 1-CPU nodes, min 0 / max 3), started from the head alone.

Prints what the autoscaler was asked for, the most nodes alive at once during the job, the job's tasks
per node, and the job's throughput (extractions/s, from its status file) against the same job on a fixed
local 1-CPU Ray (what a job sized by the nodes up at its start gets from that head), plus whether both
runs wrote the same files. All "nodes" share this machine's cores, so the ratio is bounded by them.

    python bench/scale.py [--films 3] [--frame-limit 48]

Every number is measured in this run; the last line prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "cluster"))
from fake_autoscaler import FakeAutoscaledRay, FakeClusterSpec, PeakNodes  # noqa: E402


def make_config(root: Path, films: int, frame_limit: int) -> Path:
    """``films`` generated 720p clips (general + space), ``frame_limit`` extractions each."""
    from vidray.patches.demo import make_demo_clip

    videos = [{"name": f"pan_{k}", "path": str(make_demo_clip(root / f"pan_{k}.mp4")),
               "categories": {"general": 1.0, "space": 0.5}} for k in range(films)]
    config = root / "films.json"
    config.write_text(json.dumps({"base_settings": {"frame_limit": frame_limit, "segment_seconds": 0.4,
                                                    "min_file_size": 512}, "videos": videos}))
    return config


def patches(config: Path, out: Path, extra: list[str], env: dict) -> dict:
    """Run ``vidray patches``; its throughput from the status file it leaves."""
    proc = subprocess.run([sys.executable, "-m", "vidray", "patches", str(config), "--no-live", "--output", str(out),
                           *extra], env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode:
        raise SystemExit(f"patch job failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    status = json.loads((out / ".generator_status.json").read_text())
    done = len((out / ".generator_manifest.jsonl").read_text().splitlines())
    return {"extractions": done, "elapsed": status["elapsed_s"], "rate": done / status["elapsed_s"]}


def png_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=3)
    parser.add_argument("--frame-limit", type=int, default=48, help="extractions per film")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vidray-scale-"))
    try:
        config = make_config(root, args.films, args.frame_limit)
        spec = FakeClusterSpec(head_cpus=1, worker_cpus=1, max_workers=3, idle_timeout_minutes=0.5)
        with FakeAutoscaledRay(spec) as cluster:
            jobs_before = cluster.driver_job_ids()
            t0 = time.perf_counter()
            with PeakNodes(cluster, every=0.5) as peak:
                grown = patches(config, root / "cluster", ["--address", cluster.address], cluster.env)
            wall = time.perf_counter() - t0
            requested = cluster.nodes_requested()
            per_node = cluster.tasks_per_node(cluster.driver_job_ids() - jobs_before)
        ray_tmp = tempfile.mkdtemp(prefix="vr-")  # short: Ray's socket paths must fit in 107 bytes
        fixed = patches(config, root / "fixed", ["--num-cpus", "1"], {**os.environ, "VIDRAY_RAY_TMPDIR": ray_tmp})
        shutil.rmtree(ray_tmp, ignore_errors=True)
        same = png_files(root / "cluster") == png_files(root / "fixed")
        ratio = grown["rate"] / fixed["rate"]
        print(f"autoscaling cluster: {grown['extractions']} extractions in {grown['elapsed']:.1f}s "
              f"({grown['rate']:.2f}/s; driver wall {wall:.1f}s)")
        print(f"nodes the autoscaler was asked for: {requested or 'none'}; "
              f"peak alive nodes {peak.peak} (head included)")
        print("tasks per node: " + ", ".join(f"{node[-5:]}{' (head)' if node.endswith('00000') else ''} {n}"
                                             for node, n in sorted(per_node.items())))
        print(f"fixed local 1-CPU Ray: {fixed['extractions']} extractions in {fixed['elapsed']:.1f}s "
              f"({fixed['rate']:.2f}/s)")
        print(f"scale bench: nodes requested {sum(requested.values())}, peak alive {peak.peak}, "
              f"nodes that ran tasks {len(per_node)}, tasks per node {sorted(per_node.values(), reverse=True)}, "
              f"throughput autoscaling/fixed-1-CPU {ratio:.2f} ({os.cpu_count()} cores shared by all nodes), "
              f"same files {'yes' if same else 'NO'}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
