"""python -m bot.lab.scale [--times 1 3 10] [--backend faiss milvus] — how the first stage grows
with the corpus, on synthetic units (docs/scaling.md).

The index in FARUN_INDEX_DIR, multiplied: every copy of a unit is its BM25 tokens with a share
dropped and the rest shuffled, and its vector with noise added (both seeded), so a copy is near
its original without repeating it. For each size and backend, a fresh process builds the two
first-stage indexes (FAISS and bm25s, or a milvus-lite collection) and times, one query at a
time, a BM25 top-150 and a dense top-150 for LeCoQA dev questions (their tokens; as the vector, a
unit's with noise, so no encoder is loaded). It prints the build seconds, the process's peak RSS
and the search latency. The whole pipeline's latency adds the reranker and the unit store on top.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import Settings
from ..index import layout
from ..index import milvus
from ..index.builder import stored_first_stage
from ..index.dense import DenseIndex
from ..index.sparse import SparseIndex
from ..text import normalize, tokenize
from .data import load_questions

SEED = 7
DROP = 0.2  # share of a copy's tokens left out
NOISE = 0.05  # norm of the noise added to a copy's (unit-length) vector
CANDIDATES = 150  # as SearchConfig.candidates


def corpus(folder: Path, times: int) -> tuple[list[str], np.ndarray]:
    """The index's units (space-joined BM25 tokens, vectors), with times - 1 perturbed copies each."""
    _, joined, vectors = stored_first_stage(folder)
    tokens = [t.split() for t in joined]
    rng = np.random.default_rng(SEED)
    out_tokens, out_vectors = [" ".join(t) for t in tokens], [vectors]
    for _ in range(times - 1):
        for t in tokens:
            kept = [w for w in t if rng.random() >= DROP]
            rng.shuffle(kept)
            out_tokens.append(" ".join(kept))
        out_vectors.append(_near(vectors, rng))
    return out_tokens, np.vstack(out_vectors)


def _near(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors near these: noise of norm NOISE added, renormalised."""
    noise = rng.standard_normal(vectors.shape).astype(np.float32)
    moved = vectors + NOISE * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def measure(folder: Path, times: int, backend: str, queries: list[list[str]], out) -> None:
    """Build one backend's first stage over the multiplied corpus, time its searches; the figures to `out`."""
    tokens, vectors = corpus(folder, times)
    rng = np.random.default_rng(SEED + 1)
    probes = _near(vectors[rng.integers(0, len(vectors), len(queries))], rng)
    ids = list(range(len(tokens)))
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "faiss":
            dense = DenseIndex.new(vectors.shape[1])
            dense.add(ids, vectors)
            sparse = SparseIndex.build([t.split() for t in tokens])
            build_s = time.perf_counter() - t

            def search(q: list[str], v: np.ndarray) -> None:
                np.argsort(-sparse.scores(q))[:CANDIDATES]  # as the candidate stage ranks them
                dense.search(v, CANDIDATES)
        else:
            client = milvus.connect(str(Path(tmp) / "milvus.db"))
            milvus.publish(client, "farun_scale", ids, tokens, vectors)
            collection = milvus.Collection(client, "farun_scale")
            build_s = time.perf_counter() - t

            def search(q: list[str], v: np.ndarray) -> None:
                collection.bm25(q, CANDIDATES)
                collection.dense([v], CANDIDATES)
        latency = []
        for q, v in zip(queries, probes):
            t = time.perf_counter()
            search(q, v)
            latency.append((time.perf_counter() - t) * 1000)
    out.send({"backend": backend, "times": times, "units": len(tokens), "build_s": round(build_s, 1),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "search_p50_ms": round(statistics.median(latency[5:]), 2),
              "search_p95_ms": round(statistics.quantiles(latency[5:], n=20)[-1], 2)})


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bot.lab.scale")
    p.add_argument("--times", type=int, nargs="+", default=[1, 3, 10])
    p.add_argument("--backend", nargs="+", default=["faiss", "milvus"], choices=["faiss", "milvus"])
    p.add_argument("--data", default="../shared/eval/lecoqa_dev.json")
    p.add_argument("--n", type=int, default=100, help="questions to time")
    args = p.parse_args()
    folder = layout.current(Settings.load().index_dir)
    _, questions = load_questions(Path(args.data))
    queries = [tokenize(normalize(q.text)) for q in questions[: args.n]]
    for times in args.times:
        for backend in args.backend:
            # a process per size and backend: its peak RSS is that index's alone
            receive, send = multiprocessing.Pipe(duplex=False)
            child = multiprocessing.get_context("spawn").Process(
                target=measure, args=(folder, times, backend, queries, send))
            child.start()
            send.close()  # the child's end only: a child that fails ends recv() with EOFError
            print(json.dumps(receive.recv(), ensure_ascii=False), flush=True)
            child.join()


if __name__ == "__main__":
    main()
