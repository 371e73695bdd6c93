"""法润 FaRun as an MCP server (the official `mcp` SDK, 2.x): `python -m bot mcp` over stdio, and
streamable HTTP at /mcp on the app's server (`install`, called by `bot.api.create_app`).

Tools, each with a JSON schema and Chinese descriptions; every one that reads statutes takes
`as_of` (YYYY-MM-DD, default today) and reads the knowledge base on that day
(`KnowledgeBase.on`):

* search(query, k, level, law, region, status, as_of) — `KnowledgeBase.search`
* get_article(law, number, as_of) — `retrieval.lookup.article_on`: the version in force, or
  已公布尚未施行 / 已废止 / 历史版本 with dates and the successor where known, chapter context
* verify_citations(text, as_of) — `answer.verify.check_citations`: each 《…》第N条 exists /
  unknown / not in force that day, with the text that is
* ask(question, audience) — `AnswerPipeline.ask`: the answer object, citations verified
* policy_lookup(doc_number_or_title, as_of) — `retrieval.lookup.policy_on`: the policy card

The tools only adapt: arguments in, the library's JSON out. An argument the schema refuses, a
bad date, an empty question or an index that cannot be opened come back as tool errors
(`isError`, the message in Chinese), never as a crash of the server.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .answer.verify import check_citations
from .apikeys import ApiKeys
from .config import Settings
from .index.layout import IndexUnavailable
from .retrieval.lookup import article_on, policy_on
from .retrieval.search import Filters, parse_day

NAME = "farun"
INSTRUCTIONS = (
    "法润 FaRun：中国法律法规与政策的检索、条文核对和问答，数据离线、来源可查。"
    "每条结果都标注效力（现行有效 / 已公布尚未施行 / 历史版本 / 已废止 / 已失效）；"
    "as_of（YYYY-MM-DD）指定按哪一天的效力，默认今天。"
    "引用法条前可用 verify_citations 核对；回答为法律信息，不构成法律意见。"
)
MAX_TEXT = 20_000  # verify_citations: characters checked
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]

AsOf = Annotated[str | None, Field(
    description="按哪一天的效力，格式 YYYY-MM-DD（如 2027-01-01）；不填为今天", examples=["2027-01-01"])]


class LocalSource:
    """The answer pipeline (and its knowledge base) of the settings, opened on first use, for
    the stdio server; an index that cannot be opened is tried again on the next call."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self._pipeline = None
        self._lock = threading.Lock()
        self.records = None

    @property
    def pipeline(self):
        with self._lock:
            if self._pipeline is None:
                from .answer.pipeline import AnswerPipeline

                self._pipeline = AnswerPipeline.open(self.settings)
            return self._pipeline

    @property
    def kb(self):
        return self.pipeline.kb

    def warm(self) -> None:
        """Open the index in the background, so that the first call does not wait for it."""
        def load():
            with contextlib.suppress(Exception):
                self.pipeline
        threading.Thread(target=load, daemon=True, name="farun-mcp-load").start()


def _tool(fn):
    """Library errors as tool errors with their (Chinese) message."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except IndexUnavailable as exc:
            raise ToolError(f"知识库不可用：{exc}") from exc
        except ValueError as exc:  # bad dates, filters, empty questions (QueryError)
            raise ToolError(str(exc)) from exc
    return call


def build_server(source) -> MCPServer:
    """The MCP server over a source of `kb` and `pipeline` (a `bot.admin.Service` on the app
    server, a `LocalSource` for stdio); questions are logged when the source has `records`."""
    server = MCPServer(NAME, title="法润 FaRun", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING",
                       description="精准普法：法律法规与政策检索、条文效力核对与带引用的问答")

    def kb_on(as_of: str | None):
        return source.kb.on(parse_day(as_of))

    @server.tool(name="search", title="检索法条与政策", annotations=READ_ONLY, description=(
        "混合检索法律、行政法规、司法解释、地方性法规、政策文件和普法问答卡。问题可以是大白话，"
        "也可以是精确引用（如 民法典第1079条、财税〔2023〕12号）。返回条文的法律名称、条号、层级、"
        "效力（按 as_of 当天计算）、施行与失效日期和全文。默认只返回当天现行有效的条文，status=all 返回全部并标注效力。"))
    @_tool
    def search(
        query: Annotated[str, Field(min_length=1, max_length=2000, description="问题或精确引用，如 老板不签劳动合同怎么办")],
        k: Annotated[int, Field(ge=1, le=50, description="返回条数，1–50")] = 10,
        level: Annotated[list[str] | str | None, Field(
            description="层级：宪法、法律、行政法规、司法解释、地方性法规、政策、问答（可多个）")] = None,
        law: Annotated[list[str] | str | None, Field(description="只看某部（或几部）法律，名称或简称，如 劳动合同法")] = None,
        region: Annotated[list[str] | str | None, Field(description="地区，如 全国、山东省")] = None,
        status: Annotated[str, Field(description="效力：current（默认，当天现行有效）、all，或 现行有效 / 已公布尚未施行 / "
                                                 "历史版本 / 已废止 / 已失效")] = "current",
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        kb = kb_on(as_of)
        hits = kb.search(query, k=k, filters=Filters.parse(level=level, law=law, status=status, region=region))
        return {"as_of": kb.as_of.isoformat(), "hits": [h.to_json() for h in hits]}

    @server.tool(name="get_article", title="按条号取条文（含效力）", annotations=READ_ONLY, description=(
        "按法律名称（或简称）和条号取一条法律条文，给出 as_of 当天施行的版本；若当天没有施行的版本，"
        "说明它是已公布尚未施行、历史版本还是已废止，附日期和已知的接续文本或废止依据。"
        "附所在章节和前后各一条作上下文，以及该条的其他版本。"))
    @_tool
    def get_article(
        law: Annotated[str, Field(min_length=1, max_length=200, description="法律名称或简称，如 民法典、商标法")],
        number: Annotated[int | str, Field(description="条号：1079、一千零七十九、第十条、133之一")],
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        kb = kb_on(as_of)
        found = article_on(kb, law, number)
        if found is None:
            raise ToolError(f"知识库中没有《{law}》第{number}条（法律名称或条号不对，或该法不在知识库中）")
        return found

    @server.tool(name="verify_citations", title="核对文中引用的条文", annotations=READ_ONLY, description=(
        "找出一段文字里引用的每一条法条（《法名》第N条、法名第N条、以及紧随其后的“、第M条”），逐条核对："
        "exists（as_of 当天有施行的版本，附该版本条文）、not_in_force（知识库有此条，但当天已公布尚未施行、"
        "已废止或已被新版本取代，附状态、日期、条文和已知的接续）、unknown（知识库没有这部法律或没有这一条）。"
        "适合在引用法条前核对模型或他人写的文字。"))
    @_tool
    def verify_citations(
        text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="要核对的文字，如一段回答或文书")],
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        kb = kb_on(as_of)
        checked = check_citations(kb, text)
        summary = {r: sum(1 for c in checked if c["result"] == r) for r in ("exists", "not_in_force", "unknown")}
        return {"as_of": kb.as_of.isoformat(), "summary": summary, "citations": checked}

    @server.tool(name="ask", title="法律问答（带核对过的引用）", annotations=READ_ONLY, description=(
        "用大白话提一个法律问题，得到简短的回答：每个论断都引用具体条文（[n] 对应 citations），"
        "引用已在知识库中逐条核对并标注效力；附求助渠道。问题超出范围或依据不足时会说明并建议去哪里咨询。"
        "audience：resident 居民（默认）、adviser 法律顾问（完整条文和答复卡）、enterprise 企业（政策优先）。"))
    @_tool
    def ask(
        question: Annotated[str, Field(min_length=1, max_length=2000, description="法律问题，如 公司拖欠工资怎么办")],
        audience: Annotated[Literal["resident", "adviser", "enterprise"], Field(
            description="resident 居民；adviser 法律顾问；enterprise 企业")] = "resident",
    ) -> dict[str, Any]:
        if not question.strip():
            raise ToolError("问题是空的：请用一句话描述您遇到的法律问题")
        answer = source.pipeline.ask(question, [], audience)
        records = getattr(source, "records", None)
        qid = records.log_question(question, audience, answer) if records is not None else None
        return answer.to_json() | {"question_id": qid}

    @server.tool(name="policy_lookup", title="查政策文件（文号或标题）", annotations=READ_ONLY, description=(
        "按文号（如 财税〔2019〕13号，方括号、圆括号均可）或标题查政策文件，返回发文机关、文号、发布与施行日期、"
        "执行期限、as_of 当天的效力（现行有效 / 已失效 …）、效力说明、接续政策和正文要点。"
        "找不到时返回最接近的几份政策文件供选择。"))
    @_tool
    def policy_lookup(
        doc_number_or_title: Annotated[str, Field(min_length=1, max_length=300,
                                                  description="文号或标题，如 财税〔2019〕13号")],
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        return policy_on(kb_on(as_of), doc_number_or_title)

    return server


def run_stdio(settings: Settings | None = None) -> None:
    """`python -m bot mcp`: serve over stdin/stdout until the client closes them."""
    source = LocalSource(settings)
    source.warm()
    build_server(source).run("stdio")


class _Guard:
    """In front of /mcp: the API's rate limit and, when FARUN_API_KEYS is set, a Bearer key."""

    def __init__(self, app, keys: ApiKeys, limiter=None):
        self.app, self.keys, self.limiter = app, keys, limiter

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            request = Request(scope)
            refused = None
            if self.limiter is not None:
                try:
                    self.limiter(request)
                except Exception as exc:  # HTTPException 429 with Retry-After
                    refused = (getattr(exc, "status_code", 429), str(getattr(exc, "detail", exc)),
                               getattr(exc, "headers", None) or {})
            if refused is None and not self.keys.check(request.headers.get("authorization")):
                refused = (401, "需要有效的 API key：请在请求头发送 Authorization: Bearer <key>（FARUN_API_KEYS）",
                           {"WWW-Authenticate": "Bearer"})
            if refused:
                status, message, headers = refused
                body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": message}}
                return await JSONResponse(body, status, headers=headers)(scope, receive, send)
        await self.app(scope, receive, send)


def install(app, service, limiter=None, path: str = "/mcp") -> MCPServer:
    """Serve MCP over streamable HTTP at `path` of the API app (stateless, JSON responses).

    The SDK's transport runs inside the app's lifespan. Without API keys only loopback Host and
    Origin headers are accepted (DNS-rebinding protection, as the SDK does for a local server);
    with FARUN_API_KEYS a key is required instead and any host may call."""
    keys = ApiKeys(service.settings.api_keys)
    server = build_server(service)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=not keys.required,
                                         allowed_hosts=LOOPBACK_HOSTS, allowed_origins=LOOPBACK_ORIGINS)
    http = server.streamable_http_app(streamable_http_path=path, stateless_http=True, json_response=True,
                                      transport_security=security, max_request_body_size=256 * 1024)
    app.router.routes.append(Route(path, endpoint=_Guard(http, keys, limiter)))
    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async with server.session_manager.run():
            async with previous(a) as state:
                yield state

    app.router.lifespan_context = lifespan
    return server
