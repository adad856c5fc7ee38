"""诉前调解 (docs/channels.md): the court's pre-litigation mediation centre refers a dispute to
the district for mediation (委派调解). JSON lines or CSV with English or Chinese headers.

The court's case number (案号, ``（2026）桂0502民诉前调1234号``) is kept **only as a keyed hash**,
like a police incident number: HMAC-SHA256 under the district secret of its normal spelling
(full-width or half-width brackets, 〔〕 or [], spaces, with or without the final 号 are one
number). A re-sent referral has the same hash, so it lands once; the number itself is not to be
had without the secret. A case number quoted in the summary or any other field is replaced by
its hash too, and so is one in a dead letter (``adapters.channels.dead_letter``).

The parties are kept as the hotline keeps its callers: the applicant (申请人) is the case's
caller (name and number, encrypted at rest with ``SANSHI_CIPHER_KEY``), the respondent
(被申请人) is kept by name and number in ``extra`` for the mediator, who calls both; ID,
bank-card and passport numbers anywhere in the record are masked. Columns the adapter does not
know are not forwarded (a referral export may carry ID-number columns): only their names are.
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
    RecordError,
    build_command,
    content_field,
    normalise_keys,
    parse_time,
    text_field,
)
from .privacy import redact_citizen, redact_value

HEADERS = {
    "案号": "case_no",
    "诉前调解案号": "case_no",
    "委派时间": "received_at",
    "移送时间": "received_at",
    "法院": "court",
    "委派法院": "court",
    "纠纷类型": "dispute_type",
    "案由": "dispute_type",
    "纠纷简介": "summary",
    "案情简介": "summary",
    "申请人": "applicant_name",
    "申请人电话": "applicant_phone",
    "被申请人": "respondent_name",
    "被申请人电话": "respondent_phone",
    "地址": "address",
    "纠纷地点": "address",
    "调解期限": "mediation_deadline",
}
KNOWN = frozenset(HEADERS.values())
CASE_REF_PREFIX = "ah-h"  # ah: 案号; h: hashed
DISPUTE_CATEGORY = "dispute"  # 矛盾纠纷: mediated by the judicial office (docs/channels.md)

_BRACKETS = str.maketrans({"〔": "(", "〕": ")", "[": "(", "]": ")", "【": "(", "】": ")", "［": "(", "］": ")"})
# (year) court code (桂0502, 京01, 最高法) type (民诉前调) sequence 号, in its normal spelling.
_NORMAL = re.compile(r"^\((?:19|20)\d{2}\)[\u4e00-\u9fff]{1,4}\d{0,6}[\u4e00-\u9fff]{1,8}\d{1,8}号$")
# A case number as it may be written in free text (any bracket, spaces between the parts).
_BR_OPEN, _BR_CLOSE = r"[（(〔\[【［]", r"[）)〕\]】］]"
_SP = r"[\s\u3000]*"
IN_TEXT = re.compile(
    rf"{_BR_OPEN}{_SP}(?:19|20|１９|２０)[0-9０-９]{{2}}{_SP}{_BR_CLOSE}{_SP}[\u4e00-\u9fff]{{1,4}}{_SP}"
    rf"[0-9０-９]{{0,6}}{_SP}[\u4e00-\u9fff]{{1,8}}{_SP}[0-9０-９]{{1,8}}{_SP}号?"
)


def normal_case_no(case_no: str) -> str:
    """The one spelling a case number is hashed in: NFKC (full-width → half-width), every
    bracket as ``()``, no spaces, ending in 号."""
    text = unicodedata.normalize("NFKC", case_no).translate(_BRACKETS)
    text = re.sub(r"\s+", "", text)
    if text and not text.endswith("号"):
        text += "号"
    return text


def valid_case_no(case_no: str) -> bool:
    return bool(_NORMAL.match(normal_case_no(case_no)))


def case_ref(case_no: str, key: bytes | None = None) -> str:
    """The source_ref of a referral: a keyed hash of its case number's normal spelling."""
    from engine.settings import DEV_DISTRICT_SECRET

    secret = key if key else DEV_DISTRICT_SECRET.encode("utf-8")
    number = normal_case_no(case_no).encode("utf-8", "surrogatepass")
    digest = hmac.new(secret, number, hashlib.sha256).hexdigest()
    return f"{CASE_REF_PREFIX}{digest[:32]}"


def hash_case_numbers(text: str, key: bytes | None = None) -> str:
    """Every case number written in ``text`` (any spelling) → its keyed hash."""
    if not text:
        return text
    return IN_TEXT.sub(lambda m: case_ref(m.group(0), key), text)


def adapt(fields: Mapping[str, Any], ctx: AdapterContext) -> IntakeCommand:
    record = normalise_keys(fields, HEADERS)
    key = ctx.district_key
    number = text_field(record, "case_no", required=True, label="案号", numbers_ok=True)
    if not valid_case_no(number):
        raise RecordError(
            "案号格式不对，应为（年份）法院代字、类型代字、序号加“号”，如（2026）桂0502民诉前调1号 "
            "(not a court case number)"
        )
    received_at = parse_time(record.get("received_at"), "received_at", "委派时间")
    summary = content_field(record, "summary", "纠纷简介")
    dispute_type = text_field(record, "dispute_type", required=True, label="纠纷类型")
    deadline = record.get("mediation_deadline")

    ref = case_ref(number, key)

    def clean(value: str) -> str:
        # The number as given first (whatever its spelling), then any other written in it.
        return redact_citizen(hash_case_numbers(value.replace(number, ref), key))

    extra: dict[str, Any] = {
        "court": clean(text_field(record, "court", label="法院")),
        "dispute_type": clean(dispute_type),
        "respondent_name": clean(text_field(record, "respondent_name", label="被申请人")),
        "respondent_phone": clean(
            text_field(record, "respondent_phone", label="被申请人电话", numbers_ok=True)
        ),
    }
    if deadline not in (None, ""):
        extra["mediation_deadline"] = parse_time(
            deadline, "mediation_deadline", "调解期限"
        ).isoformat()
    unknown = sorted(k for k in record if k not in KNOWN and record[k] not in (None, ""))
    if unknown:
        extra["fields_not_forwarded"] = [clean(k) for k in unknown]
    return build_command(
        channel=Channel.COURT,
        source_ref=ref,
        received_at=received_at,
        content=clean(summary),
        address=clean(text_field(record, "address", label="地址")),
        caller_name=clean(text_field(record, "applicant_name", label="申请人")),
        caller_phone=clean(
            text_field(record, "applicant_phone", label="申请人电话", numbers_ok=True)
        ),
        appeal_type="求助",
        category_hint=ctx.category(DISPUTE_CATEGORY),
        extra=redact_value({k: v for k, v in extra.items() if v != ""}),
    )
