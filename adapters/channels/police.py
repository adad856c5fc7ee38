"""110 非警务警情 (警司联动, SPEC §2): only 纠纷 / 求助 / 咨询 leave the police; everything
that leaves is desensitised here, before it reaches a log, a topic or the event store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.intake import Channel, IntakeCommand

from .common import (
    AdapterContext,
    Filtered,
    build_command,
    content_field,
    normalise_keys,
    parse_time,
    text_field,
)
from .privacy import mask_name, mask_phone, mask_text

HEADERS = {
    "警情编号": "incident_no",
    "接警编号": "incident_no",
    "报警时间": "received_at",
    "接警时间": "received_at",
    "报警电话": "caller_phone",
    "报警人": "caller_name",
    "报警人姓名": "caller_name",
    "发生地点": "location",
    "地点": "location",
    "简要警情": "summary",
    "警情类别": "police_category",
    "警情细类": "sub_category",
    "警情子类": "sub_category",
}
PASSING = frozenset({"纠纷", "求助", "咨询"})
DISPUTE_CATEGORY = "dispute"  # 矛盾纠纷 → mediation (SPEC §2: disputes go to mediation)
_APPEAL_TYPE = {"求助": "求助", "咨询": "咨询"}
_SHORT_CJK = re.compile(r"^[\u4e00-\u9fff]{1,8}$")


def passes(category: str) -> bool:
    return category in PASSING or category.endswith("纠纷")


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand | Filtered:
    record = normalise_keys(fields, HEADERS)
    category = text_field(record, "police_category", required=True, label="警情类别")
    if not passes(category):
        # Only the category is named: it is the one value known to carry no person.
        shown = category if _SHORT_CJK.match(category) else "其他"
        return Filtered(f"警情类别「{shown}」留公安处理 (police business, not forwarded)")
    incident_no = text_field(record, "incident_no", required=True, label="警情编号", numbers_ok=True)
    received_at = parse_time(record.get("received_at"), "received_at", "报警时间")
    summary = content_field(record, "summary", "简要警情")
    name = text_field(record, "caller_name", label="报警人")
    phone = text_field(record, "caller_phone", label="报警电话", numbers_ok=True)
    location = text_field(record, "location", label="发生地点")
    sub_category = text_field(record, "sub_category", label="警情细类")
    is_dispute = category == "纠纷" or category.endswith("纠纷")
    extra: dict[str, Any] = {
        "police_category": category,
        "sub_category": mask_text(sub_category, [name], [phone]),
        "desensitised": True,  # 已脱敏
    }
    # Fields this adapter does not know may hold anything (an ID number column): they are
    # not forwarded; only their names are, so the centre can ask for them.
    unknown = sorted(k for k in record if k not in HEADERS.values() and record[k] not in (None, ""))
    if unknown:
        extra["fields_not_forwarded"] = [mask_text(k) for k in unknown]
    return build_command(
        channel=Channel.POLICE,
        source_ref=incident_no,
        received_at=received_at,
        content=mask_text(summary, [name], [phone]),
        address=mask_text(location, [name], [phone]),
        caller_name=mask_name(name),
        caller_phone=mask_phone(phone),
        appeal_type=_APPEAL_TYPE.get(category, ""),
        category_hint=ctx.category(DISPUTE_CATEGORY) if is_dispute else "",
        extra=extra,
    )
