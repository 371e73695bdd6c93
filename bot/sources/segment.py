"""Cut a plain-text document (a list of lines/paragraphs) into pieces by its own structure.

Statute-like text is cut into articles (第一条 …) under their 编/章/节; anything else (policies,
notices, Q&A) into the body under each heading, packed into chunks of bounded size that never
end mid-sentence.
"""
from __future__ import annotations

import re

from bot.numerals import ARTICLE_RE, CN_NUMBER

HEADING_MAX = 40  # longer lines are prose, whatever they start with
TITLE_MAX = 80  # official titles can be long: 人力资源社会保障部 财政部 关于……的通知
_PROSE_END = tuple("。；，、.;,")  # a line ending so is (part of) a sentence, not a heading
_PROSE_PUNCT = re.compile(r"[。！？；：，、!?;:,]")
_SENTENCE = re.compile(r"[^。！？；]*[。！？；]+[”’」』）)]*|[^。！？；]+$")  # closing quotes stay with their sentence

# 第一编 / 第二分编 / 第三章 / 第四节, outermost first.
_DIVISION = re.compile(rf"^(第\s*(?:{CN_NUMBER}|\d+)\s*(编|分编|章|节))\s*(.*)$")
_RANKS = {"编": 0, "分编": 1, "章": 2, "节": 3}
# A line that starts an article. Not followed by 、，的规之… which mark a cross-reference
# (第三条规定的…, 第三条第二款…, 第三条之规定) that happens to open a paragraph.
_ARTICLE_START = re.compile(rf"{ARTICLE_RE.pattern}(?![、，,的规至和及或中第之])")

_MARKDOWN = re.compile(r"^(#{1,6})\s*(.+)$")
# Enumerations of Chinese official writing, ranked below any Markdown heading (levels 1–6).
_ENUMERATIONS = (
    (re.compile(rf"^{CN_NUMBER}、"), 7),  # 一、
    (re.compile(rf"^[（(]{CN_NUMBER}[)）]"), 8),  # （一） (一)
    (re.compile(r"^\d{1,2}(?:[、．]|\.(?!\d))"), 9),  # 1. 1、 (not 1.5)
)
# 公文 style "（一）支持企业吸纳就业。对招用……": the first sentence is the heading.
_INLINE_HEADING = re.compile(rf"^(.{{1,{HEADING_MAX}}}?)[。：:]\s*(.+)$")


def split_articles(paragraphs: list[str]) -> list[tuple[str, str, list[str]]] | None:
    """(chapter path, article label as written, its paragraphs) per article; None if the text
    has fewer than two article markers and so is not a statute."""
    articles: list[tuple[str, str, list[str]]] = []
    divisions: dict[int, str] = {}
    for line in _lines(paragraphs):
        division = _DIVISION.match(line)
        if division and len(line) <= HEADING_MAX and not line.endswith(_PROSE_END):
            rank = _RANKS[division[2]]
            divisions = {r: h for r, h in divisions.items() if r < rank}
            # 第一章　总　　则 -> 第一章 总则: statutes pad short names with wide spaces.
            divisions[rank] = f"{_squeeze(division[1])} {_squeeze(division[3])}".strip()
        elif article := _ARTICLE_START.match(line):
            rest = line[article.end():].strip()
            path = " / ".join(divisions[r] for r in sorted(divisions))
            articles.append((path, _squeeze(article[0]), [rest] if rest else []))
        elif articles:  # text before the first article is title, preamble or table of contents
            articles[-1][2].append(line)
    return articles if len(articles) >= 2 else None


def split_sections(paragraphs: list[str], max_chars: int = 600) -> list[tuple[str, str]]:
    """(heading path, text) chunks: the body under each heading, cut to at most max_chars at
    paragraph boundaries, and inside an over-long paragraph at sentence ends."""
    lines = _lines(paragraphs)
    sections: list[tuple[str, list[str]]] = [("", [])]  # the text before the first heading
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        heading = _heading(line, lines[i + 1] if i + 1 < len(lines) else None)
        if heading is None:
            sections[-1][1].append(line)
            continue
        level, text, rest = heading
        stack = [(lv, t) for lv, t in stack if lv < level] + [(level, text)]
        sections.append((" / ".join(t for _, t in stack), [rest] if rest else []))
    return [(path, chunk) for path, body in sections for chunk in _chunks(body, max_chars)]


def split_title(paragraphs: list[str]) -> tuple[str | None, list[str]]:
    """The document's own title (its first line, if that reads like one) and the rest."""
    lines = _lines(paragraphs)
    if not lines:
        return None, []
    first = lines[0].lstrip("#").strip()
    numbered = _DIVISION.match(first) or ARTICLE_RE.match(first) or _enumeration(first)
    if first and len(first) <= TITLE_MAX and not first.endswith(_PROSE_END + ("：", ":")) and not numbered:
        return first, lines[1:]
    return None, lines


def _heading(line: str, next_line: str | None) -> tuple[int, str, str] | None:
    """(level, heading text, body text on the same line) if the line is a heading."""
    if markdown := _MARKDOWN.match(line):
        return len(markdown[1]), markdown[2].strip(), ""
    if level := _enumeration(line):
        # Questions (1.如何申领？) head FAQ answers; 一、申请材料： heads its items.
        if len(line) <= HEADING_MAX and not line.endswith(_PROSE_END):
            return level, line.rstrip("：:"), ""
        inline = _INLINE_HEADING.match(line)
        return (level, inline[1], inline[2]) if inline else None
    # A bare short line is a heading only when prose follows it: runs of short lines are
    # signatures, dates, addresses or lists, not headings.
    if _plain_short(line) and next_line is not None and not _plain_short(next_line):
        return 0, line, ""
    return None


def _plain_short(line: str) -> bool:
    return (
        len(line) <= HEADING_MAX
        and not _PROSE_PUNCT.search(line)
        and not _MARKDOWN.match(line)
        and not _enumeration(line)
    )


def _enumeration(line: str) -> int | None:
    """The heading level of an enumerated line (一、 （一） 1.), None if it is not one."""
    return next((level for pattern, level in _ENUMERATIONS if pattern.match(line)), None)


def _chunks(body: list[str], max_chars: int) -> list[str]:
    pieces: list[str] = []
    for paragraph in body:
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
        else:  # a sentence longer than max_chars stays whole: never cut mid-sentence
            pieces += _pack(_SENTENCE.findall(paragraph), "", max_chars)
    return _pack(pieces, "\n", max_chars)


def _pack(pieces: list[str], sep: str, limit: int) -> list[str]:
    """Greedily join consecutive pieces while the result stays within limit."""
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + len(sep) + len(piece) <= limit:
            out[-1] += sep + piece
        else:
            out.append(piece)
    return out


def _lines(paragraphs: list[str]) -> list[str]:
    return [p.strip() for p in paragraphs if p and p.strip()]


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)
