"""Patch extraction throughput, at the seed's density (one 7-frame window per ~50 source frames):

  (a) decode ratio = PyAV decoding every frame to RGB (1 thread) ÷ vidray's whole job (1 worker)
  (b) seed ratio   = the seed's method (one ffmpeg subprocess per extraction: seek, 7 frames to PNGs
                     in a temp dir, then read/crop/resize/stack/write) ÷ vidray (1 worker), same outputs
  (c) 2-worker ÷ 1-worker throughput
  (e) limit ratio  = vidray's whole job (1 worker) ÷ the least work its output needs on one core: decoding
                     exactly the frames the plan needs (each GOP from its keyframe to its last wanted frame)
                     + PNG-encoding the outputs; printed with where the rest of the time goes
  (d) S3 ratio     = the job (1 worker) reading a 4K HEVC film (2 s GOPs, 50 Mbit/s) from a local S3 endpoint (moto's
                     server on 127.0.0.1) ÷ the same job reading the same film from disk, and the bytes the
                     decoder fetched from S3 per extraction against the file size (films are streamed by ranged
                     reads, never downloaded whole)
plus the mean absolute difference (0–255) of vidray's HDR tone-mapper against Debian ffmpeg's
zscale+tonemap. Rows needing /usr/bin/ffmpeg are skipped with a note when it is missing.

    python bench/patches.py [--frames-1080 750] [--frames-4k 100] [--frames-hdr 150] [--frames-s3 250]

Every number is measured in this run; the last line prints them.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
FFMPEG = "/usr/bin/ffmpeg"
DENSITY = 50  # source frames per extraction (3000 from a ~2-hour film at 25 fps ≈ 1 per 60)
# the seed generator's HDR chain, exactly; ``format=rgb24`` is added only to read its pixels (as its PNGs store them)
TONEMAP_VF = ("zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=mobius,zscale=t=bt709:m=bt709,"
              "format=yuv420p,scale=1920:1080:flags=lanczos")


def scene_frame(t: int, width: int, height: int, tex: np.ndarray) -> np.ndarray:
    """uint8 [H,W,3]: a textured scene panning 4 px/frame."""
    return np.ascontiguousarray(tex[:height, 4 * t:4 * t + width])


def make_clip(path: Path, frames: int, width: int, height: int, codec: str, hdr: str | None = None,
              keyint: int | None = None, kbps: int | None = None) -> Path:
    """Encode a synthetic panning clip (8-bit H.264/HEVC, or 10-bit HEVC tagged bt2020 with ``hdr`` "pq"/"hlg");
    ``keyint``: frames per GOP for HEVC (x265's default is 250); ``kbps``: a constant bitrate for HEVC instead of
    CRF 20 (a film's 4K stream is ~50 Mbit/s; the smooth pan at CRF 20 is far less)."""
    if path.exists():
        return path
    from vidray.io.probe import TRANSFER_TAGS as TRANSFER
    from vidray.patches.tonemap import hlg_inverse_ootf, hlg_oetf, pq_inverse_eotf

    rng = np.random.default_rng(0)
    tex = cv2.resize(rng.integers(0, 256, (height // 8 + 2, (width + 4 * frames) // 8 + 2, 3), dtype=np.uint8),
                     None, fx=8, fy=8, interpolation=cv2.INTER_LINEAR)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream(codec, rate=25)
        s.width, s.height = width, height
        params = "log-level=error" + (f":keyint={keyint}:min-keyint={keyint}" if keyint else "")
        params += f":bitrate={kbps}:vbv-maxrate={kbps}:vbv-bufsize={kbps}" if kbps else ""
        if hdr:
            s.pix_fmt = "yuv420p10le"
            s.codec_context.color_primaries, s.codec_context.color_trc, s.codec_context.colorspace = \
                9, TRANSFER[hdr][0], 9
            params += f":colorprim=bt2020:transfer={TRANSFER[hdr][1]}:colormatrix=bt2020nc"
        else:
            s.pix_fmt = "yuv420p"
        # x264 veryfast with a 2 s GOP decodes like ordinary footage; x265 ultrafast keeps 4K encoding short
        s.options = {"preset": "ultrafast", "x265-params": params, **({} if kbps else {"crf": "20"})} \
            if codec == "libx265" else \
            {"preset": "veryfast", "crf": "18", "g": "50"}
        for t in range(frames):
            rgb = scene_frame(t, width, height, tex)
            if kbps:  # film grain: fresh noise every frame is what makes real 4K streams cost their bitrate
                rgb = cv2.add(rgb, rng.integers(0, 12, rgb.shape, dtype=np.uint8))
            if hdr:  # SDR-looking scene at up to ~1000 nits, PQ/HLG-encoded bt2020 Y'CbCr, 10-bit limited range
                nits = 100 * (rgb.astype(np.float32) / 255) ** 2.4
                nits[height // 4: height // 2, width // 4: width // 2] *= 8
                if hdr == "pq":
                    e = pq_inverse_eotf(nits)
                else:  # the same display light through the inverse BT.2100 OOTF
                    e = hlg_oetf(hlg_inverse_ootf(nits))
                y = 0.2627 * e[..., 0] + 0.6780 * e[..., 1] + 0.0593 * e[..., 2]
                cb, cr = (e[..., 2] - y) / 1.8814, (e[..., 0] - y) / 1.4746
                sub = lambda p: p.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
                planes = [np.round(64 + 876 * y), np.round(512 + 896 * sub(cb)), np.round(512 + 896 * sub(cr))]
                packed = np.concatenate([planes[0]] + [p.reshape(-1, width) for p in planes[1:]]).astype(np.uint16)
                frame = av.VideoFrame.from_ndarray(packed, format="yuv420p10le")
                frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = 9, TRANSFER[hdr][0], 9, 1
            else:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            c.mux(s.encode(frame))
        c.mux(s.encode())
    tmp.replace(path)
    return path


def decode_all(path: Path, hdr: bool) -> float:
    """Seconds to decode every frame to RGB (rgb48 for HDR) with PyAV on one thread."""
    from av.video.reformatter import VideoReformatter

    t0 = time.perf_counter()
    reformatter = VideoReformatter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        for f in c.decode(s):
            reformatter.reformat(f, format="rgb48le" if hdr else "rgb24", threads=1).to_ndarray()
    return time.perf_counter() - t0


def config_for(path: Path | str, frames: int, segments: int, density: int = DENSITY):
    """One film (a local path or a URI), one window per ``density`` frames, ``segments`` work items."""
    from pathlib import PurePosixPath

    from vidray.patches.config import parse_patches_config

    return parse_patches_config({"base_settings": {"base_frame_limit": max(1, frames // density), "min_file_size": 0,
                                                   "segment_seconds": frames / 25 / segments},
                                 "videos": [{"name": PurePosixPath(str(path)).stem, "path": str(path),
                                             "categories": {"general": 1}}]})


def run_vidray(cfg, out: Path, workers: int) -> float:
    from vidray.patches.job import run_patches
    from vidray.stage import Scale

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run_patches(cfg, out, scale=Scale(workers=workers))
    assert summary.failed == 0 and summary.ok == summary.planned, summary.line()
    return time.perf_counter() - t0


def task_peak_rss(path: Path, frames: int) -> tuple[float, float]:
    """(MB after imports, peak MB) of a fresh process running the whole clip as one work item."""
    code = f"""
import sys, tempfile
sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parent.parent)!r}]
import patches as B
from pathlib import Path
from vidray.io.probe import probe_video
from vidray.patches.extract import extract_segment
from vidray.patches.job import task_settings
from vidray.patches.plan import plan_segments, plan_video
cfg = B.config_for(Path({str(path)!r}), {frames}, segments=1)
info = probe_video(cfg.videos[0].path)
plan = plan_video(cfg.videos[0], info, cfg)
def hwm():  # peak RSS of this process image in MB (ru_maxrss would include the forked parent's)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
base = hwm()
for item in plan_segments(plan, info, cfg.base_settings.segment_seconds):
    assert all(r["status"] == "ok" for r in extract_segment(item, task_settings(info, plan, cfg.base_settings),
                                                             tempfile.mkdtemp()))
print(base, hwm())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[-2]), float(out[-1])


def start_s3() -> tuple[object, str]:
    """A local S3 endpoint (moto's ThreadedMotoServer on 127.0.0.1) and a fresh bucket; the AWS environment
    points at it before Ray starts, so Ray's workers stream from it the way they would from a real store."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket="vidray-bench")
    return server, "s3://vidray-bench"


def bytes_per_extraction(cfg) -> tuple[int, int, int, int]:
    """(bytes fetched, requests, extractions, file size) of decoding every planned window of ``cfg``'s one film
    the way the job does: one decoder per (video, segment) task, sparse GOP decoding with seeks."""
    from bisect import bisect_left

    from vidray.io import storage
    from vidray.io.probe import probe_video
    from vidray.io.segments import SegmentDecoder
    from vidray.patches.plan import HALF, plan_segments, plan_video

    entry = cfg.videos[0]
    info = probe_video(entry.path)
    plan = plan_video(entry, info, cfg)
    fetched = requests = windows = 0
    for item in plan_segments(plan, info, cfg.base_settings.segment_seconds):
        wanted = sorted({w["centre"] + d for w in item["windows"] for d in range(-HALF, HALF + 1)})
        dec = SegmentDecoder(entry.path, info.fps, source=storage.open_readahead(entry.path))
        try:
            def next_wanted(i, wanted=wanted):
                k = bisect_left(wanted, i)
                return wanted[k] if k < len(wanted) else None

            for _ in dec.wanted_frames(wanted[0], next_wanted):
                pass
            fetched, requests = fetched + dec.bytes_read, requests + dec.source.requests
        finally:
            dec.close()
        windows += len(item["windows"])
    with storage.open_input(entry.path) as f:
        size = f.size()
    return fetched, requests, windows, size


def run_seed(cfg, out: Path) -> float:
    """The seed's method: per extraction one ffmpeg process (seek, 7 frames → PNGs in a temp dir, scale UHD to
    1920x1080, tone-map HDR), then read the PNGs back, crop, downscale by 3, stack and write."""
    from vidray.io.png import encode_png
    from vidray.io.probe import probe_video
    from vidray.patches.crops import make_patch_set
    from vidray.patches.plan import plan_video

    shutil.rmtree(out, ignore_errors=True)
    cv2.setNumThreads(1)  # one core, like ffmpeg -threads 1 and vidray's worker
    entry = cfg.videos[0]
    t0 = time.perf_counter()
    info = probe_video(entry.path)
    plan = plan_video(entry, info, cfg)
    if info.hdr:  # the generator's own chain (it ends in its 1920x1080 Lanczos scale)
        filters = [TONEMAP_VF]
    elif (info.width, info.height) != plan.work_size:
        filters = [f"scale={plan.work_size[0]}:{plan.work_size[1]}:flags=lanczos"]
    else:
        filters = []
    for e in plan.extractions:
        with tempfile.TemporaryDirectory() as tmp:
            start = (e["centre"] - 3) / info.fps
            cmd = [FFMPEG, "-v", "error", "-threads", "1", "-ss", f"{start:.6f}", "-i", entry.path, "-frames:v", "7",
                   "-threads", "1", "-filter_threads", "1"]  # one core, as vidray's 1 worker
            cmd += (["-vf", ",".join(filters)] if filters else []) + [f"{tmp}/f_%d.png"]
            subprocess.run(cmd, check=True)
            frames = np.stack([cv2.imread(f"{tmp}/f_{k}.png")[..., ::-1] for k in range(1, 8)])
        x, y, w, h = e["box"]
        for kind, arr in make_patch_set(frames[:, y:y + h, x:x + w]).items():
            path = out / e["paths"][kind]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_png(arr))
    return time.perf_counter() - t0


def tonemap_difference(path: Path, transfer: str, frames: int = 8) -> float:
    """Mean |vidray's default HDR path − /usr/bin/ffmpeg running the seed generator's exact filter chain| over
    the first frames of an HDR clip, 0–255 scale, on the 1920×1080 picture both produce."""
    from vidray.io.probe import probe_video
    from vidray.io.segments import SegmentDecoder
    from vidray.patches.config import BaseSettings
    from vidray.patches.decode import frame_to_array
    from vidray.patches.extract import frame_peak_nits
    from vidray.patches.plan import work_size
    from vidray.patches.tonemap import tonemap_to_bt709

    info, bs = probe_video(path), BaseSettings()
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-frames:v", str(frames), "-vf",
                          TONEMAP_VF + ",format=rgb24", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    ref = np.frombuffer(raw, np.uint8).reshape(-1, 1080, 1920, 3).astype(np.int16)
    size = work_size(*info.display_size)
    assert size == (1920, 1080), f"compare on a 16:9 clip of at least 1080p, not {size}"
    dec = SegmentDecoder(path, info.fps, first_pts=info.first_pts)
    mine = []
    for _, f in zip(range(len(ref)), dec.container.decode(dec.stream)):
        rgb16 = frame_to_array(f, size, transfer, dec.reformatter, info.rotation, bs.scale_filter)
        mine.append(tonemap_to_bt709(rgb16, transfer, bs.tone_curve, bs.hdr_peak_nits or frame_peak_nits(f),
                                     bs.tone_desat, bs.hlg_ootf))
    dec.close()
    return float(np.abs(np.stack(mine).astype(np.int16) - ref).mean())


def limit_reference(cfg, out: Path) -> dict:
    """The least work the job's output needs, on one core: decoding exactly the frames the plan needs (each
    GOP holding a wanted frame from its keyframe to its last wanted frame, unwanted non-reference frames
    skipped; packets demuxed beforehand, not timed) + PNG-encoding the job's outputs (read back from
    ``out``) at the job's compression. Also times, apart, what vidray does besides: converting wanted
    frames to RGB at the work size, HDR tone-mapping and cropping/stacking/resizing the crops."""
    from av.video.reformatter import VideoReformatter

    from vidray.io.probe import probe_video
    from vidray.patches.crops import crop_window, make_patch_set
    from vidray.patches.decode import frame_to_array
    from vidray.patches.plan import HALF, plan_video
    from vidray.patches.tonemap import tonemap_to_bt709

    entry, bs = cfg.videos[0], cfg.base_settings
    info = probe_video(entry.path)
    plan = plan_video(entry, info, cfg)
    wanted = {e["centre"] + d for e in plan.extractions for d in range(-HALF, HALF + 1)}
    with av.open(str(entry.path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        tb, t0_pts = s.time_base, info.first_pts if info.first_pts is not None else (s.start_time or 0)
        index = lambda pts: int(round(float((pts - t0_pts) * tb) * info.fps))
        gops: list[list] = []
        for packet in c.demux(s):
            if packet.size:
                if packet.is_keyframe or not gops:
                    gops.append([])
                gops[-1].append(packet)
        t_decode = t_convert = 0.0
        arrays = {}
        reformatter = VideoReformatter()  # one swscale context per video, as the job keeps
        for gop in gops:
            idx = [index(p.pts) for p in gop]
            mine = [i for i in idx if i in wanted]
            if not mine:
                continue
            last = max(mine)
            t0 = time.perf_counter()
            frames = []
            for packet, i in zip(gop, idx):
                # frames nobody wants that no other frame references are not decoded at all
                s.codec_context.skip_frame = "DEFAULT" if i in wanted else "NONREF"
                frames.extend(s.codec_context.decode(packet))
                if frames and index(frames[-1].pts) >= last:
                    break
            else:
                frames.extend(s.codec_context.decode(None))
            s.codec_context.skip_frame = "DEFAULT"
            s.codec_context.flush_buffers()
            t_decode += time.perf_counter() - t0
            t0 = time.perf_counter()
            for f in frames:
                i = index(f.pts)
                if i in wanted:
                    arrays[i] = frame_to_array(f, plan.work_size, info.hdr, reformatter, info.rotation)
            t_convert += time.perf_counter() - t0
    t0 = time.perf_counter()
    for e in plan.extractions:
        crops = np.stack([crop_window(arrays[e["centre"] + d][None], e["box"])[0] for d in range(-HALF, HALF + 1)])
        if info.hdr:
            crops = tonemap_to_bt709(crops, info.hdr, bs.tone_curve, bs.hdr_peak_nits)
        make_patch_set(crops)
    t_crops = time.perf_counter() - t0
    from vidray.io.png import encode_png, read_png

    images = [read_png(p) for p in sorted(out.rglob("*.png"))]
    t0 = time.perf_counter()
    for img in images:  # the job's own encoder settings: the PNGs it must write, at the least cost it has
        encode_png(img, bs.png_compression)
    t_png = time.perf_counter() - t0
    return {"decode": t_decode, "png": t_png, "convert": t_convert, "crops": t_crops, "pngs": len(images),
            "frames": len(wanted)}


def s3_row(film: Path, frames: int, bucket: str, out: Path) -> dict:
    """The same 4K film from disk and from the local S3 endpoint: job throughput (1 worker) and bytes fetched."""
    from vidray.io import storage

    uri = f"{bucket}/films/{film.name}"
    storage.write_bytes(uri, film.read_bytes())
    t_disk = run_vidray(config_for(film, frames, segments=4), out / "disk", 1)
    t_s3 = run_vidray(config_for(uri, frames, segments=4), out / "s3", 1)
    pngs = lambda root: {p.relative_to(root): p.read_bytes() for p in root.rglob("*.png")}
    same = pngs(out / "disk") == pngs(out / "s3")
    # one work item over the clip, as a default 30-s segment of a film reads (one open, one index read)
    fetched, requests, n, size = bytes_per_extraction(config_for(uri, frames, segments=1))
    sparse, _, n_sparse, _ = bytes_per_extraction(config_for(uri, frames, segments=1, density=5 * DENSITY))
    row = {"ratio": t_disk / t_s3, "per_extraction": fetched / n, "fraction": fetched / size,
           "sparse_fraction": sparse / size}
    print(f"4K hevc on S3: {frames} frames, {n} extractions, file {size / 2**20:.1f} MiB | "
          f"job from disk {t_disk:.2f}s, "
          f"from S3 {t_s3:.2f}s (same PNGs: {same}) | fetched {fetched / 2**20:.1f} MiB in {requests} requests = "
          f"{fetched / n / 2**20:.2f} MiB per extraction, {fetched / size:.2f} of the file | "
          f"{n_sparse} extractions (1 per {5 * DENSITY} frames): {sparse / size:.2f} of the file", flush=True)
    return row


def shards_row(cfg, out: Path) -> dict:
    """The job with each output format on 2 workers: wall time and files written (folders / shards + index)."""
    import dataclasses

    row = {}
    for fmt in ("folders", "webdataset", "both"):
        base = dataclasses.replace(cfg.base_settings, output_format=fmt, shard_size=16)
        seconds = run_vidray(dataclasses.replace(cfg, base_settings=base), out / f"fmt_{fmt}", 2)
        files = sum(1 for p in (out / f"fmt_{fmt}").rglob("*") if p.is_file() and ".vidray" not in p.parts)
        row[fmt] = (seconds, files)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames-1080", type=int, default=1500, help="frames of the 1080p H.264 clip (1500)")
    ap.add_argument("--frames-4k", type=int, default=500, help="frames of the 4K HEVC clip (500)")
    ap.add_argument("--frames-hdr", type=int, default=500, help="frames of the 1080p 10-bit PQ HEVC clip (500)")
    ap.add_argument("--frames-s3", type=int, default=250,
                    help="frames of the 4K HEVC clip (2 s GOPs, 50 Mbit/s) read from S3 (250)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "vidray-bench-patches")
    ap.add_argument("--only-shards", action="store_true", help="run only the output-format row")
    args = ap.parse_args()
    import ray

    from vidray.runtime import quiet_ray_data, ray_temp_dir

    have_ffmpeg = os.path.exists(FFMPEG)
    args.cache.mkdir(parents=True, exist_ok=True)
    h264 = make_clip(args.cache / f"h264_1080_g50_{args.frames_1080}.mp4", args.frames_1080, 1920, 1080, "libx264")
    clips = [("1080p h264", h264, args.frames_1080, False),
             ("4K hevc", make_clip(args.cache / f"hevc_4k_{args.frames_4k}.mp4", args.frames_4k, 3840, 2160,
                                   "libx265"), args.frames_4k, False),
             ("HDR10 1080p hevc", make_clip(args.cache / f"pq_1080_{args.frames_hdr}.mp4", args.frames_hdr, 1920, 1080,
                                            "libx265", hdr="pq"), args.frames_hdr, True)]
    hlg = make_clip(args.cache / "hlg_1080_8.mp4", 8, 1920, 1080, "libx265", hdr="hlg")
    film = make_clip(args.cache / f"hevc_4k_g50_50M_{args.frames_s3}.mp4", args.frames_s3, 3840, 2160, "libx265",
                     keyint=50, kbps=50_000)
    s3_server, bucket = start_s3()  # before Ray starts: its workers inherit the AWS environment
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=ray_temp_dir(), logging_level=logging.WARNING)
    quiet_ray_data()
    out = args.cache / "out"
    rows = []
    try:
        # start the 2 worker processes and their imports once, as on a running cluster (not timed)
        run_vidray(config_for(clips[0][1], DENSITY * 2, segments=2), out / "warmup", 2)
        shards = shards_row(config_for(h264, args.frames_1080, segments=4, density=DENSITY // 2), out)
        (t_f, n_f), (t_w, n_w), (t_b, _) = shards["folders"], shards["webdataset"], shards["both"]
        print(f"output formats (1080p h264, 2 workers, {2 * args.frames_1080 // DENSITY} extractions): folders "
              f"{t_f:.2f}s ({n_f} files), webdataset {t_w:.2f}s ({n_w} files: shards + index), both {t_b:.2f}s | "
              f"webdataset/folders time {t_w / t_f:.2f}, both/folders {t_b / t_f:.2f}", flush=True)
        if args.only_shards:
            return 0
        for name, path, frames, hdr in clips:
            cfg = config_for(path, frames, segments=4)
            n = cfg.base_settings.base_frame_limit
            t_dec = decode_all(path, hdr)
            t1 = run_vidray(cfg, out / "w1", 1)
            ref = limit_reference(cfg, out / "w1")
            t2 = run_vidray(cfg, out / "w2", 2)
            t_seed = run_seed(cfg, out / "seed") if have_ffmpeg else None
            least = ref["decode"] + ref["png"]
            rows.append((name, t_dec / t1, None if t_seed is None else t_seed / t1, t1 / t2, t1 / least))
            rest = t1 - least - ref["convert"] - ref["crops"]
            print(f"{name}: limit ratio {t1 / least:.2f} = vidray 1w {t1:.2f}s ÷ (decode of the {ref['frames']} "
                  f"wanted frames' GOPs {ref['decode']:.2f}s + PNG encode of {ref['pngs']} files "
                  f"{ref['png']:.2f}s); the rest: RGB conversion {ref['convert']:.2f}s, crop/tone-map/stack/resize "
                  f"{ref['crops']:.2f}s, Ray + planning + writes ≈ {rest:.2f}s (each part timed apart)", flush=True)
            seed_txt = f"seed {t_seed:.2f}s" if t_seed is not None else "seed skipped (no /usr/bin/ffmpeg)"
            print(f"{name}: {frames} frames, {n} extractions | decode-all {t_dec:.2f}s ({frames / t_dec:.1f} fps) | "
                  f"vidray 1w {t1:.2f}s, 2w {t2:.2f}s | {seed_txt}", flush=True)
        half = make_clip(args.cache / f"h264_1080_g50_{args.frames_1080 // 2}.mp4", args.frames_1080 // 2, 1920, 1080,
                         "libx264")
        (b1, p1), (_, p2) = task_peak_rss(half, args.frames_1080 // 2), task_peak_rss(clips[0][1], args.frames_1080)
        print(f"memory of one work item (1080p, one window per {DENSITY} frames, fresh process): "
              f"{args.frames_1080 // 2} frames peak {p1:.0f} MB, {args.frames_1080} frames peak {p2:.0f} MB "
              f"(imports {b1:.0f} MB)")
        s3 = s3_row(film, args.frames_s3, bucket, out)
        mad = tonemap_difference(clips[2][1], "pq") if have_ffmpeg else None
        mad_hlg = tonemap_difference(hlg, "hlg") if have_ffmpeg else None
        print("tone-map (vidray's default) vs /usr/bin/ffmpeg running the generator's chain (zscale, mobius, "
              "yuv420p, 1920x1080 lanczos): " +
              (f"mean abs diff PQ {mad:.2f} / 255, HLG {mad_hlg:.2f} / 255" if mad is not None
               else "skipped (no /usr/bin/ffmpeg)"))
    finally:
        ray.shutdown()
        s3_server.stop()
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
    print("patches bench: decode ratio (≥0.8) " + ", ".join(f"{r[0]} {fmt(r[1])}" for r in rows)
          + " | seed ratio (≥20) " + ", ".join(f"{r[0]} {fmt(r[2])}" for r in rows)
          + " | 2w/1w " + ", ".join(f"{r[0]} {fmt(r[3])}" for r in rows)
          + " | limit ratio (≤1.25) " + ", ".join(f"{r[0]} {fmt(r[4])}" for r in rows)
          + f" | tonemap MAD PQ {fmt(mad)} HLG {fmt(mad_hlg)}"
          + f" | 4K S3/disk throughput {s3['ratio']:.2f}, S3 bytes/extraction {s3['per_extraction'] / 2**20:.1f} MiB "
            f"({s3['fraction']:.2f} of the file per pass; 1 window/{5 * DENSITY} frames: "
            f"{s3['sparse_fraction']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
