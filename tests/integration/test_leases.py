"""值守 leases (adapters/leases.py) against a real PostgreSQL: one holder per duty and district,
a standby takes the duty when the holder lets go or its connection is killed, and a holder whose
connection is gone stops. On SQLite there is one process: always the holder. (Processes SIGKILLed
while holding: tests/faults/test_standby.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from adapters.leases import (
    DEADLINE_CLOCK,
    DUTIES,
    NOTIFY,
    PROJECTIONS_FOLLOW,
    Lease,
    duty_key,
    holder,
    holders,
)
from projections.tables import make_engine

RETRY = 0.1


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[Engine]:
    e = make_engine(fresh_postgres_url)
    yield e
    e.dispose()


def _after_retry() -> None:
    time.sleep(RETRY * 1.5)


def test_the_keys_are_fixed_for_every_version_and_apart_per_duty_and_district() -> None:
    # Pinned: a rolling upgrade runs old and new versions side by side, which must contend
    # for the same lock.
    assert duty_key(DEADLINE_CLOCK, "haicheng") == duty_key(DEADLINE_CLOCK, "haicheng")
    assert duty_key(DEADLINE_CLOCK, "haicheng") == -1991268437026626384
    keys = {duty_key(d, district) for d in DUTIES for district in ("haicheng", "yinhai")}
    assert len(keys) == len(DUTIES) * 2
    assert all(-(2**63) <= k < 2**63 for k in keys)


@pytest.mark.postgres
def test_one_holder_a_standby_and_the_standby_takes_over_when_the_holder_lets_go(
    engine: Engine,
) -> None:
    first = Lease(engine, DEADLINE_CLOCK, "haicheng", retry=RETRY)
    second = Lease(engine, DEADLINE_CLOCK, "haicheng", retry=RETRY)
    other_district = Lease(engine, DEADLINE_CLOCK, "yinhai", retry=RETRY)
    other_duty = Lease(engine, PROJECTIONS_FOLLOW, "haicheng", retry=RETRY)
    try:
        assert first.held()
        assert not second.held()
        assert other_district.held() and other_duty.held()  # their own locks
        assert holder(engine, DEADLINE_CLOCK, "haicheng") == first.name
        assert first.name.startswith("sanshi deadline_clock ")
        _after_retry()
        assert first.held() and not second.held()  # asked again: still the same holder
        first.release()
        _after_retry()
        assert second.held()
        assert second.takeovers == 1
        _after_retry()
        assert not first.held()  # now the standby itself
        assert {h.duty: h.holder for h in holders(engine, "haicheng")} == {
            DEADLINE_CLOCK: second.name,
            NOTIFY: None,
            PROJECTIONS_FOLLOW: other_duty.name,
        }
    finally:
        for lease in (first, second, other_district, other_duty):
            lease.release()
    assert holder(engine, DEADLINE_CLOCK, "haicheng") is None


@pytest.mark.postgres
def test_a_kept_lease_takes_over_while_its_process_is_busy_with_something_else(
    engine: Engine,
) -> None:
    # A worker's turn (a poll, a batch, a rebalance) can last seconds; its leases are kept on
    # threads of their own, so the standby takes the duty when the holder goes, not when the
    # standby's loop next asks. Nobody calls held() here between the holder's going and the
    # take-over.
    first = Lease(engine, DEADLINE_CLOCK, "haicheng", retry=RETRY).keep()
    second = Lease(engine, DEADLINE_CLOCK, "haicheng", retry=RETRY)
    try:
        _wait(lambda: holder(engine, DEADLINE_CLOCK, "haicheng") == first.name, 5)
        second.keep()
        _after_retry()
        assert first.held() and not second.held()
        first.release()
        took = _wait(lambda: holder(engine, DEADLINE_CLOCK, "haicheng") == second.name, 5)
        assert took < RETRY * 5
        assert second.held() and second.takeovers == 1
        assert not first.held()  # released: asks again in its own turns, as a standby
    finally:
        first.release()
        second.release()
    assert holder(engine, DEADLINE_CLOCK, "haicheng") is None


def _wait(condition: Callable[[], bool], limit: float) -> float:
    """Seconds until ``condition`` holds; fails after ``limit``."""
    t0 = time.monotonic()
    while not condition():
        assert time.monotonic() - t0 < limit, "not within the limit"
        time.sleep(0.01)
    return time.monotonic() - t0


@pytest.mark.postgres
def test_a_holder_whose_connection_is_killed_stops_and_the_standby_takes_over(
    engine: Engine,
) -> None:
    first = Lease(engine, NOTIFY, "haicheng", retry=RETRY)
    second = Lease(engine, NOTIFY, "haicheng", retry=RETRY)
    try:
        assert first.held() and not second.held()
        # An administrator (or a network fault) ends the holder's session: the one session
        # that holds the lock.
        unsigned = first.key & 0xFFFF_FFFF_FFFF_FFFF
        with engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND granted AND classid::bigint = :hi AND objid::bigint = :lo"
                ),
                {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
            ).scalars().all()
        assert killed == [True]
        _after_retry()
        assert second.held()  # the lock went with the session
        assert not first.held()  # the holder noticed: it stops, and cannot take it back
        _after_retry()
        assert not first.held()
        second.release()
        _after_retry()
        assert first.held()  # a new connection, the lease again
    finally:
        first.release()
        second.release()


def test_on_sqlite_the_one_process_always_holds_and_opens_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'views.db'}")
    try:
        one = Lease(engine, DEADLINE_CLOCK, "haicheng", retry=RETRY)
        two = Lease(engine, DEADLINE_CLOCK, "haicheng", retry=RETRY)
        assert one.held() and two.held()
        assert holder(engine, DEADLINE_CLOCK, "haicheng") is None
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_detailed_health_answer_names_who_holds_each_duty(fresh_postgres_url: str) -> None:
    import warnings

    from adapters.http import create_app
    from tests.support.api import LEADER, OPERATOR, auth
    from tests.support.fold_oracle import make_runtime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    runtime = make_runtime(fresh_postgres_url)
    clock = Lease(runtime.views_engine, DEADLINE_CLOCK, runtime.config.district.id, retry=RETRY)
    try:
        assert clock.held()
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            body = client.get("/healthz", headers=auth(LEADER)).json()
            assert body["duties"] == {
                DEADLINE_CLOCK: clock.name,
                NOTIFY: None,  # nobody delivers notices: worth an operator's look
                PROJECTIONS_FOLLOW: None,
            }
            # The public answer and other roles learn nothing of it.
            assert client.get("/healthz").json() == {"status": "ok"}
            assert "duties" not in client.get("/healthz", headers=auth(OPERATOR)).json()
    finally:
        clock.release()
        runtime.close()


@pytest.mark.postgres
def test_a_released_lease_is_free_the_moment_release_returns(engine: Engine) -> None:
    """A clean stop hands the duty over at once: when release() returns, another session can
    take the lock. Closing the session alone freed it a moment later, when the server had ended
    the backend (a CI run saw the lock still held right after release)."""
    other = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        for _ in range(30):
            lease = Lease(engine, DEADLINE_CLOCK, "haicheng", retry=RETRY)
            assert lease.held()
            lease.release()
            assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lease.key}).scalar()
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lease.key})
    finally:
        other.close()
