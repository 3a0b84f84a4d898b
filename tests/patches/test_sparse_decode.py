"""The sparse decoder: wanted frames bit-identical to a full decode (closed and open GOPs, B-frames,
real camera footage) while skipping GOPs and non-reference frames, and seeking over long gaps."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tests.patches.conftest import encode, moving_scene
from vidray.io.probe import probe_video
from vidray.io.segments import SegmentDecoder


@pytest.fixture(scope="module")
def gop_clips(tmp_path_factory, bikes):
    d = tmp_path_factory.mktemp("gops")
    scene = moving_scene(96, 144, 176, seed=7)
    return {
        "h264_closed": encode(d / "h264.mp4", scene, "libx264",
                              options={"g": "12", "bf": "3", "x264-params": "b-pyramid=normal"}),
        "h264_open": encode(d / "h264_open.mp4", scene, "libx264",
                            options={"g": "12", "bf": "3", "x264-params": "open-gop=1:keyint=12:min-keyint=12"}),
        "hevc_open": encode(d / "hevc_open.mp4", scene, "libx265",
                            options={"x265-params": "log-level=error:keyint=12:min-keyint=12:open-gop=1:bframes=4"}),
        "bikes": bikes,
    }


def full_decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(c.streams.video[0])]


def decode_windows(path, windows: list[tuple[int, int]], **kwargs) -> tuple[dict[int, np.ndarray], SegmentDecoder]:
    def next_wanted(i):
        starts = [max(a, i) for a, b in windows if b >= i]
        return min(starts) if starts else None

    dec = SegmentDecoder(path, probe_video(path).fps)
    try:
        got = {i: f.to_ndarray() for i, f in dec.wanted_frames(min(a for a, _ in windows), next_wanted, **kwargs)}
    finally:
        dec.close()
    return got, dec


@pytest.mark.parametrize("name", ["h264_closed", "h264_open", "hevc_open", "bikes"])
def test_wanted_frames_match_a_full_decode(gop_clips, name):
    full = full_decode(gop_clips[name])
    rng = np.random.default_rng(len(name))
    for trial in range(6):
        firsts = sorted(rng.integers(0, len(full) - 7, size=int(rng.integers(1, 5))).tolist())
        if trial == 0:  # windows straddling GOP boundaries and sitting on open-GOP leading pictures
            firsts = [8, 20, 33]
        windows = [(a, a + 6) for a in firsts]
        got, dec = decode_windows(gop_clips[name], windows)
        want = sorted({i for a, b in windows for i in range(a, b + 1)})
        assert sorted(got) == want, (windows, sorted(got))
        for i in want:
            assert np.array_equal(got[i], full[i]), f"{name}: frame {i} differs from a full decode (windows {windows})"
        assert dec.decoded < len(full)


def test_skips_gops_and_non_reference_frames(gop_clips):
    """Two windows in a 96-frame clip with 12-frame GOPs: only their GOPs are decoded."""
    got, dec = decode_windows(gop_clips["h264_closed"], [(50, 56), (80, 86)])
    assert len(got) == 14
    assert dec.decoded <= 2 * 12 + 4, f"decoded {dec.decoded} frames for two windows"


def test_long_gap_is_seeked_over(gop_clips):
    """With seek_gap below the distance, the decoder seeks instead of reading every packet in between."""
    full = full_decode(gop_clips["bikes"])
    windows = [(3, 9), (220, 226)]
    got, dec = decode_windows(gop_clips["bikes"], windows, seek_gap=1.0)
    assert all(np.array_equal(got[i], full[i]) for i in got) and len(got) == 14
    assert dec.decoded < 120


def test_frames_from_yields_every_frame(gop_clips):
    full = full_decode(gop_clips["hevc_open"])
    dec = SegmentDecoder(gop_clips["hevc_open"], 25.0)
    got = [(i, f.to_ndarray()) for i, f in dec.frames_from(30)]
    dec.close()
    assert [i for i, _ in got] == list(range(30, len(full)))
    assert all(np.array_equal(a, full[i]) for i, a in got)


def test_decoder_reused_for_an_earlier_window(gop_clips):
    """A second pass that seeks back (as a retry does) decodes its frames like the first."""
    full = full_decode(gop_clips["h264_closed"])
    dec = SegmentDecoder(gop_clips["h264_closed"], 25.0)
    for first in (70, 20, 45):
        wanted = lambda i, a=first: max(a, i) if i <= a + 6 else None
        got = {i: f.to_ndarray() for i, f in dec.wanted_frames(first, wanted)}
        assert sorted(got) == list(range(first, first + 7))
        assert all(np.array_equal(got[i], full[i]) for i in got)
    dec.close()
