"""The worker's consumer group heals itself (adapters/transport/worker.py ``UnclaimedIntake``):
a worker that the group assigned nothing while records wait and nobody consumes them rejoins;
so does one whose partitions have records waiting and whose positions do not move
(``StalledPartitions``).

Seen in CI on a loaded machine (kafka-python 3.0): the only member of a group was assigned no
partition at its join and consumed nothing for the test's 90 s. Here the first assignment is
made empty on purpose for some seconds (kafka-python's range assignor, wrapped in this
process), which leaves the group in that state; kafka-python itself does not rejoin from it (its metadata did not change).
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka.coordinator.assignors.range import RangePartitionAssignor

from adapters.bootstrap import bootstrap
from adapters.channels import read_path
from adapters.transport import IngestReport, ingest
from adapters.transport.kafka import KafkaSettings
from adapters.transport.worker import Worker, WorkerOptions
from engine.settings import Settings

pytestmark = pytest.mark.kafka

SAMPLES = Path(__file__).parent.parent / "data" / "intake_samples"
RECEIVED = "engine.domain:Case.Received"
BLIND_S = 15.0  # every assignment made in the first seconds is empty


def run_with_a_first_empty_assignment(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rejoin_s: float,
    *, keep_dead_letters: bool = False, idle_exit: float | None = None,
) -> tuple[int, Worker]:
    """``keep_dead_letters``: the blind assignments drop only the intake topic's partitions,
    as "No partition metadata for topic <intake>" at the join does when the dead-letter
    topic's metadata is there. ``idle_exit``: run as the tests' settle does, which stops once
    its partitions are consumed to the end."""
    monkeypatch.setenv("SANSHI_KAFKA_PREFIX", f"g{uuid.uuid4().hex[:10]}.")
    runtime = bootstrap(Settings(db=f"sqlite:///{tmp_path / 's.db'}", kafka=kafka_bootstrap,
                                 config_path=None, cipher_key=None))
    real = RangePartitionAssignor.assign.__func__
    calls: list[float] = []
    blind_until = time.monotonic() + BLIND_S

    def first_empty(cls: Any, cluster: Any, members: Any) -> Any:
        calls.append(time.monotonic())
        assignment = real(cls, cluster, members)
        if calls[-1] < blind_until:  # as when the intake topic's partitions were not known
            return {member: type(a)(a.version, [
                (topic, parts) for topic, parts in a.assignment
                if keep_dead_letters and not topic.endswith(".intake")
            ], a.user_data) for member, a in assignment.items()}
        return assignment

    monkeypatch.setattr(RangePartitionAssignor, "assign", classmethod(first_empty))
    try:
        report = IngestReport(mode="kafka")
        ingest(runtime, "app", read_path(SAMPLES / "app.jsonl"), source="app.jsonl", report=report, seen=set())
        assert report.counts["queued"] == 3
        worker = Worker(runtime, KafkaSettings.from_env(kafka_bootstrap), WorkerOptions(
            clock_interval=0, poll_timeout_ms=200, unclaimed_rejoin_s=rejoin_s))
        thread = threading.Thread(target=worker.run, kwargs={"max_seconds": 60, "idle_exit": idle_exit})
        thread.start()
        deadline = time.monotonic() + 40
        received = 0
        while time.monotonic() < deadline:
            received = len(runtime.app.recorder.select_notifications(0, 100, topics=(RECEIVED,)))
            if received == 3:
                break
            time.sleep(0.5)
        worker.stop()
        thread.join(timeout=60)
        assert calls, "the assignor was not used"
        return received, worker
    finally:
        runtime.close()


def test_a_worker_assigned_nothing_while_records_wait_rejoins_and_consumes_them(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received, worker = run_with_a_first_empty_assignment(kafka_bootstrap, tmp_path, monkeypatch, 3.0)
    assert received == 3
    assert worker.stats.counts["unclaimed_rejoins"] >= 1


def test_without_the_safety_net_the_group_stays_stuck(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state above is real: with the net off (0), nothing is consumed in 40 s."""
    received, worker = run_with_a_first_empty_assignment(kafka_bootstrap, tmp_path, monkeypatch, 0)
    assert received == 0
    assert worker.stats.counts["unclaimed_rejoins"] == 0


def test_a_worker_holding_only_dead_letter_partitions_does_not_call_itself_done(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What CI showed twice more: the worker held the dead-letter topic's partitions but none
    of the intake's, so it counted as consumed to the end and the tests' settle (idle_exit)
    stopped it at once, with the three records never read."""
    received, worker = run_with_a_first_empty_assignment(
        kafka_bootstrap, tmp_path, monkeypatch, 3.0, keep_dead_letters=True, idle_exit=0.3)
    assert received == 3
    assert worker.stats.counts["unclaimed_rejoins"] >= 1


def run_with_a_second_join_round(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stalled_s: float,
    *, ends: bool,
) -> tuple[int, Worker, float]:
    """What CI showed in the settle of test_intake_contract (kafka-python 3.0.12, a loaded
    machine; DEBUG logs): the first join assigned every partition; the leader's metadata then
    no longer matched the one its assignment was made from, so it joined again; that second
    round's SyncGroup was answered just after the poll waiting for it (200 ms) gave up, and
    kafka-python never took the round up (the leader's new assignment had made the metadata
    match, so no rejoin seemed needed). The member kept its last partitions marked as being
    revoked, fetched nothing, sent no heartbeat, and the group expelled it. Here the first
    consumer's second round is forced by the same metadata mismatch and ends 1 s late
    (``ends``), or never ends; a consumer made after it joins normally."""
    from kafka.coordinator.base import BaseCoordinator
    from kafka.coordinator.consumer import ConsumerCoordinator
    from kafka.future import Future

    monkeypatch.setenv("SANSHI_KAFKA_PREFIX", f"j{uuid.uuid4().hex[:10]}.")
    runtime = bootstrap(Settings(db=f"sqlite:///{tmp_path / 's.db'}", kafka=kafka_bootstrap,
                                 config_path=None, cipher_key=None))
    real_join = BaseCoordinator._do_join_and_sync_async
    real_complete = ConsumerCoordinator._on_join_complete_async
    first: list[Any] = []

    async def join(self: Any) -> Any:
        if not (first and self is first[0]):
            return await real_join(self)
        if not ends:
            await Future()  # never resolved
        assignment = await real_join(self)
        # The leader's new assignment made its metadata match: no rejoin seems needed (here
        # made certain: on a fresh topic the metadata may still change and ask for a third
        # round, which would take this one up).
        self._assignment_snapshot = None
        await self._manager._net.sleep(1.0)  # answered after the poll gave up
        return assignment

    async def complete(self: Any, *args: Any) -> Any:
        await real_complete(self, *args)
        if not first:  # the first consumer's first assignment
            first.append(self)
            # made from other metadata than the leader's now: it joins again
            self._assignment_snapshot = {"(other metadata)": {0}}

    monkeypatch.setattr(BaseCoordinator, "_do_join_and_sync_async", join)
    monkeypatch.setattr(ConsumerCoordinator, "_on_join_complete_async", complete)
    try:
        report = IngestReport(mode="kafka")
        ingest(runtime, "app", read_path(SAMPLES / "app.jsonl"), source="app.jsonl", report=report, seen=set())
        assert report.counts["queued"] == 3
        worker = Worker(runtime, KafkaSettings.from_env(kafka_bootstrap), WorkerOptions(
            clock_interval=0, poll_timeout_ms=200, session_timeout_ms=6000,
            stalled_rejoin_s=stalled_s))
        started = time.monotonic()
        # as the tests' settle runs it: it stops once everything is consumed
        worker.run(idle_exit=0.3, max_seconds=40)
        took = time.monotonic() - started
        assert first, "the first join did not complete"
        received = len(runtime.app.recorder.select_notifications(0, 100, topics=(RECEIVED,)))
        return received, worker, took
    finally:
        runtime.close()


def test_a_join_round_answered_after_the_poll_gave_up_is_joined_again(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received, worker, took = run_with_a_second_join_round(
        kafka_bootstrap, tmp_path, monkeypatch, 0, ends=True)
    assert received == 3
    assert worker.stats.counts["dropped_joins"] >= 1
    assert took < 35  # done, not stopped by max_seconds


def test_a_worker_stuck_in_a_join_round_with_its_last_partitions_rejoins(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received, worker, took = run_with_a_second_join_round(
        kafka_bootstrap, tmp_path, monkeypatch, 3.0, ends=False)
    assert received == 3
    assert worker.stats.counts["stalled_rejoins"] == 1
    assert took < 35


def test_without_the_stall_check_the_worker_stays_stuck(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state above is real: with the check off (0), nothing is consumed in 40 s, and the
    settle does not call itself done either (the group's committed offsets are behind)."""
    received, worker, took = run_with_a_second_join_round(
        kafka_bootstrap, tmp_path, monkeypatch, 0, ends=False)
    assert received == 0
    assert worker.stats.counts["stalled_rejoins"] == 0
    assert took >= 40
