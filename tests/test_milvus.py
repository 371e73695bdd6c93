"""The Milvus backend (FARUN_INDEX_BACKEND=milvus) on milvus-lite: build, the same results as
the in-process backend, filters, incremental update and the alias switch, and clear errors."""
from __future__ import annotations

import dataclasses
import socket

import pytest

pytest.importorskip("pymilvus", reason="pymilvus is not installed (requirements.txt)")

from bot.index import layout, milvus  # noqa: E402
from bot.index.builder import build, update  # noqa: E402
from bot.retrieval.search import Filters, KnowledgeBase  # noqa: E402

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
    settings = dataclasses.replace(built_index[0], index_dir=tmp_path_factory.mktemp("milvus-index"),
                                   index_backend="milvus")
    build(settings, progress=False, embedder=embedder)
    return KnowledgeBase.open(settings, embedder=embedder)


@pytest.fixture(scope="module")
def in_process_kb(milvus_kb, embedder):
    """The same build folder as `milvus_kb`, searched in-process: the same tokens and vectors, so
    any difference is the backend's (a fixture built earlier in the run may have been tokenized
    before other tests taught the tokenizer more law names)."""
    settings = dataclasses.replace(milvus_kb.settings, index_backend="faiss")
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
def test_same_results_as_in_process(milvus_kb, in_process_kb, question):
    assert ranking(milvus_kb, question) == ranking(in_process_kb, question)
    ours, theirs = milvus_kb.search(question, k=5), in_process_kb.search(question, k=5)
    assert [h.parts["bm25"] for h in ours] == pytest.approx([h.parts["bm25"] for h in theirs], rel=5e-3)


@pytest.mark.parametrize("question, filters", [
    ("保证人承担保证责任", Filters(level=["司法解释"])),
    ("工资支付", Filters(level=["行政法规"])),
    ("赔偿", Filters(law=["劳动合同法"])),
    ("供热", Filters(region=["山东省"])),
    ("担保 保证", Filters(status=["已废止"])),
    ("保证期间", Filters(status=["all"])),
    ("劳动合同", Filters(level=["宪法"])),
])
def test_filters_as_in_process(milvus_kb, in_process_kb, question, filters):
    """Narrow masks go to Milvus as id lists, broad ones filter an over-fetch: both as FAISS."""
    assert ranking(milvus_kb, question, filters) == ranking(in_process_kb, question, filters)


def test_another_day_filters_by_that_days_status(milvus_kb, in_process_kb):
    """Statuses are the day's (the catalog's mask), never those stored at build time."""
    day = "2020-01-01"
    assert ranking(milvus_kb.on(day), "保证期间") == ranking(in_process_kb.on(day), "保证期间")


def test_update_swaps_in_a_new_collection(lite, small_settings, embedder, courier_law):
    settings = dataclasses.replace(small_settings, index_backend="milvus")
    build(settings, progress=False, embedder=embedder)
    first = KnowledgeBase.open(settings, embedder=embedder)
    client = first.backend.collection.client
    query = "快递员派送超时被罚款怎么办"
    assert all(h.unit.law != "快递从业人员权益保障条例" for h in first.search(query))

    new = courier_law
    m = update(settings, add=new, embedder=embedder)
    second = KnowledgeBase.open(settings, embedder=embedder)
    assert m.collection != first.manifest.collection
    assert client.describe_alias(milvus.ALIAS)["collection_name"] == m.collection
    assert second.search(query, k=3)[0].unit.law == "快递从业人员权益保障条例"
    # the replaced collection stays for workers that still serve it, and still answers as before
    assert first.search(query)[0].unit.law != "快递从业人员权益保障条例"

    update(settings, remove_docs=[new[0].doc_id], embedder=embedder)
    third = KnowledgeBase.open(settings, embedder=embedder)
    assert set(client.list_collections()) == {m.collection, third.manifest.collection}  # the first one dropped
    assert all(h.unit.law != "快递从业人员权益保障条例" for h in third.search(query, k=20, filters=Filters(status=["all"])))
    assert client.get_collection_stats(third.manifest.collection)["row_count"] == first.manifest.units


def test_in_process_index_opened_with_milvus_says_to_rebuild(built_index, embedder):
    settings = dataclasses.replace(built_index[0], index_backend="milvus")
    with pytest.raises(layout.IndexUnavailable, match="python -m bot build"):
        KnowledgeBase.open(settings, embedder=embedder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("uri", ["milvus.example:19530", "http://127.0.0.1:{port}"])
def test_bad_uri_is_a_clear_error(small_settings, embedder, monkeypatch, uri):
    monkeypatch.setattr(milvus, "CONNECT_TIMEOUT", 1.0)
    settings = dataclasses.replace(small_settings, index_backend="milvus", milvus_uri=uri.format(port=_free_port()))
    with pytest.raises(layout.IndexUnavailable, match="FARUN_MILVUS_URI"):
        build(settings, progress=False, embedder=embedder)
    assert not (settings.index_dir / "current").exists()  # nothing swapped in


class _OldServer:
    """A Milvus 2.3 server as pymilvus sees it (the PyPI package milvus 2.3.5 answers "v2.3.5-lite")."""

    def __init__(self, uri, timeout=None):
        self.uri = uri

    def get_server_version(self):
        return "v2.3.5-lite"


def test_a_server_older_than_2_5_is_refused_by_name(small_settings, embedder, monkeypatch):
    """Milvus before 2.5 has no BM25 function: a build there failed with a gRPC stack trace
    ("create index on 104 field is not supported"); now the server's version is checked on connect."""
    monkeypatch.setattr("pymilvus.MilvusClient", _OldServer)
    settings = dataclasses.replace(small_settings, index_backend="milvus", milvus_uri="http://127.0.0.1:19530")
    with pytest.raises(layout.IndexUnavailable, match=r"v2\.3\.5-lite.*Milvus 2\.5 或更新.*needs Milvus 2\.5 or newer"):
        milvus.connect(settings.milvus_target)
    with pytest.raises(layout.IndexUnavailable, match="v2.3.5-lite"):
        build(settings, progress=False, embedder=embedder)
    assert not (settings.index_dir / "current").exists()


@pytest.mark.parametrize("version, refused", [("v2.3.5-lite", True), ("v2.4.17", True), ("v2.5.4", False),
                                              ("v2.6.0", False), ("3.0.0", False), ("", False), ("unknown", False)])
def test_versions_before_2_5_are_too_old(version, refused):
    assert milvus.too_old(version) is refused


def test_unknown_backend_is_refused():
    from bot.config import Settings

    with pytest.raises(ValueError, match="FARUN_INDEX_BACKEND"):
        Settings.load({"FARUN_INDEX_BACKEND": "elastic"})
