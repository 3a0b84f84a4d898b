"""``vidray demo``: the small end-to-end run the README starts with — every job on local Ray, on
data it makes itself, then a list of where everything went."""

from __future__ import annotations

from pathlib import Path

from vidray.cli_flags import add_ray_flags, output_path, progress_of, ray_session_of, scale_of


def register(commands) -> None:
    """Add ``demo`` to the top-level subparsers."""
    demo = commands.add_parser("demo", help="run the main job end to end on small data on local Ray",
                               description="Generate a small VideoMNIST and Moving MNIST set, cut VSR patches, "
                                           "embed frames and train a tiny ConvLSTM on local Ray, and print where "
                                           "everything went.")
    demo.add_argument("output", nargs="?", default="demo_out", type=str, help="output directory (default: demo_out)")
    add_ray_flags(demo)
    demo.set_defaults(handler=run_demo, prog=demo.prog)


def run_demo(args) -> int:
    """Every stage on small data; prints each stage's summary and the output tree."""
    from vidray.embed.cli import run_embed_demo
    from vidray.patches.cli import run_patches_demo
    from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
    from vidray.synth.job import run_moving_mnist, run_videomnist

    out = output_path(args.output, "OUTPUT")
    scale = scale_of(args)
    vm_cfg = VideoMNISTConfig(videos_per_digit=20, test_videos_per_digit=4, sequence_length=20,
                              videogpt_sequence_length=16)
    mm_cfg = MovingMNISTConfig(num_sequences=200, test_sequences=50)
    args.dashboard = True  # on 127.0.0.1: Ray Train V2 needs the state API it serves (see vidray train)
    with ray_session_of(args):
        vm = run_videomnist(vm_cfg, out / "videomnist", scale=scale,
                            progress=progress_of(args, "videomnist", "videos"))
        print(vm.line())
        for line in run_patches_demo(out / "patches", scale):
            print(line)
        for line in run_embed_demo(vm.output / "videos", out / "embed", scale):
            print(line)
        mm = run_moving_mnist(mm_cfg, out / "moving_mnist", scale=scale,
                              progress=progress_of(args, "moving-mnist", "sequences"))
        print(mm.line())
        train = _demo_train(out, mm.output)
        print(train.line())
        print(demo_verdict(train.history))
    print("\nWhere everything went:")
    print(f"  VideoMNIST MP4 tree : {vm.output / 'videos'}/{{train,test}}/class_{{d}}/video_{{i:04d}}.mp4")
    print(f"  VideoMNIST HDF5     : {vm.output / 'hdf5' / 'videomnist.h5'}  (train_data/idx/labels, test_*)")
    print(f"  Moving MNIST        : {mm.output / 'moving_mnist.npy'}  [T,N,64,64] uint8, "
          f"{mm.output / 'moving_mnist_test.npy'}, {mm.output / 'moving_mnist.h5'}")
    print(f"  ConvLSTM training   : {train.run_dir}/{{metrics.csv,loss_curve.png,predictions.gif}}, "
          f"checkpoint {train.best_checkpoint}")
    return 0


def demo_verdict(history: list[dict]) -> str:
    """The demo model against the trivial baselines, plainly: a 2-epoch tiny ConvLSTM usually has not beaten them."""
    from vidray.train.report import beats_baselines, verdict

    if not history:
        return "ConvLSTM: no epoch finished"
    text = f"ConvLSTM after {history[-1].get('epoch', len(history))} epochs {verdict(history[-1])}"
    if beats_baselines(history[-1]) is False:
        text += " (expected of a 2-epoch demo on 200 sequences: train longer, see docs/models.md)"
    return text


def _demo_train(out: Path, moving_mnist: Path):
    """Two epochs of the tiny ConvLSTM on the demo's Moving MNIST with Ray Train (resumes if rerun)."""
    from vidray.config import from_dict
    from vidray.train.config import TrainConfig
    from vidray.train.trainer import run_training

    cfg = from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": str(moving_mnist), "epochs": 2,
                                  "batch_size": 16, "lr": 3e-3, "run_name": "convlstm-tiny",
                                  "storage": str((out / "runs").absolute())})
    return run_training(cfg)
