"""Parquet shards holding the same samples as the WebDataset tars, one file per tar.

Columns: ``key``, ``name``, ``split``, ``caption``, ``embedding`` (list of fixed-size lists:
[frame_count][embed_dim], float16 or float32 as stored), ``frame_count``, ``metadata`` (JSON text).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vidray.io.atomic import atomic_path
from vidray.io.webdataset_shards import Shard, remove_other_shards


def shard_table(shard: Shard) -> pa.Table:
    """The Arrow table of one shard, read from its samples' processed files."""
    arrays = [np.load(s.npy) for s in shard.samples]
    dims = {a.shape[1] for a in arrays}
    if len(dims) > 1:
        raise ValueError(f"shard {shard.index}: samples have different embedding sizes {sorted(dims)}")
    dim = dims.pop() if dims else 0
    dtype = arrays[0].dtype if arrays else np.dtype(np.float32)
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, dtype)
    frames = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int32)
    embedding = pa.ListArray.from_arrays(pa.array(offsets), frames)
    return pa.table({
        "key": pa.array([s.key for s in shard.samples], pa.string()),
        "name": pa.array([s.name for s in shard.samples], pa.string()),
        "split": pa.array([s.split for s in shard.samples], pa.string()),
        "caption": pa.array([s.txt.read_text(encoding="utf-8") for s in shard.samples], pa.string()),
        "embedding": embedding,
        "frame_count": pa.array([len(a) for a in arrays], pa.int32()),
        "metadata": pa.array([json.dumps(json.loads(s.json.read_text()), sort_keys=True)
                              for s in shard.samples], pa.string()),
    })


def write_parquet(shards: list[Shard], out_dir: str | os.PathLike) -> list[Path]:
    """Write ``out_dir/ds_{i:05d}.parquet`` for every shard, atomically; drop stale shard files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in shards:
        path = out_dir / shard.file_name(".parquet")
        with atomic_path(path) as tmp:
            pq.write_table(shard_table(shard), tmp, compression="zstd")
        paths.append(path)
    remove_other_shards(out_dir, {p.name for p in paths}, ".parquet")
    return paths
