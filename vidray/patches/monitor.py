"""A rich live view of a patch run's status file, used by ``vidray patches`` and ``vidray monitor``.

Reads vidray's keys and the seed generator's (a file the generator itself wrote, with only its keys,
renders too), from a local path or a URI (``s3://bucket/out``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vidray.errors import InputError
from vidray.io import storage
from vidray.patches.formats import CATEGORY_FOLDERS
from vidray.patches.layout import STATUS_FILE

FINAL_STATES = ("complete", "complete_with_errors", "interrupted")
GENERATOR_FINAL = ("completed", "complete", "finished", "interrupted", "stopped", "failed", "error")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def liveness(status_location, data: dict) -> str | None:
    """Why a vidray run whose status says it is running is in fact dead (its lease is gone or its heartbeat
    is older than the lease's TTL), else None. A generator-written status (no ``state``) is taken as is."""
    from vidray.io.lease import TTL_S, heartbeat_age, holder_gone, lock_free, read_lease
    from vidray.io.outdir import META_DIR

    if "state" not in data or data["state"] in FINAL_STATES:
        return None
    meta = storage.join(storage.parent(str(status_location)), META_DIR)
    lease = read_lease(meta)
    age = heartbeat_age(lease)
    if lease is None or lock_free(meta) or holder_gone(lease):
        return "no run holds this output (it was killed); rerun the same command to resume"
    if age > TTL_S:
        return (f"its run ({lease.get('host')} pid {lease.get('pid')}) has sent no heartbeat for {age:.0f}s "
                "(killed?); rerun the same command to resume")
    return None


def finished(data: dict) -> bool:
    """Whether the run behind a status dict has ended (vidray's ``state``, else the generator's ``status``)."""
    if "state" in data:
        return data["state"] in FINAL_STATES
    return str(data.get("status", "")).lower() in GENERATOR_FINAL


def _categories(data: dict) -> dict[str, dict]:
    """Per category ``{folder, created, target, failed, bytes, videos}`` from vidray's keys, else the generator's."""
    stats = data.get("category_stats") or {}
    if data.get("categories"):
        return {n: {**c, "videos": stats.get(n, {}).get("videos_processed")} for n, c in data["categories"].items()}
    return {n: {"folder": CATEGORY_FOLDERS.get(n, n), "created": c.get("images_created", 0),
                "target": c.get("target", 0), "failed": None, "bytes": c.get("disk_usage_gb", 0) * 2**30,
                "videos": c.get("videos_processed")} for n, c in stats.items()}


def _head(data: dict):
    from rich.text import Text

    p = data.get("progress", {})
    state = data.get("state") or data.get("status", "?")
    videos = (f"videos {p['completed_videos']}/{p['total_videos']} (current #{p.get('current_video_index', '-')})"
              if "total_videos" in p else "")
    workers = f"  workers {data['workers']}" if data.get("workers") is not None else ""
    if "total" not in p:  # a file the generator wrote: videos only
        return Text.assemble(("patches ", "bold"), (f"[{state}] ", "cyan"), videos, workers,
                             f"  (generator status file, version {data.get('version', '?')})")
    eta = p.get("eta_s")
    return Text.assemble(("patches ", "bold"), (f"[{state}] ", "cyan"),
                         f"{p.get('done', 0)}/{p.get('total', 0)} ({p.get('percent', 0):.1f}%)  "
                         f"ok {p.get('ok', 0)}  failed {p.get('failed', 0)}  "
                         f"{p.get('rate_per_s', 0):.2f}/s  eta {'-' if eta is None else f'{eta:.0f}s'}  "
                         f"{videos}{workers}  → {data.get('output', '')}")


def _videos(data: dict) -> list[tuple[str, str, str, str, str, str]]:
    """(video, state, ok / planned, failed, checkpoint, note) rows, unfinished first."""
    if data.get("videos"):
        rows = []
        for name, v in data["videos"].items():
            t = v.get("checkpoint_time")
            rows.append((name, v["state"], f"{v['ok']} / {v['planned']}", str(v["failed"]),
                         "-" if t is None else f"{t:.1f}s", (v.get("error") or "; ".join(v.get("notes", [])))[:80]))
        return sorted(rows, key=lambda r: (r[1] == "done", r[0]))
    rows = []
    for index, c in (data.get("video_checkpoints") or {}).items():
        frame = c.get("last_frame_idx")
        rows.append((f"#{index}", str(c.get("status", "?")), f"{c.get('extractions_done', 0)} / -", "-",
                     "-" if frame is None else f"frame {frame}", ""))
    return sorted(rows, key=lambda r: (r[1] == "completed", int(r[0][1:]) if r[0][1:].isdigit() else 0))


def render_status(data: dict, max_videos: int = 12, max_errors: int = 5):
    """A rich renderable (progress line, categories table, videos table, recent errors) of a status dict,
    vidray's or the seed generator's."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cats = Table(title="categories", expand=False)
    for col in ("category", "folder", "created / target", "failed", "videos done", "disk"):
        cats.add_column(col)
    for name, c in sorted(_categories(data).items()):
        cats.add_row(name, c["folder"], f"{c['created']} / {c['target']}", "-" if c["failed"] is None else
                     str(c["failed"]), "-" if c["videos"] is None else str(c["videos"]), _size(c["bytes"]))
    vids = Table(title="videos")
    for col in ("video", "state", "ok / planned", "failed", "checkpoint", "note"):
        vids.add_column(col)
    videos = _videos(data)
    for row in videos[:max_videos]:
        vids.add_row(*row)
    if len(videos) > max_videos:
        vids.caption = f"… and {len(videos) - max_videos} more"
    parts = [_head(data), cats, vids]
    errors = data.get("errors", [])[-max_errors:]
    if errors:
        parts.append(Text("recent errors:\n" + "\n".join(f"  {e['item']}: {e['reason']}" for e in errors), "red"))
    return Group(*parts)


def summary_line(data: dict) -> str:
    """The line ``vidray monitor`` ends with."""
    p = data.get("progress", {})
    if data.get("dead"):
        return f"monitor: not running: {data['dead']} ({p.get('done', 0)} of {p.get('total', 0)} done)"
    if "total" in p:
        return f"monitor: {data.get('state')}: {p.get('ok', 0)} ok, {p.get('failed', 0)} failed of {p.get('total', 0)}"
    made = sum(c["created"] for c in _categories(data).values())
    return (f"monitor: {data.get('status')}: {p.get('completed_videos', 0)}/{p.get('total_videos', 0)} videos, "
            f"{made} images")


def status_path(path: str | Path | None) -> str | Path:
    """A status file from a path or URI that is the file or the run's output directory (default: cwd)."""
    if storage.is_uri(path):
        return path if str(path).endswith(".json") else storage.join(path, STATUS_FILE)
    path = Path(path or ".")
    return path / STATUS_FILE if path.is_dir() else path


def read_status(path: str | Path) -> dict:
    """Read the status JSON (written atomically, so never half-written) from a local path or a URI."""
    try:
        if not storage.exists(path):
            raise InputError(path, "no status file here yet (is the run started, and is this its output "
                                   "directory?)")
        return json.loads(storage.read_bytes(path))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"unreadable status file: {exc}") from exc


def follow(path: str | Path | None, interval: float = 1.0, once: bool = False, console=None) -> dict:
    """Show the live view until the run reaches a final state (or once); returns the last status."""
    from rich.console import Console
    from rich.live import Live

    path = status_path(path)
    console = console or Console()
    data = read_status(path)
    if once:
        console.print(render_status(data))
        return _with_liveness(path, data)
    with Live(render_status(data), console=console, refresh_per_second=4) as live:
        while not finished(data) and _with_liveness(path, data).get("dead") is None:
            time.sleep(interval)
            try:
                data = read_status(path)
            except InputError:
                continue
            live.update(render_status(data))
    return _with_liveness(path, data)


def _with_liveness(path, data: dict) -> dict:
    """``data`` plus ``dead``: why its run is not alive though the status says running (None if alive)."""
    return {**data, "dead": liveness(path, data)}
