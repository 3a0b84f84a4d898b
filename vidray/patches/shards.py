"""Patches as WebDataset shards: exactly ``shard_size`` samples per tar of one (category, format), the last
smaller, in plan order, so the same plan gives byte-identical tars on any number of workers.

The worker that cuts a work item's windows writes their samples into one *fragment* tar (a hidden object
under ``.fragments/``) before it returns their records; when every item is done, pack tasks (workers too)
copy the samples, in plan order, from fragments into shards. Fragments stay while some extraction is not
ok (``--retry-failed`` repacks from them) and go once every planned extraction is in a shard.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib

import numpy as np

from vidray.io import storage
from vidray.stage import Resources, Stage

FRAGMENTS = ".fragments"
SHARDS = "shards"
MEMBERS = {"GT": "gt.png", "LR": "lr5.png", "LR_7frames": "lr7.png"}  # folder kind → member suffix in a sample
SHARD_RECORD = "shards.json"  # in OUT/.vidray: shard path → digest of the samples it holds
OUTPUT_FORMATS = ("folders", "webdataset", "both")


def tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar of ``(name, data)`` with fixed mtime/owner/mode: equal members, equal bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o444
            info.uname = info.gname = "vidray"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_tar(data: bytes) -> dict[str, bytes]:
    """``{member name: bytes}`` of a tar held in memory."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def fragment_path(item: dict) -> str:
    """Where a work item's samples go (relative to the output): one name per item *and* its window set, so a
    ``--retry-failed`` item never overwrites the fragment of the same segment's earlier windows."""
    keys = sorted(w["key"] for w in item["windows"])
    video = keys[0].split("/", 1)[0]
    digest = zlib.crc32(",".join(keys).encode())
    return f"{FRAGMENTS}/{video}/{item['segment']:06d}-{digest:08x}.tar"


def sample_json(spec: dict, centre: int, time: float, settings: dict) -> bytes:
    """A sample's metadata (``{key}.json`` in its tar): what the index row says about it."""
    info = settings["video_info"]
    meta = {"key": spec["key"], "video": spec["video"], "category": spec["category"], "format": spec["format"],
            "index": spec["index"], "centre": centre, "time": time, "box": spec["box"],
            "work_size": settings["work_size"], "hdr": info["hdr"], "source_size": settings.get("source_size")}
    return (json.dumps(meta, sort_keys=True) + "\n").encode()


def shard_key(category: str, fmt: str, ordinal: int) -> str:
    """A sample's key inside its shard (no dots: WebDataset splits member names at the first dot)."""
    return f"{category}-{fmt}-{ordinal:09d}"


def plan_shards(records: list[dict], shard_size: int) -> list[dict]:
    """Cut the ok ``records`` (in plan order) into shards per (category, format) of ``shard_size`` samples;
    each shard: ``{"path", "digest", "samples": [{"key", "fragment", "member", "shard_key"}]}``."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["category"], r["format"]), []).append(r)
    shards = []
    for (cat, fmt), members in sorted(groups.items()):
        for n, start in enumerate(range(0, len(members), shard_size)):
            samples = [{"key": r["key"], "fragment": r["fragment"], "member": r["member"],
                        "shard_key": shard_key(cat, fmt, start + i)}
                       for i, r in enumerate(members[start:start + shard_size])]
            text = json.dumps(samples, sort_keys=True).encode()
            shards.append({"path": f"{SHARDS}/{cat}/{fmt}/patches-{n:06d}.tar",
                           "digest": hashlib.sha256(text).hexdigest()[:16], "samples": samples})
    return shards


def pack_batch(batch: dict, *, root: str) -> dict:
    """Ray Data UDF: write each shard of the batch from its fragments (read once per task)."""
    fragments: dict[str, dict[str, bytes]] = {}
    written = []
    for text in batch["shard"]:
        shard = json.loads(str(text))
        members = []
        for s in shard["samples"]:
            if s["fragment"] not in fragments:
                fragments[s["fragment"]] = read_tar(storage.read_bytes(storage.join(root, s["fragment"])))
            fragment = fragments[s["fragment"]]
            for suffix in (*MEMBERS.values(), "json"):
                members.append((f"{s['shard_key']}.{suffix}", fragment[f"{s['member']}.{suffix}"]))
        storage.write_bytes(storage.join(root, shard["path"]), tar_bytes(members))
        written.append(json.dumps({"path": shard["path"], "digest": shard["digest"]}))
    return {"written": np.array(written, dtype=object)}


PACK = Stage("pack", pack_batch, Resources(cpus=1), batch_size=1)  # one shard per call
