"""Append-only JSONL manifest of finished work items: the record that makes reruns resume.

One JSON object per line, each with a unique ``key``. Lines are appended and fsynced
in groups; a torn last line from a killed process is ignored when reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable


class Manifest:
    """The set of finished item keys of one job output, backed by a JSONL file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.records: dict[str, dict] = {}
        if self.path.exists():
            for record in _read_records(self.path):
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in new)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        for r in new:
            self.records[r["key"]] = r


def _read_records(path: Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn write from a killed process: the item is simply not done
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "key" in record:
                records.append(record)
    return records
