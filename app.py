"""法润 FaRun web app: one server with the gradio pages at / and the API at /api (docs: /api/docs).

    python app.py [--host 127.0.0.1] [--port 7860]
    python app.py --workers 2 --port 7860     # the API (/api, /v1, /mcp) in 2 worker processes

On first start the index is built from the shipped knowledge (a progress bar in the console,
about 3 minutes on 2 cores); later starts open it in seconds. Configuration: bot/config.py
(FARUN_*), FARUN_DATA_DIR for the SQLite records and uploads (default ./var), FARUN_DATABASE_URL
for PostgreSQL records, FARUN_ADMIN_USER / FARUN_ADMIN_PASSWORD for the 管理 page and the admin API.

With --workers N, uvicorn runs N processes on the one port, each with its own Service (model,
FAISS index loaded, BM25 memory-mapped) over the shared index folder and records database, where
logins and rate limits live, so they hold whichever process a request reaches; an index change
(upload, published card) made on one is picked up by the others at their next request. The
gradio pages are not served there: gradio keeps its queue and page sessions in the memory of one
process, so a page whose requests reach two processes breaks. Serve them from one more, single
process (`python app.py --port 7861`, same index and records) or behind a proxy with sticky
sessions.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import socket
import sys

from bot.admin import Service
from bot.api import create_app
from bot.config import Settings
from bot.database import DatabaseUnavailable
from bot.index import layout
from bot.index.builder import build
from bot.index.second import fill_in_background
from bot.sources import LoadError


def ensure_index(settings: Settings) -> None:
    """Build the index when there is none (or it cannot be used), printing progress."""
    try:
        layout.Manifest.load(layout.current(settings.index_dir))
        return
    except layout.IndexUnavailable as exc:
        print(f"索引构建中：{exc}", flush=True)
    manifest = build(settings, progress=True)
    print(f"索引已建成：{manifest.units} 条，{manifest.documents} 个文件。", flush=True)


def prepared_service(settings: Settings) -> Service:
    """The Service, with an index it can use (rebuilt once if it is of another model or format)
    and the uploads and published cards a full rebuild left out put back."""
    service = Service(settings)
    if not service.ready:  # an index of another model or format: rebuild once
        print(f"索引不可用（{service.error}），重新构建……", flush=True)
        build(settings, progress=True)
        service.reload()
    if service.ready and (n := service.restore_uploads()):
        print(f"已把 {n} 个上传的文件重新加入索引。", flush=True)
    if service.ready and (n := service.restore_cards()):
        print(f"已把 {n} 张顾问发布的问答卡片重新加入索引。", flush=True)
    return service


def make_server_app(settings: Settings):
    """The FastAPI app with the gradio pages mounted at /; returns (app, service)."""
    import gradio as gr

    from ui.pages import CSS, build_blocks

    service = prepared_service(settings)
    api = create_app(service=service)
    blocks = build_blocks(service)
    app = gr.mount_gradio_app(api, blocks, path="/", css=CSS, theme=gr.themes.Soft(), ssr_mode=False,
                              footer_links=["api"], show_error=True)
    return app, service


def api_worker():
    """The app of one `--workers N` process (uvicorn calls it in each): the API, /v1 and /mcp over
    a Service of its own on the shared index and records."""
    return create_app(service=Service(Settings.load()))


def _prepare(settings: Settings) -> None:
    """Run in a process of its own before the workers start: the restores happen once, and the
    supervising process never loads the model."""
    try:
        prepared_service(settings)
    except DatabaseUnavailable as exc:
        print(f"错误：{exc}", file=sys.stderr)
        sys.exit(2)


def serve_workers(config) -> None:
    """What `uvicorn.run` does for workers > 1, with TCP_NODELAY on the shared socket. uvicorn binds
    it with protocol 0, so asyncio does not set TCP_NODELAY on the connections accepted from it (it
    does for IPPROTO_TCP sockets only) and every response waited for the client's delayed ACK: a
    40 ms floor per request with --workers 2, 80 ms p50 for one client against 30 ms in one process
    (2026-12-04). Linux hands the listening socket's TCP_NODELAY on to each accepted connection."""
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="法润 FaRun 网页版与 API")
    p.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
    p.add_argument("--port", type=int, default=7860, help="端口（默认 7860）")
    p.add_argument("--index-dir", help="索引目录（默认 ./index 或 FARUN_INDEX_DIR）")
    p.add_argument("--workers", type=int, default=1,
                   help="工作进程数（默认 1：网页与 API；大于 1 时只提供 API，网页请另起单进程，见文件头说明）")
    args = p.parse_args(argv)
    if not 1 <= args.workers <= 64:
        print("错误：--workers 须在 1–64 之间（一般取 CPU 核数）", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    if args.index_dir:  # the worker processes read their settings from the environment
        os.environ["FARUN_INDEX_DIR"] = args.index_dir
    try:
        settings = Settings.load()
    except ValueError as exc:  # a setting that cannot be read (FARUN_REGION, FARUN_TODAY …): say which
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    try:
        ensure_index(settings)
    except (LoadError, OSError, ValueError) as exc:
        print(f"索引构建失败：{exc}（网页仍会启动，但无法回答问题）", file=sys.stderr)
    import uvicorn

    # the reranker's second encoder (bot.index.second) embeds the index in the background, one
    # thread: answers start at once and rank better once its vectors are there (over an hour on one core)
    if fill_in_background(settings):
        print(f"第二编码器 {settings.second_model} 在后台计算向量（完成前按第一编码器排序）", flush=True)
    if args.workers > 1:
        prepare = multiprocessing.get_context("spawn").Process(target=_prepare, args=(settings,))
        prepare.start()
        prepare.join()
        if prepare.exitcode:
            return 2
        print(f"法润 API 已启动（{args.workers} 个工作进程）：http://{args.host}:{args.port}/api/docs"
              "  （网页不在多进程模式下提供：另起 python app.py --port 其他端口）", flush=True)
        serve_workers(uvicorn.Config("app:api_worker", factory=True, workers=args.workers, host=args.host,
                                     port=args.port, log_level="warning", access_log=False))
        return 0
    try:
        app, service = make_server_app(settings)
    except DatabaseUnavailable as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    if not service.auth.enabled:
        print(service.auth.reason, file=sys.stderr)
    print(f"法润已启动：http://{args.host}:{args.port}/  （API 文档：/api/docs）", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)  # nothing logs requests
    return 0


if __name__ == "__main__":
    sys.exit(main())
