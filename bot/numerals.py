"""Chinese numerals as statutes write them: 第一千零七十九条 <-> 1079, 第十条之一."""
from __future__ import annotations

import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
CN_NUMBER = "[零〇一二两三四五六七八九十百千万]+"
# An article reference: 第八十二条, 第82条, 第一百二十条之一 (the suffix as a group).
ARTICLE_RE = re.compile(rf"第\s*({CN_NUMBER}|\d+)\s*条(?:\s*之\s*({CN_NUMBER}|\d+))?")


def cn_to_int(text: str) -> int | None:
    """Parse 一千零七十九 / 1079 / 十 / 二十三 into an int; None if it is not a number."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    total, section, digit = 0, 0, 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if unit == 10000:
                total += (section + digit) * unit
                section, digit = 0, 0
            else:
                section += (digit or 1) * unit  # 十三 = 13: a bare 十 counts as 一十
                digit = 0
        else:
            return None
    return total + section + digit


def int_to_cn(n: int) -> str:
    """1079 -> 一千零七十九, 10 -> 十, 110 -> 一百一十 (the statute convention; n < 10000)."""
    if n <= 0:
        return "零"
    digits = "零一二三四五六七八九"
    parts, zero_pending = [], False
    for value, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = (n // value) % 10
        if d:
            if zero_pending:
                parts.append("零")
            parts.append(digits[d] + name)
            zero_pending = False
        elif parts:
            zero_pending = True
    s = "".join(parts)
    if 10 <= n < 20:
        s = s[1:]  # 一十三 -> 十三
    return s


def article_label(no: int, sub: int | None = None) -> str:
    """(1079, None) -> 第一千零七十九条; (120, 1) -> 第一百二十条之一."""
    label = f"第{int_to_cn(no)}条"
    return f"{label}之{int_to_cn(sub)}" if sub else label


def parse_article(text: str) -> tuple[int, int | None] | None:
    """The first article reference in text as (number, sub-number or None)."""
    m = ARTICLE_RE.search(text)
    if not m:
        return None
    no = cn_to_int(m.group(1))
    if no is None:
        return None
    return no, (cn_to_int(m.group(2)) if m.group(2) else None)


def article_key(no: int | None, sub: int | None = None) -> str:
    """A compact key for matching articles across sources: '82', '120-1'."""
    if no is None:
        return ""
    return f"{no}-{sub}" if sub else str(no)
