"""``vidray embed INPUT --output OUT``: flags → EmbedConfig → job; and the small demo run."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from vidray.embed.config import DTYPES, EmbedConfig


def register(commands) -> None:
    """Add ``embed`` to the top-level subparsers."""
    from vidray.cli import add_ray_flags, non_negative_float, positive_float, positive_int

    p = commands.add_parser(
        "embed", help="CLIP frame embeddings of videos → processed layout, WebDataset and Parquet shards",
        description="Decode sampled frames on CPU tasks, embed them with open_clip in an actor pool (GPU when "
                    "present), write OUT/processed/{split}/NAME.{npy,txt,json}, OUT/wds/ds_00000.tar … "
                    "splits.csv and OUT/parquet/ds_00000.parquet …. Rerun the same command to resume.")
    p.add_argument("input", type=Path, help="video list (JSON/YAML with a 'videos' list of {name, path, caption?, "
                                            "split?, metadata?}), a directory of videos, or one video file")
    p.add_argument("--output", "-o", type=Path, required=True, help="output directory (rerun to resume)")
    p.add_argument("--model", help="open_clip model name, a model config .json, or vidray-tiny (ViT-B-32)")
    p.add_argument("--pretrained", help="a pretrained tag (needs network or a cached download), a local "
                                        "checkpoint path, or none = random weights for tests/smoke runs "
                                        "(default: the model's first tag, openai for ViT-B-32)")
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
    p.add_argument("--actors", type=positive_int, default=None,
                   help="model replicas (default: one per GPU in the cluster, else 1)")
    p.add_argument("--actor-cpus", dest="actor_cpus", type=positive_int, default=1,
                   help="CPUs (torch threads on CPU) per model actor (1)")
    p.add_argument("--overwrite", action="store_true", help="replace an output dir that holds a different run")
    add_ray_flags(p)
    p.set_defaults(handler=run_embed_command, prog=p.prog)


def config_from_args(args) -> EmbedConfig:
    """The validated EmbedConfig of the parsed flags (unset flags keep the defaults)."""
    from vidray.config import from_dict

    names = {f.name for f in dataclasses.fields(EmbedConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return from_dict(EmbedConfig, values)


def run_embed_command(args) -> int:
    from vidray.cli import ray_session_of
    from vidray.embed.inputs import load_videos
    from vidray.embed.job import resolve_job_model, run_embed
    from vidray.runtime import quiet_ray_data
    from vidray.synth.cli import progress_bar

    cfg = config_from_args(args)
    videos = load_videos(args.input, cfg.split_ratios)
    spec = resolve_job_model(cfg)  # missing weights fail here, before Ray starts
    with ray_session_of(args):
        quiet_ray_data()
        with progress_bar("embed") as progress:
            summary = run_embed(cfg, videos, args.output, workers=args.workers, actors=args.actors,
                                actor_cpus=args.actor_cpus, overwrite=args.overwrite, progress=progress,
                                spec=spec)
    print(summary.line())
    for name, reason in summary.errors.items():
        print(f"  failed: {name}: {reason}")
    if summary.errors:
        print(f"  (listed in {summary.output / 'errors.json'}; rerun to retry them)")
    return 0


def run_embed_demo(videos_dir_or_list, out: Path, workers: int | None = None) -> list[str]:
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
    summary = run_embed(cfg, videos, Path(out), workers=workers)
    out = summary.output
    lines = [summary.line(),
             "  (demo: model vidray-tiny with --pretrained none = random weights, so the embeddings only show "
             "the pipeline; use --model ViT-B-32 --pretrained TAG|PATH for real ones)",
             f"  processed : {out / 'processed'}/{{train,val,test}}/NAME.{{npy,txt,json}}",
             f"  WebDataset: {out / 'wds'}/ds_00000.tar … + splits.csv",
             f"  Parquet   : {out / 'parquet'}/ds_00000.parquet …"]
    lines += [f"  failed: {name}: {reason}" for name, reason in summary.errors.items()]
    return lines
