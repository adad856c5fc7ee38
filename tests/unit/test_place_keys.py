"""Intake keyed by place (adapters/transport/placement.py) and the duplicate index's hooks for
holding only some localities (a Kafka worker's partitions)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import uuid4

import pytest
from kafka.cluster import ClusterMetadata
from kafka.partitioner.default import DefaultPartitioner

from adapters.transport.placement import PlaceKeys, partition_of
from engine.config import SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.routing.learning import LearningRouter
from engine.routing.port import CaseFacts

T0 = dt.datetime(2026, 9, 21, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def haicheng() -> SanshiConfig:
    return load_config()


def cmd(channel: Channel, ref: str, content: str, address: str = "", **extra: Any) -> IntakeCommand:
    return IntakeCommand(
        channel=channel,
        source_ref=ref,
        received_at=T0,
        content=content,
        address=address,
        extra=extra,
    )


def test_hotline_and_app_reports_of_one_lamp_share_a_key(haicheng: SanshiConfig) -> None:
    keys = PlaceKeys(haicheng)
    hotline = cmd(Channel.HOTLINE, "RX-1", "茶亭路28号门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路28号")
    # The app's resident names the place only in the text, in other words.
    app = cmd(Channel.APP, "APP-9", "茶亭路28号的路灯坏了，晚上一片漆黑")
    assert keys.key_of(hotline) == keys.key_of(app) == b"place:haicheng:chatinglu"
    # Another place in another street: another key.
    other = cmd(Channel.HOTLINE, "RX-2", "贵州路15号路灯不亮", "北海市海城区贵州路15号")
    assert keys.key_of(other) == b"place:haicheng:guizhoulu"


def test_a_report_whose_place_cannot_be_told_is_keyed_by_its_case_id(
    haicheng: SanshiConfig,
) -> None:
    keys = PlaceKeys(haicheng)
    vague = cmd(Channel.HOTLINE, "RX-3", "我家门口的路灯坏了好几天了")
    assert keys.locality_of(vague) is None
    assert keys.key_of(vague) == str(vague.case_id).encode("ascii")


def test_partition_of_is_the_producers_partitioner(haicheng: SanshiConfig) -> None:
    keys = PlaceKeys(haicheng)
    cluster = ClusterMetadata()
    partitioner = DefaultPartitioner()
    for n in (1, 3, 4, 7):
        cluster.topics = lambda exclude_internal_topics=True: {"t"}
        cluster.partitions_for_topic = lambda topic, n=n: set(range(n))
        cluster.available_partitions_for_topic = cluster.partitions_for_topic
        for loc in keys.localities:
            key = keys.key_for(loc)
            assert partition_of(key, n) == partitioner.partition("t", key, key, None, None, cluster)


def test_the_partitions_share_out_every_locality_once(haicheng: SanshiConfig) -> None:
    keys = PlaceKeys(haicheng)
    shares = [keys.localities_in([p], 3) for p in range(3)]
    assert set().union(*shares) == set(keys.localities)
    assert sum(len(s) for s in shares) == len(keys.localities)
    assert keys.localities_in(range(3), 3) == set(keys.localities)


def test_router_drops_and_refiles_localities(haicheng: SanshiConfig) -> None:
    router = LearningRouter(haicheng).wait_ready()

    def row(locality: str, content: str, address: str) -> dict[str, Any]:
        return {
            "case_id": str(uuid4()),
            "content": content,
            "address": address,
            "category": "municipal",
            "locality": locality,
            "received_at": T0.isoformat(),
            "channel": "hotline",
        }

    lamp = row("chatinglu", "茶亭路28号门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路28号")
    other = row("guizhoulu", "贵州路15号路灯不亮，晚上很黑", "北海市海城区贵州路15号")
    router.warm([lamp, other])
    assert len(router.index) == 2
    # The worker gave up the partition carrying 茶亭路: its open case is forgotten.
    assert router.drop_localities(lambda loc: loc != "chatinglu") == 1
    assert len(router.index) == 1

    def app_report() -> CaseFacts:
        return CaseFacts(
            case_id=uuid4(), channel="app", content="茶亭路28号的路灯坏了，晚上一片漆黑",
            address="", category_hint="", urgent=False, concern="worry",
            received_at=T0 + dt.timedelta(hours=3),
        )

    assert router.decide(app_report()).merge_into is None  # not held: nothing to merge with
    # Taken over again from the read model: the app's report three hours later merges.
    assert router.refile_localities({"chatinglu"}, [lamp]) == 1
    decision = router.decide(app_report())
    assert decision.merge_into is not None and str(decision.merge_into.case_id) == lamp["case_id"]
    # Refiling replaces what was held at the place (a case closed elsewhere is gone).
    assert router.refile_localities({"chatinglu"}, []) == 0
    assert len(router.index) == 1 and router.decide(app_report()).merge_into is None
