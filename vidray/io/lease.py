"""One writer per output: a lease on ``OUT/.vidray/lease.json`` with a heartbeat.

A second run into a live output is refused, naming the first (host, pid, start, last heartbeat). On a
local or NFS disk the lease is also an OS lock (``flock``) that dies with its process, so a killed run's
lease is taken over at once; on object storage a lease whose heartbeat is older than ``TTL_S`` is stale
and taken over. ``vidray monitor`` reads the heartbeat to tell a live run from a dead one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone

from vidray.errors import OutputError
from vidray.io import storage

LEASE_FILE = "lease.json"
LOCK_FILE = "lease.lock"
_HELD: dict[str, "Lease"] = {}  # leases this process holds, by location: a later run here takes them over
TTL_S = 60.0  # a heartbeat older than this: the run is dead
BEAT_S = 10.0


def read_lease(meta) -> dict | None:
    """The lease in the meta folder ``meta`` (``OUT/.vidray``), or None."""
    location = storage.join(meta, LEASE_FILE)
    try:
        return json.loads(storage.read_bytes(location)) if storage.exists(location) else None
    except (ValueError, OSError):
        return None


def heartbeat_age(lease: dict | None) -> float | None:
    """Seconds since the lease's last heartbeat (None without a lease)."""
    return None if not lease else max(0.0, time.time() - float(lease.get("heartbeat", 0)))


def lock_free(meta) -> bool | None:
    """On a local/NFS disk, whether nobody holds the output's OS lock (its run is dead: a killed process
    drops it at once); None on object storage, where only the heartbeat tells."""
    local = storage.local_path(meta)
    if local is None:
        return None
    if not (local / LOCK_FILE).exists():
        return True
    import fcntl

    with open(local / LOCK_FILE, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return True


def holder_gone(lease: dict | None) -> bool:
    """Whether the lease's holder is known dead: a process of this host whose pid no longer runs (a killed
    driver's object-store lease need not wait out its heartbeat)."""
    if not lease or lease.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(lease.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


def describe(lease: dict) -> str:
    """``host pid N (job), started …, last heartbeat Ns ago``."""
    age = heartbeat_age(lease)
    return (f"{lease.get('host')} pid {lease.get('pid')} ({lease.get('job')}), started {lease.get('started')}, "
            f"last heartbeat {age:.0f}s ago")


class Lease:
    """Hold ``root``'s lease for ``job`` from :meth:`acquire` until :meth:`release` (or process exit)."""

    def __init__(self, root, meta, job: str):
        self.root, self.meta, self.job = root, meta, job
        self.location = storage.join(meta, LEASE_FILE)
        self.token = uuid.uuid4().hex
        self.taken_over: dict | None = None  # the dead run's lease this one replaced
        self._lock_file = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._record = {"token": self.token, "job": job, "host": socket.gethostname(), "pid": os.getpid(),
                        "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def acquire(self) -> "Lease":
        """Take the lease or raise :class:`OutputError` naming the live run that holds it."""
        mine = _HELD.pop(str(self.location), None)
        if mine is not None:  # an earlier run in this process that ended without releasing (an exception)
            mine.release()
        previous = read_lease(self.meta)
        local = storage.local_path(self.meta)
        if local is not None:
            import fcntl

            local.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(local / LOCK_FILE, "a+")  # noqa: SIM115 - held for the whole run
            try:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_file.close()
                self._lock_file = None
                held = f" ({describe(previous)})" if previous else ""
                raise OutputError(self.root, f"is being written by another run{held}; wait for it to end or use "
                                             "another output") from None
        elif previous and previous.get("token") != self.token and heartbeat_age(previous) < TTL_S \
                and not holder_gone(previous):
            raise OutputError(self.root, f"is being written by another run ({describe(previous)}); wait for it to "
                                         f"end (a killed run's lease expires {TTL_S:.0f}s after its last "
                                         "heartbeat) or use another output")
        self.taken_over = previous
        self._beat()
        if local is None:  # object stores have no lock: the last writer of two racing runs keeps the lease
            time.sleep(0.5)
            now = read_lease(self.meta)
            if now and now.get("token") != self.token:
                raise OutputError(self.root, f"is being written by another run ({describe(now)}); use another "
                                             "output")
        self._thread = threading.Thread(target=self._run, name="vidray-lease", daemon=True)
        self._thread.start()
        atexit.register(self.release)
        _HELD[str(self.location)] = self
        return self

    def _beat(self) -> None:
        storage.write_json(self.location, {**self._record, "heartbeat": time.time()})

    def _run(self) -> None:
        while not self._stop.wait(BEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is retried; the run itself goes on
                self._beat()

    def release(self) -> None:
        """Stop the heartbeat and give the lease up (idempotent)."""
        if _HELD.get(str(self.location)) is self:
            del _HELD[str(self.location)]
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            with contextlib.suppress(Exception):
                current = read_lease(self.meta)
                if current and current.get("token") == self.token:
                    storage.delete(self.location)
        if self._lock_file is not None:
            self._lock_file.close()  # closing drops the flock
            self._lock_file = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.release)
