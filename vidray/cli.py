"""``vidray <command>``: the command line. Parses flags, connects to Ray, calls the library.

Bad arguments give one line naming the argument and exit code 2; expected failures
(:class:`VidrayError`) give one clear message, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vidray import __version__
from vidray.errors import ConfigError, VidrayError

log = logging.getLogger("vidray")


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
    """Flags every job shares: where Ray runs and how many workers to use."""
    group = parser.add_argument_group("Ray")
    group.add_argument("--address", default=None,
                       help="Ray cluster address (e.g. ray://head:10001 or auto); default: $RAY_ADDRESS, "
                            "else a local in-process Ray")
    group.add_argument("--workers", type=positive_int, default=None,
                       help="parallel worker tasks (default: every CPU of the cluster)")
    group.add_argument("--num-cpus", type=positive_int, default=None,
                       help="CPUs for a local Ray (default: all of this machine's)")
    group.add_argument("--task-cpus", dest="task_cpus", type=float, default=None,
                       help="CPUs each decode/render task reserves (1); raise it for multi-threaded decoding")
    group.add_argument("--task-resources", dest="task_resources", nargs="+", metavar="NAME=AMOUNT", default=None,
                       help="custom Ray resources each decode/render task needs, e.g. decode=1 to keep them "
                            "on cluster.yaml's CPU nodes")
    group.add_argument("--dashboard", action="store_true",
                       help="start the Ray dashboard with a local Ray (on 127.0.0.1 unless --dashboard-host)")
    group.add_argument("--dashboard-host", default="127.0.0.1",
                       help="interface for the local dashboard; anything but 127.0.0.1 exposes it to the network")


def ray_session_of(args):
    """The Ray connection the flags ask for (see :func:`vidray.runtime.ray_session`)."""
    import os

    from vidray.runtime import ray_session

    if getattr(args, "task_cpus", None):
        os.environ["VIDRAY_TASK_CPUS"] = str(args.task_cpus)
    if getattr(args, "task_resources", None):
        for item in args.task_resources:
            name, sep, amount = item.partition("=")
            try:
                float(amount)
            except ValueError:
                sep = ""
            if not sep or not name:
                raise ConfigError([f"--task-resources {item!r}: expected NAME=AMOUNT, e.g. decode=1"],
                                  source="arguments")
        os.environ["VIDRAY_TASK_RESOURCES"] = ",".join(args.task_resources)
    return ray_session(args.address, num_cpus=args.num_cpus, dashboard=args.dashboard,
                       dashboard_host=args.dashboard_host)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
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
    demo = commands.add_parser("demo", help="run the main job end to end on small data on local Ray",
                               description="Generate a small VideoMNIST and Moving MNIST set on local Ray "
                                           "and print where everything went.")
    demo.add_argument("output", nargs="?", default="demo_out", type=Path, help="output directory (default: demo_out)")
    add_ray_flags(demo)
    demo.set_defaults(handler=run_demo, prog=demo.prog)
    return parser


def run_demo(args) -> int:
    """``vidray demo``: the small end-to-end run the README starts with."""
    from vidray.synth import cli as synth_cli
    from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
    from vidray.synth.job import run_moving_mnist, run_videomnist

    out = args.output
    vm_cfg = VideoMNISTConfig(videos_per_digit=20, test_videos_per_digit=4, sequence_length=20,
                              videogpt_sequence_length=16)
    mm_cfg = MovingMNISTConfig(num_sequences=200, test_sequences=50)
    args.dashboard = True  # on 127.0.0.1: Ray Train V2 needs the state API it serves (see vidray train)
    with ray_session_of(args):
        with synth_cli.progress_bar("videomnist") as progress:
            vm = run_videomnist(vm_cfg, out / "videomnist", workers=args.workers, progress=progress)
        print(vm.line())
        from vidray.embed.cli import run_embed_demo
        from vidray.patches.cli import run_patches_demo

        for line in run_patches_demo(out / "patches", args.workers):
            print(line)

        embed_lines = run_embed_demo(vm.output / "videos", out / "embed", args.workers)
        for line in embed_lines:
            print(line)
        with synth_cli.progress_bar("moving-mnist") as progress:
            mm = run_moving_mnist(mm_cfg, out / "moving_mnist", workers=args.workers, progress=progress)
        print(mm.line())
        train = _demo_train(out, mm.output)
        print(train.line())
    print("\nWhere everything went:")
    print(f"  VideoMNIST MP4 tree : {vm.output / 'videos'}/{{train,test}}/class_{{d}}/video_{{i:04d}}.mp4")
    print(f"  VideoMNIST HDF5     : {vm.output / 'hdf5' / 'videomnist.h5'}  (train_data/idx/labels, test_*)")
    print(f"  Moving MNIST        : {mm.output / 'moving_mnist.npy'}  [T,N,64,64] uint8, "
          f"{mm.output / 'moving_mnist_test.npy'}, {mm.output / 'moving_mnist.h5'}")
    print(f"  ConvLSTM training   : {train.run_dir}/{{metrics.csv,loss_curve.png,predictions.gif}}, "
          f"checkpoint {train.best_checkpoint}")
    return 0


def _demo_train(out: Path, moving_mnist: Path):
    """Two epochs of the tiny ConvLSTM on the demo's Moving MNIST with Ray Train (resumes if rerun)."""
    from vidray.config import from_dict
    from vidray.train.config import TrainConfig
    from vidray.train.trainer import run_training

    cfg = from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": str(moving_mnist), "epochs": 2,
                                  "batch_size": 16, "lr": 3e-3, "run_name": "convlstm-tiny",
                                  "storage": str((out / "runs").absolute())})
    return run_training(cfg)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vidray`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args) or 0
    except ConfigError as exc:
        print(f"{args.prog}: error: {_flag_names(exc)}", file=sys.stderr)
        return 2
    except VidrayError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
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
