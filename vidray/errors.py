"""Typed errors for expected bad input: each names the input and what is wrong with it."""


class VidrayError(Exception):
    """Base class of every expected failure; the CLI prints these as one clear message."""


class ConfigError(VidrayError, ValueError):
    """A configuration (flags, JSON/YAML file) is invalid; lists every problem found."""

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

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # picklable across Ray workers
        return (type(self), (self.path, self.reason))


class OutputError(VidrayError):
    """An output location cannot be used (not writable, or holds a different run)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # picklable across Ray workers
        return (type(self), (self.path, self.reason))
