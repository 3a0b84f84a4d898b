"""The OpenSTL training protocol: its schedules (pure), loss over every output, LR scaling with workers,
the two YAML configs, and a resumed run of the config that continues exactly (plain PyTorch, no Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from vidray.cli import build_parser
from vidray.config import from_dict, load_config
from vidray.errors import ConfigError
from vidray.models import build
from vidray.train.cli import train_config_from_args
from vidray.train.config import TrainConfig
from vidray.train.datasets import FreshMovingMNIST
from vidray.train.loop import build_loss, load_state, make_optimizer, save_state, train_one_epoch
from vidray.train.schedules import OneCycle, one_cycle, reverse_probabilities, sampling_mask, truth_probability
from vidray.train.tasks import TASKS, model_kwargs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CONVLSTM_YAML = CONFIGS / "openstl_convlstm_mmnist.yaml"


def test_truth_probability_falls_from_one_to_zero_over_the_iterations():
    assert truth_probability(0, 50_000) == pytest.approx(1 - 2e-5)  # OpenSTL: eta 1.0, minus 2e-5 before each step
    assert truth_probability(24_999, 50_000) == pytest.approx(0.5)
    assert truth_probability(49_999, 50_000) == 0.0 and truth_probability(10**6, 50_000) == 0.0
    values = [truth_probability(s, 100) for s in range(120)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_reverse_probabilities_follow_openstl_exp_schedule():
    assert reverse_probabilities(0, 50_000) == reverse_probabilities(24_999, 50_000) == (0.5, 0.5)
    context, future = reverse_probabilities(30_000, 50_000)
    assert context == pytest.approx(1 - 0.5 * 2.718281828 ** -1) and future == pytest.approx(0.4)
    assert reverse_probabilities(50_000, 50_000) == (1.0, 0.0)


def test_sampling_mask_feeds_truth_with_the_scheduled_probability():
    gen = torch.Generator().manual_seed(0)
    assert sampling_mask("none", 5, 100, 4, 10, 10) is None
    start, middle, end = (sampling_mask("scheduled", s, 100, 2000, 10, 10, gen) for s in (-1, 49, 100))
    assert start.shape == (2000, 18) and set(start.unique().tolist()) <= {0.0, 1.0}
    assert start.all() and middle[:, :9].all() and end[:, :9].all()  # the context is always the truth
    assert not end[:, 9:].any()
    assert middle[:, 9:].mean().item() == pytest.approx(0.5, abs=0.02)
    reverse = sampling_mask("reverse", 0, 100, 2000, 10, 10, gen)
    assert reverse[:, :9].mean().item() == pytest.approx(0.5, abs=0.02)  # context fed from the model too


def test_one_cycle_is_torch_one_cycle_and_a_resume_stretches_it():
    ref_param, param = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    ref_opt, opt = torch.optim.Adam([ref_param], lr=5e-4), torch.optim.Adam([param], lr=5e-4)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=5e-4, total_steps=50, final_div_factor=1e4)
    ours = OneCycle(opt, 50)
    for step in range(50):
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15)
        assert opt.param_groups[0]["betas"][0] == pytest.approx(ref_opt.param_groups[0]["betas"][0], rel=1e-9)
        ref_opt.step(), opt.step()
        if step < 49:
            ref.step()
        ours.step()
    longer = OneCycle(torch.optim.Adam([param], lr=5e-4), 100)
    longer.load_state_dict(ours.state_dict())
    assert longer.last_epoch == 50 and longer.total == 100
    longer.step()
    assert longer.get_last_lr()[0] == pytest.approx(5e-4 * one_cycle(51, 100)[0])


def cfg_with(**kw) -> TrainConfig:
    return from_dict(TrainConfig, {"model": "convlstm", "data": "synthetic:moving-mnist", "lr": 5e-4, **kw})


def test_learning_rate_scales_with_the_global_batch():
    per_worker = cfg_with(num_workers=4, batch_size=16, lr_base_batch=16)
    assert (per_worker.global_batch_size, per_worker.scaled_lr) == (64, pytest.approx(2e-3))
    split = cfg_with(num_workers=4, batch_size=16, batch_scope="global", lr_base_batch=16)
    assert (split.worker_batch_size, split.global_batch_size, split.scaled_lr) == (4, 16, pytest.approx(5e-4))
    assert cfg_with(num_workers=4).scaled_lr == 5e-4  # no base batch: lr as given (the old behaviour)
    optimizer, _ = make_optimizer(build("convlstm", "tiny"), cfg_with(num_workers=2, lr_base_batch=8,
                                                                      optimizer="adam", scheduler="onecycle"), 10)
    assert isinstance(optimizer, torch.optim.Adam) and not isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["initial_lr"] == pytest.approx(5e-4 * 32 / 8)


def test_protocol_settings_are_checked_at_the_door():
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"model": "vit_predictor", "data": "x", "sampling": "scheduled", "num_workers": 3,
                                "batch_size": 16, "batch_scope": "global", "scheduler": "step", "optimizer": "sgd"})
    text = str(err.value)
    for needle in ("split evenly over num_workers 3", "no teacher forcing", "scheduler must be one of",
                   "optimizer must be one of"):
        assert needle in text


@pytest.mark.parametrize("name", ["openstl_convlstm_mmnist.yaml", "openstl_vit_mmnist.yaml"])
def test_openstl_configs_load_and_say_openstls_protocol(name):
    cfg = load_config(TrainConfig, CONFIGS / name)
    assert (cfg.epochs, cfg.global_batch_size, cfg.scaled_lr, cfg.optimizer, cfg.scheduler, cfg.grad_clip) == (
        200, 16, 5e-4, "adam", "onecycle", 0.0)
    assert cfg.data == "synthetic:moving-mnist" and cfg.samples_per_epoch == 10_000
    assert cfg.max_val_samples == 10_000
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    if cfg.model == "convlstm":
        assert (cfg.sampling, cfg.sampling_iters, cfg.loss_outputs) == ("scheduled", 50_000, "all")
        assert model.head.bias is None and not any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())
        assert [c.hidden for c in model.cells] == [128] * 4
    assert load_config(TrainConfig, CONFIGS / name, {"num_workers": 4}).worker_batch_size == 4


def test_set_on_top_of_the_config_keeps_its_model_switches():
    args = build_parser().parse_args(["train", "--config", str(CONVLSTM_YAML), "--set", "hidden=[8,8]", "kernel=3",
                                      "epochs=1"])
    cfg = train_config_from_args(args)
    assert cfg.epochs == 1 and cfg.model_args == {"layer_norm": False, "forget_bias": 0.0, "gate_bias": False,
                                                  "head_bias": False, "hidden": [8, 8], "kernel": 3}


def tiny_protocol_cfg() -> TrainConfig:
    return load_config(TrainConfig, CONVLSTM_YAML, {
        "model_args": {"layer_norm": False, "forget_bias": 0.0, "gate_bias": False, "head_bias": False,
                       "hidden": [4], "kernel": 3},
        "samples_per_epoch": 8, "batch_size": 4, "epochs": 2, "sampling_iters": 4, "max_val_samples": 2})


def test_training_pass_scores_all_19_outputs():
    cfg = tiny_protocol_cfg()
    clip = torch.rand(2, 20, 1, 64, 64)
    pred, true = TASKS["convlstm"].training_pass(build("convlstm", "tiny", **model_kwargs(cfg)), (clip, None), cfg, 0)
    assert pred.shape == true.shape == (2, 19, 1, 64, 64)
    torch.testing.assert_close(true, clip[:, 1:])


def run_epochs(cfg, train, epochs, state=None):
    torch.manual_seed(0)
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    loader = DataLoader(train, batch_size=cfg.worker_batch_size)
    optimizer, scheduler = make_optimizer(model, cfg, len(loader))
    start = 0
    if state is not None:
        model.load_state_dict(state["model"]), optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = state["epoch"] + 1
    loss_fn = build_loss(cfg, torch.device("cpu"))
    for epoch in epochs:
        assert epoch >= start
        train.set_epoch(epoch)
        train_one_epoch(model, loader, loss_fn, optimizer, scheduler, cfg, torch.device("cpu"), epoch,
                        global_step=epoch * len(loader))
    return model, optimizer, scheduler


def test_a_resumed_protocol_run_continues_exactly(tmp_path):
    cfg = tiny_protocol_cfg()
    train = FreshMovingMNIST(cfg.samples_per_epoch, 20, cfg.seed)  # what build_datasets gives, without its val set
    straight, _, sched = run_epochs(cfg, train, [0, 1])
    first = run_epochs(cfg, train, [0])
    save_state(str(tmp_path), *first, 0, {}, [])
    resumed, _, resumed_sched = run_epochs(cfg, train, [1], load_state(tmp_path))
    assert resumed_sched.last_epoch == sched.last_epoch == 4
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
