"""One probe and one list of video suffixes for every stage, on tiny real clips made with PyAV."""

from __future__ import annotations

import av
import numpy as np
import pytest

from vidray.errors import InputError
from vidray.io.probe import open_video, probe_video
from vidray.io.video import VIDEO_SUFFIXES, write_mp4


def _frames(t: int = 6, h: int = 48, w: int = 64) -> np.ndarray:
    return (np.arange(t * h * w * 3) % 251).astype(np.uint8).reshape(t, h, w, 3)


def _encode_rotated(path, degrees: int, fps: int = 10):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.set_display_rotation(degrees)
        for f in _frames():
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


def test_probe_reads_size_rate_count_duration_codec_and_tags(tmp_path):
    path = write_mp4(tmp_path / "clip.mp4", _frames(12), fps=8)
    info = probe_video(path)
    assert (info.path, info.width, info.height, info.codec) == (str(path), 64, 48, "h264")
    assert info.fps == pytest.approx(8)
    assert info.frames == 12 and info.duration == pytest.approx(1.5, abs=0.01)
    assert info.hdr is None and info.rotation == 0
    assert info.color_trc == 2  # unspecified: an SDR file written without colour tags


def test_probe_reports_display_rotation(tmp_path):
    info = probe_video(_encode_rotated(tmp_path / "portrait.mp4", 90))
    assert info.rotation == 90 and (info.width, info.height) == (64, 48)  # coded size, before rotation


def test_unusable_files_are_input_errors_with_the_reason(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        probe_video(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 255, 2048, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="cannot be opened as a video"):
        probe_video(junk)
    audio = tmp_path / "tone.wav"
    with av.open(str(audio), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        c.mux(s.encode(frame))
        c.mux(s.encode())
    with pytest.raises(InputError, match="has no video stream") as err:
        open_video(audio)
    assert err.value.path == str(audio)


def test_every_stage_scans_folders_for_the_same_suffixes(tmp_path):
    """A .m4v file counts as video for embed, to-hdf5 and training alike (one suffix list in vidray.io.video)."""
    from vidray.embed.inputs import load_videos
    from vidray.synth.to_hdf5 import find_videos
    from vidray.train.datasets import video_splits

    assert ".m4v" in VIDEO_SUFFIXES and all(s == s.lower() and s.startswith(".") for s in VIDEO_SUFFIXES)
    root = tmp_path / "videos"
    for i in range(2):
        (root / "train" / "class_0").mkdir(parents=True, exist_ok=True)
        write_mp4(root / "train" / "class_0" / f"v{i}.M4V", _frames(4), fps=10)
    (root / "train" / "class_0" / "notes.txt").write_text("not a video")
    assert [v.name for v in load_videos(root)] == ["train_class_0_v0", "train_class_0_v1"]
    items, classes = find_videos(root)
    assert len(items) == 2 and classes == ["class_0"]
    train, val = video_splits(str(tmp_path), 0.5)
    assert len(train) + len(val) == 2
