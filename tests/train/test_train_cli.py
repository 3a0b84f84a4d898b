"""`vidray train/evaluate/tune` argument handling (no Ray needed)."""

from __future__ import annotations

import pytest

from vidray.cli import main
from vidray.train.cli import parse_set


def test_set_splits_model_args_from_training_settings():
    train, model = parse_set(["hidden=[64,64]", "val_fraction=0.2", "kernel=3", "vsr_format=fullhd"])
    assert train == {"val_fraction": 0.2, "vsr_format": "fullhd"}
    assert model == {"hidden": [64, 64], "kernel": 3}


@pytest.mark.parametrize("argv, needle", [
    (["train", "--model", "convlstm", "--data", "x", "--epochs", "0"], "--epochs"),
    (["train", "--model", "nope", "--data", "x"], "model 'nope'"),
    (["train", "--model", "convlstm", "--data", "x", "--loss", "mse"], "--loss"),
    (["train", "--model", "convlstm", "--data", "x", "--set", "novalue"], "--set"),
    (["tune", "--model", "convlstm", "--data", "x", "--vgg-range", "1", "0.1"], "vgg_weight_min"),
    (["train", "--model", "convlstm", "--data", "x", "--cpus-per-worker", "0"], "--cpus-per-worker"),
    (["tune", "--model", "convlstm", "--data", "x", "--max-trial-failures", "-2"], "--max-trial-failures"),
    (["tune", "--model", "convlstm", "--data", "x", "--max-failures", "-3"], "--max-failures"),
])
def test_bad_arguments_are_one_line_exit_2(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks exit from inside parse_args
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_evaluate_refuses_a_folder_that_is_not_a_checkpoint(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a vidray training checkpoint" in capsys.readouterr().err
