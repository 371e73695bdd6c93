"""End to end, the closed loop with a grid legal adviser in headless Chromium: a question the bot
cannot answer from a card → hand-over with a grid → the adviser logs in, sees it, replies (a
fabricated article is flagged, nothing is sent) → the resident reads the reply by code and rates
it → the adviser drafts a card → the admin publishes it → the same question now answers from the
new card; the demand chart and CSV show the ticket. Screenshots go to test-output/.

    python -m pytest -q -m e2e tests/e2e/test_loop.py
"""
from __future__ import annotations

from datetime import date

import httpx
import pytest

from e2e_app import NEEDS_CHROMIUM, ROOT, SHOTS, app_server

PASSWORD = "e2e-loop-admin-pass"
ADVISER_PW = "e2e-loop-adviser-pw"
QUESTION = "外卖骑手被平台封号了怎么办"
FABRICATED = "按照《中华人民共和国劳动合同法》第九百九十九条，平台必须赔偿。"
REPLY = ("骑手与平台构成劳动关系的，平台解除合同要符合《中华人民共和国劳动合同法》第三十九条的规定；"
         "不构成劳动关系的，可以按合作协议主张权利，也可以拨打12348咨询。")
SCOPE = "适用：外卖骑手被平台封号、停止派单；不适用：骑手自己交通违章被处罚"

pytestmark = [pytest.mark.e2e, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    from bot.config import Settings
    from bot.index.builder import build
    from bot.loop.accounts import Accounts
    from bot.records import Records

    small_laws_db, embedder = request.getfixturevalue("small_laws_db"), request.getfixturevalue("embedder")
    index, data = tmp_path_factory.mktemp("e2e-loop-index"), tmp_path_factory.mktemp("e2e-loop-var")
    build(Settings(index_dir=index, laws_db=small_laws_db, knowledge_dir=ROOT / "knowledge", today=date(2026, 11, 29)),
          progress=False, embedder=embedder)
    Accounts(Records(data / "farun.sqlite")).add("zhang", "adviser", ADVISER_PW, "1-5")
    with app_server(index, data, small_laws_db, PASSWORD, FARUN_GRIDS_FILE=str(ROOT / "docs" / "grids.example.yaml")) as url:
        yield url, data


def _pick(page, element_id: str, option: str) -> None:
    """Choose an option of a gradio dropdown."""
    page.locator(f"#{element_id} input").click()
    page.get_by_role("option", name=option).first.click()


def _wait_text(page, selector: str, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function("([s, t]) => { const e = document.querySelector(s); return e && e.innerText.includes(t); }",
                           arg=[selector, text], timeout=timeout)


def _ask(page, question: str) -> None:
    page.fill("#resident-input textarea", question)
    page.click("#resident-send")
    page.wait_for_function("document.querySelectorAll('#resident-chat .message').length > 0")
    page.wait_for_function("!document.querySelector('#resident-chat').innerText.trim().endsWith('……')")
    page.wait_for_timeout(1500)


def test_the_closed_loop(server, browser):
    url, data = server
    SHOTS.mkdir(exist_ok=True)
    before = httpx.post(f"{url}/api/ask", json={"question": QUESTION}).json()
    assert before["led_by"] != "card"  # no card answers it yet

    resident = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
    resident.set_default_timeout(60_000)
    resident.goto(url)
    _ask(resident, QUESTION)
    # 转给法律顾问: pick the grid, leave a contact, get a code
    box = resident.locator("#handover-box")
    if not resident.locator("#handover-send").is_visible():
        box.get_by_text("转给法律顾问（由您所在网格的法律顾问本人答复）").click()
    _pick(resident, "handover-grid", "青禾社区 · 第2网格")
    resident.fill("#handover-contact textarea, #handover-contact input", "13812345678")
    resident.click("#handover-send")
    _wait_text(resident, "#handover-result", "查询码")
    code = resident.locator("#handover-result code").inner_text().strip()
    assert len(code.replace("-", "")) == 12
    resident.screenshot(path=str(SHOTS / "e2e-loop-handover.png"), full_page=True)

    # 顾问工作台: log in, see the ticket, a fabricated article is flagged, the real reply is sent
    adviser = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
    adviser.set_default_timeout(60_000)
    adviser.goto(url)
    adviser.get_by_role("tab", name="顾问工作台").click()
    adviser.fill("#wb-user :is(input, textarea)", "zhang")
    adviser.fill("#wb-password :is(input, textarea)", ADVISER_PW)
    adviser.click("#wb-login")
    _wait_text(adviser, "#wb-queue", QUESTION)
    adviser.locator("#wb-pick input").click()
    adviser.get_by_role("option").filter(has_text=QUESTION).first.click()
    _wait_text(adviser, "#wb-detail", "法润的回答")
    assert "13812345678" in adviser.locator("#wb-detail").inner_text()  # the grid's adviser sees the contact
    adviser.fill("#wb-reply textarea", FABRICATED)
    adviser.click("#wb-send")
    _wait_text(adviser, "#wb-check-result", "无法核实")
    assert "第九百九十九条" in adviser.locator("#wb-check-result").inner_text()
    assert httpx.get(f"{url}/api/tickets/{code}").json()["replies"] == []  # nothing was sent
    adviser.fill("#wb-reply textarea", REPLY)
    adviser.click("#wb-check")
    _wait_text(adviser, "#wb-check-result", "引用均已核实")
    adviser.click("#wb-send")
    _wait_text(adviser, "#wb-check-result", "回复已发送")
    adviser.screenshot(path=str(SHOTS / "e2e-loop-workbench.png"), full_page=True)

    # the resident reads the reply by code and rates it 好
    resident.locator("#lookup-box").get_by_text("查看法律顾问的回复（凭查询码）").click()
    resident.fill("#lookup-code textarea, #lookup-code input", code)
    resident.click("#lookup-go")
    _wait_text(resident, "#lookup-result", "第三十九条")
    assert "13812345678" not in resident.locator("#lookup-result").inner_text()
    resident.click("#lookup-good")
    _wait_text(resident, "#lookup-result", "您的评价：好")

    # the adviser turns the reply into a draft card
    adviser.click("#wb-draft")
    adviser.wait_for_function("(document.querySelector('#wb-card-questions textarea') || {value: ''}).value.length > 0")
    adviser.fill("#wb-card-scope :is(input, textarea)", SCOPE)
    adviser.fill("#wb-card-questions textarea", f"{QUESTION}\n骑手账号被平台封了能维权吗")
    adviser.click("#wb-card-save")
    _wait_text(adviser, "#wb-card-status", "可以发布")

    # the admin publishes it
    admin = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
    admin.set_default_timeout(60_000)
    admin.goto(url)
    admin.get_by_role("tab", name="管理").click()
    admin.fill("#admin-user :is(input, textarea)", "admin")
    admin.fill("#admin-password :is(input, textarea)", PASSWORD)
    admin.click("#admin-login")
    admin.get_by_role("tab", name="卡片审核").click()
    admin.click("#admin-cards-refresh")
    _wait_text(admin, "#admin-cards", QUESTION)
    admin.locator("#admin-card-pick input").click()
    admin.get_by_role("option").filter(has_text=QUESTION).first.click()
    _wait_text(admin, "#admin-card-preview", "适用范围")
    admin.click("#admin-publish")
    _wait_text(admin, "#admin-card-status", "已发布", timeout=120_000)
    admin.screenshot(path=str(SHOTS / "e2e-loop-publish.png"), full_page=True)

    # the same question now answers from the new card
    _ask(resident, QUESTION)
    assert REPLY[:20] in resident.locator("#resident-chat").inner_text()
    after = httpx.post(f"{url}/api/ask", json={"question": QUESTION}).json()
    intro, first = after["answer"].split("\n")[:2]  # the card's situation first, then its answer
    assert after["led_by"] == "card" and intro.startswith("以下是法润普法问答「") and first.startswith(REPLY[:20])

    # the demand chart and CSV show the ticket
    admin.get_by_role("tab", name="需求分析").click()
    admin.click("#admin-analytics-refresh")
    _wait_text(admin, "#admin-demand-grid", "青禾社区 · 第2网格")
    admin.wait_for_selector("#admin-demand-plot canvas, #admin-demand-plot svg")
    admin.screenshot(path=str(SHOTS / "e2e-loop-demand.png"), full_page=True)
    csv = httpx.get(f"{url}/api/admin/demand.csv", params={"by": "grid"}, auth=("admin", PASSWORD)).text
    assert "青禾社区 · 第2网格,1" in csv and "13812345678" not in csv
    for p in (resident, adviser, admin):
        p.close()
