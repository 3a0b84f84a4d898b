"""Every registered model: output shapes, gradients to every parameter, registry and presets."""

from __future__ import annotations

import pytest
import torch

from vidray import models
from vidray.errors import VidrayError


def run_model(name: str, model: torch.nn.Module, batch: int = 2):
    """(inputs, output) of one forward pass of ``model`` on random inputs of its documented shape."""
    g = torch.Generator().manual_seed(0)
    if name in ("convlstm", "vit_predictor"):
        x = torch.rand(batch, 10, 1, 64, 64, generator=g)
        return x, model(x)
    if name == "keyframe_ae":
        x = torch.rand(batch, 3, 1, 64, 64, generator=g)
        return x, model(x)
    if name == "interpolator":
        f0, f1 = torch.rand(2, batch, 1, 64, 64, generator=g)
        t = torch.tensor([0.25, 0.5][:batch])
        return (f0, f1, t), model(f0, f1, t)
    if name == "vsr":
        lr = torch.rand(batch, 5, 3, 20, 28, generator=g)
        return lr, model(lr)
    raise AssertionError(f"test does not know model {name}")


EXPECTED = {
    "convlstm": (2, 10, 1, 64, 64),
    "vit_predictor": (2, 10, 1, 64, 64),
    "keyframe_ae": (2, 3, 1, 64, 64),
    "interpolator": (2, 1, 64, 64),
    "vsr": (2, 3, 60, 84),
}


def test_registry_lists_every_model_with_tiny_and_base_presets():
    assert models.names() == sorted(EXPECTED)
    for name in models.names():
        assert {"tiny", "base"} <= set(models.presets(name))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_and_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = models.build(name, preset="tiny")
    _, out = run_model(name, model)
    assert tuple(out.shape) == EXPECTED[name]
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"{name}: no gradient reaches {missing}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_presets_grow_and_build_with_overrides(name):
    counts = [models.param_count(models.build(name, preset)) for preset in ("tiny", "base")]
    assert 0 < counts[0] < counts[1]
    frozen = models.build(name, "tiny")
    for p in list(frozen.parameters())[:1]:
        p.requires_grad_(False)
    assert models.param_count(frozen, trainable_only=True) < models.param_count(frozen)


@pytest.mark.parametrize("name", ["convlstm", "vit_predictor"])
def test_predictors_roll_out_longer_horizons_and_other_lengths(name):
    model = models.build(name, "tiny", in_frames=4, out_frames=3).eval()
    x = torch.rand(1, 4, 1, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (1, 3, 1, 64, 64)
        long = model(x, horizon=8)
        assert long.shape == (1, 8, 1, 64, 64)
        # autoregressive: the first frames of a long rollout equal the short prediction
        torch.testing.assert_close(long[:, :3], model(x), rtol=1e-4, atol=1e-5)


def test_vit_rollout_feeds_its_own_predictions_back():
    model = models.build("vit_predictor", "tiny", in_frames=4, out_frames=2).eval()
    x = torch.rand(1, 4, 1, 64, 64)
    with torch.no_grad():
        first = model(x)
        second_block = model.predict_block(torch.cat([x, first], dim=1)[:, -4:])
        torch.testing.assert_close(model(x, horizon=4)[:, 2:], second_block)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bf16_autocast_forward_runs(name):
    model = models.build(name, "tiny")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, out = run_model(name, model, batch=1)
    assert torch.isfinite(out.float()).all()


def test_vsr_starts_at_the_bicubic_baseline():
    lr = torch.rand(2, 5, 3, 16, 16)
    out = models.build("vsr", "tiny")(lr)
    base = models.bicubic_upsample(lr)
    assert base.shape == out.shape == (2, 3, 48, 48)
    assert (out - base).abs().max() < 0.05
    torch.testing.assert_close(models.bicubic_upsample(lr[:, 2]), base)


def test_unknown_model_or_preset_names_the_valid_ones():
    with pytest.raises(VidrayError, match="convlstm"):
        models.build("convlstmm")
    with pytest.raises(VidrayError, match="tiny"):
        models.build("convlstm", preset="huge")
    with pytest.raises(TypeError):
        models.build("convlstm", preset="tiny", no_such_argument=1)


def test_bad_input_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\[B, T, C, H, W\]"):
        models.build("convlstm", "tiny")(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="divisible"):
        models.build("convlstm", "tiny")(torch.rand(1, 10, 1, 30, 30))
    with pytest.raises(ValueError, match="expected"):
        models.build("vit_predictor", "tiny")(torch.rand(1, 10, 1, 32, 32))
    with pytest.raises(ValueError, match="5 frames"):
        models.build("vsr", "tiny")(torch.rand(1, 3, 3, 16, 16))


@pytest.mark.parametrize("name", ["vit_predictor", "keyframe_ae", "interpolator", "vsr"])
def test_torch_compile_traces_the_whole_forward(name):
    """Dynamo captures one graph (no graph breaks); the eager backend keeps it fast. ConvLSTM also
    traces fullgraph (checked by hand: its 19-step unrolled loop takes ~20 s to trace here)."""
    model = models.build(name, "tiny").eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.manual_seed(1)
    with torch.no_grad():
        inputs, out = run_model(name, model, batch=1)
        again = compiled(*inputs) if isinstance(inputs, tuple) else compiled(inputs)
    torch.testing.assert_close(again, out)
