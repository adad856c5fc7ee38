"""The intake port: where adapted records go (docs/channels.md, docs/configuration.md).

Two transports behind one interface:

- :class:`InProcessIntake` (no ``SANSHI_KAFKA``): calls ``runtime.app.receive_batch``
  directly; dead letters go to the ``dead_letters`` table.
- :class:`adapters.transport.kafka.KafkaIntake` (``SANSHI_KAFKA`` set): publishes each
  ``IntakeCommand`` as JSON to ``sanshi.intake`` keyed by case id and each dead letter to
  ``sanshi.dlq``; ``sanshi worker`` applies them. "queued" then means "acknowledged by Kafka".

:func:`submit` (one record, for HTTP) and :func:`ingest` (many, for ``sanshi ingest``) are the
two ways in; both account for every record exactly once as accepted, duplicate, queued,
filtered, dead-lettered, or failed (could not be handed to Kafka: the caller must retry).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from uuid import UUID

from eventsourcing.persistence import DataError as PersistenceDataError

from adapters.channels import (
    CHANNELS,
    DeadLetter,
    Filtered,
    Parsed,
    RawRecord,
    adapt,
    read_one,
)
from adapters.channels.common import AdapterContext
from engine.domain import DomainError
from engine.intake import Channel

from .dead_letters import DeadLetterStore

if TYPE_CHECKING:
    from adapters.bootstrap import Publisher, Runtime

log = logging.getLogger("sanshi.intake")

Status = Literal["accepted", "duplicate", "queued", "filtered", "dead_lettered", "failed"]
STATUSES: tuple[Status, ...] = (
    "accepted",
    "duplicate",
    "queued",
    "filtered",
    "dead_lettered",
    "failed",
)
DEFAULT_PRINCIPAL = "system:intake"


class IntakeUnavailable(RuntimeError):
    """For callers that prefer an exception to a ``failed`` outcome (Kafka did not
    acknowledge the record: nothing was queued; the client must retry, HTTP 503)."""


@dataclass(frozen=True)
class IntakeOutcome:
    status: Status
    case_id: UUID | None = None
    reason: str = ""
    position: str = ""
    case_status: str | None = None  # received | dispatched | merged … (in-process only)
    unit: str | None = None
    merged_into: UUID | None = None

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "case_id": str(self.case_id) if self.case_id else None,
            "reason": self.reason,
            "position": self.position,
            "case_status": self.case_status,
            "unit": self.unit,
            "merged_into": str(self.merged_into) if self.merged_into else None,
        }


class IntakePort(Protocol):
    mode: str  # "embedded" | "kafka"

    def send(self, items: Sequence[Parsed], principal: str = DEFAULT_PRINCIPAL) -> list[IntakeOutcome]:
        ...

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        ...

    def close(self) -> None:
        ...


# ---- in-process --------------------------------------------------------------------------


# What one record's values can cause (an overflow past year 9999 in a deadline, a value the
# database refuses as data): retrying the poll cannot help, and raising would redeliver it for
# ever (a poison message holding its partition), so that record is dead-lettered. Connection
# and lock errors are not among these: they propagate and the poll is retried.
RECORD_FAULTS: tuple[type[Exception], ...] = (
    DomainError, ValueError, ArithmeticError, TypeError, PersistenceDataError
)


def apply_commands(
    runtime: Runtime, items: Sequence[Parsed], principal: str, source: str
) -> tuple[list[IntakeOutcome], list[DeadLetter]]:
    """``receive_batch`` the whole lot in one transaction; when the engine refuses one record
    (a DomainError, e.g. a config that names no unit) or cannot compute with its values (a
    :data:`RECORD_FAULTS` error), redo them one by one so that only that record is
    dead-lettered. Infrastructure errors propagate: nothing was written."""
    if not items:
        return [], []
    app = runtime.app
    try:
        results = app.receive_batch([p.command for p in items], principal=principal)
    except RECORD_FAULTS:
        outcomes: list[IntakeOutcome] = []
        letters: list[DeadLetter] = []
        for item in items:
            try:
                result = app.receive(item.command, principal=principal)
            except DomainError as e:
                letter = command_dead_letter(item, f"受理失败 (receive refused: {e.code}): {e.message}", source)
                letters.append(letter)
                outcomes.append(
                    IntakeOutcome("dead_lettered", reason=letter.reason, position=item.position)
                )
                continue
            except RECORD_FAULTS as e:
                log.warning("intake record at %s could not be processed: %s", item.position, type(e).__name__)
                letter = command_dead_letter(
                    item, f"处理失败 (record could not be processed: {type(e).__name__})", source
                )
                letters.append(letter)
                outcomes.append(
                    IntakeOutcome("dead_lettered", reason=letter.reason, position=item.position)
                )
                continue
            outcomes.append(_outcome(result, item.position))
        queue_photos(runtime, items, outcomes)
        return outcomes, letters
    outcomes = [_outcome(r, p.position) for r, p in zip(results, items, strict=True)]
    queue_photos(runtime, items, outcomes)
    return outcomes, []


def queue_photos(runtime: Runtime, items: Sequence[Parsed], outcomes: Sequence[IntakeOutcome]) -> None:
    """After the cases are saved: the app records' photo URLs on an allowed host go to the
    photo queue (``adapters.attachments.queue``), fetched by a later step, never here. A
    duplicate queues too (a redelivered poll whose first delivery died before queueing); the
    queue ignores what it holds. Queueing that fails loses a photo, never the case."""
    cases = [
        (o.case_id, p.command.extra)
        for p, o in zip(items, outcomes, strict=True)
        if p.command.channel is Channel.APP and o.case_id is not None
        and o.status in ("accepted", "duplicate") and p.command.extra.get("photos")
    ]
    if not cases or not runtime.config.attachments.fetch_hosts:
        return
    try:
        runtime.photo_queue.enqueue_cases(cases)
    except Exception as e:
        log.warning("app photos not queued for fetching (%s); the cases are recorded", type(e).__name__)


def command_dead_letter(item: Parsed, reason: str, source: str) -> DeadLetter:
    import hashlib

    raw = item.command.model_dump_json().encode("utf-8")
    return DeadLetter(
        channel=item.command.channel.value,
        reason=reason,
        position=item.position,
        raw=raw,
        raw_size=len(raw),
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        # A police command is desensitised already; it is what we would have stored.
        redacted=item.command.channel is Channel.POLICE,
        source=source,
    )


def _outcome(result: Any, position: str) -> IntakeOutcome:
    return IntakeOutcome(
        "duplicate" if result.duplicate else "accepted",
        case_id=result.case_id,
        position=position,
        case_status=result.status,
        unit=result.unit,
        merged_into=result.merged_into,
    )


class InProcessIntake:
    mode = "embedded"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def send(self, items: Sequence[Parsed], principal: str = DEFAULT_PRINCIPAL) -> list[IntakeOutcome]:
        outcomes, letters = apply_commands(self.runtime, items, principal, source="ingest")
        if letters:
            self.dead_letter(letters)
        if any(p.command.channel is Channel.APP and p.command.extra.get("photos") for p in items) \
                and self.runtime.config.attachments.fetch_hosts:
            # The photos are fetched by this process's background step, after this returns.
            self.runtime.photo_queue.kick()
        return outcomes

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        dead_letter_store(self.runtime).add(letters)

    def close(self) -> None:
        pass


# ---- the runtime's parts (built and kept by adapters.bootstrap) ----------------------------


def dead_letter_store(runtime: Publisher) -> DeadLetterStore:
    return runtime.dead_letter_store


def intake_port(runtime: Publisher) -> IntakePort:
    """The runtime's port, made once: Kafka when SANSHI_KAFKA is set, else in-process."""
    return runtime.intake_port


def adapter_context(runtime: Publisher) -> AdapterContext:
    return runtime.adapter_context


def check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"未知渠道「{channel}」(unknown channel); 可选: {', '.join(CHANNELS)}")
    return channel


# ---- one record (HTTP) --------------------------------------------------------------------


def submit(
    runtime: Publisher,
    channel: str,
    record: Mapping[str, Any] | bytes | str,
    principal: str = DEFAULT_PRINCIPAL,
    position: str = "http",
) -> IntakeOutcome:
    """One record from HTTP: accepted | duplicate (in-process), queued (Kafka: 202),
    filtered, dead_lettered (with the reason), or failed (Kafka did not acknowledge it:
    nothing was queued, answer 503). Raises ``ValueError`` for an unknown channel."""
    check_channel(channel)
    raw = read_one(record, position)
    outcome = adapt(channel, raw, adapter_context(runtime), source="http")
    port = intake_port(runtime)
    if isinstance(outcome, Filtered):
        return IntakeOutcome("filtered", reason=outcome.reason, position=position)
    if isinstance(outcome, DeadLetter):
        try:
            port.dead_letter([outcome])
        except Exception as e:  # the DLQ topic or table is away: nothing kept, say so (503)
            log.warning("dead letter not stored (%s)", type(e).__name__)
            return IntakeOutcome(
                "failed",
                reason=f"死信未能保存 (dead letter not stored: {type(e).__name__}); {outcome.reason}",
                position=position,
            )
        return IntakeOutcome("dead_lettered", reason=outcome.reason, position=position)
    return port.send([outcome], principal=principal)[0]


# ---- many records (sanshi ingest) ---------------------------------------------------------


@dataclass
class IngestReport:
    mode: str
    counts: Counter[str] = field(default_factory=Counter)
    per_source: dict[str, Counter[str]] = field(default_factory=dict)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)  # (position, reason)
    filtered: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(self.counts[s] for s in STATUSES)

    def add(self, source: str, outcome: IntakeOutcome) -> None:
        self.counts[outcome.status] += 1
        self.per_source.setdefault(source, Counter())[outcome.status] += 1
        if outcome.status == "dead_lettered":
            self.dead_letters.append((outcome.position, outcome.reason))
        elif outcome.status == "filtered":
            self.filtered.append((outcome.position, outcome.reason))
        elif outcome.status == "failed":
            self.failures.append((outcome.position, outcome.reason))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "records": self.records,
            **{s: self.counts[s] for s in STATUSES},
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.records / self.seconds, 1) if self.seconds else None,
            "sources": {
                src: {s: c[s] for s in STATUSES} for src, c in self.per_source.items()
            },
            "details": {
                "dead_lettered": [{"position": p, "reason": r} for p, r in self.dead_letters],
                "filtered": [{"position": p, "reason": r} for p, r in self.filtered],
                "failed": [{"position": p, "reason": r} for p, r in self.failures],
            },
        }


def ingest(
    runtime: Publisher,
    channel: str,
    records: Iterable[RawRecord],
    source: str = "",
    report: IngestReport | None = None,
    batch_size: int = 500,
    principal: str = DEFAULT_PRINCIPAL,
    seen: set[bytes] | None = None,
    on_outcome: Callable[[IntakeOutcome], None] | None = None,
) -> IngestReport:
    """Adapt and hand over every record; the report's counts add up to the records read.

    A source_ref seen earlier in the same run is reported as a duplicate without being sent
    again (the engine would say the same; with Kafka it saves a round trip). Pass the same
    ``seen`` set to several calls to make that span several files.
    """
    check_channel(channel)
    port = intake_port(runtime)
    report = report or IngestReport(mode=port.mode)
    seen = seen if seen is not None else set()
    ctx = adapter_context(runtime)
    started = time.perf_counter()
    batch: list[Parsed] = []
    letters: list[DeadLetter] = []

    def emit(outcome: IntakeOutcome) -> None:
        report.add(source, outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    def flush() -> None:
        if letters:
            port.dead_letter(letters)
            for letter in letters:
                emit(IntakeOutcome("dead_lettered", reason=letter.reason, position=letter.position))
            letters.clear()
        if batch:
            for outcome in port.send(batch, principal=principal):
                emit(outcome)
            batch.clear()

    for raw in records:
        outcome = adapt(channel, raw, ctx)
        if isinstance(outcome, Filtered):
            emit(IntakeOutcome("filtered", reason=outcome.reason, position=outcome.position))
        elif isinstance(outcome, DeadLetter):
            letters.append(outcome)
        else:
            key = outcome.command.case_id.bytes
            if key in seen:
                emit(
                    IntakeOutcome(
                        "duplicate",
                        case_id=outcome.command.case_id,
                        reason="本次导入中已出现 (same source_ref earlier in this run)",
                        position=outcome.position,
                    )
                )
                continue
            seen.add(key)
            batch.append(outcome)
        if len(batch) >= batch_size or len(letters) >= batch_size:
            flush()
    flush()
    report.seconds += time.perf_counter() - started
    return report
