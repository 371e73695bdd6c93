"""The index served by Milvus (FARUN_INDEX_BACKEND=milvus): one collection per build, and an
alias naming the serving one.

A build folder (`layout`) stays the record of an index either way: the unit store, the vectors
(dense.faiss, read back by the next build and update to reuse them) and the BM25 tokens. With
Milvus, a build or update also loads the folder into a new collection before the swap (the
folder's manifest names it), and after the swap points the alias at it and drops every older
collection but the one it replaced, which workers still serving it search until they reload. A
knowledge base searches the collection its own folder names, never the alias: its SQLite store
and its collection then always hold the same units, also while a swap is under way.

Each collection holds, per unit, its id (the store's row id), its vector, and its BM25 tokens
(`bot.text.tokenize`, as the in-process BM25 indexes them) joined by spaces in a text field that a
Milvus `BM25` function indexes. The field's analyzer is Milvus's jieba tokenizer in exact mode,
taught the words of those tokens that plain jieba would cut (legal terms, law names, search-mode
parts): it then gives back the same tokens, and Milvus's BM25 scores are those of the in-process
index, on which the reranker was trained.

`milvus-lite` (a file, e.g. index/milvus.db) runs in the serving process itself; a Milvus server
(http://host:19530) takes the same calls and serves several processes and machines.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import jieba
import numpy as np

from .layout import IndexUnavailable

ALIAS = "farun_current"
PREFIX = "farun_"
K1, B = 1.2, 0.75  # as the in-process BM25 (bot.index.sparse)
INSERT_BATCH = 1000
CONNECT_TIMEOUT = 10.0  # seconds: a wrong server address fails within this, with the address named
# Milvus's BM25 function (full-text search over a sparse vector field) arrived in 2.5: an older
# server refuses the collection's sparse index with "create index on 104 field is not supported"
# (tried 2026-12-04 with the PyPI package milvus 2.3.5, the newest embedded server there).
NEEDED = (2, 5)
MAX_TEXT = 65535  # bytes, the longest VARCHAR Milvus stores (the longest unit here: 33 kB of tokens)


def connect(uri: str):
    """A client of the Milvus at `uri` (a .db file for milvus-lite, or http://host:port);
    IndexUnavailable naming the address when it cannot be reached or started."""
    from pymilvus import MilvusClient  # only this backend needs pymilvus (and its gRPC start-up)

    if uri.endswith(".db"):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    elif not re.match(r"^(https?|tcp|grpcs?)://", uri):
        raise IndexUnavailable(f"FARUN_MILVUS_URI {uri!r} 无效：请写 milvus-lite 文件（…/milvus.db）或服务器地址（http://host:19530）")
    try:
        client = MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT)
        version = "" if uri.endswith(".db") else client.get_server_version()
    except Exception as exc:  # pymilvus raises MilvusException, gRPC and OS errors alike
        raise IndexUnavailable(f"无法连接 Milvus（{uri}）：{exc}。请检查 FARUN_MILVUS_URI 与 Milvus 服务") from exc
    if too_old(version):
        raise IndexUnavailable(
            f"Milvus 服务器（{uri}）的版本是 {version}，法润的 Milvus 后端需要 Milvus {NEEDED[0]}.{NEEDED[1]} 或更新"
            f"（BM25 全文检索函数与稀疏向量索引）：请升级 Milvus。/ The Milvus server at {uri} is {version}; "
            f"FaRun's Milvus backend needs Milvus {NEEDED[0]}.{NEEDED[1]} or newer (the BM25 function).")
    return client


def too_old(version: str) -> bool:
    """Whether a server's version (get_server_version: "v2.3.5-lite", "v2.5.4") predates `NEEDED`;
    a text without a version number is not refused (the server's own error then says more)."""
    m = re.search(r"(\d+)\.(\d+)", version or "")
    return bool(m) and (int(m.group(1)), int(m.group(2))) < NEEDED


def collection_name(folder: Path) -> str:
    """The collection of a build folder (builds/20261203-140501-ab12 → farun_20261203_140501_ab12)."""
    return PREFIX + re.sub(r"\W", "_", folder.name)


@lru_cache(maxsize=1)
def _plain_jieba() -> jieba.Tokenizer:
    """jieba with its own dictionary only: milvus-lite, running in this process, teaches the
    shared default instance each collection's words, which a server's jieba would not know."""
    tk = jieba.Tokenizer()
    tk.initialize()
    return tk


def taught_words(vocabulary: set[str]) -> list[str]:
    """The tokens jieba alone would cut into parts: the analyzer is taught them to keep them whole.
    "_default_" keeps Milvus's own dictionary as well (a server's jieba replaces it otherwise)."""
    return ["_default_"] + sorted(w for w in vocabulary if len(w) > 1 and _plain_jieba().lcut(w, HMM=True) != [w])


def publish(client, name: str, ids: list[int], tokens: list[str], vectors: np.ndarray) -> None:
    """Create collection `name` holding these units (ids, space-joined BM25 tokens, vectors) and load it."""
    from pymilvus import DataType, Function, FunctionType

    vocabulary = {t for text in tokens for t in text.split()}
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                     analyzer_params={"tokenizer": {"type": "jieba", "mode": "exact", "hmm": True,
                                                    "dict": taught_words(vocabulary)}})
    schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["bm25"]))
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="IP")  # exact, as FAISS's flat index
    # BM25's parameters as one JSON "params" entry: pymilvus flattens a plain dict into separate
    # entries, which milvus-lite ignores (k1 stayed 1.5); a server reads both forms
    index.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"params": {"bm25_k1": K1, "bm25_b": B}})
    if client.has_collection(name):  # left by a build that failed after creating it
        client.drop_collection(name)
    client.create_collection(name, schema=schema, index_params=index)
    for start in range(0, len(ids), INSERT_BATCH):
        end = start + INSERT_BATCH
        # a unit without tokens counts one, as in bm25s (bot.index.sparse), for the same mean length
        client.insert(name, [{"id": int(i), "vector": v.tolist(), "text": _fit(t or "∅")}
                             for i, t, v in zip(ids[start:end], tokens[start:end], vectors[start:end])])
    client.flush(name)
    client.load_collection(name)


def _fit(text: str) -> str:
    """The text cut to what a VARCHAR holds, at a character boundary."""
    return text.encode()[:MAX_TEXT].decode(errors="ignore")


def switch(client, name: str) -> None:
    """Point the alias at collection `name`, then drop the builds' collections older than the one it replaced."""
    ours = [c for c in client.list_collections() if c.startswith(PREFIX)]
    replaced = next((c for c in ours if ALIAS in client.list_aliases(c).get("aliases", [])), "")
    if not replaced:
        client.create_alias(name, ALIAS)
    elif replaced != name:
        client.alter_alias(name, ALIAS)
    for old in ours:
        if old not in (name, replaced):
            client.drop_collection(old)


class Collection:
    """One build's collection, searched by id lists, BM25 over tokens, and vectors."""

    def __init__(self, client, name: str):
        if not client.has_collection(name):
            raise IndexUnavailable(f"Milvus 中没有集合 {name}：请运行 python -m bot build 重建索引")
        self.client, self.name = client, name
        client.load_collection(name)

    def bm25(self, tokens: list[str], n: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores) of the n best units, among `ids` when given."""
        hits = self._search([" ".join(tokens)], "bm25", n, ids)[0]
        # milvus-lite gives a BM25 score as a negative distance (smaller is better), a server as the
        # score; Milvus's BM25 has the (k1 + 1) factor of Robertson's form, which bm25s's (Lucene's)
        # leaves out: divided by it, the score is the in-process one that the reranker reads raw
        return hits[0], np.abs(hits[1]) / (K1 + 1)

    def dense(self, vectors: list[np.ndarray], n: int, ids: np.ndarray | None = None) -> list[np.ndarray]:
        """Ids of the n nearest units to each vector (inner product), among `ids` when given."""
        return [found for found, _ in self._search([v.astype(np.float32).tolist() for v in vectors], "vector", n, ids)]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these units, in the order given."""
        if not len(ids):
            return np.zeros((0, 0), np.float32)
        rows = self.client.get(self.name, ids=[int(i) for i in ids], output_fields=["vector"])
        by_id = {r["id"]: r["vector"] for r in rows}
        return np.array([by_id[int(i)] for i in ids], dtype=np.float32)

    def _search(self, data: list, field: str, n: int, ids: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        if n <= 0 or (ids is not None and not len(ids)):
            return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in data]
        where = f"id in [{','.join(str(int(i)) for i in ids)}]" if ids is not None else ""
        found = self.client.search(self.name, data=data, anns_field=field, limit=n, filter=where, output_fields=[])
        return [(np.array([h["id"] for h in hits], dtype=np.int64),
                 np.array([h["distance"] for h in hits], dtype=np.float32)) for hits in found]
