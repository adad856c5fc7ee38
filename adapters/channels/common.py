"""What every channel adapter shares: field readers, time parsing, and the two ways a record
can fail to become a case (filtered, or unreadable → dead letter).

A channel adapter is a pure function ``record (a dict of raw values) -> IntakeCommand``; it
raises :class:`RecordError` with a reason a person can act on when the record cannot be read,
and returns :class:`Filtered` when the record belongs elsewhere (police business). Reasons never
quote the record's values: they end up in logs and in the dead-letter store's reason column,
and police values must not leak there.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from engine.contract import check_business_time, problem_zh, text_problem
from engine.deadlines import SHANGHAI
from engine.intake import MAX_CONTENT_CHARS, IntakeCommand

__all__ = [
    "MAX_CONTENT_CHARS",
    "AdapterContext",
    "Filtered",
    "RecordError",
    "build_command",
    "clean_text",
    "flag",
    "parse_time",
    "text_field",
]


class RecordError(Exception):
    """The record cannot be read; ``reason`` says why (中文 + English, no record values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Filtered:
    """The record is valid but not ours (e.g. a theft reported to 110): counted, never stored."""

    reason: str
    position: str = ""


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter may know about the district: category names → codes, and the clock."""

    category_codes: Mapping[str, str] | None = None  # code → code and 中文名 → code
    now: dt.datetime | None = None
    # HMAC key for police incident numbers (Settings.district_key); None: the dev default.
    district_key: bytes | None = None
    # 警情类别 that leave the police (exact items); None: police.PASSING_CATEGORIES.
    police_categories: frozenset[str] | None = None
    # 镇呼市应 (town): the district's street units, id → id and 中文名 → id; None: no district,
    # so no requesting unit can be confirmed. ``units`` likewise for every unit (the department
    # a town asks).
    street_units: Mapping[str, str] | None = None
    units: Mapping[str, str] | None = None

    def clock(self) -> dt.datetime:
        return self.now or dt.datetime.now(SHANGHAI)

    def category(self, hint: str) -> str:
        """A code or its Chinese name → the code; unknown hints pass through (the router
        ignores what it does not know)."""
        if not hint or self.category_codes is None:
            return hint
        return self.category_codes.get(hint, hint)


def clean_text(value: str, field: str) -> str:
    """The input contract's text rule (engine.contract): NUL, other control characters and
    lone surrogates refuse the record (dead letter naming the field), as at every other door;
    the text is NFC-normalised."""
    problem = text_problem(value)
    if problem is not None:
        raise RecordError(f"{field} {problem} (invalid text)")
    return unicodedata.normalize("NFC", value)


def text_field(
    record: Mapping[str, Any],
    key: str,
    *,
    required: bool = False,
    label: str = "",
    numbers_ok: bool = False,
    strip: bool = True,
) -> str:
    """A text value, or "" when absent/null. ``numbers_ok`` accepts JSON integers for
    identifiers and phone numbers (lossless); any other type is an error, never coerced."""
    name = f"{label} {key}".strip() if label else key
    value = record.get(key)
    if value is None:
        value = ""
    elif isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(f"{name} 类型错误，应为文本 (wrong type: {type(value).__name__})")
    elif isinstance(value, int):
        if not numbers_ok:
            raise RecordError(f"{name} 类型错误，应为文本 (wrong type: int)")
        value = str(value)
    text = clean_text(value, name)
    if strip:
        text = text.strip()
    if required and not text.strip():
        raise RecordError(f"缺少{name} (missing {key})")
    return text


# "on" / "off": what an HTML checkbox sends (an Open311 form's 保密件 box).
_TRUE = {"true", "1", "yes", "y", "是", "对", "代办", "t", "on"}
_FALSE = {"false", "0", "no", "n", "否", "", "f", "不是", "off"}


def flag(record: Mapping[str, Any], key: str, label: str = "") -> bool:
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = unicodedata.normalize("NFKC", value).strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    name = f"{label} {key}".strip() if label else key
    raise RecordError(f"{name} 应为 是/否 (expected true/false)")


_HAS_CLOCK = re.compile(r"\d{1,2}:\d{2}|\d{1,2}时\d{1,2}分")
_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M:%S",
    "%Y年%m月%d日%H:%M",
    "%Y年%m月%d日%H时%M分%S秒",
    "%Y年%m月%d日%H时%M分",
)


def parse_time(value: Any, key: str = "received_at", label: str = "") -> dt.datetime:
    """ISO 8601 (``2021-07-16T09:30:00+08:00``, ``2021-07-16 09:30:00``) or the common export
    forms (``2021/7/16 9:30``); a time without zone is Asia/Shanghai. The result is in
    Asia/Shanghai. A date without a time of day is refused: the deadline clock needs one."""
    name = f"{label} {key}".strip() if label else key
    if value is None:
        raise RecordError(f"缺少{name} (missing {key})")
    if isinstance(value, bool) or not isinstance(value, str):
        raise RecordError(f"{name} 不是时间 (not a time: {type(value).__name__})")
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise RecordError(f"缺少{name} (missing {key})")
    if not _HAS_CLOCK.search(text):
        raise RecordError(f"{name} 不是时间，缺少时刻 (not a time: no time of day)")
    parsed: dt.datetime | None = None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                parsed = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise RecordError(f"{name} 不是时间 (not a time)")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    try:
        parsed = check_business_time(parsed).astimezone(SHANGHAI)
    except PydanticCustomError as e:
        raise RecordError(f"{name} {e.message()} (out of range)") from None
    except (OverflowError, ValueError):
        raise RecordError(f"{name} 不是时间 (not a time)") from None
    return parsed


def json_safe(value: Any, depth: int = 0) -> Any:
    """Channel-specific values kept in ``extra`` must survive JSON (Kafka, the event store)."""
    if depth > 20:
        raise RecordError("字段嵌套过深 (nested too deeply)")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RecordError("数值无效 (NaN or infinity)")
        return value
    if isinstance(value, str):
        return clean_text(value, "extra")
    if isinstance(value, list):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k), "extra"): json_safe(v, depth + 1) for k, v in value.items()}
    raise RecordError(f"字段类型不支持 (unsupported type {type(value).__name__})")


def content_field(record: Mapping[str, Any], key: str, label: str = "") -> str:
    """The complaint text: required, kept as given (NFC), never cut: over the limit is an
    error, not a truncation."""
    name = f"{label} {key}".strip() if label else key
    value = record.get(key)
    if value is None:
        raise RecordError(f"缺少{name} (missing {key})")
    if not isinstance(value, str):
        raise RecordError(f"{name} 类型错误，应为文本 (wrong type: {type(value).__name__})")
    text = clean_text(value, name)
    if not text.strip():
        raise RecordError(f"缺少{name} (missing {key})")
    if len(text) > MAX_CONTENT_CHARS:
        raise RecordError(
            f"{name}超过{MAX_CONTENT_CHARS}字（{len(text)}字），未截断 "
            f"(content longer than {MAX_CONTENT_CHARS:,} characters: {len(text):,}; not cut)"
        )
    return text


def normalise_keys(fields: Mapping[Any, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """Header/key spelling → the English key: ``诉求内容`` → ``content``, `` Order_No`` →
    ``order_no``. When a key appears twice (both spellings), the non-empty value wins."""
    out: dict[str, Any] = {}
    for raw_key, value in fields.items():
        key = unicodedata.normalize("NFKC", str(raw_key)).strip().lstrip("\ufeff").strip()
        key = aliases.get(key) or (key.lower() if key.isascii() else key)
        if key in out and (value is None or value == ""):
            continue
        out[key] = value
    return out


def extras(record: Mapping[str, Any], known: set[str] | frozenset[str]) -> dict[str, Any]:
    """Fields a channel has beyond the command's: kept in ``extra`` as given."""
    return {
        k: json_safe(v)
        for k, v in record.items()
        if k not in known and v is not None and v != "" and k
    }


def build_command(**fields: Any) -> IntakeCommand:
    """Validate with the engine's model; its complaints become a dead-letter reason that
    names the field and the rule but not the value."""
    try:
        return IntakeCommand(**fields)
    except ValidationError as e:
        # In Chinese as the API says it (engine.contract.problem_zh), never quoting the value.
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {problem_zh(err)}"
            for err in e.errors(include_url=False)
        ]
        raise RecordError("字段校验失败 (invalid fields): " + "; ".join(problems)) from None
