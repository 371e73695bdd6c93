"""Dense vectors in FAISS: exact inner product over unit-normalised vectors, keyed by unit id.

A flat index is exact and, at the national corpus's ~26k vectors, searches in about a
millisecond; an IVF/HNSW backend would only pay off past a few hundred thousand units.
"""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

FILE = "dense.faiss"
# One query at a time is the serving pattern: OpenMP's thread start-up costs more than it saves
# (p50 7.8 ms with 2 threads, 3.4 ms with 1, k=150 over 26k vectors); requests run in parallel instead.
# The setting is per OS thread, so `search` repeats it: langchain runs steps in worker threads,
# where the default (all cores) made a whole search 2.8 times slower.
faiss.omp_set_num_threads(1)


class DenseIndex:
    def __init__(self, index: faiss.Index):
        self.index = index

    @classmethod
    def new(cls, dim: int) -> "DenseIndex":
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def load(cls, folder: Path) -> "DenseIndex":
        return cls(faiss.read_index(str(folder / FILE)))

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / FILE))

    @property
    def dim(self) -> int:
        return self.index.d

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> None:
        self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the k nearest units, restricted to `allowed` ids when given."""
        faiss.omp_set_num_threads(1)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        k = min(k, self.index.ntotal)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]
