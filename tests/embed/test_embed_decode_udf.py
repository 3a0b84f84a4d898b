"""The decode UDF without Ray: blocks of model-sized frames, a marker row per video, error rows."""

from __future__ import annotations

import numpy as np

from vidray.embed.job import decode_videos
from vidray.embed.preprocess import Preprocess


def run(paths, **kw):
    batch = {"video": np.arange(len(paths)) + 7, "path": np.array([str(p) for p in paths], dtype=object)}
    return list(decode_videos(batch, pre=Preprocess(size=(32, 32)), **kw))


def test_blocks_and_markers(embed_videos):
    root, _ = embed_videos
    blocks = run([root / "clip_b.mp4"], fps=None, every_n=1, frames_per_block=6)  # 20 frames
    assert [len(b["frame_index"]) for b in blocks] == [6, 6, 6, 3]  # last: 2 frames + the marker
    assert all(b["image"].shape[1:] == (32, 32, 3) and b["image"].dtype == np.uint8 for b in blocks)
    rows = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    np.testing.assert_array_equal(rows["frame_index"], list(range(20)) + [-1])
    np.testing.assert_array_equal(rows["total"], [-1] * 20 + [20])
    assert (rows["video"] == 7).all() and not any(rows["error"])
    assert rows["source_fps"][0] == 10.0 and rows["duration"][0] == 2.0


def test_short_videos_share_blocks_and_a_corrupt_one_gives_an_error_row(embed_videos, corrupt_video):
    root, _ = embed_videos
    blocks = run([root / "clip_d.mp4", corrupt_video, root / "clip_a.mp4"], fps=None, every_n=2,
                 frames_per_block=16)  # 5 + 6 frames
    assert len(blocks) == 1
    (b,) = blocks
    assert b["video"].tolist() == [7] * 6 + [8] + [9] * 7
    assert b["frame_index"].tolist() == [0, 2, 4, 6, 8, -1, -1, 0, 2, 4, 6, 8, 10, -1]
    assert b["total"].tolist() == [-1] * 5 + [5, -1] + [-1] * 6 + [6]
    assert "cannot be opened" in b["error"][6] and not any(b["error"][:6]) and not any(b["error"][7:])
