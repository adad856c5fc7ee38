"""110 非警务警情 (警司联动, docs/channels.md): only 纠纷 / 求助 / 咨询 leave the police; everything
that leaves is desensitised here, before it reaches a log, a topic or the event store.

The 警情类别 must be one of :data:`PASSING_CATEGORIES` exactly (after NFKC and trimming), not
merely end in 纠纷: ``450502199001011234纠纷`` stays with the police. The incident number
(警情编号) is kept only as an HMAC-SHA256 under the district secret (``Settings.district_key``):
a re-sent record has the same hash, so it still lands once, but the number itself, and a case
id computed from it, are not to be had without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
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
# The 纠纷 kinds police systems use as a category of their own (docs/channels.md's sub-categories).
PASSING_CATEGORIES = PASSING | frozenset(
    {"物业纠纷", "邻里纠纷", "劳资纠纷", "消费纠纷", "婚姻家庭纠纷", "家庭纠纷", "土地纠纷",
     "债务纠纷", "经济纠纷", "矛盾纠纷", "民事纠纷", "租赁纠纷"}
)
INCIDENT_REF_PREFIX = "jq-h"  # jq: 警情; h: hashed
DISPUTE_CATEGORY = "dispute"  # 矛盾纠纷 → mediation (docs/channels.md: disputes go to mediation)
_APPEAL_TYPE = {"求助": "求助", "咨询": "咨询"}
_SHORT_CJK = re.compile(r"^[\u4e00-\u9fff]{1,8}$")
# Police categories that may be named in a Filtered reason (docs/channels.md's list and its kin).
_KNOWN_POLICE = frozenset(
    {"刑事", "治安", "交通", "火灾", "纠纷", "求助", "咨询", "群体性事件", "灾害事故", "举报",
     "投诉", "其他", "自杀", "走失", "噪音扰民", "侵财", "盗窃", "诈骗", "抢劫", "伤害"}
)


def normal_category(category: str) -> str:
    return unicodedata.normalize("NFKC", category).strip()


def passes(category: str, allowed: frozenset[str] | None = None) -> bool:
    return normal_category(category) in (PASSING_CATEGORIES if allowed is None else allowed)


def incident_ref(incident_no: str, key: bytes | None = None) -> str:
    """The source_ref of a police record: a keyed hash of its incident number (NFKC,
    trimmed), 128 bits in hex."""
    from engine.settings import DEV_DISTRICT_SECRET

    number = unicodedata.normalize("NFKC", incident_no).strip()
    secret = key if key else DEV_DISTRICT_SECRET.encode("utf-8")
    # surrogatepass: a number with a lone surrogate (bad JSON escapes) still hashes, so that
    # its record is dead-lettered with the hash in place of the number instead of raising.
    digest = hmac.new(secret, number.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{INCIDENT_REF_PREFIX}{digest[:32]}"


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand | Filtered:
    record = normalise_keys(fields, HEADERS)
    category = normal_category(
        text_field(record, "police_category", required=True, label="警情类别")
    )
    allowed = ctx.police_categories if ctx.police_categories is not None else PASSING_CATEGORIES
    if category not in allowed:
        # Only a category from the list is named: it is known to carry no person.
        shown = category if category in _KNOWN_POLICE and _SHORT_CJK.match(category) else "其他"
        return Filtered(f"警情类别「{shown}」留公安处理 (police business, not forwarded)")
    incident_no = incident_ref(
        text_field(record, "incident_no", required=True, label="警情编号", numbers_ok=True),
        ctx.district_key,
    )
    received_at = parse_time(record.get("received_at"), "received_at", "报警时间")
    summary = content_field(record, "summary", "简要警情")
    name = text_field(record, "caller_name", label="报警人")
    phone = text_field(record, "caller_phone", label="报警电话", numbers_ok=True)
    location = text_field(record, "location", label="发生地点")
    sub_category = text_field(record, "sub_category", label="警情细类")
    is_dispute = category.endswith("纠纷")  # one of the list's 纠纷 kinds
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
