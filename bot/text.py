"""Query and passage text: normalisation and jieba tokens for BM25.

jieba gets a legal user dictionary (law short names, 劳动仲裁, 经济补偿金 …) so that the terms
people and statutes share stay whole; search-mode cutting adds their parts as well, so 经济补偿金
also matches 经济补偿.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba

jieba.setLogLevel(60)  # jieba logs its dictionary loading at INFO on stderr
_DATA = Path(__file__).with_name("data")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
MAX_QUERY_CHARS = 2000  # a question longer than this is cut: BM25 and the encoders gain nothing from more


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits to half-width), no control or bidi characters,
    whitespace folded. Chinese punctuation is kept: the citation parser relies on 《》."""
    text = unicodedata.normalize("NFKC", text or "")
    text = text.replace("(", "（").replace(")", "）")
    text = _CONTROL.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset((_DATA / "stopwords.txt").read_text(encoding="utf-8").split())


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    tk = jieba.Tokenizer()
    tk.initialize()
    for word in (_DATA / "legal_terms.txt").read_text(encoding="utf-8").split():
        tk.add_word(word, freq=2000)
    return tk


def add_words(words: list[str]) -> None:
    """Teach the tokenizer more whole words (the index adds every law's short names)."""
    tk = _tokenizer()
    for w in words:
        if 2 <= len(w) <= 20:
            tk.add_word(w, freq=2000)


def tokenize(text: str) -> list[str]:
    """BM25 tokens: jieba search-mode words, lower-cased, without stopwords and punctuation."""
    stop = stopwords()
    return [
        w.lower()
        for w in _tokenizer().cut_for_search(normalize(text)[: MAX_QUERY_CHARS * 50])
        if _TOKEN_OK.search(w) and w not in stop
    ]
