"""Where the first stage searches (FARUN_INDEX_BACKEND): FAISS and bm25s in this process (faiss,
the default), or a Milvus collection (milvus; `bot.index.milvus`).

Both answer the same three questions for `candidates.CandidateStage`: the top BM25 units of a
question (and the BM25 score of any candidate), the top dense units of query vectors, and the
stored vectors of candidates. The filters stay the catalog's mask, for both: a unit's status
is computed for the day asked (`catalog.Catalog.on`), which a filter expression over the status
stored at build time would get wrong. A narrow mask is sent as the allowed ids; a broad one (the
default, current only) over-fetches and is applied to the hits, which is faster than an id list.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from ..config import Settings
from ..index import layout
from ..index import milvus as milvus_index
from ..index.dense import DenseIndex
from ..index.sparse import SparseIndex
from .catalog import Catalog

NARROW = 0.5  # a mask allowing fewer units than this share is sent as an id list
OVERFETCH = 1.5

# BM25 of one question: the top unit ids, best first, and the scores of the units at given rows
BM25Found = tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]


def stored_vectors(dense: DenseIndex) -> np.ndarray:
    """A zero-copy view of FAISS's stored vectors, in unit-id order, for scoring candidates."""
    flat = faiss.downcast_index(dense.index.index)
    n, d = flat.ntotal, flat.d
    vectors = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)
    order = np.argsort(faiss.vector_to_array(dense.index.id_map))
    return vectors if np.array_equal(order, np.arange(n)) else vectors[order]


class _Masked:
    """The mask's two ways of reaching an engine: the allowed ids, or an over-fetch then applied."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def ask(self, mask: np.ndarray, n: int) -> tuple[np.ndarray | None, int]:
        """(allowed ids or None, how many hits to ask for) to end with n allowed ones."""
        share = mask.mean() if len(mask) else 1.0
        if share < NARROW:
            return self.catalog.ids[mask], n
        return None, int(n / share * OVERFETCH) + 10

    def keep(self, ids: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
        """The first n of these hits the mask allows."""
        return ids[mask[np.searchsorted(self.catalog.ids, ids)]][:n]


class InProcess(_Masked):
    """FAISS (exact inner product) and bm25s, both in memory (`bot.index.dense`, `bot.index.sparse`)."""

    def __init__(self, catalog: Catalog, sparse: SparseIndex, dense: DenseIndex):
        super().__init__(catalog)
        self.sparse, self.dense = sparse, dense
        self.dim = dense.dim
        self.stored = stored_vectors(dense)

    def bm25(self, tokens: list[str], mask: np.ndarray, n: int) -> BM25Found:
        scores = np.where(mask, self.sparse.scores(tokens), 0.0)  # every unit's, so candidates need no second pass
        top = np.argsort(-scores)[:n]
        return self.catalog.ids[top[scores[top] > 0]], lambda rows: scores[rows]

    def dense_top(self, vectors: list[np.ndarray], mask: np.ndarray, n: int) -> list[np.ndarray]:
        allowed, fetch = self.ask(mask, n)
        if allowed is not None:
            return [self.dense.search(v, n, allowed)[0] for v in vectors]
        return [self.keep(self.dense.search(v, fetch)[0], mask, n) for v in vectors]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.stored[rows]


class InMilvus(_Masked):
    """One build's Milvus collection (`bot.index.milvus.Collection`); nothing of it is held here."""

    def __init__(self, catalog: Catalog, collection: milvus_index.Collection, dim: int, sparse: SparseIndex):
        super().__init__(catalog)
        self.collection, self.dim, self.sparse = collection, dim, sparse

    def bm25(self, tokens: list[str], mask: np.ndarray, n: int) -> BM25Found:
        # Only the tokens the index has seen, as in-process: Milvus's jieba would cut an unseen
        # one (a word the tokenizer learnt after the build) into parts that do match.
        tokens = self.sparse.known(tokens)
        if not tokens:
            return np.zeros(0, np.int64), lambda rows: np.zeros(len(rows))
        allowed, fetch = self.ask(mask, n)
        ids, _ = self.collection.bm25(tokens, fetch, allowed)
        top = ids[:n] if allowed is not None else self.keep(ids, mask, n)

        def scores(rows: np.ndarray) -> np.ndarray:
            wanted = self.catalog.ids[rows]
            found, values = self.collection.bm25(tokens, len(wanted), wanted)
            by_id = dict(zip(found.tolist(), values.tolist()))
            return np.array([by_id.get(i, 0.0) for i in wanted.tolist()])

        return top, scores

    def dense_top(self, vectors: list[np.ndarray], mask: np.ndarray, n: int) -> list[np.ndarray]:
        allowed, fetch = self.ask(mask, n)
        found = self.collection.dense(vectors, fetch, allowed)
        return found if allowed is not None else [self.keep(ids, mask, n) for ids in found]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.collection.vectors(self.catalog.ids[rows]).reshape(len(rows), self.dim)


def open_backend(settings: Settings, folder: Path, manifest: layout.Manifest, catalog: Catalog,
                 sparse: SparseIndex) -> InProcess | InMilvus:
    """The first stage's searches over the index in `folder`, with the configured backend."""
    if settings.index_backend == "faiss":
        return InProcess(catalog, sparse, DenseIndex.load(folder))
    if not manifest.collection:
        raise layout.IndexUnavailable("该索引未载入 Milvus（FARUN_INDEX_BACKEND=milvus）：请运行 python -m bot build 重建")
    client = milvus_index.connect(settings.milvus_target)
    return InMilvus(catalog, milvus_index.Collection(client, manifest.collection), manifest.dim, sparse)
