"""Kafka transport (SANSHI_KAFKA set): intake commands to ``sanshi.intake`` keyed by place,
dead letters to ``sanshi.dlq``; ``sanshi worker`` (worker.py) applies them.

The producer is idempotent with ``acks=all``: a record counts as queued only once the broker
has acknowledged it. The key is the record's place (属地, ``placement.PlaceKeys``): every report
about one place, so every message about one case, lands on one partition, in order, and the
worker that owns the partition holds that place's open cases for the duplicate check. A record
whose place cannot be told is keyed by its case id. Topic names and the consumer group can be prefixed with SANSHI_KAFKA_PREFIX (tests,
or several districts on one cluster).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError, KafkaTimeoutError

from adapters.channels import DeadLetter, Parsed

from .dead_letters import to_message
from .placement import PlaceKeys
from .port import DEFAULT_PRINCIPAL, IntakeOutcome
from .rdkafka import DeliveryFailed, RdKafkaProducer
from .sealing import sealer_for

log = logging.getLogger("sanshi.intake.kafka")

INTAKE_TOPIC = "sanshi.intake"
DLQ_TOPIC = "sanshi.dlq"
WORKER_GROUP = "sanshi-worker"

POSITION_HEADER = "sanshi-position"
CHANNEL_HEADER = "sanshi-channel"
PRINCIPAL_HEADER = "sanshi-principal"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    intake_topic: str = INTAKE_TOPIC
    dlq_topic: str = DLQ_TOPIC
    group: str = WORKER_GROUP
    partitions: int = 4
    replication: int = -1  # the broker's default.replication.factor
    max_block_ms: int = 15000  # how long a send may wait for an unreachable broker
    # SANSHI_CIPHER_KEY: message values are sealed with it (see sealing.py).
    cipher_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(
        cls,
        bootstrap: str,
        environ: Mapping[str, str] | None = None,
        cipher_key: str | None = None,
        prefix: str | None = None,
    ) -> KafkaSettings:
        """``prefix``: the topics' and group's prefix (a city's district has its own,
        ``Settings.kafka_prefix``); None: SANSHI_KAFKA_PREFIX."""
        env = os.environ if environ is None else environ
        if prefix is None:
            prefix = env.get("SANSHI_KAFKA_PREFIX", "")
        return cls(
            bootstrap=bootstrap,
            intake_topic=prefix + INTAKE_TOPIC,
            dlq_topic=prefix + DLQ_TOPIC,
            group=prefix + WORKER_GROUP,
            partitions=int(env.get("SANSHI_KAFKA_PARTITIONS", "4")),
            replication=int(env.get("SANSHI_KAFKA_REPLICATION", "-1")),
            max_block_ms=int(env.get("SANSHI_KAFKA_TIMEOUT_MS", "15000")),
            cipher_key=cipher_key or env.get("SANSHI_CIPHER_KEY") or None,
        )

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap.split(",") if s.strip()]


def ensure_topics(settings: KafkaSettings, wait_s: float = 15.0) -> None:
    """Create the two topics if missing (a cluster may forbid auto-creation), and return once
    the created ones have leaders."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.servers, client_id="sanshi-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(settings.intake_topic, settings.partitions, settings.replication),
            NewTopic(settings.dlq_topic, 1, settings.replication),
        ]
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
            except KafkaError as e:  # e.g. not allowed to create: rely on what exists
                log.warning("could not create topics %s: %s", [t.name for t in missing], e)
                return
            _wait_until_led(admin, [t.name for t in missing], wait_s)
    finally:
        admin.close()


def _wait_until_led(admin: Any, names: list[str], wait_s: float) -> None:
    """A created topic is not at once in every broker's metadata: a consumer joining its group
    in that moment is assigned none of its partitions. Wait (bounded) until each partition
    has a leader; past the bound, the worker's metadata refresh still finds them later."""
    give_up = time.monotonic() + wait_s
    while True:
        try:
            described = admin.describe_topics(names)
        except KafkaError:
            described = []
        led = {
            d["name"]
            for d in described
            if d.get("error_code") == 0
            and d.get("partitions")
            and all(p.get("leader_id", -1) >= 0 for p in d["partitions"])
        }
        if led >= set(names) or time.monotonic() >= give_up:
            if not led >= set(names):
                log.warning("topics %s have no leader yet", sorted(set(names) - led))
            return
        time.sleep(0.2)


# How long the producer of batches (an import, a file through the API) lets records gather
# into one request. Without it each record was its own request and its own hand-over of the
# interpreter to the delivery thread: a file published 20-30 % slower (bench/RESULTS.md,
# "Twenty-first session"). A single record (the API's create) is sent at once.
BATCH_LINGER_MS = 5

# After the broker could not be reached (at start-up, or a delivery no broker answered), every
# record is answered "failed" at once for this long instead of each waiting the timeout again.
PAUSE_WHEN_UNREACHABLE_S = 5.0


def make_intake_producer(settings: KafkaSettings, linger_ms: int = 0) -> Any:
    """The producer intake records are sent with (the API, the importers): librdkafka's, whose
    network work does not wait for the interpreter (rdkafka.py says why)."""
    return RdKafkaProducer(settings.servers, "sanshi-intake", settings.max_block_ms,
                           **{"linger.ms": linger_ms})


def make_producer(settings: KafkaSettings, **overrides: Any) -> Any:
    from kafka import KafkaProducer

    config: dict[str, Any] = {
        "bootstrap_servers": settings.servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_block_ms": settings.max_block_ms,
        "bootstrap_timeout_ms": settings.max_block_ms,  # an unreachable broker: give up, say so
        "client_id": "sanshi-intake",
    }
    config.update(overrides)
    return KafkaProducer(**config)


def _headers(position: str, channel: str, principal: str | None = None) -> list[tuple[str, bytes]]:
    headers = [(POSITION_HEADER, position.encode("utf-8")), (CHANNEL_HEADER, channel.encode())]
    if principal:
        headers.append((PRINCIPAL_HEADER, principal.encode("utf-8")))
    return headers


def _report_wait_s(settings: KafkaSettings) -> float:
    """How long to wait for a record's delivery report. The producer gives up on a record after
    max_block_ms and reports it; the margin lets that report, not this wait, decide."""
    return settings.max_block_ms / 1000 + 5.0


def _broker_unreachable(error: Exception | None) -> bool:
    return isinstance(error, KafkaTimeoutError) or (
        isinstance(error, DeliveryFailed) and error.unreachable)


class KafkaUnavailable(KafkaError):  # type: ignore[misc]
    """The broker did not answer a moment ago: do not wait for it again yet."""


class KafkaIntake:
    mode = "kafka"

    def __init__(
        self, settings: KafkaSettings, producer: Any = None, places: PlaceKeys | None = None
    ) -> None:
        self.settings = settings
        self._producer = producer
        # Batches of records get a producer of their own that lingers (BATCH_LINGER_MS); an
        # injected producer serves both.
        self._batch_producer: Any = producer
        self.places = places  # None: keyed by case id (no district config at hand)
        self._topics_checked = False
        self._sealer = sealer_for(settings.cipher_key)
        self._down_until = 0.0
        self._last_acknowledged = 0.0  # monotonic time of the latest record the broker took
        # The API's first requests arrive together: one of them makes each producer and checks
        # the topics, the others wait for it (unlocked, each made its own producer and left
        # it running, and sent before the topics it checked had leaders).
        self._making = threading.Lock()

    @property
    def producer(self) -> Any:
        return self._producer_for(1)

    def _producer_for(self, records: int) -> Any:
        single = records <= 1
        made = self._producer if single else self._batch_producer
        if made is not None and self._topics_checked:
            return made
        with self._making:
            if single and self._producer is None:
                self._producer = make_intake_producer(self.settings)
            elif not single and self._batch_producer is None:
                self._batch_producer = make_intake_producer(self.settings, BATCH_LINGER_MS)
            if not self._topics_checked:
                ensure_topics(self.settings)
                self._topics_checked = True
            return self._producer if single else self._batch_producer

    def send(self, items: Sequence[Parsed], principal: str = DEFAULT_PRINCIPAL) -> list[IntakeOutcome]:
        try:
            if time.monotonic() < self._down_until:
                raise KafkaUnavailable("recently unreachable")
            producer = self._producer_for(len(items))
        except KafkaError as e:  # no broker: nothing is queued, and every record says so
            if not isinstance(e, KafkaUnavailable):
                log.warning("Kafka unavailable: %s", type(e).__name__)
                # Later batches of the same import fail at once instead of waiting again.
                self._down_until = time.monotonic() + PAUSE_WHEN_UNREACHABLE_S
            return [
                IntakeOutcome(
                    "failed",
                    case_id=item.command.case_id,
                    reason=f"Kafka 不可用，未发布 (Kafka unavailable: {type(e).__name__})",
                    position=item.position,
                )
                for item in items
            ]
        sent_at = time.monotonic()
        futures = []
        for item in items:
            cmd = item.command
            value = cmd.model_dump_json().encode("utf-8")
            if self._sealer is not None:
                value = self._sealer.seal(value)
            try:
                future = producer.send(
                    self.settings.intake_topic,
                    key=self._key(cmd),
                    value=value,
                    headers=_headers(item.position, cmd.channel.value, principal),
                )
            except KafkaError as e:
                future = e
            futures.append(future)
        # Each record's own acknowledgement, not a flush: a flush also waits for the records
        # other request threads sent after this one.
        wait_s = _report_wait_s(self.settings)
        outcomes = []
        unreachable = acknowledged = False
        for item, future in zip(items, futures, strict=True):
            error: Exception | None = future if isinstance(future, Exception) else None
            if error is None:
                try:
                    future.get(timeout=wait_s)
                except KafkaError as e:
                    error = e
            unreachable = unreachable or _broker_unreachable(error)
            acknowledged = acknowledged or error is None
            if error is not None:
                outcomes.append(
                    IntakeOutcome(
                        "failed",
                        case_id=item.command.case_id,
                        reason=f"未能发布到 Kafka (not published: {type(error).__name__})",
                        position=item.position,
                    )
                )
            else:
                outcomes.append(
                    IntakeOutcome("queued", case_id=item.command.case_id, position=item.position)
                )
        if acknowledged:
            # The broker takes records: whatever failed before it came back, the door is open.
            self._last_acknowledged = time.monotonic()
            self._down_until = 0.0
        elif unreachable and self._last_acknowledged < sent_at:
            # No broker answered, and none has taken a record (from any request) since these
            # were sent: each request would wait the whole timeout for its 503 while holding a
            # server thread; for a few seconds the next ones are answered at once, as when it
            # was never reached. A record that timed out while the broker was already back
            # (it was queued during the outage) does not close the door again.
            self._down_until = time.monotonic() + PAUSE_WHEN_UNREACHABLE_S
        return outcomes

    def _key(self, cmd: Any) -> bytes:
        if self.places is None:
            return str(cmd.case_id).encode("ascii")
        return self.places.key_of(cmd)

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        publish_dead_letters(self.producer, self.settings, letters)

    def close(self) -> None:
        for producer in {id(p): p for p in (self._producer, self._batch_producer) if p}.values():
            producer.close(timeout=10)
        self._producer = self._batch_producer = None


def publish_dead_letters(producer: Any, settings: KafkaSettings, letters: Sequence[DeadLetter]) -> None:
    """Publish and wait for the acknowledgement; raises if the broker did not take them
    (the caller must not report them as stored)."""
    sealer = sealer_for(settings.cipher_key)
    futures = [
        producer.send(
            settings.dlq_topic,
            key=str(letter.id).encode("ascii"),
            value=sealer.seal(to_message(letter)) if sealer else to_message(letter),
            headers=_headers(letter.position, letter.channel),
        )
        for letter in letters
    ]
    # Each record's own report, as KafkaIntake.send waits (not a flush and get(timeout=0):
    # librdkafka's flush can return while the polling thread still runs the last callback).
    for future in futures:
        stored = future.get(timeout=_report_wait_s(settings))
        # An acknowledgement without an offset is not a stored record (librdkafka reported
        # such for records it never stored, docs/channels.md); kafka-python gives an offset.
        offset = getattr(stored, "offset", stored)
        if not isinstance(offset, int) or offset < 0:
            raise KafkaError(f"dead letter acknowledged without an offset: {offset!r}")
