"""HDR (PQ / HLG, bt2020) → SDR bt709 in numpy, following the seed generator's FFmpeg chain
``zscale=t=linear:npl=100, zscale=p=bt709, tonemap=tonemap=mobius, zscale=t=bt709:m=bt709`` (FFmpeg's
defaults: Mobius param 0.3, desat 2.0, peak = the film's MaxCLL, else its mastering display's peak, else
1000 nits — what ``tonemap`` assumes for untagged input once ``zscale`` has made it linear)."""

from __future__ import annotations

import functools

import numpy as np

REFERENCE_WHITE = 100.0  # nits that map to linear 1.0 (zscale npl=100)
BT2020_LUMA = (0.2627, 0.6780, 0.0593)  # R, G, B weights of luminance Y in bt2020
HLG_DISPLAY_NITS, HLG_GAMMA = 1000.0, 1.2  # the BT.2100 OOTF's nominal display
DEFAULT_PEAK_NITS = 1000.0  # FFmpeg's tonemap on linear input without light-level metadata (peak 10 × 100 nits)
MOBIUS_PARAM = 0.3  # FFmpeg's default ``param`` for mobius
# linear-light bt2020 → bt709 primaries (ITU-R BT.2087)
BT2020_TO_BT709 = np.array([[1.660491, -0.587641, -0.072850],
                            [-0.124550, 1.132900, -0.008349],
                            [-0.018151, -0.100579, 1.118730]], dtype=np.float32)


def pq_eotf(e: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 signal in [0,1] → display light in nits (float32)."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(np.clip(e, 0, 1).astype(np.float64), 1 / m2)
    return (10000 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)).astype(np.float32)


def pq_inverse_eotf(nits: np.ndarray) -> np.ndarray:
    """Display light in nits → SMPTE ST 2084 signal in [0,1] (used to make test clips)."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.power(np.clip(np.asarray(nits, np.float64) / 10000, 0, 1), m1)
    return np.power((c1 + c2 * y) / (1 + c3 * y), m2)


def hlg_inverse_oetf(e: np.ndarray) -> np.ndarray:
    """ARIB STD-B67 signal in [0,1] → scene light in [0,1]."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    e = np.clip(e.astype(np.float64), 0, 1)
    return np.where(e <= 0.5, e * e / 3, (np.exp((e - c) / a) + b) / 12).astype(np.float32)


def hlg_oetf(scene: np.ndarray) -> np.ndarray:
    """Scene light in [0,1] → ARIB STD-B67 signal in [0,1] (used to make test clips)."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    x = np.clip(np.asarray(scene, np.float64), 0, 1)
    return np.where(x <= 1 / 12, np.sqrt(3 * x), a * np.log(np.maximum(12 * x - b, 1e-12)) + c)


def hlg_inverse_ootf(nits: np.ndarray) -> np.ndarray:
    """Display light (nits, bt2020 [...,3]) → HLG scene light in [0,1] by the inverse BT.2100 OOTF, so that an
    HLG clip shows the same light as a PQ clip of ``nits`` (used to make test clips)."""
    nits = np.asarray(nits, np.float64)
    yd = np.maximum(nits @ np.array(BT2020_LUMA), 1e-9)
    ys = (yd / HLG_DISPLAY_NITS) ** (1 / HLG_GAMMA)
    return nits / (HLG_DISPLAY_NITS * ys ** (HLG_GAMMA - 1))[..., None]


@functools.lru_cache(maxsize=4)
def linear_lut(transfer: str) -> np.ndarray:
    """16-bit code value → linear light (1.0 = 100 nits for PQ; scene light for HLG): float32 [65536]."""
    e = np.arange(65536, dtype=np.float64) / 65535
    if transfer == "pq":
        return pq_eotf(e) / np.float32(REFERENCE_WHITE)
    if transfer == "hlg":
        return hlg_inverse_oetf(e)
    raise ValueError(f"unknown HDR transfer {transfer!r}")


def hable(x: np.ndarray) -> np.ndarray:
    """Hable's filmic curve (as in FFmpeg's tonemap filter)."""
    a, b, c, d, e, f = 0.15, 0.50, 0.10, 0.20, 0.02, 0.30
    return (x * (x * a + b * c) + d * e) / (x * (x * a + b) + d * f) - e / f


def tone_curve(sig: np.ndarray, curve: str, peak: float) -> np.ndarray:
    """Map signal peak (max of R,G,B, linear, 1 = SDR white) to [0,1] with ``curve`` (FFmpeg's formulas)."""
    if curve == "hable":
        return hable(sig) / hable(np.float32(peak))
    if curve == "mobius":
        j = np.float32(MOBIUS_PARAM)
        a = -j * j * (peak - 1) / (j * j - 2 * j + peak)
        b = (j * j - 2 * j * peak + peak) / max(peak - 1, 1e-6)
        return np.where(sig <= j, sig, np.float32((b * b + 2 * b * j + j * j) / (b - a)) * (sig + np.float32(a))
                        / (sig + np.float32(b)))
    if curve == "reinhard":
        return sig / (sig + 1) * (peak + 1) / peak
    if curve == "clip":
        return np.clip(sig, 0, 1)
    raise ValueError(f"unknown tone curve {curve!r}")


def signal_peak_nits(max_cll: float | None = None, mastering_max_nits: float | None = None) -> float:
    """The peak FFmpeg's tonemap assumes (``ff_determine_signal_peak``): MaxCLL, else the mastering display's
    maximum luminance, else :data:`DEFAULT_PEAK_NITS`."""
    for nits in (max_cll, mastering_max_nits):
        if nits and nits > 0:
            return float(nits)
    return DEFAULT_PEAK_NITS


def bt1886_inverse_eotf(x: np.ndarray) -> np.ndarray:
    """Display light [0,1] → bt709 signal [0,1] by the BT.1886 display gamma 2.4 (what zscale's
    display-referred ``t=bt709`` does; PQ content is display-referred, so not the camera OETF)."""
    return np.power(np.clip(x, 0, 1), np.float32(1 / 2.4))


@functools.lru_cache(maxsize=1)
def _encode_lut() -> np.ndarray:
    """uint8 bt709 code of display light x in [0,1], indexed by ``float32(x).view(int32) >> 8`` (a float with its
    low 8 mantissa bits dropped: relative step 2**-15, far below one output code), for a gather instead of a power."""
    top = np.float32(1).view(np.int32) >> 8
    mids = ((np.arange(top + 1, dtype=np.int64) << 8) | 0x80).astype(np.int32).view(np.float32)
    return np.round(bt1886_inverse_eotf(np.minimum(mids, np.float32(1))) * 255).astype(np.uint8)


def _encode8(x: np.ndarray) -> np.ndarray:
    """Display light float32 → bt709 uint8 via :func:`_encode_lut` (clips ``x`` to [0,1] in place)."""
    np.clip(x, 0, 1, out=x)
    return _encode_lut()[x.view(np.int32) >> 8]


CHUNK = 1 << 16  # pixels per pass: planar float32 chunks stay in cache


def tonemap_to_bt709(rgb16: np.ndarray, transfer: str, curve: str = "mobius", peak_nits: float | None = None,
                     desat: float = 2.0, hlg_ootf: str = "per_channel") -> np.ndarray:
    """bt2020 PQ/HLG RGB uint16 [...,3] (full range) → SDR bt709 RGB uint8 [...,3].

    ``peak_nits`` None = :data:`DEFAULT_PEAK_NITS` (see :func:`signal_peak_nits`); ``desat`` as FFmpeg's
    tonemap (light above ``desat`` × 100 nits is pulled towards its luminance, weighed with bt2020's
    coefficients as the frame is still tagged bt2020 there); ``hlg_ootf``: ``per_channel`` = the BT.2100
    OOTF on each of R, G, B as zimg applies it, ``luminance`` = on the luminance Ys as BT.2100 writes it.
    Works in cache-sized chunks, one plane per channel (numpy reductions over a length-3 axis and
    float powers are what made the straightforward version slow)."""
    lut = linear_lut(transfer)
    src = np.ascontiguousarray(rgb16).reshape(-1, 3)
    out = np.empty(src.shape, np.uint8)
    peak = np.float32((peak_nits or DEFAULT_PEAK_NITS) / REFERENCE_WHITE)
    m = BT2020_TO_BT709
    kr, kg, kb = (np.float32(k) for k in BT2020_LUMA)
    hlg_scale = np.float32(HLG_DISPLAY_NITS / REFERENCE_WHITE)
    for s in range(0, len(src), CHUNK):
        block = src[s:s + CHUNK]
        r, g, b = (lut[block[:, k]] for k in range(3))
        if transfer == "hlg" and hlg_ootf == "luminance":  # display light via the bt2100 OOTF on luminance
            ys = np.maximum(r * kr + g * kg + b * kb, np.float32(1e-6))
            gain = hlg_scale * np.power(ys, np.float32(HLG_GAMMA - 1))
            r, g, b = r * gain, g * gain, b * gain
        elif transfer == "hlg":  # zimg: E^1.2 per channel
            r, g, b = (hlg_scale * np.power(c, np.float32(HLG_GAMMA)) for c in (r, g, b))
        planes = [r * m[k, 0] + g * m[k, 1] + b * m[k, 2] for k in range(3)]
        if desat > 0:
            luma = planes[0] * kr + planes[1] * kg + planes[2] * kb
            over = np.maximum(luma - np.float32(desat), np.float32(1e-6)) / np.maximum(luma, np.float32(1e-6))
            planes = [p + (luma - p) * over for p in planes]
        sig = np.maximum(np.maximum(np.maximum(planes[0], planes[1]), planes[2]), np.float32(1e-6))
        scale = tone_curve(sig, curve, peak) / sig
        for k in range(3):
            out[s:s + CHUNK, k] = _encode8(planes[k] * scale)
    return out.reshape(rgb16.shape)
