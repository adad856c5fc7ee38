"""The intake producer on librdkafka (``confluent-kafka``), for the API and the importers.

Why not kafka-python's producer here, when the worker consumes with kafka-python: in the API
server every create waits for the broker's acknowledgement (``acks=all``) while up to forty
request threads share one interpreter. kafka-python's sender is a Python thread; draining the
batch, writing it, reading the answer and completing the future each need the GIL, so a
create's wait grew with the load on the other threads (bench/RESULTS.md, "Twenty-first
session"). librdkafka does its batching and network I/O in its own C threads; the only Python
step left is the delivery callback, run here by one polling thread, which wakes the one request
that waits for that record.

The interface is the subset of kafka-python's ``KafkaProducer`` the transport uses (``send``
returning a future with ``get``/``exception``/``is_done``, ``close``), so
``KafkaIntake`` and ``publish_dead_letters`` take either. Errors are kafka-python's
``KafkaError`` subclasses, the one family the transport catches.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

log = logging.getLogger(__name__)


class DeliveryFailed(KafkaError):  # type: ignore[misc]
    """The broker did not take the record (librdkafka's delivery report carried an error).
    ``unreachable``: no broker answered in time, as opposed to a broker refusing this record."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def _unreachable(error: Any) -> bool:
    from confluent_kafka import KafkaError as RdError

    return error.code() in (RdError._MSG_TIMED_OUT, RdError._TIMED_OUT, RdError._TRANSPORT,
                            RdError._ALL_BROKERS_DOWN)


class DeliveryFuture:
    """One record's acknowledgement: settled by the delivery callback."""

    __slots__ = ("_settled", "exception", "offset")

    def __init__(self) -> None:
        self._settled = threading.Event()
        self.exception: KafkaError | None = None
        self.offset: int | None = None

    @property
    def is_done(self) -> bool:
        return self._settled.is_set()

    def settle(self, error: Any, message: Any) -> None:
        offset = message.offset()
        if error is not None:
            self.exception = DeliveryFailed(str(error), unreachable=_unreachable(error))
        elif offset is None or offset < 0:
            # With acks=all the broker's answer carries the record's offset. A report without
            # one is a record nobody can show was stored (the idempotent producer's implicit
            # acknowledgement did this): answered as not published, the sender tries again.
            self.exception = DeliveryFailed("delivery reported without an offset")
        else:
            self.offset = offset
        self._settled.set()

    def get(self, timeout: float | None = None) -> int | None:
        """The record's offset once acknowledged; raises the delivery's error, or
        ``KafkaTimeoutError`` when no report came within ``timeout`` seconds."""
        if not self._settled.wait(timeout):
            raise KafkaTimeoutError(f"no acknowledgement within {timeout} s")
        if self.exception is not None:
            raise self.exception
        return self.offset


class RdKafkaProducer:
    """An ``acks=all`` producer, one request in flight per broker, whose futures are settled by
    a polling thread."""

    POLL_S = 0.1  # the polling thread's wait when nothing is delivered; a report wakes it at once

    def __init__(self, servers: list[str], client_id: str, timeout_ms: int,
                 **overrides: Any) -> None:
        from confluent_kafka import KafkaException, Producer

        config: dict[str, Any] = {
            "bootstrap.servers": ",".join(servers),
            "client.id": client_id,
            # Not librdkafka's idempotence: a new producer's first request to a partition that
            # was refused (a topic just created, a leader moving) while a later request to it
            # succeeded had its records reported delivered ("implicitly acked") though the
            # broker never stored them (tests/integration/test_rdkafka_producer.py; the same
            # report: confluent-kafka-go#921). Instead: every record acknowledged by all
            # replicas, one request in flight per broker so a retry cannot be overtaken, and a
            # record sent twice by a retry lands once anyway (its case id is deterministic).
            "enable.idempotence": False,
            "acks": "all",
            "max.in.flight.requests.per.connection": 1,
            # A record is sent at once: the API sends one per request and waits for it.
            "linger.ms": 0,
            # A key lands on the partition Java's clients and kafka-python choose (murmur2),
            # not librdkafka's default (CRC32): a place's reports stay on one partition
            # whichever client published them.
            "partitioner": "murmur2_random",
            # An unreachable broker: the record's delivery fails after this, not after 5 min.
            "message.timeout.ms": timeout_ms,
            "socket.connection.setup.timeout.ms": timeout_ms,
            # librdkafka's own lines ("Connect to … failed") through Python's logging, with the
            # service's other messages, not printed on stderr beside a CLI's Chinese output.
            "logger": log,
        }
        config.update(overrides)
        self.linger_ms = int(config["linger.ms"])
        self._producer = Producer(config)
        # Connect now, as kafka-python's producer does on construction: an unreachable broker
        # is an error here (the intake then answers "Kafka unavailable" at once for a while),
        # and the first record does not pay for the connection.
        try:
            self._producer.list_topics(timeout=timeout_ms / 1000)
        except KafkaException as e:
            raise KafkaConnectionError(f"{config['bootstrap.servers']}: {e}") from e
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="rdkafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(self.POLL_S)

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None,
             headers: list[tuple[str, str | bytes | None]] | None = None) -> DeliveryFuture:
        from confluent_kafka import KafkaException

        future = DeliveryFuture()
        try:
            self._producer.produce(topic, value=value, key=key, headers=headers,
                                   on_delivery=future.settle)
        except BufferError as e:  # librdkafka's local queue is full: the broker is far behind
            raise KafkaError(f"producer queue full: {e}") from e
        except KafkaException as e:
            raise KafkaError(str(e)) from e
        return future

    def close(self, timeout: float | None = None) -> None:
        try:
            self._producer.flush(-1 if timeout is None else timeout)
        finally:
            self._closed.set()
            self._poller.join(self.POLL_S * 5)
