"""Training data from object storage (moto's S3 server on 127.0.0.1): Moving MNIST .npy and VideoMNIST .h5
copied once into the node's cache, folders of videos and the patch job's PNG pairs read object by object —
the same samples as from disk."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch

from vidray.errors import InputError
from vidray.io import storage
from vidray.io.video import write_mp4
from vidray.train.datasets import PatchPairs, patch_splits, video_splits


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


def test_patch_pairs_on_s3_are_read_object_by_object(s3_bucket, tmp_path):
    rng = np.random.default_rng(2)
    for i in range(3):
        gt = rng.integers(0, 256, (90, 90, 3), dtype=np.uint8)
        lr = rng.integers(0, 256, (150, 30, 3), dtype=np.uint8)  # 5 frames of 30x30 stacked
        for kind, img in (("GT", gt), ("LR", lr)):
            data = cv2.imencode(".png", img)[1].tobytes()
            (tmp_path / "out" / "Universal" / "Patches" / kind).mkdir(parents=True, exist_ok=True)
            (tmp_path / "out" / "Universal" / "Patches" / kind / f"patch_a_idx{i:04d}.png").write_bytes(data)
            storage.write_bytes(f"{s3_bucket}/out/Universal/Patches/{kind}/patch_a_idx{i:04d}.png", data)
    remote, _ = patch_splits(f"{s3_bucket}/out", "small_540", 0.0)
    local, _ = patch_splits(str(tmp_path / "out"), "small_540", 0.0)
    assert len(remote) == len(local) == 3 and all(gt.startswith("s3://") for gt, _ in remote)
    for a, b in zip(PatchPairs(remote, 30, False, 0), PatchPairs(local, 30, False, 0)):
        (lr_a, gt_a), (lr_b, gt_b) = a[0], b[0]
        assert torch.equal(lr_a, lr_b) and torch.equal(gt_a, gt_b)
