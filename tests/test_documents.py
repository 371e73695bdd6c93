"""Document loading and structural segmentation; every fixture is built in tmp_path."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import docx
import pytest
from pypdf import PdfWriter

from bot.sources import LoadError
from bot.sources.documents import NO_TEXT, SUPPORTED_SUFFIXES, load_document, load_text
from bot.sources.segment import split_articles, split_sections, split_title
from bot.units import stable_id
from text_pdf import text_pdf as _text_pdf

STATUTE = """中华人民共和国测试法
（2020年1月1日第十三届全国人民代表大会常务委员会第十五次会议通过）
目　　录
第一章　总　　则
第二章　附　　则
第一章　总　　则
第一节　一般规定
第一条　为了规范测试活动，制定本法。
第二条
本法适用于测试活动。
有下列情形之一的，不适用本法：
（一）演习；
（二）训练。
第二节　特别规定
第十条　特别测试由国务院规定。
第十条之一　第三条规定的情形，依照本条办理。
第三条规定的期限届满的，不再办理。
第二章　附　　则
第11条 本法自2020年5月1日起施行。
"""

POLICY = """关于做好高校毕业生就业工作的通知
各区县人力资源和社会保障局：
为做好高校毕业生就业工作，现将有关事项通知如下。
一、总体要求
（一）指导思想。坚持就业优先，落实各项政策。
（二）目标任务
1.如何申领一次性补贴？
符合条件的毕业生可以向户籍地申领。
二、申请材料：
身份证
毕业证
特此通知
济南市人力资源和社会保障局
2024年1月1日
"""


def _blank_pdf(user_password: str | None = None, owner_password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if user_password is not None:
        writer.encrypt(user_password, owner_password)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# --- segmentation -------------------------------------------------------------------------


def test_split_articles_numbers_chapters_and_continuations():
    title, body = split_title(STATUTE.splitlines())
    assert title == "中华人民共和国测试法"
    articles = split_articles(body)
    assert [(chapter, label) for chapter, label, _ in articles] == [
        ("第一章 总则 / 第一节 一般规定", "第一条"),
        ("第一章 总则 / 第一节 一般规定", "第二条"),
        ("第一章 总则 / 第二节 特别规定", "第十条"),
        ("第一章 总则 / 第二节 特别规定", "第十条之一"),
        ("第二章 附则", "第11条"),
    ]
    assert articles[0][2] == ["为了规范测试活动，制定本法。"]
    # heading-only article line: the paragraphs below belong to it, items included
    assert articles[1][2] == ["本法适用于测试活动。", "有下列情形之一的，不适用本法：", "（一）演习；", "（二）训练。"]
    # a paragraph opening with a cross-reference (第三条规定的…) is not a new article
    assert articles[3][2] == ["第三条规定的情形，依照本条办理。", "第三条规定的期限届满的，不再办理。"]


def test_split_articles_needs_two_markers():
    assert split_articles(["第一条 本办法自发布之日起施行。", "其他说明。"]) is None
    assert split_articles(["依照第三条规定办理。", "第五条规定的情形除外。"]) is None


def test_split_sections_heading_paths():
    title, body = split_title(POLICY.splitlines())
    assert title == "关于做好高校毕业生就业工作的通知"
    assert split_sections(body) == [
        ("", "各区县人力资源和社会保障局：\n为做好高校毕业生就业工作，现将有关事项通知如下。"),
        # 公文 style: the first sentence of an enumerated paragraph is its heading
        ("一、总体要求 / （一）指导思想", "坚持就业优先，落实各项政策。"),
        ("一、总体要求 / （二）目标任务 / 1.如何申领一次性补贴？", "符合条件的毕业生可以向户籍地申领。"),
        # runs of short lines (lists, signature, date) are body, not headings
        ("二、申请材料", "身份证\n毕业证\n特此通知\n济南市人力资源和社会保障局\n2024年1月1日"),
    ]


def test_split_sections_markdown_and_plain_headings():
    lines = ["# 社会保险", "## 参保", "职工应当参加基本养老保险。", "缴费基数", "按上年度月平均工资确定。"]
    assert split_sections(lines) == [
        ("社会保险 / 参保", "职工应当参加基本养老保险。"),
        ("缴费基数", "按上年度月平均工资确定。"),
    ]


def test_long_paragraph_is_cut_at_sentence_ends_only():
    sentences = [f"第{i}句话说明一项具体的政策内容" + "，并附带条件" * (i % 4) + "。！？；"[i % 4] for i in range(1, 30)]
    paragraph = "".join(sentences)
    chunks = [text for _, text in split_sections([paragraph], max_chars=80)]
    assert len(chunks) > 1
    assert "".join(chunks) == paragraph  # nothing lost, nothing reordered
    for chunk in chunks:
        assert len(chunk) <= 80
        assert chunk[-1] in "。！？；"
        assert chunk in {"".join(sentences[i:j]) for i in range(len(sentences)) for j in range(i + 1, len(sentences) + 1)}


def test_chunks_pack_whole_paragraphs_and_keep_overlong_sentences_whole():
    paragraphs = [f"第{i}段内容。" * 3 for i in range(10)]
    chunks = [text for _, text in split_sections(paragraphs, max_chars=60)]
    assert all(len(chunk) <= 60 for chunk in chunks)
    assert [p for chunk in chunks for p in chunk.split("\n")] == paragraphs
    long_sentence = "这是一个没有句号而且很长的句子" * 10
    assert [text for _, text in split_sections([long_sentence], max_chars=50)] == [long_sentence]


# --- loading ------------------------------------------------------------------------------


def test_docx_with_heading_enumerations_and_table(tmp_path):
    document = docx.Document()
    document.add_heading("某市稳就业若干措施", 0)
    document.add_paragraph("为稳定和扩大就业，制定以下措施。")
    document.add_paragraph("一、支持对象")
    document.add_paragraph("（一）企业。吸纳就业的企业可以申请补贴。")
    document.add_heading("二、补贴标准", level=1)
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("类别", "金额"), ("本科", "1000元")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    path = tmp_path / "措施.docx"
    document.save(path)

    units = load_document(path, {"issuer": "某市人社局", "region": "某市", "published": date(2024, 1, 2),
                                 "valid_to": "2025-12-31", "doc_number": "某人社发〔2024〕1号"})
    assert [(u.heading_path, u.text) for u in units] == [
        ("", "为稳定和扩大就业，制定以下措施。"),
        ("一、支持对象 / （一）企业", "吸纳就业的企业可以申请补贴。"),
        ("二、补贴标准", "类别 | 金额\n本科 | 1000元"),
    ]
    first = units[0]
    assert first.law == "某市稳就业若干措施" and first.level == "政策" and first.article == ""
    assert (first.issuer, first.region, first.doc_number) == ("某市人社局", "某市", "某人社发〔2024〕1号")
    assert (first.published, first.valid_to) == ("2024-01-02", "2025-12-31")
    assert first.source == "document:措施.docx" and first.extra == {"file": "措施.docx"}
    assert first.doc_id == stable_id("document", "某市稳就业若干措施", "2024-01-02")
    assert [u.position for u in units] == [0, 1, 2]
    assert units[1].uid == stable_id(first.doc_id, 1, "一、支持对象 / （一）企业")
    assert len({u.uid for u in units}) == 3


def test_meta_title_overrides_and_stem_is_fallback(tmp_path):
    path = tmp_path / "办事指南.txt"
    path.write_text("申请人应当提交身份证明。\n办理时限为五个工作日。\n", encoding="utf-8")
    assert load_document(path)[0].law == "办事指南"  # the first line is prose, not a title
    unit = load_document(path, {"title": "公积金提取办事指南", "level": "问答", "source": "corpus:指南"})[0]
    assert (unit.law, unit.level, unit.source) == ("公积金提取办事指南", "问答", "corpus:指南")


def test_load_text_markdown_body(tmp_path):
    body = "# 公积金提取问答\n\n## 1.退休了怎么提取？\n\n持身份证到柜台办理。\n"
    units = load_text(body, tmp_path / "faq.md", {"level": "问答", "published": "2024-03-01"})
    assert [(u.law, u.level, u.heading_path, u.text) for u in units] == [
        ("公积金提取问答", "问答", "1.退休了怎么提取？", "持身份证到柜台办理。")]
    assert units[0].extra == {"file": "faq.md"} and units[0].source == "document:faq.md"


def test_gbk_statute_txt_gives_article_units(tmp_path):
    path = tmp_path / "测试法.txt"
    path.write_bytes(STATUTE.encode("gbk"))
    units = load_document(path, {"level": "法律"})
    assert [(u.article, u.article_no) for u in units] == [
        ("第一条", 1), ("第二条", 2), ("第十条", 10), ("第十条之一", 10), ("第11条", 11)]
    assert all(u.law == "中华人民共和国测试法" and u.heading_path == "" for u in units)
    assert "测试法" in units[0].aliases
    assert units[3].chapter == "第一章 总则 / 第二节 特别规定"
    assert units[1].text.startswith("本法适用于测试活动。\n有下列情形之一的")
    assert units[3].citation == "《中华人民共和国测试法》第十条之一"


def test_html_policy_page(tmp_path):
    path = tmp_path / "notice.html"
    path.write_text(
        """<html><head><meta charset="utf-8"><title>关于发放补贴的通知_某市人民政府</title>
        <script>var s = "第一条 脚本里的字";</script><style>p { color: red }</style></head>
        <body><nav>首页 | 政策文件</nav>
        <h1>关于发放补贴的通知</h1>
        <p>各有关单位：</p>
        <h2>一、补贴对象</h2><p>本市户籍的
        <b>高校毕业生</b>。</p>
        <h2>二、补贴标准</h2>
        <table><tr><th>类别</th><th>金额</th></tr><tr><td>本科</td><td>1000元</td></tr></table>
        <script>alert("x")</script><!-- 注释 --></body></html>""",
        encoding="utf-8",
    )
    units = load_document(path)
    assert {u.law for u in units} == {"关于发放补贴的通知"}
    assert [(u.heading_path, u.text) for u in units] == [
        ("", "各有关单位："),
        ("一、补贴对象", "本市户籍的高校毕业生。"),  # the source line break is dropped
        ("二、补贴标准", "类别 | 金额\n本科 | 1000元"),
    ]
    assert not any(word in u.text for u in units for word in ("脚本", "alert", "首页", "注释"))


def test_text_pdf_statute_rejoins_wrapped_lines(tmp_path):
    path = tmp_path / "law.pdf"
    path.write_bytes(_text_pdf([
        "中华人民共和国测试法",
        "第一章 总则",
        "第一条 为了规范测试活动，保护当事人的合法权益，促进测试事业",
        "健康发展，制定本法。",
        "第二条 本法适用于测试。",
        "- 1 -",
    ]))
    units = load_document(path)
    assert [(u.law, u.chapter, u.article, u.text) for u in units] == [
        ("中华人民共和国测试法", "第一章 总则", "第一条", "为了规范测试活动，保护当事人的合法权益，促进测试事业健康发展，制定本法。"),
        ("中华人民共和国测试法", "第一章 总则", "第二条", "本法适用于测试。"),
    ]


def _junk_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("readme.txt", "not a word document")
    return buf.getvalue()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("encrypted.pdf", _blank_pdf("secret"), "PDF 已加密"),
        ("truncated.pdf", _text_pdf(["第一条 测试。", "第二条 测试。"])[:300], "PDF 文件已损坏"),
        ("fake.pdf", b"<html>not a pdf</html>", "不是有效的 PDF"),
        ("blank.pdf", _blank_pdf(), NO_TEXT),
        ("owner-only.pdf", _blank_pdf("", "owner"), NO_TEXT),  # opens without a password
        ("junk.docx", _junk_zip(), "不是有效的 DOCX 文件"),
        ("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "不是有效的 DOCX 文件"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "二进制"),
        ("empty.txt", b"", NO_TEXT),
        ("blank.html", b"<html><body><script>x()</script></body></html>", NO_TEXT),
        ("title-only.txt", "只有标题的文件\n".encode(), NO_TEXT),
        ("legacy.doc", b"whatever", "不支持的文件类型"),
    ],
)
def test_unreadable_documents_raise_load_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=re.escape(message)):
        load_document(path)


def test_oversize_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"0" * 2000)
    with pytest.raises(LoadError, match="文件过大"):
        load_document(path, max_bytes=1000)


def test_supported_suffixes():
    assert SUPPORTED_SUFFIXES == {".docx", ".pdf", ".html", ".htm", ".txt"}
