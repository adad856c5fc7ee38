"""解忧超市 APP / 微网格 submissions (docs/channels.md): one JSON object per submission."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.intake import Channel, Concern, IntakeCommand

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

KNOWN = frozenset(
    {"submission_id", "user_id", "phone", "content", "address", "lat", "lng", "photos",
     "concern", "received_at", "confidential"}
)
_CONCERNS = {
    "worry": Concern.WORRY,
    "操心事": Concern.WORRY,
    "trouble": Concern.TROUBLE,
    "烦心事": Concern.TROUBLE,
    "anguish": Concern.ANGUISH,
    "揪心事": Concern.ANGUISH,
}
MAX_PHOTOS = 50


def concern(record: Mapping[str, Any]) -> Concern:
    value = text_field(record, "concern", label="三事类别").lower()
    if not value:
        return Concern.WORRY
    if value not in _CONCERNS:
        raise RecordError("concern 应为 worry|trouble|anguish (操心事/烦心事/揪心事)")
    return _CONCERNS[value]


def coordinate(record: Mapping[str, Any], key: str, limit: float) -> float | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise RecordError(f"{key} 应为数字 (not a number)") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{key} 应为数字 (wrong type: {type(value).__name__})")
    number = float(value)
    if not math.isfinite(number) or abs(number) > limit:
        raise RecordError(f"{key} 超出范围 (out of range ±{limit:g})")
    return number


def photos(record: Mapping[str, Any]) -> list[str]:
    value = record.get("photos")
    if value is None or value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise RecordError("photos 应为网址列表 (photos must be a list of URLs)")
    if len(value) > MAX_PHOTOS:
        raise RecordError(f"照片超过{MAX_PHOTOS}张 (more than {MAX_PHOTOS} photos)")
    return [p.strip() for p in value if p.strip()]


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, {})
    submission_id = text_field(record, "submission_id", required=True, numbers_ok=True)
    content = content_field(record, "content", "诉求内容")
    level = concern(record)
    given = record.get("received_at")
    received_at = (
        parse_time(given, "received_at") if given not in (None, "") else ctx.clock()
    )
    lat, lng = coordinate(record, "lat", 90), coordinate(record, "lng", 180)
    extra: dict[str, Any] = {
        "user_id": text_field(record, "user_id", numbers_ok=True),
        "photos": photos(record),
        **({"lat": lat, "lng": lng} if lat is not None and lng is not None else {}),
        **extras(record, KNOWN),
    }
    if given in (None, ""):
        extra["received_at_assumed"] = True  # 未提供时间，按收到时刻
    return build_command(
        channel=Channel.APP,
        source_ref=submission_id,
        received_at=received_at,
        content=content,
        address=text_field(record, "address", label="地址"),
        caller_phone=text_field(record, "phone", numbers_ok=True),
        concern=level,
        urgent=level is Concern.ANGUISH,
        confidential=flag(record, "confidential", "保密件"),
        extra=redact_value(extra),
    )
