"""ConvLSTM's OpenSTL switches (no gate norm, no forget bias, no biases) and its teacher-forced rollout."""

from __future__ import annotations

import torch
from torch import nn

from vidray.models import build
from vidray.models.convlstm import ConvLSTMCell

OPENSTL = dict(layer_norm=False, forget_bias=0.0, gate_bias=False, head_bias=False)


def test_openstl_switches_remove_the_norm_and_every_bias():
    model = build("convlstm", "tiny", **OPENSTL)
    assert not any(isinstance(m, nn.GroupNorm) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2 * len(model.cells) + 1 and all(c.bias is None for c in convs)
    assert model.head.bias is None
    with torch.no_grad():  # no bias anywhere: a black clip stays exactly black
        assert model(torch.zeros(1, 10, 1, 64, 64)).abs().max() == 0


def test_defaults_keep_vidray_cell_and_checkpoint_keys():
    model = build("convlstm", "tiny")
    keys = set(model.state_dict())
    assert any(isinstance(m, nn.GroupNorm) for m in model.modules())
    assert {"head.bias", "cells.0.norm_x.weight", "cells.0.conv_x.weight"} <= keys
    assert "cells.0.conv_x.bias" not in keys  # the norm's shift stands in for it, as before
    assert build("convlstm", "tiny", layer_norm=False).cells[0].conv_x.bias is not None


def test_forget_gate_has_no_plus_one_when_switched_off():
    c = torch.ones(1, 4, 5, 5)
    for forget_bias, kept in ((1.0, torch.sigmoid(torch.tensor(1.0))), (0.0, torch.tensor(0.5))):
        cell = ConvLSTMCell(2, 4, 3, norm=False, forget_bias=forget_bias, bias=False)
        for conv in (cell.conv_x, cell.conv_h):
            nn.init.zeros_(conv.weight)  # every gate pre-activation 0: c' = sigmoid(0 + forget_bias) * c
        _, c_new = cell(torch.rand(1, 2, 5, 5), torch.rand(1, 4, 5, 5), c)
        torch.testing.assert_close(c_new, kept.expand_as(c_new))


def test_feeding_no_truth_is_the_plain_rollout_and_all_outputs_end_with_it():
    torch.manual_seed(0)
    model = build("convlstm", "tiny", **OPENSTL).eval()
    x, y = torch.rand(2, 10, 1, 64, 64), torch.rand(2, 10, 1, 64, 64)
    context_only = torch.cat([torch.ones(2, 9), torch.zeros(2, 9)], dim=1)
    with torch.no_grad():
        plain = model(x)
        fed = model(x, future=y, feed_mask=context_only)
        every = model(x, future=y, feed_mask=context_only, all_outputs=True)
    torch.testing.assert_close(fed, plain)
    assert every.shape == (2, 19, 1, 64, 64)
    torch.testing.assert_close(every[:, -10:], plain)


def test_feeding_all_truth_gives_one_step_ahead_predictions():
    torch.manual_seed(0)
    model = build("convlstm", "tiny", **OPENSTL).eval()
    x, y = torch.rand(1, 10, 1, 64, 64), torch.rand(1, 10, 1, 64, 64)
    with torch.no_grad():
        every = model(x, future=y, feed_mask=torch.ones(1, 18), all_outputs=True)
        for j in (1, 5, 9):  # output 9 + j predicts frame 10 + j from the true frames 0 .. 9 + j
            torch.testing.assert_close(every[:, 9 + j], model(torch.cat([x, y[:, :j]], dim=1), horizon=1)[:, 0])
