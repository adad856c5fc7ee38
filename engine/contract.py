"""The input contract (输入约定): what every door accepts, defined once.

Every way in — the HTTP API's JSON bodies and query strings, Open311 forms and JSON, ``sanshi
ingest`` files, Kafka intake messages — validates with the annotated types below, so the same
value is refused (or accepted) whichever door it came through. They live in ``engine/`` because
the intake command (``engine.intake.IntakeCommand``) is itself a door: it is the Kafka message
the worker validates. Pure pydantic and the standard library, no infrastructure.

The rules, and why:

- **Text** (:data:`CleanText`, :data:`Content`, :data:`Reason` ...): no NUL (PostgreSQL cannot store it in a text
  column, and one such event stopped every view), no other C0/C1 control character and no DEL
  (garbage in a complaint, and terminal escapes in a log), no lone surrogate (cannot be encoded
  as UTF-8). Tab, newline and carriage return are kept: CR is what a browser's textarea sends
  (form posts are CRLF) and a CSV export keeps. NFC-normalised. Every field has a maximum length.
- **Business times** (:data:`BusinessTime`): timezone-aware (a naive time is refused here; the
  doors that document the Asia/Shanghai default apply it before), between
  :data:`BUSINESS_FROM` and :data:`BUSINESS_TO`. Fixed bounds rather than "now + n years", so
  validating an old Kafka message or running under a moved clock gives the same answer; an
  extension's ``until`` is further bounded by the domain (``Case.request_extension``: after the
  current deadline and within the deadline policy's ``max_extension_days``).
- **Query times** (:func:`query_time`): ``from`` / ``to`` / ``start_date`` / ``end_date`` of the
  read routes, between :data:`QUERY_FROM` and :data:`QUERY_TO`, so that adding a day or a month
  to them, or moving them to Beijing time, can never overflow.
- **Enumerations** (:data:`APPEAL_TYPES`): checked against their list.
- **Numbers** (:data:`WholeNumber`, :data:`Number`): pydantic's lax mode reads JSON ``true`` as
  1; a truth value where a count or a coordinate belongs is the client's mistake, refused as a
  wrong type. A number written as a string ("30.5") stays accepted: Open311 forms and CSV files
  only have strings.
- **Channel extras** (:func:`check_extra`): the channel-specific values kept beside a case
  (photos, unknown columns, Open311 attributes): JSON values only, bounded in depth, size and
  the length of each string, every string under the text rule; walked without recursion.

Refusals raise ``PydanticCustomError`` whose message is Chinese and never quotes the value
(police values must not reach a log or a dead letter's reason).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

from engine.deadlines import SHANGHAI
from engine.identifiers import CITIZEN_KINDS, redact, redact_json
from engine.vocabulary import APPEAL_TYPES as APPEAL_TYPE_TERMS
from engine.vocabulary import AppealType as AppealType

# ---- lengths (characters) ------------------------------------------------------------------

MAX_CONTENT: Final = 4000  # docs/channels.md: the complaint, up to 4,000 characters
MAX_RESULT: Final = 4000  # 办理结果, 直办答复
MAX_SUMMARY: Final = 2000  # 调解情况, 回访记录
MAX_REASON: Final = 1000  # 退单 / 延期 / 不予受理理由, notes
MAX_ADDRESS: Final = 500
MAX_NAME: Final = 100
MAX_LOGIN: Final = 40  # 登录名
MAX_PHONE: Final = 50
MAX_REF: Final = 200  # source references, ids a client chose
MAX_CODE: Final = 64  # unit ids, category codes, attribute codes
MAX_URL: Final = 2000
MAX_EMAIL: Final = 254  # RFC 5321
MAX_ATTRIBUTE: Final = 200  # one Open311 attribute[...] value (the service lists short values)
MAX_ATTRIBUTES: Final = 20  # Open311 attribute[...] per request
MAX_SEARCH: Final = 100  # a search word in a query string

# Channel extras: each string, all strings together, nesting, and the number of values.
MAX_EXTRA_TEXT: Final = 4000
MAX_EXTRA_TOTAL: Final = 64_000
MAX_EXTRA_DEPTH: Final = 20
MAX_EXTRA_NODES: Final = 2000

# HTTP bodies, checked before parsing (adapters.http.limits).
MAX_BODY_BYTES: Final = 1 << 20  # 1 MiB: the longest complaint is ~12 KB of UTF-8
MAX_JSON_DEPTH: Final = 64

# ---- enumerations --------------------------------------------------------------------------

# docs/channels.md 诉求类型 (engine.vocabulary): enquiry, help, complaint, report, suggestion, praise
# ("" = not given).
APPEAL_TYPES: Final = APPEAL_TYPE_TERMS.codes

# ---- text ----------------------------------------------------------------------------------

# C0 controls except tab (09), newline (0A), carriage return (0D); DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable text (Chinese, without quoting it), or None."""
    if "\x00" in value:
        return "含空字符（NUL），不能保存"
    if _CONTROL.search(value):
        return "含控制字符（除换行、回车、制表符外不允许）"
    if _SURROGATE.search(value):
        return "含无效的 Unicode 字符（孤立代理项）"
    return None


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text_invalid", problem)
    return unicodedata.normalize("NFC", value)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("text_blank", "不能为空")
    return value


_REQUIRED = AfterValidator(_not_blank)


def _at_most(limit: int) -> AfterValidator:
    """The maximum length again after NFC: a decomposing character (U+0958 → two) makes the
    normalised text longer than what ``max_length`` counted, and the value must be refused at
    the door it came through, as every other door refuses it, not stored over its limit."""

    def check(value: str) -> str:
        if len(value) > limit:
            raise PydanticCustomError(
                "string_too_long", "太长（最多 {max_length} 字）", {"max_length": limit}
            )
        return value

    return AfterValidator(check)

def _no_id_numbers(value: str) -> str:
    """ID-card, bank-card and passport numbers are never stored in clear, whichever door or
    command wrote the text (boundary.md §2): the channels mask them too, but a door that forgot
    (Open311 and 一表通 did) or a clerk's 办结 note must not be where one leaks. Masked text
    does not match again, so a value masked at its door passes unchanged."""
    return redact(value, CITIZEN_KINDS) if value else value


_MASKED = AfterValidator(_no_id_numbers)

# Each field: its maximum length and the text rule; "required" ones need a character that is
# not white space. Written out (not built by a function) so that mypy sees plain ``str``.
CleanText = Annotated[str, AfterValidator(check_text)]  # the rule alone, for any length
Content = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CONTENT), AfterValidator(check_text), _at_most(MAX_CONTENT), _REQUIRED, _MASKED
]
Result = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_RESULT), AfterValidator(check_text), _at_most(MAX_RESULT), _REQUIRED, _MASKED
]
Reason = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_REASON), AfterValidator(check_text), _at_most(MAX_REASON), _REQUIRED, _MASKED
]
Note = Annotated[str, StringConstraints(max_length=MAX_REASON), AfterValidator(check_text), _at_most(MAX_REASON), _MASKED]
# The complaint where the door says "missing" itself (Open311 answers 400 缺少 description).
Description = Annotated[str, StringConstraints(max_length=MAX_CONTENT), AfterValidator(check_text), _at_most(MAX_CONTENT), _MASKED]
Summary = Annotated[str, StringConstraints(max_length=MAX_SUMMARY), AfterValidator(check_text), _at_most(MAX_SUMMARY), _MASKED]
Address = Annotated[str, StringConstraints(max_length=MAX_ADDRESS), AfterValidator(check_text), _at_most(MAX_ADDRESS), _MASKED]
Name = Annotated[str, StringConstraints(max_length=MAX_NAME), AfterValidator(check_text), _at_most(MAX_NAME)]
Phone = Annotated[str, StringConstraints(max_length=MAX_PHONE), AfterValidator(check_text), _at_most(MAX_PHONE)]
SourceRef = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_REF), AfterValidator(check_text), _at_most(MAX_REF), _REQUIRED
]
Ref = Annotated[str, StringConstraints(max_length=MAX_REF), AfterValidator(check_text), _at_most(MAX_REF)]
Code = Annotated[str, StringConstraints(max_length=MAX_CODE), AfterValidator(check_text), _at_most(MAX_CODE)]
RequiredCode = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CODE), AfterValidator(check_text), _at_most(MAX_CODE), _REQUIRED
]
Url = Annotated[str, StringConstraints(max_length=MAX_URL), AfterValidator(check_text), _at_most(MAX_URL)]
Email = Annotated[str, StringConstraints(max_length=MAX_EMAIL), AfterValidator(check_text), _at_most(MAX_EMAIL)]
AttributeValue = Annotated[str, StringConstraints(max_length=MAX_ATTRIBUTE), AfterValidator(check_text), _at_most(MAX_ATTRIBUTE)]
# A login is looked up in the people view: PostgreSQL refuses a NUL in a query (a 500 before,
# found by the fuzzer), so the text rule applies; the accounts' own rule (engine.accounts) then
# asks for lower-case letters, digits and ._- when a person is added.
Login = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_LOGIN), AfterValidator(check_text), _at_most(MAX_LOGIN)
]
SearchText = Annotated[str, StringConstraints(max_length=MAX_SEARCH), AfterValidator(check_text), _at_most(MAX_SEARCH)]

# ---- messages ------------------------------------------------------------------------------

VALIDATION_ZH = {
    "missing": "必填",
    "string_too_short": "不能为空或太短",
    "string_too_long": "太长",
    "extra_forbidden": "不允许的字段",
    "bool_parsing": "须为 true 或 false",
    "bool_type": "须为 true 或 false",
    "enum": "取值无效",
    "string_pattern_mismatch": "取值无效",
    "literal_error": "取值无效",
    "uuid_parsing": "不是合法的编号",
    "uuid_type": "不是合法的编号",
    # JSON that escapes half of a surrogate pair ("\ud800"): no character at all.
    "string_unicode": "含无效字符（不成对的代理项），不能保存",
    "int_parsing": "须为整数",
    # A count given as null, a list, 1.5 or a string of 5,000 digits: pydantic's English
    # reached the user as it was (实事项目 milestone, 派单规则 priority).
    "int_type": "须为整数",
    "int_from_float": "须为整数",
    "int_parsing_size": "须为整数（数字太长）",
    "float_parsing": "须为数字",
    "float_type": "须为数字",
    "finite_number": "须为有限的数字",
    "greater_than_equal": "太小",
    "less_than_equal": "太大",
    "model_attributes_type": "须为 JSON 对象",
    "dict_type": "须为 JSON 对象",
    "string_type": "须为字符串",
    "list_type": "须为数组",
}


def problem_zh(err: Mapping[str, Any]) -> str:
    """One of pydantic's errors (``ValidationError.errors()``, with its input and context) in
    Chinese, without the value: the API's 422 message and a dead letter's reason say the same."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "string_too_long" and "max_length" in ctx:
        return f"太长（最多 {ctx['max_length']} 字）"
    # A text whose length is checked after its own validator (媒体监督 outlet: ``Ref`` plus
    # min_length=1) fails pydantic's generic length check: characters, not items.
    if kind in ("too_short", "too_long") and isinstance(err.get("input"), str):
        if kind == "too_short":
            return "不能为空或太短"
        return f"太长（最多 {ctx['max_length']} 字）" if "max_length" in ctx else "太长"
    # A list (the items of a 一表通 form, the units of 协办): counted in items, not characters.
    if kind == "too_long" and "max_length" in ctx:
        return f"太多（最多 {ctx['max_length']} 项）"
    if kind == "too_short" and "min_length" in ctx:
        return f"太少（至少 {ctx['min_length']} 项）"
    if kind in VALIDATION_ZH:
        return VALIDATION_ZH[kind]
    if kind.startswith(("datetime", "date", "timezone")):
        return "不是合法的时间（ISO 8601）"
    return str(err.get("msg", "无效"))


# ---- numbers -------------------------------------------------------------------------------


def _refuse_truth_value(kind: str) -> BeforeValidator:
    """A truth value refused as pydantic's own wrong-type error ``kind``, in its Chinese label."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):  # bool is an int in Python: checked before pydantic's lax int
            raise PydanticCustomError(kind, VALIDATION_ZH[kind])
        return value

    return BeforeValidator(check)


WholeNumber = Annotated[int, _refuse_truth_value("int_type")]
Number = Annotated[float, _refuse_truth_value("float_type")]

# ---- times ---------------------------------------------------------------------------------

BUSINESS_FROM: Final = dt.datetime(2000, 1, 1, tzinfo=SHANGHAI)
BUSINESS_TO: Final = dt.datetime(2100, 1, 1, tzinfo=SHANGHAI)  # exclusive
QUERY_FROM: Final = dt.datetime(1970, 1, 1, tzinfo=SHANGHAI)
QUERY_TO: Final = dt.datetime(2101, 1, 1, tzinfo=SHANGHAI)  # inclusive: `to=2101-01-01`


def _aware_in_range(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError("time_naive", "须带时区（如 +08:00）")
    if not BUSINESS_FROM <= value < BUSINESS_TO:
        raise PydanticCustomError(
            "time_range", "超出允许的时间范围（2000-01-01 至 2099-12-31，北京时间）"
        )
    return value


def shanghai_if_naive(value: Any) -> Any:
    """For the doors that document it: a time without zone is Beijing time."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=SHANGHAI)
    return value


BusinessTime = Annotated[dt.datetime, AfterValidator(_aware_in_range)]


def _day_in_range(value: dt.date) -> dt.date:
    if not BUSINESS_FROM.date() <= value < BUSINESS_TO.date():
        raise PydanticCustomError("business_day", "日期须在 2000-01-01 至 2099-12-31 之间")
    return value


# A calendar day (a project's deadline, a milestone, a 知识库 entry's validity): the same years.
BusinessDay = Annotated[dt.date, AfterValidator(_day_in_range)]
# Naive → Asia/Shanghai first (the HTTP API's documented default), then the same rule.
LocalBusinessTime = Annotated[
    dt.datetime, AfterValidator(shanghai_if_naive), AfterValidator(_aware_in_range)
]


def check_business_time(value: dt.datetime) -> dt.datetime:
    """The :data:`BusinessTime` rule for code that holds a datetime already."""
    return _aware_in_range(value)


def query_time_problem(value: dt.datetime) -> str | None:
    """Why a read route's time bound is refused (None: fine); ``value`` is aware."""
    try:
        ok = QUERY_FROM <= value <= QUERY_TO
    except (OverflowError, ValueError):  # pragma: no cover - aware datetimes compare safely
        ok = False
    if not ok:
        return "超出允许的查询范围（1970 至 2100 年）"
    return None


# ---- channel extras ------------------------------------------------------------------------


def extra_problem(value: Any) -> str | None:
    """Why a channel's extra values cannot be kept (None: fine). Iterative: a deeply nested
    value costs a loop, not the stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = total = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_EXTRA_NODES:
            return f"附加字段过多（最多 {MAX_EXTRA_NODES} 项）"
        if depth > MAX_EXTRA_DEPTH:
            return f"附加字段嵌套过深（最多 {MAX_EXTRA_DEPTH} 层）"
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return "附加字段含无效数值（NaN 或无穷大）"
            continue
        if isinstance(item, str):
            strings = [item]
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
            continue
        elif isinstance(item, dict):
            strings = []
            for k, v in item.items():
                if not isinstance(k, str):
                    return "附加字段的名称须为文本"
                strings.append(k)
                stack.append((v, depth + 1))
        else:
            return f"附加字段类型不支持（{type(item).__name__}）"
        for s in strings:
            if len(s) > MAX_EXTRA_TEXT:
                return f"附加字段太长（每项最多 {MAX_EXTRA_TEXT} 字）"
            total += len(s)
            problem = text_problem(s)
            if problem is not None:
                return f"附加字段{problem}"
        if total > MAX_EXTRA_TOTAL:
            return f"附加字段总长度超过 {MAX_EXTRA_TOTAL} 字"
    return None


def check_extra(value: dict[str, Any]) -> dict[str, Any]:
    problem = extra_problem(value)
    if problem is not None:
        raise PydanticCustomError("extra_invalid", problem)
    masked: dict[str, Any] = redact_json(value, CITIZEN_KINDS, keep_links=True)
    return masked


Extra = Annotated[dict[str, Any], AfterValidator(check_extra)]


__all__ = [
    "APPEAL_TYPES",
    "Address",
    "AppealType",
    "AttributeValue",
    "BusinessTime",
    "CleanText",
    "Code",
    "Content",
    "Description",
    "Email",
    "Extra",
    "LocalBusinessTime",
    "Name",
    "Note",
    "Phone",
    "Reason",
    "Ref",
    "RequiredCode",
    "Result",
    "SearchText",
    "SourceRef",
    "Summary",
    "Url",
    "check_business_time",
    "check_extra",
    "check_text",
    "extra_problem",
    "query_time_problem",
    "shanghai_if_naive",
    "text_problem",
]
