"""Visual outputs written to disk and read back with the libraries people open them with."""

from __future__ import annotations

import av
import numpy as np
import torch
from PIL import Image

from vidray import viz


def panels(t_in=3, t_out=2, b=2):
    """Inputs mid-grey, truth white, prediction black: each panel recognisable after encoding."""
    return (torch.full((b, t_in, 1, 16, 16), 0.5), torch.ones(b, t_out, 1, 16, 16), torch.zeros(b, t_out, 1, 16, 16))


def row_segments(row: np.ndarray, min_len: int) -> list[int]:
    """Grey levels of the runs (>= ``min_len`` px) of a constant value along uint8 ``row`` [W]."""
    runs, start = [], 0
    for x in range(1, len(row) + 1):
        if x == len(row) or abs(int(row[x]) - int(row[start])) > 12:
            if x - start >= min_len:
                runs.append(int(row[start]))
            start = x
    return runs


def test_comparison_gif_plays_context_then_future_side_by_side(tmp_path):
    inputs, truth, pred = panels()
    path = viz.save_comparison_gif(tmp_path / "cmp.gif", inputs, truth, pred, scale=3)
    with Image.open(path) as gif:
        assert gif.n_frames == 3 + 2
        gif.seek(4)  # a future frame: last input | truth | prediction
        frame = np.asarray(gif.convert("L"))
    middle_of_first_row = frame[frame.shape[0] // 4 + 10]
    levels = row_segments(middle_of_first_row, min_len=40)  # 16 px x scale 3 = 48 px panels
    assert len(levels) == 3
    assert abs(levels[0] - 128) < 15 and levels[1] > 240 and levels[2] < 15
    assert frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0


def test_comparison_mp4_decodes_with_pyav(tmp_path):
    inputs, truth, pred = panels()
    path = viz.save_comparison_mp4(tmp_path / "cmp.mp4", inputs, truth, pred, fps=4)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5
    expected = viz.comparison_frames(inputs, truth, pred)
    assert frames[0].shape == expected.shape[1:]
    assert np.abs(frames[-1].astype(int) - expected[-1].astype(int)).mean() < 4  # codec loss only


def test_prediction_grid_png_has_one_labelled_row_per_sequence(tmp_path):
    inputs, truth, pred = panels(t_in=4, t_out=4, b=1)
    path = viz.save_prediction_grid(tmp_path / "grid.png", inputs, truth, pred, scale=2)
    image = np.asarray(Image.open(path).convert("L"))
    # rows: input (grey), truth (white), prediction (black), |error| (white): 32-px cells, 4 columns
    white_lines = [y for y in range(image.shape[0]) if row_segments(image[y], 30).count(255) == 4]
    assert len(white_lines) == 2 * 32
    grey_lines = [y for y in range(image.shape[0]) if row_segments(image[y], 30).count(128) == 4]
    assert len(grey_lines) == 32 and max(grey_lines) < min(white_lines)
    assert image.shape[1] > 4 * 32 + viz.text_width("prediction")  # row labels fit left of the cells


def test_vsr_contact_sheet_shows_lr_stack_bicubic_prediction_and_gt(tmp_path):
    g = torch.Generator().manual_seed(0)
    lr, gt = torch.rand(3, 5, 3, 12, 20, generator=g), torch.rand(3, 3, 36, 60, generator=g)
    path = viz.save_vsr_contact_sheet(tmp_path / "sheet.png", lr, gt, pred=gt, max_items=2, panel=60)
    image = np.asarray(Image.open(path).convert("RGB"))
    sheet = viz.vsr_contact_sheet(lr, gt, gt, max_items=2, panel=60)
    np.testing.assert_array_equal(image, sheet)
    assert sheet.shape[1] > 8 * 100  # 5 LR + bicubic + prediction + GT panels, 100 px wide each
    without_pred = viz.vsr_contact_sheet(lr, gt, None, max_items=2, panel=60)
    assert without_pred.shape[1] < sheet.shape[1]
