"""`as_of` per request: the knowledge base read on another day (`KnowledgeBase.on`), through the
library, /api/search and /api/article, and the CLI. The fixture index (built 2026-11-29) holds
both 商标法 versions: the 2019 text in force until 2027-01-01, the 2026 one from then."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from bot.retrieval.search import Filters
from bot.units import CURRENT, PENDING, REPEALED, SUPERSEDED

ALL = Filters(status=["all"])


def _versions(kb, day, law="商标法", number="10"):
    return sorted((h.unit.published, h.unit.status) for h in kb.on(day).article(law, number, ALL))


@pytest.mark.parametrize("day, in_force, others", [
    ("2026-12-02", "2019-04-23", [("2026-06-26", PENDING)]),
    ("2026-12-31", "2019-04-23", [("2026-06-26", PENDING)]),
    ("2027-01-01", "2026-06-26", [("2019-04-23", SUPERSEDED)]),
    ("2030-05-01", "2026-06-26", [("2019-04-23", SUPERSEDED)]),
    ("2025-06-01", "2019-04-23", []),  # before the index was built: the 2026 text did not exist yet
])
def test_trademark_law_both_sides_of_2027(kb, day, in_force, others):
    [hit] = kb.on(day).article("商标法", "10")  # the default filter: in force that day
    assert (hit.unit.published, hit.unit.status) == (in_force, CURRENT)
    assert _versions(kb, day) == sorted([(in_force, CURRENT), *others])


def test_the_day_view_explains_what_changed(kb):
    [old] = [h.unit for h in kb.on("2027-01-01").article("商标法", "10", ALL) if h.unit.published == "2019-04-23"]
    assert old.status == SUPERSEDED and old.valid_to == "2027-01-01" and "2027-01-01" in old.status_note
    [new] = kb.on("2027-01-01").article("商标法", "10")
    assert new.unit.status_note == "自2027-01-01起施行"


def test_own_day_is_the_knowledge_base_itself(kb):
    assert kb.on(None) is kb and kb.on(kb.as_of) is kb and kb.on(kb.as_of.isoformat()) is kb
    assert kb.on("2027-01-01") is kb.on(date(2027, 1, 1))  # views are kept
    assert kb.on("2027-01-01").as_of == date(2027, 1, 1)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        kb.on("2027-13-01")


def test_repealed_interpretation_was_in_force_before_its_repeal(kb):
    """The 担保法 interpretation (repealed 2021-01-01) is current in 2020 and its successor, the
    民法典 担保制度 interpretation, published 2020-12-31, is not there yet."""
    before = kb.on("2020-06-01")
    hits = before.search("担保法 保证期间", k=5)
    assert hits and {h.unit.status for h in hits} == {CURRENT}
    assert any("担保法》若干问题的解释" in h.unit.law for h in hits)
    assert not any("民法典》有关担保制度" in h.unit.law for h in before.search("担保制度 保证期间", k=10, filters=ALL))
    old = Filters(status=["all"], law=["最高人民法院关于适用《中华人民共和国担保法》若干问题的解释"])
    assert {h.unit.status for h in kb.on("2020-12-31").search("保证期间", k=5, filters=old)} == {CURRENT}
    assert {h.unit.status for h in kb.on("2021-01-01").search("保证期间", k=5, filters=old)} == {REPEALED}


def test_search_filters_by_the_day(kb):
    laws = Filters(law=["商标法"])
    assert {h.unit.published for h in kb.on("2026-12-02").search("商标 注册 申请", k=10, filters=laws)} == {"2019-04-23"}
    assert {h.unit.published for h in kb.on("2027-01-02").search("商标 注册 申请", k=10, filters=laws)} == {"2026-06-26"}


def test_timeline_reproduces_the_stored_statuses(kb):
    """Resolving the versions again on the build day gives what the build stored, for every document."""
    from bot.validity import Timeline

    stored = kb.store.stored_validity()
    built = date.fromisoformat(kb.manifest.as_of)
    again = Timeline(stored).on(built, built + timedelta(days=1))  # as if built a day later: re-resolved
    assert [(s.doc_id, s.status) for s in stored] == [(s.doc_id, again[s.doc_id].status) for s in stored]


# ---- the API ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(built_index, kb, tmp_path_factory):
    from bot.admin import AdminAuth, Service
    from bot.answer.pipeline import AnswerPipeline
    from bot.api import create_app
    from bot.records import Records

    service = Service(built_index[0], AnswerPipeline(kb), Records(tmp_path_factory.mktemp("asof") / "r.sqlite"),
                      AdminAuth.from_credentials("admin", ""), llm=None)
    return TestClient(create_app(service=service, rate_limit=0))


def test_api_article_as_of(client, kb):
    texts = {}
    for day, valid_from in (("2026-12-02", "2019-04-23"), ("2027-01-01", "2027-01-01")):
        r = client.get("/api/article", params={"law": "商标法", "number": "10", "as_of": day})
        assert r.status_code == 200
        [hit] = r.json()
        assert (hit["status"], hit["valid_from"], hit["citation"]) == (CURRENT, valid_from, "《中华人民共和国商标法》第十条")
        assert hit["neighbours"]
        texts[day] = hit["text"]
        both = client.get("/api/article", params={"law": "商标法", "number": "10", "as_of": day, "status": "all"}).json()
        assert sorted(h["status"] for h in both) == sorted([CURRENT, PENDING if day < "2027" else SUPERSEDED])
    assert texts["2026-12-02"] != texts["2027-01-01"]  # 第十条 differs between the versions


def test_api_search_as_of(client):
    r = client.get("/api/search", params={"q": "商标 注册 申请", "law": "商标法", "as_of": "2027-01-02"})
    assert r.status_code == 200 and r.json()
    assert {h["valid_from"] for h in r.json()} == {"2027-01-01"} and {h["status"] for h in r.json()} == {CURRENT}
    r = client.get("/api/search", params={"q": "商标 注册 申请", "law": "商标法", "as_of": "2026-12-02"})
    assert {h["status"] for h in r.json()} == {CURRENT} and "2027-01-01" not in {h["valid_from"] for h in r.json()}


@pytest.mark.parametrize("path, params", [("/api/search", {"q": "商标"}), ("/api/article", {"law": "商标法", "number": "10"})])
def test_api_bad_as_of(client, path, params):
    r = client.get(path, params=params | {"as_of": "明天"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.json()["message"]


# ---- the CLI ------------------------------------------------------------------------------------
@pytest.fixture()
def cli_env(built_index, usem3, monkeypatch):
    from bot.retrieval import search

    real = search.load_embeddings
    monkeypatch.setattr(search, "load_embeddings", lambda name, threads=2: usem3 if name == "usem3" else real(name, threads))
    monkeypatch.setenv("FARUN_TODAY", "2026-11-29")
    for var in ("FARUN_CONFIG", "FARUN_EMBEDDING", "FARUN_INDEX_DIR"):
        monkeypatch.delenv(var, raising=False)
    return ["--index-dir", str(built_index[0].index_dir)]


@pytest.mark.parametrize("day, valid_from", [("2026-12-02", "2019-04-23"), ("2027-01-01", "2027-01-01")])
def test_cli_as_of(cli_env, capsys, day, valid_from):
    from bot import cli

    assert cli.main([*cli_env, "article", "商标法", "10", "--as-of", day, "--json"]) == 0
    assert [h["valid_from"] for h in json.loads(capsys.readouterr().out)] == [valid_from]
    assert cli.main([*cli_env, "search", "商标 注册", "--law", "商标法", "--as-of", day, "--json"]) == 0
    assert {h["status"] for h in json.loads(capsys.readouterr().out)} == {CURRENT}
    assert cli.main([*cli_env, "article", "商标法", "10", "--as-of", "2027/01/01"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_timeline_before_the_build_day():
    """Versions resolved again from stored dates: an expired policy was in force before it
    expired, a repealed law before its repeal, and nothing existed before it was published."""
    from bot.units import EXPIRED
    from bot.validity import Stored, Timeline

    built = date(2026, 11, 29)
    t = Timeline([
        Stored("p", "政策甲", "政策", "2019-01-17", EXPIRED, "2019-01-17", "2021-12-31", note="已于2021-12-31到期"),
        Stored("old", "某法", "法律", "2014-04-24", REPEALED, "2015-01-01", "2026-08-15", note="已于2026-08-15废止；废止依据：某法典"),
        Stored("v1", "乙法", "法律", "2010-01-01", SUPERSEDED, "2010-06-01", "2020-01-01"),
        Stored("v2", "乙法", "法律", "2019-06-01", CURRENT, "2020-01-01", ""),
    ])
    on = lambda day: {k: (v.status, v.published_yet) for k, v in t.on(date.fromisoformat(day), built).items()}  # noqa: E731
    assert on("2020-06-01") == {"p": (CURRENT, True), "old": (CURRENT, True), "v1": (SUPERSEDED, True), "v2": (CURRENT, True)}
    assert on("2019-12-31")["v1"] == (CURRENT, True) and on("2019-12-31")["v2"] == (PENDING, True)
    assert on("2022-01-01")["p"] == (EXPIRED, True) and on("2021-12-31")["p"] == (CURRENT, True)
    assert on("2019-01-01")["p"] == (PENDING, False) and on("2012-01-01")["old"] == (PENDING, False)
    assert t.on(date(2020, 6, 1), built)["old"].valid_to == "2026-08-15"
    # on or after the build day statuses only move on by their dates (status_on)
    assert on("2027-01-01") == {"p": (EXPIRED, True), "old": (REPEALED, True), "v1": (SUPERSEDED, True), "v2": (CURRENT, True)}


def test_check_citations(kb):
    from bot.answer.verify import check_citations

    text = "依据《劳动合同法》第八十二条、第八十三条和本法第十条；商标法第十条。《劳动合同法》第八十二条再提一次。"
    checked = check_citations(kb.on("2027-01-01"), text)
    assert [c["cited"] for c in checked] == ["《劳动合同法》第八十二条", "《劳动合同法》第八十三条", "商标法第十条"]
    assert [c["result"] for c in checked] == ["exists", "exists", "exists"]
    assert checked[2]["valid_from"] == "2027-01-01" and checked[2]["citation"] == "《中华人民共和国商标法》第十条"
    assert check_citations(kb, "没有引用。") == []
