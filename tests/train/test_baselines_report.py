"""Validation against both trivial baselines, the verdict in every report, LPIPS for the keyframe models, and
`vidray evaluate` scoring a whole public-layout test file; plain PyTorch, no Ray."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidray import metrics
from vidray.config import from_dict, to_dict
from vidray.models import build
from vidray.train import loop, report
from vidray.train.config import TrainConfig
from vidray.train.tasks import build_datasets, model_kwargs


def cfg_for(data, **kw) -> TrainConfig:
    return from_dict(TrainConfig, {"model": "convlstm", "preset": "tiny", "data": str(data), "batch_size": 8, **kw})


def test_validate_scores_the_model_and_both_baselines_on_the_same_clips(mm_dir):
    cfg = cfg_for(mm_dir, max_val_samples=8)
    torch.manual_seed(0)
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    _, val = build_datasets(cfg)
    result = loop.reduce_validation(
        loop.validate(model, DataLoader(val, batch_size=8), loop.build_loss(cfg, torch.device("cpu")), cfg,
                      torch.device("cpu")), torch.device("cpu"))
    clips = torch.stack([val[i][0] for i in range(len(val))])
    x, y = clips[:, :10], clips[:, 10:]
    for name, guess in (("copy_last_frame", metrics.copy_last_frame(x, 10)), ("all_black", torch.zeros_like(y))):
        for metric in ("openstl_mse", "openstl_ssim", "openstl_mae"):
            expected = float(metrics.METRICS[metric](guess, y))
            assert result[f"baseline_{name}_{metric}"] == pytest.approx(expected, rel=1e-5), (name, metric)
    assert result["val_openstl_mse"] == pytest.approx(result["val_mse_per_pixel"] * 4096, rel=1e-6)
    # on Moving MNIST all-black is the stronger MSE baseline: copy-last-frame alone would be too low a bar
    assert result["baseline_all_black_openstl_mse"] < result["baseline_copy_last_frame_openstl_mse"]
    assert report.beats_baselines(result) is False  # an untrained model beats nothing
    assert not any("lpips" in k for k in result)  # predictors: no LPIPS


def test_keyframe_validation_has_lpips_for_model_and_baseline(mm_dir, monkeypatch):
    monkeypatch.setattr(loop, "LPIPS_CPU_PIXELS", 1)  # score one sample: VGG16 on CPU is the slow part
    cfg = cfg_for(mm_dir, model="keyframe_ae", max_val_samples=4)
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    _, val = build_datasets(cfg)
    result = loop.validate(model, DataLoader(val, batch_size=4), loop.build_loss(cfg, torch.device("cpu")), cfg,
                           torch.device("cpu"))
    sums, count = result["sums"], result["count"]
    model_lpips, base_lpips = sums["val_lpips_vgg"] / count, sums["baseline_mean_image_lpips_vgg"] / count
    assert 0 < base_lpips < 2 and 0 < model_lpips < 2 and model_lpips != base_lpips
    # the first sample's frames, scored directly
    from vidray.lpips import shared_lpips

    clip = val[0][0][None]
    mean_image = clip.mean(dim=(3, 4), keepdim=True).expand_as(clip)
    assert base_lpips == pytest.approx(float(shared_lpips()(mean_image, clip)), rel=1e-4)


ROW = {"epoch": 2, "train_loss": 0.05, "val_loss": 0.04, "val_openstl_mse": 150.0, "val_openstl_ssim": 0.70,
       "baseline_copy_last_frame_openstl_mse": 287.5, "baseline_copy_last_frame_openstl_ssim": 0.66,
       "baseline_all_black_openstl_mse": 176.4, "baseline_all_black_openstl_ssim": 0.78}


def test_beating_means_every_baseline_on_mse_and_ssim(tmp_path):
    assert report.baseline_names(ROW) == ["copy_last_frame", "all_black"]
    assert report.beats_baselines(ROW) is False  # better MSE than both, SSIM below all-black's
    assert report.baseline_shortfalls(ROW) == ["SSIM 0.7 vs all_black 0.78"]
    assert "NOT beaten" in report.verdict(ROW) and "all_black" in report.verdict(ROW)
    good = {**ROW, "epoch": 3, "val_openstl_ssim": 0.85}
    assert report.beats_baselines(good) is True and report.verdict(good).startswith("beats")
    assert report.beats_baselines({"val_openstl_mse": 1.0}) is None and report.verdict({}) == ""

    assert "(below baselines)" in report.epoch_line(ROW, 10) and "(beats baselines)" in report.epoch_line(good, 10)
    table = report.metrics_table({**ROW, "samples": 16})
    header = table.splitlines()[0].split()
    assert header == ["metric", "model", "copy_last_frame", "all_black"]
    assert "NOT beaten" in table and table.splitlines()[-1].split() == ["samples", "16"]

    class Cfg:
        name, model, preset = "run", "convlstm", "tiny"

    files = report.write_results_folder(Cfg, tmp_path, [ROW, good], best_checkpoint=None)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [r["beats_baselines"] for r in rows] == ["False", "True"]
    assert (tmp_path / "loss_curve.png").stat().st_size > 10_000 and len(files) == 2


def test_evaluate_scores_every_sequence_of_a_public_layout_file(mm_dir, tmp_path):
    """A file laid out like the public mnist_test_seq.npy ([20, N, 64, 64]) is a test set: all N are scored
    (before, the last val_fraction of it was)."""
    from vidray.synth.moving_mnist import render_sequences

    cfg = cfg_for(mm_dir)
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    optimizer, scheduler = loop.make_optimizer(model, cfg, 1)
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    loop.save_state(str(checkpoint), model, optimizer, scheduler, 0, to_dict(cfg), [ROW])
    public = tmp_path / "mnist_test_seq.npy"
    sequences = render_sequences(6, 20, 2, seed=5, split="test")
    np.save(public, sequences)
    values = report.evaluate_checkpoint(checkpoint, str(public), batch_size=8)
    assert values["samples"] == 6
    y = torch.from_numpy(sequences).permute(1, 0, 2, 3)[:, 10:, None].float() / 255
    assert values["baseline_all_black_openstl_mse"] == pytest.approx(float(metrics.openstl_mse(0 * y, y)), rel=1e-5)
    # without --data: the checkpoint's own data, its test split (16 sequences)
    assert report.evaluate_checkpoint(checkpoint, batch_size=8)["samples"] == 16
