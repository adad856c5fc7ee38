"""Text the router compares: one normal form for classification, one for duplicate checks.

Residents write in simplified or traditional characters, full-width digits, with phone numbers
and punctuation; none of that should change a category or hide a re-typed duplicate. zhconv
(pure Python, dictionary inside the wheel) maps traditional to simplified offline.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import zhconv

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
# Only texts with a CJK character need the converter; the check is cheap and the conversion is
# the slow part (bench/RESULTS.md, "Routing: figures behind the router's design").
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _triggers() -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """What can make zhconv change a text, read from its zh-cn table once.

    zhconv replaces, left to right, the longest table key found at each position by its value.
    A text with no *changing* key (value ≠ key) in it comes out as it went in: every match is a
    key that maps to itself. A changing key is either a traditional character (or holds one),
    or a word of simplified characters that the table rewrites (行人路 → 人行道, 么叔 → 幺叔),
    looked up by its first character. Most residents' texts hold neither, and the conversion
    was a large part of reading the places of the open cases at a worker's take-over
    (bench/RESULTS.md, workers killed)."""
    table = zhconv.zhconv.getdict("zh-cn")
    changing = [k for k, v in table.items() if k != v]
    traditional = frozenset(k for k in changing if len(k) == 1)
    words: dict[str, list[str]] = {}
    for key in changing:
        if traditional.isdisjoint(key):  # simplified characters only, so two or more of them
            words.setdefault(key[0], []).append(key)
    return traditional, {start: tuple(keys) for start, keys in words.items()}


_TRADITIONAL, _WORDS_BY_START = _triggers()
_WORD_STARTS = frozenset(_WORDS_BY_START)


def _may_change(text: str) -> bool:
    """Whether zhconv's zh-cn conversion could change ``text`` (False: it would not)."""
    if not _TRADITIONAL.isdisjoint(text):
        return True
    return any(
        word in text for start in _WORD_STARTS.intersection(text) for word in _WORDS_BY_START[start]
    )


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}


@lru_cache(maxsize=4096)
def simplified(text: str) -> str:
    """NFKC (full-width → ASCII) and traditional → simplified characters."""
    text = unicodedata.normalize("NFKC", text)
    if _CJK.search(text) and _may_change(text):
        text = str(zhconv.convert(text, "zh-cn"))
    return text


def for_model(text: str) -> str:
    """Classification form: simplified, lower case, digit runs collapsed (house and phone
    numbers say nothing about the category)."""
    return _DIGITS.sub("0", simplified(text).lower())


def for_compare(text: str) -> str:
    """Duplicate-check form: simplified, no punctuation or spaces (re-typed text differs there
    first)."""
    return _PUNCT.sub("", simplified(text).lower())


def chinese_number(token: str) -> int | None:
    """``28`` / ``二十八`` / ``三`` → int; ``None`` when it is not a number."""
    if token.isdigit():
        return int(token)
    if not token or any(ch not in _CN_DIGITS and ch not in "十百" for ch in token):
        return None
    total, current = 0, 0
    for ch in token:
        if ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = current * 10 + _CN_DIGITS[ch] if current else _CN_DIGITS[ch]
    return total + current


def char_ngrams(text: str, low: int = 1, high: int = 3) -> list[str]:
    """Character n-grams of a classification-form text, the way the TF-IDF model was fit
    (scikit-learn's ``analyzer="char"``: white space collapsed, no padding)."""
    text = re.sub(r"\s\s+", " ", text)
    grams: list[str] = []
    n_chars = len(text)
    for n in range(low, high + 1):
        for i in range(n_chars - n + 1):
            grams.append(text[i : i + n])
    return grams
