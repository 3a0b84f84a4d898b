"""``vidray <command>``: the command line. Parses flags, connects to Ray, calls the library.

Bad arguments give one line naming the argument and exit code 2; expected failures
(:class:`VidrayError`) give one clear message, never a traceback.
"""

from __future__ import annotations

import logging
import sys

from vidray import __version__
from vidray.cli_flags import OneLineParser
from vidray.errors import ConfigError, VidrayError, os_failure

log = logging.getLogger("vidray")


def build_parser() -> OneLineParser:
    """The whole command tree."""
    from vidray import demo
    from vidray.embed import cli as embed_cli
    from vidray.patches import cli as patches_cli
    from vidray.synth import cli as synth_cli
    from vidray.train import cli as train_cli

    parser = OneLineParser(prog="vidray", description="Raw video to training data, and video models, on Ray.")
    parser.add_argument("--version", action="version", version=f"vidray {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    commands.required = True
    synth_cli.register(commands)
    patches_cli.register(commands)
    embed_cli.register(commands)
    train_cli.register(commands)
    demo.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vidray`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args) or 0
    except ConfigError as exc:
        if args.verbose:
            log.exception("traceback (-v)")
        print(f"{args.prog}: error: {_flag_names(exc)}", file=sys.stderr)
        return 2
    except VidrayError as exc:
        if args.verbose:
            log.exception("traceback (-v)")
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the machine failed where no stage wrapped it (disk full, permissions)
        if args.verbose:
            log.exception("traceback (-v)")
        print(f"{args.prog}: error: {os_failure(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vidray: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def _flag_names(exc: ConfigError) -> str:
    """Name settings that came from flags as the flags (``image_size`` → ``--image-size``)."""
    if exc.source != "config":
        return str(exc)
    problems = []
    for problem in exc.problems:
        name, sep, rest = problem.partition(" ")
        problems.append(f"--{name.replace('_', '-')} {rest}" if sep and name.isidentifier() and "_" in name
                        or name in ("seed", "fps", "crf") else problem)
    return str(ConfigError(problems, source="arguments"))


if __name__ == "__main__":
    sys.exit(main())
