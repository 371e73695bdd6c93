"""The HTTP API (FastAPI), mounted beside the web app on the same server by app.py.

Routes only parse, call the library (bot.admin.Service → AnswerPipeline / KnowledgeBase /
Records / bot.loop's TicketDesk) and render. Search and answer objects are exactly those of the
CLI's --json (`Hit.to_json()`, `Answer.to_json()`), tickets and cards those of bot.loop.models.
Errors are JSON {"error": code, "message": 中文说明} with 400/401/403/404/409/413/422/429/503 —
bad input never yields a 500.

Logins: the admin routes take HTTP Basic (FARUN_ADMIN_USER or an admin account) or the Bearer
token of an admin's login; the adviser routes take `Authorization: Bearer <token>` from
POST /api/adviser/login (admins may use them too and see every grid).
"""
from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .admin import AdminAuth, Service, browse_policies, policy_json
from .config import Settings
from .index.layout import IndexUnavailable
from .loop.accounts import Session
from .loop.demand import GROUPINGS, demand as demand_list, demand_csv as demand_list_csv
from .loop.models import CardDraft, QueueItem, Reply, ReplyCheck, TicketDetail, TicketView
from .loop.tickets import LoopError, Throttle, Throttled
from .records import Records
from .retrieval.search import Filters, QueryError
from .sources import LoadError
from .units import CURRENT, POLICY_LEVEL, POLICY_TOPICS

MAX_BODY = 64 * 1024  # JSON bodies; uploads have their own limit (Settings.max_file_mb)
MAX_HISTORY = 20
AS_OF = "按哪一天的效力（YYYY-MM-DD，默认今天）：如 2027-01-01 起适用 2026 年修正的商标法"

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
               413: "too_large", 422: "invalid_request", 429: "rate_limited", 503: "unavailable"}
LOGIN_FAILURES_PER_MINUTE = 10
OFFLINE_THREADS = 4  # requests worked on at once per process without a model composer (`request_threads`)


# ---- models (they document the API in /docs) ----------------------------------------------------
class AskRequest(BaseModel):
    question: str = Field(description="用大白话描述的法律问题", examples=["公司不跟我签劳动合同怎么办"])
    audience: Literal["resident", "adviser", "enterprise"] = Field(
        "resident", description="resident 居民；adviser 法律顾问（附答复卡）；enterprise 企业（政策优先）")
    history: list[tuple[str, str]] = Field(default_factory=list, max_length=MAX_HISTORY,
                                           description="此前的对话，每轮 [问题, 回答]，最多 20 轮")
    stream: bool = Field(False, description="true：以 server-sent events 流式返回（也可发送 Accept: text/event-stream）")
    clarified: int = Field(0, ge=0, le=MAX_HISTORY, description="此前的回答中有几次请居民补充情况（回答的 handover 据此提示转给法律顾问）")


class FeedbackRequest(BaseModel):
    question_id: int | None = Field(None, description="/api/ask 返回的问题编号（响应头 X-Question-Id 或 SSE 事件 logged）")
    rating: Literal["good", "bad", "好", "差"] = Field(description="好（good）或 差（bad）")
    reason: str = Field("", max_length=1000, description="可选：为什么")


class FeedbackResponse(BaseModel):
    id: int
    question_id: int | None
    rating: Literal["good", "bad"]


class ErrorResponse(BaseModel):
    error: str = Field(description="机器可读的错误代码")
    message: str = Field(description="给人看的说明（中文），包括怎么解决")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    index: dict = Field(description="KnowledgeBase.stats()：条数、来源、最新版本日期等")
    admin: bool = Field(description="管理功能是否启用")
    admin_reason: str = ""


class TicketRequest(BaseModel):
    question: str = Field(description="想请法律顾问解答的问题", examples=["外卖骑手被平台封号了怎么办"])
    history: list[tuple[str, str]] = Field(default_factory=list, max_length=MAX_HISTORY,
                                           description="此前与法润的对话，每轮 [问题, 回答]")
    grid: int = Field(description="所在网格编号（GET /api/grids 的 id）")
    contact: str = Field("", max_length=200, description="可选：联系方式，只有本网格的法律顾问和管理员能看到")
    reason: Literal["asked", "abstain", "clarify_twice", "unsure", "bad_rating"] = Field(
        "asked", description="转办原因：asked 主动、abstain 法润未能回答、clarify_twice 两次追问、unsure 把握不大、bad_rating 差评")
    question_id: int | None = Field(None, description="/api/ask 返回的问题编号（可选）")


class TicketCreated(BaseModel):
    code: str = Field(description="查询码：凭它查看回复和评价（请记下）")
    ticket: TicketView


class RatingRequest(BaseModel):
    rating: Literal["good", "bad", "好", "差"]
    reason: str = Field("", max_length=1000)


class LoginRequest(BaseModel):
    name: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class LoginResponse(BaseModel):
    token: str = Field(description="之后的请求带上 Authorization: Bearer <token>")
    name: str
    role: Literal["admin", "adviser"]
    grids: list[int]
    expires_in: int = Field(description="多少秒后登录失效")


class ReplyRequest(BaseModel):
    text: str = Field(max_length=20_000, description="给居民的答复（大白话；引用条文写作《法律名称》第N条，发送前逐条核实）")


class CardRequest(BaseModel):
    """Fields over the prefill (the question, the reply, its citations); all optional."""

    title: str | None = None
    questions: list[str] | str | None = Field(None, description="问法，列表或每行一个")
    answer: str | None = Field(None, description="回答（200 字以内）")
    articles: list[str] | str | None = Field(None, description="法律依据，如 中华人民共和国劳动合同法第八十二条")
    topic: str | None = None
    audience: list[str] | str | None = None
    scope: str | None = Field(None, description="适用：……；不适用：……")
    referral: str | None = None


class RejectRequest(BaseModel):
    note: str = Field("", max_length=1000, description="退回原因")


class PublishResponse(BaseModel):
    card: CardDraft
    seconds: float = Field(description="从发布到可以检索到所用的秒数（增量索引）")


ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 422, 429, 503)}
LOOP_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}


# ---- helpers -------------------------------------------------------------------------------------
class RateLimiter:
    """A route dependency: at most `throttle.per_minute` requests per client and minute (the
    counts in the records database, shared by every worker process); over it, HTTPException 429
    with Retry-After (what the /v1 and /mcp adapters expect of it too)."""

    def __init__(self, throttle: Throttle):
        self.throttle = throttle

    def __call__(self, request: Request) -> None:
        try:
            self.throttle(request.client.host if request.client else "-")
        except Throttled as exc:
            raise HTTPException(429, exc.message, headers={"Retry-After": str(exc.extra["retry_after"])}) from None


def _valid(text: str) -> str:
    """JSON may carry lone surrogates (\\ud800) that no UTF-8 encoder (response, SQLite) accepts: replace them."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _error(status: int, message: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code or ERROR_CODES.get(status, "error"), "message": message}, status, headers=headers)


class BodyLimit:
    """ASGI middleware: request bodies to /api/ over their route's limit get 413. A declared
    Content-Length is checked before anything is read; a body without one (chunked) is counted
    as it arrives and cut off at the limit, so that neither JSON parsing nor multipart spooling
    ever holds more than the limit."""

    def __init__(self, app, limit_for):
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") \
                or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            return await _error(400, "Content-Length 无效")(scope, receive, send)
        if length is not None and length > limit:
            return await _error(413, f"请求体过大（{length} 字节，上限 {limit}）")(scope, receive, send)
        received = 0

        async def counted():
            # raised inside body parsing, an HTTPException passes through FastAPI's parse-error
            # handling unchanged and is rendered like every other error
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, f"请求体过大（超过上限 {limit} 字节）")
            return message

        await self.app(scope, counted, send)


def _filters(level: list[str], law: list[str], status: str | None, region: list[str]) -> Filters:
    try:
        return Filters.parse(level=level, law=law, status=status, region=region)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


def _on(kb, as_of: str | None):
    """The knowledge base read on the request's day (`as_of=YYYY-MM-DD`; none: today)."""
    try:
        return kb.on(as_of)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


def _sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def request_threads(settings: Settings) -> int:
    """How many requests a process works on at once (FARUN_REQUEST_THREADS; 0: 4 offline, 40 with a
    model composer, whose answers mostly wait for the model server)."""
    return settings.request_threads or (40 if settings.llm_model else OFFLINE_THREADS)


def _limit_threads(app: FastAPI, threads: int) -> None:
    """Size the thread pool that runs the sync routes (anyio's, 40 by default), set when the app
    starts. An offline answer is CPU-bound: on two cores, 40 answers in parallel only take turns
    with the GIL, each finishing late; with a few threads the others wait their turn in arrival
    order (2026-12-04, 50 clients: p95 3.8 s with 40 threads, 1.9 s with 4, same throughput)."""
    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        async with previous(a) as state:
            yield state

    app.router.lifespan_context = lifespan


# ---- the app -------------------------------------------------------------------------------------
def create_app(settings: Settings | None = None, pipeline=None, *, records: Records | None = None,
               auth: AdminAuth | None = None, service: Service | None = None,
               rate_limit: int | None = None) -> FastAPI:
    """The API over a Service (made from settings, or the given pipeline for tests)."""
    if service is None:
        service = Service(settings or Settings.load(), pipeline, records, auth)
    per_minute = rate_limit if rate_limit is not None else service.settings.rate_limit
    limiter = RateLimiter(Throttle(per_minute, service.records, "api"))
    app = FastAPI(
        title="法润 FaRun API",
        version="0.1.0",
        description="精准普法：法律问答与条文检索，每个回答都引用具体条文。回答为法律信息，不构成法律意见；"
                    "具体问题请咨询律师或拨打 12348 公共法律服务热线。\n\n"
                    "检索结果与回答的 JSON 与命令行 `python -m bot search/article --json` 完全一致。",
        docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.service = service
    _limit_threads(app, request_threads(service.settings))
    # OpenAI-compatible chat (/v1) and MCP over streamable HTTP (/mcp): adapters in their own modules
    from . import mcp_server, openai_compat
    openai_compat.install(app, service, limiter)
    mcp_server.install(app, service, limiter)
    basic = HTTPBasic(auto_error=False)

    # ---- errors ----------------------------------------------------------------------------
    @app.exception_handler(StarletteHTTPException)  # FastAPI's own (body parsing, 405) are of the base class
    async def _http(request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        problems = "；".join(f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or '请求'}：{e.get('msg')}"
                            for e in exc.errors()[:5])
        # where and why, but never the rejected input itself: it may be Infinity or a lone
        # surrogate that no JSON encoder takes, or personal data that should not bounce back
        body = {"error": "invalid_request", "message": _valid(f"请求参数不正确：{problems}"),
                "detail": [{"loc": [str(x) for x in e.get("loc", ())], "msg": _valid(str(e.get("msg", ""))),
                            "type": e.get("type", "")} for e in exc.errors()[:20]]}
        return JSONResponse(body, 422)

    @app.exception_handler(IndexUnavailable)
    async def _unavailable(request, exc):
        return _error(503, str(exc), "index_unavailable")

    @app.exception_handler(QueryError)
    async def _query(request, exc):
        return _error(400, str(exc), "bad_question")

    @app.exception_handler(LoadError)
    async def _load(request, exc):
        return _error(getattr(exc, "status", 400), str(exc), "bad_document")

    @app.exception_handler(LoopError)
    async def _loop(request, exc: LoopError):
        headers = {"Retry-After": str(exc.extra["retry_after"])} if isinstance(exc, Throttled) else None
        extra = {k: v for k, v in exc.extra.items() if k != "retry_after"}
        return JSONResponse({"error": exc.code, "message": exc.message, **extra}, exc.status, headers=headers)

    app.add_middleware(BodyLimit, limit_for=lambda path: service.settings.max_file_bytes + (1 << 20)
                       if path.startswith("/api/admin/") else MAX_BODY)

    # ---- public routes ---------------------------------------------------------------------
    @app.get("/api/health", response_model=HealthResponse, responses={503: {"model": ErrorResponse}},
             tags=["状态"], summary="服务状态与知识库概况")
    def health():
        return {"status": "ok", "index": service.kb.stats(), "admin": service.admin_enabled,
                "admin_reason": service.admin_reason}

    @app.post("/api/ask", tags=["问答"], summary="提问，得到带条文引用的回答", responses=ERRORS | {
        200: {"description": "Answer.to_json()（同 CLI）；响应头 X-Question-Id 为反馈用的问题编号。"
                             "流式时为 text/event-stream：事件 delta / reset / answer / logged / error",
              "content": {"application/json": {}, "text/event-stream": {}}}},
              dependencies=[Depends(limiter)])
    def ask(body: AskRequest, request: Request):
        body.question, body.history = _valid(body.question), [(_valid(q), _valid(a)) for q, a in body.history]
        if not body.question.strip():
            raise HTTPException(400, "问题是空的：请用一句话描述您遇到的法律问题")
        pipeline = service.pipeline  # 503 before anything streams
        history = [(q, a) for q, a in body.history]
        if body.stream or "text/event-stream" in request.headers.get("accept", ""):
            def events():
                try:
                    for event in pipeline.stream(body.question, history, body.audience, clarified=body.clarified):
                        if "answer" in event:
                            answer = event["answer"]
                            yield _sse("answer", answer.to_json())
                            qid = service.records.log_question(body.question, body.audience, answer)
                            yield _sse("logged", {"question_id": qid})
                        else:
                            yield _sse(next(iter(event)), event)
                except Exception as exc:  # the status line is gone already: report in the stream
                    yield _sse("error", {"error": "internal", "message": f"回答时出错：{exc}"})
            return StreamingResponse(events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        answer = pipeline.ask(body.question, history, body.audience, clarified=body.clarified)
        qid = service.records.log_question(body.question, body.audience, answer)
        return JSONResponse(answer.to_json(), headers={"X-Question-Id": str(qid)})

    @app.get("/api/search", tags=["检索"], summary="混合检索（同 python -m bot search --json）",
             responses=ERRORS, dependencies=[Depends(limiter)])
    def search(
        q: Annotated[str, Query(description="问题或精确引用，如 民法典第1079条", max_length=2000)],
        k: Annotated[int, Query(ge=1, le=50, description="返回条数")] = 10,
        level: Annotated[list[str], Query(description="层级：宪法/法律/行政法规/司法解释/地方性法规/政策/问答")] = [],  # noqa: B006
        law: Annotated[list[str], Query(description="只看某部法律（名称或简称）")] = [],  # noqa: B006
        status: Annotated[str | None, Query(description="current（默认）、all 或具体效力")] = None,
        region: Annotated[list[str], Query(description="地区，如 全国、山东省")] = [],  # noqa: B006
        as_of: Annotated[str | None, Query(description=AS_OF)] = None,
    ) -> list[dict]:
        hits = _on(service.kb, as_of).search(q, k=k, filters=_filters(level, law, status, region))
        return [h.to_json() for h in hits]

    @app.get("/api/article", tags=["检索"], summary="按法律和条号取条文（同 python -m bot article --json）",
             responses=ERRORS, dependencies=[Depends(limiter)])
    def article(
        law: Annotated[str, Query(min_length=1, description="法律名称或简称，如 民法典")],
        number: Annotated[str, Query(min_length=1, description="条号：1079、一千零七十九、第十条之一")],
        status: Annotated[str | None, Query(description="current（默认）、all 或具体效力")] = None,
        as_of: Annotated[str | None, Query(description=AS_OF)] = None,
    ) -> list[dict]:
        kb = _on(service.kb, as_of)
        hits = kb.article(law, number, _filters([], [], status, []))
        if not hits:
            raise HTTPException(404, f"知识库中没有《{law}》第{number}条（或该条不在所选效力范围内）")
        return [h.to_json() | {"neighbours": [n.article for n in kb.neighbours(h.unit.uid)]} for h in hits]

    @app.get("/api/policies", tags=["检索"], summary="惠企政策列表：按地区、效力、主题筛选，带律师解读",
             responses=ERRORS, dependencies=[Depends(limiter)])
    def policies(
        region: Annotated[str, Query(description="地区，如 全国、济南市历下区（空：全部地区）", max_length=100)] = "",
        status: Annotated[str | None, Query(description="current（默认，现行有效）、all 或具体效力")] = None,
        topic: Annotated[str, Query(description=f"主题：{'、'.join(POLICY_TOPICS)}（空：全部）", max_length=20)] = "",
        q: Annotated[str, Query(description="关键词（空：不按关键词筛选）", max_length=2000)] = "",
    ) -> list[dict]:
        chosen = _filters([], [], status, []).status  # None: in force only; ["all"]: every status
        statuses = [CURRENT] if chosen is None else None if "all" in chosen else chosen
        found = browse_policies(service.kb, topic=topic.strip(), region=region.strip(), statuses=statuses, words=q)
        return [policy_json(u) for u in found.rows]

    @app.post("/api/feedback", tags=["反馈"], summary="对回答评价 好/差", status_code=201,
              response_model=FeedbackResponse, responses=ERRORS, dependencies=[Depends(limiter)])
    def feedback(body: FeedbackRequest):
        if body.question_id is not None and not service.records.has_question(body.question_id):
            raise HTTPException(404, f"没有编号为 {body.question_id} 的问题")
        fid = service.records.add_feedback(body.question_id, body.rating, _valid(body.reason))
        return {"id": fid, "question_id": body.question_id, "rating": {"好": "good", "差": "bad"}.get(body.rating, body.rating)}

    # ---- admin routes ----------------------------------------------------------------------
    def _bearer(request: Request) -> Session | None:
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        return service.accounts.session(token.strip()) if kind.lower() == "bearer" and token.strip() else None

    def admin(request: Request, credentials: HTTPBasicCredentials | None = Depends(basic)) -> str:  # noqa: B008
        if not service.admin_enabled:
            raise HTTPException(503, service.admin_reason)
        session = _bearer(request)
        if session is not None:
            if not session.is_admin:
                raise HTTPException(403, "需要管理员权限：法律顾问账号不能使用管理接口")
            return session.name
        account = service.accounts.check(credentials.username, credentials.password) if credentials else None
        if account is None or account["role"] != "admin":
            raise HTTPException(401, "需要管理员登录（HTTP Basic）", headers={"WWW-Authenticate": 'Basic realm="farun"'})
        return account["name"]

    def adviser(request: Request) -> Session:
        session = _bearer(request)
        if session is None:
            raise HTTPException(401, "需要法律顾问登录：先 POST /api/adviser/login，再带上 Authorization: Bearer <token>"
                                "（登录已过期时请重新登录）", headers={"WWW-Authenticate": 'Bearer realm="farun"'})
        return session

    lookups = service.lookups
    failures = Throttle(LOGIN_FAILURES_PER_MINUTE, service.records, "login")

    def lookup(request: Request) -> None:
        lookups(request.client.host if request.client else "-")

    # ---- the loop: residents -----------------------------------------------------------------
    @app.get("/api/grids", tags=["转给法律顾问"], summary="本区的社区和网格（转办时选择）")
    def grids() -> dict:
        return service.grids.to_json()

    @app.post("/api/tickets", tags=["转给法律顾问"], summary="把问题转给所在网格的法律顾问，得到查询码", status_code=201,
              response_model=TicketCreated, responses=LOOP_ERRORS, dependencies=[Depends(limiter)])
    def create_ticket(body: TicketRequest):
        question = _valid(body.question)
        if not question.strip():
            raise HTTPException(400, "问题是空的：请写下您想请法律顾问解答的问题")
        history = [(_valid(q), _valid(a)) for q, a in body.history]
        answer = service.pipeline.ask(question, history) if service.ready else None  # what the bot answered, kept
        view = service.desk.create(question, history, body.grid, _valid(body.contact), answer, body.reason,
                                   body.question_id if body.question_id and service.records.has_question(body.question_id) else None)
        return {"code": view.code, "ticket": view}

    @app.get("/api/tickets/{code}", tags=["转给法律顾问"], summary="凭查询码查看转办单和法律顾问的回复",
             response_model=TicketView, responses=LOOP_ERRORS, dependencies=[Depends(limiter), Depends(lookup)])
    def get_ticket(code: str):
        return service.desk.view(code)

    @app.post("/api/tickets/{code}/rating", tags=["转给法律顾问"], summary="对法律顾问的回复评价 好/差（评价后关闭）",
              response_model=TicketView, responses=LOOP_ERRORS, dependencies=[Depends(limiter), Depends(lookup)])
    def rate_ticket(code: str, body: RatingRequest):
        return service.desk.rate(code, body.rating, _valid(body.reason))

    # ---- the loop: advisers ------------------------------------------------------------------
    @app.post("/api/adviser/login", tags=["法律顾问"], summary="法律顾问（或管理员）登录，得到 Bearer token",
              response_model=LoginResponse, responses=LOOP_ERRORS, dependencies=[Depends(limiter)])
    def adviser_login(body: LoginRequest, request: Request):
        client = request.client.host if request.client else "-"
        failures(client, record=False)  # too many failed logins from this client: 429 before any check
        session = service.accounts.login(body.name, body.password)
        if session is None:
            failures(client)
            raise HTTPException(401, "用户名或密码不正确（或账号已停用）", headers={"WWW-Authenticate": 'Bearer realm="farun"'})
        return {"token": session.token} | session.to_json()

    @app.post("/api/adviser/logout", tags=["法律顾问"], summary="退出登录", status_code=204, responses=LOOP_ERRORS)
    def adviser_logout(request: Request, session: Session = Depends(adviser)):  # noqa: B008
        service.accounts.logout(session.token)
        return Response(status_code=204)

    @app.get("/api/adviser/tickets", tags=["法律顾问"], summary="本人负责网格的转办单（最早的在前）",
             response_model=list[QueueItem], responses=LOOP_ERRORS)
    def adviser_tickets(session: Session = Depends(adviser),  # noqa: B008
                        status: Annotated[list[str], Query(description="只看某些状态：待处理、已回复、已关闭")] = []):  # noqa: B006
        return service.desk.queue(session, status or None)

    @app.get("/api/adviser/tickets/{ticket_id}", tags=["法律顾问"], summary="一张转办单：问题、对话、法润的回答和依据、联系方式",
             response_model=TicketDetail, responses=LOOP_ERRORS)
    def adviser_ticket(ticket_id: int, session: Session = Depends(adviser)):  # noqa: B008
        return service.desk.detail(session, ticket_id)

    @app.post("/api/adviser/check", tags=["法律顾问"], summary="发送前核实回复中的条文引用（不发送）",
              response_model=ReplyCheck, responses=LOOP_ERRORS)
    def adviser_check(body: ReplyRequest, session: Session = Depends(adviser)):  # noqa: B008
        return service.desk.check(_valid(body.text))

    @app.post("/api/adviser/tickets/{ticket_id}/reply", tags=["法律顾问"], status_code=201, response_model=Reply,
              summary="回复居民：每处《…》第N条都先核实，有核实不了的引用时返回 422 并列出，不发送", responses=LOOP_ERRORS)
    def adviser_reply(ticket_id: int, body: ReplyRequest, session: Session = Depends(adviser)):  # noqa: B008
        return service.desk.reply(session, ticket_id, _valid(body.text))

    @app.post("/api/adviser/tickets/{ticket_id}/close", tags=["法律顾问"], summary="关闭转办单",
              response_model=TicketDetail, responses=LOOP_ERRORS)
    def adviser_close(ticket_id: int, session: Session = Depends(adviser)):  # noqa: B008
        return service.desk.close(session, ticket_id)

    @app.post("/api/adviser/tickets/{ticket_id}/card", tags=["法律顾问"], status_code=201, response_model=CardDraft,
              summary="把最近的回复做成问答卡片草稿（问法、回答、依据已预填；problems 列出发布前要改的）",
              responses=LOOP_ERRORS)
    def adviser_card(ticket_id: int, body: CardRequest | None = None, session: Session = Depends(adviser)):  # noqa: B008
        return service.desk.draft_card(session, ticket_id, body.model_dump(exclude_none=True) if body else None)

    @app.post("/api/adviser/cards/{card_id}", tags=["法律顾问"], summary="修改卡片草稿", response_model=CardDraft,
              responses=LOOP_ERRORS)
    def adviser_update_card(card_id: int, body: CardRequest, session: Session = Depends(adviser)):  # noqa: B008
        return service.desk.update_draft(session, card_id, body.model_dump(exclude_none=True))

    @app.get("/api/adviser/cards", tags=["法律顾问"], summary="本人写的卡片草稿（管理员：全部）",
             response_model=list[CardDraft], responses=LOOP_ERRORS)
    def adviser_cards(session: Session = Depends(adviser),  # noqa: B008
                      status: Annotated[str | None, Query(description="draft、published 或 rejected")] = None):
        return service.desk.drafts(status, session)

    admin_errors = ERRORS | {401: {"model": ErrorResponse}}

    @app.post("/api/admin/documents", tags=["管理"], summary="上传文件（DOCX/PDF/HTML/MD/TXT 或其 ZIP）并增量更新索引",
              status_code=201, responses=admin_errors, dependencies=[Depends(admin)])
    def upload(
        file: Annotated[UploadFile, File(description="文件")],
        title: Annotated[str, Form()] = "", level: Annotated[str, Form()] = POLICY_LEVEL,
        issuer: Annotated[str, Form()] = "", doc_number: Annotated[str, Form()] = "",
        region: Annotated[str, Form()] = "", published: Annotated[str, Form()] = "",
        valid_from: Annotated[str, Form()] = "", valid_to: Annotated[str, Form()] = "",
    ):
        limit = service.settings.max_file_bytes
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload"
            with path.open("wb") as f:
                shutil.copyfileobj(file.file, f, 1 << 20)
            if path.stat().st_size > limit:
                raise HTTPException(413, f"文件过大（上限 {limit} 字节）")
            meta = {"title": title, "level": level, "issuer": issuer, "doc_number": doc_number, "region": region,
                    "published": published, "valid_from": valid_from, "valid_to": valid_to}
            docs = service.upload(path, file.filename or "upload", meta)
        return {"documents": [d.to_json() for d in docs], "index": service.kb.stats()}

    @app.get("/api/admin/documents", tags=["管理"], summary="已上传的文件", responses=admin_errors,
             dependencies=[Depends(admin)])
    def documents() -> list[dict]:
        return service.records.documents()

    @app.delete("/api/admin/documents/{doc_id}", tags=["管理"], summary="删除上传的文件并从索引移除",
                responses=admin_errors, dependencies=[Depends(admin)])
    def remove(doc_id: str):
        try:
            doc = service.remove(doc_id)
        except KeyError as exc:
            raise HTTPException(404, exc.args[0]) from exc
        return {"removed": doc, "index": service.kb.stats()}

    @app.get("/api/admin/analytics", tags=["管理"], summary="需求分析：各主题每日提问、最常问、差评与未能回答",
             responses=admin_errors, dependencies=[Depends(admin)])
    def analytics():
        r = service.records
        return {"per_topic_day": r.per_topic_day(), "most_asked": r.most_asked(), "unmet": r.unmet()}

    @app.get("/api/admin/demand.csv", tags=["管理"], summary="导出普法需求清单（CSV）：按问题（默认）、主题、网格、周或顾问",
             responses=admin_errors, dependencies=[Depends(admin)], response_class=Response)
    def demand_csv(by: Annotated[Literal[GROUPINGS], Query(description="question、topic、grid、week 或 adviser")] = "question"):
        text = demand_list_csv(service.records, by, service.grids)
        return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename=\"farun-demand-{by}.csv\""})

    @app.get("/api/admin/demand", tags=["管理"], summary="普法需求清单：按主题、网格、周分组的提问、转办、差评；未能回答的主题；顾问回复用时",
             responses=admin_errors, dependencies=[Depends(admin)])
    def demand() -> dict:
        return demand_list(service.records, service.grids)

    @app.get("/api/admin/cards", tags=["管理"], summary="法律顾问写的问答卡片（草稿、已发布、已退回）",
             response_model=list[CardDraft], responses=admin_errors | LOOP_ERRORS, dependencies=[Depends(admin)])
    def admin_cards(status: Annotated[str | None, Query(description="draft、published 或 rejected")] = None):
        return service.desk.drafts(status)

    @app.post("/api/admin/cards/{card_id}/publish", tags=["管理"], response_model=PublishResponse,
              summary="审核并发布卡片：成为有效的问答卡片（reviewed_by/reviewed_on），增量加入索引，马上可以检索",
              responses=admin_errors | LOOP_ERRORS)
    def publish_card(card_id: int, name: str = Depends(admin)):  # noqa: B008
        card, seconds = service.publish_card(card_id, name)
        return {"card": card, "seconds": round(seconds, 3)}

    @app.post("/api/admin/cards/{card_id}/reject", tags=["管理"], response_model=CardDraft, summary="退回卡片草稿（保留记录）",
              responses=admin_errors | LOOP_ERRORS)
    def reject_card(card_id: int, body: RejectRequest | None = None, name: str = Depends(admin)):  # noqa: B008
        return service.desk.reject(Session("", name, "admin"), card_id, _valid(body.note) if body else "")

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(rest: str):
        raise HTTPException(404, f"没有这个接口：/api/{rest}（接口文档见 /api/docs）")

    return app
