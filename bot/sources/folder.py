"""Load every file of a folder with the loader its extension calls for.

.md files are statute Markdown (both corpus layouts) unless they carry YAML front matter, which
makes them documents with the metadata given there (or, with `kind: qa | policy | compilation`,
knowledge cards and a district's policy compilation); .docx/.pdf/.html/.htm/.txt go to the
document loader. A folder's `metadata.csv` (bot.sources.metadata: the fields flk.npc.gov.cn
shows, per file) gives its files' metadata. Anything else is skipped with a reason. Repeal decisions found on the way are
collected for `bot.validity`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from ..lawnames import norm_title
from ..units import Unit
from ..validity import Repeal
from . import LoadError, Skipped, read_text
from . import compilation, documents, knowledge, markdown, metadata


@dataclass
class Loaded:
    units: list[Unit] = field(default_factory=list)
    repeals: dict[tuple[str, str], Repeal] = field(default_factory=dict)  # (level, title) -> repeal
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: "Loaded") -> None:
        self.units += other.units
        self.repeals.update(other.repeals)
        self.skipped += other.skipped


def front_matter(text: str) -> tuple[dict, str] | None:
    """(metadata, body) when text starts with a YAML front-matter block, else None."""
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---", 4)
    if end < 0:
        raise LoadError("front matter 没有结束标记 ---")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date such as 2023-13-45
        raise LoadError(f"front matter 不是有效的 YAML：{exc}") from exc
    if not isinstance(meta, dict):
        raise LoadError("front matter 必须是键值对")
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in meta.items()}, text[end + 4 :].lstrip("\n")


def override(units: list[Unit], meta: dict) -> None:
    """Metadata given from outside the file (at upload, in a metadata table) wins over what the
    file says; the title stays the file's (it names the document and its id)."""
    for u in units:
        for k, v in meta.items():
            if k != "title" and hasattr(u, k):
                setattr(u, k, v)


def load_file(path: Path, source: str, max_bytes: int, level: str | None = None, meta: dict | None = None) -> Loaded:
    """The units of one file; `meta`: its row of the folder's metadata table, if any."""
    out = Loaded()
    table = meta or {}
    suffix = path.suffix.lower()
    if suffix == ".md":
        fm = front_matter(read_text(path, max_bytes))
        if fm:
            meta, body = fm[0] | {k: v for k, v in table.items() if k not in fm[0]}, fm[1]
            if meta.get("kind") in knowledge.CARD_KINDS:  # a Q&A or policy card (knowledge/README.md)
                out.units = knowledge.load_card(path, meta, body)
            elif meta.get("kind") == compilation.KIND:  # 惠企政策汇编及律师解读: a policy per section
                loaded = compilation.load_compilation(path, max_bytes=max_bytes)
                out.units, out.skipped = loaded.units, loaded.skipped
            else:
                out.units = documents.load_text(body, path, {"source": source, **meta})
        else:
            doc = markdown.load_file(path, level=level, source=source)
            out.units = doc.units
            override(out.units, table)
            for title in doc.repeals:
                out.repeals[(doc.units[0].level, norm_title(title))] = Repeal(doc.effective, doc.units[0].law if doc.units else path.stem)
    elif suffix in documents.SUPPORTED_SUFFIXES:
        out.units = documents.load_document(path, {"source": source, **table}, max_bytes=max_bytes)
    else:
        raise LoadError(f"不支持的文件类型 {suffix or '(无扩展名)'}")
    return out


# Data files that sit beside documents (a corpus's own database, the referral directory) are not documents.
DATA_FILES = (".sqlite3", ".db", ".yaml", ".yml", ".json")


def load_folder(root: Path, source: str | None = None, max_bytes: int = 50 << 20,
                exclude: set[Path] | None = None) -> Loaded:
    """Every supported file below root (hidden ones aside); a file that fails is skipped with its reason.

    The same document present twice (same title and version, e.g. two copies in two
    sub-folders) is loaded once. `exclude`: files (resolved paths) another loader reads, such
    as the compilations named in Settings.compilations.
    """
    source = source or f"folder:{root.name}"
    out, seen = Loaded(), set()
    exclude = exclude or set()
    tables: dict[Path, dict[str, dict]] = {}  # folder -> its metadata table (bot.sources.metadata)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        # hidden files and folders (.git, editors' swap files) are never documents
        if any(part.startswith(".") for part in path.relative_to(root).parts) or path.name.upper() in ("README.MD", "SOURCES.MD") or path.suffix in DATA_FILES:
            continue
        if path.resolve() in exclude:
            continue
        if path.name == metadata.FILE:
            continue
        try:
            if path.parent not in tables:
                table = path.parent / metadata.FILE
                tables[path.parent] = {}
                if table.exists():
                    try:
                        tables[path.parent] = metadata.read_table(table)
                    except LoadError as exc:
                        out.skipped.append(Skipped(str(table), str(exc)))
            loaded = load_file(path, source, max_bytes, meta=tables[path.parent].get(path.name))
        except LoadError as exc:
            out.skipped.append(Skipped(str(path), str(exc)))
            continue
        doc_ids = {u.doc_id for u in loaded.units}
        if doc_ids and doc_ids <= seen:
            out.skipped += loaded.skipped
            continue
        seen |= doc_ids
        out.extend(loaded)
    return out


def load_compilations(paths: list[Path], region: str = "", max_bytes: int = 50 << 20) -> Loaded:
    """The policies of the compilations (files, or folders of them) that Settings.compilations
    names: one unit per good section, a `Skipped` with its position for every malformed one, a
    file that cannot be read skipped whole. A policy (region and 文号) already loaded from an
    earlier compilation is reported, not loaded twice."""
    out, seen = Loaded(), {}
    for path in compilation.compilation_files(paths):
        try:
            loaded = compilation.load_compilation(path, region, max_bytes=max_bytes)
        except LoadError as exc:
            out.skipped.append(Skipped(str(path), str(exc)))
            continue
        except OSError as exc:
            out.skipped.append(Skipped(str(path), f"无法读取文件（{exc.strerror or exc}）"))
            continue
        out.skipped += loaded.skipped
        for u in loaded.units:
            if u.doc_id in seen:
                out.skipped.append(Skipped(str(path), f"第{u.extra['section']}节“{u.law}”（{u.extra['where']}）："
                                                      f"文号“{u.doc_number}”已从 {seen[u.doc_id]} 载入，未重复载入"))
                continue
            seen[u.doc_id] = path.name
            out.units.append(u)
    return out
