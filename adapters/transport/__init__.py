"""Intake transport (docs/channels.md, docs/configuration.md): the port records go through (in-process or Kafka), the
Kafka worker, and the dead-letter store."""

from __future__ import annotations

from .dead_letters import DeadLetterStore
from .port import (
    STATUSES,
    IngestReport,
    InProcessIntake,
    IntakeOutcome,
    IntakePort,
    IntakeUnavailable,
    dead_letter_store,
    ingest,
    intake_port,
    submit,
)

__all__ = [
    "STATUSES",
    "DeadLetterStore",
    "InProcessIntake",
    "IngestReport",
    "IntakeOutcome",
    "IntakePort",
    "IntakeUnavailable",
    "dead_letter_store",
    "ingest",
    "intake_port",
    "submit",
]
