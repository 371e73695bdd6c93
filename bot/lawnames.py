"""Law titles, their normal form and their short aliases (民法典, 劳动合同法, 刑诉法 …)."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

_PRC = "中华人民共和国"
_DROP = re.compile(r"[《》〈〉<>“”\"'‘’\s·]")
_DATA = Path(__file__).with_name("data")


def norm_title(title: str) -> str:
    """The form titles are matched in: no 中华人民共和国, no book-title marks, no spaces,
    half-width parentheses unified to full-width.

    `最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释` and the eval data's
    `最高人民法院关于适用《民法典》有关担保制度的解释` normalise to the same string.
    """
    t = _DROP.sub("", title or "").replace(_PRC, "")
    return t.replace("(", "（").replace(")", "）")


_REFERENCE = re.compile(r"^(.*?)(第[零〇一二两三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?)")


def parse_reference(ref: str) -> tuple[str, str] | None:
    """'中华人民共和国民法典第五十四条' -> ('民法典', '54'); '《劳动合同法》第十条之一' -> ('劳动合同法', '10-1')."""
    from .numerals import article_key, parse_article

    m = _REFERENCE.match(norm_title(ref))
    if not m or not m.group(1):
        return None
    return m.group(1), article_key(*parse_article(m.group(2)))


@lru_cache(maxsize=1)
def common_aliases() -> dict[str, str]:
    """Colloquial abbreviations people use (刑诉法 -> 刑事诉讼法), from bot/data/law_aliases.json."""
    path = _DATA / "law_aliases.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def aliases_for(title: str) -> list[str]:
    """Short names a title is known by, beyond the title itself."""
    base = norm_title(title)
    names = {base}
    if title.startswith(_PRC):
        names.add(title[len(_PRC):])
    for short, target in common_aliases().items():
        if norm_title(target) == base:
            names.add(short)
    names.discard(title)
    return sorted(n for n in names if n)
