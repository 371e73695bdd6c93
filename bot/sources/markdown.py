"""Statute Markdown in both layouts of the shared corpus, and any folder laid out like it.

Layout A (国家法律法规数据库): `# 名称`, header lines, an INFO-END comment, chapters `#### 第一章`,
each article a heading `###### 第一条` with paragraphs below. Layout B (LawRefBook): file
`名称(YYYY-MM-DD).md`, chapters `## 第一章`, each article a line `第一条 …`. Both reduce to
"header + paragraphs" and go through the same article splitter.

Amendment and repeal decisions (关于修改/废止…的决定) become paragraph units; repeal decisions
also yield the titles they repeal, from which `bot.validity` marks those texts 已废止.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .. import region as regions
from ..lawnames import aliases_for, norm_title
from ..numerals import parse_article
from ..units import LOCAL_LEVEL, Unit, stable_id
from ..validity import parse_date
from . import LoadError, read_text
from .segment import split_articles, split_sections

# the comment that closes the header lines; tolerant of spacing, as hand-edited folders vary
INFO_END = re.compile(r"^<!--\s*INFO\s+END\s*-->$")
_VERSION_SUFFIX = re.compile(r"\((\d{4}-\d{2}-\d{2})\)$")
_DECISION = re.compile(r"关于.*(修改|废止).*的决定")
_DOC_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,8}〔\d{4}〕\d+号")
_LOCAL_ISSUER = re.compile(r"([\u4e00-\u9fa5]{2,12}?[省市州县区])第[\u4e00-\u9fa5]+届人民代表大会(常务委员会)?")
_REGION = re.compile(r"^([\u4e00-\u9fa5]{2,8}?(?:自治区|自治州|省|市))")
_TITLE_IN_BOOK = re.compile(r"《([^《》]{4,120}(?:《[^《》]*》[^《》]*)*)》")
_ENUMERATED = re.compile(r"^(?:[一二三四五六七八九十百]+、|\d+[.、．])\s*([^（(，。；]{4,120})")
_TABLE_ROW = re.compile(r"^\|\s*\d+\s*\|\s*([^|]+?)\s*\|")


def level_for(path: Path) -> str:
    """The level a file belongs to, read from the folder it sits in."""
    parts = "/".join(path.parts)
    if "司法解释" in parts:
        return "司法解释"
    if "行政法规" in parts:
        return "行政法规"
    return LOCAL_LEVEL


@dataclass
class Header:
    title: str
    published: date | None = None
    effective: date | None = None
    issuer: str = ""
    lines: list[str] = field(default_factory=list)


def _parse_header(title: str, lines: list[str], level: str) -> Header:
    h = Header(title=title, lines=lines)
    dated = [(parse_date(line), line) for line in lines]
    dated = [(d, line) for d, line in dated if d]
    for d, line in dated:
        if "施行" in line and "通过" not in line:
            h.effective = d
        else:
            h.published = max(h.published, d) if h.published else d
    joined = " ".join(lines)
    if level == "行政法规":
        h.issuer = "国务院"
    elif level == "司法解释":
        h.issuer = "、".join(x for x in ("最高人民法院", "最高人民检察院") if x in title or x in joined) or ""
    elif m := _LOCAL_ISSUER.search(joined):
        h.issuer = f"{m.group(1)}人民代表大会{m.group(2) or ''}"
    return h


def _split(text: str) -> tuple[str, list[str], list[str]]:
    """(title, header lines, body paragraphs), with Markdown heading marks removed."""
    lines = [ln.strip() for ln in text.split("\n")]
    title = next((ln.lstrip("#").strip() for ln in lines if ln.startswith("# ")), "")
    cut = next((i for i, ln in enumerate(lines) if INFO_END.match(ln)), None)
    if cut is not None:
        head, body = lines[:cut], lines[cut + 1 :]
    else:
        head, body = [], lines
    head = [ln.lstrip("-").strip() for ln in head if ln and not ln.startswith("# ")]
    # Layout A breaks one header sentence over two bullet lines ("…通过，自" / "2021年1月1日施行").
    body = [ln.lstrip("#").strip() for ln in body if ln and not ln.startswith("# ") and ln != "<!-- TABLE -->"]
    return title, head, body


@dataclass
class MarkdownDoc:
    units: list[Unit]
    repeals: list[str]  # titles this document repeals (repeal decisions only)
    effective: date | None


def load_file(path: Path, level: str | None = None, source: str = "markdown") -> MarkdownDoc:
    text = read_text(path)
    title, head, body = _split(text)
    version = _VERSION_SUFFIX.search(path.stem)
    title = title or _VERSION_SUFFIX.sub("", path.stem)
    if not body:
        raise LoadError("文件中没有正文")
    level = level or level_for(path)
    header = _parse_header(title, head, level)
    if version:
        header.published = date.fromisoformat(version.group(1))
    doc_no = _DOC_NUMBER.search("\n".join(body[:12]))
    chain = local_region(title, header, path) if level == LOCAL_LEVEL else (regions.NATIONAL,)
    doc_id = stable_id(source, title, header.published or "")
    articles = None if is_decision(title) else split_articles(body)
    base = dict(
        law=title, level=level, source=source, doc_id=doc_id, issuer=header.issuer, region=chain[-1],
        aliases=aliases_for(title), published=header.published.isoformat() if header.published else "",
        valid_from=header.effective.isoformat() if header.effective else "",
        doc_number=doc_no.group(0) if doc_no else "",
    )
    units: list[Unit] = []
    if articles:
        for pos, (chapter, label, paras) in enumerate(articles):
            no, sub = parse_article(label) or (None, None)
            units.append(Unit(uid=stable_id(doc_id, label, pos), text="\n".join(paras), article=label,
                              article_no=no, sub_no=sub, chapter=chapter, position=pos,
                              extra=_extra(path, chain), **base))
    else:
        for pos, (heading, chunk) in enumerate(split_sections(body)):
            units.append(Unit(uid=stable_id(doc_id, heading, pos), text=chunk, heading_path=heading,
                              position=pos, extra=_extra(path, chain), **base))
    effective = header.effective or header.published
    if m := re.search(r"自(\d{4}年\d{1,2}月\d{1,2}日)起施行", "\n".join(body)):
        effective = parse_date(m.group(1))
    return MarkdownDoc(units, repealed_titles(title, body) if "废止" in title else [], effective)


def local_region(title: str, header: Header, path: Path) -> tuple[str, ...]:
    """The region of a local regulation as a chain (山东省, 济南市): the title's (济南市既有多层住宅增设电梯规定
    was enacted by 莱芜市 before the city became part of 济南市), else the enacting body's (烟台葡萄酒产区保护条例
    and 泰山风景名胜区… name theirs only in the header), with the province above a city taken from
    the header (a city's regulation is approved by the province's standing committee) or from the
    folder the file sits in (地方性法规/山东/). 全国 when none of them names a region."""
    m = _REGION.match(title)
    local = m.group(1) if m else header.issuer.split("人民代表大会")[0]
    province = regions.province_in(" ".join(header.lines)) or regions.province_in("/".join(path.parts[:-1]))
    if local and (regions.is_province(local) or not province or province == local):
        return (local,)
    if local:
        return province, local
    return (province or regions.NATIONAL,)


def _extra(path: Path, chain: tuple[str, ...]) -> dict:
    """A unit's loader metadata: its file, and for a local regulation the region chain its region
    sits in (the catalog reads it: a filter on 山东省 reaches 济南市's regulations)."""
    return {"file": path.name} | ({"region_chain": list(chain)} if chain != (regions.NATIONAL,) else {})


def is_decision(title: str) -> bool:
    """An amendment or repeal decision (关于修改/废止…的决定): a text without articles of its own."""
    return bool(_DECISION.search(title))


def repealed_titles(title: str, body: list[str]) -> list[str]:
    """Titles a repeal decision repeals: table rows, enumerated items (一、名称（…）) and 《…》
    names that follow the word 废止 in a sentence.

    Mixed decisions (修改和废止) first list what they amend; their repeal part starts at the
    last short heading that mentions 废止 (e.g. 附件2 国务院决定废止的行政法规).
    """
    start = 0
    if "修改" in title:
        marks = [i for i, ln in enumerate(body) if "废止" in ln and len(ln) < 40]
        start = marks[-1] + 1 if marks else len(body)
    found: list[str] = []
    for line in body[start:]:
        if m := _TABLE_ROW.match(line):
            found.append(m.group(1).split(" 附")[0])
        elif m := _ENUMERATED.match(line):
            found.append(m.group(1))
        elif "废止" in line:
            found.extend(_TITLE_IN_BOOK.findall(line[line.index("废止") :]))
    return [t for t in dict.fromkeys(found) if len(t) >= 4 and norm_title(t) != norm_title(title)]
