"""The worker reads kafka-python's private join state to take up a join round the library
dropped (``Worker._take_up_dropped_join``, docs/architecture.md "The group heals itself"):
pinned to the version it was checked against, so an upgrade fails here with the list of what
to re-read, instead of the worker quietly losing that heal."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from kafka.coordinator.base import BaseCoordinator
from kafka.coordinator.consumer import ConsumerCoordinator

from adapters.transport import worker


def test_kafka_python_is_the_version_the_worker_was_checked_against() -> None:
    installed = version("kafka-python")
    assert installed == worker.CHECKED_KAFKA_PYTHON, (
        f"kafka-python {installed} is installed; adapters/transport/worker.py was checked against "
        f"{worker.CHECKED_KAFKA_PYTHON}. Re-read these internals, adapt the worker, then move "
        "CHECKED_KAFKA_PYTHON:\n  " + "\n  ".join(worker.KAFKA_PYTHON_INTERNALS)
    )


def test_the_internals_the_worker_reads_are_there() -> None:
    assert "self._join_task = None" in inspect.getsource(BaseCoordinator.__init__)
    assert "_join_task" in inspect.getsource(BaseCoordinator.join_group_async)
    assert callable(ConsumerCoordinator.need_rejoin)
    assert callable(BaseCoordinator.request_rejoin)
    from kafka.consumer.group import KafkaConsumer

    assert "self._coordinator = " in inspect.getsource(KafkaConsumer.__init__)
