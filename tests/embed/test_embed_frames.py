"""Streaming PyAV decode with frame sampling, on real H.264 clips."""

from __future__ import annotations

import numpy as np
import pytest

from vidray.embed.frames import FrameSampler, iter_frame_batches
from vidray.errors import InputError
from vidray.io.probe import probe_video as probe


def test_fps_sampling_picks_the_first_frame_at_or_after_each_tick():
    sampler = FrameSampler(fps=4)
    times = np.arange(12) / 10  # 10 fps
    kept = [i for i, t in enumerate(times) if sampler.keep(i, t)]
    assert kept == [0, 3, 5, 8, 10]
    sampler = FrameSampler(fps=30)  # faster than the video: every frame, once
    assert [i for i, t in enumerate(times) if sampler.keep(i, t)] == list(range(12))
    sampler = FrameSampler(every_n=3)
    assert [i for i in range(10) if sampler.keep(i, i / 25)] == [0, 3, 6, 9]
    with pytest.raises(ValueError):
        FrameSampler(fps=1, every_n=2)


def test_batches_are_fixed_size_and_frames_match_the_encoded_ones(embed_videos):
    root, frames = embed_videos
    batches = list(iter_frame_batches(root / "clip_b.mp4", batch_size=3, fps=None, every_n=2))
    assert [len(b.indices) for b in batches] == [3, 3, 3, 1]
    got = np.concatenate([b.frames for b in batches])
    idx = np.concatenate([b.indices for b in batches])
    np.testing.assert_array_equal(idx, np.arange(0, 20, 2))
    assert got.shape == (10, 64, 64, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - frames["clip_b"][idx].astype(int)).mean() < 3  # codec loss only
    times = np.concatenate([b.times for b in batches])
    np.testing.assert_allclose(times, idx / 10, atol=1e-6)


def test_decode_is_streamed_not_materialised(embed_videos):
    """The first batch comes out before the rest of the file is decoded."""
    root, _ = embed_videos
    gen = iter_frame_batches(root / "clip_b.mp4", batch_size=2, fps=None, every_n=1)
    first = next(gen)
    assert len(first.indices) == 2
    frame_ref = gen.gi_frame.f_locals
    assert frame_ref["index"] < 5  # the decode loop is still near the start
    gen.close()


def test_probe(embed_videos):
    root, _ = embed_videos
    info = probe(root / "clip_c.mp4")
    assert (info.width, info.height, info.codec) == (56, 72, "h264")
    assert info.fps == pytest.approx(8) and info.duration == pytest.approx(2.0, abs=0.01)


def test_corrupt_missing_and_empty_inputs(corrupt_video, tmp_path):
    with pytest.raises(InputError, match="cannot be opened"):
        list(iter_frame_batches(corrupt_video))
    with pytest.raises(InputError, match="does not exist"):
        list(iter_frame_batches(tmp_path / "nope.mp4"))
