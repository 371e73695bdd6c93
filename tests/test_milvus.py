"""The Milvus backend (FARUN_INDEX_BACKEND=milvus) on milvus-lite: build, the same results as
the in-process backend, filters, incremental update and the alias switch, and clear errors."""
from __future__ import annotations

import dataclasses
import socket

import pytest

pytest.importorskip("pymilvus", reason="pymilvus is not installed (requirements-dev.txt)")

from bot.index import layout, milvus  # noqa: E402
from bot.index.builder import build, update  # noqa: E402
from bot.retrieval.search import Filters, KnowledgeBase  # noqa: E402
from bot.sources import markdown  # noqa: E402

QUESTIONS = ["公司不签劳动合同怎么办", "房东不退押金", "被公司辞退有没有经济补偿", "商标被人抢注了怎么办",
             "离婚时财产怎么分", "借钱不还可以起诉吗"]


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    """Skips the module where milvus-lite cannot start here."""
    try:
        milvus.connect(str(tmp_path_factory.mktemp("probe") / "milvus.db"))
    except layout.IndexUnavailable as exc:
        pytest.skip(f"milvus-lite cannot start: {exc}")


@pytest.fixture(scope="module")
def milvus_kb(lite, built_index, tmp_path_factory, embedder):
    """The fixture corpus of `built_index`, built again with the Milvus backend."""
    settings = dataclasses.replace(built_index[0], index_dir=tmp_path_factory.mktemp("milvus-index"), index_backend="milvus")
    build(settings, progress=False, embedder=embedder)
    return KnowledgeBase.open(settings, embedder=embedder)


def ranking(kb, question: str, filters: Filters | None = None) -> list[str]:
    return [h.unit.uid for h in kb.search(question, k=10, filters=filters)]


def test_build_loads_a_collection_named_by_the_manifest(milvus_kb):
    m = milvus_kb.manifest
    client = milvus_kb.backend.collection.client
    assert m.collection == milvus.collection_name(milvus_kb.folder)
    assert client.describe_alias(milvus.ALIAS)["collection_name"] == m.collection
    assert client.get_collection_stats(m.collection)["row_count"] == m.units == milvus_kb.store.count()


@pytest.mark.parametrize("question", QUESTIONS)
def test_same_results_as_in_process(milvus_kb, kb, question):
    assert ranking(milvus_kb, question) == ranking(kb, question)
    ours, theirs = milvus_kb.search(question, k=5), kb.search(question, k=5)
    assert [h.parts["bm25"] for h in ours] == pytest.approx([h.parts["bm25"] for h in theirs], rel=5e-3)
