"""Training data from object storage (moto's S3 server on 127.0.0.1): Moving MNIST .npy and VideoMNIST .h5
copied once into the node's cache, folders of videos and the patch job's pairs (folders or shards, found through
its index) read object by object — the same samples as from disk."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from vidray.config import from_dict
from vidray.errors import InputError
from vidray.io import storage
from vidray.io.video import write_mp4
from vidray.train.config import TrainConfig
from vidray.train.datasets import PatchPairs, video_splits


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDRAY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def same_videos(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(np.asarray(a[i]), np.asarray(b[i])) for i in range(len(a)))


def test_moving_mnist_npy_on_s3_is_cached_once_per_version(s3_bucket, cache, tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (6, 5, 8, 8), dtype=np.uint8)  # [T,N,H,W]
    np.save(tmp_path / "moving_mnist.npy", arr)
    uri = f"{s3_bucket}/data/mm"
    storage.write_bytes(f"{uri}/moving_mnist.npy", (tmp_path / "moving_mnist.npy").read_bytes())
    train, val = video_splits(uri, 0.4)
    local_train, local_val = video_splits(str(tmp_path), 0.4)
    assert same_videos(train, local_train) and same_videos(val, local_val) and len(val) == 2
    copies = [p for p in cache.rglob("*.npy")]
    assert len(copies) == 1 and not [p for p in cache.rglob("*.part")]
    video_splits(uri, 0.4)
    assert [p for p in cache.rglob("*.npy")] == copies  # the second read uses the copy
    time.sleep(1.1)  # S3's modification times have 1-s resolution
    storage.write_bytes(f"{uri}/moving_mnist.npy", (tmp_path / "moving_mnist.npy").read_bytes()[:-64] + bytes(64))
    _, val = video_splits(f"{uri}/moving_mnist.npy", 0.4)  # a new version of the object: a new copy
    assert len(list(cache.rglob("*.npy"))) == 2 and not same_videos(val, local_val)


def test_a_folder_of_videos_on_s3_gives_the_local_splits(s3_bucket, cache, tmp_path):
    rng = np.random.default_rng(1)
    for split, n in (("train", 3), ("test", 1)):
        for i in range(n):
            frames = rng.integers(0, 256, (4, 16, 16), dtype=np.uint8)
            write_mp4(tmp_path / "videos" / split / "class_0" / f"v{i}.mp4", frames)
            write_mp4(f"{s3_bucket}/vm/videos/{split}/class_0/v{i}.mp4", frames)
    train, val = video_splits(f"{s3_bucket}/vm", 0.5)
    local_train, local_val = video_splits(str(tmp_path), 0.5)
    assert len(train) == 3 and len(val) == 1
    assert same_videos(train, local_train) and same_videos(val, local_val)
    with pytest.raises(InputError, match="training data does not exist"):
        video_splits(f"{s3_bucket}/nothing-here", 0.5)


def test_patch_pairs_on_s3_are_read_through_the_index(ray_local, vsr_patches, s3_bucket):
    from vidray.train.feed import VAL, build_feed
    from vidray.train.tasks import vsr_selection

    for path in sorted(p for p in vsr_patches.rglob("*") if p.is_file()):
        storage.write_bytes(f"{s3_bucket}/out/{path.relative_to(vsr_patches).as_posix()}", path.read_bytes())
    for source in ("folders", "shards"):
        remote, local = (from_dict(TrainConfig, {"model": "vsr", "data": data, "vsr_crop": 48, "val_fraction": 0.3,
                                                 "vsr_source": source})
                         for data in (f"{s3_bucket}/out", str(vsr_patches)))
        sel_remote, sel_local = vsr_selection(remote), vsr_selection(local)
        assert sel_remote.train.equals(sel_local.train) and sel_remote.root.startswith("s3://")
        for a, b in zip(*(PatchPairs(sel, sel.val, 48, False, 0) for sel in (sel_remote, sel_local))):
            (lr_a, gt_a), (lr_b, gt_b) = a[0], b[0]
            assert a[1] == b[1] and torch.equal(lr_a, lr_b) and torch.equal(gt_a, gt_b)
        fed = {name: {r["id"]: r["gt"] for r in build_feed(c).datasets[VAL].take_all()}
               for name, c in (("remote", remote), ("local", local))}
        assert fed["remote"].keys() == fed["local"].keys() and len(fed["remote"]) == sel_local.val.num_rows
        assert all(np.array_equal(fed["remote"][k], fed["local"][k]) for k in fed["local"])
