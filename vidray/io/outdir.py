"""A job's output directory: refuses to mix runs, remembers whether the run finished.

``OUT/.vidray/run.json`` records the job name, its config and ``complete``. A rerun with
the same job and config resumes; a different config is refused (or, with ``overwrite``,
the job's own outputs are deleted first); a non-empty directory that is not a vidray
output is never written into.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vidray import __version__
from vidray.errors import OutputError
from vidray.io.atomic import write_json_atomic

META_DIR = ".vidray"


class OutputDir:
    """Claim ``root`` for ``job`` with ``config`` (a JSON-ready dict)."""

    def __init__(self, root, job: str, config: dict, overwrite: bool = False, owned: tuple[str, ...] = ()):
        self.root = Path(root).expanduser().absolute()
        self.meta = self.root / META_DIR
        self.run_file = self.meta / "run.json"
        self.job, self.config = job, config
        if self.root.exists() and not self.root.is_dir():
            raise OutputError(self.root, "output path exists and is not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(self.root, f"cannot create the output directory: {exc.strerror or exc}") from exc
        previous = self._read_previous()
        if previous is not None and (previous.get("job") != job or previous.get("config") != config):
            if not overwrite:
                raise OutputError(self.root, "holds a different run (" + _describe_difference(previous, job, config)
                                  + "); choose another output directory or pass --overwrite")
            for name in (META_DIR,) + tuple(owned):
                path = self.root / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            previous = None
        if previous is None and any(p.name != META_DIR for p in self.root.iterdir()):
            raise OutputError(self.root, "is not empty and holds no vidray run of this job; "
                                         "choose an empty or new output directory")
        self.complete = bool(previous and previous.get("complete"))
        if previous is None:
            self._write(complete=False)

    def _read_previous(self) -> dict | None:
        if not self.run_file.exists():
            return None
        try:
            return json.loads(self.run_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise OutputError(self.run_file, f"unreadable run record: {exc}") from exc

    def _write(self, complete: bool) -> None:
        record = {"job": self.job, "config": self.config, "complete": complete, "vidray_version": __version__}
        try:
            write_json_atomic(self.run_file, record)
        except OSError as exc:
            raise OutputError(self.root, f"output directory is not writable: {exc.strerror or exc}") from exc

    def mark_complete(self) -> None:
        """Record that every output of the run exists."""
        self._write(complete=True)
        self.complete = True


def _describe_difference(previous: dict, job: str, config: dict) -> str:
    if previous.get("job") != job:
        return f"job {previous.get('job')!r}, not {job!r}"
    old = previous.get("config") or {}
    diffs = [f"{k}: {old.get(k)!r} → {config.get(k)!r}" for k in sorted(set(old) | set(config))
             if old.get(k) != config.get(k)]
    return "settings differ: " + ", ".join(diffs)
