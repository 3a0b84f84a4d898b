"""ConvLSTM frame predictor (Shi et al. 2015) in the OpenSTL layout: patchify, stacked cells, 1x1 head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidray.models.blocks import check_video, fold_time, unfold_time


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell: gates from conv(x) + conv(h), optionally normalised, plus ``forget_bias`` on the
    forget gate.

    ``x``: ``[N, in_ch, h, w]``; ``h``, ``c``: ``[N, hidden, h, w]`` -> new ``(h, c)``.
    GroupNorm(1, ·) stands in for OpenSTL's LayerNorm([C, H, W]) so the cell is size-agnostic. The gate
    convolutions carry a bias only with ``bias`` and no norm (a norm's affine shift makes one redundant);
    OpenSTL's cell (``layer_norm=0``) has no norm, no conv bias and no forget bias.
    """

    def __init__(self, in_ch: int, hidden: int, kernel: int = 5, norm: bool = True, forget_bias: float = 1.0,
                 bias: bool = True):
        super().__init__()
        pad = kernel // 2
        conv_bias = bias and not norm
        self.conv_x = nn.Conv2d(in_ch, 4 * hidden, kernel, padding=pad, bias=conv_bias)
        self.conv_h = nn.Conv2d(hidden, 4 * hidden, kernel, padding=pad, bias=conv_bias)
        self.norm_x = nn.GroupNorm(1, 4 * hidden) if norm else nn.Identity()
        self.norm_h = nn.GroupNorm(1, 4 * hidden) if norm else nn.Identity()
        self.hidden, self.forget_bias = hidden, forget_bias

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates = self.norm_x(self.conv_x(x)) + self.norm_h(self.conv_h(h))
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTM(nn.Module):
    """Stacked ConvLSTM predicting future frames autoregressively from context frames.

    Input ``x``: float ``[B, T_in, C, H, W]`` in [0, 1], H and W divisible by ``patch_size``.
    Output: float ``[B, horizon, C, H, W]`` (``horizon`` defaults to ``out_frames``); values are
    unbounded (trained towards [0, 1]) - clamp for display. Frames are space-to-depth'd by
    ``patch_size`` (64x64x1 -> 16x16x16 for p=4), each step feeds the previous prediction
    back once the context is used up, so any horizon works.

    Switches (defaults = vidray's cell; OpenSTL's ConvLSTM-S is ``layer_norm=False, forget_bias=0,
    gate_bias=False, head_bias=False``): ``layer_norm`` GroupNorm on the gates, ``forget_bias`` added to
    the forget gate, ``gate_bias`` a bias in the gate convolutions (only without the norm),
    ``head_bias`` a bias in the 1x1 output conv. Training can feed ground truth (scheduled sampling)
    and score every output: see :meth:`forward`'s ``future`` / ``feed_mask`` / ``all_outputs``.
    """

    teacher_forcing = True  # forward() takes future / feed_mask / all_outputs (vidray.train reads this)

    def __init__(
        self,
        in_frames: int = 10,
        out_frames: int = 10,
        channels: int = 1,
        patch_size: int = 4,
        hidden: tuple[int, ...] = (128, 128, 128, 128),
        kernel: int = 5,
        layer_norm: bool = True,
        forget_bias: float = 1.0,
        gate_bias: bool = True,
        head_bias: bool = True,
    ):
        super().__init__()
        self.in_frames, self.out_frames = in_frames, out_frames
        self.channels, self.patch_size = channels, patch_size
        patch_ch = channels * patch_size * patch_size
        ins = [patch_ch, *hidden[:-1]]
        self.cells = nn.ModuleList(ConvLSTMCell(i, h, kernel, layer_norm, forget_bias, gate_bias)
                                   for i, h in zip(ins, hidden))
        self.head = nn.Conv2d(hidden[-1], patch_ch, 1, bias=head_bias)

    def forward(self, x: torch.Tensor, horizon: int | None = None, future: torch.Tensor | None = None,
                feed_mask: torch.Tensor | None = None, all_outputs: bool = False) -> torch.Tensor:
        """Predict ``horizon`` frames after the context ``x``.

        Training (OpenSTL's scheduled sampling): ``future`` float ``[B, >= horizon - 1, C, H, W]`` holds
        the true frames after ``x`` and ``feed_mask`` float ``[B, T_in + horizon - 2]`` says, for each input
        step ``t >= 1`` (entry ``t - 1``), 1 = feed the true frame ``t``, 0 = the model's previous output
        (entries may blend). ``all_outputs``: return every output ``[B, T_in + horizon - 1, ...]`` (the
        prediction of frames 1 .. T_in + horizon - 1, OpenSTL's training target) instead of the last ``horizon``.
        """
        check_video(x, "x")
        b, t_in, _, height, width = x.shape
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(f"x: H, W ({height}, {width}) must be divisible by patch_size {p}")
        horizon = self.out_frames if horizon is None else horizon
        steps = t_in + horizon - 1
        if feed_mask is not None:
            if future is None or future.shape[1] < horizon - 1 or feed_mask.shape != (b, steps - 1):
                raise ValueError(f"feed_mask {tuple(feed_mask.shape)} needs shape ({b}, {steps - 1}) and future "
                                 f"frames [B, >= {horizon - 1}, ...]")
            x = torch.cat([x, future[:, : horizon - 1]], dim=1)
        frames = unfold_time(F.pixel_unshuffle(fold_time(x), p), b)  # [B, T, C*p*p, H/p, W/p]
        hs = [frames.new_zeros(b, cell.hidden, height // p, width // p) for cell in self.cells]
        cs = [torch.zeros_like(h) for h in hs]
        outputs = []
        pred = frames[:, 0]
        for step in range(steps):
            if feed_mask is not None and step > 0:
                m = feed_mask[:, step - 1].view(b, 1, 1, 1).to(frames.dtype)
                inp = m * frames[:, step] + (1 - m) * pred
            else:
                inp = frames[:, step] if step < t_in else pred
            for layer, cell in enumerate(self.cells):
                hs[layer], cs[layer] = cell(inp, hs[layer], cs[layer])
                inp = hs[layer]
            pred = self.head(inp)
            if all_outputs or step >= t_in - 1:
                outputs.append(pred)
        out = torch.stack(outputs, dim=1)
        return unfold_time(F.pixel_shuffle(fold_time(out), p), b)
