"""法润 FaRun web app: one server with the gradio pages at / and the API at /api (docs: /api/docs).

    python app.py [--host 127.0.0.1] [--port 7860]

On first start the index is built from the shipped knowledge (a progress bar in the console,
about 3 minutes on 2 cores); later starts open it in seconds. Configuration: bot/config.py
(FARUN_*), FARUN_DATA_DIR for the SQLite records and uploads (default ./var),
FARUN_ADMIN_USER / FARUN_ADMIN_PASSWORD for the 管理 page and the admin API.
"""
from __future__ import annotations

import argparse
import logging
import sys

from bot.admin import Service
from bot.api import create_app
from bot.config import Settings
from bot.index import layout
from bot.index.builder import build
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


def make_server_app(settings: Settings):
    """The FastAPI app with the gradio pages mounted at /; returns (app, service)."""
    import gradio as gr

    from ui.pages import CSS, build_blocks

    service = Service(settings)
    if not service.ready:  # an index of another model or format: rebuild once
        print(f"索引不可用（{service.error}），重新构建……", flush=True)
        build(settings, progress=True)
        service.reload()
    if service.ready and (n := service.restore_uploads()):
        print(f"已把 {n} 个上传的文件重新加入索引。", flush=True)
    if service.ready and (n := service.restore_cards()):
        print(f"已把 {n} 张顾问发布的问答卡片重新加入索引。", flush=True)
    api = create_app(service=service)
    blocks = build_blocks(service)
    app = gr.mount_gradio_app(api, blocks, path="/", css=CSS, theme=gr.themes.Soft(), ssr_mode=False,
                              footer_links=["api"], show_error=True)
    return app, service


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="法润 FaRun 网页版与 API")
    p.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
    p.add_argument("--port", type=int, default=7860, help="端口（默认 7860）")
    p.add_argument("--index-dir", help="索引目录（默认 ./index 或 FARUN_INDEX_DIR）")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.load(index_dir=args.index_dir)
    try:
        ensure_index(settings)
    except (LoadError, OSError, ValueError) as exc:
        print(f"索引构建失败：{exc}（网页仍会启动，但无法回答问题）", file=sys.stderr)
    app, service = make_server_app(settings)
    if not service.auth.enabled:
        print(service.auth.reason, file=sys.stderr)
    import uvicorn

    print(f"法润已启动：http://{args.host}:{args.port}/  （API 文档：/api/docs）", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
