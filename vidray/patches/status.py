"""The run's status file (``.generator_status.json``): progress, per-category images/target/disk use,
per-video checkpoints, recent errors. Written atomically, at most every ``interval`` seconds.

It carries the seed generator's keys (``version``, ``status``, ``workers``, ``progress.{total_videos,
completed_videos, current_video_index}``, ``category_stats``, ``video_checkpoints``), derived from vidray's
own at each write, so a monitor written for the generator reads it too."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from vidray.io import storage
from vidray.patches.formats import CATEGORY_FOLDERS

MAX_ERRORS = 200
GENERATOR_VERSION = "2.0"  # the seed generator's status-file version whose keys this file carries
GENERATOR_STATUS = {"planning": "running", "running": "running", "complete": "completed",
                    "complete_with_errors": "completed", "interrupted": "interrupted"}
CHECKPOINT_STATUS = {"pending": "pending", "running": "in_progress", "done": "completed", "failed": "failed",
                     "skipped": "skipped"}
FINISHED = ("done", "failed", "skipped")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class PatchStatus:
    """Accumulates records (from the manifest and from workers) and writes the status JSON."""

    def __init__(self, path: Path, output: Path, interval: float = 0.5, videos: list[str] = (),
                 workers: int | None = None):
        """``videos``: the config's video names in order (their position is the generator's checkpoint index);
        ``workers``: the cap on parallel tasks (None: as many as the cluster places)."""
        self.path, self.interval, self._last = path, interval, 0.0  # a local path or a URI
        self._t0 = time.monotonic()
        self._done_at_start = 0
        self._order = list(videos)
        self.data = {"version": GENERATOR_VERSION, "status": "running", "workers": workers,
                     "state": "planning", "output": str(output), "started": _now(), "updated": _now(),
                     "progress": {"total": 0, "done": 0, "ok": 0, "failed": 0, "percent": 0.0,
                                  "rate_per_s": 0.0, "eta_s": None, "total_videos": len(self._order),
                                  "completed_videos": 0, "current_video_index": 0},
                     "categories": {}, "videos": {}, "errors": [], "category_stats": {}, "video_checkpoints": {}}

    def plan_video(self, name: str, planned: list[dict], notes: list[str], error: str | None, info=None) -> None:
        """Register a video's planned extractions (per category targets) or its failure."""
        v = self.data["videos"].setdefault(name, {"state": "pending", "planned": 0, "ok": 0, "failed": 0,
                                                   "checkpoint_frame": None, "checkpoint_time": None,
                                                   "notes": [], "error": None})
        v["planned"], v["notes"], v["error"] = len(planned), list(notes), error
        v["categories"] = sorted({e["category"] for e in planned})
        if name not in self._order:
            self._order.append(name)
        if info is not None:
            v["source"] = {"width": info.width, "height": info.height, "frames": info.frames,
                           "fps": round(info.fps, 3), "hdr": info.hdr, "codec": info.codec}
        if error:
            v["state"] = "failed"
            self._error(name, error)
        elif not planned:
            v["state"] = "skipped"
        for e in planned:
            self._cat(e["category"])["target"] += 1
        self.data["progress"]["total"] += len(planned)

    def _cat(self, cat: str) -> dict:
        return self.data["categories"].setdefault(cat, {"folder": CATEGORY_FOLDERS.get(cat, cat), "created": 0,
                                                        "failed": 0, "target": 0, "bytes": 0})

    def _error(self, where: str, reason: str) -> None:
        errors = self.data["errors"]
        errors.append({"item": where, "reason": reason, "at": _now()})
        del errors[:-MAX_ERRORS]

    def add(self, rec: dict, resumed: bool = False) -> None:
        """Count one finished extraction record."""
        p, cat = self.data["progress"], self._cat(rec["category"])
        v = self.data["videos"].get(rec["video"])
        p["done"] += 1
        if resumed:
            self._done_at_start += 1
        if rec["status"] == "ok":
            p["ok"] += 1
            cat["created"] += 1
            cat["bytes"] += rec.get("bytes", 0)
        else:
            p["failed"] += 1
            cat["failed"] += 1
            if not resumed:
                self._error(rec["key"], rec.get("reason", ""))
        if v is not None:
            v["ok" if rec["status"] == "ok" else "failed"] += 1
            if v["checkpoint_frame"] is None or rec["centre"] > v["checkpoint_frame"]:
                v["checkpoint_frame"], v["checkpoint_time"] = rec["centre"], rec.get("time")
            v["state"] = "done" if v["ok"] + v["failed"] >= v["planned"] else "running"

    def write(self, state: str | None = None, force: bool = False) -> None:
        """Write the status file atomically (throttled unless ``force`` or a state change)."""
        if state:
            force = force or state != self.data["state"]
            self.data["state"] = state
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        p = self.data["progress"]
        p["percent"] = round(100.0 * p["done"] / p["total"], 2) if p["total"] else 100.0
        new = p["done"] - self._done_at_start
        elapsed = now - self._t0
        p["rate_per_s"] = round(new / elapsed, 3) if elapsed > 0 else 0.0
        p["eta_s"] = round((p["total"] - p["done"]) / p["rate_per_s"], 1) if p["rate_per_s"] > 0 else None
        self.data["updated"] = _now()
        self.data["elapsed_s"] = round(elapsed, 1)
        self._generator_keys()
        storage.write_json(self.path, self.data)

    def _generator_keys(self) -> None:
        """Derive the seed generator's keys from vidray's (one source of truth: the counts above)."""
        d, videos = self.data, self.data["videos"]
        d["status"] = GENERATOR_STATUS.get(d["state"], d["state"])
        order = [n for n in self._order if n in videos]
        finished = [i for i, n in enumerate(order) if videos[n]["state"] in FINISHED]
        d["progress"].update(total_videos=len(order), completed_videos=len(finished),
                             current_video_index=next((i for i in range(len(order)) if i not in set(finished)),
                                                      len(order)))
        d["category_stats"] = {
            cat: {"videos_processed": sum(videos[n]["state"] == "done" and cat in videos[n].get("categories", ())
                                          for n in order),
                  "images_created": c["created"], "target": c["target"],
                  "disk_usage_gb": round(c["bytes"] / 2**30, 3)}
            for cat, c in d["categories"].items()}
        d["video_checkpoints"] = {
            str(i): {"status": CHECKPOINT_STATUS.get(videos[n]["state"], videos[n]["state"]),
                     "last_frame_idx": videos[n]["checkpoint_frame"], "extractions_done": videos[n]["ok"]}
            for i, n in enumerate(order)}
