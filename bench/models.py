"""Video models: parameters, forward+backward throughput, and a fixed-budget Moving MNIST training run.

    python bench/models.py [--presets tiny,small] [--train-steps 60] [--train-seconds 90]
                           [--train-preset tiny] [--device cpu|cuda] [--threads 1]

1. Parameters of every registered model at every preset (no forward pass needed).
2. Forward+backward samples/s of every model at ``--presets`` (random inputs of the model's
   documented shape; MSE against a random target; one warm-up step, then at least 2 steps and
   ~2 s). On CUDA the step runs under bf16 autocast, as training does.
3. ConvLSTM and the ViT predictor (``--train-preset``) trained with Adam on in-process Moving
   MNIST (``--train-sequences`` train sequences, 2 digits, 10 -> 10 frames) for ``--train-steps``
   steps each (stopping early at ``--train-seconds``: the steps reached are printed), then
   evaluated on 64 test sequences with OpenSTL's metrics (MSE summed over the 64x64 pixels, averaged
   over frames; OpenSTL's SSIM) against both trivial baselines, copy-last-frame and all-black: a
   model beats them only with a lower MSE and a higher SSIM than each.
Every number is measured in this run; the last line prints the ratios.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from vidray import metrics, models

BATCH = {"convlstm": 2, "vit_predictor": 4, "keyframe_ae": 8, "interpolator": 8, "vsr": 4}


def sample_batch(name: str, batch: int, device: torch.device) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """(model inputs, target) of the model's documented shapes: 64x64 Moving MNIST-like frames,
    VSR 5 x 60x60 LR -> 180x180 GT (a 540 patch at one third)."""
    rand = lambda *shape: torch.rand(*shape, device=device)  # noqa: E731
    if name in ("convlstm", "vit_predictor"):
        return (rand(batch, 10, 1, 64, 64),), rand(batch, 10, 1, 64, 64)
    if name == "keyframe_ae":
        return (rand(batch, 1, 64, 64),), rand(batch, 1, 64, 64)
    if name == "interpolator":
        return (rand(batch, 1, 64, 64), rand(batch, 1, 64, 64)), rand(batch, 1, 64, 64)
    if name == "vsr":
        return (rand(batch, 5, 3, 60, 60),), rand(batch, 3, 180, 180)
    raise KeyError(name)


def autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(name: str, preset: str, device: torch.device, min_seconds: float = 2.0) -> float:
    """Forward+backward samples/s of ``name``/``preset`` (Adam step included)."""
    torch.manual_seed(0)
    model = models.build(name, preset).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs, target = sample_batch(name, BATCH[name], device)

    def step():
        with autocast(device):
            loss = F.mse_loss(model(*inputs).float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    sync(device)
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < min_seconds:
        step()
        steps += 1
    sync(device)
    return steps * BATCH[name] / (time.perf_counter() - start)


def moving_mnist(n: int, seed: int, split: str) -> torch.Tensor:
    """``n`` Moving MNIST sequences as uint8 ``[n, 20, 1, 64, 64]``."""
    from vidray.synth.moving_mnist import render_sequences

    seq = render_sequences(n, sequence_length=20, num_digits=2, seed=seed, split=split)  # [T, N, 64, 64]
    return torch.from_numpy(seq).permute(1, 0, 2, 3).unsqueeze(2).contiguous()


def train_budget(name: str, preset: str, train: torch.Tensor, max_steps: int, seconds: float, batch: int,
                 lr: float, device: torch.device) -> tuple[torch.nn.Module, int, float]:
    """Adam on MSE for ``max_steps`` steps or ``seconds`` of wall time; returns (model, steps, seconds)."""
    torch.manual_seed(0)
    model = models.build(name, preset).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    steps, start = 0, time.perf_counter()
    while steps < max_steps and time.perf_counter() - start < seconds:
        video = train[torch.randint(0, train.shape[0], (batch,), generator=g)].to(device).float() / 255
        with autocast(device):
            loss = F.mse_loss(model(video[:, :10]).float(), video[:, 10:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    return model.eval(), steps, time.perf_counter() - start


SCORED = ("openstl_mse", "openstl_mae", "openstl_ssim")


def scores(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """OpenSTL MSE / MAE / SSIM of ``pred`` (raw: the metrics clip where OpenSTL does) against ``true``."""
    return metrics.evaluate(pred, true, names=list(SCORED))


@torch.no_grad()
def evaluate(model: torch.nn.Module, test: torch.Tensor, device: torch.device) -> dict[str, float]:
    """OpenSTL MSE / MAE and SSIM of ``model`` on ``test`` (uint8 ``[N, 20, 1, 64, 64]``)."""
    preds, trues = [], []
    for chunk in test.split(16):
        video = chunk.to(device).float() / 255
        with autocast(device):
            preds.append(model(video[:, :10]).float().cpu())
        trues.append(video[:, 10:].cpu())
    return scores(torch.cat(preds), torch.cat(trues))


def shortfalls(model: dict[str, float], baselines: dict[str, dict[str, float]]) -> list[str]:
    """Where ``model`` fails to beat a baseline (lower MSE and higher SSIM than each); empty if it beats all."""
    return ([f"MSE vs {n}" for n, b in baselines.items() if model["openstl_mse"] >= b["openstl_mse"]]
            + [f"SSIM vs {n}" for n, b in baselines.items() if model["openstl_ssim"] <= b["openstl_ssim"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default=None, help="presets to time (default: tiny,small on CPU; +base on CUDA)")
    parser.add_argument("--train-preset", default="tiny", help="preset of the ConvLSTM/ViT training runs")
    parser.add_argument("--train-steps", type=int, default=60, help="training steps per model")
    parser.add_argument("--train-seconds", type=float, default=90.0, help="wall-time cap per model")
    parser.add_argument("--train-sequences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: on a shared 2-core box 2 threads ran 10x slower)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    presets = (args.presets or ("tiny,small,base" if device.type == "cuda" else "tiny,small")).split(",")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {where}")

    print("\nparameters")
    for name in models.names():
        counts = {p: models.param_count(models.build(name, p)) for p in models.presets(name)}
        print(f"  {name:14s} " + "  ".join(f"{p} {n:,}" for p, n in counts.items()))

    print(f"\nforward+backward samples/s ({', '.join(presets)}; batch per model {BATCH})")
    rates = {}
    for name in models.names():
        row = {p: throughput(name, p, device) for p in presets if p in models.presets(name)}
        rates[name] = row
        print(f"  {name:14s} " + "  ".join(f"{p} {r:8.1f}" for p, r in row.items()), flush=True)

    print(f"\nMoving MNIST 10->10: {args.train_steps} training steps per model (cap {args.train_seconds:.0f} s) "
          f"({args.train_preset} preset, batch {args.batch_size}, Adam lr {args.lr}), 64 test sequences")
    start = time.perf_counter()
    train = moving_mnist(args.train_sequences, seed=0, split="train")
    test = moving_mnist(64, seed=0, split="test")
    print(f"  data: {train.shape[0]} train / {test.shape[0]} test sequences in {time.perf_counter() - start:.1f} s")
    x, y = test[:, :10].float() / 255, test[:, 10:].float() / 255
    baselines = {"copy_last_frame": scores(metrics.copy_last_frame(x, 10), y),
                 "all_black": scores(metrics.all_black(x, 10), y)}
    for name, base in baselines.items():
        print(f"  {name:>15}: MSE {base['openstl_mse']:.1f}  MAE {base['openstl_mae']:.1f}  "
              f"SSIM {base['openstl_ssim']:.3f}")
    best_mse = min(b["openstl_mse"] for b in baselines.values())
    ratios, verdicts = {}, {}
    for name in ("convlstm", "vit_predictor"):
        model, steps, took = train_budget(name, args.train_preset, train, args.train_steps, args.train_seconds,
                                          args.batch_size, args.lr, device)
        got = evaluate(model, test, device)
        ratios[name] = got["openstl_mse"] / best_mse
        missed = shortfalls(got, baselines)
        verdicts[name] = "beats both" if not missed else "not beaten: " + ", ".join(missed)
        print(f"  {name}/{args.train_preset}: {steps} steps in {took:.0f} s, MSE {got['openstl_mse']:.1f}  "
              f"MAE {got['openstl_mae']:.1f}  SSIM {got['openstl_ssim']:.3f}  (MSE / best baseline MSE = "
              f"{ratios[name]:.2f}; {verdicts[name]})", flush=True)

    print("RESULT model MSE / best trivial baseline MSE: "
          + ", ".join(f"{n} {r:.2f} ({verdicts[n]})" for n, r in ratios.items())
          + f" | fwd+bwd samples/s ({presets[0]}): "
          + ", ".join(f"{n} {rates[n][presets[0]]:.1f}" for n in rates if presets[0] in rates[n]))


if __name__ == "__main__":
    main()
