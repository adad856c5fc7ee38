"""Several ``sanshi worker`` processes in one consumer group miss no duplicate (issue 21): intake
is keyed by place (adapters/transport/placement.py), each worker holds the open cases of its
partitions' places and takes them over from the read model when the group rebalances.

Real Kafka and PostgreSQL (tests/support); the workers are subprocesses, as in production.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import Parsed
from adapters.transport.kafka import (
    DLQ_TOPIC,
    INTAKE_TOPIC,
    WORKER_GROUP,
    KafkaIntake,
    KafkaSettings,
)
from adapters.transport.placement import PlaceKeys, partition_of
from engine.config import load_config
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings
from tests.faults.support import assert_each_once, received_counts
from tests.support.moved_clock import CLI_CODE
from tests.support.processes import stop_process

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", CLI_CODE]
PARTITIONS = 4
T0 = dt.datetime(2026, 9, 21, 9, 0, tzinfo=SHANGHAI)
HOLDING = re.compile(r"holding the places of partitions \[([\d, ]*)\] of (\d+)")

# Doors on configured roads of the demo district (15 localities over 8 streets).
DOORS = [
    "茶亭路28号", "珠海路40号", "和平路12号", "贵州路15号", "四川路66号", "合浦路8号",
    "云南路21号", "广东路146号", "海角路9号", "湛江路33号", "地角路5号", "重庆路18号",
    "驿马路96号", "北海大道200号", "港口路7号",
]
LAMP = (
    "{door}门口的路灯不亮了，晚上很黑",
    "{door}的路灯坏了，晚上一片漆黑",
    "{door}门口路灯一直不亮，晚上走路看不清",
)


# ---- the stream ------------------------------------------------------------------------------


def command(channel: Channel, ref: str, hours: float, content: str, address: str = "") -> IntakeCommand:
    return IntakeCommand(
        channel=channel,
        source_ref=ref,
        received_at=T0 + dt.timedelta(hours=hours),
        content=content,
        address=address,
    )


def first_report(i: int, door: str, hours: float) -> IntakeCommand:
    """The hotline takes it first, with the address the operator typed."""
    return command(Channel.HOTLINE, f"RX-{i}-1", hours, LAMP[0].format(door=door), f"北海市海城区{door}")


def second_report(i: int, door: str, hours: float) -> IntakeCommand:
    """Three hours later a resident reports it in the app, the place only in the text."""
    return command(Channel.APP, f"APP-{i}-2", hours + 3, LAMP[1].format(door=door))


def third_report(i: int, door: str, hours: float) -> IntakeCommand:
    """The next day someone walks in about it."""
    return command(Channel.WALKIN, f"WK-{i}-3", hours + 26, LAMP[2].format(door=door), f"海城区{door}")


@dataclass
class Stream:
    """Phases published one after another (each applied before the next is published)."""

    before: list[IntakeCommand]  # while one worker runs
    after: list[IntakeCommand]  # later reports of the same places, after the others joined
    fresh_first: list[IntakeCommand]  # new places' first reports, all workers up
    fresh_later: list[IntakeCommand]  # their later reports

    @property
    def phases(self) -> list[list[IntakeCommand]]:
        return [self.before, self.after, self.fresh_first, self.fresh_later]

    @property
    def ids(self) -> set[UUID]:
        return {c.case_id for phase in self.phases for c in phase}


def make_stream() -> Stream:
    old, new = DOORS[:12], [d.replace("号", "0号") for d in DOORS[3:]]  # new doors, new places
    others = [
        # A different problem at a door of each road: never merged with the lamps.
        command(Channel.HOTLINE, f"MH-{i}", 1, f"{door}门前的井盖松动了，车压过去哐哐响", f"北海市海城区{door}")
        for i, door in enumerate(DOORS[:6])
    ]
    vague = [  # no place anyone can tell: keyed by case id, never merged
        command(Channel.APP, f"VG-{i}", 2 + i, "我家门口的路灯坏了好几天了") for i in range(3)
    ]
    return Stream(
        before=[first_report(i, d, 0) for i, d in enumerate(old)] + others + vague,
        after=[r(i, d, 0) for i, d in enumerate(old) for r in (second_report, third_report)],
        fresh_first=[first_report(100 + i, d, 30) for i, d in enumerate(new)],
        fresh_later=[second_report(100 + i, d, 30) for i, d in enumerate(new)],
    )


# ---- the workers -----------------------------------------------------------------------------


@dataclass
class Group:
    kafka: str
    db_url: str
    prefix: str
    folder: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
        env.update(
            SANSHI_DB=self.db_url,
            SANSHI_KAFKA=self.kafka,
            SANSHI_KAFKA_PREFIX=self.prefix,
            SANSHI_KAFKA_PARTITIONS=str(PARTITIONS),
            SANSHI_LOG_LEVEL="INFO",  # the worker says which places it holds
            PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        )
        return env

    @property
    def settings(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap=self.kafka,
            intake_topic=self.prefix + INTAKE_TOPIC,
            dlq_topic=self.prefix + DLQ_TOPIC,
            group=self.prefix + WORKER_GROUP,
            partitions=PARTITIONS,
        )


class WorkerProc:
    def __init__(self, group: Group, name: str) -> None:
        self.log = group.folder / f"{group.prefix}{name}.log"
        out = open(self.log, "ab")  # noqa: SIM115 - the child writes it until it ends
        self.proc = subprocess.Popen(
            [*CLI, "worker", "--clock-interval", "0", "--instance-id", f"{group.prefix}{name}"],
            env=group.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )
        out.close()

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def holding(self) -> set[int] | None:
        """The partitions it last said it holds the places of (None: not yet)."""
        found = HOLDING.findall(self.text())
        if not found:
            return None
        return {int(p) for p in found[-1][0].split(",") if p.strip()}

    def check(self) -> None:
        assert self.proc.poll() is None, f"worker exited: {self.text()[-3000:]}"

    def stop(self) -> None:
        stop_process(self.proc)


def wait_for(ok: Callable[[], bool], what: str, workers: list[WorkerProc], timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not ok():
        for w in workers:
            w.check()
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.3)


def wait_shared_out(workers: list[WorkerProc]) -> None:
    """Every worker has taken its share of the partitions, and the shares cover them all."""

    def shared() -> bool:
        held = [w.holding() for w in workers]
        if not all(held):  # not yet, or none (a member's first join before the others)
            return False
        union: set[int] = set().union(*held)  # type: ignore[arg-type]
        return union == set(range(PARTITIONS)) and sum(len(h) for h in held if h) == PARTITIONS

    wait_for(shared, "the partitions to be shared out", workers)


@pytest.fixture
def runtimes(pg_server: object, kafka_bootstrap: str) -> Iterator[Callable[[], tuple[str, Runtime]]]:
    """A fresh PostgreSQL database and a reading runtime on it, as many as a test asks."""
    made: list[Runtime] = []

    def make() -> tuple[str, Runtime]:
        url = pg_server.create_database(f"t_{uuid.uuid4().hex}")  # type: ignore[attr-defined]
        rt = bootstrap(Settings(db=url, kafka=kafka_bootstrap, config_path=None, cipher_key=None))
        made.append(rt)
        return url, rt

    yield make
    for rt in made:
        rt.close()


def publish(group: Group, cmds: list[IntakeCommand], by_place: bool = True) -> None:
    """As ``sanshi ingest`` does; ``by_place`` False: as a publisher that keys by case id."""
    port = KafkaIntake(group.settings, places=PlaceKeys(load_config()) if by_place else None)
    try:
        outcomes = port.send([Parsed(c, f"test:{c.source_ref}") for c in cmds])
    finally:
        port.close()
    assert {o.status for o in outcomes} == {"queued"}, outcomes


def wait_received(rt: Runtime, ids: set[UUID], workers: list[WorkerProc]) -> None:
    wait_for(lambda: ids <= set(received_counts(rt.app)), f"{len(ids)} cases received", workers)


def merges(rt: Runtime, ids: set[UUID]) -> set[tuple[UUID, UUID]]:
    cases = rt.app.get_cases(sorted(ids))
    return {(cid, c.merged_into) for cid, c in cases.items() if c.merged_into is not None}


def run(
    group: Group, rt: Runtime, stream: Stream, workers: int
) -> set[tuple[UUID, UUID]]:
    """The stream through ``workers`` workers of one group: the first alone for the first
    phase, the others joining before the later reports of the same places."""
    procs = [WorkerProc(group, "w1")]
    try:
        wait_shared_out(procs)
        for n, phase in enumerate(stream.phases):
            if n == 1 and workers > 1:
                procs += [WorkerProc(group, f"w{i}") for i in range(2, workers + 1)]
                wait_shared_out(procs)  # each took over its places from the read model
            publish(group, phase)
            wait_received(rt, {c.case_id for c in phase}, procs)
        for w in procs:
            w.check()
    finally:
        for w in procs:
            w.stop()
    assert_each_once(received_counts(rt.app), stream.ids)  # each case once, none lost
    return merges(rt, stream.ids)


# ---- the tests -------------------------------------------------------------------------------


def test_three_workers_make_the_same_merges_as_one(
    kafka_bootstrap: str, runtimes: Callable[[], tuple[str, Runtime]], tmp_path: Path
) -> None:
    stream = make_stream()
    keys = PlaceKeys(load_config())
    # The places are spread over the partitions: each of the three workers gets some.
    touched = {partition_of(keys.key_of(c), PARTITIONS) for c in stream.before}
    assert touched == set(range(PARTITIONS))

    url1, rt1 = runtimes()
    alone = run(Group(kafka_bootstrap, url1, f"p1{uuid.uuid4().hex[:8]}.", tmp_path), rt1, stream, 1)
    url3, rt3 = runtimes()
    three = run(Group(kafka_bootstrap, url3, f"p3{uuid.uuid4().hex[:8]}.", tmp_path), rt3, stream, 3)

    # Every later report of a lamp merged into that lamp's first report, in both runs.
    firsts = {
        c.address.removeprefix("北海市海城区"): c.case_id
        for c in stream.before
        if c.source_ref.startswith("RX-")
    }
    expected = {
        (c.case_id, firsts[next(d for d in firsts if d in c.content)])
        for c in stream.after
    }
    assert expected <= alone
    assert three == alone, (
        f"only with one worker: {len(alone - three)}, only with three: {len(three - alone)}"
    )
    # The new places' pairs too (first and later report published after all workers were up).
    fresh = {c.content[: c.content.index("号") + 1]: c.case_id for c in stream.fresh_first}
    assert {(c.case_id, fresh[c.content[: c.content.index("号") + 1]]) for c in stream.fresh_later} <= three
    # Nothing else merged: not the 井盖 at a lamp's door, not the reports with no place.
    assert len(three) == len(stream.after) + len(stream.fresh_later)


@pytest.mark.parametrize("by_place", [True, False], ids=["keyed_by_place", "keyed_by_case_id"])
def test_two_workers_merge_the_lamp_reported_by_hotline_then_by_app(
    kafka_bootstrap: str,
    runtimes: Callable[[], tuple[str, Runtime]],
    tmp_path: Path,
    by_place: bool,
) -> None:
    """The check from outside: two runtimes on one store, the 茶亭路28号 lamp reported on the
    hotline and three hours later in the app: one case, the app's report merged into it.

    Also when the publisher keys by case id (an older ``sanshi ingest``, or one whose district
    file reads the place otherwise): the report may reach the worker that does not hold the
    place, which then checks it against the read model's open cases there before deciding."""
    url, rt = runtimes()
    group = Group(kafka_bootstrap, url, f"lamp{uuid.uuid4().hex[:8]}.", tmp_path)
    hotline = first_report(1, "茶亭路28号", 0)
    app = second_report(1, "茶亭路28号", 0)
    assert app.channel == Channel.APP and app.received_at - hotline.received_at == dt.timedelta(hours=3)
    procs = [WorkerProc(group, "a"), WorkerProc(group, "b")]
    try:
        wait_shared_out(procs)
        if not by_place:
            # Keyed by case id: make sure the app's report reaches the other worker.
            def holder(c: IntakeCommand) -> WorkerProc:
                p = partition_of(str(c.case_id).encode("ascii"), PARTITIONS)
                return next(w for w in procs if p in (w.holding() or ()))

            app = next(
                a
                for k in range(200)
                if holder(a := app.model_copy(update={"source_ref": f"APP-1-2-{k}"}))
                is not holder(hotline)
            )
        publish(group, [hotline], by_place)
        wait_received(rt, {hotline.case_id}, procs)
        publish(group, [app], by_place)
        wait_received(rt, {app.case_id}, procs)
    finally:
        for w in procs:
            w.stop()
    assert merges(rt, {hotline.case_id, app.case_id}) == {(app.case_id, hotline.case_id)}
