"""open_clip model resolution (on the driver, fails fast) and loading + batched forward (in actors).

``--pretrained`` is a tag (downloaded through open_clip's hub cache when there is network), a
local checkpoint path, or ``none`` (random weights, seeded so every actor holds the same model;
for tests and smoke runs only). ``--model`` is an open_clip name, a path to a model config JSON,
or ``vidray-tiny`` (a small random model for demos and tests).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidray.embed.preprocess import Preprocess, normalize
from vidray.errors import ConfigError, InputError

log = logging.getLogger("vidray.embed")

RANDOM_SEED = 0
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
# A ~1 M-parameter CLIP for demos and tests: 64 px input, 2 vision layers, 1 text layer.
TINY_MODEL_NAME = "vidray-tiny"
TINY_MODEL_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
}


@dataclass
class ModelSpec:
    """Everything an actor needs to build the same model, plus what goes into each sample's metadata."""

    name: str
    pretrained: str | None          # tag, local path, or None for random weights
    config: dict | None = None      # a model config not among open_clip's built-ins
    quick_gelu: bool = False
    offline: bool = True
    preprocess: Preprocess = field(default_factory=Preprocess)
    embed_dim: int = 0

    @property
    def pretrained_label(self) -> str:
        return self.pretrained if self.pretrained else "none (random weights: tests and smoke runs only)"


def resolve_model(model: str, pretrained: str | None, cache_dir: str | None = None,
                  network_timeout: float = 2.0) -> ModelSpec:
    """Check ``model``/``pretrained`` on the driver and say at once what is missing.

    A tag whose weights are not cached, with no network, raises :class:`InputError` naming the file
    to download and where to pass it; never a hub retry loop.
    """
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

    name, config = _model_config(model)
    pretrained = None if pretrained in (None, "", "none", "None", "random") else str(pretrained)
    spec = ModelSpec(name=name, pretrained=pretrained, config=config)
    base_cfg = config if config is not None else open_clip.get_model_config(name)
    preprocess_cfg = {"size": base_cfg["vision_cfg"].get("image_size", 224)}
    spec.embed_dim = int(base_cfg["embed_dim"])
    if pretrained is None:
        spec.preprocess = Preprocess.from_open_clip(preprocess_cfg)
        return spec
    tag_cfg = get_pretrained_cfg(name, pretrained) if config is None else {}
    if tag_cfg:
        spec.quick_gelu = bool(tag_cfg.get("quick_gelu", False))
        preprocess_cfg.update({k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg})
        spec.offline = not network_available(timeout=network_timeout)
        spec.pretrained = pretrained
        _check_tag_weights(name, pretrained, tag_cfg, spec.offline, cache_dir)
    elif Path(pretrained).expanduser().is_file():
        spec.pretrained = str(Path(pretrained).expanduser().absolute())
    elif any(sep in pretrained for sep in ("/", os.sep)) or pretrained.endswith(CHECKPOINT_SUFFIXES):
        raise InputError(pretrained, "checkpoint file does not exist (give a local open_clip checkpoint, "
                                     "a pretrained tag, or none)")
    else:
        tags = list_pretrained_tags_by_model(name) if config is None else []
        raise ConfigError(f"--pretrained {pretrained!r} is neither a file nor a known tag of {name} "
                          f"(tags: {', '.join(tags) or 'none known'}; or give a checkpoint path, or none)",
                          source="arguments")
    spec.preprocess = Preprocess.from_open_clip(preprocess_cfg)
    return spec


def default_pretrained(model: str) -> str:
    """The model's first pretrained tag in open_clip (``openai`` for ViT-B-32); a clear error if none."""
    from open_clip.pretrained import list_pretrained_tags_by_model

    name, config = _model_config(model)  # an unknown model is reported as such first
    tags = list_pretrained_tags_by_model(name) if config is None else []
    if not tags:
        raise ConfigError(f"--pretrained: {model} has no pretrained tags in open_clip; pass --pretrained PATH "
                          "to a checkpoint, or --pretrained none for random weights (tests only)", source="arguments")
    return tags[0]


def _model_config(model: str) -> tuple[str, dict | None]:
    """(name, config dict or None for a built-in) for a model name or config JSON path."""
    import open_clip

    if model == TINY_MODEL_NAME:
        return model, json.loads(json.dumps(TINY_MODEL_CONFIG))
    if model.endswith(".json"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise InputError(path, "model config file does not exist")
        try:
            config = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(path, f"unreadable model config: {exc}") from exc
        if not all(k in config for k in ("embed_dim", "vision_cfg", "text_cfg")):
            raise InputError(path, "an open_clip model config needs embed_dim, vision_cfg and text_cfg")
        return path.stem, config
    if open_clip.get_model_config(model) is None:
        raise ConfigError(f"--model {model!r} is not an open_clip model (e.g. ViT-B-32, ViT-S-32, "
                          f"{TINY_MODEL_NAME}; or a path to a model config .json)", source="arguments")
    return model, None


def network_available(host: str = "huggingface.co", port: int = 443, timeout: float = 2.0) -> bool:
    """Whether the weights hub answers within ``timeout`` s (DNS included); False if HF_HUB_OFFLINE is set."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False

    def connect() -> bool:
        with socket.create_connection((host, port), timeout=timeout):
            return True

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=timeout)
    except Exception:  # noqa: BLE001 - any failure means: treat as offline
        return False
    finally:
        pool.shutdown(wait=False)


@contextlib.contextmanager
def hub_offline(offline: bool):
    """Make huggingface_hub skip the network (its constant is read at import, so patch both)."""
    if not offline:
        yield
        return
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import huggingface_hub.constants as hub_constants

    old_const = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = old_const
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def _check_tag_weights(name: str, tag: str, tag_cfg: dict, offline: bool, cache_dir: str | None) -> None:
    """Offline: the tag's weights must already be in the hub cache, else say which file to fetch."""
    if not offline:
        return
    from open_clip.pretrained import download_pretrained

    start = time.perf_counter()
    failure = None
    try:
        with hub_offline(True):
            path = download_pretrained(tag_cfg, cache_dir=cache_dir)
        if path and Path(path).is_file():
            return
    except Exception as exc:  # noqa: BLE001 - not cached (explained below), or the cache itself is unreadable
        failure = exc
    if failure is not None and not isinstance(failure, FileNotFoundError) and \
            not any(w in type(failure).__name__ for w in ("NotFound", "Offline", "Connect")):
        raise InputError(f"{name} pretrained={tag}", f"its cached weights cannot be read "
                                                     f"({type(failure).__name__}: {failure}); check the hub cache "
                                                     f"(HF_HOME) or pass a local weights file") from failure
    log.debug("offline weight lookup took %.2fs", time.perf_counter() - start)
    hub = tag_cfg.get("hf_hub", "")
    repo, filename = os.path.split(hub.rstrip("/")) if hub and not hub.endswith("/") else (hub.rstrip("/"), "")
    where = (f"https://huggingface.co/{repo}/resolve/main/{filename or 'open_clip_model.safetensors'}"
             if repo else tag_cfg.get("url", "(no download location known)"))
    raise InputError(f"{name} pretrained={tag}",
                     f"weights are not on this machine and there is no network (HF_HUB_OFFLINE). "
                     f"Download {where}"
                     + (f" (or {tag_cfg['url']})" if repo and tag_cfg.get("url") else "")
                     + " on a machine with internet and pass its local path: --pretrained /path/to/"
                     + (filename or "open_clip_model.safetensors"))


def load_model(spec: ModelSpec, device: str = "cpu") -> torch.nn.Module:
    """Build the open_clip model of ``spec`` on ``device`` in eval mode (random weights seeded)."""
    import open_clip

    if spec.config is not None:  # registered from a file open_clip reads at once; nothing left behind
        with tempfile.TemporaryDirectory(prefix="vidray-model-") as folder:
            (Path(folder) / f"{spec.name}.json").write_text(json.dumps(spec.config))
            open_clip.add_model_config(Path(folder) / f"{spec.name}.json")
    with hub_offline(spec.offline), _seeded(RANDOM_SEED):
        model = open_clip.create_model(spec.name, pretrained=spec.pretrained, device=device,
                                       force_quick_gelu=spec.quick_gelu)
    return model.eval()


@contextlib.contextmanager
def _seeded(seed: int):
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def autocast_dtype(device: str) -> torch.dtype | None:
    """bf16 on GPUs that have it, else fp16 on GPU; None (fp32) on CPU."""
    if not device.startswith("cuda"):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def embed_images(model: torch.nn.Module, images: np.ndarray, pre: Preprocess, device: str = "cpu") -> np.ndarray:
    """uint8 [B,H,W,3] model-sized frames → float32 [B,D] L2-normalised image embeddings."""
    dtype = autocast_dtype(device)
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(images)).to(device, non_blocking=True)
        x = normalize(x, pre)
        with torch.autocast(device_type="cuda", dtype=dtype) if dtype else contextlib.nullcontext():
            emb = model.encode_image(x)
        emb = torch.nn.functional.normalize(emb.float(), dim=-1)
    return emb.cpu().numpy()
