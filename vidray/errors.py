"""Typed errors for expected failures: each names the input (or what failed) and what to change.

The CLI prints one line and exits with ``exit_code``: 2 for the user's mistakes (config, flags, data,
paths), 1 for the environment (disk full, permissions, storage or Ray not answering).
"""


class VidrayError(Exception):
    """Base class of every expected failure; the CLI prints these as one clear message."""

    exit_code = 1


class ConfigError(VidrayError, ValueError):
    """A configuration (flags, JSON/YAML file) is invalid; lists every problem found."""

    exit_code = 2

    def __init__(self, problems, source: str = "config"):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        if len(self.problems) == 1:
            msg = f"{source}: {self.problems[0]}"
        else:
            msg = f"{source}: {len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(msg)

    def __reduce__(self):  # raised in a Ray worker, re-raised on the driver: keep problems and source
        return (type(self), (self.problems, self.source))


class InputError(VidrayError):
    """An input file or directory is missing, unreadable or of the wrong shape."""

    exit_code = 2

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # picklable across Ray workers
        return (type(self), (self.path, self.reason))


class OutputError(VidrayError):
    """An output location the user gave cannot be used (holds a different run or another job's files,
    is a file, is taken by a live run)."""

    exit_code = 2

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # picklable across Ray workers
        return (type(self), (self.path, self.reason))


class EnvironmentFailure(VidrayError):
    """The machine, not the input, failed (disk full, permission denied, Ray could not start); nothing
    finished is lost and the same command resumes."""

    def __init__(self, what, reason: str):
        self.what = str(what)
        self.reason = reason
        super().__init__(f"{what}: {reason}")

    def __reduce__(self):
        return (type(self), (self.what, self.reason))


def os_failure(exc: OSError, what=None) -> "EnvironmentFailure":
    """One line for an OS error met while writing: what failed, why, and that a rerun resumes."""
    import errno
    import os
    import re

    code = exc.errno
    if code is None:  # HDF5 and others put the errno in the message only
        match = re.search(r"errno = (\d+)", str(exc))
        code = int(match.group(1)) if match else None
    where = what or _file_of(exc) or "output"
    advice = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space or raise the quota",
              errno.EACCES: "fix the permissions", errno.EPERM: "fix the permissions",
              errno.EROFS: "use a writable location"}.get(code, "fix the cause")
    reason = os.strerror(code) if code else str(exc).splitlines()[0]
    return EnvironmentFailure(where, f"{reason}; {advice} and rerun the same command: it resumes "
                                     "where this run stopped")


def _file_of(exc: OSError) -> str | None:
    """The file an OS error was about (HDF5 puts it in the message), named as the final output rather than
    the hidden ``.NAME.RANDOM.part`` temp file it was being written to."""
    import re

    name = exc.filename or (re.search(r"filename = '([^']+)'", str(exc)) or [None, None])[1]
    if not name:
        return None
    head, _, base = str(name).rpartition("/")
    match = re.fullmatch(r"\.(.+)\.[0-9a-f]{6,}\.part", base)
    return f"{head}/{match.group(1)}" if match and head else (match.group(1) if match else str(name))
