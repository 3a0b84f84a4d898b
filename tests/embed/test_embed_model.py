"""open_clip model resolution: clear, fast errors offline; seeded random weights; batched forward."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from vidray.embed.model import TINY_MODEL_CONFIG, default_pretrained, embed_images, load_model, resolve_model
from vidray.errors import ConfigError, InputError


def test_missing_tag_weights_offline_name_the_file_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        resolve_model("ViT-B-32", "laion2b_s34b_b79k")
    assert time.perf_counter() - start < 3
    text = str(err.value)
    assert "huggingface.co/laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in text and "--pretrained /path/to/" in text
    assert "no network" in text


def test_unknown_tag_missing_checkpoint_and_unknown_model():
    with pytest.raises(ConfigError, match="neither a file nor a known tag of ViT-B-32.*openai"):
        resolve_model("ViT-B-32", "no-such-tag")
    with pytest.raises(InputError, match="checkpoint file does not exist"):
        resolve_model("ViT-B-32", "/nowhere/model.safetensors")
    with pytest.raises(ConfigError, match="not an open_clip model"):
        resolve_model("ViT-Q-99", "none")
    with pytest.raises(ConfigError, match="no pretrained tags"):
        default_pretrained("ViT-S-32")
    assert default_pretrained("ViT-B-32") == "openai"


def test_tag_sets_preprocess_constants_and_quick_gelu(monkeypatch):
    """A tag's own mean/std and activation are used, read on the driver without building the model."""
    import vidray.embed.model as model_mod

    monkeypatch.setattr(model_mod, "_check_tag_weights", lambda *a, **k: None)  # as if cached
    spec = resolve_model("ViT-B-16-SigLIP", "webli")
    assert spec.quick_gelu is False and spec.pretrained == "webli"
    assert spec.preprocess.mean == (0.5, 0.5, 0.5) and spec.preprocess.resize_mode == "squash"
    spec = resolve_model("ViT-B-32", "openai")
    assert spec.quick_gelu is True and spec.preprocess.size == (224, 224) and spec.embed_dim == 512
    assert spec.preprocess.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    spec = resolve_model("ViT-B-32", "none")
    assert spec.pretrained is None and spec.pretrained_label.startswith("none (random weights")


def test_random_weights_are_seeded_and_embeddings_normalised():
    spec = resolve_model("vidray-tiny", "none")
    a, b = load_model(spec), load_model(spec)
    frames = np.random.default_rng(0).integers(0, 255, (5, 64, 64, 3), dtype=np.uint8)
    ea, eb = embed_images(a, frames, spec.preprocess), embed_images(b, frames, spec.preprocess)
    np.testing.assert_array_equal(ea, eb)
    assert ea.shape == (5, 64) and ea.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ea, axis=1), 1.0, atol=1e-5)


def test_model_config_json_and_local_checkpoint(tmp_path):
    import torch

    cfg_path = tmp_path / "my-clip.json"
    cfg = json.loads(json.dumps(TINY_MODEL_CONFIG))
    cfg["vision_cfg"]["image_size"] = 32
    cfg_path.write_text(json.dumps(cfg))
    spec = resolve_model(str(cfg_path), "none")
    assert spec.name == "my-clip" and spec.preprocess.size == (32, 32)
    model = load_model(spec)
    ckpt = tmp_path / "weights.pt"
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    torch.save(model.state_dict(), ckpt)
    spec2 = resolve_model(str(cfg_path), str(ckpt))
    assert spec2.pretrained == str(ckpt)
    loaded = load_model(spec2)
    frames = np.full((2, 32, 32, 3), 128, np.uint8)
    np.testing.assert_allclose(embed_images(loaded, frames, spec2.preprocess),
                               embed_images(model.eval(), frames, spec.preprocess), atol=1e-6)
    with pytest.raises(InputError, match="does not exist"):
        resolve_model(str(tmp_path / "other.json"), "none")


def test_job_model_checks_the_model_before_defaulting_the_tag(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from vidray.embed.config import EmbedConfig
    from vidray.embed.job import resolve_job_model

    with pytest.raises(ConfigError, match="--model 'ViT-X' is not an open_clip model"):
        resolve_job_model(EmbedConfig(model="ViT-X"))
    with pytest.raises(InputError, match="open_clip_model.safetensors"):  # default tag: openai, not cached
        resolve_job_model(EmbedConfig(model="ViT-B-32"))
    assert resolve_job_model(EmbedConfig(model="vidray-tiny", pretrained="none")).pretrained is None
