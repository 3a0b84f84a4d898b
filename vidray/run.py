"""One run of a data job: the output directory it claims, the record of finished items that makes a
rerun resume, its clock, its progress reporter and how it asks Ray for workers.

Every data job's ``run_*`` reads: claim the output → plan items minus ``run.record`` → ``run.stream``
them through the job's stages → write results and ``run.record.append`` them → ``run.finish()``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from vidray.errors import EnvironmentFailure
from vidray.io import storage
from vidray.io.atomic import remove_stale_parts
from vidray.io.manifest import Manifest
from vidray.io.outdir import OutputDir
from vidray.progress import Progress
from vidray.stage import Scale, Stage, stream


class JobRun:
    """Claim ``output`` for ``job`` with ``config`` (see :class:`OutputDir`); ``record`` is the finished-item
    manifest's path relative to the output (default ``.vidray/manifest.jsonl``)."""

    def __init__(self, job: str, output, config: dict, *, owned: tuple[str, ...] = (), overwrite: bool = False,
                 record: str | None = None, scale: Scale | None = None, progress: Progress | None = None,
                 unit: str = "items"):
        self._t0 = time.perf_counter()
        self.job = job
        self.out = OutputDir(output, job=job, config=config, overwrite=overwrite, owned=owned)
        self.root: Path | str = self.out.root  # a local Path, or a URI on an object store
        self.already_complete = self.out.complete
        if isinstance(self.root, Path):
            remove_stale_parts(self.root)  # temp files of a killed run (object stores have none)
        self.record = Manifest(storage.join(self.root, record) if record else storage.join(self.out.meta,
                                                                                          "manifest.jsonl"))
        self.scale = scale or Scale()
        self.progress = progress or Progress(job, unit, quiet=True)

    @property
    def seconds(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self._t0

    def stream(self, items: list[dict], stages: list[Stage], **options) -> Iterator[dict]:
        """Run ``items`` through ``stages`` with this run's scale (see :func:`vidray.stage.stream`); a worker's
        OS failure that does not say which file is reported against this run's output."""
        try:
            yield from stream(items, stages, self.scale, **options)
        except EnvironmentFailure as exc:
            if exc.what != "output":
                raise
            raise EnvironmentFailure(self.root, exc.reason) from exc

    def release(self) -> None:
        """Give up the output's lease without marking anything (a run that found nothing to do)."""
        self.out.lease.release()

    def finish(self) -> None:
        """Record that every output exists and print the last progress line."""
        self.out.mark_complete()
        self.progress.close()
