"""The patch job on Ray Data: probe + plan on the driver → (video, segment) items → map_batches
decoding and writing PNGs in workers → driver streams records into manifest and status."""

from __future__ import annotations

import dataclasses
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from vidray.errors import ConfigError, InputError
from vidray.io import storage
from vidray.io.probe import probe_video
from vidray.patches.config import BaseSettings, PatchesConfig, VideoEntry
from vidray.patches.extract import extract_segment
from vidray.patches.formats import CATEGORY_FOLDERS
from vidray.patches.index import INDEX_FILE, index_row, write_index
from vidray.patches.layout import MANIFEST_FILE, STATUS_FILE, create_tree
from vidray.patches.plan import VideoInfo, VideoPlan, plan_segments, plan_video
from vidray.patches.shards import FRAGMENTS, PACK, SHARD_RECORD, SHARDS, plan_shards
from vidray.patches.status import PatchStatus
from vidray.progress import Progress
from vidray.run import JobRun
from vidray.stage import Resources, Scale, Stage

log = logging.getLogger("vidray.patches")


@dataclass
class PatchesSummary:
    """What a run did: extractions planned / ok / failed, per-video problems, time."""

    output: Path
    planned: int = 0
    ok: int = 0
    failed: int = 0
    written: int = 0
    seconds: float = 0.0
    video_errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    already_complete: bool = False

    def line(self) -> str:
        """One-line summary for the CLI."""
        bad = f", {len(self.video_errors)} videos failed" if self.video_errors else ""
        state = "already complete, nothing to do" if self.already_complete else f"{self.written} written this run"
        return (f"patches: {self.ok}/{self.planned} extractions ok, {self.failed} failed{bad} → {self.output} "
                f"({state}) in {self.seconds:.1f}s")


def extract_batch(batch: dict, *, root: str) -> dict:
    """Ray Data UDF: run each (video, segment) task of the batch; one JSON record per window out."""
    cv2.setNumThreads(1)  # one task = one core: OpenCV's own thread pool would oversubscribe the node
    out = []
    for text in batch["task"]:
        task = json.loads(str(text))
        out.extend(extract_segment(task["item"], task["settings"], root))
    return {"record": np.array([json.dumps(r, sort_keys=True) for r in out], dtype=object)}


def task_settings(info: VideoInfo, plan: VideoPlan, bs: BaseSettings) -> dict:
    """What :func:`vidray.patches.extract.extract_segment` needs besides its work item (JSON-able)."""
    return {"video_info": {"path": info.path, "fps": info.fps, "hdr": info.hdr, "rotation": info.rotation,
                           "first_pts": info.first_pts,
                           "timestamps": None if info.timestamps is None else list(info.timestamps)},
            "work_size": list(plan.work_size), "max_retry_attempts": bs.max_retry_attempts,
            "retry_skip_seconds": bs.retry_skip_seconds, "min_file_size": bs.min_file_size,
            "tone_curve": bs.tone_curve, "tone_desat": bs.tone_desat, "hdr_peak_nits": bs.hdr_peak_nits,
            "hlg_ootf": bs.hlg_ootf, "scale_filter": bs.scale_filter, "png_compression": bs.png_compression,
            "output_format": bs.output_format, "source_size": list(info.display_size)}


def _probe_all(paths: list[str]) -> list:
    def probe(path):
        try:
            return probe_video(path)
        except InputError as exc:
            return exc
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(probe, paths))


@dataclass
class PlannedVideo:
    """One config entry after probing and planning: its info and plan with the work items not yet done, or
    ``probe_error`` (the file cannot be read as a video)."""

    entry: VideoEntry
    info: VideoInfo | None
    plan: VideoPlan | None
    items: list[dict] = field(default_factory=list)
    probe_error: InputError | None = None


def plan_job(cfg: PatchesConfig, done: set[str] = frozenset()) -> list[PlannedVideo]:
    """Probe every video (headers and first frame, nothing else decoded) and plan it; ``done`` keys are left
    out of the (video, segment) work items."""
    out = []
    for entry, info in zip(cfg.videos, _probe_all([v.path for v in cfg.videos])):
        if isinstance(info, InputError):
            out.append(PlannedVideo(entry, None, None, probe_error=info))
            continue
        plan = plan_video(entry, info, cfg)
        items = [] if plan.error else plan_segments(plan, info, cfg.base_settings.segment_seconds, done=done)
        out.append(PlannedVideo(entry, info, plan, items))
    return out


EXTRACT = Stage("extract", extract_batch, Resources(cpus=1), batch_size=1)  # one (video, segment) per call


def run_patches(cfg: PatchesConfig, output=None, *, scale: Scale | None = None, overwrite: bool = False,
                progress: Progress | None = None, on_status: Callable[[dict], None] | None = None,
                after_records: Callable[[int], None] | None = None, retry_failed: bool = False) -> PatchesSummary:
    """Extract every planned patch of ``cfg`` into ``output`` (default: ``output_base_dir``); resumes.

    ``scale.workers`` (else ``base_settings.max_workers``) caps the extraction tasks; ``retry_failed``
    re-attempts the extractions the manifest records as failed (their new record replaces the old);
    ``on_status(status_dict)`` is called as records arrive (live view); ``after_records(n_done_this_run)``
    after each batch is appended to the manifest (tests use it to simulate a crash).
    """
    bs = cfg.base_settings
    output = output or bs.output_base_dir
    if not output:
        raise ConfigError("no output directory: pass --output or set base_settings.output_base_dir")
    scale = scale or Scale()
    if scale.workers is None and bs.max_workers:
        scale = dataclasses.replace(scale, workers=bs.max_workers)
    run = JobRun("patches", output, cfg.identity(), overwrite=overwrite, record=MANIFEST_FILE, scale=scale,
                 progress=progress, unit="extractions",
                 owned=tuple(sorted({f.split("/")[0] for f in CATEGORY_FOLDERS.values()}))
                 + (STATUS_FILE, MANIFEST_FILE, INDEX_FILE, FRAGMENTS, SHARDS))
    root = run.root
    summary = PatchesSummary(root, notes=bs.unused_notes())
    status = PatchStatus(storage.join(root, STATUS_FILE), root, videos=[v.name for v in cfg.videos],
                         workers=scale.workers)

    # plan: probe every video, plan its extractions, split them into (video, segment) tasks not yet done
    recorded = run.record.records
    done = {k for k, r in recorded.items() if r["status"] == "ok" or not retry_failed}
    tasks, categories, planned_keys = [], {}, set()
    planned = []  # (spec, probed video) of every planned extraction, in plan order (video, category, format, index)
    for pv in plan_job(cfg, done):
        entry, plan = pv.entry, pv.plan
        if pv.probe_error is not None:
            summary.video_errors[entry.name] = pv.probe_error.reason
            status.plan_video(entry.name, [], [], f"{pv.probe_error.path}: {pv.probe_error.reason}")
            continue
        status.plan_video(entry.name, plan.extractions, plan.notes, plan.error, pv.info)
        summary.notes += [f"{entry.name}: {n}" for n in plan.notes]
        if plan.error:
            summary.video_errors[entry.name] = plan.error
            continue
        for e in plan.extractions:
            categories.setdefault(e["category"], set()).add(e["format"])
            planned_keys.add(e["key"])
        planned += [(e, pv) for e in sorted(plan.extractions, key=lambda e: (e["category"], e["format"], e["index"]))]
        settings = task_settings(pv.info, plan, bs)
        tasks += [{"task": json.dumps({"item": item, "settings": settings})} for item in pv.items]
    if isinstance(root, Path):  # the seed's folder tree, empty folders included (object stores have none)
        for cat, fmts in categories.items():
            create_tree(root, [cat], sorted(fmts))
    for key in [k for k in recorded if k not in done and k in planned_keys]:
        del recorded[key]  # re-attempted: its new record is appended, and the manifest reader keeps the last
    for key, rec in recorded.items():
        if key in planned_keys:
            status.add(rec, resumed=True)
    status.write("running", force=True)
    summary.planned = status.data["progress"]["total"]
    run.progress.start(summary.planned, resumed=status.data["progress"]["done"])
    if on_status:
        on_status(status.data)

    # stream: workers decode and write PNGs; the driver records each finished window
    stage = dataclasses.replace(EXTRACT, fn_kwargs={"root": str(root)})
    try:
        for batch in run.stream(tasks, [stage]):
            records = [json.loads(str(r)) for r in batch["record"]]
            run.record.append(records)
            for rec in records:
                status.add(rec)
            ok = sum(r["status"] == "ok" for r in records)
            summary.written += ok
            run.progress.add(ok=ok, failed=len(records) - ok)
            status.write()
            if on_status:
                on_status(status.data)
            if after_records:
                after_records(status.data["progress"]["done"] - status._done_at_start)
    except BaseException:
        status.write("interrupted", force=True)
        raise

    # shards (when asked for) and the index of every extraction
    latest = run.record.records
    ok = [latest[e["key"]] for e, _ in planned if latest.get(e["key"], {}).get("status") == "ok"]
    shard_of = _pack_shards(run, ok, bs, all_ok=len(ok) == len(planned)) if bs.output_format != "folders" else {}
    write_index(root, [index_row(e, latest[e["key"]], pv.info, pv.plan.work_size, shard_of.get(e["key"]))
                       for e, pv in planned if e["key"] in latest])

    # finish
    p = status.data["progress"]
    summary.ok, summary.failed = p["ok"], p["failed"]
    summary.failures = [r for k, r in run.record.records.items() if k in planned_keys and r["status"] != "ok"]
    summary.already_complete = not tasks and run.already_complete
    status.write("complete" if not summary.video_errors else "complete_with_errors", force=True)
    if on_status:
        on_status(status.data)
    run.finish()
    summary.seconds = run.seconds
    return summary


def _pack_shards(run: JobRun, records: list[dict], bs: BaseSettings, all_ok: bool) -> dict[str, dict]:
    """Pack the ok ``records`` (plan order) into shards on workers, skipping shards already written with the
    same samples; remove shards of an earlier, larger plan; drop the fragments once every planned extraction
    is in a shard. Returns ``{key: {"path", "shard_key"}}``."""
    shards = plan_shards(records, bs.shard_size)
    record_file = storage.join(run.out.meta, SHARD_RECORD)
    written = json.loads(storage.read_bytes(record_file)) if storage.exists(record_file) else {}
    present = storage.exist_all([storage.join(run.root, s["path"]) for s in shards])
    todo = [s for s, there in zip(shards, present) if written.get(s["path"]) != s["digest"] or not there]
    needed = sorted({sample["fragment"] for shard in todo for sample in shard["samples"]})
    found = storage.exist_all([storage.join(run.root, f) for f in needed])
    gone = [f for f, ok in zip(needed, found) if not ok]
    if gone:
        others = f" (and {len(gone) - 1} other fragments)" if len(gone) > 1 else ""
        raise InputError(storage.join(run.root, gone[0]), f"is gone{others}, so the shards cannot be repacked; "
                         "rerun with --overwrite")
    stage = dataclasses.replace(PACK, fn_kwargs={"root": str(run.root)})
    for batch in run.stream([{"shard": json.dumps(s)} for s in todo], [stage]):
        for text in batch["written"]:
            done = json.loads(str(text))
            written[done["path"]] = done["digest"]
        storage.write_json(record_file, written)
    keep = {s["path"] for s in shards}
    shard_root = storage.join(run.root, SHARDS)
    for location in storage.list_files(shard_root):
        relative = f"{SHARDS}/{str(location)[len(str(shard_root)) + 1:]}"
        if relative not in keep:  # left by an earlier run of a larger plan
            storage.delete(location)
    storage.write_json(record_file, {p: d for p, d in written.items() if p in keep})
    if all_ok:
        storage.delete_tree(storage.join(run.root, FRAGMENTS))
    return {s["key"]: {"path": shard["path"], "shard_key": s["shard_key"]} for shard in shards
            for s in shard["samples"]}
