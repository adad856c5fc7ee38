"""企呼市应 (docs/channels.md#enterprise-企呼市应): an enterprise's request from the enterprise
platform, as JSON lines or a CSV batch with English or Chinese headers.

The enterprise is named and identified by its 统一社会信用代码, checked by its check digit
(:mod:`adapters.channels.credit_code`); a code that is not one is a dead letter. The contact
person and number are the case's caller, kept exactly as the hotline's. Where the case goes
is the district's business (a channel rule in the config's ``routing``: the demo district sends
every enterprise request to its 营商环境办公室 as the lead unit).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from engine.intake import Channel, IntakeCommand

from . import credit_code
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
    "诉求编号": "request_no",
    "工单编号": "request_no",
    "事项编号": "request_no",
    "企业名称": "enterprise_name",
    "单位名称": "enterprise_name",
    "统一社会信用代码": "credit_code",
    "社会信用代码": "credit_code",
    "信用代码": "credit_code",
    "联系人": "contact_name",
    "联系电话": "contact_phone",
    "联系人电话": "contact_phone",
    "诉求内容": "content",
    "企业诉求": "content",
    "提交时间": "received_at",
    "受理时间": "received_at",
    "企业地址": "address",
    "地址": "address",
    "诉求类型": "appeal_type",
    "紧急程度": "urgency",
    "诉求分类": "category",
    "诉求领域": "category",
    "保密件": "confidential",
    "是否保密": "confidential",
}
KNOWN = frozenset(HEADERS.values())


def enterprise_name(record: Mapping[str, Any]) -> str:
    # Full-width letters and digits in a name (ＡＢＣ科技) are the same enterprise as half-width.
    name = text_field(record, "enterprise_name", required=True, label="企业名称")
    return " ".join(unicodedata.normalize("NFKC", name).split())


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, HEADERS)
    request_no = text_field(record, "request_no", required=True, label="诉求编号", numbers_ok=True)
    received_at = parse_time(record.get("received_at"), "received_at", "提交时间")
    name = enterprise_name(record)
    given = text_field(record, "credit_code", required=True, label="统一社会信用代码")
    try:
        code = credit_code.validate(given)
    except credit_code.CreditCodeError as e:
        raise RecordError(str(e)) from None
    content = content_field(record, "content", "诉求内容")
    # The enterprise's name and code are public (营业执照) and are how the office finds the
    # enterprise again: kept as they are, after the masking of the other extras.
    extra = {**redact_value(extras(record, KNOWN)), "enterprise_name": name, "credit_code": code}
    return build_command(
        channel=Channel.ENTERPRISE,
        source_ref=request_no,
        received_at=received_at,
        content=content,
        address=text_field(record, "address", label="企业地址"),
        caller_name=text_field(record, "contact_name", label="联系人"),
        caller_phone=text_field(record, "contact_phone", label="联系电话", numbers_ok=True),
        appeal_type=text_field(record, "appeal_type", label="诉求类型"),
        urgent=urgency(record),
        category_hint=ctx.category(text_field(record, "category", label="诉求分类")),
        confidential=flag(record, "confidential", "保密件"),
        extra=extra,
    )
