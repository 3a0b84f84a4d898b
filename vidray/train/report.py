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
# "beats the baselines" = lower OpenSTL MSE and higher OpenSTL SSIM than every trivial baseline
JUDGED = {"openstl_mse": "lower", "openstl_ssim": "higher"}
LABELS = {"openstl_mse": "MSE", "openstl_ssim": "SSIM"}


def baseline_names(row: dict) -> list[str]:
    """Names of the baselines in a validation row (keys ``baseline_{name}_openstl_mse``), in key order."""
    suffix = "_openstl_mse"
    return [k[len("baseline_"):-len(suffix)] for k in row if k.startswith("baseline_") and k.endswith(suffix)]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and value == value  # not NaN


def baseline_shortfalls(row: dict) -> list[str]:
    """What keeps the model of ``row`` from beating its baselines, e.g. ``["MSE 190.2 vs all_black 176.4"]``;
    empty when it beats every baseline on every judged metric."""
    gaps = []
    for metric, better in JUDGED.items():
        model = row.get(f"val_{metric}")
        for name in baseline_names(row):
            base = row.get(f"baseline_{name}_{metric}")
            if not (_number(model) and _number(base)):
                continue
            if (model >= base) if better == "lower" else (model <= base):
                gaps.append(f"{LABELS[metric]} {model:.4g} vs {name} {base:.4g}")
    return gaps


def beats_baselines(row: dict) -> bool | None:
    """True when the model beats every baseline of ``row`` on OpenSTL MSE and SSIM; None without baselines."""
    if not baseline_names(row) or not all(_number(row.get(f"val_{m}")) for m in JUDGED):
        return None
    return not baseline_shortfalls(row)


def verdict(row: dict) -> str:
    """One plain sentence on the model against its trivial baselines (empty when the row has none)."""
    beats = beats_baselines(row)
    if beats is None:
        return ""
    names = " and ".join(baseline_names(row))
    if beats:
        return f"beats the trivial baselines ({names}) on MSE and SSIM"
    return f"has NOT beaten the trivial baselines yet: {'; '.join(baseline_shortfalls(row))}"


def epoch_line(row: dict, epochs: int, prefix: str = "train") -> str:
    """One progress line for an epoch's report (what ``ray job logs --follow`` shows), e.g. ``train: epoch
    3/10 train_loss 0.0412 val_loss 0.0398 val_openstl_mse 163.2 val_openstl_ssim 0.81 (beats baselines),
    412 samples/s, 2.1 s/epoch, ETA 15s``."""
    from vidray.progress import format_seconds

    epoch = int(row.get("epoch", 0))
    parts = [f"{prefix}: epoch {epoch}/{epochs}"]
    parts += [f"{k} {row[k]:.4g}" for k in ("train_loss", "val_loss", "val_openstl_mse", "val_openstl_ssim")
              if isinstance(row.get(k), (int, float))]
    beats = beats_baselines(row)
    if beats is not None:
        parts.append("(beats baselines)" if beats else "(below baselines)")
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
    """Train/val loss per epoch, then validation OpenSTL MSE and SSIM of the model against every baseline;
    the title says whether the last epoch beats them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    names = baseline_names(history[-1]) if history else []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key in CURVE_METRICS:
        axes[0].plot(epochs, [r.get(key) for r in history], marker="o", label=key)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss", yscale="log")
    axes[0].legend()
    for ax, metric, ylabel in ((axes[1], "openstl_mse", "OpenSTL MSE (sum over pixels)"),
                               (axes[2], "openstl_ssim", "OpenSTL SSIM")):
        ax.plot(epochs, [r.get(f"val_{metric}") for r in history], marker="o", label="model")
        for name in names:
            ax.plot(epochs, [r.get(f"baseline_{name}_{metric}") for r in history], linestyle="--", label=name)
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"validation {LABELS[metric]}"
               + (" (lower is better)" if JUDGED[metric] == "lower" else " (higher is better)"))
        ax.legend()
    line = verdict(history[-1]) if history else ""
    fig.suptitle(title + (f"\nlast epoch: {line}" if line else ""))
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
    """GIF of context | truth | prediction of the checkpoint's model on the first validation samples,
    captioned with the checkpoint's verdict against the trivial baselines."""
    from torch.utils.data import DataLoader

    from vidray.models import bicubic_upsample
    from vidray.train.loop import load_state
    from vidray.train.tasks import TASKS, build_datasets
    from vidray.viz import save_comparison_gif

    model, _ = load_model(checkpoint_dir)
    history = load_state(checkpoint_dir).get("history") or [{}]
    _, val = build_datasets(cfg)
    batch = next(iter(DataLoader(val, batch_size=max_items)))
    task = TASKS[cfg.model]
    pred, true, context = task.forward(model, batch, cfg)
    if task.kind == "vsr":  # show the LR stack upsampled to GT size as the context
        context = torch.stack([bicubic_upsample(context[:, t]) for t in range(context.shape[1])], dim=1)
    line = verdict(history[-1])
    note = f"epoch {history[-1].get('epoch', '?')}: model {line}" if line else ""
    with storage.output_file(path, suffix=".gif") as tmp:  # local: renamed into place; URI: one upload
        save_comparison_gif(tmp, context.clamp(0, 1), true, pred.clamp(0, 1), max_items=max_items,
                            scale=1 if true.shape[-1] >= 128 else 3, note=note)
    return path


def in_dir(directory: Path | str, name: str) -> Path | str:
    """``directory / name``: a Path under a local Path, a URI under a URI."""
    return directory / name if isinstance(directory, Path) else storage.join(directory, name)


def write_results_folder(cfg, run_dir: Path | str, history: list[dict],
                         best_checkpoint: str | None) -> list[Path | str]:
    """metrics.csv (with a ``beats_baselines`` column), loss_curve.png and (from the best checkpoint, a local
    dir) predictions.gif in ``run_dir`` (a local Path or a URI)."""
    rows = [{**row, "beats_baselines": beats_baselines(row)} for row in history]
    files = [write_metrics_csv(in_dir(run_dir, "metrics.csv"), rows),
             plot_loss_curve(in_dir(run_dir, "loss_curve.png"), history, f"{cfg.name}: {cfg.model} ({cfg.preset})")]
    if best_checkpoint:
        files.append(save_predictions(in_dir(run_dir, "predictions.gif"), best_checkpoint, cfg))
    return files


@torch.no_grad()
def evaluate_checkpoint(checkpoint_dir: str | Path, data: str | None = None, batch_size: int = 32,
                        max_samples: int | None = None, device: str = "cpu") -> dict[str, float]:
    """Test metrics of a checkpoint next to the task's baselines. Without ``data``: the held-out part of the
    data it was trained on (its test split, else its validation fraction). With ``data``: that data is the
    test set: its test split where it has one, else all of it (e.g. every sequence of a public
    ``mnist_test_seq.npy`` ``[20, N, 64, 64]``)."""
    import dataclasses

    from torch.utils.data import DataLoader

    from vidray.train.loop import build_loss, reduce_validation, validate
    from vidray.train.tasks import TASKS, build_datasets

    model, cfg = load_model(checkpoint_dir, device)
    cfg = dataclasses.replace(cfg, data=data or cfg.data, max_val_samples=max_samples, loss={"mse": 1.0})
    if data and TASKS[cfg.model].kind != "vsr":  # VSR patches have no test split; their split is a name hash
        cfg = dataclasses.replace(cfg, val_fraction=1.0)
    _, test = build_datasets(cfg)
    loader = DataLoader(test, batch_size=batch_size)
    result = validate(model, loader, build_loss(cfg, torch.device(device)), cfg, torch.device(device))
    out = reduce_validation(result, torch.device(device))
    out["samples"] = float(result["count"])
    return out


def metrics_table(values: dict[str, float], baselines: str | list[str] | None = None) -> str:
    """Aligned text table: metric | model | each baseline (default: every baseline in ``values``), then the
    verdict against all of them."""
    names = sorted({k.split("_", 1)[1] for k in values if k.startswith("val_")} - {"loss"})
    found = baseline_names(values)
    columns = [baselines] if isinstance(baselines, str) else list(baselines or found)
    width = max([18] + [len(b) + 2 for b in columns])
    lines = [f"{'metric':<22}{'model':>14}" + "".join(f"{b:>{width}}" for b in columns)]
    for name in names:
        lines.append(f"{name:<22}{values.get('val_' + name, float('nan')):>14.5g}"
                     + "".join(f"{values.get(f'baseline_{b}_{name}', float('nan')):>{width}.5g}" for b in columns))
    line = verdict(values)
    if line:
        lines.append(f"model {line}")
    lines.append(f"{'samples':<22}{int(values.get('samples', 0)):>14d}")
    return "\n".join(lines)
