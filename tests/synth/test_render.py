import numpy as np
import pytest

from vidray.synth.render import render_videos, to_rgb


def test_sprites_land_at_their_positions():
    sprite = np.arange(1, 10, dtype=np.uint8).reshape(3, 3)
    positions = np.array([[[[0, 0], [2, 5]]]])  # B=1, D=1, T=2
    out = render_videos(sprite[None, None], positions, 8)
    assert out.shape == (1, 2, 8, 8)
    np.testing.assert_array_equal(out[0, 0, :3, :3], sprite)
    np.testing.assert_array_equal(out[0, 1, 2:5, 5:8], sprite)
    assert out[0, 0].sum() == sprite.sum() and out[0, 1].sum() == sprite.sum()


def test_overlapping_digits_combine_by_maximum_not_sum():
    a = np.full((4, 4), 200, np.uint8)
    b = np.full((4, 4), 100, np.uint8)
    b[0, 0] = 250
    positions = np.zeros((1, 2, 1, 2), int)
    out = render_videos(np.stack([a, b])[None], positions, 6)
    assert out[0, 0, 0, 0] == 250 and out[0, 0, 1, 1] == 200  # max, and no uint8 overflow


def test_batch_items_are_independent():
    rng = np.random.default_rng(0)
    sprites = rng.integers(0, 256, (3, 2, 28, 28), dtype=np.uint8)
    positions = rng.integers(0, 37, (3, 2, 5, 2))
    batch = render_videos(sprites, positions, 64)
    for b in range(3):
        np.testing.assert_array_equal(batch[b], render_videos(sprites[b:b + 1], positions[b:b + 1], 64)[0])


def test_positions_outside_the_canvas_are_rejected():
    with pytest.raises(ValueError, match="outside the canvas"):
        render_videos(np.zeros((1, 1, 28, 28), np.uint8), np.full((1, 1, 2, 2), 37), 64)


def test_to_rgb_repeats_gray():
    gray = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    rgb = to_rgb(gray)
    assert rgb.shape == (1, 2, 3, 3) and (rgb[..., 1] == gray).all()
