"""Fusing ranked lists. Two methods, measured side by side in docs/benchmarks.md:

* reciprocal rank fusion (RRF): sum of weight / (k + rank); robust, ignores score scale;
* weighted sum of min-max normalised scores over the candidate set.
"""
from __future__ import annotations

import numpy as np


def rrf(rankings: dict[str, np.ndarray], weights: dict[str, float], k: int = 60) -> dict[int, float]:
    """rankings: name -> unit ids, best first."""
    fused: dict[int, float] = {}
    for name, ids in rankings.items():
        w = weights.get(name, 1.0)
        for rank, uid in enumerate(ids.tolist()):
            fused[uid] = fused.get(uid, 0.0) + w / (k + rank + 1)
    return fused


def weighted(scores: dict[str, dict[int, float]], weights: dict[str, float]) -> dict[int, float]:
    """scores: name -> {unit id: raw score}; each list min-max normalised before weighting."""
    fused: dict[int, float] = {}
    for name, by_id in scores.items():
        if not by_id:
            continue
        vals = np.fromiter(by_id.values(), dtype=np.float64)
        lo, hi = float(vals.min()), float(vals.max())
        span = (hi - lo) or 1.0
        w = weights.get(name, 1.0)
        for uid, s in by_id.items():
            fused[uid] = fused.get(uid, 0.0) + w * (s - lo) / span
    return fused
