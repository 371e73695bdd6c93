"""End to end: the real app (python app.py) in a subprocess over a small prebuilt index, driven by
headless Chromium (Debian's /usr/bin/chromium) with Playwright. Screenshots go to test-output/.

    python -m pytest -q -m e2e tests/e2e
"""
from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import httpx
import pytest

from e2e_app import NEEDS_CHROMIUM, ROOT, SHOTS, app_server

PASSWORD = "e2e-admin-pass-9"
PHRASE = "萤火虫创业补贴"

pytestmark = [pytest.mark.e2e, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    from bot.config import Settings
    from bot.index.builder import build

    # looked up here, not as arguments: session fixtures would otherwise load the model before the opt-in check
    small_laws_db, embedder = request.getfixturevalue("small_laws_db"), request.getfixturevalue("embedder")

    index = tmp_path_factory.mktemp("e2e-index")
    data = tmp_path_factory.mktemp("e2e-var")
    build(Settings(index_dir=index, laws_db=small_laws_db, knowledge_dir=ROOT / "knowledge", today=date(2026, 11, 29)),
          progress=False, embedder=embedder)
    with app_server(index, data, small_laws_db, PASSWORD) as url:
        yield url, data


def _docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("青禾市促进小微企业发展若干措施", 0)
    d.add_heading("一、资金支持", 1)
    d.add_paragraph(f"对首次创业的小微企业发放{PHRASE}，每户一次性补贴5000元。")
    d.save(path)
    return path


def test_resident_adviser_admin_flow(server, browser, tmp_path):
    url, data = server
    SHOTS.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)

    # 居民咨询: a streamed answer with a citation that opens to the article
    page.fill("#resident-input textarea", "公司不跟我签劳动合同怎么办")
    page.click("#resident-send")
    page.wait_for_selector("#resident-chat details summary")
    summary = page.locator("#resident-chat details summary").filter(has_text="劳动合同法").first
    summary.click()
    opened = page.locator("#resident-chat details[open]").first
    assert "效力" in opened.inner_text() and "用人单位" in opened.inner_text()
    page.screenshot(path=str(SHOTS / "e2e-resident.png"), full_page=True)

    # rate it 好 (the thumbs-up under the answer) and give a reason
    page.locator("#resident-chat").get_by_role("button", name="Like").last.click()
    page.wait_for_function("document.querySelector('#feedback-status').innerText.includes('好')")
    page.fill("#feedback-reason textarea", "说得很清楚")
    page.get_by_role("button", name="提交原因").click()
    page.wait_for_function("document.querySelector('#feedback-status').innerText.includes('原因已记录')")
    con = sqlite3.connect(data / "farun.sqlite")
    assert con.execute("SELECT rating, reason FROM feedback").fetchall() == [("good", "说得很清楚")]
    con.close()

    # 顾问检索: search and copy the answer card (question → card in three actions)
    page.get_by_role("tab", name="顾问检索").click()
    page.fill("#adviser-query textarea", "劳动合同法第八十二条")
    page.click("#adviser-go")
    page.wait_for_selector("#adviser-results .farun-hit")
    page.wait_for_function("document.querySelector('#adviser-card textarea').value.includes('法律信息卡')")
    assert "第八十二条" in page.locator("#adviser-article").inner_text()
    page.locator("#adviser-card").get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("【法律信息卡】") and "第八十二条" in copied
    page.screenshot(path=str(SHOTS / "e2e-adviser.png"), full_page=True)

    # 管理: log in, upload a DOCX, and it becomes searchable
    page.get_by_role("tab", name="管理").click()
    page.fill("#admin-user :is(input, textarea)", "admin")
    page.fill("#admin-password :is(input, textarea)", PASSWORD)
    page.click("#admin-login")
    page.locator("#admin-file input[type=file]").set_input_files(str(_docx(tmp_path / "measures.docx")))
    page.wait_for_timeout(1000)  # the file is uploaded to gradio before the button uses it
    page.click("#admin-upload")
    page.wait_for_function("document.querySelector('#admin-upload-status').innerText.includes('已加入索引')",
                           timeout=120_000)
    page.screenshot(path=str(SHOTS / "e2e-admin.png"), full_page=True)
    hits = httpx.get(f"{url}/api/search", params={"q": PHRASE, "level": "政策"}).json()
    assert any(h["law"] == "青禾市促进小微企业发展若干措施" for h in hits)

    # the same pages on a phone-sized screen
    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="en-US")
    phone.goto(url)
    phone.wait_for_selector("#resident-input textarea")
    for tab in ("居民咨询", "顾问检索", "企业政策", "管理"):
        assert phone.get_by_role("tab", name=tab).is_visible()
    phone.screenshot(path=str(SHOTS / "e2e-phone.png"), full_page=True)
    phone.close()
    ctx.close()
