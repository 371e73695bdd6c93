"""Policy documents — DOCX, PDF, HTML, TXT — into units.

Each format is reduced to a list of text lines (headings marked Markdown-style with "#"), then
`segment` cuts the lines by the document's own structure: articles if it reads like a statute,
heading sections otherwise. Every failure becomes a `LoadError` that says what is wrong.
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import docx
from bs4 import BeautifulSoup
from docx.table import Table
from pypdf import PdfReader

from bot.lawnames import aliases_for
from bot.numerals import parse_article
from bot.sources import MAX_FILE_BYTES, LoadError, read_text
from bot.sources.segment import split_articles, split_sections, split_title
from bot.units import POLICY_LEVEL, Unit, iso, stable_id

SUPPORTED_SUFFIXES = {".docx", ".pdf", ".html", ".htm", ".txt"}
NO_TEXT = "文档中没有可提取的文字"

_KINDS = {".docx": "DOCX", ".pdf": "PDF", ".html": "HTML", ".htm": "HTML", ".txt": "文本"}
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-6])$", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^[-—–\s]*(?:\d+|第\s*\d+\s*页.*)[-—–\s]*$")  # - 3 -, 第 3 页 共 9 页
_PARAGRAPH_END = tuple("。！？；：:")
_HTML_DROP = ["script", "style", "nav", "header", "footer", "aside", "noscript", "form", "iframe", "template"]
_HTML_BLOCKS = ["p", "div", "section", "article", "main", "li", "ul", "ol", "dt", "dd", "table",
                "blockquote", "pre", "br", "hr"]
_BREAK = "\x1e"  # marks block boundaries in HTML text, where source newlines mean nothing
_CJK = r"[\u3000-\u9fff\uff00-\uffef]"
_CJK_GAP = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")  # a source line break inside Chinese text


def load_document(path: Path, meta: dict | None = None, *, max_bytes: int = MAX_FILE_BYTES) -> list[Unit]:
    """Units of one document: one per article if it is statute-like, else one per section chunk.

    meta (all optional): title, level, issuer, region, doc_number, published, valid_from,
    valid_to, source_status (the source's validity label), source.
    """
    return _units(read_lines(path, max_bytes=max_bytes), path, meta or {})


def read_lines(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> list[str]:
    """The text lines of a DOCX / PDF / HTML / TXT file, headings marked Markdown-style ("## 标题"):
    a DOCX paragraph or table row is one line, a PDF's printed lines are re-joined into paragraphs.
    Every failure is a `LoadError` that says what is wrong."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"不支持的文件类型：{suffix or '无扩展名'}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"文件过大（{size} 字节，上限 {max_bytes}）")
        return _READERS[suffix](path, max_bytes)
    except LoadError:
        raise
    except OSError as exc:  # missing file, no permission
        raise LoadError(f"无法读取文件（{exc.strerror or exc}）") from exc
    except Exception as exc:  # parsers fail in many ways on damaged files; the user needs one message
        raise LoadError(f"{_KINDS[suffix]} 文件已损坏或无法解析（{type(exc).__name__}: {exc}）") from exc


def load_text(text: str, path: Path, meta: dict | None = None) -> list[Unit]:
    """Units of a document already read as text, e.g. a Markdown body below its front matter;
    path names the file it came from."""
    return _units(text.split("\n"), path, meta or {})


def _units(lines: list[str], path: Path, meta: dict) -> list[Unit]:
    own_title, body = split_title(lines)
    title = meta.get("title") or own_title or path.stem
    articles = split_articles(body)
    if articles:
        pieces = [
            {"article": label, "article_no": parse_article(label)[0], "sub_no": parse_article(label)[1],
             "chapter": chapter, "text": "\n".join(paragraphs)}
            for chapter, label, paragraphs in articles
        ]
    else:
        pieces = [{"heading_path": heading_path, "text": text} for heading_path, text in split_sections(body)]
    if not pieces:
        raise LoadError(NO_TEXT)

    published = iso(meta.get("published"))
    doc_id = stable_id("document", title, published)
    return [
        Unit(
            uid=stable_id(doc_id, position, piece.get("article") or piece.get("heading_path")),
            law=title,
            level=meta.get("level") or POLICY_LEVEL,
            source=meta.get("source") or f"document:{path.name}",
            doc_id=doc_id,
            issuer=meta.get("issuer") or "",
            region=meta.get("region") or "",
            aliases=aliases_for(title),
            published=published,
            valid_from=iso(meta.get("valid_from")),
            valid_to=iso(meta.get("valid_to")),
            source_status=meta.get("source_status") or "",
            doc_number=meta.get("doc_number") or "",
            position=position,
            extra={"file": path.name},
            **piece,
        )
        for position, piece in enumerate(pieces)
    ]


def _docx_lines(path: Path, max_bytes: int) -> list[str]:
    if not zipfile.is_zipfile(path):
        raise LoadError("不是有效的 DOCX 文件（旧版 .doc 请先另存为 .docx）")
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # a ZIP, but not a Word document (missing parts, an .xlsx renamed …)
        raise LoadError(f"不是有效的 DOCX 文件（{exc}）") from exc
    lines = []
    for block in document.iter_inner_content():  # paragraphs and tables in reading order
        if isinstance(block, Table):
            lines += [_row(cell.text for cell in row.cells) for row in block.rows]
        else:
            style = block.style.name if block.style is not None else ""
            heading = _HEADING_STYLE.match(style)
            level = 1 if style.lower() == "title" else int(heading[1]) if heading else 0
            lines.append(_heading_line(level, block.text))
    return lines


def _pdf_lines(path: Path, max_bytes: int) -> list[str]:
    with path.open("rb") as f:
        if f.read(4) != b"%PDF":
            raise LoadError("不是有效的 PDF 文件（缺少 %PDF 文件头）")
    reader = PdfReader(path)
    if reader.is_encrypted and not reader.decrypt(""):
        raise LoadError("PDF 已加密，需要密码才能打开；请提供未加密的版本")
    lines = [line.strip() for page in reader.pages for line in (page.extract_text() or "").splitlines()]
    lines = [line for line in lines if line and not _PAGE_NUMBER.match(line)]
    if not lines:
        raise LoadError(f"{NO_TEXT}（可能是扫描件，需要先做文字识别）")
    return _reflow(lines)


def _reflow(lines: list[str]) -> list[str]:
    """PDF text comes as printed lines: re-join a paragraph that the page width broke, i.e. a
    line that fills the width and does not end its sentence continues on the next line."""
    full = max(20, 0.85 * max(map(len, lines)))
    out: list[str] = []
    previous = ""
    for line in lines:
        if out and len(previous) >= full and not previous.endswith(_PARAGRAPH_END):
            out[-1] += line
        else:
            out.append(line)
        previous = line
    return out


def _html_lines(path: Path, max_bytes: int) -> list[str]:
    soup = BeautifulSoup(read_text(path, max_bytes), "lxml")
    for tag in soup(_HTML_DROP):
        tag.decompose()
    # The page's own <h1> names the document; <title> usually adds the site name.
    h1 = soup.find("h1")
    title = h1.get_text(" ", strip=True) if h1 else ""
    if h1:
        h1.decompose()
    if not title and soup.title:
        title = soup.title.get_text(" ", strip=True)
    root = soup.body or soup
    for tr in root.find_all("tr"):
        cells = (cell.get_text(" ", strip=True) for cell in tr.find_all(["td", "th"], recursive=False))
        tr.replace_with(_BREAK + _row(cells) + _BREAK)
    for heading in root.find_all(re.compile(r"^h[1-6]$")):
        text = heading.get_text(" ", strip=True)
        heading.replace_with(_BREAK + _heading_line(int(heading.name[1]), text) + _BREAK)
    for block in root.find_all(_HTML_BLOCKS):
        block.insert_before(_BREAK)
        block.insert_after(_BREAK)
    lines = [_CJK_GAP.sub("", " ".join(part.split())) for part in root.get_text().split(_BREAK)]
    return [_heading_line(1, title), *lines]


def _txt_lines(path: Path, max_bytes: int) -> list[str]:
    return read_text(path, max_bytes).split("\n")


_READERS: dict[str, Callable[[Path, int], list[str]]] = {
    ".docx": _docx_lines, ".pdf": _pdf_lines, ".html": _html_lines, ".htm": _html_lines, ".txt": _txt_lines,
}


def _heading_line(level: int, text: str) -> str:
    """A heading as segment reads it (## 标题); plain text for level 0."""
    text = " ".join(text.split())
    return f"{'#' * level} {text}" if level and text else text


def _row(cells: Iterable[str]) -> str:
    """A table row as one line; a merged cell is reported once per spanned column, so keep one."""
    out: list[str] = []
    for cell in (" ".join(c.split()) for c in cells):
        if cell and (not out or out[-1] != cell):
            out.append(cell)
    return " | ".join(out)
