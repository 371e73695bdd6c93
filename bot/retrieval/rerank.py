"""Second stage: a logistic-regression reranker over candidate features.

Features (one row per candidate, see `FEATURES`): BM25 and dense scores (raw, normalised within
the query, and as reciprocal ranks), the law's and the article's prior (how often each is the
answer in the training questions: general rules such as 民法典第五百七十七条 answer many
situations that never name them), and whether the question names the law.

The weights and priors ship in bot/data/reranker.json, written by `python -m bot.learn`; the
pipeline works without the file (first-stage fusion order). Logistic regression is fitted here
in numpy so that training, cross-validation and serving need nothing beyond the runtime.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

PATH = Path(__file__).resolve().parent.parent / "data" / "reranker.json"
FEATURES = ("bm25_norm", "bm25_raw", "dense_norm", "dense_raw", "bm25_rr", "dense_rr",
            "law_prior", "article_prior", "article_seen", "law_named", "law_support", "chapter_support",
            # pairwise products: a prior matters more for a candidate the text also supports
            "bm25_x_law_prior", "dense_x_law_prior", "bm25_x_article_prior", "dense_x_article_prior",
            "bm25_x_dense", "bm25_sq", "dense_sq", "bias")
RR_K = 60


@dataclass
class Candidates:
    """The first stage's output for one question: unit ids and per-method evidence."""

    ids: np.ndarray
    positions: np.ndarray  # rows in the KnowledgeBase's column arrays
    bm25: np.ndarray
    dense: np.ndarray
    bm25_rank: np.ndarray  # rank in the method's own list, len(list) when absent
    dense_rank: np.ndarray
    fused: np.ndarray  # first-stage fusion score
    laws: np.ndarray  # normalised law title of each candidate
    chapters: np.ndarray  # law + chapter path of each candidate


@dataclass
class Priors:
    """Counts of training gold references per law and per (law, article key)."""

    laws: dict[str, int] = field(default_factory=dict)
    articles: dict[str, int] = field(default_factory=dict)  # "民法典:577" -> n

    def law_feature(self, law_norm: str) -> float:
        return math.log1p(self.laws.get(law_norm, 0))

    def article_feature(self, law_norm: str, key: str) -> float:
        return math.log1p(self.articles.get(f"{law_norm}:{key}", 0))


def features(c: Candidates, law_prior: np.ndarray, article_prior: np.ndarray, law_named: np.ndarray) -> np.ndarray:
    """The feature matrix for candidates; prior arrays are per candidate already."""
    def norm(x: np.ndarray) -> np.ndarray:
        lo, hi = float(x.min()), float(x.max())
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)

    def support(groups: np.ndarray) -> np.ndarray:
        """Share of the first stage's total score that went to the candidate's law (or chapter):
        when many articles of one law match, that law is probably the topic."""
        _, inverse = np.unique(groups.astype(str), return_inverse=True)
        sums = np.bincount(inverse, weights=c.fused)
        return sums[inverse] / max(float(c.fused.sum()), 1e-12)

    bm25, dense = norm(c.bm25), norm(c.dense)
    return np.stack([
        bm25, c.bm25 / 10.0, dense, c.dense,
        1.0 / (RR_K + c.bm25_rank), 1.0 / (RR_K + c.dense_rank),
        law_prior, article_prior, (article_prior > 0).astype(np.float64), law_named,
        support(c.laws), support(c.chapters),
        bm25 * law_prior, dense * law_prior, bm25 * article_prior, dense * article_prior,
        bm25 * dense, bm25 ** 2, dense ** 2, np.ones(len(c.ids)),
    ], axis=1)


@dataclass
class Reranker:
    weights: list[float]
    priors: Priors
    trained_on: dict = field(default_factory=dict)  # data file name, sha1, questions, date
    features: tuple[str, ...] = FEATURES

    def score(self, x: np.ndarray) -> np.ndarray:
        return x @ np.asarray(self.weights)

    def save(self, path: Path = PATH) -> None:
        data = asdict(self)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path = PATH) -> "Reranker | None":
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:  # a file from an older feature set: ignore, don't misuse
            return None
        return cls(data["weights"], Priors(**data["priors"]), data.get("trained_on", {}), FEATURES)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> list[float]:
    """Logistic regression by Newton's method (IRLS) with an L2 penalty; x includes a bias column."""
    w = np.zeros(x.shape[1])
    reg = l2 * np.eye(x.shape[1])
    reg[-1, -1] = 0.0  # the bias is not penalised
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + reg @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w.tolist()
