"""Sanitising text on its way in and out: personal numbers and secrets out of anything that is
searched, sent to a model, shown or logged; invisible characters out of what is displayed."""
from __future__ import annotations

import os
import re
import unicodedata

# Digit runs are bounded on both sides so that a number inside a longer one is left alone.
# An ID-card number is often typed in groups (370102 19900307 1234, 3701 0219 …): one space or
# hyphen may stand between any two of its characters; the birth-date structure keeps that safe.
_GAP = r"[ \-]?"


def _id_card_pattern() -> re.Pattern:
    def gapped(*parts: str) -> str:
        return _GAP.join(parts)

    def either(*options: tuple[str, str]) -> str:
        return "(?:" + "|".join(gapped(*o) for o in options) + ")"

    digit = r"\d"
    century = either(("1", "[89]"), ("2", "0"))
    month = either(("0", "[1-9]"), ("1", "[0-2]"))
    day = either(("0", "[1-9]"), ("[12]", digit), ("3", "[01]"))
    number = gapped("[1-9]", *[digit] * 5, century, digit, digit, month, day, digit, digit, digit, r"[\dXx]")
    return re.compile(r"(?<![0-9A-Za-z])" + number + r"(?![0-9A-Za-z])")


_ID_CARD = _id_card_pattern()
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(?:[(（]0\d{2,3}[)）]\s?|0\d{2,3}[-\s]?)[2-9]\d{6,7}(?:-\d{1,6})?(?!\d)")
_KEYLIKE = re.compile(r"\b(?:sk|pk|rk|ak)-[A-Za-z0-9_\-]{12,}\b")
_SECRET_ENV = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD", re.IGNORECASE)


# Full-width digits and signs (１３８…, Ｘ) as their ASCII twins, one character for one, so that a
# match in the folded text is the same span of the original.
_WIDE = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                       "Ｘ": "X", "ｘ": "x", "＋": "+", "－": "-", "\u3000": " "})
_PERSONAL = ((_ID_CARD, "[身份证号]"), (_MOBILE, "[手机号]"), (_LANDLINE, "[电话]"))


def redact(text: str) -> str:
    """ID-card numbers (18 digits, last may be X), mobile numbers (1[3-9] + 9 digits) and
    landlines (0 + area code + 7–8 digits), typed in half- or full-width characters, replaced
    by placeholders; the rest of the text is left as it was written."""
    text = text or ""
    for pattern, label in _PERSONAL:
        folded = text.translate(_WIDE)
        for start, end in reversed([m.span() for m in pattern.finditer(folded)]):
            text = text[:start] + label + text[end:]
    return text


class SecretScrubber:
    """Removes values a model must never echo: the configured API key, any secret-looking
    environment variable (a reply may have been coaxed into revealing one) and API-key shapes.
    The environment is read when the scrubber is made (a verifier makes one per answer and
    scrubs every sentence with it: reading os.environ per sentence was 2 ms of an answer)."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        values = set(secrets) | {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8}
        self.values = sorted((v for v in values if v and len(v) >= 6), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, "[已隐去]")
        return _KEYLIKE.sub("[已隐去]", text)


def scrub_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    return SecretScrubber(secrets)(text)


def printable(text: str) -> str:
    """Text without control and format characters (bidi overrides, zero-width marks), spaces
    folded; unlike search normalisation it keeps the asker's own punctuation for display."""
    folded = re.sub(r"\s+", " ", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
