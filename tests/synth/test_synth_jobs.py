"""End to end on local Ray: VideoMNIST and Moving MNIST outputs, determinism, resume."""


import h5py
import numpy as np
import pytest

from vidray.errors import OutputError
from vidray.io.video import read_frames
from vidray.progress import Progress
from vidray.stage import Scale
from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
from vidray.synth.job import run_moving_mnist, run_videomnist
from vidray.synth.moving_mnist import render_sequences


def small_cfg(mnist_dir, **kw):
    base = dict(videos_per_digit=2, test_videos_per_digit=1, sequence_length=8, mnist_dir=mnist_dir)
    base.update(kw)
    return VideoMNISTConfig(**base)


def assert_same_mp4_tree(a, b):
    """Same files, and the same frames within codec loss. Not bit-identical: libx264 inside a
    long-lived Ray worker occasionally makes different (equally good) decisions for identical
    input planes, so the contract is on the HDF5 arrays and on decoded pixels within tolerance."""
    files_a = sorted(p.relative_to(a).as_posix() for p in (a / "videos").rglob("*.mp4"))
    files_b = sorted(p.relative_to(b).as_posix() for p in (b / "videos").rglob("*.mp4"))
    assert files_a == files_b
    for name in files_a:
        x, y = read_frames(a / name).astype(np.int16), read_frames(b / name).astype(np.int16)
        assert x.shape == y.shape, name
        assert np.abs(x - y).mean() < 1.0, name


@pytest.fixture(scope="module")
def videomnist_run(ray_local, mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("vm") / "out"
    summary = run_videomnist(small_cfg(mnist_dir), out, scale=Scale(workers=2))
    return out, summary


def test_videomnist_layout_and_hdf5(videomnist_run):
    out, summary = videomnist_run
    assert summary.encoded == 30 and summary.videos == {"train": 20, "test": 10}
    assert len(list((out / "videos" / "train").rglob("*.mp4"))) == 20
    assert (out / "videos" / "test" / "class_9" / "video_0000.mp4").exists()
    with h5py.File(out / "hdf5" / "videomnist.h5", "r") as f:
        assert f["train_data"].shape == (20 * 8, 64, 64, 3) and f["train_data"].dtype == np.uint8
        assert f["test_data"].shape == (10 * 8, 64, 64, 3)
        np.testing.assert_array_equal(f["train_idx"][()], np.arange(20) * 8)
        np.testing.assert_array_equal(f["train_labels"][()], np.repeat(np.arange(10), 2))
        np.testing.assert_array_equal(f["test_labels"][()], np.arange(10))
        assert list(f["train_motion"].attrs["names"]) == ["bounce", "circular", "linear"]
        data = f["train_data"][()]
    assert (data[..., 0] == data[..., 2]).all()  # gray digits in RGB
    assert (data.reshape(20, 8, -1).max(axis=2) > 200).all()  # every frame shows a digit


def test_mp4_decodes_back_to_the_hdf5_frames(videomnist_run):
    out, _ = videomnist_run
    with h5py.File(out / "hdf5" / "videomnist.h5", "r") as f:
        start = f["train_idx"][5]
        label = f["train_labels"][5]
        expected = f["train_data"][start:start + 8, ..., 0]
    decoded = read_frames(out / "videos" / "train" / f"class_{label}" / "video_0001.mp4", gray=True)
    assert decoded.shape == (8, 64, 64)
    assert np.abs(decoded.astype(int) - expected).mean() < 1.5  # H.264 crf 17 on sharp digits


def test_same_seed_one_vs_two_workers_identical(videomnist_run, mnist_dir, tmp_path):
    out2, _ = videomnist_run
    out1 = tmp_path / "w1"
    run_videomnist(small_cfg(mnist_dir), out1, scale=Scale(workers=1))
    with h5py.File(out1 / "hdf5" / "videomnist.h5", "r") as a, h5py.File(out2 / "hdf5" / "videomnist.h5", "r") as b:
        for name in ("train_data", "train_idx", "train_labels", "test_data", "test_labels", "train_motion"):
            np.testing.assert_array_equal(a[name][()], b[name][()])
    assert_same_mp4_tree(out1, out2)


def test_grayscale_hdf5_and_no_mp4(ray_local, mnist_dir, tmp_path):
    out = tmp_path / "g"
    summary = run_videomnist(small_cfg(mnist_dir, grayscale=True, write_mp4=False), out)
    assert summary.encoded == 0 and not (out / "videos").exists()
    with h5py.File(out / "hdf5" / "videomnist.h5", "r") as f:
        assert f["train_data"].shape == (160, 64, 64) and f.attrs["layout"] == "NHW"


def test_interrupted_run_resumes_without_redoing_or_duplicating(videomnist_run, mnist_dir, tmp_path):
    reference, _ = videomnist_run
    out = tmp_path / "r"
    calls = []

    class CrashAfterFirstBatch(Progress):
        def add(self, ok=0, failed=0):
            calls.append(ok)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_videomnist(small_cfg(mnist_dir), out, scale=Scale(workers=2),
                       progress=CrashAfterFirstBatch("videomnist", quiet=True))
    assert not (out / "hdf5" / "videomnist.h5").exists()  # nothing half-written published
    assert not list(out.rglob("*.part"))
    done_before = len((out / ".vidray" / "manifest.jsonl").read_text().splitlines())
    assert 0 < done_before < 30
    resumed = run_videomnist(small_cfg(mnist_dir), out, scale=Scale(workers=2))
    assert resumed.reused == done_before and resumed.encoded == 30 - done_before
    lines = (out / ".vidray" / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 30 == len(set(lines))
    assert_same_mp4_tree(out, reference)
    with h5py.File(out / "hdf5" / "videomnist.h5", "r") as a, \
            h5py.File(reference / "hdf5" / "videomnist.h5", "r") as b:
        np.testing.assert_array_equal(a["train_data"][()], b["train_data"][()])
    again = run_videomnist(small_cfg(mnist_dir), out)
    assert again.already_complete and again.encoded == 0


def test_rerun_with_other_settings_is_refused(videomnist_run, mnist_dir):
    out, _ = videomnist_run
    with pytest.raises(OutputError, match="sequence_length: 8 → 9"):
        run_videomnist(small_cfg(mnist_dir, sequence_length=9), out)


def test_videogpt_length_warning(ray_local, mnist_dir, tmp_path):
    short = run_videomnist(small_cfg(mnist_dir, sequence_length=8, videogpt_sequence_length=8, write_mp4=False),
                           tmp_path / "a")
    assert any("sequence_length 7" in w for w in short.warnings)
    long = run_videomnist(small_cfg(mnist_dir, sequence_length=9, videogpt_sequence_length=8, write_mp4=False),
                          tmp_path / "b")
    assert long.warnings == []


def test_moving_mnist_npy_and_hdf5(ray_local, mnist_dir, tmp_path):
    cfg = MovingMNISTConfig(num_sequences=6, test_sequences=3, mnist_dir=mnist_dir)
    summary = run_moving_mnist(cfg, tmp_path / "mm", scale=Scale(workers=2))
    train = np.load(tmp_path / "mm" / "moving_mnist.npy")
    test = np.load(tmp_path / "mm" / "moving_mnist_test.npy")
    assert train.shape == (20, 6, 64, 64) and train.dtype == np.uint8 and test.shape == (20, 3, 64, 64)
    np.testing.assert_array_equal(train, render_sequences(6, mnist_dir=mnist_dir))  # same as in-process
    np.testing.assert_array_equal(test, render_sequences(3, split="test", mnist_dir=mnist_dir))
    with h5py.File(tmp_path / "mm" / "moving_mnist.h5", "r") as f:
        assert f["train_labels"].shape == (6, 2)
        seq2 = f["train_data"][f["train_idx"][2]:f["train_idx"][2] + 20, ..., 0]
    np.testing.assert_array_equal(seq2, train[:, 2])
    assert summary.videos == {"train": 6, "test": 3}
    assert run_moving_mnist(cfg, tmp_path / "mm").already_complete
