"""Metrics on inputs with known answers, the Gaussian SSIM against scikit-image, the trivial baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from vidray import metrics


def test_identical_frames_give_zero_error_and_infinite_psnr():
    x = torch.rand(2, 3, 1, 16, 16)
    for fn in (metrics.openstl_mse, metrics.openstl_mae, metrics.mse_per_pixel, metrics.mae_per_pixel,
               metrics.temporal_consistency):
        assert float(fn(x, x)) == 0.0
    assert math.isinf(float(metrics.psnr(x, x))) and math.isinf(float(metrics.openstl_psnr(x, x)))
    assert float(metrics.psnr(x, x, max_db=100.0)) == 100.0
    assert float(metrics.ssim_gaussian(x, x)) == pytest.approx(1.0, abs=1e-6)
    assert float(metrics.openstl_ssim(x, x)) == pytest.approx(1.0, abs=1e-12)


def test_known_shift_gives_known_openstl_mse_and_mae():
    # a 2-px-wide white vertical bar on black, 64x64, moved by 3 px: 2 bars x 64 rows differ per frame
    true = torch.zeros(2, 4, 1, 64, 64)
    true[..., 10:12] = 1.0
    pred = torch.roll(true, 3, dims=-1)
    assert float(metrics.openstl_mse(pred, true)) == pytest.approx(256.0)  # summed over pixels, per frame
    assert float(metrics.openstl_mae(pred, true)) == pytest.approx(256.0)
    assert float(metrics.mse_per_pixel(pred, true)) == pytest.approx(256.0 / 4096)
    assert float(metrics.openstl_psnr(pred, true)) == pytest.approx(10 * math.log10(4096 / 256))


def test_openstl_units_average_over_frames_and_batch():
    true = torch.zeros(2, 2, 1, 8, 8)
    pred = true.clone()
    pred[0, 0] = 0.5  # one frame of four is off by 0.5 everywhere: 64 * 0.25 = 16
    assert float(metrics.openstl_mse(pred, true)) == pytest.approx(16 / 4)
    assert float(metrics.openstl_mae(pred, true)) == pytest.approx(32 / 4)
    # PSNR is averaged per frame: one finite frame and three perfect ones -> inf unless capped
    assert math.isinf(float(metrics.psnr(pred, true)))
    capped = float(metrics.psnr(pred, true, max_db=100.0))
    assert capped == pytest.approx((10 * math.log10(1 / 0.25) + 300) / 4)


def test_gaussian_ssim_matches_scikit_image(mm_clip):
    g = torch.Generator().manual_seed(0)
    true = mm_clip[:, 8:12]
    noisy = (true + 0.1 * torch.randn(true.shape, generator=g)).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(true.flatten(0, 1), 3, 1, 1).view_as(true)
    for pred in (noisy, blurred, torch.roll(true, 2, dims=-1)):
        ours = float(metrics.ssim_gaussian(pred, true))
        ref = np.mean([
            structural_similarity(p[0].numpy(), t[0].numpy(), data_range=1.0, gaussian_weights=True,
                                  sigma=1.5, use_sample_covariance=False)
            for p, t in zip(pred.flatten(0, 1), true.flatten(0, 1))
        ])
        assert ours == pytest.approx(ref, abs=1e-6)
        assert ours < 0.99


def test_gaussian_ssim_matches_scikit_image_on_rgb(astronaut):
    img = torch.from_numpy(astronaut[::8, ::8].copy()).permute(2, 0, 1).float() / 255  # [3, 64, 64]
    pred = (img + 0.05 * torch.randn(img.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    ref = structural_similarity(pred.permute(1, 2, 0).numpy(), img.permute(1, 2, 0).numpy(), data_range=1.0,
                                channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert float(metrics.ssim_gaussian(pred[None, None], img[None, None])) == pytest.approx(ref, abs=1e-6)


def test_temporal_consistency_is_zero_for_right_motion_and_positive_for_frozen_motion():
    # truth: a bar moving 1 px per frame; right motion with a constant offset vs frozen at the middle frame
    true = torch.zeros(1, 6, 1, 16, 16)
    for t in range(6):
        true[0, t, 0, :, 4 + t] = 0.8
    moving = true + 0.1
    frozen = true[:, 3:4].repeat(1, 6, 1, 1, 1)
    assert float(metrics.temporal_consistency(moving, true)) < 1e-6
    assert float(metrics.temporal_consistency(frozen, true)) > 0.01
    with pytest.raises(ValueError):
        metrics.temporal_consistency(true[:, :1], true[:, :1])


def test_trivial_baselines_on_moving_mnist(mm_clip):
    inputs, future = mm_clip[:, :10], mm_clip[:, 10:]
    base = metrics.copy_last_frame(inputs, future.shape[1])
    black = metrics.all_black(inputs, future.shape[1])
    assert base.shape == black.shape == future.shape
    assert torch.equal(base[:, 3], inputs[:, -1]) and not black.any()
    copy_mse, black_mse = float(metrics.openstl_mse(base, future)), float(metrics.openstl_mse(black, future))
    # digits move 3.6 px/frame: copying the last frame misplaces both digits, so on mostly-black frames
    # it scores a worse MSE than predicting nothing at all (the issue measured ~287 vs ~176)
    assert 50 < black_mse < copy_mse
    assert float(metrics.openstl_ssim(black, future)) > 0.5  # black windows on black background score 1


def test_evaluate_returns_floats_and_clips_only_where_openstl_does():
    true = torch.rand(1, 3, 1, 16, 16)
    values = metrics.evaluate(true + 5.0, true)
    assert set(values) == set(metrics.METRICS)
    assert all(isinstance(v, float) for v in values.values())
    # errors on the raw prediction, PSNR/SSIM on the prediction clipped to [0, 1]
    assert values["mse_per_pixel"] == pytest.approx(25.0, rel=1e-6)
    assert values["openstl_mse"] == pytest.approx(25.0 * 256, rel=1e-6)
    assert values["openstl_psnr"] == pytest.approx(float(metrics.psnr(torch.ones_like(true), true)), rel=1e-9)
    assert "temporal_consistency" not in metrics.evaluate(true[:, :1], true[:, :1])
    assert metrics.evaluate(true, true, names=["openstl_mse"], extra={"zero": lambda p, t: (p - t).sum()}) == {
        "openstl_mse": 0.0, "zero": 0.0}


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="B, T, C, H, W"):
        metrics.openstl_mse(torch.rand(1, 2, 1, 8, 8), torch.rand(1, 3, 1, 8, 8))
    with pytest.raises(ValueError, match="window"):
        metrics.ssim_gaussian(torch.rand(1, 1, 1, 8, 8), torch.rand(1, 1, 1, 8, 8))
    with pytest.raises(ValueError, match="window"):
        metrics.openstl_ssim(torch.rand(1, 1, 1, 6, 6), torch.rand(1, 1, 1, 6, 6))
