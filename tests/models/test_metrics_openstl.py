"""vidray's ``openstl_*`` metrics against OpenSTL's formulas (openstl/core/metrics.py, restated here in numpy)
on shared random arrays, SSIM against scikit-image with the settings its 0.19 defaults gave OpenSTL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from vidray import metrics


def openstl_reference(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """OpenSTL's ``metric(pred, true, metrics=['mse', 'mae', 'ssim', 'psnr'])`` on ``[B, T, C, H, W]`` arrays."""
    out = {"openstl_mse": np.mean((pred - true) ** 2, axis=(0, 1)).sum(),  # MSE/MAE before the clip
           "openstl_mae": np.mean(np.abs(pred - true), axis=(0, 1)).sum()}
    pred = np.minimum(np.maximum(pred, 0), 1)
    ssim = psnr = 0.0
    for b in range(pred.shape[0]):
        for f in range(pred.shape[1]):
            # skimage <= 0.19 `cal_ssim(p, t, multichannel=True)` on floats: win_size 7, data_range from the
            # float dtype range (-1, 1) = 2, use_sample_covariance=True; 0.26 needs them spelled out
            ssim += structural_similarity(pred[b, f].swapaxes(0, 2), true[b, f].swapaxes(0, 2), win_size=7,
                                          data_range=2.0, use_sample_covariance=True, channel_axis=-1)
            mse = np.mean((pred[b, f].astype(np.float32) - true[b, f].astype(np.float32)) ** 2)
            psnr += float("inf") if mse == 0 else 20.0 * np.log10(1.0 / np.sqrt(mse))
    frames = pred.shape[0] * pred.shape[1]
    return {**out, "openstl_ssim": ssim / frames, "openstl_psnr": psnr / frames}


@pytest.mark.parametrize("channels", [1, 3])
def test_openstl_metrics_match_openstls_formulas(channels):
    rng = np.random.default_rng(channels)
    true = rng.random((2, 3, channels, 20, 24))
    # raw predictions overshoot [0, 1] (as an unclamped network does), so the clip matters
    pred = np.clip(true + rng.normal(0, 0.3, true.shape), -0.5, 1.5)
    ref = openstl_reference(pred, true)
    ours = metrics.evaluate(torch.from_numpy(pred), torch.from_numpy(true), names=list(ref))
    for name, value in ref.items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    clipped = metrics.openstl_mse(torch.from_numpy(pred).clamp(0, 1), torch.from_numpy(true))
    assert ours["openstl_mse"] > float(clipped) * 1.2  # the raw error, not the clipped one


def test_openstl_ssim_of_a_blurred_digit_frame(mm_clip):
    """A structured case beside the noise: blurred Moving MNIST frames (float32 input, as OpenSTL's)."""
    true = mm_clip[:1, 8:12]
    blurred = torch.nn.functional.avg_pool2d(true.flatten(0, 1), 3, 1, 1).view_as(true)
    ref = openstl_reference(blurred.numpy().astype(np.float64), true.numpy().astype(np.float64))
    assert float(metrics.openstl_ssim(blurred, true)) == pytest.approx(ref["openstl_ssim"], rel=1e-6)
    assert float(metrics.openstl_ssim(blurred, true)) > float(metrics.ssim_gaussian(blurred, true))
