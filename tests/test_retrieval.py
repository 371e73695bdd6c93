"""Search over the fixture index: exact citations, hybrid ranking, filters, fusion, hostile input, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bot import cli
from bot.lawnames import norm_title
from bot.retrieval import fusion
from bot.retrieval.citations import AliasTable, CitedArticle, find_citations
from bot.retrieval.search import Filters, Hit, QueryError, SearchConfig
from bot.units import CURRENT, PENDING, REPEALED, SUPERSEDED

LABOUR = "中华人民共和国劳动合同法"


# ---- exact citations ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "question, law, article",
    [
        ("民法典第1079条", "中华人民共和国民法典", "第一千零七十九条"),
        ("民法典第一千零七十九条", "中华人民共和国民法典", "第一千零七十九条"),
        ("《劳动合同法》第八十二条", LABOUR, "第八十二条"),
        ("劳动合同法第82条", LABOUR, "第八十二条"),
        ("《中华人民共和国劳动合同法》第八十二条规定了什么？", LABOUR, "第八十二条"),
        ("请问劳动合同法第８２条怎么理解", LABOUR, "第八十二条"),  # full-width digits
        ("刑法第一百三十三条之一", "中华人民共和国刑法", "第一百三十三条之一"),
        ("最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释第一条",
         "最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释", "第一条"),
    ],
)
def test_exact_citation_ranks_first(kb, question, law, article):
    hits = kb.search(question)
    assert hits[0].exact
    assert (hits[0].unit.law, hits[0].unit.article) == (law, article)
    assert hits[0].unit.status == CURRENT


def test_bare_article_takes_law_from_context(kb):
    hits = kb.search("第一千零七十九条", context="我想了解民法典关于离婚的规定")
    assert (hits[0].unit.law, hits[0].unit.article, hits[0].exact) == ("中华人民共和国民法典", "第一千零七十九条", True)
    assert not kb.search("第一千零七十九条")[0].exact  # no law named anywhere: no exact hit


def test_two_citations_in_one_question(kb):
    hits = kb.search("民法典第1079条和劳动合同法第82条有什么关系")
    assert [(h.unit.article, h.exact) for h in hits[:2]] == [("第一千零七十九条", True), ("第八十二条", True)]


def test_article_lookup_current_version_by_default(kb):
    [hit] = kb.article("商标法", "10")
    assert hit.unit.published == "2019-04-23"
    assert hit.unit.status == CURRENT
    both = kb.article("商标法", "10", Filters(status=["all"]))
    assert sorted((h.unit.published, h.unit.status) for h in both) == [("2019-04-23", CURRENT), ("2026-06-26", PENDING)]
    pending = kb.article("商标法", "第十条", Filters(status=[PENDING]))
    assert [h.unit.published for h in pending] == ["2026-06-26"]


@pytest.mark.parametrize("law, number", [("刑法", "133之一"), ("中华人民共和国刑法", "第一百三十三条之一"),
                                         ("《刑法》", "一百三十三之一")])
def test_article_lookup_sub_article(kb, law, number):
    [hit] = kb.article(law, number)
    assert hit.unit.article == "第一百三十三条之一"
    [plain] = kb.article(law, "133")
    assert plain.unit.article == "第一百三十三条"


@pytest.mark.parametrize("law, number", [("民法典", 1079), ("民法典", "一千零七十九"), ("民法典", "第1079条")])
def test_article_lookup_number_forms(kb, law, number):
    assert [h.unit.article for h in kb.article(law, number)] == ["第一千零七十九条"]


@pytest.mark.parametrize("law, number", [("民法典", "5000"), ("不存在的法", "1"), ("民法典", "abc"), ("", "1")])
def test_article_lookup_misses(kb, law, number):
    assert kb.article(law, number) == []


def test_repealed_law_article_needs_status_filter(kb):
    assert kb.article("环境保护法", 1) == []
    [hit] = kb.article("环境保护法", 1, Filters(status=[REPEALED]))
    assert hit.unit.status == REPEALED


HUGE = "99999999999999999999"  # > 2**63: SQLite cannot bind it (OverflowError)


def test_huge_article_number_lookup_does_not_crash(kb):
    assert kb.article("民法典", HUGE) == []


def test_huge_article_number_in_question_does_not_crash(kb):
    hits = kb.search(f"民法典第{HUGE}条")
    assert all(not h.exact for h in hits)


# ---- hybrid search ------------------------------------------------------------------------

def test_colloquial_question_finds_labour_law(kb):
    hits = kb.search("老板不跟我签劳动合同怎么办", k=5)
    assert LABOUR in {h.unit.law for h in hits}
    assert not any(h.exact for h in hits)


@pytest.mark.parametrize("method", ["rrf", "weighted"])
def test_both_fusion_methods_work(kb, method):
    hits = kb.search("用人单位未订立书面劳动合同支付二倍工资", k=5, config=SearchConfig(method=method))
    assert len(hits) == 5
    assert hits[0].unit.law == LABOUR
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("methods", [("bm25",), ("dense",), ("exact",)])
def test_single_methods(kb, methods):
    hits = kb.search("劳动合同法第82条", k=5, methods=methods)
    if methods == ("exact",):
        assert [h.unit.article for h in hits] == ["第八十二条"]
    else:
        assert hits and all(not h.exact for h in hits) and all(methods[0] in h.parts for h in hits)


def test_filter_by_level(kb):
    hits = kb.search("保证人承担保证责任", k=10, filters=Filters(level=["司法解释"]))
    assert hits and {h.unit.level for h in hits} == {"司法解释"}
    hits = kb.search("工资支付", k=10, filters=Filters(level=["行政法规"]))
    assert hits and {h.unit.law for h in hits} == {"保障农民工工资支付条例"}


def test_filter_by_law_name_or_alias(kb):
    for name in ("劳动合同法", "中华人民共和国劳动合同法", "《劳动合同法》"):
        hits = kb.search("赔偿", k=10, filters=Filters(law=[name]))
        assert hits and {h.unit.law for h in hits} == {LABOUR}, name


def test_filter_excludes_exact_hits_too(kb):
    hits = kb.search("民法典第1079条", filters=Filters(law=["劳动合同法"]))
    assert all(h.unit.law == LABOUR and not h.exact for h in hits)


def test_filter_by_region(kb):
    hits = kb.search("供热", k=5, filters=Filters(region=["山东省"]))
    assert hits and {h.unit.region for h in hits} == {"山东省"}


def test_filter_by_status(kb):
    hits = kb.search("担保 保证", k=10, filters=Filters(status=[REPEALED]))
    assert hits and {h.unit.status for h in hits} == {REPEALED}
    laws = {h.unit.law for h in hits}
    assert laws <= {"最高人民法院关于适用《中华人民共和国担保法》若干问题的解释", "中华人民共和国环境保护法"}


def test_nothing_allowed_gives_empty(kb):
    assert kb.search("劳动合同", filters=Filters(level=["宪法"])) == []


@pytest.mark.parametrize("question", ["保证人的追偿权", "担保法 保证期间", "环境保护 污染 治理", "商标注册申请",
                                      "危险驾驶 醉酒", "民法典第1079条"])
def test_default_results_are_in_force_only(kb, question):
    hits = kb.search(question, k=20)
    assert hits
    assert {h.unit.status for h in hits} == {CURRENT}
    assert not {REPEALED, SUPERSEDED, PENDING} & {h.unit.status for h in hits}


def test_all_statuses_are_reachable_with_filter(kb):
    hits = kb.search("商标 注册 申请", k=40, filters=Filters(status=["all"]))
    assert {CURRENT, PENDING} <= {h.unit.status for h in hits}


@pytest.mark.parametrize("question", ["劳动合同法第82条", "老板不跟我签劳动合同怎么办", "商标", "担保"])
def test_results_are_deduplicated(kb, question):
    hits = kb.search(question, k=20, filters=Filters(status=["all"]))
    ids = [h.id for h in hits]
    assert len(ids) == len(set(ids))
    keys = [(norm_title(h.unit.law), h.unit.article, h.unit.text) for h in hits]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("k", [1, 3, 50])
def test_k_is_respected(kb, k):
    assert len(kb.search("劳动合同", k=k)) == k


def test_neighbours(kb):
    [hit] = kb.article("劳动合同法", 82)
    around = kb.neighbours(hit.unit.uid, before=1, after=1)
    assert [u.article for u in around] == ["第八十一条", "第八十二条", "第八十三条"]
    assert kb.neighbours("no-such-unit") == []


def test_hit_to_json(kb):
    data = kb.search("民法典第1079条")[0].to_json()
    assert {"unit_id", "law", "article", "level", "status", "score", "text"} <= set(data)
    assert data["citation"] == "《中华人民共和国民法典》第一千零七十九条"
    assert data["exact"] is True
    json.dumps(data, ensure_ascii=False)  # plain JSON types only
    assert isinstance(data["score"], float)


# ---- citations and fusion as units ---------------------------------------------------------

def test_find_citations_longest_alias_wins():
    aliases = AliasTable({"合同法": "合同法", "劳动合同法": "劳动合同法", "民法典": "民法典"})
    assert find_citations("劳动合同法第十条", aliases) == [CitedArticle("劳动合同法", 10)]
    assert find_citations("合同法第十条", aliases) == [CitedArticle("合同法", 10)]
    assert find_citations("第十条之一", aliases, context="民法典") == [CitedArticle("民法典", 10, 1)]
    assert find_citations("第十条", aliases) == []


def test_rrf_toy():
    fused = fusion.rrf({"bm25": np.array([1, 2, 3]), "dense": np.array([3, 1])}, {"bm25": 1.0, "dense": 1.0}, k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert sorted(fused, key=fused.get, reverse=True) == [1, 3, 2]
    weighted = fusion.rrf({"bm25": np.array([1, 2]), "dense": np.array([2, 1])}, {"bm25": 2.0, "dense": 1.0}, k=0)
    assert weighted[1] == pytest.approx(2 / 1 + 1 / 2) and weighted[2] == pytest.approx(2 / 2 + 1 / 1)
    assert fusion.rrf({}, {}) == {}


def test_weighted_toy():
    fused = fusion.weighted({"bm25": {1: 10.0, 2: 5.0, 3: 0.0}, "dense": {2: 0.9, 3: 0.5}}, {"bm25": 1.0, "dense": 0.5})
    assert fused[1] == pytest.approx(1.0)
    assert fused[2] == pytest.approx(0.5 + 0.5)
    assert fused[3] == pytest.approx(0.0)
    # a single candidate or equal scores: no division by zero
    assert fusion.weighted({"bm25": {7: 3.0}}, {}) == {7: 0.0}
    assert fusion.weighted({"bm25": {}, "dense": {1: 0.2, 2: 0.2}}, {}) == {1: 0.0, 2: 0.0}


# ---- hostile and odd input ------------------------------------------------------------------

@pytest.mark.parametrize("question", ["", "   ", "？？？", "\n\t", "。，！", "\u200b\u202e"])
def test_empty_questions_raise_query_error(kb, question):
    with pytest.raises(QueryError):
        kb.search(question)


@pytest.mark.parametrize(
    "question",
    [
        "劳动合同" * 25_000,  # 100k characters
        "加班费😀怎么算🤔",
        "劳动\x00合同\x07试用期\x1b[31m",
        "\u202e同合动劳\u202c 试用期 \u2067مرحبا\u2069",
        "<script>alert('劳动合同')</script>",
        "'; DROP TABLE units; -- 劳动合同",
        "\" OR 1=1 --",
        "%_*?[](){}\\ 工资",
        "第一条",
        "第0条",
        "ＡＢＣ１２３",
        "民法典第一千零七十九条之" * 100,
    ],
    ids=["100k-chars", "emoji", "control-chars", "bidi-marks", "script-tag", "sql-drop", "sql-or", "wildcards",
         "bare-article", "article-zero", "fullwidth-latin", "repeated-citation"],
)
def test_odd_questions_do_not_crash(kb, question):
    hits = kb.search(question, k=5)
    assert isinstance(hits, list) and len(hits) <= 5
    assert all(isinstance(h, Hit) for h in hits)


@pytest.mark.parametrize("question", ["😀😀😀", "%_*?[](){}\\", "\u202e\u2066"])
def test_symbol_only_question_is_rejected_or_answered(kb, question):
    try:
        assert isinstance(kb.search(question), list)
    except QueryError as exc:
        assert str(exc)  # a message for the user, not a crash


def test_hostile_filters_do_not_crash(kb):
    f = Filters(law=["'; DROP TABLE units; --"], level=["<script>"], region=["\x00"], source=["%"])
    assert kb.search("劳动合同", filters=f) == []
    assert kb.article("'; DROP TABLE units; --", "1") == []
    assert kb.store.count() > 0


# ---- CLI ------------------------------------------------------------------------------------

@pytest.fixture()
def cli_env(built_index, usem3, monkeypatch):
    """Arguments pointing the CLI at the fixture index. The CLI loads its model by name; hand it
    the session's usem3 instead of loading it again for every command."""
    from bot.retrieval import search

    settings, _ = built_index
    real = search.load_embeddings
    monkeypatch.setattr(search, "load_embeddings", lambda name, threads=2: usem3 if name == "usem3" else real(name, threads))
    monkeypatch.setenv("FARUN_TODAY", "2026-11-29")
    for var in ("FARUN_CONFIG", "FARUN_EMBEDDING", "FARUN_INDEX_DIR"):
        monkeypatch.delenv(var, raising=False)
    return ["--index-dir", str(settings.index_dir)]


def test_cli_search_json(cli_env, capsys):
    assert cli.main([*cli_env, "search", "民法典第1079条", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out and {"unit_id", "law", "article", "level", "status", "score", "text"} <= set(out[0])
    assert (out[0]["law"], out[0]["article"]) == ("中华人民共和国民法典", "第一千零七十九条")


def test_cli_search_text_and_filters(cli_env, capsys):
    assert cli.main([*cli_env, "search", "供热", "--k", "2", "--region", "山东省"]) == 0
    out = capsys.readouterr().out
    assert "山东省供热条例" in out and out.startswith("1. ")


def test_cli_article(cli_env, capsys):
    assert cli.main([*cli_env, "article", "劳动合同法", "82"]) == 0
    assert "二倍的工资" in capsys.readouterr().out
    assert cli.main([*cli_env, "article", "商标法", "10", "--status", "all", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_cli_article_missing(cli_env, capsys):
    assert cli.main([*cli_env, "article", "劳动合同法", "999"]) == 1
    assert "没有" in capsys.readouterr().err
    assert cli.main([*cli_env, "article", "劳动合同法", "999", "--json"]) == 1


def test_cli_errors_are_messages(cli_env, capsys, tmp_path):
    assert cli.main([*cli_env, "search", "？？？"]) == 2
    assert "错误" in capsys.readouterr().err
    assert cli.main(["--index-dir", str(tmp_path / "none"), "search", "劳动合同"]) == 2
    assert "python -m bot build" in capsys.readouterr().err


def test_cli_stats(cli_env, capsys):
    assert cli.main([*cli_env, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["embedding"] == "usem3" and stats["units"] > 0


def test_cli_eval(cli_env, capsys, tmp_path):
    data = [
        {"问题": "老板不跟我签劳动合同，能要求两倍工资吗？", "相关法规": {"中华人民共和国劳动合同法第八十二条": "…"}},
        {"问题": "协议离婚需要什么条件？", "相关法规": {"中华人民共和国民法典第一千零七十六条": "…",
                                             "中华人民共和国民法典第一千零七十九条": "…"}},
        {"问题": "醉驾怎么处罚？", "相关法规": {"中华人民共和国刑法第一百三十三条之一": "…"}},
    ]
    path = tmp_path / "lecoqa.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert cli.main([*cli_env, "eval", "--data", str(path), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert {"bm25", "dense", "pipeline"} <= {r["method"] for r in rows}
    keys = {"method", "queries", "coverage", "recall@1", "recall@5", "recall@10", "recall@20", "mrr", "p50_ms", "p95_ms"}
    for r in rows:
        assert keys <= set(r)
        assert r["queries"] == 3
        assert r["coverage"] == 1.0  # every gold article is in the fixture index
        assert all(0.0 <= r[f"recall@{n}"] <= 1.0 for n in (1, 5, 10, 20))
        assert r["recall@1"] <= r["recall@5"] <= r["recall@10"] <= r["recall@20"]
        assert 0.0 <= r["mrr"] <= 1.0 and 0 <= r["p50_ms"] <= r["p95_ms"]
    pipeline = next(r for r in rows if r["method"] == "pipeline")
    assert pipeline["recall@20"] > 0


def test_langchain_retriever_returns_documents_with_citation_metadata(kb):
    from langchain_core.documents import Document

    from bot.retrieval.retriever import LegalRetriever

    docs = LegalRetriever(kb=kb, k=3).invoke("民法典第1079条")
    assert docs and all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["article"] == "第一千零七十九条" and docs[0].metadata["status"] == "现行有效"
    assert "离婚" in docs[0].page_content and "text" not in docs[0].metadata
    filtered = LegalRetriever(kb=kb, k=5).invoke("劳动合同", filters=Filters(law=["劳动合同法"]))
    assert filtered and {d.metadata["law"] for d in filtered} == {"中华人民共和国劳动合同法"}
