r"""KURE on real data: a small CNN on scikit-learn's 8x8 digits, with and without KURE.

The same network is trained from the same initialisation, on the same
mini-batches, for the same number of epochs, once with the task loss only
and once with ``task loss + KURE`` (Shkolnik et al., "Robust Quantization:
One Model to Rule Them All", NeurIPS 2020, arXiv:2002.07686). Both models
are then quantized after training (weights only, every conv and linear
weight, signed integer levels, one exact empirical optimal step
:math:`\tilde\Delta` per tensor) and evaluated on held-out digits:

* accuracy against the step scale :math:`\Delta/\tilde\Delta` from 0.7 to
  1.3, at 4 and 3 bits (paper Sec. 5.1);
* accuracy against the bit-width from 2 to 8 when the step was calibrated at
  4 bits and carried over by keeping the clipping range,
  :math:`\Delta_M = \tilde\Delta_4 2^{4-M}` (paper Sec. 5.2);
* the step rounded to the nearest power of two (supplementary Table 5);
* the per-layer kurtosis of both models;
* a sweep of the KURE weight :math:`\lambda \in \{10^{-3}, 10^{-1}, 1\}`.

Every number is the mean over ``--seeds`` training seeds (initialisation and
mini-batch order; the train/test split is fixed). The digits ship with
scikit-learn, so nothing is downloaded. With the defaults (3 seeds, 4 values
of lambda, 30 epochs) the run takes about 80 s on one core.

Usage::

    python examples/kure_digits.py [FIGURE.png | --out FIGURE.png] [--epochs 30]
                                   [--seeds 3]

The figure goes to ``examples/output/kure_digits.png`` unless a path is
given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from quanttheory.torch import (
    KURE,
    SweepResult,
    SweepRow,
    robustness_sweep,
    select_weights,
)
from quanttheory.torch import kurtosis as torch_kurtosis

DEFAULT_FIGURE = Path(__file__).resolve().parent / "output" / "kure_digits.png"
LAMBDAS = (1e-3, 1e-1, 1.0)
STEP_SCALES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)


class DigitsCNN(nn.Module):
    """Three 3x3 convolutions and two linear layers; about 23 000 weights."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)  # 4x4
        x = torch.max_pool2d(torch.relu(self.conv3(x)), 2)  # 2x2
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def load_digits(seed: int):
    """Standardised 8x8 digits, a stratified 70/30 split (1257 / 540 images)."""
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    data = sk_load()
    x = (data.images.astype(np.float32) / 16.0 - 0.3) / 0.4
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, data.target, test_size=0.3, random_state=seed, stratify=data.target
    )

    def tensors(a, b):
        return torch.from_numpy(a).unsqueeze(1), torch.from_numpy(b).long()

    return tensors(x_tr, y_tr), tensors(x_te, y_te)


def train(train_set, *, kure_weight: float, epochs: int, seed: int) -> nn.Module:
    """Adam, batch 128, cosine learning rate; KURE added to the loss if weight > 0."""
    torch.manual_seed(seed)
    model = DigitsCNN()
    kure = KURE(weight=kure_weight) if kure_weight > 0 else None
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    x, y = train_set
    gen = torch.Generator().manual_seed(seed)  # same mini-batches for every run
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(128):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            if kure is not None:
                loss = loss + kure(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


def accuracy_on(test_set):
    x, y = test_set

    def evaluate(model) -> float:
        model.eval()
        with torch.no_grad():
            return float((model(x).argmax(1) == y).float().mean()) * 100

    return evaluate


def layer_kurtosis(model) -> dict[str, float]:
    with torch.no_grad():
        return {n: float(torch_kurtosis(w)) for n, w in select_weights(model, "all")}


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in cells:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def average(results: list) -> SweepResult:
    """Mean metric over seeds, row by row (the rows of every seed line up)."""
    first = results[0]
    rows = []
    for i, r in enumerate(first.rows):
        group = [res.rows[i] for res in results]
        rows.append(
            SweepRow(
                r.kind,
                r.bits,
                float(np.mean([g.step_scale for g in group])),
                r.calibration_bits,
                float(np.mean([g.metric for g in group])),
            )
        )
    return SweepResult(rows, metric_name=first.metric_name)


def spread(results: list, kind: str, bits, scale=None) -> tuple[float, float]:
    vals = [
        next(
            r.metric
            for r in res.rows
            if r.kind == kind
            and r.bits == bits
            and (scale is None or r.step_scale == scale)
        )
        for res in results
    ]
    return float(np.mean(vals)), float(np.std(vals))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "figure",
        nargs="?",
        default=None,
        help=f"where to save the figure (default {DEFAULT_FIGURE})",
    )
    parser.add_argument("--out", metavar="FILE", help="same as FIGURE")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--seeds", type=int, default=3, help="training seeds to average (default 3)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on 2 busy cores more threads are slower)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train_set, test_set = load_digits(0)
    evaluate = accuracy_on(test_set)
    metric = "test accuracy (%)"
    print(
        f"digits: {len(train_set[0])} training and {len(test_set[0])} test images "
        f"(1 image = {100 / len(test_set[0]):.2f} %); {args.epochs} epochs; "
        f"seeds 0..{args.seeds - 1}; {args.threads} thread(s)"
    )
    lambdas = (0.0, *LAMBDAS)
    step_res = {lam: [] for lam in lambdas}
    bit_res = {lam: [] for lam in lambdas}
    kurt = {lam: [] for lam in lambdas}
    t_train = t_sweep = 0.0
    for seed in range(args.seeds):
        for lam in lambdas:
            t = time.perf_counter()
            model = train(train_set, kure_weight=lam, epochs=args.epochs, seed=seed)
            t_train += time.perf_counter() - t
            t = time.perf_counter()
            step_res[lam].append(
                robustness_sweep(
                    model,
                    evaluate,
                    bits=[4, 3],
                    step_scales=STEP_SCALES,
                    power_of_two=True,
                    scheme="signed",  # int-M weights (the package default: 'paper')
                    metric_name=metric,
                )
            )
            bit_res[lam].append(
                robustness_sweep(
                    model,
                    evaluate,
                    bits=range(2, 9),
                    step_scales=[1.0],
                    power_of_two=False,
                    calibration_bits=4,
                    baseline=False,
                    scheme="signed",
                    metric_name=metric,
                )
            )
            kurt[lam].append(layer_kurtosis(model))
            t_sweep += time.perf_counter() - t
    step_avg = {lam: average(v) for lam, v in step_res.items()}
    bit_avg = {lam: average(v) for lam, v in bit_res.items()}
    kurt_avg = {
        lam: {n: float(np.mean([k[n] for k in ks])) for n in ks[0]}
        for lam, ks in kurt.items()
    }
    pair = {"no KURE": 0.0, "KURE l=1": 1.0}

    print_table(
        f"Full-precision test accuracy (%), mean +- std over {args.seeds} seed(s)",
        ["model", "accuracy", "std"],
        [[n, *spread(step_res[lam], "float", None)] for n, lam in pair.items()],
    )
    for bits in (4, 3):
        rows = []
        for name, lam in pair.items():
            res = step_avg[lam]
            vals = [r.metric for r in res.select("step_scale", bits)]
            p2 = res.select("power_of_two", bits)[0]
            rows.append([name, *vals, p2.metric, p2.step_scale])
        print_table(
            f"Mean accuracy (%) against the step scale at {bits} bits (pow2: step "
            "rounded to the nearest power of 2; ratio: mean pow2 step / optimal step)",
            ["model", *[f"{s:.1f}" for s in STEP_SCALES], "pow2", "ratio"],
            rows,
        )
    bit_rows = []
    for name, lam in pair.items():
        res = bit_avg[lam]
        carried = {r.bits: r.metric for r in res.select("carry_over")}
        calibrated = {r.bits: r.metric for r in res.select("step_scale")}
        bit_rows.append(
            [f"{name}, step from 4 bits", *[carried[b] for b in range(2, 9)]]
        )
        bit_rows.append(
            [f"{name}, optimal step per width", *[calibrated[b] for b in range(2, 9)]]
        )
    print_table(
        "Mean accuracy (%) against the bit-width; the 4-bit step carried over keeps "
        "the clipping range (step_M = step_4 * 2^(4-M))",
        ["model", *[str(b) for b in range(2, 9)]],
        bit_rows,
    )
    print_table(
        "Per-layer kurtosis, mean over seeds (KURE acts on conv2, conv3 and fc1: "
        "every conv/linear layer but the first and the last)",
        ["layer", "no KURE", "KURE l=1"],
        [[n, kurt_avg[0.0][n], kurt_avg[1.0][n]] for n in kurt_avg[0.0]],
    )
    lam_rows = []
    for lam in lambdas:
        res = step_res[lam]
        reg = [kurt_avg[lam][n] for n in ("conv2.weight", "conv3.weight", "fc1.weight")]
        fp = spread(res, "float", None)
        lam_rows.append(
            [
                f"{lam:g}",
                fp[0],
                spread(res, "step_scale", 4, 1.0)[0],
                spread(res, "step_scale", 3, 1.0)[0],
                spread(res, "step_scale", 3, 0.7)[0],
                spread(res, "step_scale", 3, 1.3)[0],
                spread(res, "power_of_two", 4)[0],
                spread(res, "power_of_two", 3)[0],
                spread(bit_res[lam], "carry_over", 2)[0],
                spread(bit_res[lam], "step_scale", 2, 1.0)[0],
                float(np.mean(reg)),
            ]
        )
    print_table(
        "Lambda sweep: mean accuracy (%) over seeds; 'kurt' is the mean kurtosis of "
        "the regularised layers",
        [
            "lambda",
            "fp32",
            "4b",
            "3b",
            "3b x0.7",
            "3b x1.3",
            "4b pow2",
            "3b pow2",
            "2b from 4b",
            "2b",
            "kurt",
        ],
        lam_rows,
    )

    fig_path = Path(args.out or args.figure or DEFAULT_FIGURE)
    saved = False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nmatplotlib is not installed: no figure")
    else:
        fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
        styles = {"no KURE": "-", "KURE l=1": "--"}
        for ax, bits in zip(axes[0], (4, 3), strict=True):
            for (name, lam), color in zip(pair.items(), ("C0", "C1"), strict=True):
                res = step_avg[lam]
                sub = SweepResult(
                    [r for r in res.rows if r.bits in (None, bits)],
                    metric_name=metric,
                )
                sub.plot(
                    ax=ax,
                    kind="step_scale",
                    label=name,
                    linestyle=styles[name],
                    color=color,
                )
            ax.set_title(f"{bits}-bit weights: accuracy against the step")
        for (name, lam), color in zip(pair.items(), ("C0", "C1"), strict=True):
            bit_avg[lam].plot(ax=axes[1, 0], kind="carry_over", label=name, color=color)
        axes[1, 0].set_title("accuracy against the bit-width")
        names = list(kurt_avg[0.0])
        pos = np.arange(len(names))
        for off, (name, lam) in zip((-0.2, 0.2), pair.items(), strict=True):
            axes[1, 1].bar(
                pos + off, [kurt_avg[lam][n] for n in names], 0.4, label=name
            )
        axes[1, 1].axhline(1.8, color="grey", linestyle="--", linewidth=0.8)
        axes[1, 1].set_xticks(pos, [n.removesuffix(".weight") for n in names])
        axes[1, 1].set_ylabel("kurtosis")
        axes[1, 1].set_title("per-layer kurtosis (dashed: uniform law, 1.8)")
        axes[1, 1].legend(fontsize="small")
        fig.suptitle(f"KURE on sklearn digits, mean over {args.seeds} seed(s)")
        fig.tight_layout()
        fig_path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(fig_path, dpi=120)
        saved = True
    print(
        f"\ntimes: training {t_train:.1f} s for {len(lambdas) * args.seeds} models, "
        f"sweeps {t_sweep:.1f} s, total {time.perf_counter() - t0:.1f} s"
    )
    if saved:
        print(f"wrote {fig_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
