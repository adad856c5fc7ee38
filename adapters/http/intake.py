"""Bridge from the HTTP intake routes to the channel adapters (SPEC §2).

The channel adapters own the translation of raw records into an ``IntakeCommand`` (and the
dead-letter store, and Kafka publishing when SANSHI_KAFKA is set); this module only calls
them and turns what they report into an HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.bootstrap import Runtime
from adapters.http.errors import ApiError


@dataclass(frozen=True)
class Submitted:
    case_id: UUID | None
    duplicate: bool
    status: str  # accepted | duplicate | filtered | dead_lettered | queued
    message: str = ""


def submit_record(runtime: Runtime, channel: str, record: dict[str, Any], principal: str) -> Submitted:
    try:
        from adapters.channels import submit  # type: ignore[attr-defined]
    except ImportError:  # TEMPORARY until the channel adapters land
        return _fallback(runtime, channel, record, principal)
    outcome = submit(runtime, channel, record, principal=principal)
    return _to_submitted(outcome)


def _fallback(runtime: Runtime, channel: str, record: dict[str, Any], principal: str) -> Submitted:
    import datetime as dt

    from engine.application import now_shanghai
    from engine.deadlines import SHANGHAI
    from engine.intake import IntakeCommand

    def when(v: Any) -> dt.datetime:
        if not v:
            return now_shanghai()
        t = dt.datetime.fromisoformat(str(v))
        return t if t.tzinfo else t.replace(tzinfo=SHANGHAI)

    if channel == "hotline":
        cmd = IntakeCommand(
            channel="hotline", source_ref=record["order_no"], received_at=when(record.get("received_at")),
            content=record["content"], address=record.get("address", ""),
            caller_name=record.get("caller_name", ""), caller_phone=record.get("caller_phone", ""),
            appeal_type=record.get("appeal_type", ""), urgent=record.get("urgency") == "紧急",
            category_hint=record.get("category", ""),
        )
    elif channel == "app":
        cmd = IntakeCommand(
            channel="app", source_ref=record["submission_id"], received_at=when(record.get("received_at")),
            content=record["content"], address=record.get("address", ""),
            caller_phone=record.get("phone", ""), concern=record.get("concern", "worry"),
            category_hint=record.get("category", ""),
            extra={k: record[k] for k in ("lat", "lng", "photos", "open311") if k in record},
        )
    else:
        cmd = IntakeCommand(
            channel="walkin", source_ref=f"{record['station_id']}/{record['ticket_no']}",
            received_at=when(record.get("received_at")), content=record["content"],
            address=record.get("address", ""), caller_name=record.get("resident_name", ""),
            caller_phone=record.get("phone", ""),
        )
    r = runtime.app.receive(cmd, principal=principal)
    return Submitted(r.case_id, r.duplicate, "duplicate" if r.duplicate else "accepted")


def _to_submitted(outcome: Any) -> Submitted:
    status = str(getattr(outcome, "status", getattr(outcome, "outcome", "accepted")))
    case_id = getattr(outcome, "case_id", None)
    duplicate = bool(getattr(outcome, "duplicate", status == "duplicate"))
    message = str(getattr(outcome, "reason", "") or getattr(outcome, "message", "") or "")
    if status in ("dead_lettered", "dead_letter", "invalid"):
        raise ApiError(422, "invalid_record", message or "记录无法识别，已转入死信队列")
    if status == "filtered":
        raise ApiError(422, "filtered", message or "该记录不属于受理范围")
    return Submitted(case_id=case_id, duplicate=duplicate, status=status, message=message)
