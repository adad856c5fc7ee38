"""12345 热线 (docs/channels.md): JSON lines with English keys, or CSV with English or Chinese headers."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from engine.intake import Channel, IntakeCommand

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
from .privacy import redact_value

HEADERS = {
    "工单编号": "order_no",
    "来电时间": "received_at",
    "来电号码": "caller_phone",
    "来电人": "caller_name",
    "诉求内容": "content",
    "诉求地址": "address",
    "诉求类型": "appeal_type",
    "紧急程度": "urgency",
    "诉求分类": "category",
    "保密件": "confidential",
    "是否保密": "confidential",
    "不合并": "keep_separate",
}
KNOWN = frozenset(HEADERS.values())

_URGENT = {"紧急", "特急", "加急", "急", "urgent", "high", "true", "1", "是"}
_NORMAL = {"一般", "普通", "正常", "normal", "low", "false", "0", "否", ""}


def urgency(record: Mapping[str, Any]) -> bool:
    value = text_field(record, "urgency", label="紧急程度")
    v = unicodedata.normalize("NFKC", value).strip().lower()
    if v in _URGENT:
        return True
    if v in _NORMAL:
        return False
    raise RecordError("紧急程度应为 一般/紧急 (urgency must be 一般 or 紧急)")


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, HEADERS)
    order_no = text_field(record, "order_no", required=True, label="工单编号", numbers_ok=True)
    received_at = parse_time(record.get("received_at"), "received_at", "来电时间")
    content = content_field(record, "content", "诉求内容")
    extra = extras(record, KNOWN)
    return build_command(
        channel=Channel.HOTLINE,
        source_ref=order_no,
        received_at=received_at,
        content=content,
        address=text_field(record, "address", label="诉求地址"),
        caller_name=text_field(record, "caller_name", label="来电人"),
        caller_phone=text_field(record, "caller_phone", label="来电号码", numbers_ok=True),
        appeal_type=text_field(record, "appeal_type", label="诉求类型"),
        urgent=urgency(record),
        category_hint=ctx.category(text_field(record, "category", label="诉求分类")),
        confidential=flag(record, "confidential", "保密件"),
        keep_separate=flag(record, "keep_separate", "不合并"),
        extra=redact_value(extra),
    )
