"""WebDataset and Parquet shard writers: exact sizes, deterministic names/bytes, stale shards removed."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from vidray.io.parquet_shards import write_parquet
from vidray.io.webdataset_shards import Sample, format_key, plan_shards, write_webdataset


def make_samples(root, counts=None, dim=8):
    counts = counts or {"train": 7, "val": 2, "test": 3}
    samples, i = [], 0
    for split, n in counts.items():
        for j in range(n):
            name = f"{split}_{j}"
            base = root / "processed" / split / name
            base.parent.mkdir(parents=True, exist_ok=True)
            np.save(base.with_suffix(".npy"), np.full((j + 1, dim), i, np.float16))
            base.with_suffix(".txt").write_text(f"caption {name}")
            base.with_suffix(".json").write_text(json.dumps({"name": name}))
            samples.append(Sample(format_key(i), split, name, base.with_suffix(".npy"), base.with_suffix(".txt"),
                                  base.with_suffix(".json")))
            i += 1
    return samples


def test_plan_exact_sizes_per_split(tmp_path):
    shards = plan_shards(make_samples(tmp_path), 3)
    assert [(s.index, s.split, len(s.samples)) for s in shards] == [
        (0, "train", 3), (1, "train", 3), (2, "train", 1), (3, "val", 2), (4, "test", 3)]
    assert shards[0].file_name() == "ds_00000.tar" and shards[4].samples[0].key == "000000009"
    with pytest.raises(ValueError):
        plan_shards([], 0)


def test_webdataset_bytes_are_deterministic_and_stale_shards_go(tmp_path):
    import webdataset as wds

    samples = make_samples(tmp_path)
    paths = write_webdataset(plan_shards(samples, 3), tmp_path / "a")
    again = write_webdataset(plan_shards(samples, 3), tmp_path / "b")
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    with open(tmp_path / "a" / "splits.csv") as f:
        assert [r["split"] for r in csv.DictReader(f)] == ["train", "train", "train", "val", "test"]
    got = list(wds.WebDataset(str(paths[0]), shardshuffle=False).decode())
    assert [s["__key__"] for s in got] == ["000000000", "000000001", "000000002"]
    assert got[2]["npy"].shape == (3, 8) and got[2]["txt"] == "caption train_2"
    write_webdataset(plan_shards(samples, 100), tmp_path / "a")  # fewer, larger shards now
    assert sorted(p.name for p in (tmp_path / "a").glob("ds_*.tar")) == ["ds_00000.tar", "ds_00001.tar",
                                                                         "ds_00002.tar"]


def test_parquet_matches_the_samples(tmp_path):
    samples = make_samples(tmp_path)
    paths = write_parquet(plan_shards(samples, 4), tmp_path / "pq")
    assert [p.name for p in paths] == ["ds_00000.parquet", "ds_00001.parquet", "ds_00002.parquet",
                                       "ds_00003.parquet"]
    table = pq.read_table(paths[1])
    assert table.column("key").to_pylist() == ["000000004", "000000005", "000000006"]
    assert table.column("frame_count").to_pylist() == [5, 6, 7]
    emb = np.asarray(table.column("embedding")[2].as_py(), np.float16)
    np.testing.assert_array_equal(emb, np.load(samples[6].npy))
    assert not list((tmp_path / "pq").glob(".*"))  # no temp files left behind


def test_a_parquet_shard_is_written_in_row_groups(tmp_path, monkeypatch):
    """Memory stays at one row group however large a shard is; readers see the same table."""
    import vidray.io.parquet_shards as parquet_shards

    samples = make_samples(tmp_path)
    whole = pq.read_table(write_parquet(plan_shards(samples, 4), tmp_path / "a")[1])
    monkeypatch.setattr(parquet_shards, "ROW_GROUP", 2)
    path = write_parquet(plan_shards(samples, 4), tmp_path / "b")[1]
    assert pq.ParquetFile(path).metadata.num_row_groups == 2  # 3 samples, 2 per group
    assert pq.read_table(path).equals(whole)
