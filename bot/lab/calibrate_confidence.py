"""Fit the answer-confidence model of `bot.answer.confidence.CALIBRATED` and measure it.

    python -m bot eval answers --data ../shared/eval/lecoqa_dev.json --signals /tmp/signals.jsonl
    python -m bot.lab.calibrate_confidence /tmp/signals.jsonl

Each line is one answer shown: its signals and whether its lead was right (a gold article first,
or a card citing one). A logistic model is fitted in 5 folds by question; the reliability table
and the expected calibration error printed are those of the out-of-fold predictions, beside the
scope confidence shown before. The final weights are fitted on every line.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..answer.confidence import SIGNALS, ConfidenceWeights
from .logistic import fit, out_of_fold

BANDS = (0.9, 0.7, 0.5, 0.3, 0.0)


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path}: 没有记录（先运行 eval answers --signals）")
    X = np.asarray([[r["signals"][name] for name in SIGNALS] for r in rows], dtype=float)
    return X, np.asarray([float(r["lead_good"]) for r in rows]), np.asarray([int(r["question"]) for r in rows])


def reliability(p: np.ndarray, y: np.ndarray) -> tuple[list[str], float]:
    """Lines of (band, answers, predicted mean, observed share) and the expected calibration error."""
    lines, ece, upper = [], 0.0, 1.01
    for low in BANDS:
        band = (p >= low) & (p < upper)
        if band.any():
            gap = abs(p[band].mean() - y[band].mean())
            ece += gap * band.sum() / len(y)
            lines.append(f"  [{low:.1f}, {min(upper, 1.0):.1f}]: {int(band.sum()):4d} answers, "
                         f"shown {p[band].mean():.3f}, lead right {y[band].mean():.3f}")
        upper = low
    return lines, ece


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.lab.calibrate_confidence", description=__doc__.split("\n\n")[0])
    ap.add_argument("signals", type=Path, help="JSONL from `python -m bot eval answers --signals`")
    args = ap.parse_args(argv)
    X, y, group = load(args.signals)
    print(f"{len(y)} answers shown, lead right in {y.mean():.3f}")
    before, ece_before = reliability(X[:, SIGNALS.index("scope")], y)
    print(f"scope confidence (shown before): ECE {ece_before:.3f}", *before, sep="\n")
    _, oof = out_of_fold(X, y, group)
    after, ece_after = reliability(oof, y)
    print(f"lead confidence, out of fold: ECE {ece_after:.3f}", *after, sep="\n")
    coef, bias = fit(X, y)
    weights = ConfidenceWeights(tuple(round(float(c), 3) for c in coef), round(bias, 3))
    print(f"paste into bot/answer/confidence.py: CALIBRATED = {weights}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
