"""``vidray embed INPUT --output OUT``: flags → EmbedConfig → job; and the small demo run."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from vidray.cli_flags import (
    add_ray_flags,
    non_negative_float,
    output_path,
    positive_float,
    positive_int,
    progress_of,
    ray_session_of,
    scale_of,
)
from vidray.embed.config import DTYPES, SAMPLE_MODES, EmbedConfig
from vidray.io import storage
from vidray.stage import Scale


def register(commands) -> None:
    """Add ``embed`` to the top-level subparsers."""
    p = commands.add_parser(
        "embed", help="CLIP frame embeddings of videos → processed layout, WebDataset and Parquet shards",
        description="Decode sampled frames on CPU tasks, embed them with open_clip in an actor pool (GPU when "
                    "present), write OUT/processed/{split}/NAME.{npy,txt,json}, OUT/wds/ds_00000.tar … "
                    "splits.csv and OUT/parquet/ds_00000.parquet …. Rerun the same command to resume.")
    p.add_argument("input", type=str, help="video list (JSON/YAML with a 'videos' list of {name, path, caption?, "
                                            "split?, metadata?}), a directory of videos, or one video file")
    p.add_argument("--output", "-o", type=str, required=True, help="output directory (rerun to resume)")
    p.add_argument("--model", help="open_clip model name, a model config .json, or vidray-tiny (ViT-B-32)")
    p.add_argument("--pretrained", help="a pretrained tag (needs network or a cached download), a local "
                                        "checkpoint path, or none = random weights for tests/smoke runs "
                                        "(default: the model's first tag, openai for ViT-B-32)")
    p.add_argument("--sample", choices=SAMPLE_MODES,
                   help="time: frames by --fps or --every-n; keyframes: every keyframe of the video, each decoded "
                        "on its own (the cheapest; as many frames as the encoder put keyframes) (time)")
    sampling = p.add_mutually_exclusive_group()
    sampling.add_argument("--fps", type=positive_float, help="frames sampled per second of video (1)")
    sampling.add_argument("--every-n", dest="every_n", type=positive_int, help="or sample every n-th frame")
    p.add_argument("--shard-size", dest="shard_size", type=positive_int,
                   help="samples per WebDataset/Parquet shard; the last of each split may be smaller (10000)")
    p.add_argument("--split-ratios", dest="split_ratios", type=non_negative_float, nargs=3,
                   metavar=("TRAIN", "VAL", "TEST"),
                   help="split by a hash of the name for videos whose config gives none (0.8 0.1 0.1)")
    p.add_argument("--dtype", choices=DTYPES, help="stored embedding dtype (float16)")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, help="frames per model forward (256)")
    p.add_argument("--frames-per-block", dest="frames_per_block", type=positive_int,
                   help="frames per decoded block streamed to the model (32)")
    pool = p.add_argument_group("model actors")
    pool.add_argument("--min-actors", dest="min_actors", type=positive_int, default=None,
                      help="model replicas the pool keeps (1)")
    pool.add_argument("--max-actors", dest="max_actors", type=positive_int, default=None,
                      help="model replicas the pool may grow to while frames wait (default: one per GPU the "
                           "cluster can grow to, else 1)")
    pool.add_argument("--actors", type=positive_int, default=None,
                      help="a fixed pool: --min-actors N --max-actors N")
    pool.add_argument("--actor-cpus", dest="actor_cpus", type=positive_int, default=1,
                      help="CPUs (torch threads on CPU) per model actor (1)")
    pool.add_argument("--actor-gpus", dest="actor_gpus", type=non_negative_float, default=None,
                      help="GPUs per model actor (default: 1 when the cluster has GPU node types, else 0); "
                           "0.5 puts two actors on a GPU")
    p.add_argument("--overwrite", action="store_true", help="replace an output dir that holds a different run")
    add_ray_flags(p)
    p.set_defaults(handler=run_embed_command, prog=p.prog)


def config_from_args(args) -> EmbedConfig:
    """The validated EmbedConfig of the parsed flags (unset flags keep the defaults)."""
    from vidray.config import from_dict
    from vidray.errors import ConfigError

    if args.sample == "keyframes" and args.fps is not None:
        raise ConfigError([f"--sample keyframes embeds every keyframe: drop --fps {args.fps:g}"], source="arguments")
    names = {f.name for f in dataclasses.fields(EmbedConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return from_dict(EmbedConfig, values)


def pool_from_args(args):
    """The model actor pool the flags ask for; ``--actors`` conflicts with ``--min/--max-actors``."""
    from vidray.embed.job import ActorPool
    from vidray.errors import ConfigError

    if args.actors and (args.min_actors or args.max_actors):
        raise ConfigError(["--actors N is a fixed pool: give it alone, or --min-actors/--max-actors"],
                          source="arguments")
    low = args.actors or args.min_actors or 1
    high = args.actors or args.max_actors
    if high is not None and high < low:
        raise ConfigError([f"--max-actors {high} is below --min-actors {low}"], source="arguments")
    return ActorPool(low, high, float(args.actor_cpus), args.actor_gpus)


def run_embed_command(args) -> int:
    from vidray.embed.inputs import load_videos
    from vidray.embed.job import resolve_job_model, run_embed

    cfg = config_from_args(args)
    pool = pool_from_args(args)
    output = output_path(args.output, "--output")
    videos = load_videos(args.input, cfg.split_ratios)
    spec = resolve_job_model(cfg)  # missing weights fail here, before Ray starts
    with ray_session_of(args):
        summary = run_embed(cfg, videos, output, scale=scale_of(args), pool=pool, overwrite=args.overwrite,
                            progress=progress_of(args, "embed", "videos"), spec=spec)
    print(summary.line())
    for name, reason in summary.errors.items():
        print(f"  failed: {name}: {reason}")
    if summary.errors:
        print(f"  (listed in {storage.join(summary.output, 'errors.json')}; rerun to retry them)")
    if summary.errors and not summary.embedded and not summary.reused:
        print(f"{args.prog}: error: every one of the {len(summary.errors)} videos failed (reasons above); "
              "check the video list", file=sys.stderr)
        return 2
    return 0


def run_embed_demo(videos_dir_or_list, out: Path, scale: Scale | None = None) -> list[str]:
    """``vidray demo``'s embedding stage on the running Ray: a directory or list of videos → ``out``,
    with the small random ``vidray-tiny`` model; returns the lines to print."""
    from vidray.embed.inputs import VideoItem, hash_split, load_videos, safe_name
    from vidray.embed.job import run_embed

    cfg = EmbedConfig(model="vidray-tiny", pretrained="none", fps=5.0, shard_size=100, batch_size=64)
    if isinstance(videos_dir_or_list, (str, os.PathLike)):
        videos = load_videos(videos_dir_or_list, cfg.split_ratios)
    else:
        videos = []
        for path in videos_dir_or_list:
            path = Path(path)
            name = safe_name("_".join(path.with_suffix("").parts[-3:]))
            videos.append(VideoItem(name, str(path.absolute()), hash_split(name, cfg.split_ratios)))
    summary = run_embed(cfg, videos, Path(out), scale=scale)
    out = summary.output
    lines = [summary.line(),
             "  (demo: model vidray-tiny with --pretrained none = random weights, so the embeddings only show "
             "the pipeline; use --model ViT-B-32 --pretrained TAG|PATH for real ones)",
             f"  processed : {out / 'processed'}/{{train,val,test}}/NAME.{{npy,txt,json}}",
             f"  WebDataset: {out / 'wds'}/ds_00000.tar … + splits.csv",
             f"  Parquet   : {out / 'parquet'}/ds_00000.parquet …"]
    lines += [f"  failed: {name}: {reason}" for name, reason in summary.errors.items()]
    return lines
