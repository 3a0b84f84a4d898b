"""What a frame shows, on the real-footage corpus (tests/corpus.py): the right stream, upright, square
pixels, HDR tone-mapped, and presentation times for variable frame rate — probe and decode, no Ray."""

from __future__ import annotations

import numpy as np
import pytest

from vidray.embed.frames import iter_frame_batches
from vidray.errors import InputError
from vidray.io.probe import probe_video
from vidray.patches.tonemap import tonemap_to_bt709


def frames_of(case, **kw) -> np.ndarray:
    return np.concatenate([b.frames for b in iter_frame_batches(case.path, fps=None, every_n=1, **kw)])


def mad(a, b) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_rotation_and_pixel_aspect_give_what_a_player_shows(corpus):
    upright = frames_of(corpus["upright"])
    turned = probe_video(corpus["rotate90"].path)
    assert (turned.width, turned.height, turned.rotation, turned.display_size) == (720, 576, 90, (576, 720))
    # the same coded pictures, turned a quarter counter-clockwise as the display matrix says
    np.testing.assert_array_equal(frames_of(corpus["rotate90"]), np.rot90(upright, 1, axes=(1, 2)))
    wide = probe_video(corpus["anamorphic"].path)
    assert abs(wide.pixel_aspect - 16 / 15) < 1e-9 and wide.display_size == (768, 576)
    assert frames_of(corpus["anamorphic"]).shape == (24, 576, 768, 3)


def test_cover_art_and_a_second_video_stream_do_not_take_the_films_place(corpus):
    reference = frames_of(corpus["mkv_h264"])
    for name in ("cover_art", "two_videos"):
        info = probe_video(corpus[name].path)
        assert (info.width, info.height) == (720, 576), name
        assert mad(frames_of(corpus[name]), reference) < 3.0, name


def test_hdr10_is_tone_mapped_not_shown_as_washed_out_code_values(corpus):
    import av

    info = probe_video(corpus["hdr10"].path)
    assert info.hdr == "pq"
    got = frames_of(corpus["hdr10"])
    with av.open(str(corpus["hdr10"].path)) as c:
        frames = list(c.decode(video=0))
        naive = np.stack([f.to_ndarray(format="rgb24") for f in frames])
        mapped = np.stack([tonemap_to_bt709(f.reformat(format="rgb48le", src_colorspace="bt2020").to_ndarray(), "pq")
                           for f in frames])
    np.testing.assert_array_equal(got, mapped)  # the patch job's tone-mapper, on the whole frame
    assert mad(got, naive) > 10  # not the PQ code values read as if they were bt709


def test_ten_bit_sdr_and_legacy_codecs_decode_to_the_footage(corpus):
    upright = frames_of(corpus["upright"])
    for name in ("sdr_10bit", "mov_mjpeg", "ts_h264", "avi_mpeg4", "avi_msmpeg4", "avi_no_index", "interlaced"):
        got = frames_of(corpus[name])
        assert got.shape == upright.shape and mad(got, upright) < 8.0, name
    assert probe_video(corpus["interlaced"].path).interlaced
    assert probe_video(corpus["avi_cinepak"].path).codec == "cinepak"


def test_variable_frame_rate_is_indexed_by_presentation_time(corpus):
    info = probe_video(corpus["vfr"].path)
    assert info.frames == 45 and info.timestamps is not None
    assert info.timestamps[:3] == (0.0, 0.05, 0.1) and info.timestamps[-2:] == pytest.approx((4.1, 4.3))
    timeline = info.timeline()
    assert [timeline.index_at(t) for t in (0.0, 0.05, 1.45, 1.5, 1.7, 4.3)] == [0, 1, 29, 30, 31, 44]
    assert probe_video(corpus["upright"].path).timestamps is None  # constant frame rate: plain arithmetic
    times = np.concatenate([b.times for b in iter_frame_batches(corpus["vfr"].path, fps=None, every_n=1)])
    np.testing.assert_allclose(times - times[0], info.timestamps, atol=1e-3)


@pytest.mark.parametrize("name", ["audio_only", "truncated", "zero_byte", "garbage"])
def test_unusable_files_fail_with_their_reason(corpus, name):
    with pytest.raises(InputError, match=corpus[name].reason):
        probe_video(corpus[name].path)
