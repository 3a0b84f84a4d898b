"""Films on object storage are streamed, not copied: PyAV reads an ``s3://`` film through a seekable
read-ahead handle (a real S3 endpoint on 127.0.0.1), decodes the same frames as from disk, and a sparse
decode fetches only part of the object."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from vidray.embed.frames import iter_frame_batches
from vidray.errors import InputError
from vidray.io import storage
from vidray.io.probe import probe_video
from vidray.io.segments import SegmentDecoder
from vidray.io.video import read_frames, write_mp4
from vidray.patches.decode import frame_to_array


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory):
    """A 6 s 25 fps H.264 clip of noise (1 s GOPs): ~9 MB, so read-ahead ranges are a small part of it."""
    path = tmp_path_factory.mktemp("streamed") / "noise.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "16", "g": "25"}
        for _ in range(150):
            c.mux(s.encode(av.VideoFrame.from_ndarray(rng.integers(0, 256, (240, 320, 3), np.uint8), format="rgb24")))
        c.mux(s.encode())
    return path


@pytest.fixture
def on_s3(s3_bucket):
    """Upload a local file to the test bucket; returns its URI."""
    def upload(path, name=None):
        uri = f"{s3_bucket}/films/{name or path.name}"
        storage.write_bytes(uri, path.read_bytes())
        return uri
    return upload


def test_read_ahead_file_serves_random_reads_like_the_bytes(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 3_000_000, np.uint8).tobytes()
    (tmp_path / "blob").write_bytes(data)
    ref = io.BytesIO(data)
    rng = np.random.default_rng(2)
    with storage.open_readahead(tmp_path / "blob", min_fetch=4096, max_fetch=65536) as f:
        for _ in range(300):
            if rng.random() < 0.2:
                pos = int(rng.integers(0, len(data) + 10))
                assert f.seek(pos) == ref.seek(pos)
            n = int(rng.integers(0, 50_000))
            assert f.read(n) == ref.read(n)
            assert f.tell() == ref.tell()
        assert f.seek(-5, 2) == len(data) - 5 and f.read() == data[-5:] and f.read(10) == b""
        assert f.requests > 0 and f.bytes_read >= 4096


def test_read_ahead_grows_on_sequential_reads_and_starts_small_after_a_jump(tmp_path):
    (tmp_path / "blob").write_bytes(bytes(8 << 20))
    with storage.open_readahead(tmp_path / "blob", min_fetch=64 << 10, max_fetch=1 << 20) as f:
        while f.read(32768):  # how FFmpeg reads: 32 KiB at a time
            pass
        assert f.bytes_read == 8 << 20
        assert f.requests < 16  # 64K, 128K, … then 1 MiB ranges (not 256 requests of 32 KiB)
        before = f.bytes_read
        f.seek(3 << 20)
        f.read(1000)
        assert f.bytes_read - before == 64 << 10  # a jump fetches one small range


def test_probe_and_full_decode_from_s3_equal_the_local_file(tmp_path, on_s3):
    frames = (np.arange(12 * 48 * 64 * 3) % 251).astype(np.uint8).reshape(12, 48, 64, 3)
    local = write_mp4(tmp_path / "clip.mp4", frames, fps=8)
    uri = on_s3(local)
    a, b = probe_video(local), probe_video(uri)
    assert b.path == uri and {**vars(a), "path": uri} == vars(b)
    assert np.array_equal(read_frames(uri), read_frames(local))
    local_batches = list(iter_frame_batches(local, batch_size=5, fps=4.0))
    s3_batches = list(iter_frame_batches(uri, batch_size=5, fps=4.0))
    assert len(s3_batches) == len(local_batches) == 2
    for x, y in zip(local_batches, s3_batches):
        assert np.array_equal(x.frames, y.frames) and np.array_equal(x.indices, y.indices)
        assert np.array_equal(x.times, y.times)


def test_sparse_decode_from_s3_is_identical_and_reads_part_of_the_film(noisy_clip, on_s3):
    uri = on_s3(noisy_clip)
    wanted = [100, 101, 102, 103, 104, 105, 106]  # one window in the 5th of 6 GOPs

    def decode(path):
        dec = SegmentDecoder(path, 25.0)
        try:
            out = {i: frame_to_array(f, (320, 240), None) for i, f in
                   dec.wanted_frames(wanted[0], lambda i: next((w for w in wanted if w >= i), None))}
            return out, dec.bytes_read
        finally:
            dec.close()

    local, local_bytes = decode(noisy_clip)
    remote, fetched = decode(uri)
    assert local_bytes is None  # a local film is opened by path, as before
    assert sorted(remote) == wanted and all(np.array_equal(local[i], remote[i]) for i in wanted)
    size = noisy_clip.stat().st_size
    assert fetched < 0.6 * size, (fetched, size)


def test_a_missing_film_on_s3_fails_like_a_missing_local_file(tmp_path, s3_bucket):
    with pytest.raises(InputError) as local:
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(InputError) as remote:
        probe_video(f"{s3_bucket}/films/nope.mp4")
    assert remote.value.reason == local.value.reason == "video file does not exist"
    with pytest.raises(InputError, match="does not exist"):
        list(iter_frame_batches(f"{s3_bucket}/films/nope.mp4"))
    storage.write_bytes(f"{s3_bucket}/films/garbage.mp4", b"not a video" * 100)
    with pytest.raises(InputError, match="cannot be opened as a video"):
        SegmentDecoder(f"{s3_bucket}/films/garbage.mp4", 25.0)
