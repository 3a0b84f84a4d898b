"""Job progress where users look: a rich bar on a terminal; without one (``ray job logs --follow``,
CI, nohup) one plain stdout line every few seconds; and Ray metrics counters for the dashboard's Grafana.

Plain lines look like ``patches: 120/530 extractions (22.6%), 3 failed, 4.1/s, ETA 1m32s``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("vidray.progress")
DEFAULT_INTERVAL = 5.0


def format_seconds(seconds: float | None) -> str:
    """``95`` → ``1m35s``; ``None`` → ``?``."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Counts a job's finished items (ok / failed) against a total and reports them.

    On a terminal (``tty=None``: stderr is one) a rich bar on stderr, or nothing with ``bar=False``
    (jobs with their own live view); else plain lines on ``stream`` (stdout) every ``interval`` s.
    ``quiet`` reports nothing (library calls; the counters still count). Use as a context manager or
    call ``close()``.
    """

    def __init__(self, job: str, unit: str = "items", *, total: int | None = None,
                 interval: float = DEFAULT_INTERVAL, stream: TextIO | None = None, tty: bool | None = None,
                 bar: bool = True, quiet: bool = False):
        self.job, self.unit, self.total, self.interval = job, unit, total, interval
        self.stream = stream or sys.stdout
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.ok = self.failed = self.resumed = 0
        self._t0 = time.monotonic()
        self._last_line = 0.0
        self._rich = None
        self._silent = quiet or (self.tty and not bar)
        self._counter = _ray_counter()
        if self.tty and bar and not quiet:
            self._start_bar()

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.resumed

    def start(self, total: int, resumed: int = 0) -> None:
        """Set the total and the items already done by an earlier run; prints the first line."""
        self.total, self.resumed = total, resumed
        self._t0 = time.monotonic()
        self._report(force=True)

    def add(self, ok: int = 0, failed: int = 0) -> None:
        """Count finished items of this run."""
        self.ok += ok
        self.failed += failed
        if self._counter is not None:
            try:
                if ok:
                    self._counter.inc(ok, tags={"job": self.job, "status": "ok"})
                if failed:
                    self._counter.inc(failed, tags={"job": self.job, "status": "failed"})
            except Exception as exc:  # metrics are a nicety; never fail a job on them
                log.debug("metrics counter failed: %s", exc)
                self._counter = None
        self._report()

    def line(self) -> str:
        """The current state as one line."""
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        this_run = self.ok + self.failed
        rate = this_run / elapsed
        parts = [f"{self.job}: {self.done}/{self.total if self.total is not None else '?'} {self.unit}"]
        if self.total:
            parts[0] += f" ({100.0 * self.done / self.total:.1f}%)"
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.resumed:
            parts.append(f"{self.resumed} from earlier runs")
        parts.append(f"{rate:.2f}/s" if rate < 10 else f"{rate:.0f}/s")
        left = (self.total - self.done) if self.total is not None else None
        eta = left / rate if left is not None and rate > 0 else (0.0 if left == 0 else None)
        parts.append(f"ETA {format_seconds(eta)}" if left else f"in {format_seconds(elapsed)}")
        return ", ".join(parts)

    def _report(self, force: bool = False) -> None:
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done, total=self.total)
            return
        if self._silent:
            return
        now = time.monotonic()
        if force or now - self._last_line >= self.interval:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self._rich = RichProgress(TextColumn(f"[bold]{self.job}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), transient=True,
                                  console=Console(stderr=True))
        self._rich.start()
        self._task = self._rich.add_task(self.job, total=self.total)

    def close(self) -> None:
        """Stop the bar; off a terminal print the final line."""
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        elif not self._silent:
            self._report(force=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


_COUNTER = None


def _ray_counter():
    """One ``vidray_items`` counter per process (tags job, status), when a Ray worker/driver is up."""
    global _COUNTER
    if _COUNTER is None:
        try:
            import ray
            from ray.util.metrics import Counter

            if ray.is_initialized():
                _COUNTER = Counter("vidray_items", "work items finished by vidray jobs",
                                   tag_keys=("job", "status"))
        except Exception as exc:  # no Ray, or metrics disabled
            log.debug("no metrics counter: %s", exc)
    return _COUNTER
