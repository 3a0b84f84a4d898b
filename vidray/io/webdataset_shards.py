"""WebDataset shards of embedding samples: exactly ``shard_size`` samples per tar except the last
of each split, zero-padded keys, deterministic names, order and bytes, plus ``splits.csv``.

A sample is ``{key}.npy`` (the embedding array), ``{key}.txt`` (caption) and ``{key}.json``
(metadata), copied byte for byte from the processed layout. Every tar is written atomically;
tars of an earlier, larger plan are removed afterwards.
"""

from __future__ import annotations

import csv
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from vidray.io import storage

SPLIT_ORDER = ("train", "val", "test")
KEY_DIGITS = 9
SHARD_DIGITS = 5


@dataclass(frozen=True)
class Sample:
    """One finished sample: its ``key``, ``split``, ``name`` and the three processed files."""

    key: str
    split: str
    name: str
    npy: Path | str   # local paths or URIs (see vidray.io.storage)
    txt: Path | str
    json: Path | str


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``split`` holding ``samples`` in key order."""

    index: int
    split: str
    samples: tuple[Sample, ...]

    def file_name(self, suffix: str = ".tar") -> str:
        return f"ds_{self.index:0{SHARD_DIGITS}d}{suffix}"


def plan_shards(samples: list[Sample], shard_size: int) -> list[Shard]:
    """Cut ``samples`` (already in key order, grouped by split) into shards; a split never shares a shard."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    shards: list[Shard] = []
    for split in SPLIT_ORDER + tuple(sorted({s.split for s in samples} - set(SPLIT_ORDER))):
        members = [s for s in samples if s.split == split]
        for start in range(0, len(members), shard_size):
            shards.append(Shard(len(shards), split, tuple(members[start:start + shard_size])))
    return shards


def format_key(index: int) -> str:
    """The zero-padded sample key of global sample ``index``."""
    return f"{index:0{KEY_DIGITS}d}"


def write_tar_shard(shard: Shard, path) -> Path | str:
    """Write one shard as an uncompressed tar with fixed mtime/owner, so equal inputs give equal bytes."""
    with storage.output_file(path, ".tar") as tmp:
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for sample in shard.samples:
                for ext, source in (("npy", sample.npy), ("txt", sample.txt), ("json", sample.json)):
                    data = storage.read_bytes(source)
                    info = tarfile.TarInfo(f"{sample.key}.{ext}")
                    info.size, info.mtime, info.mode = len(data), 0, 0o444
                    info.uname = info.gname = "vidray"
                    tar.addfile(info, io.BytesIO(data))
    return storage.local_path(path) or str(path)


def write_webdataset(shards: list[Shard], out_dir) -> list[Path | str]:
    """Write every shard as ``out_dir/ds_{i:05d}.tar`` plus ``splits.csv`` (shard,split,samples)."""
    paths = [write_tar_shard(shard, storage.join(out_dir, shard.file_name(".tar"))) for shard in shards]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["shard", "split", "samples"])
    for shard in shards:
        writer.writerow([shard.file_name(".tar"), shard.split, len(shard.samples)])
    storage.write_bytes(storage.join(out_dir, "splits.csv"), buf.getvalue().encode())
    remove_other_shards(out_dir, {shard.file_name(".tar") for shard in shards}, ".tar")
    return paths


def remove_other_shards(out_dir, keep: set[str], suffix: str) -> None:
    """Delete ``ds_*{suffix}`` files in ``out_dir`` that are not in ``keep`` (left by a larger plan)."""
    for name in storage.list_names(out_dir):
        if name.startswith("ds_") and name.endswith(suffix) and name not in keep:
            storage.delete(storage.join(out_dir, name))
