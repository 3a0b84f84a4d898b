"""Frame-prediction metrics for videos ``[B, T, C, H, W]`` in [0, 1], with OpenSTL's exact definitions.

The ``openstl_*`` metrics are those of OpenSTL's ``openstl/core/metrics.py`` (the numbers its
Moving MNIST tables report): MSE/MAE on the raw prediction, summed over pixels (C, H, W) and
averaged over frames and samples (so for 64x64x1 ``openstl_mse = 4096 * mse_per_pixel``); PSNR
and SSIM on the prediction clipped to [0, 1], per frame, SSIM as scikit-image <= 0.19 computes it
for OpenSTL's call. Other variants carry other names (``ssim_gaussian``, ``psnr``). Every metric
returns a 0-dim tensor (``float(...)`` for logging), computed in float64 whatever the input dtype.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn.functional as F

# scikit-image <= 0.19 structural_similarity as OpenSTL calls it (`cal_ssim(p, t, multichannel=True)` on
# float frames): 7x7 uniform window (win_size default without gaussian_weights), data_range 2 (the float
# dtype range [-1, 1]), sample covariance (use_sample_covariance=True), K1 0.01, K2 0.03, the map's
# 3-px border dropped, channels averaged.
OPENSTL_SSIM_WINDOW = 7
OPENSTL_SSIM_DATA_RANGE = 2.0


def _pair(pred: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.shape != true.shape or pred.dim() != 5:
        raise ValueError(f"pred {tuple(pred.shape)} and true {tuple(true.shape)}: need equal [B, T, C, H, W]")
    return pred.double(), true.double()


def openstl_mse(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """OpenSTL MSE: squared error of the raw (unclipped) prediction summed over (C, H, W), mean over (B, T)."""
    pred, true = _pair(pred, true)
    return (pred - true).pow(2).sum(dim=(2, 3, 4)).mean()


def openstl_mae(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """OpenSTL MAE: absolute error of the raw prediction summed over (C, H, W), mean over (B, T)."""
    pred, true = _pair(pred, true)
    return (pred - true).abs().sum(dim=(2, 3, 4)).mean()


def mse_per_pixel(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the raw prediction over every element (= ``openstl_mse / (C*H*W)``)."""
    pred, true = _pair(pred, true)
    return (pred - true).pow(2).mean()


def mae_per_pixel(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of the raw prediction over every element (= ``openstl_mae / (C*H*W)``)."""
    pred, true = _pair(pred, true)
    return (pred - true).abs().mean()


def psnr(pred: torch.Tensor, true: torch.Tensor, data_range: float = 1.0, max_db: float | None = None) -> torch.Tensor:
    """PSNR in dB of each frame (MSE over C, H, W), averaged over (B, T); no clipping.

    A frame identical to its target has infinite PSNR, so the mean is ``inf`` (as in OpenSTL);
    pass ``max_db`` (e.g. 100) to cap each frame and always get a finite mean.
    """
    pred, true = _pair(pred, true)
    frame_mse = (pred - true).pow(2).mean(dim=(2, 3, 4))
    frame_psnr = 10.0 * torch.log10(data_range**2 / frame_mse)  # 1/0 -> inf
    if max_db is not None:
        frame_psnr = frame_psnr.clamp(max=max_db)
    return frame_psnr.mean()


def openstl_psnr(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """OpenSTL PSNR: ``-10 log10(frame MSE)`` of the prediction clipped to [0, 1], mean over (B, T); inf
    if any frame is exact."""
    return psnr(pred.clamp(0, 1), true)


def openstl_ssim(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """OpenSTL SSIM: scikit-image <= 0.19 ``structural_similarity`` of each frame of the prediction clipped to
    [0, 1] (7x7 uniform window, data_range 2, sample covariance, channels averaged), mean over (B, T).
    Frames must be at least 7x7."""
    pred, true = _pair(pred.clamp(0, 1), true)
    size = OPENSTL_SSIM_WINDOW
    height, width = pred.shape[-2:]
    if height < size or width < size:
        raise ValueError(f"openstl_ssim: frames {height}x{width} are smaller than the {size}x{size} window")
    x, y = pred.reshape(-1, 1, height, width), true.reshape(-1, 1, height, width)

    def box(v: torch.Tensor) -> torch.Tensor:  # 7x7 mean over the 'valid' positions = skimage's cropped map
        return F.avg_pool2d(v, size, stride=1)

    cov_norm = size * size / (size * size - 1)
    mu_x, mu_y = box(x), box(y)
    var_x = cov_norm * (box(x * x) - mu_x * mu_x)
    var_y = cov_norm * (box(y * y) - mu_y * mu_y)
    cov = cov_norm * (box(x * y) - mu_x * mu_y)
    c1, c2 = (0.01 * OPENSTL_SSIM_DATA_RANGE) ** 2, (0.03 * OPENSTL_SSIM_DATA_RANGE) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()  # equal-size maps: the mean of the per-channel, per-frame means


def gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian ``[size]`` float64 (scipy/skimage: radius ``int(3.5*sigma + 0.5)`` -> 11 for 1.5)."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim_gaussian(pred: torch.Tensor, true: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM over frames and channels with the Gaussian window 11 / sigma 1.5 of Wang et al. 2004 (not
    OpenSTL's: see :func:`openstl_ssim`); no clipping.

    Matches ``skimage.metrics.structural_similarity(p, t, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0, channel_axis=...)`` per frame. Frames must be at least 11x11.
    """
    pred, true = _pair(pred, true)
    size = 2 * int(3.5 * sigma + 0.5) + 1
    height, width = pred.shape[-2:]
    if height < size or width < size:
        raise ValueError(f"ssim_gaussian: frames {height}x{width} are smaller than the {size}x{size} window")
    w = gaussian_window(size, sigma, pred.device)
    kernel_h, kernel_w = w.view(1, 1, size, 1), w.view(1, 1, 1, size)

    def blur(v: torch.Tensor) -> torch.Tensor:  # separable 'valid' Gaussian filter on [N, 1, H, W]
        return F.conv2d(F.conv2d(v, kernel_h), kernel_w)

    x, y = pred.reshape(-1, 1, height, width), true.reshape(-1, 1, height, width)
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


def temporal_consistency(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per-pixel MSE between predicted and true frame differences, ``mean((dP - dT)**2)`` with
    ``dX = X[:, 1:] - X[:, :-1]``: 0 when the predicted motion matches; flicker and frozen
    motion raise it. Needs T >= 2."""
    pred, true = _pair(pred, true)
    if pred.shape[1] < 2:
        raise ValueError("temporal_consistency: need at least 2 frames")
    return ((pred[:, 1:] - pred[:, :-1]) - (true[:, 1:] - true[:, :-1])).pow(2).mean()


def copy_last_frame(inputs: torch.Tensor, horizon: int) -> torch.Tensor:
    """The copy-last-frame baseline: ``[B, T_in, C, H, W]`` -> the last frame repeated, ``[B, horizon, C, H, W]``."""
    return inputs[:, -1:].repeat(1, horizon, 1, 1, 1)


def all_black(inputs: torch.Tensor, horizon: int) -> torch.Tensor:
    """The all-black baseline: zeros ``[B, horizon, C, H, W]``. On Moving MNIST (mostly black) it scores a
    lower MSE than copy-last-frame, so a predictor must beat both."""
    return inputs.new_zeros(inputs.shape[0], horizon, *inputs.shape[2:])


Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
METRICS: dict[str, Metric] = {
    "openstl_mse": openstl_mse,
    "openstl_mae": openstl_mae,
    "openstl_ssim": openstl_ssim,
    "openstl_psnr": openstl_psnr,
    "mse_per_pixel": mse_per_pixel,
    "mae_per_pixel": mae_per_pixel,
    "temporal_consistency": temporal_consistency,
}


def evaluate(pred: torch.Tensor, true: torch.Tensor, names: list[str] | None = None,
             extra: Mapping[str, Metric] | None = None) -> dict[str, float]:
    """``{name: float}`` for the metrics in ``names`` (default: all of ``METRICS``, without
    temporal_consistency for single frames) and the ``extra`` ones (e.g. ``{"lpips_vgg": LPIPS()}``).
    Each metric clips or not as its definition says (OpenSTL: errors raw, PSNR/SSIM clipped)."""
    pred, true = pred.detach(), true.detach()
    if names is None:
        names = [n for n in METRICS if n != "temporal_consistency" or pred.shape[1] > 1]
    functions = {name: METRICS[name] for name in names} | dict(extra or {})
    return {name: float(fn(pred, true)) for name, fn in functions.items()}
