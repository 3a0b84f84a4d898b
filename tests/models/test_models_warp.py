"""Flow warping and keyframe reconstruction: zero flow = identity, a constant flow = a known shift."""

from __future__ import annotations

import pytest
import torch

from vidray import models
from vidray.models.keyframe import intermediate_flows, keyframe_indices


def test_zero_flow_is_the_identity():
    image = torch.rand(2, 3, 17, 23)
    out = models.warp(image, torch.zeros(2, 2, 17, 23))
    torch.testing.assert_close(out, image, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dx,dy", [(3, 0), (0, -2), (5, 4)])
def test_integer_flow_moves_the_image_by_that_shift(dx, dy):
    image = torch.rand(1, 1, 32, 40)
    flow = torch.empty(1, 2, 32, 40)
    flow[:, 0], flow[:, 1] = -dx, -dy  # backward warp: out(y, x) = image(y - dy, x - dx)
    out = models.warp(image, flow)
    shifted = torch.roll(image, shifts=(dy, dx), dims=(2, 3))
    inner = (slice(None), slice(None), slice(max(dy, 0), 32 + min(dy, 0)), slice(max(dx, 0), 40 + min(dx, 0)))
    torch.testing.assert_close(out[inner], shifted[inner], rtol=0, atol=1e-5)


def test_half_pixel_flow_averages_neighbours():
    image = torch.arange(8.0).view(1, 1, 1, 8).repeat(1, 1, 4, 1)
    flow = torch.zeros(1, 2, 4, 8)
    flow[:, 0] = 0.5
    out = models.warp(image, flow)
    torch.testing.assert_close(out[0, 0, 0, :7], torch.arange(7.0) + 0.5)


def test_intermediate_flows_of_linear_motion():
    # an object moving +4 px in x from frame 0 to 1: flow_01 = +4, flow_10 = -4
    flow_01 = torch.zeros(1, 2, 4, 4)
    flow_01[:, 0] = 4.0
    flow_t0, flow_t1 = intermediate_flows(flow_01, -flow_01, torch.full((1, 1, 1, 1), 0.25))
    torch.testing.assert_close(flow_t0[:, 0], torch.full((1, 4, 4), -1.0))  # back 1 px to frame 0
    torch.testing.assert_close(flow_t1[:, 0], torch.full((1, 4, 4), 3.0))  # on 3 px to frame 1


def test_keyframe_indices_cover_the_tail():
    assert keyframe_indices(10, 4) == [0, 4, 8, 9]
    assert keyframe_indices(9, 4) == [0, 4, 8]
    assert keyframe_indices(1, 3) == [0]
    with pytest.raises(ValueError):
        keyframe_indices(5, 0)


def test_reconstruct_keeps_keyframes_and_interpolates_between(mm_clip):
    video = mm_clip[:, :9]
    interp = models.build("interpolator", "tiny").eval()
    with torch.no_grad():
        out = models.reconstruct_from_keyframes(video, 4, interp)
        mid = interp(video[:, 0], video[:, 4], 0.25).clamp(0, 1)
        ae = models.build("keyframe_ae", "tiny").eval()
        with_ae = models.reconstruct_from_keyframes(video, 4, interp, ae)
    assert out.shape == with_ae.shape == video.shape
    for k in (0, 4, 8):  # keyframes are exact without an autoencoder
        torch.testing.assert_close(out[:, k], video[:, k])
    torch.testing.assert_close(out[:, 1], mid, rtol=1e-4, atol=1e-5)
    # untrained interpolator ~ blends the keyframes with weights (1 - t, t)
    blend = 0.75 * video[:, 0] + 0.25 * video[:, 4]
    assert (out[:, 1] - blend).abs().max() < 0.05
    assert 0.0 <= float(with_ae.min()) and float(with_ae.max()) <= 1.0
