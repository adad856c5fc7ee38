"""网格员上报 / 走访 (docs/channels.md#grid-网格员上报--走访): a grid worker's report or visit record
from the grid platform, as JSON lines or a CSV batch with English or Chinese headers.

A record made on a resident's behalf (网格员代办), or naming a resident, carries the resident's
consent: given, how (口头/书面/签字) and when. Without it the record is a dead letter that
says so: the centre may not open a case, nor keep a resident's name and number, on a grid
worker's word alone. The resident's name and number are the case's caller, kept exactly as
the hotline's (encrypted at rest with SANSHI_CIPHER_KEY).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import warnings
from collections.abc import Mapping
from typing import Any

from engine.intake import Channel, IntakeCommand

from .app import coordinate
from .common import (
    AdapterContext,
    RecordError,
    build_command,
    content_field,
    extras,
    flag,
    normalise_keys,
    parse_time,
    text_field,
)
from .hotline import urgency
from .privacy import redact_value

HEADERS = {
    "事件编号": "report_no",
    "上报编号": "report_no",
    "走访编号": "report_no",
    "网格员编号": "grid_worker_id",
    "网格员": "grid_worker_id",
    "网格编号": "grid_id",
    "所属网格": "grid_id",
    "网格": "grid_id",
    "类型": "kind",
    "上报类型": "kind",
    "上报时间": "received_at",
    "走访时间": "received_at",
    "事项内容": "content",
    "反映内容": "content",
    "诉求内容": "content",
    "地址": "address",
    "事发地址": "address",
    "代办": "on_behalf",
    "是否代办": "on_behalf",
    "网格员代办": "on_behalf",
    "居民姓名": "resident_name",
    "居民电话": "resident_phone",
    "联系电话": "resident_phone",
    "居民同意": "consent",
    "是否同意": "consent",
    "同意方式": "consent_method",
    "同意时间": "consent_at",
    "紧急程度": "urgency",
    "诉求分类": "category",
    "保密件": "confidential",
    "是否保密": "confidential",
    "纬度": "lat",
    "经度": "lng",
}
KNOWN = frozenset(HEADERS.values())

# 上报 (the worker found or was told of a problem) or 走访 (a household visit).
KINDS = {
    "上报": "上报", "事件上报": "上报", "巡查上报": "上报", "report": "上报", "": "上报",
    "走访": "走访", "入户走访": "走访", "visit": "走访",
}
# How the resident consented, kept as its Chinese term.
CONSENT_METHODS = {
    "口头": "口头", "口头同意": "口头", "oral": "口头", "verbal": "口头",
    "书面": "书面", "书面同意": "书面", "written": "书面",
    "签字": "签字", "签名": "签字", "签字确认": "签字", "本人签字": "签字", "signed": "签字",
    "signature": "签字",
}
# How far the consent may be written down after the record's time (the worker notes the
# signature's time on the way back): later than that, the record was not made with consent.
CONSENT_GRACE = dt.timedelta(hours=1)


def grid_code(text: str) -> str:
    """网格编号 as one spelling: full-width forms and spaces out, ASCII letters upper case,
    Chinese numerals as digits (``第三网格``, ``第３网格``, ``第 3 网格`` → ``第3网格``)."""
    code = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    if not code or code.isascii():
        return code
    import cn2an  # 0.1 s to import: only for a grid number written with Chinese characters

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns about a lone 百/万 it leaves as it is
        try:
            return str(cn2an.transform(code, "cn2an"))
        except Exception:  # a spelling cn2an cannot read stays as written
            return code


def _choice(record: Mapping[str, Any], key: str, label: str, allowed: Mapping[str, str]) -> str:
    value = unicodedata.normalize("NFKC", text_field(record, key, label=label)).strip().lower()
    if value not in allowed:
        named = "/".join(v for v in dict.fromkeys(allowed.values()) if v)
        raise RecordError(f"{label} 应为 {named} ({key})")
    return allowed[value]


_AGREED = {"同意", "已同意", "居民同意", "本人同意"}
_REFUSED = {"不同意", "未同意", "拒绝", "居民拒绝"}


def _agreed(value: Any) -> bool:
    if isinstance(value, str):
        v = unicodedata.normalize("NFKC", value).strip()
        if v in _AGREED:
            return True
        if v in _REFUSED:
            return False
    return flag({"consent": value}, "consent", "居民同意")


def consent(
    record: Mapping[str, Any], received_at: dt.datetime, needed: str
) -> dict[str, Any]:
    """The resident's consent, when ``needed`` says why it is; a dead letter without it."""
    given = record.get("consent")
    if given in (None, ""):
        raise RecordError(
            f"{needed}，但未记录居民是否同意 (on a resident's behalf without the resident's consent)"
        )
    if not _agreed(given):
        raise RecordError(f"{needed}，但居民未同意 (the resident did not consent)")
    method = _choice(record, "consent_method", "同意方式", CONSENT_METHODS | {"": ""})
    if not method:
        raise RecordError("居民同意未记录同意方式 口头/书面/签字 (missing consent_method)")
    if record.get("consent_at") in (None, ""):
        raise RecordError("居民同意未记录同意时间 (missing consent_at)")
    at = parse_time(record.get("consent_at"), "consent_at", "同意时间")
    if at > received_at + CONSENT_GRACE:
        raise RecordError(
            "同意时间晚于上报时间，代办时尚未取得居民同意 (consent recorded after the report)"
        )
    return {"consent": True, "consent_method": method, "consent_at": at.isoformat()}


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, HEADERS)
    report_no = text_field(record, "report_no", required=True, label="事件编号", numbers_ok=True)
    worker = text_field(record, "grid_worker_id", required=True, label="网格员编号", numbers_ok=True)
    grid = grid_code(text_field(record, "grid_id", required=True, label="网格编号", numbers_ok=True))
    kind = _choice(record, "kind", "上报类型", KINDS)
    received_at = parse_time(record.get("received_at"), "received_at", "上报时间")
    content = content_field(record, "content", "事项内容")
    on_behalf = flag(record, "on_behalf", "网格员代办")
    name = text_field(record, "resident_name", label="居民姓名")
    phone = text_field(record, "resident_phone", label="居民电话", numbers_ok=True)
    extra: dict[str, Any] = {"grid_worker_id": worker, "grid_id": grid, "kind": kind, "on_behalf": on_behalf}
    if on_behalf or name or phone:
        needed = "网格员代办" if on_behalf else "记录了居民姓名或电话"
        extra |= consent(record, received_at, needed)
    lat, lng = coordinate(record, "lat", 90), coordinate(record, "lng", 180)
    if lat is not None and lng is not None:
        extra |= {"lat": lat, "lng": lng}
    extra |= extras(record, KNOWN)
    return build_command(
        channel=Channel.GRID,
        source_ref=report_no,
        received_at=received_at,
        content=content,
        address=text_field(record, "address", label="地址"),
        caller_name=name,
        caller_phone=phone,
        urgent=urgency(record),
        category_hint=ctx.category(text_field(record, "category", label="诉求分类")),
        confidential=flag(record, "confidential", "保密件"),
        extra=redact_value(extra),
    )
