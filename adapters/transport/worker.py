"""``sanshi worker``: consume ``sanshi.intake`` and ``sanshi.dlq``, apply, then commit.

One poll is one unit of work, passed through steps in the order that makes redelivery
harmless (as Sentry arroyo's processing strategies):

1. :class:`Decode`: every message becomes an intake command or a dead letter (unparseable → a
   dead letter of its own, position ``topic:partition:offset``); nothing is written;
2. :class:`StoreDeadLetters`: the worker's own dead letters onto the DLQ topic, then every dead
   letter into the ``dead_letters`` table (both idempotent on the letter's id);
3. :class:`ApplyCommands`: the commands through ``app.receive_batch``, one transaction per
   principal; a record the engine refuses is dead-lettered alone;
4. commit the offsets (:meth:`Worker._commit`), last.

Killed before 4, the poll is delivered again: case ids are deterministic, so each command is
reported as a duplicate instead of becoming a second case, and each dead letter is stored
once. Nothing is lost because nothing is committed before it is saved.

Between polls the run loop also calls steps of their own: :class:`CatchUpProjections`
(``runtime.projector``), :class:`FetchPhotos` (the app's photo URLs queued in step 3, fetched
after the commit), :class:`DeadlineClock` every ``clock_interval`` seconds
(``read_model.due_for_escalation`` → ``app.tick``) and :class:`Notify` (the notices' outbox,
``adapters.notify.outbox``).

Several workers form one consumer group; the records are keyed by place (``placement``), so
each worker's duplicate index needs only the open cases of its partitions' places:
:class:`PlaceShards` (a ``ConsumerRebalanceListener``) notes each rebalance, and before the
next poll is decided the worker drops the places it lost and loads the places it gained from the
read model, caught up to the log first (so the previous owner's cases are there). A record that
reached it from a place it does not own (keyed by case id, or by a publisher whose district
file reads the place otherwise) is checked against the read model's open cases at that place
before it is decided. See docs/architecture.md, "Several workers".

The clock and the outbox are duties done once across all workers (``adapters.leases``): each
runs in the worker that holds its lease, the other workers stand by and take over within
about ``standby_retry`` seconds of the holder's death. On SQLite there is one process, which
always holds them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafka import ConsumerRebalanceListener
from pydantic import ValidationError

from adapters.channels import DeadLetter, Parsed
from adapters.channels.privacy import redact_raw
from adapters.leases import DEADLINE_CLOCK, DEFAULT_RETRY, NOTIFY, Lease
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.routing.port import HoldsLocalities, OpenCasesForRouter

from .dead_letters import from_message
from .kafka import (
    CHANNEL_HEADER,
    POSITION_HEADER,
    PRINCIPAL_HEADER,
    KafkaSettings,
    ensure_topics,
    make_producer,
    publish_dead_letters,
)
from .placement import PlaceKeys
from .port import DEFAULT_PRINCIPAL, apply_commands
from .sealing import is_sealed, sealer_for

if TYPE_CHECKING:
    from adapters.bootstrap import Runtime
    from projections.projector import Projector

# kafka-python internals the worker reads (Worker._take_up_dropped_join), checked against this
# version; tests/unit/test_kafka_pin.py fails on another one with this list to re-read.
CHECKED_KAFKA_PYTHON = "3.0.12"
KAFKA_PYTHON_INTERNALS = (
    "kafka.consumer.group.KafkaConsumer._coordinator (instance attribute)",
    "kafka.coordinator.base.BaseCoordinator._join_task (instance attribute: a task with is_done)",
    "kafka.coordinator.base.BaseCoordinator.join_group_async (leaves a round in flight after its timeout)",
    "kafka.coordinator.consumer.ConsumerCoordinator.need_rejoin",
    "kafka.coordinator.base.BaseCoordinator.request_rejoin",
)

log = logging.getLogger("sanshi.worker")


class SealedMessageError(RuntimeError):
    """A sealed message this worker cannot open: its SANSHI_CIPHER_KEY is missing or differs
    from the publisher's. The worker stops without committing (dead-lettering would bury
    every valid record until someone noticed)."""


@dataclass
class WorkerStats:
    counts: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    started: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        return {"polls": self.polls, **dict(self.counts)}


@dataclass(frozen=True)
class WorkerOptions:
    clock_interval: float = 30.0  # seconds between deadline-clock ticks; 0 turns it off
    max_poll_records: int = 500
    poll_timeout_ms: int = 500
    instance_id: str | None = None  # static group membership: a restart takes over at once
    session_timeout_ms: int = 10000
    projections: bool = True
    standby_retry: float = DEFAULT_RETRY  # seconds between a standby's tries for a duty
    # How stale the consumer's view of the topics may get. kafka-python joins the group with
    # the metadata it has; a topic it has not seen yet is assigned to nobody, and it only
    # notices the topic (and rejoins) at the next refresh (its default: 5 minutes).
    metadata_max_age_ms: int = 5000
    # A worker holding no partition rejoins the group when the intake has waited this long
    # with nobody's committed offsets moving (see UnclaimedIntake).
    unclaimed_rejoin_s: float = 30.0
    # A worker holding partitions rejoins when records have waited beyond its positions this
    # long with its polls bringing nothing and its positions not moving (see StalledPartitions);
    # 0 turns it off.
    stalled_rejoin_s: float = 30.0


def _header(record: Any, name: str) -> str:
    for key, value in record.headers or ():
        if key == name and value is not None:
            return bytes(value).decode("utf-8", "replace")
    return ""


# ---- the steps of one poll -----------------------------------------------------------------


@dataclass
class Decoded:
    """One poll after :class:`Decode`: what the later steps apply."""

    commands: list[Parsed] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)  # one per command
    own_letters: list[DeadLetter] = field(default_factory=list)  # unreadable here
    forwarded: list[DeadLetter] = field(default_factory=list)  # from the DLQ topic

    @property
    def letters(self) -> list[DeadLetter]:
        return self.own_letters + self.forwarded

    def by_principal(self) -> Iterator[tuple[str, list[Parsed]]]:
        """The commands grouped by who sent them, in order of first appearance (HTTP operators
        and file imports may share a poll; each group is one transaction)."""
        for principal in dict.fromkeys(self.principals):
            yield principal, [
                c for c, p in zip(self.commands, self.principals, strict=True) if p == principal
            ]


class Decode:
    """Step 1: messages → commands and dead letters. Writes nothing; raises
    :class:`SealedMessageError` for a message it has no key for (configuration, not data)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._sealer = sealer_for(settings.cipher_key)

    def __call__(self, batch: dict[Any, list[Any]]) -> Decoded:
        out = Decoded()
        for tp, records in batch.items():
            for record in records:
                position = f"{tp.topic}:{tp.partition}:{record.offset}"
                value = self._open(record.value, position)
                if tp.topic == self.settings.dlq_topic:
                    try:
                        out.forwarded.append(from_message(value))
                    except (ValueError, KeyError, TypeError):
                        # Not ours to republish (that would loop): stored as it is.
                        out.own_letters.append(
                            self._letter(record, position, "DLQ 消息无法解析 (unreadable DLQ message)", value)
                        )
                    continue
                try:
                    command = IntakeCommand.model_validate_json(value)
                except ValidationError as e:
                    # Where and which rule (the input contract's messages name no value).
                    fields = "; ".join(
                        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
                        for err in e.errors(include_input=False, include_url=False)
                    )
                    out.own_letters.append(
                        self._letter(
                            record, position, f"消息无法解析 (unparseable intake message: {fields})", value
                        )
                    )
                    continue
                origin = _header(record, POSITION_HEADER)
                out.commands.append(Parsed(command, origin or position))
                out.principals.append(_header(record, PRINCIPAL_HEADER) or DEFAULT_PRINCIPAL)
        return out

    def _open(self, value: bytes | None, position: str) -> bytes:
        data = bytes(value or b"")
        if self._sealer is None:
            if is_sealed(data):
                raise SealedMessageError(
                    f"{position}: 消息已加密，但本 worker 未设置 SANSHI_CIPHER_KEY "
                    "(sealed message, no SANSHI_CIPHER_KEY here)"
                )
            return data
        try:
            return self._sealer.open(data)
        except ValueError:
            raise SealedMessageError(
                f"{position}: 无法解密，SANSHI_CIPHER_KEY 与发布方不一致 (cannot decrypt: key differs)"
            ) from None

    def _letter(self, record: Any, position: str, reason: str, value: bytes) -> DeadLetter:
        raw = value  # opened: the store and the DLQ topic seal it again with their key
        channel = _header(record, CHANNEL_HEADER) or "unknown"
        size, digest = len(raw), hashlib.sha256(raw).hexdigest()
        redacted = False
        if channel in (Channel.POLICE.value, "unknown"):
            # We cannot tell what an unreadable message holds: mask before storing.
            raw, redacted = redact_raw(raw), True
        return DeadLetter(
            channel=channel,
            reason=reason,
            position=position,
            raw=raw,
            raw_size=size,
            raw_sha256=digest,
            redacted=redacted,
            source="worker",
        )


class StoreDeadLetters:
    """Step 2: the invalid messages to the DLQ: this worker's own onto the topic first (for
    whoever else reads it), then all of them into the table; both idempotent."""

    def __init__(self, runtime: Runtime, settings: KafkaSettings, stats: WorkerStats) -> None:
        self.runtime = runtime
        self.settings = settings
        self.stats = stats

    def __call__(self, poll: Decoded, producer: Any) -> None:
        if poll.own_letters:
            publish_dead_letters(producer, self.settings, poll.own_letters)
        letters = poll.letters
        if letters:
            new = self.runtime.dead_letter_store.add(letters)
            self.stats.counts["dead_letters_stored"] += new
            self.stats.counts["dead_lettered"] += len(poll.own_letters)


class ApplyCommands:
    """Step 3: the commands, one transaction per principal; a record the engine refuses is
    dead-lettered on its own (table and topic) and the rest applied."""

    def __init__(self, runtime: Runtime, settings: KafkaSettings, stats: WorkerStats) -> None:
        self.runtime = runtime
        self.settings = settings
        self.stats = stats

    def __call__(self, poll: Decoded, producer: Any) -> None:
        for principal, group in poll.by_principal():
            outcomes, refused = apply_commands(self.runtime, group, principal, source="worker")
            if refused:
                self.runtime.dead_letter_store.add(refused)
                publish_dead_letters(producer, self.settings, refused)
            for outcome in outcomes:
                self.stats.counts[outcome.status] += 1


# ---- the places this worker holds ---------------------------------------------------------


class PlaceShards(ConsumerRebalanceListener):  # type: ignore[misc]
    """The duplicate index follows the partitions (按属地分区): kafka-python calls
    ``on_partitions_revoked`` / ``on_partitions_assigned`` inside ``poll`` on the consumer's IO
    loop, where blocking work would stall the heartbeats; so they only note the change, and
    :meth:`settle` (called after each poll, before its records are decided) does the work.

    Taking places over: the projections are caught up to the log first. With the eager
    protocol every member has finished (applied and committed) its last poll before it rejoins,
    so every case the previous owner opened is in the log by then; the read model's open cases
    at the gained places are then filed, and the places no longer owned forgotten."""

    def __init__(self, runtime: Runtime, settings: KafkaSettings, stats: WorkerStats) -> None:
        self.runtime = runtime
        self.settings = settings
        self.stats = stats
        self.keys = PlaceKeys(runtime.config)
        self.owned: set[int] = set()  # partitions of the intake topic
        self.partitions = 0  # of the intake topic (the producer's modulus)
        self._changed = False
        self._rejoining = False  # revoked, the next assignment not yet come
        self._held: set[str] = set()  # localities whose open cases the index holds
        self._held_partitions: set[int] = set()
        self._committed: dict[int, int] = {}  # intake partition → the offset this worker last committed

    # ---- kafka-python's listener: on the consumer's IO loop, so only noted here ------------

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.owned -= {tp.partition for tp in revoked if tp.topic == self.settings.intake_topic}
        self._rejoining = True
        self._changed = True

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owned |= {tp.partition for tp in assigned if tp.topic == self.settings.intake_topic}
        self._rejoining = False
        self._changed = True

    def note_committed(self, consumer: Any) -> None:
        """After a successful commit: where this worker left each intake partition."""
        for tp in consumer.assignment():
            if tp.topic == self.settings.intake_topic:
                self._committed[tp.partition] = consumer.position(tp)

    def on_partitions_lost(self, lost: Any) -> None:
        self.on_partitions_revoked(lost)

    # ---- the work, in the worker's own thread --------------------------------------------

    @property
    def router(self) -> HoldsLocalities | None:
        router = self.runtime.router
        read_model = self.runtime.read_model
        if isinstance(router, HoldsLocalities) and isinstance(read_model, OpenCasesForRouter):
            return router
        return None

    def _catch_up(self) -> None:
        """The views as far as the log goes now (several projectors may run: exactly once)."""
        self.runtime.projector.catch_up()

    def settle(self, consumer: Any) -> None:
        """Eager rebalancing revokes every partition and assigns them again, often the same
        ones. The index is settled only once the new assignment has come (a poll can end
        between the two), and a partition this worker keeps is reloaded only if someone else
        committed on it meanwhile; before this, every rebalance forgot and reloaded every open
        case of the worker's places (thousands, seconds each time: bench/RESULTS.md)."""
        if not self._changed or self._rejoining:
            return
        router = self.router
        if router is None:
            self._changed = False
            return
        self.partitions = len(consumer.partitions_for_topic(self.settings.intake_topic) or ())
        if not self.partitions:
            return  # no metadata yet: settled at the next poll
        mine = self.keys.localities_in(self.owned, self.partitions)
        moved = self._moved_meanwhile(consumer, self.owned & self._held_partitions)
        gained = (mine - self._held) | (self.keys.localities_in(moved, self.partitions) & mine)
        self._catch_up()
        dropped = router.drop_localities(lambda loc: loc in mine)
        loaded = 0
        if gained:
            rows = self.runtime.read_model.open_cases_for_router(gained)
            loaded = router.refile_localities(gained, rows)
        self._held = mine
        self._held_partitions = set(self.owned)
        self._changed = False
        self.stats.counts["places_dropped"] += dropped
        self.stats.counts["places_loaded"] += loaded
        log.info(
            "holding the places of partitions %s of %d: %d localities, %d open cases loaded, "
            "%d forgotten",
            sorted(self.owned), self.partitions, len(mine), loaded, dropped,
        )

    def _moved_meanwhile(self, consumer: Any, kept: set[int]) -> set[int]:
        """The kept partitions whose committed offset is not where this worker left it:
        another member consumed them in between (this worker was out of the group for a
        while), so the cases it opened at their places are not in this index."""
        from kafka import TopicPartition

        moved = set()
        for p in kept:
            committed = consumer.committed(TopicPartition(self.settings.intake_topic, p))
            if committed != self._committed.get(p):
                moved.add(p)
        return moved

    def check_strays(self, commands: list[Parsed]) -> None:
        """Records about places this worker does not hold: the read model's open cases there
        (after a catch-up) replace what the index has at those places, just before they are
        decided. A record whose place nobody can tell needs nothing: it is never merged."""
        router = self.router
        if router is None or not self.partitions:
            return
        strays: set[str] = set()
        for item in commands:
            loc = self.keys.locality_of(item.command)
            if loc is not None and loc not in self._held:
                strays.add(loc)
        if not strays:
            return
        self._catch_up()
        rows = self.runtime.read_model.open_cases_for_router(strays)
        router.refile_localities(strays, rows)
        self.stats.counts["stray_checks"] += 1


# ---- the steps between polls ---------------------------------------------------------------


def holds_partition_of(consumer: Any, topic: str) -> bool:
    return any(tp.topic == topic for tp in consumer.assignment())


def group_backlog(consumer: Any, topics: list[str]) -> tuple[dict[Any, int], dict[Any, int]]:
    """The group's committed offset (0 if none) and the end offset of every partition of
    ``topics``, from the broker (not from this member's view of its assignment, which is stale
    while it rejoins or after the group expelled it). Raises KafkaError when the broker is
    away."""
    from kafka import TopicPartition

    tps = [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or set())
    ]
    ends = consumer.end_offsets(tps) if tps else {}
    committed = {tp: consumer.committed(tp) or 0 for tp in tps}
    return committed, ends


def intake_backlog(consumer: Any, topic: str) -> tuple[dict[Any, int], bool]:
    """The group's committed offset on each partition of ``topic``, and whether records wait
    beyond them (for whichever member holds them). Raises KafkaError when the broker is away."""
    committed, ends = group_backlog(consumer, [topic])
    return committed, any(ends.get(tp, 0) > committed[tp] for tp in committed)


class UnclaimedIntake:
    """The group's safety net: records wait on the intake topic, nobody's offsets move, and this
    worker holds no partition of it. Seen on a loaded machine with kafka-python 3.0: a group
    whose only member was assigned no intake partition at its join ("No partition metadata for
    topic <intake>"; it may still hold the dead-letter topic's) and never rejoined. Then the
    worker joins afresh (:meth:`Worker._rejoin`), which makes the group rebalance. A member
    that is idle only because the group has more workers than partitions sees the others'
    offsets move, and leaves the group alone."""

    CHECK_EVERY = 5.0  # seconds between looks while holding nothing

    def __init__(self, settings: KafkaSettings, stats: WorkerStats, after_s: float) -> None:
        self.settings = settings
        self.stats = stats
        self.after_s = after_s
        self._next_look = 0.0
        self._offsets: dict[Any, int] | None = None
        self._still_since = 0.0

    def __call__(self, consumer: Any, rejoin: Callable[[], None]) -> None:
        now = time.monotonic()
        if self.after_s <= 0 or holds_partition_of(consumer, self.settings.intake_topic):
            self._offsets = None
            return
        if now < self._next_look:
            return
        self._next_look = now + self.CHECK_EVERY
        from kafka.errors import KafkaError

        try:
            committed, waiting = intake_backlog(consumer, self.settings.intake_topic)
        except KafkaError as e:  # the broker away: nothing to judge by
            log.debug("unclaimed intake check failed: %s", e)
            return
        if not waiting or committed != self._offsets:
            self._offsets = committed if waiting else None
            self._still_since = now
            return
        if now - self._still_since < self.after_s:
            return
        log.warning(
            "intake records have waited %.0fs with no worker consuming them and this worker "
            "holding no partition: rejoining the group",
            now - self._still_since,
        )
        self.stats.counts["unclaimed_rejoins"] += 1
        self._offsets = None
        rejoin()


def positions_behind(
    consumer: Any, partitions: Any, timeout_ms: int = 5000
) -> dict[Any, int | None]:
    """Of ``partitions`` (assigned to ``consumer``), those whose position is short of the end
    offset (records wait for this member), each with its position (None: not known yet).
    Raises KafkaError when the broker is away."""
    from kafka.errors import IllegalStateError

    tps = list(partitions)
    ends = consumer.end_offsets(tps) if tps else {}
    behind: dict[Any, int | None] = {}
    for tp in tps:
        try:
            position = consumer.position(tp, timeout_ms=timeout_ms)
        except IllegalStateError:  # no longer assigned: a rebalance came meanwhile
            continue
        if position is None or position < ends.get(tp, 0):
            behind[tp] = position
    return behind


class StalledPartitions:
    """The safety net's other half: this worker holds partitions, records wait beyond its
    positions, and its polls bring nothing while the positions stay where they are. Seen in CI
    on a loaded machine (kafka-python 3.0.12; the cause, a join round it dropped, is
    :meth:`Worker._take_up_dropped_join`'s): the group had expelled the member (its LeaveGroup
    at close: UnknownMemberIdError), but the member still counted the partitions of its last
    assignment as its own (kafka-python keeps them until a new join completes) and fetched
    nothing from them for the rest of the run. This check does not depend on knowing the
    cause: the worker joins afresh as a new member (:meth:`Worker._rejoin`). Looked at only
    while polls come back empty, at most every ``CHECK_EVERY`` seconds (one ListOffsets
    request; the positions are the consumer's own)."""

    CHECK_EVERY = 5.0

    def __init__(self, stats: WorkerStats, after_s: float) -> None:
        self.stats = stats
        self.after_s = after_s
        self._next_look = 0.0
        self._behind: dict[Any, int | None] | None = None
        self._since = 0.0

    def moving(self) -> None:
        """A poll brought records: whatever was noted is not a stall."""
        self._behind = None

    def __call__(self, consumer: Any, rejoin: Callable[[], None]) -> None:
        now = time.monotonic()
        if self.after_s <= 0 or now < self._next_look:
            return
        self._next_look = now + self.CHECK_EVERY
        held = consumer.assignment()
        if not held:
            self._behind = None  # UnclaimedIntake's case
            return
        from kafka.errors import KafkaError

        try:
            behind = positions_behind(consumer, held)
        except KafkaError as e:  # the broker away: nothing to judge by
            log.debug("stalled partitions check failed: %s", e)
            return
        if not behind or behind != self._behind:  # nothing waits, or the positions moved
            self._behind = behind or None
            self._since = now
            return
        if now - self._since < self.after_s:
            return
        log.warning(
            "records have waited %.0fs beyond this worker's positions %s with no poll bringing "
            "any: rejoining the group",
            now - self._since,
            {f"{tp.topic}:{tp.partition}": pos for tp, pos in sorted(behind.items())},
        )
        self.stats.counts["stalled_rejoins"] += 1
        self._behind = None
        rejoin()


class CatchUpProjections:
    """Keeps the views following the log; while polls keep coming, in bounded steps so that
    the next poll comes before the group session ends."""

    BUSY_STEP = 20000  # events at most per call while busy

    def __init__(self, projector: Projector | None) -> None:
        self.projector = projector  # None: projections are someone else's (--no-projections)

    def __call__(self, busy: bool) -> None:
        if self.projector is None:
            return
        try:
            self.projector.catch_up(max_events=self.BUSY_STEP if busy else None)
        except Exception:
            log.exception("projection catch-up failed; will retry")


class DeadlineClock:
    """Escalates the deadlines that have passed (督办), at most every ``interval`` seconds;
    ``interval`` 0 turns it off. Only while this worker holds the clock's lease: one clock
    across all workers."""

    def __init__(
        self, runtime: Runtime, interval: float, stats: WorkerStats, lease: Lease | None = None
    ) -> None:
        self.runtime = runtime
        self.interval = interval
        self.stats = stats
        self.lease = lease
        self._last = 0.0

    def __call__(self) -> None:
        if self.interval <= 0 or (self.lease is not None and not self.lease.held()):
            return
        if time.monotonic() - self._last < self.interval:
            return
        self._last = time.monotonic()
        now = dt.datetime.now(SHANGHAI)
        try:
            due = self.runtime.read_model.due_for_escalation(now)
            if due:
                escalated = self.runtime.app.tick(due, now)
                self.stats.counts["escalated"] += escalated
                log.info("deadline clock: %d deadlines escalated", escalated)
        except Exception:
            log.exception("deadline clock failed; will retry")


class FetchPhotos:
    """The app's photo URLs queued by :class:`ApplyCommands` (``adapters.attachments.queue``),
    fetched after the poll that recorded their cases is committed: a photo host that is slow or
    down delays the next poll by at most ``limit`` fetch timeouts and loses no record. Checks the
    queue at most every ``interval`` seconds (retries come due while the worker is idle)."""

    def __init__(self, runtime: Runtime, stats: WorkerStats, interval: float = 2.0, limit: int = 10) -> None:
        self.runtime = runtime
        self.stats = stats
        self.interval = interval
        self.limit = limit
        self._last = 0.0

    def __call__(self, busy: bool) -> None:
        if not self.runtime.config.attachments.fetch_hosts:
            return
        if not busy and time.monotonic() - self._last < self.interval:
            return
        self._last = time.monotonic()
        try:
            self.stats.counts["photo_fetches"] += self.runtime.photo_queue.run_due(self.limit)
        except Exception:  # the database away: the rows stay pending, the next turn retries
            log.exception("photo fetch step failed; will retry")


class Notify:
    """通知 (``adapters.notify.outbox``): the notices the log and the clock call for, decided
    and delivered after the poll is committed, at most every ``interval`` seconds; a receiver
    that is slow or down delays the next poll by at most ``limit`` send timeouts and loses no
    notice (it stays in the outbox and is tried again)."""

    def __init__(
        self,
        runtime: Runtime,
        stats: WorkerStats,
        interval: float = 2.0,
        limit: int = 20,
        lease: Lease | None = None,
    ) -> None:
        self.runtime = runtime
        self.stats = stats
        self.interval = interval
        self.limit = limit
        self.lease = lease  # one sender across all workers
        self._last = 0.0
        # Built now: a channel set up wrong (a webhook without its secret) stops the worker at
        # its start with the reason, not every turn in the log.
        self.notifier = runtime.notifier

    def __call__(self) -> None:
        notifier = self.notifier
        if notifier is None or (self.lease is not None and not self.lease.held()):
            return
        if time.monotonic() - self._last < self.interval:
            return
        self._last = time.monotonic()
        try:
            done = notifier.step(self.limit)
            self.stats.counts["notices_sent"] += done.sent
            self.stats.counts["notices_failed"] += done.failed
            self.stats.counts["notices_abandoned"] += done.abandoned
        except Exception:  # the database away: the rows stay pending, the next turn retries
            log.exception("notify step failed; will retry")


# ---- the worker ----------------------------------------------------------------------------


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        settings: KafkaSettings,
        options: WorkerOptions | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.options = options or WorkerOptions()
        self.stats = WorkerStats()
        self.stop_event = threading.Event()
        self._consumer: Any = None
        self._producer: Any = None
        self.decode = Decode(settings)
        self.store_dead_letters = StoreDeadLetters(runtime, settings, self.stats)
        self.apply = ApplyCommands(runtime, settings, self.stats)
        self.catch_up = CatchUpProjections(runtime.projector if self.options.projections else None)
        self.places = PlaceShards(runtime, settings, self.stats)
        self.unclaimed = UnclaimedIntake(settings, self.stats, self.options.unclaimed_rejoin_s)
        self.stalled = StalledPartitions(self.stats, self.options.stalled_rejoin_s)
        district, retry = runtime.config.district.id, self.options.standby_retry
        self.leases = [
            Lease(runtime.views_engine, DEADLINE_CLOCK, district, retry=retry),
            Lease(runtime.views_engine, NOTIFY, district, retry=retry),
        ]
        self.clock = DeadlineClock(
            runtime, self.options.clock_interval, self.stats, lease=self.leases[0]
        )
        self.photos = FetchPhotos(runtime, self.stats)
        self.notify = Notify(runtime, self.stats, lease=self.leases[1])

    # ---- Kafka clients -------------------------------------------------------------------

    def _connect(self) -> None:
        ensure_topics(self.settings)
        self._consumer = self._new_consumer()
        self._subscribe()
        self._producer = make_producer(self.settings)

    def _new_consumer(self) -> Any:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        config: dict[str, Any] = {
            "bootstrap_servers": self.settings.servers,
            "group_id": self.settings.group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_poll_records": self.options.max_poll_records,
            "session_timeout_ms": self.options.session_timeout_ms,
            "heartbeat_interval_ms": max(1000, self.options.session_timeout_ms // 3),
            "client_id": "sanshi-worker",
            "metadata_max_age_ms": self.options.metadata_max_age_ms,
        }
        if self.options.instance_id:
            config["group_instance_id"] = self.options.instance_id
        consumer = KafkaConsumer(**config)
        # The topics' partitions in this consumer's metadata before it joins: the group's
        # first assignment is made from the leader's metadata as it stands.
        for topic in (self.settings.intake_topic, self.settings.dlq_topic):
            try:
                consumer.partitions_for_topic(topic)
            except KafkaError as e:
                log.warning("no metadata for %s yet: %s", topic, e)
        return consumer

    def _subscribe(self) -> None:
        self._consumer.subscribe(
            [self.settings.intake_topic, self.settings.dlq_topic], listener=self.places
        )

    def close(self) -> None:
        for lease in self.leases:
            lease.release()
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None

    def stop(self) -> None:
        self.stop_event.set()

    # ---- the loop ------------------------------------------------------------------------

    def run(self, idle_exit: float | None = None, max_seconds: float | None = None) -> WorkerStats:
        """Run until :meth:`stop` (or SIGTERM via the CLI); with ``idle_exit``, also stop once
        nothing arrived for that long, every assigned partition is consumed to its end and the
        group's committed offsets are at the end of both topics (:meth:`_caught_up`).

        Each turn: a poll through its steps and its commit; then, whether or not anything
        came, the projections' catch-up and the deadline clock."""
        if self._consumer is None:
            self._connect()
        for lease in self.leases:  # asked on their own threads: a long turn delays no take-over
            lease.keep()
        idle_since = time.monotonic()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                batch = self._consumer.poll(timeout_ms=self.options.poll_timeout_ms)
                self._take_up_dropped_join()
                # A rebalance inside that poll: the index takes its places over before any
                # record of the poll is decided.
                self._settle_places()
                if batch:
                    self._process_retrying(batch)
                    self._commit()
                    self.stats.polls += 1
                    idle_since = time.monotonic()
                    self.stalled.moving()
                if not batch:
                    self.unclaimed(self._consumer, self._rejoin)
                    self.stalled(self._consumer, self._rejoin)
                self.catch_up(busy=bool(batch))
                self.photos(busy=bool(batch))  # after the commit: never holds a record back
                self.clock()
                self.notify()  # after the clock: its 督办 are told in the same turn
                if (
                    idle_exit is not None
                    and not batch
                    and time.monotonic() - idle_since >= idle_exit
                    and self._caught_up()
                ):
                    break
        finally:
            self.close()
        return self.stats

    def _take_up_dropped_join(self) -> None:
        """kafka-python 3.0.12 drops a join round that ends after the poll waiting for it gave
        up, when the round was started because the leader's metadata had changed since its
        assignment (not by its rejoin flag): the leader's new assignment makes the metadata
        match again, so the next poll finds no rejoin needed and never takes up the round's
        result (``_join_task`` done, its SyncGroup answered). The member then keeps the
        partitions of its last assignment marked as being revoked, fetches none of them, sends
        no heartbeat, and the group expels it (its LeaveGroup at close: UnknownMemberIdError).
        Seen in CI on a loaded machine: the settle worker's polls wait 200 ms, and a fresh
        group's first assignment is often made before the leader's metadata has the topics,
        so a second round follows. Here: such a round is noticed after the poll and a
        rejoin requested, so the next poll joins again. Reads kafka-python's private state;
        without it (another version) this does nothing and :class:`StalledPartitions` still
        heals the worker, later."""
        coordinator: Any = getattr(self._consumer, "_coordinator", None)
        task = getattr(coordinator, "_join_task", None)
        if coordinator is None or task is None or not getattr(task, "is_done", False):
            return
        if coordinator.need_rejoin():
            return  # the next poll joins anyway
        log.warning(
            "a join round of the group ended after the poll waiting for it gave up and was "
            "dropped (kafka-python): joining again"
        )
        self.stats.counts["dropped_joins"] += 1
        coordinator.request_rejoin()

    def _rejoin(self) -> None:
        """Join the group again, as a new member with a new consumer. Not unsubscribe and
        subscribe: kafka-python 3.0 keeps its JoinGroup/SyncGroup round (``_join_task``) across
        that and awaits the same one again while it is unfinished, so a member stuck in a round
        that never ends would stay stuck. The places are told of the loss first (a consumer's close revokes through
        the listener too; this makes it certain), so the next assignment is settled against
        what this worker really holds. Whatever the old consumer had fetched and not returned
        is fetched again from the committed offsets: nothing is lost."""
        from kafka.errors import KafkaError

        old = self._consumer
        self.places.on_partitions_revoked(old.assignment())
        try:
            old.close(autocommit=False)
        except KafkaError as e:
            log.warning("closing the stalled consumer failed (%s); replaced anyway", e)
        self._consumer = self._new_consumer()
        self._subscribe()

    def _settle_places(self, attempts: int = 4) -> None:
        """A database hiccup retries; still failing → raise (nothing of the poll is committed,
        it is delivered again after a restart)."""
        for attempt in range(1, attempts + 1):
            try:
                self.places.settle(self._consumer)
                return
            except Exception:
                if attempt == attempts or self.stop_event.is_set():
                    raise
                log.exception("taking places over failed (attempt %d); retrying", attempt)
                self.stop_event.wait(min(2.0**attempt, 15.0))

    def _process_retrying(self, batch: dict[Any, list[Any]], attempts: int = 4) -> None:
        """A database hiccup (restart, lock timeout) retries the same poll: it is idempotent.
        Still failing → raise; the uncommitted poll is delivered again after a restart."""
        for attempt in range(1, attempts + 1):
            try:
                self.process(batch)
                return
            except SealedMessageError:
                raise  # configuration, not a hiccup: retrying cannot help
            except Exception:
                if attempt == attempts or self.stop_event.is_set():
                    raise
                log.exception("applying a poll failed (attempt %d); retrying", attempt)
                self.stop_event.wait(min(2.0**attempt, 15.0))

    def process(self, batch: dict[Any, list[Any]]) -> None:
        """Steps 1 to 3 of one poll: decode → invalid to the DLQ → apply. Committing is the
        caller's, after this returns."""
        poll = self.decode(batch)
        self.store_dead_letters(poll, self._producer)
        self.places.check_strays(poll.commands)
        self.apply(poll, self._producer)
        if poll.commands or poll.letters:
            log.info(
                "applied poll: %d commands, %d dead letters (totals %s)",
                len(poll.commands),
                len(poll.letters),
                dict(self.stats.counts),
            )

    def _commit(self) -> None:
        """Step 4, last: everything the poll held is saved."""
        from kafka.errors import CommitFailedError, KafkaError

        try:
            self._consumer.commit()
            self.places.note_committed(self._consumer)
        except CommitFailedError:
            # The group rebalanced meanwhile: the new owner gets these messages again and
            # finds them applied (duplicates), which is harmless.
            log.warning("offset commit failed after a rebalance; the poll will be redelivered")
        except KafkaError as e:
            # The broker is away (restart, network): the poll is applied; the next commit
            # covers its offsets too, and if none comes, redelivery is harmless. Exiting here
            # would leave the worker dead after every broker restart.
            log.warning("offset commit failed (%s); keeps running and commits later", type(e).__name__)

    def _caught_up(self) -> bool:
        """For ``idle_exit``: done once this worker's partitions are consumed to their ends and
        the group's committed offsets on every partition of both topics are at their ends too.
        The second half is asked of the broker: this member's assignment and positions are
        stale while it rejoins, or after the group expelled it (kafka-python keeps the last
        assignment until a new join completes), and a member holding only some partitions (or
        only the dead-letter topic's) is not done while others wait for a member that does not
        exist (see UnclaimedIntake, StalledPartitions)."""
        from kafka.errors import KafkaError

        consumer = self._consumer
        assigned = consumer.assignment()
        if not assigned:
            return False
        try:
            if positions_behind(consumer, assigned):
                return False
            committed, ends = group_backlog(
                consumer, [self.settings.intake_topic, self.settings.dlq_topic]
            )
        except KafkaError:
            return False
        waiting = [tp for tp in ends if ends[tp] > committed.get(tp, 0)]
        if not waiting:
            return True
        if all(tp in assigned for tp in waiting):
            # Consumed to the end here but the commit did not land (a broker hiccup): again.
            self._commit()
        return False
