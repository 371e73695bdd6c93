"""The HTTP API (FastAPI), mounted beside the web app on the same server by app.py.

Routes only parse, call the library (bot.admin.Service → AnswerPipeline / KnowledgeBase /
Records) and render. Search and answer objects are exactly those of the CLI's --json
(`Hit.to_json()`, `Answer.to_json()`). Errors are JSON {"error": code, "message": 中文说明}
with 400/401/404/413/422/429/503 — bad input never yields a 500.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .admin import AdminAuth, Service, browse_policies, policy_json
from .config import Settings
from .index.layout import IndexUnavailable
from .records import Records
from .retrieval.search import Filters, QueryError
from .sources import LoadError
from .units import CURRENT, POLICY_LEVEL, POLICY_TOPICS

MAX_BODY = 64 * 1024  # JSON bodies; uploads have their own limit (Settings.max_file_mb)
MAX_HISTORY = 20
AS_OF = "按哪一天的效力（YYYY-MM-DD，默认今天）：如 2027-01-01 起适用 2026 年修正的商标法"

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 413: "too_large", 422: "invalid_request",
               429: "rate_limited", 503: "unavailable"}


# ---- models (they document the API in /docs) ----------------------------------------------------
class AskRequest(BaseModel):
    question: str = Field(description="用大白话描述的法律问题", examples=["公司不跟我签劳动合同怎么办"])
    audience: Literal["resident", "adviser", "enterprise"] = Field(
        "resident", description="resident 居民；adviser 法律顾问（附答复卡）；enterprise 企业（政策优先）")
    history: list[tuple[str, str]] = Field(default_factory=list, max_length=MAX_HISTORY,
                                           description="此前的对话，每轮 [问题, 回答]，最多 20 轮")
    stream: bool = Field(False, description="true：以 server-sent events 流式返回（也可发送 Accept: text/event-stream）")


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


ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 422, 429, 503)}


# ---- helpers -------------------------------------------------------------------------------------
class RateLimiter:
    """At most `per_minute` requests per client and minute (0: unlimited); sliding window."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> None:
        if self.per_minute <= 0:
            return
        key = request.client.host if request.client else "-"
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_minute:
                wait = max(1, int(60 - (now - q[0])) + 1)
                raise HTTPException(429, f"请求过于频繁：每分钟最多 {self.per_minute} 次，请 {wait} 秒后再试",
                                    headers={"Retry-After": str(wait)})
            q.append(now)


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


# ---- the app -------------------------------------------------------------------------------------
def create_app(settings: Settings | None = None, pipeline=None, *, records: Records | None = None,
               auth: AdminAuth | None = None, service: Service | None = None,
               rate_limit: int | None = None) -> FastAPI:
    """The API over a Service (made from settings, or the given pipeline for tests)."""
    if service is None:
        service = Service(settings or Settings.load(), pipeline, records, auth)
    per_minute = rate_limit if rate_limit is not None else service.settings.rate_limit
    limiter = RateLimiter(per_minute)
    app = FastAPI(
        title="法润 FaRun API",
        version="0.1.0",
        description="精准普法：法律问答与条文检索，每个回答都引用具体条文。回答为法律信息，不构成法律意见；"
                    "具体问题请咨询律师或拨打 12348 公共法律服务热线。\n\n"
                    "检索结果与回答的 JSON 与命令行 `python -m bot search/article --json` 完全一致。",
        docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.service = service
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

    app.add_middleware(BodyLimit, limit_for=lambda path: service.settings.max_file_bytes + (1 << 20)
                       if path.startswith("/api/admin/") else MAX_BODY)

    # ---- public routes ---------------------------------------------------------------------
    @app.get("/api/health", response_model=HealthResponse, responses={503: {"model": ErrorResponse}},
             tags=["状态"], summary="服务状态与知识库概况")
    def health():
        return {"status": "ok", "index": service.kb.stats(), "admin": service.auth.enabled,
                "admin_reason": service.auth.reason}

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
                    for event in pipeline.stream(body.question, history, body.audience):
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
        answer = pipeline.ask(body.question, history, body.audience)
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
    def admin(credentials: HTTPBasicCredentials | None = Depends(basic)) -> str:  # noqa: B008 (closure)
        if not service.auth.enabled:
            raise HTTPException(503, service.auth.reason)
        if credentials is None or not service.auth.check(credentials.username, credentials.password):
            raise HTTPException(401, "需要管理员登录（HTTP Basic）", headers={"WWW-Authenticate": 'Basic realm="farun"'})
        return credentials.username

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

    @app.get("/api/admin/demand.csv", tags=["管理"], summary="导出普法需求清单（CSV）", responses=admin_errors,
             dependencies=[Depends(admin)], response_class=Response)
    def demand_csv():
        return Response("\ufeff" + service.records.demand_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=\"farun-demand.csv\""})

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(rest: str):
        raise HTTPException(404, f"没有这个接口：/api/{rest}（接口文档见 /api/docs）")

    return app
