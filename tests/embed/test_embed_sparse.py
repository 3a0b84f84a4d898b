"""Embedding decodes only what it samples: the sampled frames (by time, by count, keyframes) are the ones a
full decode samples and bit-identical to them, on short-GOP clips (closed and open GOPs, B-frames) and the
real-footage corpus (variable frame rate, HDR10, MPEG-TS, AVI without an index); at 1 fps on 1-s GOPs it
decodes a tenth of the frames or fewer; the embeddings equal the full-decode path's."""

from __future__ import annotations

import dataclasses

import av
import numpy as np
import pytest

from tests.patches.conftest import encode, moving_scene
from vidray.embed.config import EmbedConfig
from vidray.embed.frames import DecodeCount, iter_frame_batches
from vidray.embed.job import decode_videos
from vidray.embed.model import embed_images, load_model, resolve_model
from vidray.embed.preprocess import Preprocess, resize_center_crop
from vidray.errors import ConfigError
from vidray.io.probe import probe_video

FRAMES = 200  # 8 s at 25 fps
SAMPLINGS = {"fps1": dict(fps=1.0), "fps3": dict(fps=3.0), "fps7.3": dict(fps=7.3),
             "every4": dict(fps=None, every_n=4), "keyframes": dict(sample="keyframes")}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Tiny clips with short GOPs: 1-s GOPs (H.264 closed with a B-pyramid, HEVC open), and 12-frame GOPs."""
    d = tmp_path_factory.mktemp("sparse_embed")
    scene = moving_scene(FRAMES, 64, 144, seed=3)  # a frame-number bar code in every frame
    one_second = {"g": "25", "keyint_min": "25", "sc_threshold": "0"}
    return {
        "h264_1s": encode(d / "h264_1s.mp4", scene, "libx264",
                          options={**one_second, "bf": "3", "x264-params": "b-pyramid=normal"}),
        "hevc_open_1s": encode(d / "hevc_open_1s.mp4", scene, "libx265", options={
            "x265-params": "log-level=error:keyint=25:min-keyint=25:scenecut=0:open-gop=1:bframes=4"}),
        "h264_gop12": encode(d / "h264_gop12.mp4", scene[:96], "libx264",
                             options={"g": "12", "bf": "3", "x264-params": "b-pyramid=normal"}),
    }


def sampled(path, **kw):
    """(indices, times, frames, DecodeCount) of every batch of ``path``."""
    count = DecodeCount()
    batches = list(iter_frame_batches(path, batch_size=7, count=count, **kw))
    return (np.concatenate([b.indices for b in batches]), np.concatenate([b.times for b in batches]),
            np.concatenate([b.frames for b in batches]), count)


def assert_same_as_full_decode(path, **kw) -> DecodeCount:
    idx, times, frames, count = sampled(path, **kw)
    ref_idx, ref_times, ref_frames, full = sampled(path, sparse=False, **kw)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(times, ref_times)
    for i, a, b in zip(idx, frames, ref_frames):
        assert np.array_equal(a, b), f"{path.name} {kw}: frame {i} differs from a full decode"
    assert full.frames == probe_video(path).frames and count.sampled == len(idx)
    return count


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("clip", ["h264_1s", "hevc_open_1s", "h264_gop12"])
def test_sparse_frames_equal_a_full_decode(clips, clip, sampling):
    count = assert_same_as_full_decode(clips[clip], **SAMPLINGS[sampling])
    assert count.frames < probe_video(clips[clip]).frames  # and fewer frames were decoded


@pytest.mark.parametrize("name", ["vfr", "hdr10", "interlaced", "ts_h264", "avi_no_index", "rotate90"])
def test_sparse_frames_equal_a_full_decode_on_real_footage_traps(corpus, name):
    """Presentation times (VFR), tone-mapped HDR10, MPEG-TS (seeks by dts), an AVI found by scanning."""
    for kw in (dict(fps=7.0), dict(fps=None, every_n=5), dict(sample="keyframes")):
        assert_same_as_full_decode(corpus[name].path, **kw)
    if name == "vfr":  # 7 per second while it is 20 fps (11), then every frame at 5 fps (14)
        idx, times, _, _ = sampled(corpus[name].path, fps=7.0)
        assert len(idx) == 25 and times[-1] - times[0] == pytest.approx(4.3)


@pytest.mark.parametrize("clip", ["h264_1s", "hevc_open_1s"])
def test_one_fps_on_one_second_gops_decodes_a_tenth_of_the_frames(clips, clip):
    idx, _, _, count = sampled(clips[clip], fps=1.0)
    assert idx.tolist() == list(range(0, FRAMES, 25))
    assert count.frames <= FRAMES / 10 and count.packets <= FRAMES / 10, count
    idx, _, _, count = sampled(clips[clip], sample="keyframes")
    assert count.frames <= FRAMES / 20 and count.frames == len(idx), count  # one decode per keyframe


@pytest.mark.parametrize("clip", ["h264_1s", "hevc_open_1s", "h264_gop12"])
def test_keyframe_sampling_gives_exactly_the_keyframes(clips, clip):
    with av.open(str(clips[clip])) as c:
        keys = [i for i, f in enumerate(c.decode(video=0)) if f.key_frame]
    idx, _, _, count = sampled(clips[clip], sample="keyframes")
    assert idx.tolist() == keys and len(keys) >= 8 and count.frames == len(keys)


def test_unknown_frame_count_decodes_everything(clips):
    info = dataclasses.replace(probe_video(clips["h264_gop12"]), frames=0)
    idx, _, _, count = sampled(clips["h264_gop12"], fps=3.0, info=info)
    assert count.frames == 96 and idx.tolist() == sampled(clips["h264_gop12"], fps=3.0)[0].tolist()


def test_embeddings_equal_the_full_decode_path(clips):
    spec = resolve_model("vidray-tiny", "none")
    model = load_model(spec)
    for kw in (dict(fps=3.0), dict(sample="keyframes")):
        sparse, full = (embed_images(model, resize_center_crop(sampled(clips["hevc_open_1s"], sparse=s, **kw)[2],
                                                               spec.preprocess), spec.preprocess)
                        for s in (True, False))
        assert sparse.shape == full.shape and np.abs(sparse - full).max() <= 1e-3


def test_decode_udf_samples_keyframes(clips):
    batch = {"video": np.array([3]), "path": np.array([str(clips["h264_gop12"])], dtype=object)}
    blocks = list(decode_videos(batch, pre=Preprocess(size=(32, 32)), fps=None, every_n=None, frames_per_block=4,
                                sample="keyframes"))
    rows = np.concatenate([b["frame_index"] for b in blocks])
    assert rows.tolist() == list(range(0, 96, 12)) + [-1]


def test_sample_setting_is_checked_at_the_door(capsys):
    from vidray.cli_flags import OneLineParser
    from vidray.config import from_dict
    from vidray.embed.cli import config_from_args, register

    parser = OneLineParser(prog="vidray")
    register(parser.add_subparsers(dest="command", parser_class=OneLineParser))
    cfg = config_from_args(parser.parse_args(["embed", "x", "--output", "o", "--sample", "keyframes"]))
    assert cfg.sample == "keyframes" and cfg.sample_fps is None and cfg.identity("none")["sample"] == "keyframes"
    default = config_from_args(parser.parse_args(["embed", "x", "--output", "o"]))
    assert default.sample == "time" and default.sample_fps == 1.0
    assert "sample" not in default.identity("none")  # an output made before --sample existed still resumes
    with pytest.raises(ConfigError, match="drop --fps 2"):
        config_from_args(parser.parse_args(["embed", "x", "--output", "o", "--sample", "keyframes", "--fps", "2"]))
    with pytest.raises(ConfigError) as err:
        from_dict(EmbedConfig, {"sample": "keyframes", "every_n": 3})
    assert "every_n" in str(err.value)
    with pytest.raises(ConfigError, match="sample must be one of time, keyframes"):
        from_dict(EmbedConfig, {"sample": "scenes"})
    with pytest.raises(SystemExit):
        parser.parse_args(["embed", "x", "--output", "o", "--sample", "scenes"])
    assert "invalid choice" in capsys.readouterr().err
