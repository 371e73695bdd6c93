"""The pages of the web app (gradio Blocks): 居民咨询 (with 转给法律顾问 and 查看回复), 顾问检索,
顾问工作台 (the grid advisers' queue, replies checked for citations, draft cards), 企业政策, 管理
(uploads, the demand list, card review, adviser accounts).

Every handler calls the library through a `bot.admin.Service` and renders with ui.render; no
retrieval logic lives here.
"""
from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import gradio as gr
import pandas as pd

from bot.admin import UPLOAD_SUFFIXES, Service, UploadError, browse_policies
from bot.answer.handover import OFFER as HANDOVER_OFFER, REASONS as HANDOVER_REASONS, after_rating, asks_to_clarify
from bot.loop.accounts import ROLES, AccountError, grids_text
from bot.loop.demand import GROUPINGS, demand as demand_list, demand_csv as demand_list_csv
from bot.loop.tickets import STATUSES as TICKET_STATUSES, LoopError
from bot.index.layout import IndexUnavailable
from bot.records import TOPICS
from bot.retrieval.search import Filters, QueryError
from bot.sources import LoadError
from bot.units import CURRENT, EXPIRED, LEVELS, PENDING, POLICY_LEVEL, POLICY_TOPICS, STATUSES

from . import render

STARTERS = [
    ("劳动用工", "公司不跟我签劳动合同怎么办"),
    ("劳动用工", "老板拖欠工资不给怎么办"),
    ("婚姻家庭", "协议离婚需要什么条件"),
    ("消费维权", "网购的东西不想要了能七天无理由退货吗"),
    ("房屋租赁", "租房到期房东不退押金怎么办"),
    ("借贷纠纷", "借钱不还，借条过了几年还能要吗"),
    ("交通事故", "被车撞了对方不赔钱怎么办"),
    ("邻里纠纷", "楼上邻居家漏水把我家泡了谁赔"),
    ("继承", "父母没有留遗嘱，遗产怎么分"),
]
VALIDITY = {"全部": None, "现行有效": [CURRENT], "已失效": [EXPIRED, "已废止", "历史版本"], "尚未施行": [PENDING]}
STATUS_CHOICES = [("现行有效（默认）", "current"), ("全部", "all")] + [(s, s) for s in STATUSES[1:]]
ALL = "全部"

CSS = """
.farun-notice {border-left: 4px solid #d97706; padding: 8px 12px; background: rgba(217,119,6,.08); border-radius: 6px}
.farun-hit {border-bottom: 1px solid var(--border-color-primary); padding: 8px 0}
.farun-hit-title {font-weight: 600}
.farun-hit-meta {font-size: .85em; opacity: .75; margin: 2px 0 4px}
.farun-exact {font-size: .75em; background: #2563eb; color: #fff; padding: 1px 6px; border-radius: 8px}
.farun-starters button {white-space: normal !important; text-align: left}
.farun-policy-columns {display: flex; flex-wrap: wrap; gap: 16px}
.farun-policy-columns > div {flex: 1 1 300px; min-width: 0}
.farun-policy-interpretation {border-left: 4px solid #2563eb; padding-left: 12px}
mark {background: #fde68a; color: inherit; padding: 0 1px}
details > summary {cursor: pointer; font-weight: 600; margin: 4px 0}
@media (max-width: 640px) { .farun-header h1 {font-size: 1.3em} }
"""


def corpus_line(service: Service) -> str:
    if not service.ready:
        return f"⚠️ 知识库暂不可用：{service.error}"
    s = service.kb.stats()
    names = {"laws.db": "国家法律库", "knowledge": "随附问答与政策卡片", "cards": "顾问审核发布的问答卡片"}
    sources = "，".join(f"{names.get(k, k)} {v} 条" for k, v in s["sources"].items())
    line = (f"本站依据的知识库：共 {s['units']} 条（{sources}；{s['documents']} 个文件），"
            f"其中现行有效 {s['current_units']} 条；收录文本最新发布于 {s['newest_version'] or '—'}，"
            f"效力按 {s['as_of']} 计算，索引建于 {s['built'].replace('T', ' ')}。")
    levels = "，".join(f"{level} {n}" for level, n in s["units_by_level"].items())
    by_region = "，".join(f"{region} {n}" for region, n in s["units_by_region"].items())
    line += f"按层级：{levels}；按地区：{by_region}。"
    if s["region"]:
        line += f"本站地区：{s['region']}（本地区及上级的地方性法规优先，其他地区的需按地区筛选）。"
    synced = "；".join(f"{x['source']} {(x['last_ok'] or '未成功').replace('T', ' ')}"
                       + ("" if x["ok"] else "（最近一次失败）") for x in s["syncs"])
    return line + (f"最近同步：{synced}。" if synced else "")


def _client(request) -> str:
    return (request.client.host if request is not None and request.client else "") or "-"


def _turns(pairs: list) -> list[tuple[str, str]]:
    return [(q, a) for q, a in pairs][-6:]


# ---- 居民咨询 ---------------------------------------------------------------------------------------
def resident_page(service: Service) -> None:
    gr.Markdown(
        "<div class='farun-notice'>法润给出的是<b>法律信息，不是法律意见</b>。遇到具体纠纷，请咨询律师，"
        "或拨打 <b>12348</b> 公共法律服务热线（免费法律咨询、法律援助申请）。紧急情况请拨打 110。</div>")
    chat = gr.Chatbot(label="法润", show_label=False, height="60vh", min_height=320, buttons=["copy"], elem_id="resident-chat",
                      placeholder="您好，我是法润。请用大白话说说您遇到的事，我会告诉您法律怎么规定、可以找谁帮忙。")
    with gr.Row(equal_height=True):
        msg = gr.Textbox(show_label=False, placeholder="例如：公司不跟我签劳动合同怎么办", scale=5, elem_id="resident-input",
                         autofocus=True, max_length=2000)
        send = gr.Button("提问", variant="primary", scale=1, min_width=80, elem_id="resident-send")
    with gr.Row(equal_height=True):
        reason = gr.Textbox(show_label=False, placeholder="在回答下方点赞（好）或点踩（差）后，可在这里补充原因（可选）",
                            scale=5, elem_id="feedback-reason")
        send_reason = gr.Button("提交原因", scale=1, min_width=80, size="sm")
    rated = gr.Markdown(elem_id="feedback-status")
    # readings of the last question when no answer fitted it: choosing one asks it
    readings = gr.Radio([], label="您问的是哪一种情况？点选后接着问", visible=False, elem_id="resident-readings")
    with gr.Accordion("常见问题（点击直接提问）", open=True):
        with gr.Row(elem_classes="farun-starters"):
            starters = [(gr.Button(f"{topic}｜{q}", size="sm", min_width=200), q) for topic, q in STARTERS]
    turns, qids, last_feedback = gr.State([]), gr.State({}), gr.State(None)
    # the last answer (question, Answer, question id) for the hand-over; how often the bot asked to clarify
    last, clarified, why = gr.State(None), gr.State(0), gr.State("asked")
    offer = gr.Markdown(visible=False, elem_id="handover-offer")
    with gr.Accordion("转给法律顾问（由您所在网格的法律顾问本人答复）", open=False, elem_id="handover-box") as handover_box:
        gr.Markdown("把刚才的问题、对话和法润的回答转给网格法律顾问。联系方式可以不留；留下的只有本网格的顾问能看到。"
                    "提交后会得到一个<b>查询码</b>，凭它在下方查看回复。")
        with gr.Row(equal_height=True):
            grid = gr.Dropdown(service.grids.choices(), label="您所在的社区和网格", elem_id="handover-grid", scale=3)
            contact = gr.Textbox(label="联系方式（可选）", placeholder="电话或微信", max_length=60, elem_id="handover-contact",
                                 scale=2)
            hand = gr.Button("转给法律顾问", variant="primary", elem_id="handover-send", scale=1, min_width=120)
        handed = gr.Markdown(elem_id="handover-result")
    with gr.Accordion("查看法律顾问的回复（凭查询码）", open=False, elem_id="lookup-box"):
        with gr.Row(equal_height=True):
            code = gr.Textbox(show_label=False, placeholder="查询码，如 ABCD-EFGH-JKMN", max_length=40, scale=4,
                              elem_id="lookup-code")
            look = gr.Button("查看", scale=1, min_width=80, elem_id="lookup-go")
        found = gr.Markdown(elem_id="lookup-result")
        with gr.Row(equal_height=True):
            rate_reason = gr.Textbox(show_label=False, placeholder="评价原因（可选）", max_length=500, scale=4,
                                     elem_id="lookup-reason")
            good = gr.Button("好", size="sm", min_width=60, elem_id="lookup-good")
            bad = gr.Button("差", size="sm", min_width=60, elem_id="lookup-bad")

    def offered(reason: str):
        text = f"<div class='farun-notice'>{HANDOVER_REASONS[reason]}。{HANDOVER_OFFER}</div>"
        return gr.update(value=text, visible=True), gr.update(open=True), reason

    def respond(message: str, history: list, pairs: list, ids: dict, asked: int, previous, reason: str):
        message = (message or "").strip()
        hidden = gr.update(choices=[], value=None, visible=False)
        keep = (previous, gr.update(), gr.update(), reason)  # states are passed through, never "updated"
        if not message:
            yield "", history, pairs, ids, hidden, asked, *keep
            return
        history = history + [{"role": "user", "content": message}, {"role": "assistant", "content": "……"}]
        yield "", history, pairs, ids, hidden, asked, *keep
        text, options = "", hidden
        try:
            for event in service.pipeline.stream(message, _turns(pairs), "resident", clarified=asked):
                extra = keep
                if "delta" in event:
                    text += event["delta"]
                elif "reset" in event:
                    text = ""
                elif "answer" in event:
                    answer = event["answer"]
                    text = render.answer_markdown(answer, service.kb)
                    qid = service.records.log_question(message, "resident", answer)
                    ids = ids | {len(history) - 1: qid}
                    extra = ((message, answer, qid, _turns(pairs)),) + \
                        (offered(answer.handover) if answer.handover else (gr.update(visible=False), gr.update(), "asked"))
                    pairs = pairs + [(message, answer.answer)]
                    asked += int(asks_to_clarify(answer))
                    if answer.clarify:
                        options = gr.update(choices=[(r.label, r.question) for r in answer.clarify], value=None,
                                            visible=True)
                history[-1] = {"role": "assistant", "content": text or "……"}
                yield "", history, pairs, ids, options, asked, *extra
        except IndexUnavailable as exc:
            history[-1] = {"role": "assistant", "content": f"抱歉，知识库暂不可用：{exc}"}
            yield "", history, pairs, ids, hidden, asked, *keep

    ins = [msg, chat, turns, qids, clarified, last, why]
    outs = [msg, chat, turns, qids, readings, clarified, last, offer, handover_box, why]
    msg.submit(respond, ins, outs)
    send.click(respond, ins, outs)
    readings.input(lambda q: q, readings, msg).then(respond, ins, outs)
    for button, question in starters:
        button.click(lambda q=question: q, None, msg).then(respond, ins, outs)

    def like(data: gr.LikeData, ids: dict, reason: str):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        qid = ids.get(index, ids.get(str(index)))
        if data.liked is None or data.liked == "":
            return None, "已取消评价。", gr.update(), gr.update(), reason
        rating = "good" if data.liked is True else "bad"
        fid = service.records.add_feedback(qid, rating)
        done = f"已记录您的评价：{'好' if rating == 'good' else '差'}。谢谢！可以在上方补充原因。"
        if after_rating(rating):
            return fid, done, *offered(after_rating(rating))
        return fid, done, gr.update(), gr.update(), reason

    chat.like(like, [qids, why], [last_feedback, rated, offer, handover_box, why])

    def hand_over(asked_last, grid_id, contact_text, reason):
        if not asked_last:
            raise gr.Error("请先在上面提一个问题，再把它转给法律顾问")
        question, answer, qid, history = asked_last
        try:
            view = service.desk.create(question, history, grid_id, contact_text or "", answer, reason or "asked", qid)
        except LoopError as exc:
            raise gr.Error(exc.message) from exc
        return (f"✅ 已转给 {render.esc(view.grid_label)} 的法律顾问。您的<b>查询码</b>：<code>{view.code}</code>"
                "（请记下或截图；凭它在下方“查看法律顾问的回复”里查看回复并评价）"), view.code

    hand.click(hand_over, [last, grid, contact, why], [handed, code])

    def lookup(text, request: gr.Request):
        try:
            service.lookups(_client(request))
            return render.ticket_markdown(service.desk.view(text))
        except LoopError as exc:
            raise gr.Error(exc.message) from exc

    def rate(text, rating, reason_text, request: gr.Request):
        try:
            service.lookups(_client(request))
            view = service.desk.rate(text, rating, reason_text or "")
        except LoopError as exc:
            raise gr.Error(exc.message) from exc
        return render.ticket_markdown(view), ""

    look.click(lookup, code, found)
    code.submit(lookup, code, found)
    def rate_good(text, reason_text, request: gr.Request):
        return rate(text, "good", reason_text, request)

    def rate_bad(text, reason_text, request: gr.Request):
        return rate(text, "bad", reason_text, request)

    good.click(rate_good, [code, rate_reason], [found, rate_reason])
    bad.click(rate_bad, [code, rate_reason], [found, rate_reason])

    def add_reason(text: str, fid):
        if not fid:
            return text, "请先在回答下方点赞（好）或点踩（差），评价一条回答。"
        if not (text or "").strip():
            return text, "原因是空的。"
        service.records.set_reason(fid, text)
        return "", "原因已记录，谢谢！"

    send_reason.click(add_reason, [reason, last_feedback], [reason, rated])
    reason.submit(add_reason, [reason, last_feedback], [reason, rated])
    return grid


# ---- 法律顾问检索 -----------------------------------------------------------------------------------
def adviser_page(service: Service) -> None:
    gr.Markdown("输入群众的问题或精确引用（如“民法典第1079条”），点“检索并生成答复卡”，再一键复制答复卡。")
    with gr.Row(equal_height=True):
        query = gr.Textbox(show_label=False, placeholder="问题或引用，如：房东不退押金 / 劳动合同法第八十二条", scale=5,
                           elem_id="adviser-query", max_length=2000)
        go = gr.Button("检索并生成答复卡", variant="primary", scale=1, min_width=120, elem_id="adviser-go")
    with gr.Accordion("筛选", open=False):
        with gr.Row():
            level = gr.Dropdown(list(LEVELS), multiselect=True, label="层级", value=[])
            law = gr.Textbox(label="法律名称或简称", placeholder="如：民法典")
            status = gr.Dropdown(STATUS_CHOICES, value="current", label="效力")
            region = gr.Textbox(label="地区", placeholder="如：全国、山东省")
    with gr.Row():
        with gr.Column(scale=2, min_width=300):  # first: on a phone the card comes before the long list
            card = gr.Textbox(label="答复卡（点右上角按钮一键复制）", lines=12, max_lines=30, buttons=["copy"],
                              interactive=False, elem_id="adviser-card")
            with gr.Accordion("回答详情与引用原文", open=False):
                detail = gr.Markdown(line_breaks=True)
        with gr.Column(scale=3, min_width=300):
            pick = gr.Dropdown([], label="查看条文（含章节和相邻条文）", elem_id="adviser-pick", interactive=True)
            viewer = gr.Markdown(elem_id="adviser-article")
            gr.Markdown("#### 检索结果")
            results = gr.HTML(elem_id="adviser-results")
    def run(q: str, levels, law_name, status_value, region_name):
        q = (q or "").strip()
        if not q:
            raise gr.Error("请先输入问题或引用")
        kb = service.kb
        try:
            f = Filters.parse(level=levels, law=law_name, status=status_value, region=region_name)
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc
        # one search with the adviser's filters: the card cites only what the list shows
        *_, last = service.pipeline.stream(q, audience="adviser", filters=f)
        answer, hits = last["answer"], last["hits"]
        service.records.log_question(q, "adviser", answer)
        uids = [h.unit.uid for h in hits]
        choices = [(render.hit_label(i, h), h.unit.uid) for i, h in enumerate(hits, 1)]
        first = show(uids[0]) if uids else ""
        return (render.hits_html(hits, q), gr.update(choices=choices, value=uids[0] if uids else None), first,
                answer.card or answer.answer, render.answer_markdown(answer, kb))

    def show(uid: str | None):
        if not uid:
            return ""
        units = service.kb.neighbours(uid, 2, 2)  # with today's status, as the search shows them
        unit = next((u for u in units if u.uid == uid), None)
        if unit is None:
            return "该条文已不在索引中。"
        return render.article_markdown(unit, units)

    inputs = [query, level, law, status, region]
    outputs = [results, pick, viewer, card, detail]
    go.click(run, inputs, outputs)
    query.submit(run, inputs, outputs)
    pick.input(show, pick, viewer)


# ---- 顾问工作台 -------------------------------------------------------------------------------------
QUEUE_HEADERS = ["编号", "网格", "状态", "等待", "问题", "原因"]
CARD_FIELDS = ("title", "questions", "answer", "articles", "scope", "topic")


def _session(service: Service, token: str, admin: bool = False):
    session = service.accounts.session(token)
    if session is None or (admin and not session.is_admin):
        raise gr.Error("请先登录（登录已过期时请重新登录）")
    return session


def _queue_frame(items) -> pd.DataFrame:
    return pd.DataFrame([[q.id, q.grid_label, q.status, q.age, q.question, render.HANDOVER_NOTES.get(q.reason, q.reason)]
                         for q in items], columns=QUEUE_HEADERS)


def _card_values(fields: dict) -> list:
    lines = lambda v: "\n".join(v) if isinstance(v, list) else (v or "")  # noqa: E731
    return [fields.get("title", ""), lines(fields.get("questions")), fields.get("answer", ""),
            lines(fields.get("articles")), fields.get("scope", ""), fields.get("topic", "")]


def _login_box(title: str, prefix: str):
    """A login form (shown until a login succeeds): its column, user and password boxes, button, message."""
    with gr.Column(visible=True) as box:
        gr.Markdown(title)
        user = gr.Textbox(label="用户名", elem_id=f"{prefix}-user")
        password = gr.Textbox(label="密码", type="password", elem_id=f"{prefix}-password")
        login = gr.Button("登录", variant="primary", elem_id=f"{prefix}-login")
        message = gr.Markdown()
    return box, user, password, login, message


def workbench_page(service: Service) -> None:
    token = gr.State("")
    login_box, user, password, login, login_msg = _login_box(
        "### 网格法律顾问登录\n账号由管理员创建（管理页“顾问账号”，或 `python -m bot users add 姓名 --role adviser --grids 1-5`）。", "wb")
    with gr.Column(visible=False) as panel:
        who = gr.Markdown(elem_id="wb-who")
        with gr.Row(equal_height=True):
            status = gr.CheckboxGroup(list(TICKET_STATUSES), value=["待处理", "已回复"], label="状态", scale=3)
            refresh = gr.Button("刷新", scale=1, min_width=80, elem_id="wb-refresh")
        queue = gr.Dataframe(headers=QUEUE_HEADERS, interactive=False, wrap=True, max_height=300, elem_id="wb-queue",
                             label="本人负责网格的转办单（最早的在前）")
        pick = gr.Dropdown([], label="打开转办单", elem_id="wb-pick", interactive=True)
        with gr.Row():
            with gr.Column(scale=3, min_width=320):
                detail = gr.Markdown(elem_id="wb-detail")
            with gr.Column(scale=2, min_width=300):
                reply = gr.Textbox(label="给居民的回复（大白话；引用条文写作《法律名称》第N条，发送前逐条核实）", lines=8,
                                   max_lines=20, max_length=4000, elem_id="wb-reply")
                with gr.Row():
                    check = gr.Button("检查引用", elem_id="wb-check")
                    send = gr.Button("发送回复", variant="primary", elem_id="wb-send")
                    close = gr.Button("关闭转办单", variant="stop", size="sm", elem_id="wb-close")
                checked = gr.Markdown(elem_id="wb-check-result")
                draft_btn = gr.Button("生成草稿卡片", elem_id="wb-draft")
        with gr.Accordion("问答卡片草稿（管理员审核后发布进知识库）", open=False) as draft_box:
            draft_id = gr.State(None)
            title = gr.Textbox(label="标题", max_length=60, elem_id="wb-card-title")
            questions = gr.Textbox(label="问法（每行一种，至少两种）", lines=3, elem_id="wb-card-questions")
            answer = gr.Textbox(label="回答（200 字以内）", lines=4, elem_id="wb-card-answer")
            articles = gr.Textbox(label="法律依据（每行一条，如 中华人民共和国劳动合同法第八十二条）", lines=2,
                                  elem_id="wb-card-articles")
            scope = gr.Textbox(label="适用范围：适用：……；不适用：……", elem_id="wb-card-scope")
            topic = gr.Textbox(label="主题", elem_id="wb-card-topic")
            save = gr.Button("保存草稿", variant="primary", elem_id="wb-card-save")
            draft_msg = gr.Markdown(elem_id="wb-card-status")
        with gr.Accordion("检索工具：条文与问题", open=False):
            with gr.Row(equal_height=True):
                law = gr.Textbox(label="法律名称或简称", placeholder="如：劳动合同法", scale=2)
                number = gr.Textbox(label="条号", placeholder="如：82", scale=1)
                find = gr.Button("查条文", scale=1, min_width=80)
            article_view = gr.Markdown()
            with gr.Row(equal_height=True):
                query = gr.Textbox(show_label=False, placeholder="检索：如 试用期辞退 补偿", scale=4, max_length=2000)
                search = gr.Button("检索", scale=1, min_width=80)
            hits = gr.HTML()

    def load_queue(tok, statuses):
        session = _session(service, tok)
        items = service.desk.queue(session, list(statuses or []) or None)
        choices = [(f"{q.id} · {q.grid_label} · {q.status} · {q.question[:30]}", q.id) for q in items]
        return _queue_frame(items), gr.update(choices=choices)

    def do_login(u, p, statuses):
        session = service.accounts.login(u or "", p or "")
        if session is None:
            return "", gr.update(), gr.update(), "用户名或密码不正确（或账号已停用）。", "", gr.update(), gr.update()
        grids = "全部网格" if session.is_admin else f"网格 {grids_text(session.grids)}"
        frame, choices = load_queue(session.token, statuses)
        return (session.token, gr.update(visible=False), gr.update(visible=True), "",
                f"**{render.esc(session.name)}**（{'管理员' if session.is_admin else '网格法律顾问'}，{grids}）", frame, choices)

    login_outs = [token, login_box, panel, login_msg, who, queue, pick]
    login.click(do_login, [user, password, status], login_outs)
    password.submit(do_login, [user, password, status], login_outs)
    refresh.click(load_queue, [token, status], [queue, pick])
    status.change(load_queue, [token, status], [queue, pick])

    def _loop_call(fn, *args):
        try:
            return fn(*args)
        except LoopError as exc:
            raise gr.Error(exc.message) from exc

    def open_ticket(tok, tid):
        if not tid:
            return ""
        return render.ticket_detail_markdown(_loop_call(service.desk.detail, _session(service, tok), int(tid)))

    pick.input(open_ticket, [token, pick], detail)

    def do_check(tok, text):
        _session(service, tok)
        return render.reply_check_markdown(service.desk.check(text or ""))

    check.click(do_check, [token, reply], checked)

    def do_send(tok, tid, text, statuses):
        session = _session(service, tok)
        if not tid:
            raise gr.Error("请先打开一张转办单")
        try:
            service.desk.reply(session, int(tid), text or "")
        except LoopError as exc:
            check_text = render.reply_check_markdown(service.desk.check(text or "")) if exc.code == "unverified_citations" else ""
            gr.Warning(exc.message)
            return gr.update(), check_text or f"⚠️ {render.esc(exc.message)}", gr.update(), gr.update(), gr.update()
        frame, choices = load_queue(tok, statuses)
        return "", "✅ 回复已发送，居民可以凭查询码查看。", open_ticket(tok, tid), frame, choices

    send.click(do_send, [token, pick, reply, status], [reply, checked, detail, queue, pick])

    def do_close(tok, tid, statuses):
        if not tid:
            raise gr.Error("请先打开一张转办单")
        _loop_call(service.desk.close, _session(service, tok), int(tid))
        frame, choices = load_queue(tok, statuses)
        return open_ticket(tok, tid), frame, choices

    close.click(do_close, [token, pick, status], [detail, queue, pick])

    def make_draft(tok, tid):
        if not tid:
            raise gr.Error("请先打开一张已回复的转办单")
        d = _loop_call(service.desk.draft_card, _session(service, tok), int(tid))
        return (d.id, gr.update(open=True), *_card_values(d.fields), render.draft_problems_markdown(d))

    draft_outs = [draft_id, draft_box, title, questions, answer, articles, scope, topic, draft_msg]
    draft_btn.click(make_draft, [token, pick], draft_outs)

    def save_draft(tok, cid, *values):
        if not cid:
            raise gr.Error("请先点“生成草稿卡片”")
        d = _loop_call(service.desk.update_draft, _session(service, tok), int(cid), dict(zip(CARD_FIELDS, values)))
        return render.draft_problems_markdown(d)

    save.click(save_draft, [token, draft_id, title, questions, answer, articles, scope, topic], draft_msg)

    def find_article(tok, law_name, no):
        _session(service, tok)
        found_hits = service.kb.article(law_name or "", no or "", Filters(status=["all"])) if law_name and no else []
        if not found_hits:
            return "没有找到这一条（请核对法律名称和条号）。"
        unit = found_hits[0].unit
        return render.article_markdown(unit, service.kb.neighbours(unit.uid, 1, 1))

    find.click(find_article, [token, law, number], article_view)

    def do_search(tok, q):
        _session(service, tok)
        if not (q or "").strip():
            raise gr.Error("请先输入检索内容")
        try:
            return render.hits_html(service.kb.search(q, k=8), q)
        except QueryError as exc:
            raise gr.Error(str(exc)) from exc

    search.click(do_search, [token, query], hits)
    query.submit(do_search, [token, query], hits)


# ---- 企业政策 ---------------------------------------------------------------------------------------
def validity_statuses(label: str) -> list[str] | None:
    """The statuses a 效力 choice of the enterprise page keeps (None: every status)."""
    return VALIDITY.get(label)


def enterprise_page(service: Service) -> None:
    gr.Markdown("查找惠企政策：按主题、发文机关、地区、效力筛选；已失效的政策会明确标出，不会当作现行政策。"
                "选中一份政策，政策内容和律师解读并排显示。")
    with gr.Row():
        topic = gr.Dropdown([ALL, *POLICY_TOPICS], value=ALL, label="主题", min_width=140)
        issuer = gr.Dropdown([ALL], value=ALL, label="发文机关", allow_custom_value=True, min_width=160)
        region = gr.Dropdown([ALL], value=ALL, label="地区", min_width=140, elem_id="policy-region")
        validity = gr.Radio(list(VALIDITY), value="全部", label="效力", min_width=240, elem_id="policy-validity")
        keyword = gr.Textbox(label="关键词", placeholder="如：小规模纳税人 增值税", min_width=160)
    table = gr.Dataframe(headers=render.POLICY_HEADERS, interactive=False, wrap=True, elem_id="policy-table",
                         max_height=420,
                         column_widths=["24%", "12%", "11%", "8%", "7%", "7%", "7%", "7%", "7%", "10%"])
    pick = gr.Dropdown([], label="查看政策（政策内容与解读并排）", elem_id="policy-pick", interactive=True)
    detail = gr.HTML(elem_id="policy-detail")
    with gr.Row(equal_height=True):
        question = gr.Textbox(show_label=False, placeholder="问政策，如：小规模纳税人现在增值税怎么减免", scale=5,
                              elem_id="enterprise-question", max_length=2000)
        ask = gr.Button("提问（政策优先）", variant="primary", scale=1, min_width=120)
    answer = gr.Markdown(elem_id="enterprise-answer", line_breaks=True)

    def browse(topic_value, issuer_value, region_value, validity_value, words):
        if not service.ready:
            return pd.DataFrame(columns=render.POLICY_HEADERS), gr.update(), gr.update(), gr.update(), ""
        def chosen(value: str | None) -> str:
            return "" if not value or value == ALL else value

        found = browse_policies(service.kb, topic=chosen(topic_value), issuer=chosen(issuer_value),
                                region=chosen(region_value), statuses=validity_statuses(validity_value), words=words)
        frame = pd.DataFrame([render.policy_row(u) for u in found.rows], columns=render.POLICY_HEADERS)
        first = found.rows[0] if found.rows else None
        return (frame, gr.update(choices=[ALL] + found.issuers), gr.update(choices=[ALL] + found.regions),
                gr.update(choices=[(f"{u.law}（{u.doc_number or u.region or '—'}）", u.uid) for u in found.rows],
                          value=first.uid if first else None),
                render.policy_html(first) if first else "<p>没有符合筛选条件的政策。</p>")

    def show(uid: str | None):
        unit = service.kb.unit(uid) if uid and service.ready else None
        return render.policy_html(unit) if unit is not None else ""

    def answer_policy(q: str):
        q = (q or "").strip()
        if not q:
            raise gr.Error("请先输入问题")
        result = service.pipeline.ask(q, audience="enterprise")
        service.records.log_question(q, "enterprise", result)
        return render.answer_markdown(result, service.kb, enterprise=True)

    filters = [topic, issuer, region, validity, keyword]
    outs = [table, issuer, region, pick, detail]
    for control in (topic, issuer, region, validity):
        control.change(browse, filters, outs)
    keyword.submit(browse, filters, outs)
    pick.input(show, pick, detail)
    ask.click(answer_policy, question, answer)
    question.submit(answer_policy, question, answer)
    return browse, filters, outs


# ---- 管理 -----------------------------------------------------------------------------------------
def admin_page(service: Service) -> None:
    if not service.admin_enabled:
        gr.Markdown(f"### 管理功能未启用\n\n{service.admin_reason}\n\n设置环境变量 `FARUN_ADMIN_USER` 和 "
                    "`FARUN_ADMIN_PASSWORD`（至少 8 位、不能是默认密码），或用 `python -m bot users add 姓名 --role admin` "
                    "创建管理员账号，然后重启即可启用。其他页面不受影响。", elem_id="admin-disabled")
        return
    logged = gr.State("")  # the session token of an admin's login (bot.loop.accounts); it expires on the server
    login_box, user, password, login, login_msg = _login_box("### 管理员登录", "admin")
    with gr.Column(visible=False) as panel:
        with gr.Tabs():
            with gr.Tab("文件上传"):
                upload_panel(service, logged)
            with gr.Tab("需求分析"):
                analytics_panel(service, logged)
            with gr.Tab("卡片审核", id="admin-cards-tab"):
                cards_panel(service, logged)
            with gr.Tab("顾问账号"):
                accounts_panel(service, logged)

    def do_login(u: str, p: str):
        if session := service.accounts.login(u or "", p or "", role="admin"):
            return session.token, gr.update(visible=False), gr.update(visible=True), ""
        return "", gr.update(), gr.update(), "用户名或密码不正确。"

    login.click(do_login, [user, password], [logged, login_box, panel, login_msg])
    password.submit(do_login, [user, password], [logged, login_box, panel, login_msg])


def _require(service: Service, token: str):
    """The admin's session, or the page's error (not logged in, expired, not an admin)."""
    session = service.accounts.session(token)
    if session is None or not session.is_admin:
        raise gr.Error("请先登录（登录已过期时请刷新页面后重新登录）")
    return session


CARD_HEADERS = ["编号", "标题", "作者", "状态", "转办单", "更新", "问题数"]
CARD_STATUS = {"draft": "草稿", "published": "已发布", "rejected": "已退回"}


def cards_panel(service: Service, logged: gr.State) -> None:
    gr.Markdown("法律顾问由回复生成的问答卡片：审核后发布（成为带审核人和审核日期的问答卡片，增量加入索引，马上能检索到），"
                "或退回（写明原因，草稿保留）。")
    with gr.Row(equal_height=True):
        which = gr.Radio([("草稿", "draft"), ("已发布", "published"), ("已退回", "rejected")], value="draft",
                         label="显示", scale=3)
        refresh = gr.Button("刷新", scale=1, min_width=80, elem_id="admin-cards-refresh")
    table = gr.Dataframe(headers=CARD_HEADERS, interactive=False, wrap=True, max_height=300, elem_id="admin-cards")
    pick = gr.Dropdown([], label="选择卡片", elem_id="admin-card-pick", interactive=True)
    preview = gr.Markdown(elem_id="admin-card-preview")
    note = gr.Textbox(label="审核意见（退回时必填）", max_length=1000, elem_id="admin-card-note")
    with gr.Row():
        publish = gr.Button("发布", variant="primary", elem_id="admin-publish")
        reject = gr.Button("退回", variant="stop", elem_id="admin-reject")
    status = gr.Markdown(elem_id="admin-card-status")

    def load(tok, kind):
        _require(service, tok)
        drafts = service.desk.drafts(kind)
        rows = [[d.id, d.fields.get("title", ""), d.author, CARD_STATUS[d.status], d.ticket_id or "",
                 d.updated.replace("T", " "), len(d.fields.get("questions") or [])] for d in drafts]
        return (pd.DataFrame(rows, columns=CARD_HEADERS),
                gr.update(choices=[(f"{d.id} · {d.fields.get('title', '')}", d.id) for d in drafts], value=None))

    def show(tok, cid):
        _require(service, tok)
        if not cid:
            return ""
        try:
            return render.card_preview_markdown(service.desk.draft(int(cid)))
        except LoopError as exc:
            raise gr.Error(exc.message) from exc

    def do_publish(tok, cid, kind):
        session = _require(service, tok)
        if not cid:
            raise gr.Error("请先选择卡片")
        try:
            draft, seconds = service.publish_card(int(cid), session.name)
        except LoopError as exc:
            raise gr.Error(exc.message) from exc
        table_, choices = load(tok, kind)
        return (f"✅ 已发布《{render.esc(draft.fields.get('title', ''))}》，审核人 {render.esc(draft.reviewer)}，"
                f"{seconds:.1f} 秒后即可检索到。", render.card_preview_markdown(draft), table_, choices)

    def do_reject(tok, cid, text, kind):
        session = _require(service, tok)
        if not cid:
            raise gr.Error("请先选择卡片")
        if not (text or "").strip():
            raise gr.Error("退回时请写明原因")
        try:
            draft = service.desk.reject(session, int(cid), text)
        except LoopError as exc:
            raise gr.Error(exc.message) from exc
        table_, choices = load(tok, kind)
        return "已退回，草稿保留。", render.card_preview_markdown(draft), table_, choices

    refresh.click(load, [logged, which], [table, pick])
    which.change(load, [logged, which], [table, pick])
    pick.input(show, [logged, pick], preview)
    publish.click(do_publish, [logged, pick, which], [status, preview, table, pick])
    reject.click(do_reject, [logged, pick, note, which], [status, preview, table, pick])
    logged.change(lambda tok, kind: load(tok, kind) if tok else (gr.update(), gr.update()), [logged, which], [table, pick])


ACCOUNT_HEADERS = ["用户名", "角色", "网格", "状态", "创建时间"]


def accounts_panel(service: Service, logged: gr.State) -> None:
    gr.Markdown("创建网格法律顾问（或管理员）账号：密码由管理员设定后告知本人（至少 8 位，不能是常见密码）。"
                "命令行：`python -m bot users add 姓名 --role adviser --grids 1-5`。")
    table = gr.Dataframe(headers=ACCOUNT_HEADERS, interactive=False, wrap=True, max_height=300, elem_id="admin-accounts")
    with gr.Row():
        name = gr.Textbox(label="用户名", min_width=140, elem_id="admin-account-name")
        role = gr.Dropdown(list(ROLES), value="adviser", label="角色", min_width=100)
        grids = gr.Textbox(label="负责的网格（如 1-5,8）", min_width=140, elem_id="admin-account-grids")
        secret = gr.Textbox(label="初始密码", type="password", min_width=140, elem_id="admin-account-password")
    with gr.Row():
        add = gr.Button("创建账号", variant="primary", elem_id="admin-account-add")
        who = gr.Dropdown([], label="选择账号", scale=2)
        new_grids = gr.Textbox(label="改为负责的网格", scale=2)
        set_grids = gr.Button("修改网格", scale=1)
        toggle = gr.Button("停用/启用", variant="stop", scale=1)
    status = gr.Markdown(elem_id="admin-account-status")

    def load(tok):
        _require(service, tok)
        rows = service.accounts.list()
        frame = pd.DataFrame([[a["name"], a["role"], grids_text(a["grids"]), "启用" if a["active"] else "已停用",
                               a["created"].replace("T", " ")] for a in rows], columns=ACCOUNT_HEADERS)
        return frame, gr.update(choices=[a["name"] for a in rows], value=None)

    def call(tok, fn, *args, done=""):
        _require(service, tok)
        try:
            fn(*args)
        except AccountError as exc:
            raise gr.Error(str(exc)) from exc
        return (done, *load(tok))

    def do_add(tok, n, r, g, pw):
        return (*call(tok, service.accounts.add, n, r, pw or "", g, done=f"✅ 已创建 {render.esc(n)}。"), "")

    def do_grids(tok, n, g):
        if not n:
            raise gr.Error("请先选择账号")
        return call(tok, service.accounts.set_grids, n, g, done=f"已修改 {render.esc(n)} 负责的网格。")

    def do_toggle(tok, n):
        if not n:
            raise gr.Error("请先选择账号")
        account = service.accounts.get(n)
        return call(tok, service.accounts.set_active, n, not account["active"],
                    done=f"已{'停用' if account['active'] else '启用'} {render.esc(n)}。")

    outs = [status, table, who]
    add.click(do_add, [logged, name, role, grids, secret], outs + [secret])
    set_grids.click(do_grids, [logged, who, new_grids], outs)
    toggle.click(do_toggle, [logged, who], outs)
    logged.change(lambda tok: load(tok) if tok else (gr.update(), gr.update()), logged, [table, who])


def _documents_frame(service: Service) -> pd.DataFrame:
    cols = {"doc_id": "编号", "title": "标题", "level": "层级", "issuer": "发文机关", "doc_number": "文号",
            "valid_from": "施行", "valid_to": "截止", "units": "条目数", "file": "文件", "uploaded": "上传时间"}
    return pd.DataFrame([{v: d[k] for k, v in cols.items()} for d in service.records.documents()], columns=list(cols.values()))


def upload_panel(service: Service, logged: gr.State) -> None:
    gr.Markdown("上传 DOCX、PDF、HTML、MD、TXT 文件（或它们的 ZIP 压缩包），填写元数据后点“上传并建立索引”，"
                "解析出的条目会增量加入索引，马上可以检索。")
    file = gr.File(label="文件", file_types=sorted(UPLOAD_SUFFIXES), elem_id="admin-file")
    with gr.Row():
        title = gr.Textbox(label="标题（空则取文件内标题）", elem_id="admin-title", min_width=200)
        level = gr.Dropdown(list(LEVELS), value=POLICY_LEVEL, label="层级", min_width=120)
        issuer = gr.Textbox(label="发文机关", min_width=160)
        doc_number = gr.Textbox(label="文号", min_width=160)
    with gr.Row():
        published = gr.Textbox(label="发布日期", placeholder="YYYY-MM-DD", min_width=120)
        valid_from = gr.Textbox(label="施行日期", placeholder="YYYY-MM-DD", min_width=120)
        valid_to = gr.Textbox(label="失效日期（可空）", placeholder="YYYY-MM-DD", min_width=120)
    go = gr.Button("上传并建立索引", variant="primary", elem_id="admin-upload")
    status = gr.Markdown(elem_id="admin-upload-status")
    preview = gr.Dataframe(headers=["引用", "章节", "内容"], interactive=False, wrap=True, label="解析出的条目", max_height=300)
    gr.Markdown("#### 已上传的文件")
    docs = gr.Dataframe(interactive=False, wrap=True, elem_id="admin-docs", max_height=300)
    with gr.Row(equal_height=True):
        which = gr.Dropdown([], label="选择要移除的文件", scale=4)
        remove = gr.Button("移除", variant="stop", scale=1, min_width=80)
        refresh = gr.Button("刷新", scale=1, min_width=80)

    def doc_choices():
        return gr.update(choices=[(f"{d['title']}（{d['doc_id']}）", d["doc_id"]) for d in service.records.documents()],
                         value=None)

    def do_upload(ok, path, t, lv, iss, num, pub, vf, vt, progress=gr.Progress()):
        _require(service, ok)
        if not path:
            raise gr.Error("请先选择文件")
        progress(0.1, desc="解析文件")
        meta = {"title": t, "level": lv, "issuer": iss, "doc_number": num, "published": pub,
                "valid_from": vf, "valid_to": vt}
        try:
            progress(0.3, desc="解析并更新索引（只向量化新条目）")
            uploaded = service.upload(Path(path), Path(path).name, meta)
        except (UploadError, LoadError) as exc:
            raise gr.Error(f"上传失败：{exc}") from exc
        progress(1.0, desc="完成")
        units = [u for d in uploaded for u in d.units]
        rows = [[u.citation, u.chapter or u.heading_path, u.text[:160]] for u in units[:200]]
        names = "、".join(f"《{d.title}》{len(d.units)} 条" for d in uploaded)
        return (f"✅ 已加入索引：{names}。现在可以在“顾问检索”中搜到。",
                pd.DataFrame(rows, columns=["引用", "章节", "内容"]), _documents_frame(service), doc_choices())

    def do_remove(ok, doc_id):
        _require(service, ok)
        if not doc_id:
            raise gr.Error("请先选择要移除的文件")
        try:
            doc = service.remove(doc_id)
        except KeyError as exc:
            raise gr.Error(str(exc.args[0])) from exc
        return f"🗑️ 已移除《{doc['title']}》，不再能被检索到。", _documents_frame(service), doc_choices()

    def do_refresh(ok):
        _require(service, ok)
        return _documents_frame(service), doc_choices()

    go.click(do_upload, [logged, file, title, level, issuer, doc_number, published, valid_from, valid_to],
             [status, preview, docs, which])
    remove.click(do_remove, [logged, which], [status, docs, which])
    refresh.click(do_refresh, logged, [docs, which])
    logged.change(lambda ok: do_refresh(ok) if ok else (gr.update(), gr.update()), logged, [docs, which])


DEMAND_KINDS = {"questions": "提问", "handovers": "转给顾问", "unanswered": "未能回答", "bad": "差评"}


def analytics_panel(service: Service, logged: gr.State) -> None:
    refresh = gr.Button("刷新统计", elem_id="admin-analytics-refresh")
    gr.Markdown("#### 普法需求清单：各主题的提问、转给顾问、未能回答和差评")
    demand_plot = gr.BarPlot(x="主题", y="数量", color="类别", title="各主题的需求", height=320, elem_id="admin-demand-plot")
    plot = gr.BarPlot(x="日期", y="提问数", color="主题", title="各主题每日提问数", height=300)
    with gr.Row():
        by_grid = gr.Dataframe(label="按网格：转给顾问的问题", interactive=False, wrap=True, max_height=300,
                               elem_id="admin-demand-grid")
        by_week = gr.Dataframe(label="按周", interactive=False, wrap=True, max_height=300, elem_id="admin-demand-week")
    with gr.Row():
        unanswered = gr.Dataframe(label="法润未能回答的主题", interactive=False, wrap=True, max_height=300)
        replies = gr.Dataframe(label="各顾问的回复用时", interactive=False, wrap=True, max_height=300,
                               elem_id="admin-reply-times")
    with gr.Row():
        most = gr.Dataframe(label="最常被问的问题", interactive=False, wrap=True, max_height=360)
        unmet = gr.Dataframe(label="被评为“差”或未能回答的问题", interactive=False, wrap=True, max_height=360)
    download = gr.DownloadButton("导出普法需求清单（CSV）", elem_id="admin-csv")
    groups = gr.File(label="按主题、网格、周、顾问分组的 CSV", file_count="multiple", interactive=False,
                     elem_id="admin-csv-groups")

    def load(ok):
        _require(service, ok)
        r = service.records
        d = demand_list(r, service.grids)
        per_kind = pd.DataFrame([{"主题": row["topic"], "类别": label, "数量": row[key]}
                                 for row in d["by_topic"] for key, label in DEMAND_KINDS.items()],
                                columns=["主题", "类别", "数量"])
        per_day = pd.DataFrame([{"日期": x["day"], "主题": x["topic"], "提问数": x["questions"]} for x in r.per_topic_day()],
                               columns=["日期", "主题", "提问数"])
        grid_frame = pd.DataFrame([[x["grid_label"], x["handovers"], x["pending"], x["replied"], x["closed"], x["reply_bad"]]
                                   for x in d["by_grid"]], columns=["网格", "转给顾问", "待处理", "已回复", "已关闭", "回复差评"])
        week_frame = pd.DataFrame([[x["week"], x["questions"], x["handovers"], x["unanswered"], x["bad"]]
                                   for x in d["by_week"]], columns=["周", "提问", "转给顾问", "未能回答", "差评"])
        gaps = pd.DataFrame([[x["topic"], x["unanswered"]] for x in d["unanswered_topics"]], columns=["主题", "未能回答"])
        times = pd.DataFrame([[x["adviser"], x["replied"], x["median_hours"], x["max_hours"], x["good"], x["bad"]]
                              for x in d["reply_times"]], columns=["顾问", "回复数", "用时中位数（小时）", "最长（小时）", "好", "差"])
        top = pd.DataFrame([{"问题": x["question"], "主题": x["topic"], "次数": x["times"], "最近": x["last_asked"]}
                            for x in r.most_asked()], columns=["问题", "主题", "次数", "最近"])
        bad = pd.DataFrame([{"问题": x["question"], "主题": x["topic"], "差评": x["bad"],
                             "未能回答": "是" if x["abstained"] else "", "原因": x["reasons"], "时间": x["asked"]}
                            for x in r.unmet()], columns=["问题", "主题", "差评", "未能回答", "原因", "时间"])
        folder = Path(tempfile.mkdtemp(prefix="farun-demand-"))
        stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
        files = {}
        for by in GROUPINGS:
            files[by] = folder / f"farun-demand-{by}-{stamp}.csv"
            files[by].write_text("\ufeff" + demand_list_csv(r, by, service.grids), encoding="utf-8")
        return (per_kind, per_day, grid_frame, week_frame, gaps, times, top, bad, str(files["question"]),
                [str(f) for by, f in files.items() if by != "question"])

    outs = [demand_plot, plot, by_grid, by_week, unanswered, replies, most, unmet, download, groups]
    refresh.click(load, logged, outs)
    logged.change(lambda ok: load(ok) if ok else (gr.update(),) * len(outs), logged, outs)


# ---- the app --------------------------------------------------------------------------------------
def build_blocks(service: Service) -> gr.Blocks:
    with gr.Blocks(title="法润 FaRun · 精准普法", fill_width=False) as blocks:
        gr.Markdown("# 法润 FaRun · 精准普法\n用大白话提问，得到引用具体法条的回答。", elem_classes="farun-header")
        corpus = gr.Markdown(corpus_line(service), elem_id="corpus-info")
        with gr.Tabs(overflow_behavior="wrap"):  # on a phone every tab stays in sight (no "more" menu)
            with gr.Tab("居民咨询", id="resident"):
                grid_picker = resident_page(service)
            with gr.Tab("顾问检索", id="adviser"):
                adviser_page(service)
            with gr.Tab("企业政策", id="enterprise") as enterprise_tab:
                browse, filters, outs = enterprise_page(service)
            with gr.Tab("管理", id="admin"):
                admin_page(service)
            with gr.Tab("顾问工作台", id="workbench"):  # last: on a phone the residents' tabs come first
                workbench_page(service)
        blocks.load(lambda: corpus_line(service), None, corpus)
        blocks.load(lambda: gr.update(choices=service.grids.choices()), None, grid_picker)  # advisers added since
        blocks.load(browse, filters, outs)
        enterprise_tab.select(browse, filters, outs)
    return blocks


__all__ = ["CSS", "build_blocks", "TOPICS"]
