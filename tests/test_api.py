"""The HTTP API over a small index (two laws + the shipped knowledge): every route, errors included."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "test-admin-pass-1"


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory, small_laws_db, embedder, today):
    from bot.config import Settings
    from bot.index.builder import build

    settings = Settings(index_dir=tmp_path_factory.mktemp("api-index"), laws_db=small_laws_db,
                        knowledge_dir=ROOT / "knowledge", today=today)
    build(settings, progress=False, embedder=embedder)
    return settings


@pytest.fixture(scope="module")
def service(api_settings, embedder, tmp_path_factory):
    from bot.admin import AdminAuth, Service
    from bot.answer.pipeline import AnswerPipeline
    from bot.records import Records
    from bot.retrieval.search import KnowledgeBase

    pipeline = AnswerPipeline(KnowledgeBase.open(api_settings, embedder=embedder))
    records = Records(tmp_path_factory.mktemp("var") / "farun.sqlite")
    return Service(api_settings, pipeline, records, AdminAuth.from_credentials("admin", PASSWORD))


@pytest.fixture(scope="module")
def client(service):
    from bot.api import create_app

    return TestClient(create_app(service=service, rate_limit=0))


def test_health_reports_the_index(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["index"]["units"] > 0 and body["admin"] is True
    assert "knowledge" in body["index"]["sources"]


def test_ask_returns_the_cli_answer_object(client, service):
    r = client.post("/api/ask", json={"question": "公司不跟我签劳动合同怎么办"})
    assert r.status_code == 200
    body = r.json()
    expected = service.pipeline.ask("公司不跟我签劳动合同怎么办").to_json()
    assert set(body) == set(expected)
    assert body["citations"] and any("劳动合同法" in c["law"] for c in body["citations"])
    qid = int(r.headers["X-Question-Id"])
    assert service.records.has_question(qid)


@pytest.mark.parametrize("body, status", [({"question": "   "}, 400), ({}, 422), ({"question": "x", "audience": "judge"}, 422),
                                          ({"question": "x", "history": "not a list"}, 422)])
def test_ask_rejects_bad_input(client, body, status):
    r = client.post("/api/ask", json=body)
    assert r.status_code == status
    assert r.json()["error"] and r.json()["message"]


def test_ask_rejects_an_oversized_body(client):
    r = client.post("/api/ask", content=json.dumps({"question": "工资" * 40000}), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest.mark.parametrize("how", ["body", "header"])
def test_ask_streams_server_sent_events(client, service, how):
    body = {"question": "网购的东西七天内能无理由退货吗"} | ({"stream": True} if how == "body" else {})
    headers = {"Accept": "text/event-stream"} if how == "header" else {}
    with client.stream("POST", "/api/ask", json=body, headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events("".join(r.iter_text()))
    kinds = [k for k, _ in events]
    assert kinds[0] == "delta" and kinds[-2:] == ["answer", "logged"]
    answer = events[-2][1]
    streamed = "".join(d["delta"] for k, d in events if k == "delta")
    assert streamed.strip() and answer["citations"]
    assert service.records.has_question(events[-1][1]["question_id"])


def test_search_returns_cli_hits(client, service):
    from bot.retrieval.search import Filters

    r = client.get("/api/search", params={"q": "试用期工资", "k": 3})
    assert r.status_code == 200
    assert r.json() == [h.to_json() for h in service.kb.search("试用期工资", k=3, filters=Filters())]
    r = client.get("/api/search", params={"q": "小规模纳税人增值税", "level": "政策", "status": "all"})
    assert r.status_code == 200 and r.json() and {h["level"] for h in r.json()} == {"政策"}


@pytest.mark.parametrize("params, status", [({"q": "？？？"}, 400), ({}, 422), ({"q": "工资", "k": 0}, 422),
                                            ({"q": "工资", "status": "bogus"}, 400)])
def test_search_errors(client, params, status):
    r = client.get("/api/search", params=params)
    assert r.status_code == status and r.json()["message"]


def test_article_and_its_neighbours(client):
    r = client.get("/api/article", params={"law": "劳动合同法", "number": "82"})
    assert r.status_code == 200
    [hit] = r.json()
    assert hit["citation"] == "《中华人民共和国劳动合同法》第八十二条" and "第八十一条" in hit["neighbours"]
    assert client.get("/api/article", params={"law": "劳动合同法", "number": "9999"}).status_code == 404
    assert client.get("/api/article", params={"law": "不存在的法", "number": "1"}).status_code == 404
    assert client.get("/api/article", params={"law": "劳动合同法"}).status_code == 422


def test_feedback_is_stored(client, service):
    qid = int(client.post("/api/ask", json={"question": "老板拖欠工资怎么办"}).headers["X-Question-Id"])
    r = client.post("/api/feedback", json={"question_id": qid, "rating": "差", "reason": "没说去哪里投诉"})
    assert r.status_code == 201 and r.json()["rating"] == "bad"
    assert any(f["question_id"] == qid and f["reason"] == "没说去哪里投诉" for f in service.records.feedback())
    assert client.post("/api/feedback", json={"question_id": 10 ** 9, "rating": "good"}).status_code == 404
    assert client.post("/api/feedback", json={"question_id": qid, "rating": "meh"}).status_code == 422


@pytest.mark.parametrize("method, path", [("get", "/api/admin/documents"), ("get", "/api/admin/analytics"),
                                          ("get", "/api/admin/demand.csv"), ("delete", "/api/admin/documents/x"),
                                          ("post", "/api/admin/documents")])
def test_admin_routes_need_auth(client, method, path):
    r = getattr(client, method)(path)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    r = getattr(client, method)(path, auth=("admin", "wrong-password"))
    assert r.status_code == 401


def test_admin_reads_with_auth(client):
    auth = ("admin", PASSWORD)
    assert client.get("/api/admin/documents", auth=auth).json() == []
    assert set(client.get("/api/admin/analytics", auth=auth).json()) == {"per_topic_day", "most_asked", "unmet"}
    r = client.get("/api/admin/demand.csv", auth=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.lstrip("\ufeff").startswith("主题,问题,次数")
    assert client.delete("/api/admin/documents/nope", auth=auth).status_code == 404


def test_admin_disabled_with_a_default_password(service):
    from bot.admin import AdminAuth, Service
    from bot.api import create_app

    weak = Service(service.settings, service.pipeline, service.records, AdminAuth.from_credentials("admin", "admin"))
    c = TestClient(create_app(service=weak, rate_limit=0))
    r = c.get("/api/admin/documents", auth=("admin", "admin"))
    assert r.status_code == 503 and "FARUN_ADMIN_PASSWORD" in r.json()["message"]
    assert c.get("/api/health").json()["admin"] is False


def test_rate_limit(service):
    from bot.api import create_app

    c = TestClient(create_app(service=service, rate_limit=2))
    codes = [c.get("/api/search", params={"q": "工资"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_unavailable_index_is_503_with_the_rebuild_hint(tmp_path):
    from bot.admin import AdminAuth
    from bot.api import create_app
    from bot.config import Settings
    from bot.records import Records

    app = create_app(Settings(index_dir=tmp_path / "none"), records=Records(tmp_path / "r.sqlite"),
                     auth=AdminAuth.from_credentials("admin", ""), rate_limit=0)
    c = TestClient(app)
    for r in (c.get("/api/health"), c.post("/api/ask", json={"question": "工资"}), c.get("/api/search", params={"q": "工资"})):
        assert r.status_code == 503 and "python -m bot build" in r.json()["message"]


def test_openapi_documents_the_routes(client):
    spec = client.get("/api/openapi.json").json()
    assert {"/api/ask", "/api/search", "/api/article", "/api/feedback", "/api/health"} <= set(spec["paths"])
    assert "AskRequest" in spec["components"]["schemas"]
    assert client.get("/api/nowhere").status_code == 404


def test_the_server_works_on_a_few_requests_at_once_offline(service, monkeypatch):
    """Offline answers are CPU-bound: 4 threads per process (the others wait in arrival order);
    a model composer's answers wait for the model, so 40; FARUN_REQUEST_THREADS overrides both."""
    import dataclasses

    import anyio

    from bot.api import create_app, request_threads

    assert request_threads(service.settings) == 4
    assert request_threads(dataclasses.replace(service.settings, llm_model="qwen")) == 40
    chosen = dataclasses.replace(service.settings, request_threads=7)
    assert request_threads(chosen) == 7
    monkeypatch.setattr(service, "settings", chosen)

    async def tokens():
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    with TestClient(create_app(service=service, rate_limit=0)) as started:
        assert started.portal.call(tokens) == 7
        assert started.get("/api/health").status_code == 200
