"""The plain-PyTorch core of the training loop, without Ray: data, one epoch, validation, NaN stop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidray.config import from_dict
from vidray.errors import ConfigError, InputError
from vidray.models import build
from vidray.train.config import TrainConfig
from vidray.train.loop import (
    NonFiniteLoss,
    build_loss,
    make_optimizer,
    reduce_validation,
    thread_times,
    train_one_epoch,
    validate,
)
from vidray.train.tasks import TASKS, build_datasets, model_kwargs


def cfg_for(data, **kw):
    return from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": str(data), "batch_size": 8, **kw})


def test_moving_mnist_dir_gives_train_and_test_clips(mm_dir):
    train, val = build_datasets(cfg_for(mm_dir))
    assert (len(train), len(val)) == (48, 16)
    clip, index = train[5]
    assert clip.shape == (20, 1, 64, 64) and clip.dtype == torch.float32 and index == 5
    raw = np.load(mm_dir / "moving_mnist.npy")[:, 5]
    np.testing.assert_allclose(clip[:, 0].numpy(), raw / 255.0, atol=1e-6)


def test_short_videos_and_missing_data_are_named(tmp_path, mm_dir):
    with pytest.raises(InputError, match="fewer than 30 frames"):
        build_datasets(cfg_for(mm_dir, input_frames=15, output_frames=15))
    with pytest.raises(InputError, match="does not exist"):
        build_datasets(cfg_for(tmp_path / "nope"))


def test_bad_settings_are_all_listed():
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"model": "nope", "data": "", "epochs": 0, "loss": {"mse": -1}})
    text = str(err.value)
    for word in ("model 'nope'", "data is required", "epochs", "loss weights"):
        assert word in text


def test_epochs_lower_the_loss_and_beat_copy_last_frame(mm_dir):
    torch.manual_seed(0)
    cfg = cfg_for(mm_dir, lr=3e-3, epochs=8)
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    train, val = build_datasets(cfg)
    loader = DataLoader(train, batch_size=8, shuffle=True)
    optimizer, scheduler = make_optimizer(model, cfg, len(loader))
    loss_fn = build_loss(cfg, torch.device("cpu"))
    losses = [train_one_epoch(model, loader, loss_fn, optimizer, scheduler, cfg, torch.device("cpu"), e)["train_loss"]
              for e in range(cfg.epochs)]
    assert losses[-1] < 0.7 * losses[0]
    result = reduce_validation(validate(model, DataLoader(val, batch_size=8), loss_fn, cfg, torch.device("cpu")),
                               torch.device("cpu"))
    assert result["val_openstl_mse"] < result["baseline_copy_last_frame_openstl_mse"]  # OpenSTL units, test split
    assert result["val_openstl_mse"] == pytest.approx(result["val_mse_per_pixel"] * 4096, rel=1e-4)


def test_non_finite_loss_names_the_step(mm_dir):
    cfg = cfg_for(mm_dir, lr=1e30, grad_clip=0.0)
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    train, _ = build_datasets(cfg)
    loader = DataLoader(train, batch_size=8)
    optimizer, scheduler = make_optimizer(model, cfg, len(loader))
    with pytest.raises(NonFiniteLoss) as err:
        for epoch in range(3):
            train_one_epoch(model, loader, build_loss(cfg, torch.device("cpu")), optimizer, scheduler, cfg,
                            torch.device("cpu"), epoch, global_step=epoch * len(loader))
    assert err.value.global_step >= 1 and "step" in str(err.value)


@pytest.mark.parametrize("model", ["vit_predictor", "keyframe_ae", "interpolator"])
def test_every_clip_task_runs_a_step(mm_dir, model):
    cfg = cfg_for(mm_dir, model=model)
    net = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    train, _ = build_datasets(cfg)
    batch = next(iter(DataLoader(train, batch_size=2)))
    pred, true, _ = TASKS[model].forward(net, batch, cfg)
    base, true2 = TASKS[model].baselines[0].predict(batch, cfg)
    assert pred.shape == true.shape == base.shape and torch.equal(true, true2)
    if model == "interpolator":
        assert pred.shape[1] == cfg.keyframe_interval - 1  # the frames between two keyframes


def test_vsr_pairs_from_a_patch_folder(tmp_path):
    import cv2

    from vidray.patches.index import write_index

    folder = tmp_path / "Universal" / "Mastermodell" / "Learn" / "Patches"
    (folder / "GT").mkdir(parents=True)
    (folder / "LR").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        gt = rng.integers(0, 255, (540, 540, 3), dtype=np.uint8)
        lr = np.concatenate([cv2.resize(gt, (180, 180), interpolation=cv2.INTER_AREA)] * 5, axis=0)
        cv2.imwrite(str(folder / "GT" / f"patch_x_idx{i:04d}.png"), gt)
        cv2.imwrite(str(folder / "LR" / f"patch_x_idx{i:04d}.png"), lr)
        rel = folder.relative_to(tmp_path).as_posix()
        rows.append({"key": f"x/general/small_540/{i}", "format": "small_540", "category": "general", "status": "ok",
                     "gt": f"{rel}/GT/patch_x_idx{i:04d}.png", "lr": f"{rel}/LR/patch_x_idx{i:04d}.png"})
    write_index(str(tmp_path), rows)  # training finds the pairs through the patch job's index
    cfg = from_dict(TrainConfig, {"model": "vsr", "preset": "tiny", "data": str(tmp_path), "val_fraction": 0.3,
                                  "vsr_crop": 48})
    train, val = build_datasets(cfg)
    assert len(train) + len(val) == 6 and len(train) > 0
    (lr, gt), _ = train[0]
    assert lr.shape == (5, 3, 16, 16) and gt.shape == (3, 48, 48)
    net = build("vsr", "tiny")
    pred, true, _ = TASKS["vsr"].forward(net, ((lr[None], gt[None]), torch.tensor([0])), cfg)
    assert pred.shape == true.shape == (1, 1, 3, 48, 48)
    # the LR crop is the GT crop's area-downscale: aligned
    gt_small = torch.nn.functional.avg_pool2d(gt[None], 3)[0]
    assert (gt_small - lr[2]).abs().mean() < 2 / 255


def test_thread_times_count_this_threads_cpu_and_wait():
    """The benchmark's CPU/wait split: CPU time grows with work done by this thread, not with sleeping."""
    import time

    cpu0, wait0 = thread_times()
    time.sleep(0.2)
    cpu1, wait1 = thread_times()
    x = 0
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        x += 1
    cpu2, wait2 = thread_times()
    assert cpu1 - cpu0 < 0.1  # sleeping is neither CPU nor waiting for one
    assert 0.3 - (wait2 - wait1) - 0.05 < cpu2 - cpu1 <= 0.35  # busy 0.3 s wall = CPU + time waiting for a CPU
    assert wait2 >= wait1 >= wait0 >= 0
