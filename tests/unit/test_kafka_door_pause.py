"""When the Kafka door closes for a moment (adapters/transport/kafka.py, PAUSE_WHEN_UNREACHABLE_S):
a record no broker answered closes it for a few seconds, so an outage does not hold a server
thread per create for the whole timeout; a record that timed out while another request's
record was being taken (it was queued during the outage) does not, and an acknowledgement
opens it again. The broker here is a stand-in producer; the real broker killed under the door
is tests/integration/test_rdkafka_producer.py."""

from __future__ import annotations

import threading
from typing import Any

from adapters.channels import Parsed
from adapters.transport.kafka import KafkaIntake, KafkaSettings
from adapters.transport.rdkafka import DeliveryFailed
from tests.support import lifecycle


class _Future:
    def __init__(self, outcome: str, release: threading.Event | None = None) -> None:
        self.outcome, self.release = outcome, release

    def get(self, timeout: float | None = None) -> int:
        if self.release is not None:
            self.release.wait(10)
        if self.outcome == "timed out":
            raise DeliveryFailed("Local: Message timed out", unreachable=True)
        return 7


class _Broker:
    """Answers each record as told, in order; counts what it was sent."""

    def __init__(self) -> None:
        self.answers: list[_Future] = []
        self.sent = 0

    def send(self, topic: str, **kw: Any) -> _Future:
        self.sent += 1
        return self.answers.pop(0)


def _door(broker: _Broker) -> KafkaIntake:
    intake = KafkaIntake(KafkaSettings.from_env("127.0.0.1:9", environ={}), producer=broker)
    intake._topics_checked = True  # the stand-in has no topics to check
    return intake


def _create(intake: KafkaIntake, n: int) -> str:
    [outcome] = intake.send([Parsed(lifecycle.intake(f"{lifecycle.LAMP}（{n}号灯杆）",
                                                     lifecycle.LAMP_ADDRESS), f"http:{n}")])
    return outcome.status


def test_a_create_no_broker_answered_closes_the_door_and_an_acknowledgement_opens_it() -> None:
    broker = _Broker()
    intake = _door(broker)
    broker.answers = [_Future("stored"), _Future("timed out")]
    assert [_create(intake, 0), _create(intake, 1)] == ["queued", "failed"]
    assert [_create(intake, n) for n in (2, 3)] == ["failed", "failed"]
    assert broker.sent == 2  # answered at once, not sent to wait the timeout again
    intake._down_until = 0.0  # the pause is over
    broker.answers = [_Future("stored")]
    assert _create(intake, 4) == "queued"


def test_a_record_that_timed_out_after_the_broker_came_back_leaves_the_door_open() -> None:
    """A create sent during the outage times out; meanwhile the broker is back and another
    request's record is taken. The late failure is that create's 503, not a closed door."""
    broker = _Broker()
    intake = _door(broker)
    release = threading.Event()
    broker.answers = [_Future("timed out", release), _Future("stored")]
    late: list[str] = []
    during = threading.Thread(target=lambda: late.append(_create(intake, 0)))
    during.start()
    while broker.sent < 1:
        threading.Event().wait(0.01)
    assert _create(intake, 1) == "queued"  # the broker is back
    release.set()
    during.join(10)
    assert late == ["failed"]
    broker.answers = [_Future("stored")]
    assert _create(intake, 2) == "queued"
    assert broker.sent == 3
