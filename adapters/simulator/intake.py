"""How simulated records reach the engine: through the channel adapters and the intake port,
exactly as real files and HTTP posts do.

The simulator builds raw channel records; the channel adapters (``adapters.channels``) turn
them into intake commands, filter police business and dead-letter what cannot be read; the
intake port either calls the application service in-process (``receive_batch``, one
transaction per simulated hour) or publishes to Kafka for ``sanshi worker``.

When the channel adapters are not importable (a stripped-down install), a minimal translation
here keeps the simulator working; it follows SPEC §2 but does none of the adapters' checks.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from adapters.bootstrap import Runtime
from adapters.simulator.stream import SimRecord
from engine.application import IntakeResult
from engine.deadlines import SHANGHAI
from engine.domain import case_id_for
from engine.intake import Channel, Concern, IntakeCommand

INTAKE_PRINCIPAL = "system:intake#sim"


@dataclass(frozen=True)
class Outcome:
    """What became of one record."""

    record: SimRecord
    status: str  # accepted | duplicate | filtered | dead_lettered | queued
    case_id: UUID | None = None
    result: IntakeResult | None = None  # known in-process; None when queued to Kafka
    reason: str = ""


class IntakePort(Protocol):
    """Takes one simulated hour of records; returns what became of each."""

    def submit(self, records: Sequence[SimRecord]) -> list[Outcome]: ...

    @property
    def asynchronous(self) -> bool:
        """True when cases appear later (Kafka): the simulator waits for them."""
        ...


Translator = Callable[[SimRecord], IntakeCommand | str]


def _parse_time(value: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=SHANGHAI)


_PHONE = re.compile(r"\d{7,}")


def _mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return ("*" * max(0, len(digits) - 4) + digits[-4:]) if digits else ""


def fallback_translate(rec: SimRecord) -> IntakeCommand | str:
    """SPEC §2 translation for when ``adapters.channels`` is absent. Returns the command, or a
    reason string when the record is filtered."""
    r: dict[str, Any] = rec.record
    if rec.channel == "hotline":
        return IntakeCommand(
            channel=Channel.HOTLINE,
            source_ref=r["order_no"],
            received_at=_parse_time(r["received_at"]),
            content=r["content"],
            address=r.get("address", ""),
            caller_name=r.get("caller_name", ""),
            caller_phone=r.get("caller_phone", ""),
            appeal_type=r.get("appeal_type", ""),
            urgent=r.get("urgency") == "紧急",
            category_hint=r.get("category", ""),
        )
    if rec.channel == "police":
        if r["police_category"] not in ("纠纷", "求助", "咨询"):
            return "警务类警情，由公安处置"
        name = r.get("caller_name", "")
        return IntakeCommand(
            channel=Channel.POLICE,
            source_ref=r["incident_no"],
            received_at=_parse_time(r["received_at"]),
            content=r["summary"],
            address=r.get("location", ""),
            caller_name=f"{name[:1]}某" if name else "",
            caller_phone=_mask_phone(r.get("caller_phone", "")),
            appeal_type="求助",
            concern=Concern.TROUBLE,
            extra={"police_category": r["police_category"], "sub_category": r.get("sub_category", "")},
        )
    if rec.channel == "app":
        return IntakeCommand(
            channel=Channel.APP,
            source_ref=r["submission_id"],
            received_at=rec.received_at,
            content=r["content"],
            address=r.get("address", ""),
            caller_phone=r.get("phone", ""),
            concern=Concern(r.get("concern") or "worry"),
            urgent=r.get("concern") == "anguish",
            extra={"user_id": r.get("user_id"), "lat": r.get("lat"), "lng": r.get("lng"),
                   "photos": r.get("photos", [])},
        )
    return IntakeCommand(
        channel=Channel.WALKIN,
        source_ref=f"{r['station_id']}/{r['ticket_no']}",
        received_at=_parse_time(r["received_at"]),
        content=r["content"],
        address=r.get("address", ""),
        caller_name=r.get("resident_name", ""),
        caller_phone=r.get("phone", ""),
        extra={"station_id": r["station_id"], "staff_id": r.get("staff_id"),
               "on_behalf": bool(r.get("on_behalf"))},
    )


class InProcessIntake:
    """Translate each record, then receive the hour's commands in one transaction."""

    asynchronous = False

    def __init__(self, runtime: Runtime, translate: Translator | None = None) -> None:
        self.app = runtime.app
        self.translate = translate or fallback_translate

    def submit(self, records: Sequence[SimRecord]) -> list[Outcome]:
        outcomes: list[Outcome | None] = []
        cmds: list[IntakeCommand] = []
        slots: list[int] = []
        for rec in records:
            try:
                cmd = self.translate(rec)
            except ValueError as exc:  # pydantic ValidationError is a ValueError
                outcomes.append(Outcome(rec, "dead_lettered", reason=str(exc)))
                continue
            if isinstance(cmd, str):
                outcomes.append(Outcome(rec, "filtered", reason=cmd))
                continue
            slots.append(len(outcomes))
            outcomes.append(None)
            cmds.append(cmd)
        if cmds:
            results = self.app.receive_batch(cmds, principal=INTAKE_PRINCIPAL)
            for i, res in zip(slots, results, strict=True):
                rec = records[i]
                outcomes[i] = Outcome(
                    rec, "duplicate" if res.duplicate else "accepted", res.case_id, res
                )
        return [o for o in outcomes if o is not None]


def case_id_of(rec: SimRecord) -> UUID:
    return case_id_for(rec.channel, rec.source_ref)
