"""One (video, segment) work item: decode forward once, cut every planned window, write its PNGs.

Windows that cannot be completed (decode error, gap, too-small PNG) move forward by the retry
skip up to the retry limit, then become a failed record with the reason. The decoder skips
GOPs and non-reference frames no pending window needs; only window frames are converted to RGB,
and at most the frames of the open windows are held.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import av
import numpy as np

from vidray.errors import InputError
from vidray.io import storage
from vidray.io.png import encode_png
from vidray.io.probe import Timeline
from vidray.io.segments import SegmentDecoder
from vidray.patches.crops import crop_window, make_patch_set
from vidray.patches.decode import frame_to_array
from vidray.patches.plan import HALF
from vidray.patches.shards import MEMBERS, fragment_path, sample_json, tar_bytes
from vidray.patches.tonemap import signal_peak_nits, tonemap_to_bt709

log = logging.getLogger("vidray.patches")


class WindowRejected(Exception):
    """A window's frames or outputs failed validation; the reason is the message."""


@dataclass
class _Window:
    spec: dict
    centre: int
    attempt: int = 0
    history: tuple[str, ...] = ()

    @property
    def first(self) -> int:
        return self.centre - HALF

    @property
    def last(self) -> int:
        return self.centre + HALF


def frame_peak_nits(frame: av.VideoFrame) -> float:
    """The HDR peak FFmpeg's tonemap would use for this frame: its MaxCLL side data, else its mastering
    display's maximum luminance, else the default (see :func:`vidray.patches.tonemap.signal_peak_nits`)."""
    max_cll = mastering = None
    for sd in frame.side_data:
        kind = str(sd.type).rsplit(".", 1)[-1]
        data = bytes(sd)
        if kind == "CONTENT_LIGHT_LEVEL" and len(data) >= 8:
            max_cll = struct.unpack_from("<I", data)[0]
        elif kind == "MASTERING_DISPLAY_METADATA" and len(data) >= 88:
            # AVMasteringDisplayMetadata: 8 AVRationals (primaries, white point), min/max luminance, 2 flags
            num, den, has_luminance = *struct.unpack_from("<ii", data, 72), struct.unpack_from("<i", data, 84)[0]
            mastering = num / den if has_luminance and den > 0 else None
    return signal_peak_nits(max_cll, mastering)


def build_outputs(frames, box, hdr: str | None, settings: dict, peak_nits: float | None = None) -> dict[str, bytes]:
    """7 frames [H,W,3] (uint8, or uint16 bt2020 for HDR; an array or a list) → PNG bytes of GT, LR and
    LR_7frames. Each frame is cropped before stacking, so only the crops are copied. HDR peak:
    ``settings["hdr_peak_nits"]``, else ``peak_nits`` (the centre frame's metadata), else the default."""
    crops = np.stack([crop_window(f[None], box)[0] for f in frames])
    if hdr:
        crops = tonemap_to_bt709(crops, hdr, settings["tone_curve"], settings.get("hdr_peak_nits") or peak_nits,
                                 settings.get("tone_desat", 2.0), settings.get("hlg_ootf", "per_channel"))
    arrays = make_patch_set(crops)
    return {kind: encode_png(a, settings["png_compression"]) for kind, a in arrays.items()}


def extract_segment(item: dict, settings: dict, root: str) -> list[dict]:
    """Run one work item (see :func:`vidray.patches.plan.plan_segments`); one record per planned window."""
    info = settings["video_info"]
    fps, hdr, size = info["fps"], info["hdr"], tuple(settings["work_size"])
    rotation, timeline = info.get("rotation", 0), Timeline(fps, info.get("timestamps"))
    skip = max(2 * HALF + 1, int(round(settings["retry_skip_seconds"] * fps)))
    pending = sorted((_Window(w, w["centre"]) for w in item["windows"]), key=lambda w: (w.centre, w.spec["key"]))
    records: list[dict] = []
    output_format = settings.get("output_format", "folders")
    samples: list[tuple[dict, dict[str, bytes]]] = []  # ok records and their sample files, for the fragment

    def record(w: _Window, status: str, reason: str | None = None, nbytes: int = 0) -> dict:
        s = w.spec
        rec = {"key": s["key"], "video": s["video"], "category": s["category"], "format": s["format"],
               "index": s["index"], "status": status, "planned_centre": s["centre"], "centre": w.centre,
               "time": round(timeline.time_of(w.centre), 3), "attempts": w.attempt + 1, "bytes": nbytes,
               "segment": item["segment"]}
        if status == "ok" and output_format != "webdataset":
            rec["files"] = [s["paths"][k] for k in ("GT", "LR", "LR_7frames")]
        elif status != "ok":
            earlier = [f"frame {c}: {r}" for c, r in w.history]
            rec["reason"] = reason + (f" (earlier attempts: {'; '.join(earlier)})" if earlier else "")
        records.append(rec)
        return rec

    def finished(w: _Window, pngs: dict[str, bytes]) -> None:
        if output_format != "webdataset":
            for kind, data in pngs.items():
                # durable before the driver records the extraction (a power loss must not leave a record of an
                # empty PNG); object stores: one whole object each
                storage.write_bytes(storage.join(root, w.spec["paths"][kind]), data)
        rec = record(w, "ok", nbytes=sum(len(d) for d in pngs.values()))
        if output_format != "folders":
            files = {MEMBERS[kind]: data for kind, data in pngs.items()}
            files["json"] = sample_json(w.spec, w.centre, rec["time"], settings)
            samples.append((rec, files))

    def retry_or_fail(w: _Window, reason: str) -> None:
        if w.attempt < settings["max_retry_attempts"]:
            w.history += ((w.centre, reason),)
            w.attempt += 1
            w.centre += skip
            pending.append(w)
            pending.sort(key=lambda x: (x.centre, x.spec["key"]))
        else:
            record(w, "failed", f"frame {w.centre}: {reason}")

    try:
        decoder = SegmentDecoder(info["path"], fps, timestamps=info.get("timestamps"), first_pts=info.get("first_pts"))
    except InputError as exc:
        for w in pending:
            record(w, "failed", exc.reason)
        return records
    buffer: dict[int, np.ndarray] = {}
    peaks: dict[int, float] = {}  # HDR: each buffered frame's peak from its metadata (when not set in config)
    scale_filter = settings.get("scale_filter", "lanczos")
    frame_peaks = bool(hdr) and not settings.get("hdr_peak_nits")

    def next_wanted(i: int) -> int | None:  # the decoder skips every frame no pending window holds
        starts = [max(w.first, i) for w in pending if w.last >= i]
        return min(starts) if starts else None

    try:
        while pending:
            start = min(w.first for w in pending)
            last = None
            error = None
            restart = False  # a retry moved a window onto frames the decoder has already passed
            try:
                for idx, frame in decoder.wanted_frames(start, next_wanted):
                    last = idx
                    buffer[idx] = frame_to_array(frame, size, hdr, decoder.reformatter, rotation, scale_filter)
                    if frame_peaks:
                        peaks[idx] = frame_peak_nits(frame)
                    for w in [w for w in pending if w.last <= idx]:
                        pending.remove(w)
                        try:
                            _finish(w, buffer, hdr, settings, finished, peaks.get(w.centre))
                        except WindowRejected as exc:
                            retry_or_fail(w, str(exc))
                            restart |= w in pending and w.first <= decoder.position
                    if not pending or restart:
                        break
                    low = min(w.first for w in pending)
                    for k in [k for k in buffer if k < low]:
                        del buffer[k]
                        peaks.pop(k, None)
            except (av.error.FFmpegError, ValueError) as exc:
                near = last if last is not None else start
                error = f"decode error near frame {near} ({exc.__class__.__name__}: {exc})"
            if not pending:
                break
            buffer.clear()
            if restart and error is None:
                continue
            if error is None:  # end of file: moving forward cannot help, fail what is left
                end = "no frame" if last is None else f"last frame {last}"
                for w in list(pending):
                    record(w, "failed", f"frame {w.centre}: short window: end of file ({end}) before frame {w.last}")
                pending.clear()
                break
            hit = [w for w in pending if last is None or w.first <= last + 1] or list(pending)
            for w in hit:
                pending.remove(w)
                retry_or_fail(w, error)
    finally:
        decoder.close()
    if samples:  # the item's samples, one whole fragment, durable before any of their records is returned
        path, members = fragment_path(item), []
        for j, (rec, files) in enumerate(samples):
            rec["fragment"], rec["member"] = path, f"{j:04d}"
            members += [(f"{j:04d}.{suffix}", files[suffix]) for suffix in (*MEMBERS.values(), "json")]
        storage.write_bytes(storage.join(root, path), tar_bytes(members))
    return records


def _finish(w: _Window, buffer: dict, hdr, settings: dict, finished, peak_nits: float | None) -> None:
    missing = [i for i in range(w.first, w.last + 1) if i not in buffer]
    if missing:
        raise WindowRejected(f"frames {missing} missing (not decodable)")
    pngs = build_outputs([buffer[i] for i in range(w.first, w.last + 1)], w.spec["box"], hdr, settings, peak_nits)
    if len(pngs["GT"]) < settings["min_file_size"]:
        raise WindowRejected(f"GT PNG is {len(pngs['GT'])} bytes, below min_file_size {settings['min_file_size']}")
    finished(w, pngs)
