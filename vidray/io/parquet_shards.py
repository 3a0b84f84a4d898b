"""Parquet shards holding the same samples as the WebDataset tars, one file per tar.

Columns: ``key``, ``name``, ``split``, ``caption``, ``embedding`` (list of fixed-size lists:
[frame_count][embed_dim], float16 or float32 as stored), ``frame_count``, ``metadata`` (JSON text).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vidray.io import storage
from vidray.io.webdataset_shards import Shard, remove_other_shards

ROW_GROUP = 64  # samples per row group: a shard is written group by group, never held whole in memory


def samples_table(samples: list, where: str = "shard") -> pa.Table:
    """The Arrow table of ``samples`` (a shard's, or a row group of it), read from their processed files."""
    arrays = [np.load(io.BytesIO(storage.read_bytes(s.npy))) for s in samples]
    dims = {a.shape[1] for a in arrays}
    if len(dims) > 1:
        raise ValueError(f"{where}: samples have different embedding sizes {sorted(dims)}")
    dim = dims.pop() if dims else 0
    dtype = arrays[0].dtype if arrays else np.dtype(np.float32)
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, dtype)
    frames = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int32)
    embedding = pa.ListArray.from_arrays(pa.array(offsets), frames)
    return pa.table({
        "key": pa.array([s.key for s in samples], pa.string()),
        "name": pa.array([s.name for s in samples], pa.string()),
        "split": pa.array([s.split for s in samples], pa.string()),
        "caption": pa.array([storage.read_bytes(s.txt).decode("utf-8") for s in samples], pa.string()),
        "embedding": embedding,
        "frame_count": pa.array([len(a) for a in arrays], pa.int32()),
        "metadata": pa.array([json.dumps(json.loads(storage.read_bytes(s.json)), sort_keys=True)
                              for s in samples], pa.string()),
    })


def write_parquet(shards: list[Shard], out_dir) -> list:
    """Write ``out_dir/ds_{i:05d}.parquet`` for every shard, whole (atomic / one object), one row group of
    ``ROW_GROUP`` samples at a time; drop stale shards."""
    paths = []
    for shard in shards:
        path = storage.join(out_dir, shard.file_name(".parquet"))
        with storage.output_file(path, ".parquet") as tmp:
            writer = None
            for start in range(0, max(1, len(shard.samples)), ROW_GROUP):
                table = samples_table(shard.samples[start:start + ROW_GROUP], f"shard {shard.index}")
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
            writer.close()
        paths.append(storage.local_path(path) or path)
    remove_other_shards(out_dir, {shard.file_name(".parquet") for shard in shards}, ".parquet")
    return paths
