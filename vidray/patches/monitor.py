"""A rich live view of a patch run's status file, used by ``vidray patches`` and ``vidray monitor``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vidray.errors import InputError
from vidray.patches.layout import STATUS_FILE

FINAL_STATES = ("complete", "complete_with_errors", "interrupted")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def render_status(data: dict, max_videos: int = 12, max_errors: int = 5):
    """A rich renderable (progress line, categories table, videos table, recent errors) of a status dict."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    p = data.get("progress", {})
    eta = p.get("eta_s")
    head = Text.assemble(("patches ", "bold"), (f"[{data.get('state', '?')}] ", "cyan"),
                         f"{p.get('done', 0)}/{p.get('total', 0)} ({p.get('percent', 0):.1f}%)  "
                         f"ok {p.get('ok', 0)}  failed {p.get('failed', 0)}  "
                         f"{p.get('rate_per_s', 0):.2f}/s  eta {'-' if eta is None else f'{eta:.0f}s'}  "
                         f"→ {data.get('output', '')}")
    cats = Table(title="categories", expand=False)
    for col in ("category", "folder", "created / target", "failed", "disk"):
        cats.add_column(col)
    for name, c in sorted(data.get("categories", {}).items()):
        cats.add_row(name, c["folder"], f"{c['created']} / {c['target']}", str(c["failed"]), _size(c["bytes"]))
    vids = Table(title="videos")
    for col in ("video", "state", "ok / planned", "failed", "checkpoint", "note"):
        vids.add_column(col)
    videos = sorted(data.get("videos", {}).items(), key=lambda kv: (kv[1]["state"] == "done", kv[0]))
    for name, v in videos[:max_videos]:
        t = v.get("checkpoint_time")
        vids.add_row(name, v["state"], f"{v['ok']} / {v['planned']}", str(v["failed"]),
                     "-" if t is None else f"{t:.1f}s", (v.get("error") or "; ".join(v.get("notes", [])))[:80])
    if len(videos) > max_videos:
        vids.caption = f"… and {len(videos) - max_videos} more"
    parts = [head, cats, vids]
    errors = data.get("errors", [])[-max_errors:]
    if errors:
        parts.append(Text("recent errors:\n" + "\n".join(f"  {e['item']}: {e['reason']}" for e in errors), "red"))
    return Group(*parts)


def status_path(path: str | Path | None) -> Path:
    """A status file from a path that is the file or the run's output directory (default: cwd)."""
    path = Path(path or ".")
    return path / STATUS_FILE if path.is_dir() else path


def read_status(path: Path) -> dict:
    """Read the status JSON (written atomically, so never half-written)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "no status file here yet (is the run started, and is this its output directory?)") \
            from None
    except (OSError, json.JSONDecodeError) as exc:
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
        return data
    with Live(render_status(data), console=console, refresh_per_second=4) as live:
        while data.get("state") not in FINAL_STATES:
            time.sleep(interval)
            try:
                data = read_status(path)
            except InputError:
                continue
            live.update(render_status(data))
    return data
