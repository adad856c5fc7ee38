"""Two writers act on one case at the same instant on PostgreSQL: exactly one wins.

Each writer is its own application instance with its own connection pool (as two API
processes would be), released together by a barrier from real threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime, bootstrap
from engine.application import ConcurrencyConflict, SanshiApplication
from engine.config import load_config
from engine.domain import DomainError, IllegalTransition, Status
from engine.routing.keyword import KeywordRouter
from engine.settings import Settings
from tests.support.lifecycle import T0, build

pytestmark = pytest.mark.postgres

ROUNDS = 40


@pytest.fixture
def writers(fresh_postgres_url: str) -> Iterator[tuple[SanshiApplication, SanshiApplication]]:
    config = load_config()
    config = config.model_copy(
        update={"router": config.router.model_copy(update={"merge_similarity": 1.0})}
    )
    settings = Settings(db=fresh_postgres_url, kafka=None, config_path=None, cipher_key=None)
    runtimes: list[Runtime] = [
        bootstrap(settings=settings, config=config, router=KeywordRouter(config)) for _ in range(2)
    ]
    yield runtimes[0].app, runtimes[1].app
    for r in runtimes:
        r.close()


def race(actions: list[Callable[[], object]]) -> tuple[int, list[BaseException]]:
    barrier = threading.Barrier(len(actions))
    wins = 0
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(action: Callable[[], object]) -> None:
        nonlocal wins
        barrier.wait()
        try:
            action()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                wins += 1

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return wins, errors


def _claims(app: SanshiApplication, cid: UUID) -> int:
    return sum(1 for e in app.events.get(cid) if type(e).__name__ == "Claimed")


def test_two_clerks_claiming_at_once_exactly_one_wins(
    writers: tuple[SanshiApplication, SanshiApplication],
) -> None:
    a, b = writers
    conflicts = 0
    for _ in range(ROUNDS):
        cid = build(a, Status.DISPATCHED)
        unit = a.get_case(cid).assigned_unit
        assert unit is not None
        wins, errors = race(
            [
                lambda cid=cid, unit=unit: a.claim(cid, unit, "unit:clerk-a", at=T0),
                lambda cid=cid, unit=unit: b.claim(cid, unit, "unit:clerk-b", at=T0),
            ]
        )
        assert wins == 1, errors
        assert len(errors) == 1 and isinstance(errors[0], ConcurrencyConflict | IllegalTransition)
        conflicts += isinstance(errors[0], ConcurrencyConflict)
        assert _claims(a, cid) == 1
    # Both writers load before either saves most of the time: the store's version check,
    # not the status check, is what refuses the loser.
    assert conflicts > 0


def test_resolve_racing_a_return_leaves_one_outcome(
    writers: tuple[SanshiApplication, SanshiApplication],
) -> None:
    a, b = writers
    for _ in range(ROUNDS // 2):
        cid = build(a, Status.CLAIMED)
        unit = a.get_case(cid).assigned_unit
        assert unit is not None
        wins, errors = race(
            [
                lambda cid=cid, unit=unit: a.resolve(cid, unit, "已修复", "unit:clerk-a", at=T0),
                lambda cid=cid, unit=unit: b.return_case(
                    cid, unit, "不属于本单位", "unit:clerk-b", at=T0
                ),
            ]
        )
        assert wins == 1 and len(errors) == 1 and isinstance(errors[0], DomainError)
        names = [type(e).__name__ for e in a.events.get(cid)]
        assert ("Resolved" in names) != ("Returned" in names)


def test_stale_write_is_refused_by_the_store(
    writers: tuple[SanshiApplication, SanshiApplication],
) -> None:
    """Deterministic form of the race: both load version N, both write N+1."""
    a, b = writers
    cid = build(a, Status.DISPATCHED)
    case_a, case_b = a.get_case(cid), b.get_case(cid)
    unit = case_a.assigned_unit
    assert unit is not None
    case_a.claim(unit=unit, principal="unit:a", at=T0)
    case_b.claim(unit=unit, principal="unit:b", at=T0)
    a._save(case_a)
    with pytest.raises(ConcurrencyConflict):
        b._save(case_b)
    assert _claims(a, cid) == 1
