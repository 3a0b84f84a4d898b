"""The synthetic jobs writing to a real S3 endpoint (moto on 127.0.0.1): the same arrays and MP4 tree as
on disk, whole objects, and a rerun that finds the run complete."""

import io

import h5py
import numpy as np

from vidray.io import storage
from vidray.io.atomic import PART_SUFFIX
from vidray.stage import Scale
from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
from vidray.synth.job import run_moving_mnist, run_videomnist
from vidray.synth.to_hdf5 import convert_tree


def h5_arrays(data: bytes) -> dict:
    with h5py.File(io.BytesIO(data), "r") as f:
        return {k: f[k][()] for k in f}


def test_videomnist_and_moving_mnist_on_s3(ray_local, mnist_dir, s3_bucket, tmp_path):
    vm = VideoMNISTConfig(videos_per_digit=1, test_videos_per_digit=1, sequence_length=8, mnist_dir=mnist_dir)
    local = run_videomnist(vm, tmp_path / "vm", scale=Scale(workers=2))
    uri = f"{s3_bucket}/vm"
    remote = run_videomnist(vm, uri, scale=Scale(workers=2))
    assert remote.encoded == local.encoded == 20
    mp4s = sorted(f[len(uri) + 1:] for f in storage.list_files(uri) if f.endswith(".mp4"))
    assert mp4s == sorted(p.relative_to(tmp_path / "vm").as_posix() for p in (tmp_path / "vm").rglob("*.mp4"))
    got = h5_arrays(storage.read_bytes(f"{uri}/hdf5/videomnist.h5"))
    want = h5_arrays((tmp_path / "vm" / "hdf5" / "videomnist.h5").read_bytes())
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)
    assert run_videomnist(vm, uri).already_complete

    # to-hdf5 from the tree on S3 into an object on S3: the same file as converting a local copy of that tree
    for f in storage.list_files(f"{uri}/videos"):
        copy = tmp_path / "copy" / f[len(uri) + 1:]
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(storage.read_bytes(f))
    convert_tree(tmp_path / "copy", tmp_path / "conv.h5", grayscale=True, scale=Scale(workers=2))
    summary = convert_tree(uri, f"{uri}/conv.h5", grayscale=True, scale=Scale(workers=2))
    assert summary.videos == {"train": 10, "test": 10} and not summary.failed
    got, want = h5_arrays(storage.read_bytes(f"{uri}/conv.h5")), h5_arrays((tmp_path / "conv.h5").read_bytes())
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)

    mm = MovingMNISTConfig(num_sequences=6, test_sequences=2, mnist_dir=mnist_dir)
    run_moving_mnist(mm, tmp_path / "mm", scale=Scale(workers=2))
    run_moving_mnist(mm, f"{s3_bucket}/mm", scale=Scale(workers=2))
    for name in ("moving_mnist.npy", "moving_mnist_test.npy"):
        got = np.load(io.BytesIO(storage.read_bytes(f"{s3_bucket}/mm/{name}")))
        np.testing.assert_array_equal(got, np.load(tmp_path / "mm" / name))
    assert not [f for f in storage.list_files(s3_bucket) if f.endswith(PART_SUFFIX) or "vidray-upload" in f]
