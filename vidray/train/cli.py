"""``vidray train``, ``vidray evaluate`` and ``vidray tune``: flags → TrainConfig/TuneConfig → Ray Train/Tune."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from vidray.errors import ConfigError


def parse_set(items: list[str] | None) -> tuple[dict, dict]:
    """``--set key=value`` pairs → (TrainConfig fields, model constructor args); values parsed as JSON
    when they are JSON (``hidden=[64,64]``, ``dim=128``), else kept as strings."""
    from vidray.train.config import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    train, model = {}, {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError([f"--set {item!r}: expected key=value"], source="arguments")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        (train if key in fields else model)[key] = value
    return train, model


def parse_loss(items: list[str] | None) -> dict | None:
    """``--loss mse=1 vgg=0.01`` → ``{"mse": 1.0, "vgg": 0.01}``."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            out[name] = float(text)
        except ValueError:
            raise ConfigError([f"--loss {item!r}: expected name=weight, e.g. mse=1 vgg=0.01"],
                              source="arguments") from None
    return out


def print_line(text: str) -> None:
    """Print one progress line at once (stdout is a pipe under ``ray job logs``)."""
    print(text, flush=True)


def _common_flags(p) -> None:
    from vidray.cli_flags import positive_float, positive_int

    p.add_argument("--model", help="registered model: convlstm, vit_predictor, keyframe_ae, interpolator, vsr")
    p.add_argument("--data", help="synth output dir / .npy / .h5, a patch-job output (vsr), a video folder (local "
                                  "or s3://, gs://), or synthetic:moving-mnist (fresh sequences each epoch)")
    p.add_argument("--config", type=Path, help="JSON/YAML file of TrainConfig settings; flags override it")
    p.add_argument("--preset", help="model preset: tiny (smoke runs), small, base (default)")
    p.add_argument("--set", dest="set_values", nargs="+", metavar="KEY=VALUE",
                   help="model constructor args (hidden=[64,64]) or any training setting (val_fraction=0.2)")
    p.add_argument("--num-workers", dest="num_workers", type=positive_int, help="Ray Train DDP workers (1)")
    p.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None,
                   help="one GPU per worker, nccl, bf16 AMP (default: when the cluster has or can add GPU nodes; "
                        "--no-gpu: CPU workers)")
    p.add_argument("--cpus-per-worker", dest="cpus_per_worker", type=positive_float,
                   help="CPUs each Train worker reserves; also its torch threads (1)")
    p.add_argument("--max-failures", dest="max_failures", type=int,
                   help="worker failures a run recovers from via its last checkpoint (2; -1 = forever)")
    p.add_argument("--epochs", type=positive_int, help="epochs (10)")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int,
                   help="batch size per worker (16), or over all workers with --set batch_scope=global")
    p.add_argument("--lr", type=float, help="peak learning rate (1e-3; AdamW, cosine-decayed unless the config "
                                            "sets optimizer/scheduler; scaled by global batch / lr_base_batch "
                                            "when that is set)")
    p.add_argument("--loss", nargs="+", metavar="NAME=WEIGHT", help="loss weights, e.g. mse=1 vgg=0.01 (mse=1)")
    p.add_argument("--vgg-weights", dest="vgg_weights", help="local VGG16 weights for the perceptual loss")
    p.add_argument("--keyframe-interval", dest="keyframe_interval", type=positive_int,
                   help="frames from one keyframe to the next (keyframe_ae, interpolator; 4)")
    p.add_argument("--run-name", dest="run_name", help="results go to STORAGE/RUN_NAME; rerun the same to resume")
    p.add_argument("--storage", help="storage root for runs and checkpoints; shared storage on a cluster "
                                     "(default: $VIDRAY_RUNS or ./runs)")


def register(commands) -> None:
    """Add ``train``, ``evaluate`` and ``tune`` to the top-level subparsers."""
    from vidray.cli_flags import add_ray_flags, positive_int

    train = commands.add_parser("train", help="train a model with Ray Train (DDP)",
                                description="Ray Train DDP training of a registered model; per epoch: train loss, "
                                            "validation metrics, a checkpoint. Rerun with the same --run-name and "
                                            "--storage to resume.")
    _common_flags(train)
    add_ray_flags(train)
    train.set_defaults(handler=run_train_command, prog=train.prog)

    ev = commands.add_parser("evaluate", help="test metrics of a checkpoint",
                             description="Print the test metrics table (model vs baseline) of a training checkpoint.")
    ev.add_argument("checkpoint", help="a checkpoint directory (RUN/checkpoint_*), local or a URI (s3://…)")
    ev.add_argument("--data", help="dataset to evaluate on (default: the one it was trained on; test split)")
    ev.add_argument("--batch-size", dest="batch_size", type=positive_int, default=32)
    ev.add_argument("--max-samples", dest="max_samples", type=positive_int, help="evaluate at most this many samples")
    ev.add_argument("--device", default="cpu", help="cpu or cuda")
    ev.set_defaults(handler=run_evaluate_command, prog=ev.prog)

    tune = commands.add_parser("tune", help="Ray Tune sweep of the loss weights (MSE + VGG)",
                               description="ASHA sweep over {mse_weight, vgg_weight} (log-uniform VGG weight), "
                                           "optionally the learning rate; each trial a Ray Train run. Writes "
                                           "STORAGE/RUN_NAME/results.csv and sweep.png; rerun to resume.")
    _common_flags(tune)
    tune.add_argument("--num-samples", dest="num_samples", type=positive_int, default=8, help="trials (8)")
    tune.add_argument("--vgg-range", dest="vgg_range", nargs=2, type=float, metavar=("MIN", "MAX"),
                      default=(1e-4, 1e-1), help="log-uniform VGG weight range (1e-4 1e-1)")
    tune.add_argument("--sweep-mse", dest="sweep_mse", action="store_true", help="also sweep the MSE weight")
    tune.add_argument("--sweep-lr", dest="sweep_lr", action="store_true", help="also sweep the learning rate")
    tune.add_argument("--metric", default="val_openstl_mse", help="metric ASHA and the table use (val_openstl_mse)")
    tune.add_argument("--mode", default="min", choices=("min", "max"))
    tune.add_argument("--max-concurrent-trials", dest="max_concurrent", type=positive_int,
                      help="default: as many as the cluster fits at its largest (an autoscaling cluster's "
                           "maximum, not the nodes up at start)")
    tune.add_argument("--max-trial-failures", dest="max_trial_failures", type=int, default=1,
                      help="Tune restarts of a trial whose Train run failed for good, from its last checkpoint "
                           "(1; -1 = forever)")
    add_ray_flags(tune)
    tune.set_defaults(handler=run_tune_command, prog=tune.prog)


def train_config_from_args(args: argparse.Namespace, default_name: str | None = None):
    """TrainConfig from --config, then flags (``--set`` last)."""
    from vidray.config import load_config, read_config_file
    from vidray.train.config import TrainConfig

    set_train, set_model = parse_set(args.set_values)
    overrides = {k: getattr(args, k, None) for k in ("model", "data", "preset", "num_workers", "gpu",
                                                     "cpus_per_worker", "epochs", "batch_size", "lr", "vgg_weights",
                                                     "keyframe_interval", "run_name", "storage", "max_failures")}
    overrides["loss"] = parse_loss(args.loss)
    overrides.update(set_train)
    if set_model:  # on top of the config file's model_args (--set hidden=[32,32] keeps its layer_norm: false)
        base = overrides.get("model_args") or (read_config_file(args.config).get("model_args") if args.config
                                                else None)
        overrides["model_args"] = {**(base if isinstance(base, dict) else {}), **set_model}
    if default_name and not overrides.get("run_name"):
        overrides["run_name"] = default_name
    return load_config(TrainConfig, args.config, overrides)


def run_train_command(args) -> int:
    from vidray.cli_flags import ray_session_of, scale_of
    from vidray.io import storage
    from vidray.train.report import epoch_line, metrics_table
    from vidray.train.trainer import run_training

    cfg = train_config_from_args(args)
    storage.check_location(cfg.storage_path, flag="--storage")  # before Ray starts: a bad bucket fails at once
    args.dashboard = True  # Train V2 cleans up after a dead controller through the state API it serves
    with ray_session_of(args):
        result = run_training(cfg, on_epoch=lambda row: print_line(epoch_line(row, cfg.epochs)), scale=scale_of(args))
    if result.history:
        print(metrics_table({**result.history[-1], "samples": 0}).rsplit("\n", 1)[0])
    for path in result.files:
        print(f"  {path}")
    print(result.line())
    return 0


def run_evaluate_command(args) -> int:
    from vidray.errors import InputError
    from vidray.train.report import evaluate_checkpoint, load_model, local_checkpoint, metrics_table

    with local_checkpoint(args.checkpoint) as checkpoint:
        if not (checkpoint / "state.pt").exists():
            raise InputError(args.checkpoint, "is not a vidray training checkpoint (no state.pt)")
        values = evaluate_checkpoint(checkpoint, args.data, args.batch_size, args.max_samples, args.device)
        _, cfg = load_model(checkpoint)
    print(f"{cfg.model} ({cfg.preset}) on {args.data or cfg.data}:")
    print(metrics_table(values))
    return 0


def run_tune_command(args) -> int:
    from vidray.cli_flags import ray_session_of, scale_of
    from vidray.config import load_config
    from vidray.io import storage
    from vidray.train.config import TuneConfig
    from vidray.train.tune import format_table, run_sweep

    base = train_config_from_args(args, default_name=f"sweep-{args.model or 'model'}")
    storage.check_location(base.storage_path, flag="--storage")
    # through load_config (source "config"), so that a problem names the flag, e.g. --max-trial-failures
    tcfg = load_config(TuneConfig, None, {
        "num_samples": args.num_samples, "vgg_weight_min": args.vgg_range[0], "vgg_weight_max": args.vgg_range[1],
        "sweep_mse_weight": args.sweep_mse, "sweep_lr": args.sweep_lr, "metric": args.metric, "mode": args.mode,
        "max_concurrent_trials": args.max_concurrent, "max_trial_failures": args.max_trial_failures})
    args.dashboard = True  # Train V2 cleans up the workers of ASHA-stopped trials through the state API
    with ray_session_of(args):
        result = run_sweep(base, tcfg, emit=print_line, scale=scale_of(args))
    print(format_table(result.rows))
    for path in result.files:
        print(f"  {path}")
    print(result.line())
    return 0
