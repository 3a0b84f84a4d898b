"""The command line: help for every command, one-line errors with exit code 2, a real run."""

import subprocess
import sys

import h5py
import pytest

from vidray.cli import main

COMMANDS = [[], ["synth"], ["synth", "videomnist"], ["synth", "moving-mnist"], ["synth", "to-hdf5"], ["demo"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "vidray")
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: vidray" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["synth", "videomnist", "o", "--videos-per-digit", "0"], "argument --videos-per-digit: must be a positive"),
    (["synth", "videomnist", "o", "--videos-per-digit", "-3"], "argument --videos-per-digit"),
    (["synth", "videomnist", "o", "--motion-types", "zigzag"], "argument --motion-types: invalid choice: 'zigzag'"),
    (["synth", "moving-mnist", "o", "--num-sequences", "many"], "argument --num-sequences: must be an integer"),
    (["synth", "videomnist", "o", "--image-size", "20"], "--image-size must be > 28"),
    (["synth", "videomnist"], "the following arguments are required: output"),
    (["nope"], "invalid choice: 'nope'"),
])
def test_bad_arguments_give_one_line_and_exit_2(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_config_file_lists_every_problem(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("videos_per_digit: 0\nmotion_types: [bounce, zigzag]\ncolour: red\n")
    assert main(["synth", "videomnist", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown setting 'colour'" in err
    cfg.write_text("videos_per_digit: 0\nmotion_types: [bounce, zigzag]\n")
    assert main(["synth", "videomnist", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "videos_per_digit must be >= 1" in err and "'zigzag'" in err


def test_unusable_output_dir_is_one_clear_error(ray_local, tmp_path, capsys, mnist_dir):
    (tmp_path / "f").write_text("x")
    code = main(["synth", "moving-mnist", str(tmp_path / "f" / "out"), "--num-sequences", "2",
                 "--mnist-dir", mnist_dir])
    err = capsys.readouterr().err
    assert code == 2 and "cannot create the output directory" in err and "Traceback" not in err


def test_cli_run_with_config_file_and_flag_override(ray_local, tmp_path, capsys, mnist_dir):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"videos_per_digit": 5, "test_videos_per_digit": 0, "sequence_length": 4}')
    code = main(["synth", "videomnist", str(tmp_path / "o"), "--config", str(cfg), "--videos-per-digit", "1",
                 "--grayscale", "--mnist-dir", mnist_dir])
    assert code == 0
    assert "videomnist: 10 train, 0 test videos" in capsys.readouterr().out
    with h5py.File(tmp_path / "o" / "hdf5" / "videomnist.h5") as f:
        assert f["train_data"].shape == (40, 64, 64)


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "vidray", "synth", "videomnist", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--sequence-length" in out and "--motion-types" in out


def test_demo_runs_and_says_where_everything_went(ray_local, tmp_path, capsys):
    assert main(["demo", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "videomnist: 200 train, 40 test videos" in out and "Where everything went" in out
    assert (tmp_path / "demo" / "videomnist" / "hdf5" / "videomnist.h5").exists()
    assert (tmp_path / "demo" / "moving_mnist" / "moving_mnist.npy").exists()
    run = tmp_path / "demo" / "runs" / "convlstm-tiny"
    assert len((run / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert (run / "predictions.gif").exists() and "ConvLSTM training" in out
    assert main(["demo", str(tmp_path / "demo")]) == 0  # a second run finds it complete
    assert "already complete" in capsys.readouterr().out
