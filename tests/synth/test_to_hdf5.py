import h5py
import numpy as np

from vidray.stage import Scale
from vidray.synth.config import VideoMNISTConfig
from vidray.synth.job import run_videomnist
from vidray.synth.to_hdf5 import convert_tree


def test_convert_a_video_tree_skipping_a_corrupt_file(ray_local, mnist_dir, tmp_path):
    cfg = VideoMNISTConfig(videos_per_digit=1, test_videos_per_digit=1, sequence_length=6, mnist_dir=mnist_dir)
    run_videomnist(cfg, tmp_path / "vm")
    bad = tmp_path / "vm" / "videos" / "train" / "class_3" / "video_0001.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    summary = convert_tree(tmp_path / "vm", tmp_path / "conv.h5", grayscale=True, scale=Scale(workers=2))
    assert summary.videos == {"train": 10, "test": 10} and summary.failed and "video_0001.mp4" in summary.failed[0]
    assert any("sequence_length 5" in w for w in summary.warnings)
    with h5py.File(tmp_path / "conv.h5", "r") as conv, h5py.File(tmp_path / "vm" / "hdf5" / "videomnist.h5") as ref:
        np.testing.assert_array_equal(conv["train_labels"][()], np.arange(10))
        np.testing.assert_array_equal(conv["train_idx"][()], np.arange(10) * 6)
        assert conv["train_data"].shape == (60, 64, 64)
        diff = np.abs(conv["train_data"][()].astype(int) - ref["train_data"][..., 0].astype(int))
        assert diff.mean() < 1.5
        assert list(conv.attrs["class_names"]) == [f"class_{d}" for d in range(10)]
