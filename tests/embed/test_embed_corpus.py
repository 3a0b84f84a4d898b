"""The embedding job over the real-footage corpus (tests/corpus.py): every file is embedded or fails alone
with its reason, the rest of the job done; a cover picture or a second stream does not replace the film."""

from __future__ import annotations

import json

import numpy as np

from vidray.embed.config import EmbedConfig
from vidray.embed.inputs import VideoItem
from vidray.embed.job import run_embed
from vidray.stage import Scale


def test_every_corpus_file_is_embedded_or_fails_alone(ray_local, corpus, tmp_path):
    cfg = EmbedConfig(model="vidray-tiny", pretrained="none", fps=8.0, shard_size=4, split_ratios=(1.0, 0.0, 0.0),
                      batch_size=16, frames_per_block=8)
    videos = [VideoItem(name, str(case.path), "train") for name, case in corpus.items()]
    summary = run_embed(cfg, videos, tmp_path / "out", scale=Scale(workers=2))
    failing = {name for name, case in corpus.items() if not case.works_embed}
    assert set(summary.errors) == failing and summary.embedded == len(corpus) - len(failing)
    for name in failing:
        assert corpus[name].reason in summary.errors[name], (name, summary.errors[name])
    processed = tmp_path / "out" / "processed" / "train"
    emb = {name: np.load(processed / f"{name}.npy").astype(np.float32) for name in corpus if name not in failing}
    meta = {name: json.loads((processed / f"{name}.json").read_text()) for name in emb}
    # the film, not its cover picture nor the small second stream: the same embeddings as the plain MKV
    for name in ("cover_art", "two_videos"):
        assert emb[name].shape == emb["mkv_h264"].shape and np.abs(emb[name] - emb["mkv_h264"]).max() < 2e-2, name
    # shown upright: a turned picture is another picture (the tiny random model still tells them apart)
    assert np.abs(emb["rotate90"] - emb["upright"]).max() > 2e-2
    # variable frame rate: 8 per second of presentation time while it is 20 fps (12), every frame once it is 5 fps (15)
    assert meta["vfr"]["frame_timestamps"][-1] > 4.0 and len(meta["vfr"]["frame_timestamps"]) == 27
