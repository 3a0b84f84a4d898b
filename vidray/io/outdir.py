"""A job's output directory: refuses to mix runs, remembers whether the run finished.

``OUT/.vidray/run.json`` records the job name, its config and ``complete``. A rerun with
the same job and config resumes; a different config is refused (or, with ``overwrite``,
the job's own outputs are deleted first); a non-empty directory that is not a vidray
output is never written into.
"""

from __future__ import annotations

import json

from vidray import __version__
from vidray.errors import OutputError, VidrayError, os_failure
from vidray.io import storage
from vidray.io.lease import LEASE_FILE, LOCK_FILE, Lease

META_DIR = ".vidray"


class OutputDir:
    """Claim ``root`` for ``job`` with ``config`` (a JSON-ready dict)."""

    def __init__(self, root, job: str, config: dict, overwrite: bool = False, owned: tuple[str, ...] = ()):
        local = storage.local_path(root)
        # a local Path, or a URI string on an object store (no directories there: prefixes)
        self.root = local if local is not None else str(root).rstrip("/")
        self.meta = self.root / META_DIR if local is not None else storage.join(self.root, META_DIR)
        self.run_file = storage.join(self.meta, "run.json") if local is None else self.meta / "run.json"
        self.job, self.config = job, config
        if local is not None:
            if local.exists() and not local.is_dir():
                raise OutputError(self.root, "output path exists and is not a directory")
            try:
                local.mkdir(parents=True, exist_ok=True)
            except (NotADirectoryError, FileExistsError) as exc:
                raise OutputError(self.root, f"cannot create the output directory: {exc.strerror or exc}") from exc
            except OSError as exc:
                raise os_failure(exc, self.root) from exc
        previous = self._read_previous()
        replace = previous is not None and (previous.get("job") != job or previous.get("config") != config)
        if replace and not overwrite:
            raise OutputError(self.root, "holds a different run (" + _describe_difference(previous, job, config)
                              + "); choose another output directory or pass --overwrite")
        if previous is None and any(name != META_DIR for name in storage.list_names(self.root)):
            raise OutputError(self.root, "is not empty and holds no vidray run of this job; "
                                         "choose an empty or new output directory")
        self.lease = Lease(self.root, self.meta, job).acquire()  # one writer: a live run here is refused
        if replace:
            for name in [n for n in storage.list_names(self.meta) if n not in (LEASE_FILE, LOCK_FILE)]:
                storage.delete_tree(storage.join(self.meta, name))
            for name in owned:
                storage.delete_tree(storage.join(self.root, name))
            previous = None
        self.complete = bool(previous and previous.get("complete"))
        if previous is None:
            self._write(complete=False)

    def _read_previous(self) -> dict | None:
        if not storage.exists(self.run_file):
            return None
        try:
            return json.loads(storage.read_bytes(self.run_file))
        except (VidrayError, json.JSONDecodeError) as exc:
            raise OutputError(self.run_file, f"unreadable run record: {exc}") from exc

    def _write(self, complete: bool) -> None:
        record = {"job": self.job, "config": self.config, "complete": complete, "vidray_version": __version__}
        try:
            storage.write_json(self.run_file, record)
        except OSError as exc:
            raise os_failure(exc, self.root) from exc

    def mark_complete(self) -> None:
        """Record that every output of the run exists, and give up the lease."""
        self._write(complete=True)
        self.complete = True
        self.lease.release()


def _describe_difference(previous: dict, job: str, config: dict) -> str:
    if previous.get("job") != job:
        return f"job {previous.get('job')!r}, not {job!r}"
    old = previous.get("config") or {}
    diffs = [f"{k}: {old.get(k)!r} → {config.get(k)!r}" for k in sorted(set(old) | set(config))
             if old.get(k) != config.get(k)]
    return "settings differ: " + ", ".join(diffs)
