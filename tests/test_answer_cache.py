"""bot.answer.cache: a question asked again gets exactly the answer computed the first time, and
only when everything it was computed from is the same; private questions and fallbacks are never
kept; an index update empties it; FARUN_ANSWER_CACHE=0 turns it off."""
from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.answer.cache import AnswerCache, answer_key
from bot.answer.handover import handover_reason
from bot.answer.pipeline import AnswerPipeline
from bot.api import create_app
from bot.config import Settings
from bot.retrieval.search import Filters, KnowledgeBase

QUESTION = "公司安排加班却不给加班费怎么办？"


@pytest.fixture(scope="module")
def cached_kb(answer_kb):
    """The answer tests' knowledge base with the cache on (their settings turn it off)."""
    kb = copy.copy(answer_kb)
    kb.settings = dataclasses.replace(answer_kb.settings, answer_cache=100)
    return kb


@pytest.fixture
def pipeline(cached_kb):
    return AnswerPipeline(cached_kb)  # a cache of its own per test


def test_a_question_asked_again_is_answered_from_the_cache_exactly(pipeline):
    first = pipeline.ask(QUESTION)
    again = pipeline.ask(QUESTION)
    assert (pipeline.cache.hits, pipeline.cache.misses, len(pipeline.cache)) == (1, 1, 1)
    assert again.to_json() == first.to_json() and again is not first
    again.answer = "changed by a caller"  # callers get copies: the kept answer stays as it was
    assert pipeline.ask(QUESTION).to_json() == first.to_json()
    # the spaces the pipeline folds anyway make no other answer
    assert pipeline.ask(" 公司安排加班却不给加班费怎么办？ ").to_json() == first.to_json()


@pytest.mark.parametrize("other", [
    {"audience": "adviser"},
    {"history": [("我在工厂上班", "好的")]},
    {"filters": Filters(status=["all"])},
    {"question": "公司安排加班却不给加班费怎么办"},  # punctuation is the asker's own: shown in the answer
], ids=["audience", "history", "filters", "question"])
def test_each_input_of_an_answer_is_part_of_the_key(pipeline, other):
    asked = {"question": QUESTION} | other
    pipeline.ask(QUESTION)
    assert pipeline.ask(**asked).to_json() == AnswerPipeline(pipeline.kb).ask(**asked).to_json()
    assert pipeline.cache.hits == 0 and len(pipeline.cache) == 2


def test_the_build_the_validity_day_and_the_reranker_are_part_of_the_key(cached_kb):
    key = answer_key(cached_kb, QUESTION, [], "resident", None)
    next_day = cached_kb.on(cached_kb.as_of + timedelta(days=1))
    assert answer_key(next_day, QUESTION, [], "resident", None) != key
    moved = copy.copy(cached_kb)
    moved.folder = Path("/elsewhere/build-2")
    assert answer_key(moved, QUESTION, [], "resident", None) != key
    shipped = cached_kb.reranker
    try:
        cached_kb.set_reranker(shipped)  # the same reranker set again is still another stage
        assert answer_key(cached_kb, QUESTION, [], "resident", None) != key
    finally:
        cached_kb.set_reranker(shipped)


def test_the_hand_over_offer_follows_the_conversation_not_the_cache(pipeline):
    """`clarified` is not part of the key: the offer is worked out again for each ask."""
    question = "房东不退押金怎么办"
    pipeline.ask(question, clarified=0)
    again = pipeline.ask(question, clarified=1)
    assert pipeline.cache.hits == 1
    assert again.handover == handover_reason(again, 1) == AnswerPipeline(pipeline.kb).ask(question, clarified=1).handover


@pytest.mark.parametrize("asked", [
    {"question": "我的身份证号是110101199003071234，公司不给加班费怎么办"},
    {"question": QUESTION, "history": [("我电话13812345678", "好的")]},
], ids=["question", "history"])
def test_questions_with_personal_data_are_never_cached(pipeline, asked):
    assert answer_key(pipeline.kb, asked["question"], asked.get("history", []), "resident", None) is None
    pipeline.ask(**asked)
    pipeline.ask(**asked)
    assert len(pipeline.cache) == 0 and pipeline.cache.hits == 0


def test_fallbacks_are_not_kept_and_the_cache_is_bounded(pipeline):
    answer = pipeline.ask(QUESTION)
    cache = AnswerCache(2)
    cache.put("timed out", answer.model_copy(update={"fallback_reason": "timeout"}))
    assert cache.get("timed out") is None
    for key in ("a", "b", "c"):
        cache.put(key, answer)
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") is not None


def test_farun_answer_cache_0_turns_it_off(answer_settings, embedder):
    settings = Settings.load(env={"FARUN_ANSWER_CACHE": "0", "FARUN_INDEX_DIR": str(answer_settings.index_dir),
                                  "FARUN_TODAY": answer_settings.as_of.isoformat()})
    assert settings.answer_cache == 0
    off = AnswerPipeline(KnowledgeBase.open(settings, embedder=embedder))
    assert off.ask(QUESTION).to_json() == off.ask(QUESTION).to_json()
    assert len(off.cache) == 0 and off.cache.hits == 0


def test_an_index_update_empties_the_cache_and_every_ask_is_logged(make_service, tmp_path):
    service = make_service("cache", "admin-pass-for-tests")
    client = TestClient(create_app(service=service, rate_limit=0))
    question = "劳动合同应当包括哪些条款"
    first = client.post("/api/ask", json={"question": question}).json()
    assert client.post("/api/ask", json={"question": question}).json() == first
    assert service.pipeline.cache.hits == 1
    assert sum(q["question"] == question for q in service.records.questions()) == 2  # repeats still count
    doc = tmp_path / "notice.txt"
    doc.write_text("青禾市劳动合同示范文本使用通知\n劳动合同应当包括工作内容、劳动报酬和萤火虫条款。", encoding="utf-8")
    service.upload(doc, "notice.txt", {"level": "政策", "published": "2026-03-01"})
    assert len(service.pipeline.cache) == 0
    client.post("/api/ask", json={"question": question})
    assert service.pipeline.cache.hits == 0 and len(service.pipeline.cache) == 1
