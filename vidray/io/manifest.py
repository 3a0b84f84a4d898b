"""Append-only JSONL manifest of finished work items: the record that makes reruns resume.

One JSON object per line, each with a unique ``key``. On a local disk lines are appended and
fsynced in groups; a torn last line from a killed process is ignored when reading. Object stores
have no append: there each group is one whole object ``PATH.parts/NNNNNNNN-RANDOM.jsonl``, listed
and read at start, so a killed driver leaves whole groups or nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Iterable

from vidray.io import storage


class Manifest:
    """The set of finished item keys of one job output, backed by a JSONL file (or objects)."""

    def __init__(self, path: str | os.PathLike):
        local = storage.local_path(path)
        self.path = local if local is not None else str(path)
        self.records: dict[str, dict] = {}
        self._groups = 0
        self._torn_at: int | None = None  # where a killed writer's torn last line starts (local file)
        if local is None:
            parts = storage.list_files(self.path + ".parts")
            self._groups = len(parts)
            for part in parts:
                for record in _parse(storage.read_bytes(part).decode("utf-8")):
                    self.records[record["key"]] = record  # in group order: a retried item's last record wins
        elif self.path.exists():
            records, self._torn_at = _read_records(self.path)
            for record in records:
                self.records[record["key"]] = record

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, records: Iterable[dict]) -> None:
        """Record finished items durably; keys already present are not written twice."""
        new = [r for r in records if r["key"] not in self.records]
        if not new:
            return
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in new)
        if isinstance(self.path, str):
            # sorted by group number; the random tail keeps two drivers from overwriting each other
            name = f"{self._groups:08d}-{uuid.uuid4().hex[:8]}.jsonl"
            storage.write_bytes(storage.join(self.path + ".parts", name), text.encode("utf-8"))
            self._groups += 1
            for r in new:
                self.records[r["key"]] = r
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._torn_at is not None:  # cut the torn line first, so the next record starts a line of its own
            with open(self.path, "r+b") as f:
                f.truncate(self._torn_at)
            self._torn_at = None
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        for r in new:
            self.records[r["key"]] = r


def _parse(text: str) -> list[dict]:
    """Records of whole JSONL text (object parts are never torn)."""
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "key" in record:
            out.append(record)
    return out


def _read_records(path: Path) -> tuple[list[dict], int | None]:
    """Records of the local JSONL file, and where a torn last line (a killed writer) starts, if any: that
    item is simply not done (reading never writes; the next append cuts the line off)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # up to the last complete line
    return _parse(data[:end].decode("utf-8", errors="replace")), (end if end < len(data) else None)
