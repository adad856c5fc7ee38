"""Merges into cases received in an earlier batch: ``receive_batch`` reads every such target
at once (one query on PostgreSQL) after the router has decided, and still merges only into a
case that is really open, on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import Runtime, bootstrap
from engine.application import SanshiApplication
from engine.config import load_config
from engine.domain import Rating, Status
from engine.order_numbers import book_id, order_day, order_prefix
from engine.routing.keyword import KeywordRouter
from engine.settings import Settings
from tests.support.lifecycle import LAMP, LAMP_ADDRESS, OP, T0, intake

NOISE = "幸福小区门口的垃圾桶满了好几天没人清运"


def _runtime(db: str) -> Runtime:
    config = load_config(None)
    return bootstrap(Settings(db=db, kafka=None, config_path=None, cipher_key=None), config=config, router=KeywordRouter(config))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sanshi.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def runtime(db: str) -> Iterator[Runtime]:
    rt = _runtime(db)
    yield rt
    rt.close()


def _reads(app: SanshiApplication, monkeypatch: pytest.MonkeyPatch) -> list[set[Any]]:
    """Record every call of the batch read of merge targets."""
    calls: list[set[Any]] = []
    read = app.get_cases

    def spy(ids: Any) -> Any:
        calls.append(set(ids))
        return read(ids)

    monkeypatch.setattr(app, "get_cases", spy)
    return calls


def test_several_reports_in_one_batch_merge_into_one_older_open_case(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = runtime.app
    first = app.receive(intake(LAMP, LAMP_ADDRESS))
    assert first.status == "dispatched"
    reads = _reads(app, monkeypatch)

    batch = [
        intake(LAMP, LAMP_ADDRESS),
        intake(NOISE, "海城区幸福小区"),
        intake(LAMP, LAMP_ADDRESS),
        intake(LAMP, LAMP_ADDRESS),
    ]
    results = app.receive_batch(batch)

    assert [r.status for r in results] == ["merged", results[1].status, "merged", "merged"]
    merged = [results[0].case_id, results[2].case_id, results[3].case_id]
    assert all(r.merged_into == first.case_id for r in (results[0], results[2], results[3]))
    target = app.get_case(first.case_id)
    assert target.duplicates == merged  # linked in the order the reports came
    assert target.status == Status.DISPATCHED
    assert reads == [{first.case_id}]  # one read for the whole batch
    for cid in merged:
        assert app.get_case(cid).merged_into == first.case_id


def test_a_target_closed_meanwhile_is_not_merged_into_and_the_reports_are_routed(
    db: str, runtime: Runtime
) -> None:
    """The worker's router still lists the case as open, but another process (the HTTP app)
    closed it: the first new report is dispatched as a case of its own, and the second one in
    the same batch is merged into that new case, not into the closed one."""
    app = runtime.app
    old = app.receive(intake(LAMP, LAMP_ADDRESS))
    assert old.status == "dispatched"

    other = _runtime(db)  # the other process: its own router, the same log
    try:
        unit = other.app.get_case(old.case_id).assigned_unit
        assert unit is not None
        other.app.claim(old.case_id, unit, "unit:clerk", at=T0)
        other.app.resolve(old.case_id, unit, "已修好", "unit:clerk", at=T0)
        other.app.follow_up(old.case_id, True, Rating.SATISFIED, OP, at=T0)
    finally:
        other.close()
    closed = app.get_case(old.case_id)
    assert closed.status == Status.CLOSED

    first, second = app.receive_batch([intake(LAMP, LAMP_ADDRESS), intake(LAMP, LAMP_ADDRESS)])

    assert first.status == "dispatched" and first.merged_into is None
    assert second.status == "merged" and second.merged_into == first.case_id
    after = app.get_case(old.case_id)
    assert after.version == closed.version and after.duplicates == []
    # The closed case left the router's index: the next report does not try it again.
    third = app.receive(intake(LAMP, LAMP_ADDRESS))
    assert third.merged_into == first.case_id


def test_a_resent_record_in_a_batch_with_merges_lands_once(runtime: Runtime) -> None:
    """A re-send unknown to this process (saved by another one) makes the store refuse the
    batch; the retry reads which records exist and reports the re-send as a duplicate, and the
    merges are made once."""
    app = runtime.app
    old = app.receive(intake(LAMP, LAMP_ADDRESS))
    resent = intake(NOISE, "海城区幸福小区")
    app.receive(resent)
    app.intake_batch.recent_ids.clear()  # as if another process had saved it

    results = app.receive_batch([intake(LAMP, LAMP_ADDRESS), resent, intake(LAMP, LAMP_ADDRESS)])

    assert [r.status for r in results] == ["merged", "duplicate", "merged"]
    assert app.get_case(old.case_id).duplicates == [results[0].case_id, results[2].case_id]


@pytest.mark.parametrize("cipher_key", [None, "sealed"])
def test_postgres_batch_insert_keeps_the_log_order(fresh_postgres_url: str, cipher_key: str | None) -> None:
    """The columnar insert (four plain arrays) stores what eventsourcing's composite insert
    stored: every event of a batch (the cases', then the order book's), in save order, under consecutive notification ids, readable
    back (sealed too, when SANSHI_CIPHER_KEY is set)."""
    from adapters.eventstore import SanshiPostgresRecorder

    key = None
    if cipher_key:
        from eventsourcing.cryptography import AESCipher

        key = AESCipher.create_key(16)
    config = load_config(None)
    rt = bootstrap(
        Settings(db=fresh_postgres_url, kafka=None, config_path=None, cipher_key=key),
        config=config,
        router=KeywordRouter(config),
    )
    try:
        app = rt.app
        assert isinstance(app.recorder, SanshiPostgresRecorder)
        results = app.receive_batch(
            [intake(LAMP, LAMP_ADDRESS), intake(NOISE, "海城区幸福小区"), intake("我想反映一个情况")]
        )
        expected = [
            (r.case_id, v) for r in results for v in range(1, app.get_case(r.case_id).version + 1)
        ]
        # 工单编号: the day's order book is saved in the same batch, after the cases it numbered.
        days = dict.fromkeys(order_day(app.get_case(r.case_id).received_at) for r in results)
        books = [book_id(order_prefix(config), day) for day in days]
        assert books
        expected += [(b, v) for b in books for v in range(1, app.repository.get(b).version + 1)]
        notes = app.recorder.select_notifications(1, 100)
        assert [(n.originator_id, n.originator_version) for n in notes] == expected
        ids = [n.id for n in notes]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        assert app.get_case(results[0].case_id).content == LAMP
    finally:
        rt.close()
