"""Bridge from the HTTP intake routes to the intake port (adapters.transport, docs/channels.md).

The channel adapters translate raw records into an ``IntakeCommand`` and own the dead-letter
store and Kafka publishing (SANSHI_KAFKA); this module only calls them and turns what they
report into an HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.bootstrap import Runtime
from adapters.channels import Parsed
from adapters.http.errors import ApiError
from adapters.transport.port import IntakeOutcome, intake_port, submit
from engine.intake import IntakeCommand


@dataclass(frozen=True)
class Submitted:
    case_id: UUID | None
    duplicate: bool
    status: str  # accepted | duplicate | queued


def submit_record(runtime: Runtime, channel: str, record: dict[str, Any], principal: str) -> Submitted:
    """One raw record through its channel adapter; an unreadable one is dead-lettered (422)."""
    outcome = submit(runtime, channel, record, principal=principal, position="http")
    return _answer(outcome, queued=bool(runtime.settings.kafka))


def submit_command(runtime: Runtime, command: IntakeCommand, principal: str, position: str) -> Submitted:
    """A command this adapter built itself (Open311), through the same port."""
    outcome = intake_port(runtime).send([Parsed(command, position)], principal=principal)[0]
    return _answer(outcome, queued=bool(runtime.settings.kafka))


def _answer(outcome: IntakeOutcome, queued: bool) -> Submitted:
    if outcome.status == "dead_lettered":
        raise ApiError(422, "invalid_record", f"记录无法受理，已转入死信队列：{outcome.reason}")
    if outcome.status == "filtered":
        raise ApiError(422, "filtered", f"该记录不属于受理范围：{outcome.reason}")
    if outcome.status == "failed":
        # Kafka did not take it, or (in-process) the dead-letter table could not be written.
        where = "消息队列暂不可用" if queued else "数据库暂时不可用"
        raise ApiError(503, "unavailable", f"{where}，请稍后重试（记录未受理）")
    return Submitted(outcome.case_id, outcome.duplicate, outcome.status)
