"""Pure cores: GT/LR/LR_7 shapes for every format, LR stack order, tone mapping, HDR detection, PNG."""

import numpy as np
import pytest

from vidray.io.png import encode_png, read_png, write_png_bytes
from vidray.io.probe import hdr_transfer, probe_video
from vidray.io.segments import SegmentDecoder
from vidray.patches.crops import crop_window, downscale, make_patch_set
from vidray.patches.decode import frame_to_array
from vidray.patches.formats import FORMATS
from vidray.patches.tonemap import hable, hlg_inverse_oetf, hlg_oetf, pq_eotf, pq_inverse_eotf, tonemap_to_bt709


@pytest.mark.parametrize("name", ["small_540", "medium_169", "large_720", "xlarge_169", "fullhd"])
def test_patch_set_shapes_for_every_format(name):
    f = FORMATS[name]
    frames = np.zeros((7, 1080, 1920, 3), np.uint8)
    out = make_patch_set(crop_window(frames, (1920 - f.width, 1080 - f.height, f.width, f.height)))
    assert out["GT"].shape == (f.height, f.width, 3)
    assert out["LR"].shape == (5 * f.height // 3, f.width // 3, 3)
    assert out["LR_7frames"].shape == (7 * f.height // 3, f.width // 3, 3)
    if name == "small_540":
        assert out["LR"].shape[:2] == (900, 180) and out["LR_7frames"].shape[:2] == (1260, 180)


def test_lr_stack_order_and_centre():
    crops = np.stack([np.full((540, 540, 3), 10 * (k + 1), np.uint8) for k in range(7)])  # frame k = −3+k
    out = make_patch_set(crops)
    assert (out["GT"] == 40).all()
    blocks = out["LR"].reshape(5, 180, 180, 3)
    assert [int(b[0, 0, 0]) for b in blocks] == [20, 30, 40, 50, 60]  # −2 at the top
    assert [int(b[0, 0, 0]) for b in out["LR_7frames"].reshape(7, 180, 180, 3)] == [10, 20, 30, 40, 50, 60, 70]


def test_downscale_is_3x3_box_mean():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    expected = crop.reshape(3, 3, 4, 3, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(downscale(crop).astype(float) - expected).max() <= 0.5 + 1e-9


def test_crop_outside_frame_raises():
    with pytest.raises(ValueError, match="outside"):
        crop_window(np.zeros((7, 100, 100, 3), np.uint8), (50, 0, 60, 60))


def test_pq_round_trip_and_tone_curve():
    nits = np.array([0.0, 1.0, 100.0, 1000.0, 10000.0])
    assert np.allclose(pq_eotf(pq_inverse_eotf(nits)), nits, rtol=1e-3, atol=1e-3)
    assert abs(pq_inverse_eotf(100.0) - 0.508) < 0.002  # 100 nits ≈ PQ code 0.508


def test_tonemap_monotone_white_and_grey():
    levels = np.round(pq_inverse_eotf(np.array([0, 1, 10, 100, 400, 1000, 4000])) * 65535).astype(np.uint16)
    rgb = np.repeat(levels[:, None], 3, axis=1)
    out = tonemap_to_bt709(rgb, "pq", "hable", 1000.0)
    assert out.dtype == np.uint8 and (np.diff(out[:, 0].astype(int)) >= 0).all()
    assert out[0, 0] == 0 and out[-1, 0] == 255  # 1000-nit peak → white; above clips
    assert (out[:, 0] == out[:, 1]).all() and (out[:, 1] == out[:, 2]).all()  # neutral stays neutral
    expected = round((hable(1.0) / hable(10.0)) ** (1 / 2.4) * 255)
    assert abs(int(out[3, 0]) - expected) <= 1  # 100 nits through hable, bt1886 gamma


def test_hdr_detection(clips):
    assert hdr_transfer(16) == "pq" and hdr_transfer(18) == "hlg" and hdr_transfer(1) is None
    assert probe_video(clips["pq"]).hdr == "pq"
    assert probe_video(clips["h264"]).hdr is None and probe_video(clips["hevc"]).hdr is None


def test_hlg_reference_white_is_pq_203_nits():
    """BT.2408: 75 % HLG on a 1000-nit display is 203 nits; both must tone-map to the same grey."""
    hlg = np.full((1, 1, 3), round(0.75 * 65535), np.uint16)
    pq = np.full((1, 1, 3), round(float(pq_inverse_eotf(203.0)) * 65535), np.uint16)
    assert abs(int(tonemap_to_bt709(hlg, "hlg")[0, 0, 0]) - int(tonemap_to_bt709(pq, "pq")[0, 0, 0])) <= 1
    assert np.abs(hlg_inverse_oetf(hlg_oetf(np.linspace(0, 1, 101))) - np.linspace(0, 1, 101)).max() < 1e-6


def test_hlg_clip_tonemaps_like_the_same_light_in_pq(clips):
    """An HLG clip of the PQ test scene's light (inverse OOTF) is detected as HLG and tone-maps to the PQ result."""
    assert probe_video(clips["hlg"]).hdr == "hlg"
    out = {}
    for name in ("pq", "hlg"):
        dec = SegmentDecoder(clips[name], 25.0)
        frame = next(f for i, f in dec.frames_from(10) if i == 10)
        # the clip was made through the inverse BT.2100 OOTF on luminance: map it back the same way
        out[name] = tonemap_to_bt709(frame_to_array(frame, (600, 600), name), name, hlg_ootf="luminance").astype(int)
        dec.close()
    diff = np.abs(out["hlg"] - out["pq"])
    assert diff.mean() < 4, diff.mean()  # measured 1.9 (10-bit coding, 4:2:0); without the OOTF it is 20
    assert out["hlg"].std() > 20  # a real picture, not a flat field


def test_png_round_trip(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    write_png_bytes(tmp_path / "a" / "x.png", encode_png(img))
    assert (read_png(tmp_path / "a" / "x.png") == img).all()
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.endswith(".part")]
