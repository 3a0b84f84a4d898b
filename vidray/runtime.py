"""Connecting to Ray: an in-process local Ray by default, a cluster with ``--address``/``RAY_ADDRESS``.

Local Ray gets its own temp dir, no usage stats, no dashboard unless asked for, and listens on
127.0.0.1 only (its GCS, raylet, agents and workers; a laptop run has no reason to be reachable),
unless a dashboard host beyond loopback is asked for. Inside ``ray job submit`` the job's
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


def dashboard_port(host: str = "127.0.0.1", preferred: int | None = None) -> int:
    """``preferred`` (``$VIDRAY_DASHBOARD_PORT``, else Ray's usual 8265) if it is free on ``host``, else any
    free port (Ray refuses to start when its dashboard port is taken, e.g. by another local Ray)."""
    if preferred is None:
        preferred = int(os.environ.get("VIDRAY_DASHBOARD_PORT") or 8265)
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((host, port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise OSError(f"no free port for the Ray dashboard on {host}")


def pin_ray_address() -> None:
    """Worker-process setup hook of a local Ray: name this Ray in ``RAY_ADDRESS``. Ray's state API, which
    Ray Train's controller calls with no address, otherwise fails with "Found multiple active Ray
    instances" when another local Ray runs on the machine (a sweep then never frees its stopped trials)."""
    import ray

    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)


@contextlib.contextmanager
def starting_alone() -> Iterator[None]:
    """Hold a lock in the local Ray temp dir while a local Ray starts, so that vidray runs started at
    the same moment on one machine do not race for the dashboard port."""
    import fcntl

    os.makedirs(ray_temp_dir(), exist_ok=True)
    with open(os.path.join(ray_temp_dir(), "vidray-start.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None, dashboard: bool = False,
                dashboard_host: str = "127.0.0.1", verbose: bool = False) -> Iterator[None]:
    """Use the running Ray if there is one, else connect to ``address``, else start local Ray.

    Ray's own INFO logs and Ray Data's progress output stay off unless ``verbose`` (``vidray -v``).
    Shuts down on exit only what it started itself.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    level = logging.INFO if verbose else logging.WARNING
    try:
        if address and address != "local":
            log.info("connecting to Ray cluster at %s", address)
            ray.init(address=address, logging_level=level)
        else:
            log.info("starting local Ray (temp dir %s)", ray_temp_dir())
            # one local start at a time: two runs started together would both pick the free port 8265
            with starting_alone(), loopback_only(enabled=dashboard_host in LOOPBACK):
                port = dashboard_port(dashboard_host) if dashboard else None
                ray.init(num_cpus=num_cpus, include_dashboard=dashboard, dashboard_host=dashboard_host,
                         dashboard_port=port, _temp_dir=ray_temp_dir(), logging_level=level,
                         runtime_env={"worker_process_setup_hook": "vidray.runtime.pin_ray_address"})
    except Exception as exc:  # start-up / connection, not the job (a failed dashboard start is a bare Exception)
        from vidray.errors import EnvironmentFailure

        if ray.is_initialized():
            ray.shutdown()
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]
        if address and address != "local":
            raise EnvironmentFailure(f"--address {address}", f"cannot connect to the Ray cluster ({first}); check "
                                     "that its head is up and reachable, then rerun: the job resumes") from exc
        if "AF_UNIX path length" in first:  # Ray's sockets live under its temp dir
            raise EnvironmentFailure(f"Ray temp dir {ray_temp_dir()}", "is too deep for Ray's socket paths (107 "
                                     "bytes at most); set VIDRAY_RAY_TMPDIR to a shorter directory") from exc
        raise EnvironmentFailure("local Ray", f"could not start ({first}); the machine may be short of memory or "
                                 "CPU right now: rerun the same command (it resumes), or use a cluster with "
                                 "--address") from exc
    quiet_ray_data(show_progress_bars=verbose)
    try:
        yield
    finally:
        ray.shutdown()


LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def loopback_only(enabled: bool = True) -> Iterator[None]:
    """Start Ray in its local-only mode (its default on macOS and Windows): the node's address is
    127.0.0.1, so the GCS, raylet, agents and workers bind loopback, not every interface.

    Ray 2.60 has no bind-address option; the mode is ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read into
    ``ray_constants`` at import, so both are set for the start and restored after it (the processes
    started keep the environment; a later connection to a real cluster is unaffected).
    """
    if not enabled:
        yield
        return
    from ray._private import ray_constants

    saved_env, saved_flag = os.environ.get(LOCAL_ONLY_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOCAL_ONLY_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(LOCAL_ONLY_ENV, None)
        else:
            os.environ[LOCAL_ONLY_ENV] = saved_env


def quiet_ray_data(show_progress_bars: bool = False) -> None:
    """Turn Ray Data's own progress bars and INFO logs down when vidray shows its own progress."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = show_progress_bars
    logging.getLogger("ray.data").setLevel(logging.INFO if show_progress_bars else logging.WARNING)
    # its one-off "Progress bars disabled" warning is about the setting made just above
    logging.getLogger("ray.data._internal.progress").setLevel(logging.INFO if show_progress_bars else logging.ERROR)
    # a failed task is re-raised to vidray, which reports it in one line (with the traceback under -v)
    for name in ("ray.data.exceptions", "ray.data._internal.execution.streaming_executor_state"):
        logging.getLogger(name).setLevel(logging.INFO if show_progress_bars else logging.CRITICAL)
