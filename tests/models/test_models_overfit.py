"""Each model (tiny preset) memorises one small batch: the loss falls by a large factor in a few hundred steps."""

from __future__ import annotations

import cv2
import pytest
import torch
import torch.nn.functional as F

from vidray import models


def fit(model: torch.nn.Module, predict, target: torch.Tensor, steps: int, lr: float) -> tuple[float, float]:
    """Adam on MSE for ``steps`` steps; returns (first loss, last loss)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        loss = F.mse_loss(predict(), target)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return first, float(F.mse_loss(predict(), target))


@pytest.mark.parametrize("name,kwargs", [
    ("convlstm", {}),
    ("vit_predictor", {"image_size": 32}),
])
def test_predictor_overfits_one_clip(name, kwargs, mm_small):
    torch.manual_seed(0)
    x, y = mm_small[:, :4], mm_small[:, 4:]
    model = models.build(name, "tiny", in_frames=4, out_frames=4, **kwargs)
    first, last = fit(model, lambda: model(x), y, steps=200, lr=3e-3)
    baseline = float(F.mse_loss(x[:, -1:].expand_as(y), y))  # copy-last-frame
    assert last < first / 10
    assert last < 0.25 * baseline, (first, last, baseline)


def test_keyframe_autoencoder_overfits_keyframes(mm_small):
    torch.manual_seed(0)
    model = models.build("keyframe_ae", "tiny")
    first, last = fit(model, lambda: model(mm_small), mm_small, steps=300, lr=1e-2)
    assert last < first / 10
    assert last < 0.1 * float(mm_small.var()), (first, last)


def test_interpolator_overfits_middle_frames(mm_small):
    torch.manual_seed(0)
    frames = mm_small[0]  # [8, 1, 32, 32]: interpolate t=1,3,5 from (0,2), (2,4), (4,6)
    f0, f1, mid = frames[0:6:2], frames[2:8:2], frames[1:7:2]
    model = models.build("interpolator", "tiny")
    first, last = fit(model, lambda: model(f0, f1, 0.5), mid, steps=200, lr=3e-3)
    blend = float(F.mse_loss(0.5 * (f0 + f1), mid))
    assert first == pytest.approx(blend, rel=0.1)  # starts at the plain blend
    assert last < first / 5 and last < 0.2 * blend, (first, last, blend)


def test_vsr_overfits_a_real_image_patch(astronaut):
    torch.manual_seed(0)
    image = cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA)
    image = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    crops = torch.stack([torch.roll(image, k, dims=2)[:, 12:60, 12:60] for k in range(-2, 3)])  # 5 x [3, 48, 48]
    gt = crops[2:3]
    lr = F.interpolate(crops, scale_factor=1 / 3, mode="area").unsqueeze(0)  # [1, 5, 3, 16, 16]
    model = models.build("vsr", "tiny")
    first, last = fit(model, lambda: model(lr), gt, steps=150, lr=1e-2)
    bicubic = float(F.mse_loss(models.bicubic_upsample(lr), gt))
    assert first == pytest.approx(bicubic, rel=0.05)
    assert last < bicubic / 10, (first, last, bicubic)
