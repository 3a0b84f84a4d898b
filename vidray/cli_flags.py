"""What every command line of vidray shares: the one-line-error parser, number types, the Ray flags
and what they turn into (a Ray session, a :class:`Scale`, a :class:`Progress`, an output path).

Stage CLIs import from here, never from :mod:`vidray.cli` (which imports them).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vidray.errors import ConfigError
from vidray.progress import DEFAULT_INTERVAL, Progress
from vidray.stage import Scale, parse_resources

# Set by `ray job submit` in the entrypoint's environment (ray/_private/runtime_env/constants.py).
RAY_JOB_ENV_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line: ``vidray synth videomnist: error: …``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number_type(kind: type, ok, rule: str, what: str):
    """An argparse type: parse ``text`` as ``kind`` and require ``ok(value)``, else say ``rule``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    parse.__doc__ = f"argparse type: {what}, {rule}."
    return parse


positive_int = _number_type(int, lambda v: v >= 1, "a positive integer", "an integer")
non_negative_int = _number_type(int, lambda v: v >= 0, ">= 0", "an integer")
positive_float = _number_type(float, lambda v: v > 0, "> 0", "a number")
non_negative_float = _number_type(float, lambda v: v >= 0, ">= 0", "a number")


def add_ray_flags(parser: argparse.ArgumentParser) -> None:
    """Flags every job shares: where Ray runs, how work asks for workers, how progress is reported."""
    group = parser.add_argument_group("Ray")
    group.add_argument("--address", default=None,
                       help="Ray cluster address (e.g. ray://head:10001 or auto); default: $RAY_ADDRESS, "
                            "else a local in-process Ray")
    group.add_argument("--workers", type=positive_int, default=None,
                       help="at most this many parallel worker tasks (default: as many as the cluster can "
                            "place; an autoscaling cluster adds nodes for them)")
    group.add_argument("--num-cpus", type=positive_int, default=None,
                       help="CPUs for a local Ray (default: all of this machine's)")
    group.add_argument("--task-cpus", dest="task_cpus", type=positive_float, default=None,
                       help="CPUs each decode/render task reserves (1); raise it for multi-threaded decoding")
    group.add_argument("--task-resources", dest="task_resources", nargs="+", metavar="NAME=AMOUNT", default=None,
                       help="custom Ray resources each decode/render task needs, e.g. decode=1 to keep them "
                            "on cluster.yaml's CPU nodes")
    group.add_argument("--dashboard", action="store_true",
                       help="start the Ray dashboard with a local Ray (on 127.0.0.1 unless --dashboard-host)")
    group.add_argument("--dashboard-host", default="127.0.0.1",
                       help="interface for the local dashboard; anything but 127.0.0.1 exposes it to the network")
    # also here, so `python ray_jobs/<job>.py … -v` works; SUPPRESS keeps `vidray -v <command>` intact
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="show Ray's own logs and progress output, and tracebacks")
    group.add_argument("--progress-every", dest="progress_every", type=positive_float, default=DEFAULT_INTERVAL,
                       metavar="SECONDS",
                       help=f"without a terminal (ray job logs, CI), print a progress line this often "
                            f"({DEFAULT_INTERVAL:g})")


def ray_session_of(args):
    """The Ray connection the flags ask for (see :func:`vidray.runtime.ray_session`)."""
    from vidray.runtime import ray_session

    return ray_session(args.address, num_cpus=args.num_cpus, dashboard=args.dashboard,
                       dashboard_host=args.dashboard_host, verbose=getattr(args, "verbose", False))


def scale_of(args) -> Scale:
    """How the run asks Ray for workers: ``--workers``, ``--task-cpus``, ``--task-resources``."""
    return Scale(workers=args.workers, task_cpus=args.task_cpus,
                 task_resources=parse_resources(args.task_resources))


def progress_of(args, job: str, unit: str, bar: bool = True) -> Progress:
    """The job's progress reporter: a bar on a terminal, a line every ``--progress-every`` s elsewhere."""
    return Progress(job, unit, interval=args.progress_every, bar=bar)


def output_path(path, flag: str, uri_ok: bool = True) -> Path | str:
    """A URI (``s3://…``) as given, checked before Ray starts (no such bucket, refused credentials, an
    unreachable endpoint: one line), or ``path`` made absolute; inside a Ray job a relative path is refused
    (it would land in the job's temporary working directory, deleted when the job ends)."""
    from vidray.io import storage

    if storage.is_uri(path):
        if not uri_ok:
            raise ConfigError([f"{flag} {path!r}: this output is written to a local file; give a local path "
                               "(or shared storage mounted on every node)"], source="arguments")
        storage.check_location(path, flag=flag)
        return str(path)
    path = Path(path).expanduser()
    if not path.is_absolute() and os.environ.get(RAY_JOB_ENV_VAR):
        raise ConfigError([f"{flag} {str(path)!r} is relative: inside a Ray job it would be written to the job's "
                           "temporary working directory and lost when the job ends; give an absolute path on "
                           "storage every node sees, e.g. /mnt/shared/..."], source="arguments")
    return path.absolute()
