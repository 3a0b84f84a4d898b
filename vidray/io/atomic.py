"""Atomic file writes: write to a temp name in the same directory, then rename.

A killed writer leaves at most a hidden ``.name.*.part`` file, never a half-written
final file; :func:`remove_stale_parts` sweeps those on the next run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from pathlib import Path
from typing import Iterator

PART_SUFFIX = ".part"


def part_path(final: str | os.PathLike) -> Path:
    """A unique temp path beside ``final`` that :func:`remove_stale_parts` recognises."""
    final = Path(final)
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}{PART_SUFFIX}")


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to write; on success rename it to ``final``, on error delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes_atomic(final: str | os.PathLike, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``final`` atomically and durably: the file fsynced before the rename, its directory
    after it (``fsync=False``: for files nothing is recorded about)."""
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    if fsync:  # the rename itself survives a power loss only once its directory is on disk
        fd = os.open(Path(final).parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def reserve(path: str | os.PathLike) -> None:
    """Give a sparse file (a fresh ``np.memmap``) its blocks now, so a disk too small fails here as
    ``OSError(ENOSPC)`` instead of killing the process with SIGBUS when a mapped page is first written."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # file systems without it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        os.close(fd)


def write_json_atomic(final: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON to ``final`` atomically."""
    write_bytes_atomic(final, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def remove_stale_parts(root: str | os.PathLike) -> int:
    """Delete temp files left under ``root`` by killed writers; returns how many."""
    removed = 0
    root = Path(root)
    if not root.exists():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") and name.endswith(PART_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
    return removed
