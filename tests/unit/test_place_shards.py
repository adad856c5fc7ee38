"""The worker's duplicate index across rebalances (adapters/transport/worker.py ``PlaceShards``).

Kafka's eager protocol revokes every partition and assigns them again, mostly the same ones.
The kill bench showed each rebalance forgetting and reloading every open case of the worker's
places (thousands, seconds each), because the index was settled between the revocation and the
assignment. Now: nothing is settled until the assignment comes; a partition kept is reloaded
only if another member committed on it meanwhile; a partition lost is forgotten."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from kafka import TopicPartition

from adapters.transport.kafka import KafkaSettings
from adapters.transport.placement import PlaceKeys
from adapters.transport.worker import PlaceShards, WorkerStats
from engine.config import load_config

PARTITIONS = 4
SETTINGS = KafkaSettings(bootstrap="unused:9092", intake_topic="t.sanshi.intake", dlq_topic="t.sanshi.dlq")


class Router:
    """Records which localities the worker forgot and which it loaded from the read model."""

    def __init__(self, every: set[str]) -> None:
        self.every = every
        self.held: set[str] = set()
        self.loaded: list[set[str]] = []

    def drop_localities(self, keep: Callable[[str], bool]) -> int:
        gone = {loc for loc in self.held if not keep(loc)}
        self.held -= gone
        return len(gone)

    def refile_localities(self, localities: Collection[str], open_cases: Iterable[Mapping[str, Any]]) -> int:
        self.loaded.append(set(localities))
        self.held |= set(localities)
        return len(localities)


class ReadModel:
    def open_cases_for_router(self, localities: Collection[str] | None = None) -> Sequence[Mapping[str, Any]]:
        return []


class Consumer:
    def __init__(self) -> None:
        self.assigned: set[int] = set()
        self.group_offsets: dict[int, int] = {}
        self.positions: dict[int, int] = {}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(SETTINGS.intake_topic, p) for p in self.assigned}

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp.partition]

    def committed(self, tp: TopicPartition) -> int | None:
        return self.group_offsets.get(tp.partition)


def tps(*parts: int) -> list[TopicPartition]:
    return [TopicPartition(SETTINGS.intake_topic, p) for p in parts]


def shards() -> tuple[PlaceShards, Router, Consumer, PlaceKeys]:
    config = load_config()
    keys = PlaceKeys(config)
    router = Router(keys.localities_in(range(PARTITIONS), PARTITIONS))
    runtime = SimpleNamespace(router=router, read_model=ReadModel(), config=config,
                              projector=SimpleNamespace(catch_up=lambda: None))
    return PlaceShards(runtime, SETTINGS, WorkerStats()), router, Consumer(), keys  # type: ignore[arg-type]


def test_a_rebalance_that_gives_the_same_partitions_back_keeps_the_index() -> None:
    places, router, consumer, keys = shards()
    mine = keys.localities_in({0, 1}, PARTITIONS)
    assert mine and mine != router.every  # the demo district's places spread over the partitions
    consumer.assigned = {0, 1}
    places.on_partitions_assigned(tps(0, 1))
    places.settle(consumer)
    assert router.loaded == [mine] and router.held == mine

    # It consumed and committed; the group then rebalanced (a restart of another worker).
    consumer.positions = consumer.group_offsets = {0: 10, 1: 20}
    places.note_committed(consumer)
    places.on_partitions_revoked(tps(0, 1))
    places.settle(consumer)  # a poll that ended between the revocation and the assignment
    assert router.held == mine, "forgot its places before it knew what it gets back"
    places.on_partitions_assigned(tps(0, 1))
    places.settle(consumer)
    assert router.loaded == [mine] and router.held == mine  # nothing reloaded


def test_a_partition_someone_else_consumed_meanwhile_is_reloaded_and_a_lost_one_forgotten() -> None:
    places, router, consumer, keys = shards()
    consumer.assigned = {0, 1}
    places.on_partitions_assigned(tps(0, 1))
    places.settle(consumer)
    consumer.positions = consumer.group_offsets = {0: 10, 1: 20}
    places.note_committed(consumer)

    # Out of the group for a while: another member consumed partition 1 up to 25.
    places.on_partitions_revoked(tps(0, 1))
    consumer.group_offsets = {0: 10, 1: 25}
    places.on_partitions_assigned(tps(0, 1))
    places.settle(consumer)
    assert router.loaded[1:] == [keys.localities_in({1}, PARTITIONS)]

    # The next rebalance gives it only partition 0: partition 1's places are forgotten.
    consumer.positions = {0: 10, 1: 25}
    places.note_committed(consumer)
    places.on_partitions_revoked(tps(0, 1))
    consumer.assigned = {0}
    places.on_partitions_assigned(tps(0))
    places.settle(consumer)
    assert router.held == keys.localities_in({0}, PARTITIONS)
    assert len(router.loaded) == 2
