"""Learned query map: a linear map on question embeddings, toward the articles that answer them.

A lay question's embedding lands among texts that sound like it (other stories, other
complaints), while the article that answers it is written in the statute's register. A d×d
map fitted on training questions and their gold articles (a softmax over every current article,
kept near the identity by an L2 penalty; an "embedding adapter") moves the question's vector
toward the articles such questions needed. Only the query is mapped, so the index and its build
are unchanged and a search costs one small matrix product more.

A map is only valid for the embedding model it was fitted on; it ships inside the reranker's
file (`rerank.Reranker`), which records that model's name.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

L2 = 0.01  # pull toward the identity: the map corrects the model, it does not replace it
TEMPERATURE = 0.03
EPOCHS = 6
BATCH = 64
LEARNING_RATE = 1e-3


@dataclass
class QueryMap:
    embedding: str  # the model the map was fitted on (`Embeddings.name`)
    matrix: np.ndarray  # d×d, float32

    def apply(self, vector: np.ndarray) -> np.ndarray:
        mapped = vector @ self.matrix
        return (mapped / max(float(np.linalg.norm(mapped)), 1e-12)).astype(np.float32)

    def to_json(self) -> dict:
        """float16, base64: half a megabyte for 512 dimensions instead of several as decimals."""
        return {"embedding": self.embedding, "dim": int(self.matrix.shape[0]),
                "float16": base64.b64encode(self.matrix.astype("<f2").tobytes()).decode("ascii")}

    @classmethod
    def from_json(cls, data: dict) -> "QueryMap":
        d = int(data["dim"])
        raw = np.frombuffer(base64.b64decode(data["float16"]), dtype="<f2")
        return cls(data["embedding"], raw.reshape(d, d).astype(np.float32))


def fit(embedding: str, queries: np.ndarray, gold: list[list[int]], articles: np.ndarray, seed: int = 0) -> QueryMap:
    """queries: unit question vectors; gold: per question, the rows of `articles` (unit article
    vectors) that answer it. Mean cross-entropy of each gold row under a softmax over all
    articles, minimised with Adam from the identity."""
    import torch  # torch comes with sentence-transformers; only training needs it

    torch.manual_seed(seed)
    keep = [i for i, g in enumerate(gold) if g]
    q = torch.from_numpy(np.ascontiguousarray(queries[keep], dtype=np.float32))
    a = torch.from_numpy(np.ascontiguousarray(articles, dtype=np.float32))
    targets = [torch.tensor(gold[i]) for i in keep]
    d = q.shape[1]
    identity = torch.eye(d)
    w = identity.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=LEARNING_RATE)
    rng = np.random.default_rng(seed)
    for _ in range(EPOCHS):
        order = rng.permutation(len(keep))
        for start in range(0, len(keep), BATCH):
            idx = order[start:start + BATCH]
            logp = torch.log_softmax((q[idx] @ w) @ a.T / TEMPERATURE, dim=1)
            loss = -torch.stack([logp[j, targets[i]].mean() for j, i in enumerate(idx)]).mean()
            loss = loss + L2 * ((w - identity) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return QueryMap(embedding, w.detach().numpy().astype(np.float32))
