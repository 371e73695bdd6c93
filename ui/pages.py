"""The four pages of the web app (gradio Blocks): 居民咨询, 法律顾问检索, 企业政策, 管理.

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
from bot.index.layout import IndexUnavailable
from bot.records import TOPICS
from bot.retrieval.search import Filters
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
    names = {"laws.db": "国家法律库", "knowledge": "随附问答与政策卡片"}
    sources = "，".join(f"{names.get(k, k)} {v} 条" for k, v in s["sources"].items())
    return (f"本站依据的知识库：共 {s['units']} 条（{sources}；{s['documents']} 个文件），"
            f"其中现行有效 {s['current_units']} 条；收录文本最新发布于 {s['newest_version'] or '—'}，"
            f"效力按 {s['as_of']} 计算，索引建于 {s['built'].replace('T', ' ')}。")


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

    def respond(message: str, history: list, pairs: list, ids: dict):
        message = (message or "").strip()
        hidden = gr.update(choices=[], value=None, visible=False)
        if not message:
            yield "", history, pairs, ids, hidden
            return
        history = history + [{"role": "user", "content": message}, {"role": "assistant", "content": "……"}]
        yield "", history, pairs, ids, hidden
        text, options = "", hidden
        try:
            for event in service.pipeline.stream(message, _turns(pairs), "resident"):
                if "delta" in event:
                    text += event["delta"]
                elif "reset" in event:
                    text = ""
                elif "answer" in event:
                    answer = event["answer"]
                    text = render.answer_markdown(answer, service.kb)
                    ids = ids | {len(history) - 1: service.records.log_question(message, "resident", answer)}
                    pairs = pairs + [(message, answer.answer)]
                    if answer.clarify:
                        options = gr.update(choices=[(r.label, r.question) for r in answer.clarify], value=None,
                                            visible=True)
                history[-1] = {"role": "assistant", "content": text or "……"}
                yield "", history, pairs, ids, options
        except IndexUnavailable as exc:
            history[-1] = {"role": "assistant", "content": f"抱歉，知识库暂不可用：{exc}"}
            yield "", history, pairs, ids, hidden

    outs = [msg, chat, turns, qids, readings]
    msg.submit(respond, [msg, chat, turns, qids], outs)
    send.click(respond, [msg, chat, turns, qids], outs)
    readings.input(lambda q: q, readings, msg).then(respond, [msg, chat, turns, qids], outs)
    for button, question in starters:
        button.click(lambda q=question: q, None, msg).then(respond, [msg, chat, turns, qids], outs)

    def like(data: gr.LikeData, ids: dict):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        qid = ids.get(index, ids.get(str(index)))
        if data.liked is None or data.liked == "":
            return None, "已取消评价。"
        rating = "good" if data.liked is True else "bad"
        fid = service.records.add_feedback(qid, rating)
        return fid, f"已记录您的评价：{'好' if rating == 'good' else '差'}。谢谢！可以在上方补充原因。"

    chat.like(like, [qids], [last_feedback, rated])

    def add_reason(text: str, fid):
        if not fid:
            return text, "请先在回答下方点赞（好）或点踩（差），评价一条回答。"
        if not (text or "").strip():
            return text, "原因是空的。"
        service.records.set_reason(fid, text)
        return "", "原因已记录，谢谢！"

    send_reason.click(add_reason, [reason, last_feedback], [reason, rated])
    reason.submit(add_reason, [reason, last_feedback], [reason, rated])


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
    if not service.auth.enabled:
        gr.Markdown(f"### 管理功能未启用\n\n{service.auth.reason}\n\n设置环境变量 `FARUN_ADMIN_USER` 和 "
                    "`FARUN_ADMIN_PASSWORD`（至少 8 位、不能是默认密码）后重启即可启用。其他页面不受影响。",
                    elem_id="admin-disabled")
        return
    logged = gr.State("")  # the session token from AdminAuth.login; it expires on the server
    with gr.Column(visible=True) as login_box:
        gr.Markdown("### 管理员登录")
        user = gr.Textbox(label="用户名", elem_id="admin-user")
        password = gr.Textbox(label="密码", type="password", elem_id="admin-password")
        login = gr.Button("登录", variant="primary", elem_id="admin-login")
        login_msg = gr.Markdown()
    with gr.Column(visible=False) as panel:
        with gr.Tabs():
            with gr.Tab("文件上传"):
                upload_panel(service, logged)
            with gr.Tab("需求分析"):
                analytics_panel(service, logged)

    def do_login(u: str, p: str):
        if token := service.auth.login(u or "", p or ""):
            return token, gr.update(visible=False), gr.update(visible=True), ""
        return "", gr.update(), gr.update(), "用户名或密码不正确。"

    login.click(do_login, [user, password], [logged, login_box, panel, login_msg])
    password.submit(do_login, [user, password], [logged, login_box, panel, login_msg])


def _require(service: Service, token: str) -> None:
    if not service.auth.session_ok(token):
        raise gr.Error("请先登录（登录已过期时请刷新页面后重新登录）")


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


def analytics_panel(service: Service, logged: gr.State) -> None:
    refresh = gr.Button("刷新统计", elem_id="admin-analytics-refresh")
    plot = gr.BarPlot(x="日期", y="提问数", color="主题", title="各主题每日提问数", height=300)
    with gr.Row():
        most = gr.Dataframe(label="最常被问的问题", interactive=False, wrap=True, max_height=360)
        unmet = gr.Dataframe(label="被评为“差”或未能回答的问题", interactive=False, wrap=True, max_height=360)
    download = gr.DownloadButton("导出普法需求清单（CSV）", elem_id="admin-csv")

    def load(ok):
        _require(service, ok)
        r = service.records
        per_day = pd.DataFrame([{"日期": x["day"], "主题": x["topic"], "提问数": x["questions"]} for x in r.per_topic_day()],
                               columns=["日期", "主题", "提问数"])
        top = pd.DataFrame([{"问题": x["question"], "主题": x["topic"], "次数": x["times"], "最近": x["last_asked"]}
                            for x in r.most_asked()], columns=["问题", "主题", "次数", "最近"])
        bad = pd.DataFrame([{"问题": x["question"], "主题": x["topic"], "差评": x["bad"],
                             "未能回答": "是" if x["abstained"] else "", "原因": x["reasons"], "时间": x["asked"]}
                            for x in r.unmet()], columns=["问题", "主题", "差评", "未能回答", "原因", "时间"])
        path = Path(tempfile.gettempdir()) / f"farun-demand-{datetime.now():%Y%m%d-%H%M%S}.csv"
        path.write_text("\ufeff" + r.demand_csv(), encoding="utf-8")
        return per_day, top, bad, str(path)

    refresh.click(load, logged, [plot, most, unmet, download])
    logged.change(lambda ok: load(ok) if ok else (gr.update(),) * 4, logged, [plot, most, unmet, download])


# ---- the app --------------------------------------------------------------------------------------
def build_blocks(service: Service) -> gr.Blocks:
    with gr.Blocks(title="法润 FaRun · 精准普法", fill_width=False) as blocks:
        gr.Markdown("# 法润 FaRun · 精准普法\n用大白话提问，得到引用具体法条的回答。", elem_classes="farun-header")
        corpus = gr.Markdown(corpus_line(service), elem_id="corpus-info")
        with gr.Tabs():
            with gr.Tab("居民咨询", id="resident"):
                resident_page(service)
            with gr.Tab("顾问检索", id="adviser"):
                adviser_page(service)
            with gr.Tab("企业政策", id="enterprise") as enterprise_tab:
                browse, filters, outs = enterprise_page(service)
            with gr.Tab("管理", id="admin"):
                admin_page(service)
        blocks.load(lambda: corpus_line(service), None, corpus)
        blocks.load(browse, filters, outs)
        enterprise_tab.select(browse, filters, outs)
    return blocks


__all__ = ["CSS", "build_blocks", "TOPICS"]
