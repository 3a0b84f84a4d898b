"""A fake multi-node autoscaling Ray cluster on this machine (Ray's ``fake_multinode`` provider, autoscaler v2).

``ray.cluster_utils.AutoscalingCluster`` needs the provider's example.yaml (not in the wheel) and its
start/shutdown force-stop every Ray on the machine (`ray stop`). This harness writes the
config itself, starts the head in its own process group and, on teardown, kills that group plus every
process that names its temp dir (the fake worker nodes are raylets the autoscaler's monitor spawns).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
FAKE_HEAD_NODE_ID = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"
FAKE_PROVIDER = "fake_autoscaler.MemoryAwareFakeProvider"  # imported by the monitor: PYTHONPATH has this dir
WORKER_TYPE = "cpu"
_ADDING = re.compile(r"Adding (\d+) node\(s\) of type (\S+?)\.?$", re.MULTILINE)


def ray_node_ip() -> str:
    """The address Ray gives nodes started on this machine."""
    from ray.util import get_node_ip_address

    return get_node_ip_address()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class FakeClusterSpec:
    """Shape of the fake cluster: a head with ``head_cpus`` and up to ``max_workers`` ``cpu`` workers."""

    head_cpus: int = 1
    worker_cpus: int = 1
    worker_resources: dict[str, float] = field(default_factory=lambda: {"decode": 1})
    worker_memory: int = 4 * 2**30  # what the autoscaler assumes a worker offers to tasks that declare memory
    max_workers: int = 3
    idle_timeout_minutes: float = 1.0

    def autoscaling_config(self, gcs_address: str) -> dict:
        """The autoscaler's cluster config (what the provider's missing example.yaml would give)."""
        return {
            "cluster_name": "vidray-fake",
            "max_workers": self.max_workers,
            "upscaling_speed": 10.0,
            "idle_timeout_minutes": self.idle_timeout_minutes,
            # the provider starts worker raylets against 127.0.0.1:6379 unless told the head's GCS address
            # type "external" + the fake provider's class: "fake_multinode" would make the autoscaler read
            # its defaults from the example.yaml the wheel lacks (v2 treats both as an UNKNOWN provider)
            "provider": {"type": "external", "module": FAKE_PROVIDER, "launch_multiple": True,
                         "head_node_id": FAKE_HEAD_NODE_ID, "gcs_address": gcs_address},
            "auth": {"ssh_user": "ubuntu"},
            "available_node_types": {
                "ray.head.default": {"resources": {"CPU": self.head_cpus}, "node_config": {}, "max_workers": 0},
                WORKER_TYPE: {"resources": {"CPU": self.worker_cpus, "memory": self.worker_memory,
                                            **self.worker_resources}, "node_config": {},
                              "min_workers": 0, "max_workers": self.max_workers},
            },
            "head_node_type": "ray.head.default",
            "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
            "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
            "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
        }

    def capacity(self) -> dict[str, float]:
        """What the cluster can grow to: the head plus ``max_workers`` workers."""
        out = {"CPU": float(self.head_cpus + self.worker_cpus * self.max_workers)}
        for name, amount in self.worker_resources.items():
            out[name] = float(amount * self.max_workers)
        return out


class FakeAutoscaledRay:
    """A running fake cluster: ``address`` (GCS, for ``--address``), ``dashboard`` (for ``ray job submit``)."""

    def __init__(self, spec: FakeClusterSpec = FakeClusterSpec(), temp_root: str | None = None,
                 keep_temp_dir: bool = False):
        self.spec = spec
        self.keep_temp_dir = keep_temp_dir
        # Ray's unix socket paths must stay short: keep the temp dir near the root of the system temp
        self.temp_dir = Path(tempfile.mkdtemp(prefix="vrfake", dir=temp_root))
        self.port = free_port()
        self.dashboard_port = free_port()
        # the IP Ray picks for its nodes anyway (it overrides --node-ip-address 127.0.0.1 here); one address
        # for the head, the fake nodes and the drivers, or `address="auto"` lookups find two clusters
        self.ip = ray_node_ip()
        self.address = f"{self.ip}:{self.port}"
        self.dashboard = f"http://127.0.0.1:{self.dashboard_port}"
        self.env = cluster_env()
        self._proc: subprocess.Popen | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> "FakeAutoscaledRay":
        """Write the config, start the head (own process group) and wait until it takes connections."""
        cfg = self.temp_dir / "autoscaling.json"
        cfg.write_text(json.dumps(self.spec.autoscaling_config(self.address)))
        env = {**self.env, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
               "RAY_enable_autoscaler_v2": "1", "RAY_CLOUD_INSTANCE_ID": FAKE_HEAD_NODE_ID,
               "RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_NODE_ID}
        cmd = [str(BIN / "ray"), "start", "--head", "--block", f"--autoscaling-config={cfg}",
               "--num-cpus", str(self.spec.head_cpus), "--port", str(self.port),
               "--node-ip-address", self.ip, "--temp-dir", str(self.temp_dir),
               "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
               "--include-dashboard", "true", "--dashboard-agent-listen-port", str(free_port()),
               "--ray-client-server-port", str(free_port()), "--disable-usage-stats"]
        self._log = open(self.temp_dir / "head.out", "wb")
        self._proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Until the GCS answers and the dashboard's job API is up (``ray job submit`` needs its agent)."""
        import urllib.request

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"fake cluster head exited: {(self.temp_dir / 'head.out').read_text()[-3000:]}")
            try:
                with socket.create_connection((self.ip, self.port), timeout=1):
                    pass
                with urllib.request.urlopen(f"{self.dashboard}/api/version", timeout=2):
                    pass
                if self.session_dir() is not None and self.alive_nodes():
                    return
            except Exception:  # not up yet: refused connections, a dashboard still starting its modules
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"fake cluster head not ready in {timeout} s")

    def stop(self) -> None:
        """Kill the head's process group and every process naming this cluster's temp dir (fake nodes too)."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait(timeout=30)
        kill_processes_naming(self.temp_dir)
        if getattr(self, "_log", None):
            self._log.close()
        if not self.keep_temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "FakeAutoscaledRay":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what the autoscaler did -----------------------------------------------------------------
    def session_dir(self) -> Path | None:
        """The head's session dir (``<temp>/session_latest`` resolved), once Ray has made it."""
        latest = self.temp_dir / "session_latest"
        return latest.resolve() if latest.exists() else None

    def autoscaler_log_text(self) -> str:
        """The autoscaler monitor's log (``monitor.log`` and its rotations), where v1 and v2 both log
        ``Adding N node(s) of type X.`` when they ask the provider for nodes (v2 via its event logger)."""
        logs = (self.session_dir() or self.temp_dir) / "logs"
        parts = []
        for path in sorted(logs.glob("monitor.log*")):
            try:
                parts.append(path.read_text(errors="replace"))
            except OSError:
                continue
        return "\n".join(parts)

    def nodes_requested(self) -> dict[str, int]:
        """Worker nodes the autoscaler asked the provider for so far, by node type."""
        counts: dict[str, int] = {}
        for m in _ADDING.finditer(self.autoscaler_log_text()):
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
        return counts

    def alive_nodes(self) -> list:
        """Alive Ray nodes (state-API ``NodeState`` rows, head included), read through the dashboard."""
        from ray.util.state import list_nodes

        return list_nodes(address=self.dashboard, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)

    def wait_for_nodes(self, count: int, timeout: float = 60.0, at_most: bool = False) -> int:
        """Wait until at least (``at_most``: at most) ``count`` nodes, head included, are alive; the number
        alive at the end."""
        deadline = time.time() + timeout
        while True:
            alive = len(self.alive_nodes())
            if (0 < alive <= count if at_most else alive >= count) or time.time() > deadline:
                return alive
            time.sleep(0.5)

    def driver_job_ids(self) -> set[str]:
        """Ids of every Ray job (driver) this cluster has seen."""
        from ray.util.state import list_jobs

        return {j.job_id for j in list_jobs(address=self.dashboard, raise_on_missing_output=False) if j.job_id}

    def tasks_per_node(self, job_ids: set[str]) -> dict[str, int]:
        """Finished tasks of ``job_ids`` (actor tasks included) by the node they ran on."""
        from ray.util.state import list_tasks

        counts: dict[str, int] = {}
        for job_id in job_ids:
            for task in list_tasks(address=self.dashboard, filters=[("job_id", "=", job_id)], limit=10_000,
                                   raise_on_missing_output=False):
                if task.state == "FINISHED" and task.node_id and task.type != "DRIVER_TASK":
                    counts[task.node_id] = counts.get(task.node_id, 0) + 1
        return counts


class PeakNodes:
    """Polls a cluster's alive nodes in a thread while a run goes on; ``peak`` is the most seen at once."""

    def __init__(self, cluster: FakeAutoscaledRay, every: float = 1.0):
        import threading

        self.cluster, self.every, self.peak = cluster, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, len(self.cluster.alive_nodes()))
            except Exception:  # the dashboard can be slow to answer on a busy 2-core box: try again
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakNodes":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def cluster_env() -> dict[str, str]:
    """Environment for the head and its clients: venv first on PATH (so job entrypoints run the venv's
    python), no token auth on loopback, no usage stats, no inherited RAY_ADDRESS. Ray Data's cluster
    autoscaler (in each driver) re-checks demand every second instead of every 10 s, as the autoscaler
    itself does here (AUTOSCALER_UPDATE_INTERVAL_S=1): tiny test jobs then scale like long real ones."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
           "RAY_DATA_MIN_GAP_BETWEEN_AUTOSCALING_REQUESTS": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    return env


def kill_processes_naming(temp_dir: Path) -> None:
    """SIGKILL every process (but this one) whose command line contains ``temp_dir``."""
    import psutil
    import ray  # noqa: F401  (Ray puts its vendored psutil on sys.path)

    procs = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.pid != os.getpid() and str(temp_dir) in " ".join(proc.info["cmdline"] or ()):
                procs.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


def _fake_provider_base():
    from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider

    return FakeMultiNodeProvider


class MemoryAwareFakeProvider(_fake_provider_base()):
    """Ray's fake multi-node provider, but a node type may declare ``memory``: the autoscaler needs it to
    place tasks that reserve memory (Ray's provider would pass it on as a custom resource, which Ray
    refuses); the fake node's raylet detects its memory itself, as a real node does."""

    def create_node_with_resources_and_labels(self, node_config, tags, count, resources, labels):
        resources = {k: v for k, v in resources.items() if k != "memory"}
        return super().create_node_with_resources_and_labels(node_config, tags, count, resources, labels)
