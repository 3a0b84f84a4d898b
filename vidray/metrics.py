"""Frame-prediction metrics for videos ``[B, T, C, H, W]`` in [0, 1], in OpenSTL's units.

``mse``/``mae`` follow OpenSTL: summed over pixels (C, H, W), averaged over frames and batch, so
for 64x64x1 Moving MNIST ``mse = 4096 * mse_per_pixel``. Every metric returns a float32 0-dim
tensor (``.item()`` for logging) and computes in float32 whatever the input dtype.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def _pair(pred: torch.Tensor, true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.shape != true.shape or pred.dim() != 5:
        raise ValueError(f"pred {tuple(pred.shape)} and true {tuple(true.shape)}: need equal [B, T, C, H, W]")
    return pred.float(), true.float()


def mse(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """OpenSTL MSE: squared error summed over (C, H, W), mean over (B, T)."""
    pred, true = _pair(pred, true)
    return (pred - true).pow(2).sum(dim=(2, 3, 4)).mean()


def mae(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """OpenSTL MAE: absolute error summed over (C, H, W), mean over (B, T)."""
    pred, true = _pair(pred, true)
    return (pred - true).abs().sum(dim=(2, 3, 4)).mean()


def mse_per_pixel(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element (= ``mse / (C*H*W)``)."""
    pred, true = _pair(pred, true)
    return (pred - true).pow(2).mean()


def mae_per_pixel(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element (= ``mae / (C*H*W)``)."""
    pred, true = _pair(pred, true)
    return (pred - true).abs().mean()


def psnr(pred: torch.Tensor, true: torch.Tensor, data_range: float = 1.0, max_db: float | None = None) -> torch.Tensor:
    """PSNR in dB of each frame, averaged over (B, T) (OpenSTL's per-frame average).

    A frame identical to its target has infinite PSNR, so the mean is ``inf`` as in OpenSTL;
    pass ``max_db`` (e.g. 100) to cap each frame and always get a finite mean.
    """
    pred, true = _pair(pred, true)
    frame_mse = (pred - true).pow(2).mean(dim=(2, 3, 4))
    frame_psnr = 10.0 * torch.log10(data_range**2 / frame_mse)  # 1/0 -> inf
    if max_db is not None:
        frame_psnr = frame_psnr.clamp(max=max_db)
    return frame_psnr.mean()


def gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian ``[size]`` (scipy/skimage: radius ``int(3.5*sigma + 0.5)`` -> 11 for 1.5)."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(pred: torch.Tensor, true: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM over frames and channels, Gaussian window 11 / sigma 1.5 (Wang et al. 2004).

    Matches ``skimage.metrics.structural_similarity(p, t, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0, channel_axis=...)`` per frame: skimage averages
    the SSIM map without its 5-pixel border, which is exactly the 'valid' convolution used here.
    Frames must be at least 11x11.
    """
    pred, true = _pair(pred, true)
    size = 2 * int(3.5 * sigma + 0.5) + 1
    b, t, c, height, width = pred.shape
    if height < size or width < size:
        raise ValueError(f"ssim: frames {height}x{width} are smaller than the {size}x{size} window")
    w = gaussian_window(size, sigma, pred.device)
    kernel_h, kernel_w = w.view(1, 1, size, 1), w.view(1, 1, 1, size)

    def blur(x: torch.Tensor) -> torch.Tensor:  # separable 'valid' Gaussian filter on [N, 1, H, W]
        return F.conv2d(F.conv2d(x, kernel_h), kernel_w)

    x = pred.reshape(-1, 1, height, width)
    y = true.reshape(-1, 1, height, width)
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


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse,
    "mae": mae,
    "mse_per_pixel": mse_per_pixel,
    "mae_per_pixel": mae_per_pixel,
    "psnr": psnr,
    "ssim": ssim,
    "temporal_consistency": temporal_consistency,
}


def evaluate(pred: torch.Tensor, true: torch.Tensor, names: list[str] | None = None) -> dict[str, float]:
    """``{name: float}`` for the metrics in ``names`` (default: all of ``METRICS``, without
    temporal_consistency for single frames); ``pred`` is clamped to [0, 1] first."""
    pred = pred.detach().clamp(0, 1)
    true = true.detach()
    if names is None:
        names = [n for n in METRICS if n != "temporal_consistency" or pred.shape[1] > 1]
    return {name: float(METRICS[name](pred, true)) for name in names}

