"""到点反映 at a 解忧超市 counter, 网格员代办 (docs/channels.md): JSON or a CSV batch."""

from __future__ import annotations

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
    "站点": "station_id",
    "站点编号": "station_id",
    "票号": "ticket_no",
    "登记号": "ticket_no",
    "网格员": "staff_id",
    "工作人员": "staff_id",
    "居民姓名": "resident_name",
    "姓名": "resident_name",
    "联系电话": "phone",
    "电话": "phone",
    "反映内容": "content",
    "诉求内容": "content",
    "地址": "address",
    "代办": "on_behalf",
    "受理时间": "received_at",
    "登记时间": "received_at",
    "保密件": "confidential",
    "是否保密": "confidential",
}
KNOWN = frozenset(HEADERS.values())


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, HEADERS)
    station = text_field(record, "station_id", required=True, label="站点", numbers_ok=True)
    if "/" in station:
        # source_ref is "station/ticket": a slash in the station would make two tickets one.
        raise RecordError("站点编号不能含 / (station_id must not contain '/')")
    ticket = text_field(record, "ticket_no", required=True, label="票号", numbers_ok=True)
    content = content_field(record, "content", "反映内容")
    given = record.get("received_at")
    received_at = (
        parse_time(given, "received_at", "受理时间") if given not in (None, "") else ctx.clock()
    )
    extra: dict[str, Any] = {
        "station_id": station,
        "ticket_no": ticket,
        "staff_id": text_field(record, "staff_id", label="网格员", numbers_ok=True),
        "on_behalf": flag(record, "on_behalf", "代办"),
        **extras(record, KNOWN),
    }
    if given in (None, ""):
        extra["received_at_assumed"] = True
    return build_command(
        channel=Channel.WALKIN,
        source_ref=f"{station}/{ticket}",
        received_at=received_at,
        content=content,
        address=text_field(record, "address", label="地址"),
        caller_name=text_field(record, "resident_name", label="居民姓名"),
        caller_phone=text_field(record, "phone", label="联系电话", numbers_ok=True),
        confidential=flag(record, "confidential", "保密件"),
        extra=redact_value(extra),
    )
