"""One detector for police and personal identifiers (身份证号 车牌 警号 银行卡 护照 电话),
whatever their spelling, used by every channel adapter and by the dead-letter store.

Why our own patterns beside helan (``privacy.py`` still runs helan as a second net):
helan 0.1 finds only checksum-valid 18-digit IDs written as one run of half-width digits
(no full-width ``４５０…``, no Chinese numerals ``四五〇…``, no ``450502 1990 0101 1234`` or
``450502.19900101.1234``, no 15-digit IDs); plates only with ``·``/``•`` or nothing between
region and serial, upper case, without the 警/学/挂/领/使/港/澳 forms; no police badge numbers
(警号: its OFFICER_ID is the military 军官证); passports only as one letter and 8 digits;
bank cards and mobiles only as one unbroken run. A leak costs far more than a masked house
number, so these patterns lean towards masking.

How: the text is first *normalised* into a shadow string (NFKC, so full-width digits and
letters become ASCII; Chinese numerals 〇一二…九 零 幺 壹贰… become digits; letters upper
case) with a map from each shadow character back to the original one. Every pattern runs on
the shadow; what it finds is masked in the original. Digits separated by spaces, dots, dashes
or middle dots form *groups*; a number may span several whole groups, so ``139 1234 5678``,
``6222 0212 3456 7890 128`` and an ID split 6-4-4-4 are each seen as one number.

What stays readable (tested): addresses (``8栋2单元301``), dates (``2026-12-01``,
``2026年12月1日``), amounts (``欠薪12000元``), order numbers with a letter prefix
(``HC20261201002444``).

Masks: phones, IDs and bank cards keep their last four digits (``**************1234``: the
region code and birth date are gone); plates keep the province and city letter (``苏C*****``);
badge and passport numbers keep nothing of the number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ALL_KINDS",
    "CITIZEN_KINDS",
    "Kind",
    "Match",
    "find",
    "normalise",
    "redact",
    "redact_json",
]


class Kind(StrEnum):
    ID_CARD = "id_card"  # 居民身份证号 (15/18)
    PHONE = "phone"  # 手机 / 固话
    BANK_CARD = "bank_card"  # 银行卡号
    PLATE = "plate"  # 车牌
    BADGE = "badge"  # 警号
    PASSPORT = "passport"  # 护照 / 通行证


ALL_KINDS: frozenset[Kind] = frozenset(Kind)
# What the resident's own channels (hotline, app, walk-in) never keep: a complaint is routed
# and handled without them. Phone numbers, plates and badge numbers the resident wrote stay:
# the unit calls back, finds the car blocking the fire lane, knows which officer is meant
# (what a *unit* is shown of them is decided at the view). Police records mask ALL_KINDS.
CITIZEN_KINDS: frozenset[Kind] = frozenset({Kind.ID_CARD, Kind.BANK_CARD, Kind.PASSPORT})

# ---- normalisation --------------------------------------------------------------------------

_NUMERALS = {
    "〇": "0", "零": "0", "○": "0",
    "一": "1", "幺": "1", "壹": "1",
    "二": "2", "贰": "2", "貳": "2", "两": "2",
    "三": "3", "叁": "3", "參": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6", "陸": "6",
    "七": "7", "柒": "7",
    "八": "8", "捌": "8",
    "九": "9", "玖": "9",
}
# Characters that may sit between the digits of one number.
_SEPARATORS = " \t\u00a0\u3000-‐‑‒–—―−.·•・‧_/"


@dataclass(frozen=True)
class Shadow:
    text: str  # normalised
    origin: Sequence[int]  # shadow index → index in the original text (len(text) + 1 entries)


def _fast_table(numerals: bool) -> dict[int, str]:
    table = {c: chr(c - 0xFEE0).upper() for c in range(0xFF01, 0xFF5F)}  # full width → ASCII
    table |= {c: chr(c).upper() for c in range(ord("a"), ord("z") + 1)}
    table[0x3000] = " "
    if numerals:
        table |= {ord(k): v for k, v in _NUMERALS.items()}
    return table


_FAST = {True: _fast_table(True), False: _fast_table(False)}


def normalise(text: str, numerals: bool = True) -> Shadow:
    """NFKC + Chinese numerals → digits + upper case, character by character, with a map
    back to the original (NFKC of one character may be several, e.g. ``㈠``). With
    ``numerals=False`` Chinese numerals stay as they are (same length, same map): 一 of
    一直 then ends a plate or passport number instead of lengthening it."""
    fast = text.translate(_FAST[numerals])
    if unicodedata.is_normalized("NFKC", fast) and fast.upper() == fast:
        # one character for one (the usual case): the map is the identity
        return Shadow(fast, range(len(fast) + 1))
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch in _NUMERALS:
            mapped = _NUMERALS[ch] if numerals else ch
        elif ch.isascii():
            mapped = ch.upper()
        else:
            mapped = unicodedata.normalize("NFKC", ch).upper()
            if not mapped.isascii() and len(mapped) > 1:
                mapped = ch  # keep one-for-one where NFKC spells a ligature out in CJK
        for m in mapped:
            out.append(m)
            origin.append(i)
    origin.append(len(text))
    return Shadow("".join(out), origin)


# ---- checks -------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_ok(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _date_ok(yyyy: str, mm: str, dd: str) -> bool:
    if not (yyyy.isdigit() and mm.isdigit() and dd.isdigit()):
        return False
    y, m, d = int(yyyy), int(mm), int(dd)
    return 1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= d <= 31


def id_shaped(number: str) -> bool:
    """18: a region that starts 1-9 and a plausible birth date, check digit or not (a
    mistyped ID is still someone's); 15 (pre-1999 cards): region and a YYMMDD date."""
    if len(number) == 18:
        if id_check_ok(number):
            return True
        return (
            number[0] != "0"
            and number[:17].isdigit()
            and (number[17].isdigit() or number[17] == "X")
            and _date_ok(number[6:10], number[10:12], number[12:14])
        )
    if len(number) == 15 and number.isdigit():
        return number[0] != "0" and _date_ok("19" + number[6:8], number[8:10], number[10:12])
    return False


def luhn_ok(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mobile(number: str) -> bool:
    return len(number) == 11 and number[0] == "1" and number[1] in "3456789"


def _phone(number: str) -> bool:
    if _mobile(number):
        return True
    if number.startswith("0086") and _mobile(number[4:]):
        return True
    if number.startswith("86") and _mobile(number[2:]):
        return True
    # landline: 0 + 2-3 digit area code + 7-8 digits, or a local 7-8 digit number
    if number.startswith("0") and not number.startswith("00") and 10 <= len(number) <= 12:
        return True
    return 7 <= len(number) <= 8 and number[0] in "2345678" and not _date_like(number)


def _date_like(number: str) -> bool:
    return len(number) == 8 and number[:2] in ("19", "20") and _date_ok(
        number[:4], number[4:6], number[6:8]
    )


# ---- finding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    start: int  # in the original text
    end: int
    kind: Kind
    replacement: str


_GROUP = re.compile(r"[0-9]+")
# A run: digit groups joined by at most three separator characters, an optional X at the end
# (an ID's check digit), and an optional leading + (+86).
_RUN = re.compile(
    rf"\+?[0-9]+(?:[{re.escape(_SEPARATORS)}]{{1,3}}[0-9]+)*(?:[{re.escape(_SEPARATORS)}]{{0,3}}X)?"
)
_CARD_CUE = re.compile(r"(?:卡号|银行卡|账号|帐号|卡)[^0-9]{0,6}$")
_ID_CUE = re.compile(r"(?:身份证|身份号|证件号|公民身份)[^0-9]{0,8}$")

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PSEP = r"[\s·•・‧\-.]?"
_PLATE = re.compile(
    rf"(?<![A-Z0-9])(?P<head>[{_PROVINCES}]{_PSEP}[A-Z])(?P<sep>{_PSEP})"
    r"(?P<serial>(?=[A-Z]*[0-9])(?:[A-Z0-9]{5,6}(?![A-Z0-9])|[A-Z0-9]{4}[挂学警港澳领使]))"
    r"|(?P<embassy>[使领]\s?[0-9]{3}[\s·•\-]?[0-9]{3})(?![0-9])"
    r"|(?P<wj>WJ\s?[0-9]{2}[\s·•\-]?[A-Z0-9]{5})(?![A-Z0-9])"
    # 武警 since 2012: WJ, the province, four digits and a digit or the branch's character.
    rf"|(?P<wj_province>(?<![A-Z0-9])WJ\s?[{_PROVINCES}]{_PSEP}[0-9]{{4}}[0-9A-Z消边通森金警电])(?![A-Z0-9])"
    # 军车 (2012 style): the service's letter, a second letter, five digits (VA12345, KA·12345).
    r"|(?P<military>(?<![A-Z0-9])[VKHBSLJNGCEZ][A-Z][\s·•\-]?[0-9]{5})(?![A-Z0-9])"
)
_BADGE = re.compile(
    r"(?:警号|警员编号|警员号|警官证号|警官编号|警察编号|民警编号|警号码)"
    r"\s*(?:[:：\-]|为|是|=)?\s*(?:NO\.?)?\s*(?P<num>[A-Z]?[0-9]{4,8})(?![0-9])"
)
_PASSPORT = re.compile(
    r"(?<![A-Z0-9])(?P<num>[EGPSDKHMC][A-Z]?[0-9]{7,8}|[EG][0-9]{8}|[A-Z]{2}[0-9]{7})(?![A-Z0-9])"
)
_PASSPORT_CUE = re.compile(r"(?:护照|通行证|证件)[^A-Z0-9]{0,6}$")


def _runs(shadow: str) -> list[tuple[list[tuple[int, int]], int, int, bool]]:
    """(digit groups as shadow spans, run start, run end, has trailing X)."""
    out = []
    for m in _RUN.finditer(shadow):
        groups = [(m.start() + g.start(), m.start() + g.end()) for g in _GROUP.finditer(m.group(0))]
        out.append((groups, m.start(), m.end(), m.group(0).endswith("X")))
    return out


def _levels() -> list[tuple[Kind, Callable[[str, bool, str, bool], bool]]]:
    """The tests a span of digits goes through, strongest first: a span is tried at every
    level before a weaker one may claim part of it (an ID split 6-4-4-4 next to a phone
    number must not lose two groups to a Luhn-valid 'bank card')."""

    def id_valid(d: str, x: bool, cue: str, lettered: bool) -> bool:
        return id_check_ok(d + ("X" if x else ""))

    def id_like(d: str, x: bool, cue: str, lettered: bool) -> bool:
        if lettered:  # HC20261201002444: an order or record number, not a person's
            return False
        if id_shaped(d + ("X" if x else "")):
            return True
        return not x and 15 <= len(d) <= 18 and bool(_ID_CUE.search(cue))

    def phone(d: str, x: bool, cue: str, lettered: bool) -> bool:
        if x:
            return False
        return _mobile(d) if lettered else _phone(d)

    def long_card(d: str, x: bool, cue: str, lettered: bool) -> bool:
        # 16-19 digits: longer than any phone number, so tried before phones
        if x or lettered or not 12 <= len(d) <= 19:
            return False
        return (len(d) >= 16 and luhn_ok(d)) or bool(_CARD_CUE.search(cue))

    def short_card(d: str, x: bool, cue: str, lettered: bool) -> bool:
        return not (x or lettered) and 13 <= len(d) <= 15 and luhn_ok(d)

    return [
        (Kind.ID_CARD, id_valid),
        (Kind.ID_CARD, id_like),
        (Kind.BANK_CARD, long_card),
        (Kind.PHONE, phone),
        (Kind.BANK_CARD, short_card),
    ]


_LEVELS = _levels()


def _keep_last4(digits: str, kind: Kind) -> str:
    if kind is Kind.PHONE:
        if digits.startswith("0086") and _mobile(digits[4:]):
            digits = digits[4:]
        elif digits.startswith("86") and _mobile(digits[2:]):
            digits = digits[2:]
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def find(text: str, kinds: Iterable[Kind] = ALL_KINDS) -> list[Match]:
    """Every identifier of ``kinds`` in ``text``, as non-overlapping spans of the original."""
    wanted = frozenset(kinds)
    if not text or not wanted:
        return []
    sh = normalise(text)
    s, origin = sh.text, sh.origin
    taken: list[tuple[int, int]] = []  # shadow spans already masked
    found: list[tuple[int, int, Kind, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(a: int, b: int, kind: Kind, replacement: str) -> None:
        taken.append((a, b))
        found.append((a, b, kind, replacement))

    # Plates, badges and passports are looked for twice: Chinese numerals read as digits
    # (警号〇一二三四五) and as words (桂A12345一直停在这里).
    worded = normalise(text, numerals=False).text if any(c in _NUMERALS for c in text) else s
    shadows = (s, worded) if worded != s else (s,)
    if Kind.BADGE in wanted:
        for m in (m for sh in shadows for m in _BADGE.finditer(sh)):
            a, b = m.span("num")
            if free(a, b):
                add(a, b, Kind.BADGE, "*" * (b - a))
    if Kind.PLATE in wanted:
        for m in (m for sh in shadows for m in _PLATE.finditer(sh)):
            if m.group("head"):
                a, b = m.span("serial")
                if free(a, b):
                    head = text[origin[m.start("head")] : origin[m.end("head")]]
                    add(m.start(), b, Kind.PLATE, head + "*" * (b - a))
            else:
                which = next(g for g in ("embassy", "wj", "wj_province", "military") if m.group(g))
                a, b = m.span(which)
                if free(a, b):
                    add(a, b, Kind.PLATE, s[a] + "*" * (b - a - 1))
    number_kinds = wanted & {Kind.ID_CARD, Kind.PHONE, Kind.BANK_CARD}
    if number_kinds:
        spoken = (
            [text[origin[k]] in _NUMERALS for k in range(len(s))]
            if worded != s
            else None
        )
        for groups, run_start, run_end, x_end in _runs(s):
            if not free(run_start, run_end):
                groups = [g for g in groups if free(*g)]
                if not groups:
                    continue
            _numbers_in_run(s, groups, run_end, x_end, number_kinds, add, spoken)
    if Kind.PASSPORT in wanted:
        for m in (m for sh in shadows for m in _PASSPORT.finditer(sh)):
            a, b = m.span("num")
            if not free(a, b):
                continue
            letters = len(m.group("num")) - len(m.group("num").lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            strong = m.group("num")[0] in "EG" and b - a == 9 and letters <= 2
            if strong or _PASSPORT_CUE.search(s[max(0, a - 12) : a]) or b - a - letters >= 8:
                add(a, b, Kind.PASSPORT, s[a : a + letters] + "*" * (b - a - letters))
    found.sort()
    return [Match(origin[a], origin[b - 1] + 1, kind, rep) for a, b, kind, rep in found]


def _numbers_in_run(
    s: str,
    groups: list[tuple[int, int]],
    run_end: int,
    x_end: bool,
    kinds: frozenset[Kind],
    add: Callable[[int, int, Kind, str], None],
    spoken: list[bool] | None,
) -> None:
    """Try every span of whole groups, strongest test first and longest span first, so an
    ID split 6-4-4-4 is one ID and a phone number after a house number (``301
    13912345678``) is still found."""
    n = len(groups)
    if sum(y - x for x, y in groups) < 7:
        return  # nothing we look for is shorter (a local landline has 7 digits)
    used = [False] * n
    candidates: list[tuple[int, int, int, int]] = []  # shadow span, first and last group
    for i in range(n):
        total = 0
        for j in range(i, n):
            total += groups[j][1] - groups[j][0]
            a, b = groups[i][0], groups[j][1]
            # 一/两 of the next word glued to a number written in Chinese numerals
            # (幺三九…四一直打不通): also try without one or two of them at either end.
            for da in range(3 if spoken else 1):
                for db in range(3 if spoken else 1):
                    if spoken and (da or db) and not (
                        b - db - (a + da) >= 7
                        and a + da < groups[i][1]
                        and b - db > groups[j][0]
                        and all(spoken[k] for k in range(a, a + da))
                        and all(spoken[k] for k in range(b - db, b))
                    ):
                        continue
                    if total - da - db <= 19:
                        candidates.append((a + da, b - db, i, j))
            if total > 21:
                break
    candidates.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
    spans = [
        (a, b, i, j, "".join(s[max(x, a) : min(y, b)] for x, y in groups[i : j + 1]))
        for a, b, i, j in candidates
    ]
    spans = [c for c in spans if len(c[4]) >= 7]
    for kind, test in _LEVELS:
        if kind not in kinds:
            continue
        for a, b, i, j, digits in spans:
            if any(used[i : j + 1]):
                continue
            with_x = x_end and j == n - 1 and b == groups[j][1]
            lettered = a > 0 and s[a - 1].isascii() and s[a - 1].isalpha()
            if not test(digits, with_x, s[max(0, a - 12) : a], lettered):
                continue
            if kind is Kind.PHONE and _date_or_decimal(s, groups[i : j + 1]):
                continue
            end = run_end if with_x else b
            if kind is Kind.PHONE and a > 0 and s[a - 1] == "+":
                a -= 1
            add(a, end, kind, _keep_last4(digits + ("X" if with_x else ""), kind))
            for k in range(i, j + 1):
                used[k] = True
    # Leftovers: a span may have taken the first group of the next number (an ID cue, a
    # Luhn check passing by chance across two numbers). What is left of a run in which
    # something was found is starred when it has three digits or more: a fragment of a
    # phone number must not stay behind; a house number beside an ID is the cheap loss.
    if any(used):
        for k, (x, y) in enumerate(groups):
            if not used[k] and y - x >= 3:
                add(x, y, Kind.PHONE, "*" * (y - x))
                used[k] = True
    # an ID glued to other digits (no separator): any checksum-valid 18 inside a long group
    if Kind.ID_CARD in kinds:
        for k, (x, y) in enumerate(groups):
            if used[k] or y - x < 18:
                continue
            g = s[x:y] + ("X" if x_end and k == n - 1 else "")
            for off in range(len(g) - 17):
                if id_check_ok(g[off : off + 18]):
                    end = x + off + 18 if off + 18 <= y - x else run_end
                    add(x + off, end, Kind.ID_CARD, _keep_last4(g[off : off + 18], Kind.ID_CARD))
                    used[k] = True
                    break


def _date_or_decimal(s: str, groups: list[tuple[int, int]]) -> bool:
    """2026-12-1, 2026.12.01 (a date) and 23456.78 (an amount) are not phone numbers."""
    sizes = [y - x for x, y in groups]
    if len(groups) == 3 and sizes[0] == 4 and sizes[1] <= 2 and sizes[2] <= 2:
        (a, b), (c, d), (e, f) = groups
        if _date_ok(s[a:b], s[c:d].zfill(2), s[e:f].zfill(2)):
            return True
    return len(groups) == 2 and sizes[1] <= 2 and s[groups[0][1] : groups[1][0]] == "."


def redact(text: str, kinds: Iterable[Kind] = ALL_KINDS) -> str:
    """``text`` with every identifier of ``kinds`` masked; the rest as it was."""
    matches = find(text, kinds)
    if not matches:
        return text
    out: list[str] = []
    pos = 0
    for m in matches:
        if m.start < pos:
            continue
        out.append(text[pos : m.start])
        out.append(m.replacement)
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


_LINK = re.compile(r"https?://\S+", re.IGNORECASE)


def redact_json(value: Any, kinds: Iterable[Kind] = ALL_KINDS, keep_links: bool = False) -> Any:
    """:func:`redact` over a JSON-like value (a channel's ``extra``): every string, names
    included. ``keep_links``: a string that is one link (a photo's, a media report's) is an
    address to fetch, not words; a long file number in it is not a card, and a changed link
    fetches nothing."""
    kinds = frozenset(kinds)
    if isinstance(value, str):
        return value if keep_links and _LINK.fullmatch(value) else redact(value, kinds)
    if isinstance(value, list):
        return [redact_json(v, kinds, keep_links) for v in value]
    if isinstance(value, dict):
        return {redact(str(k), kinds): redact_json(v, kinds, keep_links) for k, v in value.items()}
    return value
