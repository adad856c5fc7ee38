"""镇呼市应 (docs/channels.md): a town or street (镇/街道) asks a city department for what it cannot
do itself. JSON lines or CSV with English or Chinese headers.

The requesting unit must be a street unit of the district's configuration (by id or name); any
other is a dead letter saying so, since a request nobody can answer for is not a case. The
department asked is an optional hint, kept in ``extra`` (its unit id when the district has such
a unit, else the text as given); the case is routed by its text as usual. A town's request
carries no resident: there is no caller, and every identifier kind (ID, phone, bank card, plate,
passport numbers) written in it is masked, as in a police record.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from engine.identifiers import ALL_KINDS
from engine.intake import Channel, IntakeCommand

from .common import (
    AdapterContext,
    RecordError,
    build_command,
    content_field,
    extras,
    normalise_keys,
    parse_time,
    text_field,
)
from .hotline import urgency
from .privacy import redact_value

HEADERS = {
    "请求编号": "request_no",
    "事项编号": "request_no",
    "请求单位": "street",
    "镇街": "street",
    "街道": "street",
    "提出时间": "received_at",
    "请求时间": "received_at",
    "请求事项": "content",
    "诉求内容": "content",
    "请求部门": "department",
    "承办部门": "department",
    "地址": "address",
    "涉及地点": "address",
    "诉求分类": "category",
    "紧急程度": "urgency",
}
KNOWN = frozenset(HEADERS.values())


def _masked(value: Any) -> Any:
    return redact_value(value, ALL_KINDS)


def street_unit(streets: Mapping[str, str], given: str) -> str | None:
    """The street unit a request names, by id or name as the town's system spelled it: an id in
    full-width letters (ＺＨＯＮＧＪＩＥ), upper case or with spaces is the same id."""
    if given in streets:
        return streets[given]
    plain = "".join(unicodedata.normalize("NFKC", given).split())
    return streets.get(plain) or streets.get(plain.lower())


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, HEADERS)
    street_given = text_field(record, "street", required=True, label="请求单位", numbers_ok=True)
    street = street_unit(ctx.street_units or {}, street_given)
    if street is None:
        raise RecordError(
            "请求单位不是本区已配置的街道（镇） (the requesting unit is not a configured street)"
        )
    if "/" in street:
        raise RecordError("请求单位编号不能含 / (street id must not contain '/')")
    request_no = text_field(record, "request_no", required=True, label="请求编号", numbers_ok=True)
    received_at = parse_time(record.get("received_at"), "received_at", "提出时间")
    content = content_field(record, "content", "请求事项")
    department = text_field(record, "department", label="请求部门")
    # The request number is in source_ref (street/number), not masked as it would be here.
    extra: dict[str, Any] = {"requesting_unit": street}
    if department:
        known = (ctx.units or {}).get(department)
        extra["department_asked"] = known or department
        extra["department_configured"] = known is not None
    extra.update(extras(record, KNOWN))
    return build_command(
        channel=Channel.TOWN,
        source_ref=f"{street}/{request_no}",
        received_at=received_at,
        content=_masked(content),
        address=_masked(text_field(record, "address", label="涉及地点")),
        urgent=urgency(record),
        category_hint=ctx.category(text_field(record, "category", label="诉求分类")),
        extra=_masked(extra),
    )
