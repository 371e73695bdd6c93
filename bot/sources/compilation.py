"""A district's 惠企政策汇编及律师解读 — a compilation of the policies that benefit its enterprises,
each with a lawyer's interpretation — as policy units, one per section (format: knowledge/README.md).

A compilation is one DOCX, PDF, TXT or Markdown file: a header (its title, and lines such as
"地区：济南市历下区", "解读单位：某某律师事务所"), then one section per policy:

    ## 一、示例市示范区关于支持小微企业稳岗扩岗的若干措施      <- the section's heading: the title
    文号：示范政发〔2025〕3号
    发文机关：示例市示范区人民政府
    发布日期：2025年3月1日
    施行日期：2025年3月1日                                      (missing: the publication date)
    截止日期：2027年12月31日                                    (or 有效期：…至…; missing or 长期: no end)
    （the policy's text）
    ### 律师解读
    解读律师：示例律师事务所 王某某                            (missing: the header's 解读单位)
    （the interpretation）

Sections are found by headings (Markdown #, DOCX heading styles): the level of the headings that
are followed directly by a 文号/发文机关/日期 line. Without headings (PDF, plain DOCX, TXT) a
section starts at each line directly followed by such a line. Each good section becomes one
`Unit` of level 政策 whose `extra` keeps the interpretation (`extra["interpretation"]`), the
policy text (`extra["body"]`), the interpreting lawyer or firm (`extra["reviewed_by"]`) and where
the section is (`extra["section"]`, `extra["line"]`); its validity comes from the dates
(`bot.validity`). A malformed section (no 文号, a date that is not one, no 律师解读 …) is never
dropped silently: it comes back in `Compilation.skipped` with the file, the section's number and
heading and its line (DOCX: paragraph), and the good sections still load.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from ..numerals import CN_NUMBER, cn_to_int
from ..units import POLICY_LEVEL, POLICY_TOPICS, Unit, iso, stable_id
from ..validity import parse_date
from . import MAX_FILE_BYTES, LoadError, Skipped, read_text
from .documents import read_lines

KIND = "compilation"  # the front-matter kind of a Markdown compilation in a source folder
SOURCE_PREFIX = "compilation:"
SUFFIXES = (".md", ".docx", ".pdf", ".txt")

# labelled lines, by field; a label is followed by ： or :
_SECTION_KEYS = {
    "doc_number": ("文号", "发文字号", "发文文号"),
    "issuer": ("发文机关", "发文单位", "印发机关", "制定机关"),
    "published": ("发布日期", "印发日期", "发文日期", "成文日期", "发布时间", "印发时间"),
    "effective": ("施行日期", "实施日期", "生效日期", "执行日期", "施行时间", "实施时间"),
    "expires": ("截止日期", "失效日期", "有效期至", "截止时间", "执行期限至"),
    "period": ("有效期", "执行期限", "有效期限"),
    "topic": ("主题", "政策类别", "类别", "政策分类"),
}
_HEADER_KEYS = {
    "region": ("地区", "适用地区", "区域"),
    "reviewed_by": ("解读单位", "解读律师", "解读机构", "编制单位", "法律顾问单位", "律师事务所"),
    "reviewed_on": ("编制日期", "汇编日期", "印制日期", "解读日期"),
}
_LAWYER_KEYS = ("解读律师", "解读人", "解读单位", "解读机构", "点评律师")
_FIELD_NAMES = {"doc_number": "文号", "issuer": "发文机关", "published": "发布日期", "effective": "施行日期",
                "expires": "截止日期", "period": "有效期"}


def _label_re(labels) -> re.Pattern:
    return re.compile(rf"^(?:{'|'.join(sorted(labels, key=len, reverse=True))})\s*[:：]\s*(.*)$")


_SECTION_LINE = {k: _label_re(v) for k, v in _SECTION_KEYS.items()}
_HEADER_LINE = {k: _label_re(v) for k, v in _HEADER_KEYS.items()}
_LAWYER_LINE = re.compile(rf"^[（(]?\s*(?:{'|'.join(_LAWYER_KEYS)})\s*[:：]\s*([^）)]+?)\s*[）)]?$")
_LAWYER_TAIL = re.compile(rf"[（(]\s*(?:{'|'.join(_LAWYER_KEYS)})\s*[:：]\s*([^）)]+?)\s*[）)]\s*$")
# 律师解读 / 【律师解读】 / 律师解读（某某律师事务所 张某）：正文…
_MARKER = re.compile(r"^[【\[〔]?\s*律师(?:解读|点评)\s*[】\]〕]?\s*(?:[（(]([^）)]*)[）)])?\s*[:：]?\s*(.*)$")
_BODY_HEADING = re.compile(r"^[【\[〔]?\s*(?:政策原文|政策内容|政策全文|原文|正文)\s*[】\]〕]?\s*[:：]?$")
_HEADING = re.compile(r"^(#{1,6})\s*(.*)$")
# 一、 / （一） / 1. / 第一篇 / 政策一： before a section's title
_NUMBERING = re.compile(rf"^(?:第\s*(?:{CN_NUMBER}|\d+)\s*[篇章部分节项]+\s*|政策\s*(?:{CN_NUMBER}|\d+)\s*[:：、.．]?\s*"
                        rf"|(?:{CN_NUMBER}|\d+)\s*[、.．]\s*|[（(]\s*(?:{CN_NUMBER}|\d+)\s*[)）]\s*)")
_NOT_POLICY = {"目录", "前言", "序言", "说明", "编制说明", "使用说明", "后记", "附录", "声明", "免责声明"}
_REGION_IN_TITLE = re.compile(r"^(.{2,20}?(?:省|市|州|盟|区|县|旗))(?=(?:惠企|涉企|助企|优惠|支持|扶持)?政策)")
_CN_DATE = re.compile(r"([〇零○一二三四五六七八九]{4})\s*年\s*([一二三四五六七八九十]{1,3})\s*月\s*([一二三四五六七八九十]{1,3})\s*日")
_CN_DIGIT = {c: str(i) for i, c in enumerate("〇一二三四五六七八九")} | {"零": "0", "○": "0"}
_NO_END = re.compile(r"^(?:长期(?:有效)?|无|—+|-+|不限)$")
_FROM_PUBLICATION = re.compile(r"^自?(?:印发|发布|公布|发文)之日起(?:施行|实施|执行|生效)?$")


class SectionError(LoadError):
    """One section of a compilation that cannot become a policy: where it is and why."""

    def __init__(self, number: int, heading: str, where: str, problems: list[str]):
        self.number, self.heading, self.where, self.problems = number, heading, where, problems
        super().__init__(f"第{number}节“{heading}”（{where}）：{'；'.join(problems)}")


@dataclass
class Compilation:
    """What one compilation file gave: a unit per good section, a `Skipped` per malformed one."""

    title: str
    region: str
    units: list[Unit] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class _Line:
    no: int  # 1-based line (paragraph) of the file
    text: str  # without Markdown heading marks
    level: int = 0  # heading level, 0 for text


@dataclass
class _Section:
    number: int
    heading: str
    line: int
    lines: list[_Line]
    part: str = ""  # the heading of the part it sits in (第二部分 税费政策), if any


# ---- reading -------------------------------------------------------------------------------

def _read(path: Path, max_bytes: int) -> tuple[dict, list[_Line]]:
    """(front matter, lines) of a compilation file, each line numbered as in the file (a DOCX's
    paragraphs and table rows, a PDF's re-joined lines)."""
    meta: dict = {}
    if path.suffix.lower() == ".md":
        raw = read_text(path, max_bytes).split("\n")
        first = 0
        if raw and raw[0] == "---":
            end = next((i for i in range(1, len(raw)) if raw[i] == "---"), None)
            if end is None:
                raise LoadError("front matter 没有结束标记 ---")
            try:
                meta = yaml.safe_load("\n".join(raw[1:end])) or {}
            except (yaml.YAMLError, ValueError) as exc:
                raise LoadError(f"front matter 不是有效的 YAML：{exc}") from exc
            if not isinstance(meta, dict):
                raise LoadError("front matter 必须是键值对")
            first = end + 1
        numbered = list(enumerate(raw, 1))[first:]
    elif path.suffix.lower() in SUFFIXES:
        numbered = list(enumerate(read_lines(path, max_bytes=max_bytes), 1))
    else:
        raise LoadError(f"汇编只支持 DOCX、PDF、TXT 和 Markdown 文件，不支持 {path.suffix or '无扩展名'}")
    lines = []
    for no, text in numbered:
        text = text.strip()
        if not text:
            continue
        heading = _HEADING.match(text)
        if heading:
            lines.append(_Line(no, " ".join(heading[2].split()), len(heading[1])))
        else:
            lines.append(_Line(no, text))
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in meta.items()}, lines


def _is_section_meta(text: str) -> bool:
    return any(rx.match(text) for key, rx in _SECTION_LINE.items() if key != "topic")


def _plain(heading: str) -> str:
    """A heading without its numbering and quotes: 一、《关于……的通知》 -> 关于……的通知."""
    return _NUMBERING.sub("", heading, count=1).strip().strip("《》").strip()


def _is_marker(text: str) -> bool:
    return bool(_MARKER.match(text))


def _next_text(lines: list[_Line], i: int) -> _Line | None:
    return lines[i + 1] if i + 1 < len(lines) else None


def _split(lines: list[_Line]) -> tuple[list[_Line], list[_Section]]:
    """(header lines, sections). See the module's docstring for how sections are found."""
    def anchored(i: int) -> bool:
        nxt = _next_text(lines, i)
        line = lines[i]
        return (nxt is not None and _is_section_meta(nxt.text) and not _is_section_meta(line.text)
                and not _is_marker(line.text) and not _BODY_HEADING.match(line.text))

    # the first line is the compilation's title, unless a section starts the file (title in front matter)
    headings = [i for i, line in enumerate(lines) if line.level and (i > 0 or anchored(i))]
    anchor_levels = [lines[i].level for i in headings if anchored(i)]
    if anchor_levels:  # heading mode: every heading of the sections' level starts one
        level = min(anchor_levels)
        starts = {i for i in headings if lines[i].level == level and not _is_marker(lines[i].text)
                  and not _BODY_HEADING.match(lines[i].text)}
        parts = {i for i in headings if lines[i].level < level}
    else:  # plain mode: a line followed by a 文号 / 发文机关 / date line starts a section
        starts = {i for i in range(len(lines)) if anchored(i)}
        parts = set()
    if not starts:
        raise LoadError("没有找到政策章节：每一节应以政策标题开头，标题下紧接“文号：”“发文机关：”“发布日期：”等行"
                        "（格式见 knowledge/README.md）")
    header, sections, current, part = [], [], None, ""
    for i, line in enumerate(lines):
        if i in starts or i in parts:
            current = None
            if _plain(line.text) in _NOT_POLICY:  # 目录, 编制说明 …: neither a policy nor part of one
                continue
            if i in parts:
                part = _plain(line.text)
                continue
            current = _Section(len(sections) + 1, _plain(line.text) or line.text, line.no, [], part)
            sections.append(current)
        elif current is not None:
            current.lines.append(line)
        elif not sections:
            header.append(line)
    return header, sections


# ---- values --------------------------------------------------------------------------------

def _date(text: str) -> date | None:
    """The first date in text: 2025年3月1日, 2025-03-01, 2025.3.1 or 二〇二五年三月一日."""
    m = _CN_DATE.search(text)
    if m:
        year = "".join(_CN_DIGIT[c] for c in m[1])
        try:
            return date(int(year), cn_to_int(m[2]), cn_to_int(m[3]))
        except (TypeError, ValueError):
            return None
    return parse_date(text)


def _has_date_shape(text: str) -> bool:
    return bool(re.search(r"\d{4}\s*[年\-./]|[〇零○一二三四五六七八九]{4}\s*年", text))


def _period(text: str) -> tuple[date | None, date | None, bool]:
    """(start, end, ok) of 有效期 "2025年3月1日至2027年12月31日" / "自2025年3月1日起长期有效"."""
    pieces = re.split(r"至|到|—|～|~", text, maxsplit=1)
    start = _date(pieces[0]) if _has_date_shape(pieces[0]) else None
    if len(pieces) == 2:
        rest = pieces[1].strip().rstrip("止")
        if _NO_END.match(rest) or "长期" in rest:
            return start, None, start is not None
        end = _date(rest)
        return start, end, end is not None and (start is not None or not _has_date_shape(pieces[0]))
    if "长期" in text:
        return start, None, True
    return start, None, False


def _header_fields(header: list[_Line], meta: dict) -> dict:
    out = {"title": str(meta.get("title") or (header[0].text if header else "")).strip()}
    for line in header:
        for key, rx in _HEADER_LINE.items():
            if (m := rx.match(line.text)) and key not in out:
                out[key] = m[1].strip()
    for key in ("region", "reviewed_by", "reviewed_on"):
        if meta.get(key):
            out[key] = str(meta[key]).strip()
    return out


# ---- sections ------------------------------------------------------------------------------

def _parse(section: _Section, where: str, default_lawyer: str, seen: dict[str, int]) -> dict:
    """The fields of one section; SectionError listing every problem it has."""
    problems: list[str] = []
    values: dict[str, str] = {}
    lines = list(section.lines)
    i = 0
    while i < len(lines) and not lines[i].level:  # the labelled lines right below the heading
        key = next((k for k, rx in _SECTION_LINE.items() if rx.match(lines[i].text)), None)
        if key is None:
            break
        values.setdefault(key, _SECTION_LINE[key].match(lines[i].text)[1].strip())
        i += 1
    body: list[str] = []
    interpretation: list[str] = []
    lawyer, marker_line = "", None
    for line in lines[i:]:
        marker = _MARKER.match(line.text)
        if marker and marker_line is not None:
            problems.append(f"第{line.no}{where}又出现一处“律师解读”：下一节的标题下可能缺少文号、发文机关等行")
            break
        if marker:
            marker_line = line.no
            who = (marker[1] or "").strip()
            if who and (m := _LAWYER_LINE.match(who)):
                who = m[1]
            lawyer = lawyer or who
            if marker[2].strip():
                interpretation.append(marker[2].strip())
            continue
        if marker_line is None:
            if not body and _BODY_HEADING.match(line.text):
                continue
            body.append(line.text)
            continue
        if m := _LAWYER_LINE.match(line.text):
            lawyer = lawyer or m[1].strip()
            continue
        text = line.text
        if m := _LAWYER_TAIL.search(text):
            lawyer = lawyer or m[1].strip()
            text = text[: m.start()].rstrip()
        if text:
            interpretation.append(text)

    if not values.get("doc_number"):
        problems.insert(0, "缺少文号（标题下应有一行“文号：……”）")
    elif values["doc_number"] in seen:
        problems.insert(0, f"文号“{values['doc_number']}”与第{seen[values['doc_number']]}节重复")
    if not values.get("issuer"):
        problems.append("缺少发文机关（“发文机关：……”）")
    dates: dict[str, date | None] = {}
    for key in ("published", "effective", "expires"):
        text = values.get(key, "")
        if not text or (key == "expires" and _NO_END.match(text)) or (
                key == "effective" and _FROM_PUBLICATION.match(text)):
            dates[key] = None  # none given, 长期有效, 自印发之日起施行 (the publication date then)
        elif (d := _date(text)) is None:
            problems.append(f"{_FIELD_NAMES[key]}“{text}”不是有效的日期（应写作 2025年3月1日 或 2025-03-01）")
        else:
            dates[key] = d
    if values.get("period"):
        start, end, ok = _period(values["period"])
        if not ok:
            problems.append(f"有效期“{values['period']}”无法读出起止日期（应写作 2025年3月1日至2027年12月31日，"
                            f"或写“截止日期：……”）")
        dates["effective"] = dates.get("effective") or start
        dates["expires"] = dates.get("expires") or end
    if not values.get("published"):
        problems.append("缺少发布日期（“发布日期：……”）")
    effective = dates.get("effective") or dates.get("published")
    if dates.get("expires") and effective and dates["expires"] < effective:
        problems.append("截止日期早于施行日期")
    if not body:
        problems.append("没有政策正文（标题和文号等行之后、律师解读之前）")
    if marker_line is None:
        problems.append("缺少“律师解读”部分")
    elif not interpretation:
        problems.append("律师解读是空的")
    lawyer = lawyer or default_lawyer
    if marker_line is not None and not lawyer:
        problems.append("律师解读没有写明解读律师或律师事务所（“解读律师：……”，或在汇编开头写“解读单位：……”）")
    if problems:
        raise SectionError(section.number, section.heading, f"第{section.line}{where}", problems)
    seen[values["doc_number"]] = section.number
    topic = values.get("topic", "")
    return {
        "title": section.heading, "doc_number": values["doc_number"], "issuer": values["issuer"],
        "published": dates["published"], "effective": effective, "expires": dates.get("expires"),
        "topic": topic if topic in POLICY_TOPICS else "其他", "category": topic or section.part,
        "body": "\n".join(body), "interpretation": "\n".join(interpretation), "reviewed_by": lawyer,
    }


def _unit(p: dict, section: _Section, path: Path, compilation: dict, where: str) -> Unit:
    doc_id = stable_id(KIND, compilation["region"], p["doc_number"])
    text = "\n".join([f"发文机关：{p['issuer']}；文号：{p['doc_number']}", p["body"],
                      f"律师解读（{p['reviewed_by']}）：{p['interpretation']}"])
    extra = {
        "kind": KIND, "file": path.name, "compilation": compilation["title"], "section": section.number,
        "line": section.line, "where": f"第{section.line}{where}", "title": p["title"], "issuer": p["issuer"], "doc_number": p["doc_number"],
        "published": iso(p["published"]), "effective": iso(p["effective"]), "expires": iso(p["expires"]) or None,
        "topic": p["topic"], "category": p["category"], "region": compilation["region"], "body": p["body"],
        "interpretation": p["interpretation"], "reviewed_by": p["reviewed_by"],
        "reviewed_on": compilation.get("reviewed_on", ""), "audience": ["enterprise"], "articles": [],
    }
    return Unit(
        uid=stable_id(doc_id, 0, p["doc_number"]), law=p["title"], text=text, level=POLICY_LEVEL,
        source=SOURCE_PREFIX + path.name, doc_id=doc_id, issuer=p["issuer"], region=compilation["region"],
        aliases=[p["title"], p["doc_number"]], published=iso(p["published"]), valid_from=iso(p["effective"]),
        valid_to=iso(p["expires"]), doc_number=p["doc_number"], position=section.number, extra=extra,
    )


def load_compilation(path: Path, region: str = "", *, max_bytes: int = MAX_FILE_BYTES) -> Compilation:
    """The policies of one compilation file. `region` is used when the file does not name its
    region in a "地区：" line (or front matter `region:`); failing both, a region in the title
    (济南市历下区惠企政策汇编 → 济南市历下区). A file that cannot be read, has no sections or no
    region raises `LoadError`; a malformed section is reported in `skipped`."""
    path = Path(path)
    meta, lines = _read(path, max_bytes)
    if meta and meta.get("kind") not in (None, KIND):
        raise LoadError(f"front matter 的 kind 应为 {KIND}，实际为 {meta.get('kind')!r}")
    header, sections = _split(lines)
    head = _header_fields(header, meta)
    guessed = _REGION_IN_TITLE.match(head["title"])
    head["region"] = head.get("region") or region.strip() or (guessed[1] if guessed else "")
    if not head["region"]:
        raise LoadError("没有写明适用地区：请在汇编开头写一行“地区：济南市历下区”，或设置 FARUN_COMPILATION_REGION")
    if head.get("reviewed_on"):
        head["reviewed_on"] = iso(_date(head["reviewed_on"]))
    where = "段" if path.suffix.lower() == ".docx" else "行"
    out = Compilation(head["title"] or path.stem, head["region"])
    seen: dict[str, int] = {}
    for section in sections:
        try:
            fields = _parse(section, where, head.get("reviewed_by", ""), seen)
        except SectionError as exc:
            out.skipped.append(Skipped(str(path), str(exc)))
            continue
        out.units.append(_unit(fields, section, path, head | {"title": out.title}, where))
    return out


def compilation_files(paths: list[Path]) -> list[Path]:
    """The compilation files named by paths: a file itself, a folder every supported file in it."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
                          and not f.name.startswith(".") and f.name.upper() != "README.MD")
        else:
            out.append(p)
    return out
