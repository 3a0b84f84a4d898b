import numpy as np
import pytest

from vidray.synth import motion
from vidray.synth.motion import MOTIONS, register_motion, trajectory


@pytest.mark.parametrize("name", sorted(MOTIONS))
@pytest.mark.parametrize("travel", [4, 36, 100])
def test_every_motion_stays_inside_the_canvas(name, travel):
    for seed in range(40):
        pos = trajectory(name, np.random.default_rng(seed), 200, travel)
        assert pos.shape == (200, 2) and pos.dtype == np.int16
        assert pos.min() >= 0 and pos.max() <= travel


@pytest.mark.parametrize("name", sorted(MOTIONS))
def test_motions_actually_move_and_are_seeded(name):
    a = trajectory(name, np.random.default_rng(7), 20, 36)
    b = trajectory(name, np.random.default_rng(7), 20, 36)
    c = trajectory(name, np.random.default_rng(8), 20, 36)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(np.diff(a, axis=0)).sum() > 20


def test_bounce_reflects_at_walls_with_constant_speed():
    travel = 36
    for seed in range(20):
        pos = motion.bounce(np.random.default_rng(seed), 100, travel)
        step = np.diff(pos, axis=0)
        speed = np.hypot(*step.T)
        # between walls the speed is constant (a step that touches a wall is shorter)
        assert 2.0 - 1e-9 <= speed.max() <= 4.0 + 1e-9
        assert np.mean(np.abs(speed - speed.max()) < 1e-9) > 0.7
        flips = (np.sign(step[1:]) * np.sign(step[:-1]) < 0).any(1)
        assert flips.sum() >= 1  # 100 frames at >= 2 px/frame over a 36 px box must hit a wall


def test_reflect_is_a_mirror():
    p = np.array([-3.0, 0.0, 5.0, 36.0, 40.0, 72.0, 75.0])
    np.testing.assert_allclose(motion.reflect(p, 36), [3, 0, 5, 36, 32, 0, 3])


def test_circular_keeps_a_constant_radius():
    pos = motion.circular(np.random.default_rng(3), 400, 36)
    centre = pos.mean(axis=0)
    radius = np.hypot(*(pos - centre).T)
    assert radius.std() < 0.05 * radius.mean()


def test_linear_is_nearly_straight():
    pos = motion.linear(np.random.default_rng(5), 30, 36)
    start, end = pos[0], pos[-1]
    direction = (end - start) / np.linalg.norm(end - start)
    offsets = (pos - start) @ np.array([-direction[1], direction[0]])
    assert np.abs(offsets).max() < 3.0  # only jitter off the line
    assert np.linalg.norm(end - start) >= 36 / 2 - 3


def test_classic_procedure_statistics():
    """Srivastava/OpenSTL procedure: 0.1 of the travel per step (3.6 px on 64/28), clamped at walls."""
    steps = []
    for seed in range(200):
        pos = motion.classic(np.random.default_rng(seed), 20, 36).astype(float)
        d = np.hypot(*np.diff(pos, axis=0).T)
        inside = ((pos[1:] > 0) & (pos[1:] < 36)).all(1) & ((pos[:-1] > 0) & (pos[:-1] < 36)).all(1)
        steps.append(d[inside])
    steps = np.concatenate(steps)
    assert abs(np.median(steps) - 3.6) < 0.6  # truncation to int blurs the exact 3.6
    assert 3.0 < steps.mean() < 4.2


def test_register_a_new_motion_model():
    @register_motion("test_static")
    def static(rng, num_frames, travel):
        return np.full((num_frames, 2), travel / 2)

    try:
        pos = trajectory("test_static", np.random.default_rng(0), 5, 36)
        assert (pos == 18).all()
        assert "test_static" in motion.motion_names()
        with pytest.raises(ValueError, match="already registered"):
            register_motion("test_static")(static)
    finally:
        del MOTIONS["test_static"]


def test_unknown_motion_names_the_choices():
    with pytest.raises(ValueError, match="unknown motion type 'zigzag'.*bounce"):
        trajectory("zigzag", np.random.default_rng(0), 5, 36)
