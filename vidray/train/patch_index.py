"""Which patch extractions a VSR run trains and validates on: rows of the patch job's ``index.parquet``
(never a directory walk), filtered by status, crop format and category, split by a hash of each key.

The split is a pure function of the extraction key (``crc32(key) % 1000 < val_fraction * 1000``): linear
time, the same on every node and for folders or shards, and a sample keeps its side when the plan grows.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from vidray.errors import InputError
from vidray.io import storage
from vidray.patches.formats import CATEGORY_FOLDERS, FORMATS
from vidray.patches.index import INDEX_FILE

SOURCES = ("folders", "shards")
COLUMNS = ["key", "category", "format", "status", "gt", "lr", "shard", "shard_key"]


def vsr_data_problems(fmt: str, categories) -> list[str]:
    """Config problems of the VSR data selection: an unknown crop format or category (empty when valid)."""
    problems = []
    if fmt not in FORMATS:
        problems.append(f"vsr_format {fmt!r} unknown; choose from {', '.join(FORMATS)}")
    unknown = [c for c in categories or () if c not in CATEGORY_FOLDERS]
    if unknown:
        problems.append(f"vsr_categories: unknown {', '.join(map(repr, unknown))}; choose from "
                        f"{', '.join(CATEGORY_FOLDERS)}")
    if categories is not None and not categories:
        problems.append("vsr_categories: give at least one category, or leave it unset for all")
    return problems


def in_val(key: str, val_fraction: float) -> bool:
    """Whether extraction ``key`` is in the validation split (a stable hash: same answer everywhere)."""
    return zlib.crc32(key.encode()) % 1000 < val_fraction * 1000


def sample_id(key: str) -> int:
    """A sample's number in batches (int64 >= 0): a 63-bit hash of its key, the same from folders or shards."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") >> 1


@dataclass(frozen=True)
class PatchSelection:
    """The rows a VSR run reads: ``train`` and ``val`` tables (columns :data:`COLUMNS`, index order) of
    the patch output at ``root``, read from ``source`` (``folders``: ``gt``/``lr`` PNG paths; ``shards``:
    ``shard`` tar + ``shard_key``; paths relative to ``root``)."""

    root: str
    source: str
    train: pa.Table
    val: pa.Table


def patch_root(data: str) -> str:
    """The patch output holding the index: ``data`` itself, or its folder when ``data`` names the index."""
    text = str(data).rstrip("/")
    return storage.parent(text) if text.endswith("/" + INDEX_FILE) or text == INDEX_FILE else text


def read_patch_index(data: str) -> pa.Table:
    """The index's :data:`COLUMNS` (one read of one file); a missing or unreadable index is one
    :class:`InputError` saying what to run or pass instead."""
    import pyarrow.parquet as pq

    root = patch_root(data)
    location = storage.join(root, INDEX_FILE)
    where = storage.kind(root)
    if where is None:
        raise InputError(data, "training data does not exist")
    if where == "file" or not storage.exists(location):
        raise InputError(data, f"has no {INDEX_FILE}: VSR training reads the patch index, not the folders. Pass "
                               "the patch job's output folder (the one holding index.parquet), or rerun "
                               "`vidray patches CONFIG --output DATA` with this vidray to write the index")
    try:
        table = pq.read_table(io.BytesIO(storage.read_bytes(location)), columns=COLUMNS)
    except (pa.ArrowInvalid, KeyError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise InputError(location, f"is not a readable patch index ({first}); rerun the patch job to rewrite "
                                   "it") from exc
    return table


def select_patches(data: str, fmt: str, categories=None, val_fraction: float = 0.1, source: str = "auto",
                   max_train: int | None = None, max_val: int | None = None) -> PatchSelection:
    """The ok extractions of crop format ``fmt`` (and ``categories``, None = all) in the index of ``data``,
    split into train/val by key; ``max_train``/``max_val`` keep the first rows of each split (index order)."""
    import pyarrow.compute as pc

    table = read_patch_index(data)
    mask = pc.and_(pc.equal(table["status"], "ok"), pc.equal(table["format"], fmt))
    if categories:
        mask = pc.and_(mask, pc.is_in(table["category"], value_set=pa.array(list(categories), pa.string())))
    rows = table.filter(mask)
    if rows.num_rows == 0:
        raise InputError(data, f"has no ok extractions of crop format {fmt}"
                               + (f" in categories {', '.join(categories)}" if categories else "")
                               + f"; its index holds {_holdings(table)}: set vsr_format / vsr_categories to one "
                                 "of these, or run the patch job for this format")
    source = _source(data, rows, source)
    val_mask = [in_val(k, val_fraction) for k in rows["key"].to_pylist()]
    train, val = rows.filter(pa.array([not v for v in val_mask])), rows.filter(pa.array(val_mask))
    if train.num_rows == 0:
        raise InputError(data, f"every one of its {rows.num_rows} {fmt} extractions fell into the validation "
                               f"split (val_fraction {val_fraction}); lower val_fraction")
    train = train.slice(0, max_train) if max_train is not None else train
    val = val.slice(0, max_val) if max_val is not None else val
    return PatchSelection(patch_root(data), source, train, val)


def _holdings(table: pa.Table) -> str:
    """``small_540 (general 12, space 6), fullhd (space 3)`` of the ok rows, or what went wrong."""
    ok = table.filter(pa.compute.equal(table["status"], "ok"))
    if ok.num_rows == 0:
        return f"no ok extraction ({table.num_rows} failed)" if table.num_rows else "no rows"
    counts = Counter(zip(ok["format"].to_pylist(), ok["category"].to_pylist()))
    formats = sorted({f for f, _ in counts})
    return ", ".join(f"{f} (" + ", ".join(f"{c} {n}" for (g, c), n in sorted(counts.items()) if g == f) + ")"
                     for f in formats)


def _source(data: str, rows: pa.Table, wanted: str) -> str:
    """``folders`` or ``shards`` for ``wanted`` (``auto``: shards when every selected row is in one,
    since a tar read is one request per shard instead of two per sample, else folders)."""
    has = {"shards": rows["shard"].null_count == 0,
           "folders": rows["gt"].null_count == 0 and rows["lr"].null_count == 0}
    if wanted == "auto":
        for name in ("shards", "folders"):
            if has[name]:
                return name
        raise InputError(data, "its index lists extractions with neither shards nor folder PNGs; rerun the patch "
                               "job with --output-format both")
    if not has[wanted]:
        other = "folders" if wanted == "shards" else "shards"
        raise InputError(data, f"has no {wanted} for some of the selected extractions: train from its {other} "
                               f"(vsr_source={other} or auto), or rerun the patch job with --output-format both")
    return wanted
