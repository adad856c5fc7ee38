"""媒体监督 (docs/channels.md): a published report (newspaper, television, a news site, an
official account) that names a problem becomes a case. JSON lines or CSV with English or Chinese
headers.

There is no caller: the source is the report. Its outlet, title, address and publication time
are kept in ``extra`` (flat ``report_*`` keys, so the case page and the unit given the case can
read them);
the quoted passage is the case's text and is routed by it like any other complaint. The case is
the report: ``source_ref`` is ``mt-`` and a hash of the report's address, so the same report
sent again (by two monitors, or the same export twice) lands once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.contract import MAX_URL
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
    "媒体名称": "outlet",
    "媒体": "outlet",
    "报道标题": "title",
    "标题": "title",
    "原文链接": "url",
    "链接": "url",
    "网址": "url",
    "发布时间": "published_at",
    "报道时间": "published_at",
    "报道摘录": "passage",
    "引述内容": "passage",
    "收录时间": "received_at",
    "涉及地点": "address",
    "地址": "address",
    "诉求分类": "category",
    "紧急程度": "urgency",
}
KNOWN = frozenset(HEADERS.values())
REF_PREFIX = "mt-"  # mt: 媒体


def report_url(value: str) -> str:
    """An absolute http(s) address with a host; scheme and host in lower case (the same report
    linked as ``HTTPS://Example.cn/a`` and ``https://example.cn/a`` is one report)."""
    text = unicodedata.normalize("NFKC", value).strip()
    if len(text) > MAX_URL:
        raise RecordError(f"原文链接超过{MAX_URL}字符 (url longer than {MAX_URL})")
    if any(c.isspace() for c in text):
        raise RecordError("原文链接不能含空格 (url must not contain spaces)")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise RecordError("原文链接无效 (not a URL)") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise RecordError("原文链接应为 http:// 或 https:// 开头的网址 (url must be http or https)")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def report_ref(url: str) -> str:
    return REF_PREFIX + hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


# Clocks of the outlet's site and the centre's desk differ; beyond this it is not skew.
PUBLISHED_SKEW = dt.timedelta(minutes=10)


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, HEADERS)
    outlet = text_field(record, "outlet", required=True, label="媒体名称")
    title = text_field(record, "title", required=True, label="报道标题")
    url = report_url(text_field(record, "url", required=True, label="原文链接"))
    published_at = parse_time(record.get("published_at"), "published_at", "发布时间")
    given = record.get("received_at")
    # The clock runs from when the centre took the report in; without that, from publication.
    received_at = (
        parse_time(given, "received_at", "收录时间") if given not in (None, "") else published_at
    )
    if received_at < published_at - PUBLISHED_SKEW:
        # Taken in before it was published: one of the two times is wrong, and the deadlines
        # would run from the wrong one.
        raise RecordError(
            "收录时间早于发布时间 (received_at is before published_at): "
            f"{received_at.isoformat()} < {published_at.isoformat()}"
        )
    passage = content_field(record, "passage", "报道摘录")
    extra: dict[str, Any] = {
        "report_outlet": outlet,
        "report_title": title,
        "report_url": url,
        "report_published_at": published_at.isoformat(),
        **extras(record, KNOWN),
    }
    return build_command(
        channel=Channel.MEDIA,
        source_ref=report_ref(url),
        received_at=received_at,
        content=passage,
        address=text_field(record, "address", label="涉及地点"),
        urgent=urgency(record),
        category_hint=ctx.category(text_field(record, "category", label="诉求分类")),
        # The report's address as published: its long article numbers are no bank cards.
        extra={**redact_value(extra), "report_url": url},
    )
