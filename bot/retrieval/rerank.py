"""Second stage: a listwise logistic (softmax) reranker over candidate features.

Features (one row per candidate, see `FEATURES`): BM25, dense and learned-vocabulary scores
(raw, normalised within the query, as reciprocal and log ranks, and whether each method put the
candidate first), the law's and the article's prior (how often each is the answer in the
training questions: general rules such as 民法典第五百七十七条 answer many situations that never
name them), the learned vocabulary of the candidate's chapter and law, and whether the question
names the law.

With a deployment's region (FARUN_REGION), its local regulations get a local-first prior on top
of the learned score: LOCAL_PRIOR × how local the question is (`RerankStage.localness`).

The weights, priors, learned vocabularies (`expansion.Expansion`) and query map (`querymap`) ship in
bot/data/reranker.json, written by `python -m bot.lab.learn`; the pipeline works without the file
(first-stage fusion order). The model is fitted here in numpy so that training,
cross-validation and serving need nothing beyond the runtime.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import region as regions
from ..units import CARD_LEVELS
from .expansion import LEVELS, Expansion
from .querymap import QueryMap

if TYPE_CHECKING:
    from .catalog import Catalog

PATH = Path(__file__).resolve().parent.parent / "data" / "reranker.json"
FEATURES = ("bm25_norm", "bm25_raw", "dense_norm", "dense_raw", "bm25_rr", "dense_rr",
            "law_prior", "article_prior", "article_seen", "law_named", "law_support", "chapter_support",
            # pairwise products: a prior matters more for a candidate the text also supports
            "bm25_x_law_prior", "dense_x_law_prior", "bm25_x_article_prior", "dense_x_article_prior",
            "bm25_x_dense", "bm25_sq", "dense_sq",
            "expansion_norm", "expansion_raw", "expansion_rr", "expansion_x_dense",
            "expansion_x_law_prior", "expansion_x_article_prior",
            "bm25_top", "dense_top", "expansion_top", "bm25_log_rank", "dense_log_rank", "expansion_log_rank",
            "chapter_vocab_norm", "chapter_vocab_raw", "law_vocab_norm", "law_vocab_raw",
            # question length × evidence: a long formal scenario is matched by its words, a short
            # lay question leans on what similar questions needed (priors, learned vocabulary)
            "length_x_bm25", "length_x_dense", "length_x_law_prior", "length_x_article_prior",
            "length_x_expansion", "length_x_chapter_vocab", "length_x_law_vocab", "bias")
# With the second encoder's vectors (bot.index.second), these come before the bias and the
# reranker scores with its second weights: its cosine (raw, normalised, as ranks among the
# candidates) and with the priors and BM25, as the first encoder's
SECOND_FEATURES = ("second_norm", "second_raw", "second_rr", "second_top", "second_log_rank",
                   "second_x_law_prior", "second_x_article_prior", "second_x_bm25", "length_x_second")
RR_K = 60
# The local-first prior, added to the reranker's score (the logit of its softmax over candidates).
# Chosen by `python -m bot.lab.calibrate_region` on the local questions (bot/lab/data/local_jinan.json)
# against LeCoQA dev: larger priors gain local recall but cost dev recall (docs/benchmarks.md).
LOCAL_PRIOR = 8.0


@dataclass
class Candidates:
    """The first stage's output for one question: unit ids and per-method evidence."""

    ids: np.ndarray
    positions: np.ndarray  # rows in the catalog's column arrays (`catalog.Catalog`)
    bm25: np.ndarray
    dense: np.ndarray  # what the reranker reads: cosine with the mapped question (`querymap`) when a map is used
    bm25_rank: np.ndarray  # rank in the method's own list, len(list) when absent
    dense_rank: np.ndarray
    fused: np.ndarray  # first-stage fusion score
    laws: np.ndarray  # normalised law title of each candidate
    chapters: np.ndarray  # law + chapter path of each candidate
    # learned-vocabulary scores (zeros without a learned model): the article's, its rank, and
    # the vocabulary of the candidate's chapter and law
    expansion: np.ndarray
    expansion_rank: np.ndarray
    chapter_vocab: np.ndarray
    law_vocab: np.ndarray
    cosine: np.ndarray  # the plain question-passage cosine (`dense` is with the query map, when used)
    length: float = 0.0  # log(1 + question characters)
    second: np.ndarray | None = None  # cosine by the second encoder (bot.index.second), when its vectors are there


@dataclass
class Priors:
    """Counts of training gold references per law and per (law, article key)."""

    laws: dict[str, int] = field(default_factory=dict)
    articles: dict[str, int] = field(default_factory=dict)  # "民法典:577" -> n

    def law_feature(self, law_norm: str) -> float:
        return math.log1p(self.laws.get(law_norm, 0))

    def article_feature(self, law_norm: str, key: str) -> float:
        return math.log1p(self.articles.get(f"{law_norm}:{key}", 0))


def _norm(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def features(c: Candidates, law_prior: np.ndarray, article_prior: np.ndarray, law_named: np.ndarray,
             second: bool = True) -> np.ndarray:
    """The feature matrix for candidates (`FEATURES`, with the second encoder's vectors and `second`
    `FEATURES` + `SECOND_FEATURES` before the bias); prior arrays are per candidate already."""
    def support(groups: np.ndarray) -> np.ndarray:
        """Share of the first stage's total score that went to the candidate's law (or chapter):
        when many articles of one law match, that law is probably the topic."""
        _, inverse = np.unique(groups.astype(str), return_inverse=True)
        sums = np.bincount(inverse, weights=c.fused)
        return sums[inverse] / max(float(c.fused.sum()), 1e-12)

    bm25, dense, expansion = _norm(c.bm25), _norm(c.dense), _norm(c.expansion)
    chapter_vocab, law_vocab, n = _norm(c.chapter_vocab), _norm(c.law_vocab), c.length / 5.0
    return np.stack([
        bm25, c.bm25 / 10.0, dense, c.dense,
        1.0 / (RR_K + c.bm25_rank), 1.0 / (RR_K + c.dense_rank),
        law_prior, article_prior, (article_prior > 0).astype(np.float64), law_named,
        support(c.laws), support(c.chapters),
        bm25 * law_prior, dense * law_prior, bm25 * article_prior, dense * article_prior,
        bm25 * dense, bm25 ** 2, dense ** 2,
        expansion, c.expansion / 10.0, 1.0 / (RR_K + c.expansion_rank), expansion * dense,
        expansion * law_prior, expansion * article_prior,
        c.bm25_rank == 0, c.dense_rank == 0, (c.expansion_rank == 0) & (c.expansion > 0),
        np.log1p(c.bm25_rank), np.log1p(c.dense_rank), np.log1p(c.expansion_rank),
        chapter_vocab, c.chapter_vocab / 10.0, law_vocab, c.law_vocab / 10.0,
        n * bm25, n * dense, n * law_prior, n * article_prior, n * expansion, n * chapter_vocab, n * law_vocab,
        *(_second_columns(c.second, law_prior, article_prior, bm25, n) if second and c.second is not None else []),
        np.ones(len(c.ids)),
    ], axis=1).astype(np.float64)


def _second_columns(cosine: np.ndarray, law_prior: np.ndarray, article_prior: np.ndarray, bm25: np.ndarray,
                    n: float) -> list[np.ndarray]:
    """`SECOND_FEATURES`: `bm25` is the normalised BM25 score, `n` the scaled question length."""
    norm = _norm(cosine)
    rank = np.empty(len(cosine))
    rank[np.argsort(-cosine, kind="stable")] = np.arange(len(cosine))
    return [norm, cosine, 1.0 / (RR_K + rank), rank == 0, np.log1p(rank),
            norm * law_prior, norm * article_prior, norm * bm25, n * norm]


@dataclass
class Reranker:
    weights: list[float]
    priors: Priors
    vocabulary: dict[str, Expansion] = field(default_factory=dict)  # level (LEVELS) -> learned vocabulary
    trained_on: dict = field(default_factory=dict)  # data files (name, sha1, questions), folds, seed, date
    features: tuple[str, ...] = FEATURES
    query_map: QueryMap | None = None  # learned map on question embeddings (dense candidates)
    # weights over FEATURES + SECOND_FEATURES, for the second encoder they were fitted with (None:
    # trained without its vectors); used when the knowledge base has that encoder's vectors
    second_weights: list[float] | None = None
    second_embedding: str = ""

    def score(self, x: np.ndarray) -> np.ndarray:
        """Scores of a feature matrix of `features` (with the second encoder's columns: second weights)."""
        weights = self.second_weights if x.shape[1] != len(self.weights) else self.weights
        return x @ np.asarray(weights)

    def save(self, path: Path = PATH) -> None:
        data = asdict(replace(self, query_map=None))  # an Expansion's derived indexes are not fields: only its terms are saved
        data["query_map"] = self.query_map.to_json() if self.query_map else None
        data["second_features"] = SECOND_FEATURES if self.second_weights is not None else []
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path = PATH) -> "Reranker | None":
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:  # a file from an older feature set: ignore, don't misuse
            return None
        second = data.get("second_weights") if tuple(data.get("second_features", ())) == SECOND_FEATURES else None
        vocabulary = {level: Expansion(data["vocabulary"][level]["terms"]) for level in LEVELS
                      if level in data.get("vocabulary", {})}
        query_map = QueryMap.from_json(data["query_map"]) if data.get("query_map") else None
        return cls(data["weights"], Priors(**data["priors"]), vocabulary, data.get("trained_on", {}), FEATURES, query_map,
                   second, data.get("second_embedding", "") if second else "")


class RerankStage:
    """The second stage over a catalog's units with one reranker (or none: first-stage order):
    the reranker's priors as per-unit arrays (a card takes the best of its cited articles'),
    its query map when it was fitted on this embedding model, and the candidates' scores."""

    def __init__(self, catalog: "Catalog", reranker: Reranker | None, embedding: str, second_embedding: str = ""):
        self.catalog, self.reranker = catalog, reranker
        # the second weights only with the encoder they were fitted with
        self.with_second = bool(reranker and reranker.second_weights is not None and second_embedding
                                and reranker.second_embedding == second_embedding)
        self.local_prior = LOCAL_PRIOR if catalog.local.any() else 0.0
        self.query_map = reranker.query_map if reranker and reranker.query_map \
            and reranker.query_map.embedding == embedding else None
        if reranker is None:
            return
        laws, keys = catalog.columns["law_norm"], catalog.columns["article_key"]
        self.law_prior = np.array([reranker.priors.law_feature(x) for x in laws])
        self.article_prior = np.array([reranker.priors.article_feature(x, k) for x, k in zip(laws, keys)])
        for i, refs in catalog.cites.items():
            if refs:
                self.law_prior[i] = max(reranker.priors.law_feature(x) for x, _ in refs)
                self.article_prior[i] = max(reranker.priors.article_feature(x, k) for x, k in refs)

    def scores(self, question: str, c: Candidates) -> np.ndarray:
        """The reranker's score of each candidate of `question`."""
        named = set(self.catalog.aliases.laws_named(question))
        law_named = np.array([x in named for x in self.catalog.columns["law_norm"][c.positions]], dtype=np.float64)
        x = features(c, self.law_prior[c.positions], self.article_prior[c.positions], law_named,
                     second=self.with_second and c.second is not None)
        scores = self.reranker.score(x)
        if self.local_prior:
            local = self.catalog.local[c.positions]
            scores = scores + self.local_prior * self.localness(question, c, local) * local
        return self._cards_by_text(c, scores)

    def localness(self, question: str, c: Candidates, local: np.ndarray) -> float:
        """How local a question is: 1 when it names a place of the deployment's region (济南, 山东省),
        else the share of the first stage's score that went to the region's local regulations, so
        that a question national law governs (its candidates mostly national articles) is barely
        moved and one about 养犬 or 物业 (many local articles match) is."""
        if regions.named_in(question, self.catalog.home):
            return 1.0
        return float(c.fused[local].sum()) / max(float(c.fused.sum()), 1e-12)

    def _cards_by_text(self, c: Candidates, scores: np.ndarray) -> np.ndarray:
        """Cards borrow their cited articles' priors, so the reranker places them well among
        statutes; but among themselves the priors would favour cards citing popular articles.
        Keep the slots the reranker gave to cards, and fill them in first-stage (text) order."""
        cards = np.flatnonzero(np.isin(self.catalog.columns["level"][c.positions], CARD_LEVELS))
        if len(cards) > 1:
            scores = scores.copy()
            scores[cards[np.argsort(-c.fused[cards], kind="stable")]] = np.sort(scores[cards])[::-1]
        return scores


def fit(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 0.3, steps: int = 100) -> list[float]:
    """Listwise logistic regression: per question, a softmax over its candidates should put the
    probability on the gold ones (`groups`: (features, labels) per question with at least one
    gold candidate). Newton's method with step halving and an L2 penalty; the softmax is blind
    to a constant, so the bias column's weight stays 0 under the penalty."""
    x = np.concatenate([g[0] for g in groups])
    target = np.concatenate([g[1] / g[1].sum() for g in groups])
    seg = np.repeat(np.arange(len(groups)), [len(g[0]) for g in groups])
    n = len(groups)

    def loss_grad_hess(w: np.ndarray, hessian: bool):
        z = x @ w
        top = np.full(n, -np.inf)
        np.maximum.at(top, seg, z)
        e = np.exp(z - top[seg])
        total = np.bincount(seg, e, n)
        p = e / total[seg]
        loss = -(target * np.log(np.maximum(p, 1e-300))).sum() + 0.5 * l2 * w @ w
        if not hessian:
            return loss, None, None
        grad = x.T @ (p - target) + l2 * w
        per_q = np.zeros((n, x.shape[1]))
        np.add.at(per_q, seg, x * p[:, None])  # each question's expected feature vector
        hess = (x * p[:, None]).T @ x - per_q.T @ per_q + l2 * np.eye(x.shape[1])
        return loss, grad, hess

    w = np.zeros(x.shape[1])
    for _ in range(steps):
        loss, grad, hess = loss_grad_hess(w, True)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4 and loss_grad_hess(w - t * step, False)[0] > loss:
            t /= 2
        w -= t * step
        if np.abs(t * step).max() < 1e-6:
            break
    return w.tolist()
