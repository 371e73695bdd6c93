"""OpenAI-compatible chat on the app's server: `POST /v1/chat/completions` and `GET /v1/models`,
so that chat clients (Open WebUI, Cherry Studio, LobeChat, Chatbox …) can use FaRun as a provider.

* `messages`: the last user message is the question, the earlier user/assistant turns the
  history (what `/api/ask` takes as `history`). The audience comes from `model`
  (`farun-resident`, `farun-adviser`, `farun-enterprise`); with `model: "farun"` a system
  message may name it (居民 / 法律顾问 / 企业, or resident / adviser / enterprise). A system or
  developer message does nothing else: it never reaches retrieval or a composer, so it cannot
  change what is cited (a user message cannot either: every citation is verified).
* The reply is the answer object rendered as the assistant's content (with [n] markers and a
  short source list, where to turn and the disclaimer), and `citations` beside `choices`: n,
  law, article, status, valid_from, quote, unit_id … (`farun` carries the rest of the answer
  object: question id for /api/feedback, decision, referral, removed citations).
* `stream: true`: server-sent `chat.completion.chunk` events, the citations in the last chunk
  (and usage in one more with `stream_options.include_usage`), then `data: [DONE]`.
* `usage` counts characters (Unicode code points), not tokens: prompt = the characters of every
  message received, completion = those of the content returned. FaRun does not tokenize.
* Optional API keys (FARUN_API_KEYS, `Authorization: Bearer <key>`), the same per-client rate
  limit as /api (one budget for both), errors as {"error": {"message", "type", "code", "param"}}
  with 400/401/404/405/413/429/500/503.

The routes only parse and render: the answer comes from `AnswerPipeline` as for /api/ask.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .answer.models import DISCLAIMER, Answer
from .apikeys import ApiKeys
from .index.layout import IndexUnavailable
from .retrieval.search import QueryError

MAX_BODY = 512 * 1024  # a conversation resent whole: 20 turns with quoted articles fit easily
MAX_HISTORY = 20  # turns kept, the latest (as /api/ask)
MODELS = {  # model id → audience (None: a system message may name it, else resident)
    "farun-resident": "resident",
    "farun-adviser": "adviser",
    "farun-enterprise": "enterprise",
    "farun": None,
}
DESCRIPTIONS = {
    "farun-resident": "法润·居民：大白话回答，引用核对过的条文",
    "farun-adviser": "法润·法律顾问：完整条文与可复制的答复卡",
    "farun-enterprise": "法润·企业：政策文件优先，附文号与效力",
    "farun": "法润：受众由系统消息指定（居民 / 法律顾问 / 企业），默认居民",
}
# words of a system message that name the audience (first match wins; nothing else is read)
AUDIENCE_WORDS = [
    ("enterprise", re.compile(r"enterprise|企业|公司经营|商户", re.I)),
    ("adviser", re.compile(r"adviser|advisor|lawyer|法律顾问|顾问|法律工作者|律师|调解员|网格员", re.I)),
    ("resident", re.compile(r"resident|citizen|居民|群众|老百姓", re.I)),
]
RESET_NOTE = "\n\n（以上模型回答未通过条文核对，已作废；以下为离线整理的回答。）\n\n"


# ---- requests ------------------------------------------------------------------------------------
class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields FaRun reads; the others OpenAI defines (temperature, max_tokens, tools …) are
    accepted and have no effect: the answer is built from the knowledge base, not sampled."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="farun-resident / farun-adviser / farun-enterprise / farun")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    n: int = 1
    stream_options: dict[str, Any] | None = None


class OpenAIError(Exception):
    TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
             405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
             500: "server_error", 503: "service_unavailable"}

    def __init__(self, status: int, message: str, code: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.TYPES.get(self.status, "invalid_request_error"),
                          "code": self.code, "param": self.param}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), self.status, headers=self.headers)


def text_of(content) -> str:
    """A message's text: a string, or the text parts of a list of content parts (others ignored)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") in ("text", "input_text"))


def _valid(text: str) -> str:
    """Lone surrogates (valid JSON, no valid UTF-8) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")


def conversation(messages: list[Message]) -> tuple[str, list[tuple[str, str]], str]:
    """(question, history of (user, assistant) turns, the system messages' text)."""
    system = "\n".join(text_of(m.content) for m in messages if m.role in ("system", "developer"))
    turns = [(m.role, _valid(text_of(m.content))) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise OpenAIError(400, "最后一条消息必须是用户（role: user）的问题", "invalid_messages", "messages")
    question = turns[-1][1]
    if not question.strip():
        raise OpenAIError(400, "问题是空的：请用一句话描述您遇到的法律问题", "empty_question", "messages")
    history: list[tuple[str, str]] = []
    asked: str | None = None
    for role, text in turns[:-1]:
        if role == "user":
            if asked is not None:
                history.append((asked, ""))
            asked = text
        elif asked is not None:
            history.append((asked, text))
            asked = None
    if asked is not None:
        history.append((asked, ""))
    return question, history[-MAX_HISTORY:], system


def audience_of(model: str, system: str) -> str:
    if model not in MODELS:
        raise OpenAIError(404, f"没有模型 {model!r}：可用的模型是 {'、'.join(MODELS)}（GET /v1/models）",
                          "model_not_found", "model")
    if MODELS[model]:
        return MODELS[model]
    return next((a for a, words in AUDIENCE_WORDS if words.search(system)), "resident")


# ---- responses -----------------------------------------------------------------------------------
def citations(answer: Answer) -> list[dict]:
    """The answer's citations with the [n] the text uses; those named in the text without a
    number get the next free numbers (so the source list can show every one)."""
    taken = [c.n for c in answer.citations if c.n]
    extra = iter(range(max(taken, default=0) + 1, 10_000))
    out = []
    for c in answer.citations:
        out.append({"n": c.n or next(extra), "law": c.law, "article": c.article, "title": c.label,
                    "status": c.status, "status_note": c.status_note, "valid_from": c.valid_from,
                    "valid_to": c.valid_to, "level": c.level, "doc_number": c.doc_number, "quote": c.quote,
                    "unit_id": c.unit_id})
    return sorted(out, key=lambda c: c["n"])


def footer(answer: Answer, cited: list[dict]) -> str:
    """What follows the answer text in the content: its sources, where to turn, notes, the disclaimer."""
    lines = []
    if cited:
        lines.append("来源：")
        lines += [f"[{c['n']}] 《{c['law']}》{c['article']}（{c['status']}"
                  f"{'，' + c['valid_from'] + ' 起施行' if c['valid_from'] else ''}）" for c in cited]
    if answer.referral and not answer.abstained:
        lines.append("可求助：" + "；".join(r.label for r in answer.referral))
    lines += [f"注：{n}" for n in answer.notes]
    lines.append(answer.disclaimer or DISCLAIMER)
    return "\n\n" + "\n".join(lines)


def farun_part(answer: Answer, question_id: int | None) -> dict:
    return {"question_id": question_id, "audience": answer.audience, "decision": answer.decision,
            "abstained": answer.abstained, "confidence": answer.confidence, "composer": answer.composer,
            "fallback_reason": answer.fallback_reason, "rewritten_question": answer.rewritten_question,
            "referral": [r.model_dump() for r in answer.referral],
            "removed_citations": [r.model_dump() for r in answer.removed_citations],
            "clarify": [c.model_dump() for c in answer.clarify], "card": answer.card}


def usage(prompt_chars: int, content: str) -> dict:
    return {"prompt_tokens": prompt_chars, "completion_tokens": len(content),
            "total_tokens": prompt_chars + len(content)}


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None, **extra) -> str:
    chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


# ---- the routes ----------------------------------------------------------------------------------
async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise OpenAIError(413, f"请求体过大（{declared} 字节，上限 {MAX_BODY}）", "request_too_large")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > MAX_BODY:
            raise OpenAIError(413, f"请求体过大（超过上限 {MAX_BODY} 字节）", "request_too_large")
    return bytes(data)


def _parse(raw: bytes) -> ChatRequest:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise OpenAIError(400, "请求体不是有效的 JSON", "invalid_json") from None
    if not isinstance(data, dict):
        raise OpenAIError(400, "请求体应是一个 JSON 对象", "invalid_json")
    try:
        body = ChatRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(x) for x in errors[0].get("loc", ())) or None
        # where and why, never the rejected value (personal data should not bounce back)
        problems = "；".join(f"{'.'.join(str(x) for x in e.get('loc', ())) or '请求'}：{e.get('msg')}" for e in errors[:5])
        raise OpenAIError(400, _valid(f"请求参数不正确：{problems}"), "invalid_request", where) from None
    if body.n != 1:
        raise OpenAIError(400, "只支持 n=1：法润对同一问题只给出一个核对过的回答", "unsupported_n", "n")
    return body


def router(service, limiter=None, keys: ApiKeys | None = None) -> APIRouter:
    """The /v1 routes over a service (`bot.admin.Service`: pipeline, records, settings); `limiter`
    is the API's rate limiter (a callable raising HTTPException 429), `keys` the required keys."""
    keys = keys if keys is not None else ApiKeys(service.settings.api_keys)
    started = int(time.time())
    r = APIRouter(prefix="/v1", tags=["OpenAI 兼容"])

    def admit(request: Request) -> None:
        if limiter is not None:
            try:
                limiter(request)
            except HTTPException as exc:
                raise OpenAIError(exc.status_code, str(exc.detail), "rate_limit_exceeded",
                                  headers=getattr(exc, "headers", None)) from None
        if not keys.check(request.headers.get("authorization")):
            raise OpenAIError(401, "需要有效的 API key：请在请求头发送 Authorization: Bearer <key>（FARUN_API_KEYS）",
                              "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    def model_card(mid: str) -> dict:
        return {"id": mid, "object": "model", "created": started, "owned_by": "farun", "description": DESCRIPTIONS[mid]}

    @r.get("/models", summary="可用的模型（受众）")
    async def models(request: Request):
        try:
            admit(request)
        except OpenAIError as exc:
            return exc.response()
        return {"object": "list", "data": [model_card(m) for m in MODELS]}

    @r.get("/models/{model_id}", summary="一个模型")
    async def model(model_id: str, request: Request):
        try:
            admit(request)
            if model_id not in MODELS:
                raise OpenAIError(404, f"没有模型 {model_id!r}", "model_not_found", "model")
        except OpenAIError as exc:
            return exc.response()
        return model_card(model_id)

    @r.post("/chat/completions", summary="OpenAI 兼容的问答：回答带 [n] 标注，citations 为核对过的条文")
    async def chat(request: Request):
        try:
            admit(request)
            body = _parse(await _body(request))
            question, history, system = conversation(body.messages)
            audience = audience_of(body.model, system)
            pipeline = service.pipeline  # 503 before anything streams
            prompt_chars = sum(len(text_of(m.content)) for m in body.messages)
            cid, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
            if body.stream:
                usage_chunk = bool((body.stream_options or {}).get("include_usage"))
                return StreamingResponse(
                    _stream(service, pipeline, question, history, audience, body.model, cid, created, prompt_chars,
                            usage_chunk),
                    media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            answer = await run_in_threadpool(pipeline.ask, question, history, audience)
        except OpenAIError as exc:
            return exc.response()
        except IndexUnavailable as exc:
            return OpenAIError(503, str(exc), "index_unavailable").response()
        except QueryError as exc:
            return OpenAIError(400, str(exc), "bad_question", "messages").response()
        qid = await run_in_threadpool(service.records.log_question, question, audience, answer)
        cited = citations(answer)
        content = answer.answer + footer(answer, cited)
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content, "refusal": None}}],
            "usage": usage(prompt_chars, content), "citations": cited, "farun": farun_part(answer, qid),
        }, headers={"X-Question-Id": str(qid)})

    @r.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    async def unknown(rest: str, request: Request):
        known = {"models": "GET", "chat/completions": "POST"}
        if rest in known or rest.startswith("models/"):
            return OpenAIError(405, f"/v1/{rest} 只接受 {known.get(rest, 'GET')} 请求", "method_not_allowed").response()
        return OpenAIError(404, f"没有这个接口：/v1/{rest}（可用：GET /v1/models，POST /v1/chat/completions）",
                           "not_found").response()

    return r


def _stream(service, pipeline, question: str, history, audience: str, model: str, cid: str, created: int,
            prompt_chars: int, usage_chunk: bool) -> Iterator[str]:
    """The SSE body: role, content deltas as checked text becomes available, the footer, the
    citations with finish_reason, (usage,) [DONE]. A model answer withdrawn for the offline one
    (`reset`) cannot be unsent: the stream says so and goes on with the offline answer."""
    yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
    sent = []
    try:
        for event in pipeline.stream(question, history, audience):
            if "delta" in event:
                sent.append(event["delta"])
                yield _chunk(cid, created, model, {"content": event["delta"]})
            elif "reset" in event:
                sent.append(RESET_NOTE)
                yield _chunk(cid, created, model, {"content": RESET_NOTE})
            elif "answer" in event:
                answer: Answer = event["answer"]
                qid = service.records.log_question(question, audience, answer)
                cited = citations(answer)
                tail = footer(answer, cited)
                sent.append(tail)
                yield _chunk(cid, created, model, {"content": tail})
                yield _chunk(cid, created, model, {}, "stop", citations=cited, farun=farun_part(answer, qid))
                if usage_chunk:
                    chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                             "choices": [], "usage": usage(prompt_chars, "".join(sent))}
                    yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    except Exception as exc:  # the status line is gone already: report in the stream
        error = OpenAIError(500, f"回答时出错：{exc}", "internal_error").body()
        yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def install(app: FastAPI, service, limiter=None) -> None:
    """Add the /v1 routes to the API app (before its catch-alls)."""
    app.include_router(router(service, limiter))
