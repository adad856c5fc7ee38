"""How simulated records reach the engine: through the channel adapters and the intake port,
exactly as real files and HTTP posts do.

The simulator builds raw channel records; the channel adapters (``adapters.channels``) turn
them into intake commands, filter police business and dead-letter what cannot be read; the
runtime's intake port (``adapters.transport``) either calls the application service in-process
(``receive_batch``: one transaction per simulated hour) or, with ``SANSHI_KAFKA`` set,
publishes to Kafka for ``sanshi worker``, in which case the simulator waits for the cases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from adapters.bootstrap import Runtime
from adapters.channels import DeadLetter, Filtered, Parsed, adapt, read_one, source_ref_for
from adapters.simulator.stream import SimRecord
from adapters.transport.port import adapter_context, intake_port
from engine.domain import case_id_for

INTAKE_PRINCIPAL = "system:intake#sim"


@dataclass(frozen=True)
class Outcome:
    """What became of one record."""

    record: SimRecord
    status: str  # accepted | duplicate | queued | filtered | dead_lettered | failed
    case_id: UUID | None = None
    case_status: str | None = None  # in-process only: dispatched | merged | received …
    reason: str = ""


class IntakePort(Protocol):
    """Takes one simulated hour of records; returns what became of each."""

    asynchronous: bool  # True when cases appear later (Kafka): the simulator waits for them

    def submit(self, records: Sequence[SimRecord]) -> list[Outcome]: ...


class ChannelIntake:
    """Raw record → channel adapter → the runtime's intake port (in-process or Kafka)."""

    def __init__(self, runtime: Runtime, principal: str = INTAKE_PRINCIPAL) -> None:
        self.port = intake_port(runtime)
        self.ctx = adapter_context(runtime)
        self.principal = principal
        self.asynchronous = self.port.mode != "embedded"

    def submit(self, records: Sequence[SimRecord]) -> list[Outcome]:
        outcomes: list[Outcome | None] = []
        batch: list[Parsed] = []
        slots: list[int] = []
        letters: list[DeadLetter] = []
        for rec in records:
            # The position names the record as the case keeps it (a court or police number
            # only as its keyed hash): a dead letter's position is stored.
            ref = source_ref_for(rec.channel, rec.source_ref, self.ctx.district_key)
            raw = read_one(rec.record, position=f"sim:{rec.channel}:{ref}")
            # An app post carries no time: it is received when it arrives (simulated).
            ctx = dataclasses.replace(self.ctx, now=rec.received_at)
            adapted = adapt(rec.channel, raw, ctx, source="sim")
            if isinstance(adapted, Filtered):
                outcomes.append(Outcome(rec, "filtered", reason=adapted.reason))
            elif isinstance(adapted, DeadLetter):
                letters.append(adapted)
                outcomes.append(Outcome(rec, "dead_lettered", reason=adapted.reason))
            else:
                slots.append(len(outcomes))
                outcomes.append(None)
                batch.append(adapted)
        if letters:
            self.port.dead_letter(letters)
        if batch:
            sent = self.port.send(batch, principal=self.principal)
            for i, o in zip(slots, sent, strict=True):
                outcomes[i] = Outcome(
                    records[i], o.status, o.case_id, o.case_status, reason=o.reason
                )
        return [o for o in outcomes if o is not None]


def case_id_of(rec: SimRecord, district_key: bytes | None = None) -> UUID:
    """A police record's case id derives from the keyed hash of its incident number."""
    return case_id_for(rec.channel, source_ref_for(rec.channel, rec.source_ref, district_key))
