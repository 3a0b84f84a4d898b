import numpy as np

from vidray.synth.config import MovingMNISTConfig, VideoMNISTConfig
from vidray.synth.digits import load_digits
from vidray.synth.plan import plan_moving_mnist, plan_videomnist


def _digits(mnist_dir):
    return {s: load_digits(s, mnist_dir) for s in ("train", "test")}


def test_videomnist_plan_labels_motions_and_paths(mnist_dir):
    digits = _digits(mnist_dir)
    cfg = VideoMNISTConfig(videos_per_digit=4, test_videos_per_digit=2, sequence_length=6)
    items = plan_videomnist(cfg, digits)
    train = [it for it in items if it["split"] == "train"]
    assert len(train) == 40 and len(items) == 60
    for it in items:
        label = int(it["labels"][0])
        assert digits[it["split"]].labels[it["digit_index"]] == label  # the digit shown is its label
        assert it["path"].startswith(f"videos/{it['split']}/class_{label}/video_")
        assert it["positions"].shape == (1, 6, 2)
    assert [it["motion"] for it in train[:4]] == ["bounce", "circular", "linear", "bounce"]
    assert len({it["path"] for it in items}) == 60


def test_item_depends_only_on_seed_split_and_index(mnist_dir):
    digits = _digits(mnist_dir)
    a = plan_videomnist(VideoMNISTConfig(videos_per_digit=3, test_videos_per_digit=1), digits)
    b = plan_videomnist(VideoMNISTConfig(videos_per_digit=3, test_videos_per_digit=2), digits)
    c = plan_videomnist(VideoMNISTConfig(videos_per_digit=3, test_videos_per_digit=1, seed=1), digits)
    for x, y in zip(a[:30], b[:30]):  # train items do not change when the test split grows
        np.testing.assert_array_equal(x["positions"], y["positions"])
        assert x["digit_index"] == y["digit_index"]
    assert any(not np.array_equal(x["positions"], z["positions"]) for x, z in zip(a, c))


def test_moving_mnist_plan_uses_the_split_digits(mnist_dir):
    digits = _digits(mnist_dir)
    items = plan_moving_mnist(MovingMNISTConfig(num_sequences=5, test_sequences=3, num_digits=3), digits)
    assert [it["split"] for it in items] == ["train"] * 5 + ["test"] * 3
    for it in items:
        assert it["sprites"].shape == (3, 28, 28) and it["positions"].shape == (3, 20, 2)
        assert it["labels"].shape == (3,)
