"""A district's 惠企政策汇编及律师解读 (bot/sources/compilation.py): a policy unit per section with the
lawyer's interpretation as its own field, malformed sections reported with their position, the
Markdown fixture and the same compilation as DOCX and PDF built here; then an index holding it
beside knowledge cards: `stats` counts, the enterprise page's region / in-force filter and card,
and the API's policy output. The sample (tests/fixtures/compilation) is fictional: 示例市示范区,
示例律师事务所."""
from __future__ import annotations

import json
from pathlib import Path

import docx
import pytest
from text_pdf import text_pdf

from bot.sources import LoadError
from bot.sources.compilation import SectionError, load_compilation
from bot.sources.folder import load_compilations, load_folder
from bot.units import CURRENT, EXPIRED, PENDING, POLICY_LEVEL, Unit
from bot.validity import apply_validity

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "compilation"
SAMPLE = FIXTURES / "sample_compilation.md"
REGION = "示例市示范区"
JOBS, RD, LOAN = "示范政发〔2025〕3号", "示范科发〔2023〕7号", "示范金发〔2026〕2号"
JOBS_TITLE = "示例市示范区关于支持小微企业稳岗扩岗的若干措施"
RENT_TITLE = "示例市示范区个体工商户房租补贴办法"  # the sample's malformed section (no 文号, 2月30日)


def _by_number(units: list[Unit]) -> dict[str, Unit]:
    return {u.doc_number: u for u in units}


def _sample_lines() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines()


def sample_docx(path: Path) -> Path:
    """The Markdown sample as a Word file: # the title (Title style), ## sections (Heading 1),
    ### 政策原文 / 律师解读 (Heading 2), everything else a paragraph."""
    document = docx.Document()
    for line in _sample_lines():
        if not line.strip():
            continue
        if line.startswith("#"):
            marks = len(line) - len(line.lstrip("#"))
            document.add_heading(line.lstrip("#").strip(), marks - 1)
        else:
            document.add_paragraph(line.lstrip("> "))
    document.save(path)
    return path


def _write(tmp_path: Path, text: str, name: str = "c.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- sections and their fields ----------------------------------------------------------------

def test_markdown_sections_become_policy_units_with_their_fields():
    c = load_compilation(SAMPLE)
    assert (c.title, c.region) == ("示例市示范区惠企政策汇编及律师解读（样例数据）", REGION)
    units = _by_number(c.units)
    assert list(units) == [JOBS, RD, LOAN]
    jobs = units[JOBS]
    assert (jobs.law, jobs.level, jobs.issuer, jobs.region) == (JOBS_TITLE, POLICY_LEVEL, "示例市示范区人民政府", REGION)
    assert (jobs.published, jobs.valid_from, jobs.valid_to) == ("2025-03-01", "2025-03-01", "2027-12-31")
    assert jobs.aliases == [JOBS_TITLE, JOBS] and jobs.source == "compilation:sample_compilation.md"
    # the policy text and the lawyer's interpretation are separate fields; the heading 政策原文 is not text
    assert jobs.extra["body"].startswith("一、对当年新招用本区户籍劳动者") and "政策原文" not in jobs.extra["body"]
    assert jobs.extra["interpretation"].startswith("补助只看两件事") and "律师解读" not in jobs.extra["interpretation"]
    assert "补助只看两件事" not in jobs.extra["body"] and "每人1000元" not in jobs.extra["interpretation"]
    assert jobs.extra["reviewed_by"] == "示例律师事务所 王某某"  # the 解读律师 line, not text
    assert "解读律师" not in jobs.extra["interpretation"]
    assert (jobs.extra["kind"], jobs.extra["topic"], jobs.extra["section"], jobs.extra["where"]) == (
        "compilation", "稳岗就业", 1, "第9行")
    assert jobs.extra["reviewed_on"] == "2026-06-01"  # the compilation's 编制日期
    # retrieval sees the policy and the interpretation, labelled
    assert "每人1000元" in jobs.text and "律师解读（示例律师事务所 王某某）：补助只看两件事" in jobs.text
    # 有效期 …至… gives both dates; the lawyer named at the end of the text in brackets
    rd = units[RD]
    assert (rd.valid_from, rd.valid_to, rd.extra["topic"]) == ("2023-01-10", "2024-12-31", "税费减免")
    assert rd.extra["reviewed_by"] == "示例律师事务所 李某某" and "李某某" not in rd.extra["interpretation"]
    # 长期有效: no end; no lawyer line: the header's 解读单位
    loan = units[LOAN]
    assert (loan.valid_from, loan.valid_to, loan.extra["reviewed_by"]) == ("2027-01-01", "", "示例律师事务所")


def test_validity_from_the_dates(today):
    units = load_compilation(SAMPLE).units
    apply_validity(units, today)  # 2026-11-29
    assert {u.doc_number: u.status for u in units} == {JOBS: CURRENT, RD: EXPIRED, LOAN: PENDING}


def test_a_national_policy_in_a_compilation_is_not_a_version_of_the_national_card(today):
    """The same title in the knowledge folder (全国) and in a district's compilation: two documents,
    both in force, neither labelled 历史版本 by the other."""
    def policy(region: str, doc_id: str) -> Unit:
        return Unit(uid=doc_id, law="测试政策的公告", text="x", level=POLICY_LEVEL, source="t", doc_id=doc_id,
                    region=region, published="2023-08-02", valid_from="2023-01-01", valid_to="2027-12-31")

    units = [policy("全国", "card"), policy(REGION, "section")]
    apply_validity(units, today)
    assert [u.status for u in units] == [CURRENT, CURRENT]


# ---- malformed sections are reported with their position ------------------------------------

def test_the_malformed_sample_section_is_reported_with_its_position():
    c = load_compilation(SAMPLE)
    [skipped] = c.skipped
    assert skipped.path == str(SAMPLE)
    assert skipped.reason.startswith(f"第4节“{RENT_TITLE}”（第62行）：")
    assert "缺少文号" in skipped.reason and "发布日期“2025年2月30日”不是有效的日期" in skipped.reason
    assert RENT_TITLE not in {u.law for u in c.units}  # and the good sections still load
    assert len(c.units) == 3


HEADER = "# 测试区惠企政策汇编\n地区：测试市测试区\n解读单位：测试律师事务所\n\n"
GOOD = """## 测试区好政策{n}
文号：测政发〔2025〕{n}号
发文机关：测试区人民政府
发布日期：2025-01-0{n}
正文第{n}条。
### 律师解读
解读第{n}条。
"""


@pytest.mark.parametrize("section, problem", [
    ("## 坏政策\n文号：测政发〔2025〕9号\n发文机关：测试区人民政府\n发布日期：2025-01-09\n正文。\n",
     "缺少“律师解读”部分"),
    ("## 坏政策\n文号：测政发〔2025〕9号\n发文机关：测试区人民政府\n发布日期：2025-01-09\n正文。\n### 律师解读\n",
     "律师解读是空的"),
    (("## 坏政策\n文号：测政发〔2025〕9号\n发文机关：测试区人民政府\n发布日期：二〇二五年一月九日\n"
      "有效期：三年\n正文。\n### 律师解读\n解读。\n"), "有效期“三年”无法读出起止日期"),
    (("## 坏政策\n文号：测政发〔2025〕9号\n发文机关：测试区人民政府\n发布日期：2025-01-09\n"
      "截止日期：2024-12-31\n正文。\n### 律师解读\n解读。\n"), "截止日期早于施行日期"),
    ("## 坏政策\n文号：测政发〔2025〕9号\n发布日期：2025-01-09\n正文。\n### 律师解读\n解读。\n", "缺少发文机关"),
    ("## 坏政策\n文号：测政发〔2025〕9号\n发文机关：测试区人民政府\n发布日期：2025-01-09\n### 律师解读\n解读。\n",
     "没有政策正文"),
    ("## 坏政策\n文号：测政发〔2025〕1号\n发文机关：测试区人民政府\n发布日期：2025-01-09\n正文。\n### 律师解读\n解读。\n",
     "文号“测政发〔2025〕1号”与第1节重复"),
])
def test_each_kind_of_malformed_section_is_reported_and_the_others_load(tmp_path, section, problem):
    path = _write(tmp_path, HEADER + GOOD.format(n=1) + section + GOOD.format(n=2))
    c = load_compilation(path)
    assert [u.doc_number for u in c.units] == ["测政发〔2025〕1号", "测政发〔2025〕2号"]
    [skipped] = c.skipped
    assert skipped.reason.startswith("第2节“坏政策”（第12行）：") and problem in skipped.reason


def test_no_lawyer_anywhere_is_reported(tmp_path):
    path = _write(tmp_path, "# 测试区惠企政策汇编\n地区：测试区\n\n" + GOOD.format(n=1))
    [skipped] = load_compilation(path).skipped
    assert "律师解读没有写明解读律师或律师事务所" in skipped.reason


def test_a_section_without_any_labelled_line_is_not_swallowed_silently(tmp_path):
    """Without headings a section is found by its 文号 / 发文机关 lines; one that has none runs into the
    section before it, which is then reported (a second 律师解读) instead of loading wrongly."""
    text = ("测试区惠企政策汇编\n地区：测试区\n解读单位：测试律师事务所\n"
            "好政策一\n文号：测政发〔2025〕1号\n发文机关：测试区人民政府\n发布日期：2025-01-01\n正文一。\n律师解读\n解读一。\n"
            "没有文号的政策\n正文二。\n律师解读\n解读二。\n"
            "好政策三\n文号：测政发〔2025〕3号\n发文机关：测试区人民政府\n发布日期：2025-01-03\n正文三。\n律师解读\n解读三。\n")
    c = load_compilation(_write(tmp_path, text, "c.txt"))
    assert [u.doc_number for u in c.units] == ["测政发〔2025〕3号"]
    [skipped] = c.skipped
    assert skipped.reason.startswith("第1节“好政策一”（第4行）：第13行又出现一处“律师解读”")


def test_contents_and_part_headings_are_not_policies(tmp_path):
    """目录 / 编制说明 at the sections' level are neither policies nor reported; a heading above the
    sections' level is a part, whose name is the category of the sections under it."""
    text = ("# 测试区惠企政策汇编\n地区：测试区\n解读单位：测试律师事务所\n## 目录\n测试区好政策1\n测试区好政策2\n"
            "# 第一部分 税费政策\n" + GOOD.format(n=1) + "# 第二部分 融资政策\n" + GOOD.format(n=2)
            + "## 编制说明\n本汇编仅供参考。\n")
    c = load_compilation(_write(tmp_path, text))
    assert [(u.extra["section"], u.extra["category"], u.extra["topic"]) for u in c.units] == [
        (1, "税费政策", "其他"), (2, "融资政策", "其他")]
    assert c.skipped == []
    assert "本汇编仅供参考" not in c.units[1].extra["interpretation"]


def test_section_error_carries_its_position():
    err = SectionError(3, "某政策", "第12段", ["缺少文号"])
    assert (err.number, err.heading, err.where, err.problems) == (3, "某政策", "第12段", ["缺少文号"])
    assert str(err) == "第3节“某政策”（第12段）：缺少文号" and isinstance(err, LoadError)


# ---- the region ------------------------------------------------------------------------------

def test_region_from_the_header_then_the_parameter_then_the_title(tmp_path):
    body = GOOD.format(n=1)
    named = _write(tmp_path, "# 汇编\n地区：甲市乙区\n解读单位：律所\n" + body, "a.md")
    assert load_compilation(named, region="丙县").region == "甲市乙区"
    unnamed = _write(tmp_path, "# 济南市历下区惠企政策汇编\n解读单位：律所\n" + body, "b.md")
    assert load_compilation(unnamed, region="丙县").region == "丙县"
    assert load_compilation(unnamed).region == "济南市历下区"
    assert load_compilation(unnamed).units[0].region == "济南市历下区"
    nowhere = _write(tmp_path, "# 2025年政策汇编\n解读单位：律所\n" + body, "c.md")
    with pytest.raises(LoadError, match="没有写明适用地区"):
        load_compilation(nowhere)


def test_a_file_without_sections_is_a_load_error(tmp_path):
    with pytest.raises(LoadError, match="没有找到政策章节"):
        load_compilation(_write(tmp_path, "# 汇编\n地区：测试区\n这里只有一段说明。\n"))


# ---- DOCX, PDF and the ways a build finds a compilation ---------------------------------------

def _fields(u: Unit) -> tuple:
    return (u.law, u.doc_number, u.issuer, u.region, u.published, u.valid_from, u.valid_to,
            u.extra["body"], u.extra["interpretation"], u.extra["reviewed_by"], u.extra["topic"])


def test_docx_compilation_gives_the_same_policies_with_paragraph_positions(tmp_path):
    c = load_compilation(sample_docx(tmp_path / "汇编.docx"))
    expected = load_compilation(SAMPLE)
    assert [_fields(u) for u in c.units] == [_fields(u) for u in expected.units]
    assert c.units[0].extra["where"] == "第6段"  # the sixth paragraph of the document
    [skipped] = c.skipped
    assert skipped.reason.startswith(f"第4节“{RENT_TITLE}”（第40段）：缺少文号")


def test_pdf_compilation_without_headings_is_split_by_its_labelled_lines(tmp_path):
    """A PDF has no heading styles: each section is found by the 文号 / 发文机关 line below its title."""
    path = tmp_path / "汇编.pdf"
    path.write_bytes(text_pdf([line.lstrip("#> ").strip() for line in _sample_lines() if line.strip()], per_page=30))
    c = load_compilation(path)
    expected = load_compilation(SAMPLE)
    assert [_fields(u) for u in c.units] == [_fields(u) for u in expected.units]
    [skipped] = c.skipped
    assert skipped.reason.startswith(f"第4节“{RENT_TITLE}”（第40行）：缺少文号")


def test_markdown_with_front_matter_in_a_source_folder(tmp_path):
    """kind: compilation in front matter: the folder walker loads it as a compilation, with the
    region and firm from the front matter, and reports its malformed section in `skipped`."""
    text = ("---\nkind: compilation\ntitle: 测试区惠企政策汇编\nregion: 测试市测试区\nreviewed_by: 测试律师事务所\n---\n"
            + GOOD.format(n=1) + "## 坏政策\n发文机关：测试区人民政府\n发布日期：2025-01-09\n正文。\n### 律师解读\n解读。\n")
    _write(tmp_path, text)
    loaded = load_folder(tmp_path)
    [unit] = loaded.units
    assert (unit.region, unit.extra["reviewed_by"], unit.extra["compilation"]) == ("测试市测试区", "测试律师事务所", "测试区惠企政策汇编")
    assert unit.extra["where"] == "第7行"  # lines counted in the file, front matter included
    [skipped] = loaded.skipped
    assert skipped.reason.startswith("第2节“坏政策”（第14行）：缺少文号")


def test_settings_compilations_files_folders_and_failures(tmp_path):
    folder = tmp_path / "汇编"
    folder.mkdir()
    sample_docx(folder / "a.docx")
    (folder / "broken.docx").write_bytes(b"not a zip")
    loaded = load_compilations([folder, SAMPLE], region="")
    # the DOCX's three policies; the Markdown copy of the same compilation reported, not loaded twice
    assert sorted(u.doc_number for u in loaded.units) == sorted([JOBS, RD, LOAN])
    reasons = [s.reason for s in loaded.skipped]
    assert any("不是有效的 DOCX 文件" in r for r in reasons)
    assert sum("缺少文号" in r for r in reasons) == 2
    assert sum("已从 a.docx 载入，未重复载入" in r for r in reasons) == 3


def test_a_compilation_in_a_source_folder_is_read_once_as_a_compilation(tmp_path, small_laws_db, empty_knowledge, today):
    from bot.config import Settings
    from bot.index.builder import collect

    folder = tmp_path / "sources"
    folder.mkdir()
    path = sample_docx(folder / "汇编.docx")
    settings = Settings(index_dir=tmp_path / "index", laws_db=small_laws_db, knowledge_dir=empty_knowledge,
                        sources=[folder], compilations=[path], today=today)
    from_file = [u for u in collect(settings).units if "汇编.docx" in u.source or u.extra.get("file") == "汇编.docx"]
    assert sorted(u.doc_number for u in from_file) == sorted([JOBS, RD, LOAN])
    assert {u.source for u in from_file} == {"compilation:汇编.docx"}


def test_settings_read_compilations_from_the_environment(tmp_path):
    from bot.config import Settings

    s = Settings.load(env={"FARUN_COMPILATIONS": f"{tmp_path / 'a.docx'}:{tmp_path / 'b'}",
                           "FARUN_COMPILATION_REGION": "济南市历下区"})
    assert s.compilations == [tmp_path / "a.docx", tmp_path / "b"] and s.compilation_region == "济南市历下区"


# ---- an index with the compilation beside knowledge cards -------------------------------------

QA = """---
kind: qa
title: 普法问答：{title}
questions: [{q1}, {q2}]
topic: {topic}
audience: [resident]
scope: 适用：测试用的情形；不适用：其他情形
reviewed_by: "{by}"
reviewed_on: {on}
articles: [中华人民共和国劳动合同法第十条]
---

这是一段足够长的测试回答，用来通过最短长度的检查。
"""
POLICY = """---
kind: policy
title: {title}
issuer: 测试机关
doc_number: {number}
published: 2023-01-09
effective: 2023-01-01
expires: {expires}
topic: 税费减免
eligibility: 小规模纳税人
benefit: 减免一部分税费
conditions: 无
how_to_apply: 申报时直接享受
---

这是一段足够长的政策解读，说明政策的要点和注意事项。
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, small_laws_db, embedder, today):
    """(settings, KnowledgeBase, Service) over two laws, two Q&A cards (one reviewed), two national
    policy cards (one in force, one expired) and the sample compilation, named in the settings."""
    from bot.admin import AdminAuth, Service
    from bot.answer.pipeline import AnswerPipeline
    from bot.config import Settings
    from bot.index.builder import build
    from bot.records import Records
    from bot.retrieval.search import KnowledgeBase

    root = tmp_path_factory.mktemp("compiled")
    knowledge = root / "knowledge"
    knowledge.mkdir()
    (knowledge / "qa-one.md").write_text(QA.format(title="测试一", q1="测试问题一", q2="测试问题二", topic="劳动合同",
                                                   by="示例律师事务所 王某某", on="2026-01-05"), encoding="utf-8")
    (knowledge / "qa-two.md").write_text(QA.format(title="测试二", q1="测试问题三", q2="测试问题四", topic="租房",
                                                   by="", on="null"), encoding="utf-8")
    (knowledge / "p-now.md").write_text(POLICY.format(title="测试现行政策的公告", number="测试〔2023〕1号",
                                                      expires="2027-12-31"), encoding="utf-8")
    (knowledge / "p-old.md").write_text(POLICY.format(title="测试到期政策的公告", number="测试〔2023〕2号",
                                                      expires="2023-12-31"), encoding="utf-8")
    settings = Settings(index_dir=root / "index", laws_db=small_laws_db, knowledge_dir=knowledge,
                        compilations=[SAMPLE], today=today)
    manifest = build(settings, progress=False, embedder=embedder)
    kb = KnowledgeBase.open(settings, embedder=embedder)
    service = Service(settings, AnswerPipeline(kb), Records(root / "farun.sqlite"),
                      AdminAuth.from_credentials("admin", "compilation-admin-pass"), llm=None)
    return settings, kb, service, manifest


def test_build_reports_the_malformed_section_in_the_manifest(compiled):
    manifest = compiled[3]
    [skipped] = [s for s in manifest.skipped if "sample_compilation.md" in s["path"]]
    assert skipped["reason"].startswith(f"第4节“{RENT_TITLE}”（第62行）：缺少文号")


def test_stats_count_cards_by_topic_review_status_and_region(compiled):
    cards = compiled[1].stats()["cards"]
    assert cards["qa"] == {"total": 2, "reviewed": 1, "unreviewed": 1, "by_topic": {"劳动合同": 1, "租房": 1}}
    assert cards["policy"]["total"] == 5 and cards["policy"]["compilation_sections"] == 3
    assert cards["policy"]["by_status"] == {CURRENT: 2, EXPIRED: 2, PENDING: 1}
    assert cards["policy"]["by_region"] == {REGION: 3, "全国": 2}


def test_stats_command_prints_the_counts(compiled, capsys, monkeypatch):
    from bot.cli.main import main

    settings = compiled[0]
    # the CLI opens the index with Settings.load(): point it at this one
    monkeypatch.setenv("FARUN_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("FARUN_TODAY", settings.as_of.isoformat())
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert main(["stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "qa_cards: 2（已审核 1，未审核 1）" in out and "  劳动合同: 1" in out
    assert f"policy_cards: 5（{CURRENT} 2，{EXPIRED} 2，{PENDING} 1；其中汇编章节 3）" in out
    assert f"  {REGION}: 3" in out and "  全国: 2" in out
    assert data["cards"]["policy"]["by_region"] == {REGION: 3, "全国": 2}


def test_policies_filter_by_region_and_in_force(compiled):
    from bot.admin import browse_policies

    kb = compiled[1]
    def titles(**filters) -> list[str]:
        return sorted(u.law for u in browse_policies(kb, **filters).rows)

    assert titles(region=REGION, statuses=[CURRENT]) == [JOBS_TITLE]
    assert len(titles(region=REGION)) == 3
    assert titles(region="全国", statuses=[CURRENT]) == ["测试现行政策的公告"]
    assert len(titles(statuses=[CURRENT])) == 2 and len(titles()) == 5
    assert titles(region="别的区") == []
    assert browse_policies(kb).regions == sorted(["全国", REGION])


def test_enterprise_page_filters_and_shows_the_interpretation_beside_the_text(compiled):
    import gradio as gr

    from ui import pages

    service = compiled[2]
    with gr.Blocks():
        browse, *_ = pages.enterprise_page(service)
    frame, _, regions, _, detail = browse(pages.ALL, pages.ALL, REGION, "现行有效", "")
    assert frame["标题"].tolist() == [JOBS_TITLE]
    assert frame["地区"].tolist() == [REGION] and frame["解读"].tolist() == ["示例律师事务所 王某某"]
    assert REGION in [c[0] if isinstance(c, tuple) else c for c in regions["choices"]]
    assert "律师解读（示例律师事务所 王某某）" in detail and "补助只看两件事" in detail and "每人1000元" in detail
    frame, *_ = browse(pages.ALL, pages.ALL, REGION, "全部", "")
    assert len(frame) == 3
    frame, *_ = browse(pages.ALL, pages.ALL, pages.ALL, "现行有效", "")
    assert sorted(frame["标题"]) == sorted([JOBS_TITLE, "测试现行政策的公告"])
    assert pages.validity_statuses("全部") is None and pages.validity_statuses("现行有效") == [CURRENT]


def test_rendered_policy_card_puts_text_and_interpretation_in_two_columns(compiled):
    from ui import render

    kb = compiled[1]
    units = {u.doc_number: u for u in kb.store.units_at_level(POLICY_LEVEL)}
    html = render.policy_html(units[JOBS])
    columns = html[html.index("farun-policy-columns"):]
    text_at, interpretation_at = columns.index("政策内容"), columns.index("律师解读（示例律师事务所 王某某）")
    assert text_at < columns.index("每人1000元") < interpretation_at < columns.index("补助只看两件事")
    assert "补助只看两件事" not in columns[:interpretation_at]  # not repeated inside the policy text
    assert "出自《示例市示范区惠企政策汇编及律师解读（样例数据）》第1节" in html and "⚠️" not in html
    expired = render.policy_html(units[RD])
    assert "⚠️ 此政策已失效" in expired and "律师解读（示例律师事务所 李某某）" in expired
    # a knowledge card: its own 政策解读 beside the other lines, no lawyer named
    card = render.policy_html(units["测试〔2023〕1号"])
    assert "<h4>政策解读</h4>" in card and "律师" not in card
    assert card.index("优惠内容：减免一部分税费") < card.index("<h4>政策解读</h4>") < card.index("这是一段足够长的政策解读")


def test_enterprise_answer_shows_the_interpretation_of_a_cited_policy(compiled):
    from bot.answer.evidence import make_source
    from bot.answer.models import Answer
    from bot.answer.verify import citation_of
    from ui import render

    kb = compiled[1]
    [hit] = [h for h in kb.search("扩岗补助 新招用本区户籍劳动者", k=10, filters=_policies()) if h.unit.doc_number == JOBS]
    citation = citation_of(make_source(kb, 1, hit, "扩岗补助"))
    assert (citation.region, citation.reviewed_by) == (REGION, "示例律师事务所 王某某")
    assert citation.interpretation.startswith("补助只看两件事")
    md = render.answer_markdown(Answer(question="q", rewritten_question="q", audience="enterprise", answer="见下。",
                                       citations=[citation]), kb, enterprise=True)
    assert f"<b>地区</b>：{REGION}" in md and "<b>律师解读</b>（示例律师事务所 王某某）：" in md
    assert md.index("每人1000元") < md.index("<b>律师解读</b>") < md.index("补助只看两件事")


def _policies():
    from bot.retrieval.search import Filters

    return Filters(level=[POLICY_LEVEL], status=["all"])


def test_api_search_and_policies_carry_the_interpretation_and_region(compiled):
    from fastapi.testclient import TestClient

    from bot.api import create_app

    client = TestClient(create_app(service=compiled[2], rate_limit=0))
    hits = client.get("/api/search", params={"q": "扩岗补助", "level": "政策", "status": "all"}).json()
    [jobs] = [h for h in hits if h["doc_number"] == JOBS]
    assert (jobs["region"], jobs["reviewed_by"]) == (REGION, "示例律师事务所 王某某")
    assert jobs["interpretation"].startswith("补助只看两件事")
    current = client.get("/api/policies", params={"region": REGION}).json()
    assert [p["doc_number"] for p in current] == [JOBS]  # in force only, by default
    assert current[0]["body"].startswith("一、对当年新招用") and current[0]["interpretation"].startswith("补助只看两件事")
    assert (current[0]["compilation"], current[0]["section"]) == ("示例市示范区惠企政策汇编及律师解读（样例数据）", 1)
    every = client.get("/api/policies", params={"region": REGION, "status": "all"}).json()
    assert sorted(p["status"] for p in every) == sorted([CURRENT, EXPIRED, PENDING])
    assert len(client.get("/api/policies", params={"status": "all"}).json()) == 5
    bad = client.get("/api/policies", params={"status": "whatever"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
