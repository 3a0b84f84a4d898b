"""``OUT/index.parquet``: one row per planned extraction (ok or failed) saying what it is and where its files
are (folder-tree PNGs and/or a shard and the sample's key in it). It is the manifest users query (pyarrow,
``ray.data.read_parquet``, DuckDB) and what VSR training reads instead of walking the folders."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from vidray.io import storage

INDEX_FILE = "index.parquet"

SCHEMA = pa.schema([
    ("key", pa.string()), ("video", pa.string()), ("category", pa.string()), ("format", pa.string()),
    ("index", pa.int32()), ("status", pa.string()), ("reason", pa.string()),
    ("centre", pa.int64()), ("time", pa.float64()), ("box", pa.list_(pa.int32(), 4)),
    ("work_width", pa.int32()), ("work_height", pa.int32()), ("hdr", pa.string()),
    ("source_width", pa.int32()), ("source_height", pa.int32()),
    ("gt", pa.string()), ("lr", pa.string()), ("lr7", pa.string()),
    ("shard", pa.string()), ("shard_key", pa.string()),
])


def index_row(spec: dict, record: dict, info, work_size, shard: dict | None) -> dict:
    """The row of one planned extraction from its plan ``spec``, its latest manifest ``record``, the film's
    probe ``info`` and, when it is in one, its ``shard`` sample (``{"path", "shard_key"}``)."""
    files = record.get("files") or [None, None, None]
    return {"key": spec["key"], "video": spec["video"], "category": spec["category"], "format": spec["format"],
            "index": spec["index"], "status": record["status"], "reason": record.get("reason"),
            "centre": record.get("centre", spec["centre"]), "time": record.get("time"), "box": spec["box"],
            "work_width": work_size[0], "work_height": work_size[1], "hdr": info.hdr,
            "source_width": info.display_size[0], "source_height": info.display_size[1],
            "gt": files[0], "lr": files[1], "lr7": files[2],
            "shard": shard["path"] if shard else None, "shard_key": shard["shard_key"] if shard else None}


def write_index(root, rows: list[dict]) -> str:
    """Write ``rows`` (plan order) as ``root/index.parquet``, whole (temp + rename, or one object)."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=65536)
    location = storage.join(root, INDEX_FILE)
    storage.write_bytes(location, buf.getvalue())
    return location


def read_index(root) -> pa.Table:
    """The index of a patch output (local or URI)."""
    return pq.read_table(io.BytesIO(storage.read_bytes(storage.join(root, INDEX_FILE))))
