"""Connecting to Ray: an in-process local Ray by default, a cluster with ``--address``/``RAY_ADDRESS``.

Local Ray gets its own temp dir, no usage stats, and no dashboard unless asked for
(then only on 127.0.0.1 unless a host is given). Inside ``ray job submit`` the job's
``RAY_ADDRESS`` is picked up, so the same entrypoint runs locally and on a cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
from typing import Iterator

log = logging.getLogger("vidray.runtime")


def ray_temp_dir() -> str:
    """Where local Ray keeps its sessions: ``$VIDRAY_RAY_TMPDIR`` or a vidray dir in the system temp."""
    return os.environ.get("VIDRAY_RAY_TMPDIR") or os.path.join(tempfile.gettempdir(), f"vidray-ray-{os.getuid()}")


def dashboard_port(host: str = "127.0.0.1", preferred: int = 8265) -> int:
    """Ray's usual dashboard port if it is free on ``host``, else any free port (Ray refuses to start
    when its dashboard port is taken, e.g. by another local Ray)."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((host, port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise OSError(f"no free port for the Ray dashboard on {host}")


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None, dashboard: bool = False,
                dashboard_host: str = "127.0.0.1") -> Iterator[None]:
    """Use the running Ray if there is one, else connect to ``address``, else start local Ray.

    Shuts down on exit only what it started itself.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "local":
        log.info("connecting to Ray cluster at %s", address)
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        log.info("starting local Ray (temp dir %s)", ray_temp_dir())
        port = dashboard_port(dashboard_host) if dashboard else None
        ray.init(num_cpus=num_cpus, include_dashboard=dashboard, dashboard_host=dashboard_host, dashboard_port=port,
                 _temp_dir=ray_temp_dir(), logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def decode_task_options() -> dict:
    """Ray options for CPU work tasks (decode, render, crop): ``num_cpus`` from
    ``$VIDRAY_TASK_CPUS`` (1) and custom resources from ``$VIDRAY_TASK_RESOURCES`` ("decode=1,…").

    On the cluster of cluster.yaml, ``decode=1`` keeps these tasks on the CPU nodes. The CLI's
    ``--task-cpus``/``--task-resources`` set the variables for the job it runs.
    """
    options: dict = {"num_cpus": float(os.environ.get("VIDRAY_TASK_CPUS", "1"))}
    spec = os.environ.get("VIDRAY_TASK_RESOURCES", "").strip()
    if spec:
        resources = {}
        for part in spec.split(","):
            name, _, amount = part.partition("=")
            resources[name.strip()] = float(amount or 1)
        options["resources"] = resources
    return options


def quiet_ray_data(show_progress_bars: bool = False) -> None:
    """Turn Ray Data's own progress bars and INFO logs down when vidray shows its own progress."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = show_progress_bars
    logging.getLogger("ray.data").setLevel(logging.WARNING)
