"""Closed-form schedules of the optimiser step count: the learning rate (cosine, one-cycle) and OpenSTL's
scheduled sampling (how often the recurrent predictor is fed the ground truth instead of its own output).

Each is a pure function of the global step, so a resumed run continues exactly where it stopped (the
step count is the scheduler's ``last_epoch``, saved in every checkpoint) and raising ``epochs`` on a
resume stretches the learning-rate schedule instead of restarting it.
"""

from __future__ import annotations

import math

import torch

# torch.optim.lr_scheduler.OneCycleLR's defaults, which OpenSTL uses (only final_div_factor is passed, 1e4)
ONE_CYCLE_PCT_START = 0.3
ONE_CYCLE_DIV_FACTOR = 25.0
ONE_CYCLE_FINAL_DIV_FACTOR = 1e4
ONE_CYCLE_MOMENTUM = (0.85, 0.95)  # (base, max): Adam's beta1 cycles between them, opposite to the lr


def cosine_factor(step: int, total: int) -> float:
    """Cosine decay from 1 to 0 over ``total`` steps (then 0): the multiplier of the base learning rate."""
    total = max(total, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def one_cycle(step: int, total: int) -> tuple[float, float]:
    """(learning-rate multiplier of ``max_lr``, Adam beta1) after ``step`` of ``total`` steps, exactly as
    ``torch.optim.lr_scheduler.OneCycleLR(max_lr, total_steps=total, final_div_factor=1e4)`` sets them
    (two cosine phases: ``max_lr/25`` up to ``max_lr`` over the first 30 %, then down to ``max_lr/25/1e4``;
    beta1 0.95 -> 0.85 -> 0.95). Steps past ``total`` hold the last value (OneCycleLR would raise)."""
    total = max(total, 2)
    step = min(step, total - 1)
    initial, final = 1.0 / ONE_CYCLE_DIV_FACTOR, 1.0 / ONE_CYCLE_DIV_FACTOR / ONE_CYCLE_FINAL_DIV_FACTOR
    base_mom, max_mom = ONE_CYCLE_MOMENTUM
    peak = float(ONE_CYCLE_PCT_START * total) - 1
    if step <= peak:
        pct = step / peak if peak > 0 else 1.0
        return _cos_anneal(initial, 1.0, pct), _cos_anneal(max_mom, base_mom, pct)
    pct = (step - peak) / (total - 1 - peak)
    return _cos_anneal(1.0, final, pct), _cos_anneal(base_mom, max_mom, pct)


class OneCycle(torch.optim.lr_scheduler.LambdaLR):
    """OpenSTL's ``onecycle`` schedule (:func:`one_cycle`), stepped once per optimiser step, as a closed form:
    its state is the step count, so resuming with more epochs stretches it. Cycles Adam's beta1 too."""

    def __init__(self, optimizer: torch.optim.Optimizer, total: int):
        self.total = total
        super().__init__(optimizer, lambda step: one_cycle(step, self.total)[0])

    def load_state_dict(self, state_dict: dict) -> None:
        """The saved step count; the length stays this run's (more epochs on a resume stretch the cycle)."""
        total = self.total
        super().load_state_dict(state_dict)
        self.total = total

    def get_lr(self):
        beta1 = one_cycle(self.last_epoch, self.total)[1]
        for group in self.optimizer.param_groups:
            if "betas" in group:
                group["betas"] = (beta1, *group["betas"][1:])
        return super().get_lr()


# OpenSTL's configs/mmnist/ConvLSTM.py: sampling_start_value 1.0, sampling_changing_rate 2e-5,
# sampling_stop_iter 50000 (and for the reverse mode r_sampling_step_1/2 = 25000/50000, r_exp_alpha 5000)
SAMPLING_ITERS = 50_000


def truth_probability(step: int, iters: int) -> float:
    """OpenSTL's ``schedule_sampling`` eta at global step ``step`` (0-based): the probability of feeding
    the ground truth instead of the model's output at each future input step, ``1 - (step + 1) / iters``
    (it starts at 1.0 and drops by ``1/iters`` before every step), 0 from step ``iters - 1`` on."""
    return max(0.0, 1.0 - (step + 1) / iters) if step < iters else 0.0


def reverse_probabilities(step: int, iters: int) -> tuple[float, float]:
    """OpenSTL's ``reserve_schedule_sampling_exp`` at global step ``step``: (probability of feeding the
    ground truth at the context input steps, at the future input steps). Until ``iters/2``: (0.5, 0.5);
    then the context one rises to 1 as ``1 - 0.5 exp(-(step - iters/2) / (iters/10))`` and the future one
    falls linearly to 0; from ``iters`` on: (1, 0). OpenSTL's numbers for ``iters = 50000``."""
    first, alpha = iters / 2, iters / 10
    if step < first:
        return 0.5, 0.5
    if step < iters:
        return 1.0 - 0.5 * math.exp(-(step - first) / alpha), 0.5 - 0.5 / (iters - first) * (step - first)
    return 1.0, 0.0


def sampling_mask(mode: str, step: int, iters: int, batch: int, in_frames: int, out_frames: int,
                  generator: torch.Generator | None = None) -> torch.Tensor | None:
    """Which ground-truth frames a recurrent predictor is fed at global step ``step``: float ``[batch,
    in_frames + out_frames - 2]``, entry ``t - 1`` for input step ``t`` (1 = the true frame ``t``, 0 = the
    model's previous output); one draw per (sample, step), as OpenSTL draws them. ``mode``: ``scheduled``
    (context always true, future true with :func:`truth_probability`), ``reverse`` (both drawn with
    :func:`reverse_probabilities`), ``none`` -> None (context true, future the model's own outputs)."""
    if mode == "none":
        return None
    if mode == "scheduled":
        context, future = 1.0, truth_probability(step, iters)
    elif mode == "reverse":
        context, future = reverse_probabilities(step, iters)
    else:
        raise ValueError(f"sampling mode {mode!r}: expected none, scheduled or reverse")
    probs = torch.tensor([context] * (in_frames - 1) + [future] * (out_frames - 1), dtype=torch.float64)
    draws = torch.rand(batch, len(probs), dtype=torch.float64, generator=generator)
    return (draws < probs).float()
