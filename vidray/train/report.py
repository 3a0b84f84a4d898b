"""Results of a run for people: the one-line-per-epoch progress, metrics.csv (one row per epoch),
loss_curve.png, predictions.gif from the best checkpoint, and the test-metrics table of ``vidray evaluate``."""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
from pathlib import Path
from typing import Iterator

import torch

from vidray.io import storage

CURVE_METRICS = ("train_loss", "val_loss")


def epoch_line(row: dict, epochs: int, prefix: str = "train") -> str:
    """One progress line for an epoch's report (what ``ray job logs --follow`` shows), e.g.
    ``train: epoch 3/10 train_loss 0.0412 val_loss 0.0398 val_mse 163.2, 412 samples/s, 2.1 s/epoch, ETA 15s``."""
    from vidray.progress import format_seconds

    epoch = int(row.get("epoch", 0))
    parts = [f"{prefix}: epoch {epoch}/{epochs}"]
    parts += [f"{k} {row[k]:.4g}" for k in ("train_loss", "val_loss", "val_mse")
              if isinstance(row.get(k), (int, float))]
    text = " ".join(parts)
    if isinstance(row.get("train_samples_per_s"), (int, float)):
        text += f", {row['train_samples_per_s']:.1f} samples/s"
    seconds = row.get("epoch_wall_seconds")
    if isinstance(seconds, (int, float)):
        text += f", {seconds:.1f} s/epoch, ETA {format_seconds(max(epochs - epoch, 0) * seconds)}"
    return text


def write_metrics_csv(path: Path | str, rows: list[dict]) -> Path | str:
    """Rows of dicts → CSV (columns: union of keys, in first-seen order), atomically (a local path) or as
    one whole object (a URI)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    storage.write_bytes(path, buf.getvalue().encode())
    return path


def plot_loss_curve(path: Path | str, history: list[dict], title: str) -> Path | str:
    """Train/val loss per epoch (left) and validation MSE vs the baseline (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in CURVE_METRICS:
        ax1.plot(epochs, [r.get(key) for r in history], marker="o", label=key)
    ax1.set(xlabel="epoch", ylabel="loss", title="loss", yscale="log")
    ax1.legend()
    ax2.plot(epochs, [r.get("val_mse") for r in history], marker="o", label="model")
    ax2.plot(epochs, [r.get("baseline_mse") for r in history], linestyle="--", label="baseline")
    ax2.set(xlabel="epoch", ylabel="MSE per frame (sum over pixels)", title="validation MSE")
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    storage.write_bytes(path, figure_png(fig))
    return path


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (closed afterwards), to write through the storage door."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


@contextlib.contextmanager
def local_checkpoint(location) -> Iterator[Path]:
    """A checkpoint directory on local disk: the directory itself, or a temporary copy of one on object
    storage (``s3://…/checkpoint_…``, as a run prints it)."""
    local = storage.local_path(location)
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="vidray-checkpoint-") as tmp:
        base = str(location).rstrip("/")
        for item in storage.list_files(base):
            target = Path(tmp, item[len(base):].lstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(storage.read_bytes(item))
        yield Path(tmp)


def load_model(checkpoint_dir: str | Path, device: str = "cpu"):
    """(model in eval mode, TrainConfig) from a checkpoint written by the training loop."""
    from vidray.config import from_dict
    from vidray.models import build
    from vidray.train.config import TrainConfig
    from vidray.train.loop import load_state
    from vidray.train.tasks import model_kwargs

    state = load_state(checkpoint_dir)
    cfg = from_dict(TrainConfig, state["config"])
    model = build(cfg.model, cfg.preset, **model_kwargs(cfg))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg


@torch.no_grad()
def save_predictions(path: Path | str, checkpoint_dir: str | Path, cfg, max_items: int = 4) -> Path | str:
    """GIF of context | truth | prediction of the checkpoint's model on the first validation samples."""
    from torch.utils.data import DataLoader

    from vidray.models import bicubic_upsample
    from vidray.train.tasks import TASKS, build_datasets
    from vidray.viz import save_comparison_gif

    model, _ = load_model(checkpoint_dir)
    _, val = build_datasets(cfg)
    batch = next(iter(DataLoader(val, batch_size=max_items)))
    task = TASKS[cfg.model]
    pred, true, context = task.forward(model, batch, cfg)
    if task.kind == "vsr":  # show the LR stack upsampled to GT size as the context
        context = torch.stack([bicubic_upsample(context[:, t]) for t in range(context.shape[1])], dim=1)
    with storage.output_file(path, suffix=".gif") as tmp:  # local: renamed into place; URI: one upload
        save_comparison_gif(tmp, context.clamp(0, 1), true, pred.clamp(0, 1), max_items=max_items,
                            scale=1 if true.shape[-1] >= 128 else 3)
    return path


def in_dir(directory: Path | str, name: str) -> Path | str:
    """``directory / name``: a Path under a local Path, a URI under a URI."""
    return directory / name if isinstance(directory, Path) else storage.join(directory, name)


def write_results_folder(cfg, run_dir: Path | str, history: list[dict],
                         best_checkpoint: str | None) -> list[Path | str]:
    """metrics.csv, loss_curve.png and (from the best checkpoint, a local dir) predictions.gif in
    ``run_dir`` (a local Path or a URI)."""
    files = [write_metrics_csv(in_dir(run_dir, "metrics.csv"), history),
             plot_loss_curve(in_dir(run_dir, "loss_curve.png"), history, f"{cfg.name}: {cfg.model} ({cfg.preset})")]
    if best_checkpoint:
        files.append(save_predictions(in_dir(run_dir, "predictions.gif"), best_checkpoint, cfg))
    return files


@torch.no_grad()
def evaluate_checkpoint(checkpoint_dir: str | Path, data: str | None = None, batch_size: int = 32,
                        max_samples: int | None = None, device: str = "cpu") -> dict[str, float]:
    """Test metrics of a checkpoint on ``data`` (default: the data it was trained on; the test split
    where the data has one) next to the task's baseline."""
    import dataclasses

    from torch.utils.data import DataLoader

    from vidray.train.loop import build_loss, reduce_validation, validate
    from vidray.train.tasks import build_datasets

    model, cfg = load_model(checkpoint_dir, device)
    cfg = dataclasses.replace(cfg, data=data or cfg.data, max_val_samples=max_samples, loss={"mse": 1.0})
    _, test = build_datasets(cfg)
    loader = DataLoader(test, batch_size=batch_size)
    result = validate(model, loader, build_loss(cfg, torch.device(device)), cfg, torch.device(device))
    out = reduce_validation(result, torch.device(device))
    out["samples"] = float(result["count"])
    return out


def metrics_table(values: dict[str, float], baseline_name: str) -> str:
    """Aligned text table: metric | model | baseline."""
    names = sorted({k.split("_", 1)[1] for k in values if k.startswith("val_")} - {"loss"})
    lines = [f"{'metric':<22}{'model':>14}{baseline_name:>18}"]
    for name in names:
        lines.append(f"{name:<22}{values.get('val_' + name, float('nan')):>14.5g}"
                     f"{values.get('baseline_' + name, float('nan')):>18.5g}")
    lines.append(f"{'samples':<22}{int(values.get('samples', 0)):>14d}")
    return "\n".join(lines)
