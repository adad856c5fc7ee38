"""工单编号 from two writers on one store: each process keeps the day's order book between
batches (engine.intake_batch); a number must still never be issued twice, and none skipped."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from adapters.bootstrap import Runtime, bootstrap
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings

DAY = dt.datetime(2026, 7, 16, 9, 0, tzinfo=SHANGHAI)
_seq = itertools.count(1)


def _record(n: int) -> IntakeCommand:
    return IntakeCommand(
        channel=Channel.HOTLINE,
        source_ref=f"ORD{next(_seq):06d}",
        received_at=DAY + dt.timedelta(minutes=n),
        content=f"咨询第{n}号：社保卡补办需要带什么材料",
        caller_phone="13812345678",
    )


def _interleave(a: Runtime, b: Runtime, n: int) -> list[str]:
    numbers: list[str] = []
    for i in range(n):
        writer = a if i % 3 else b  # uneven turns: each writer's kept book falls behind
        batch = [_record(i * 10 + k) for k in range(1 + i % 2)]
        for result in writer.app.receive_batch(batch, route=False):
            numbers.append(writer.app.get_case(result.case_id).order_no or "")
    return numbers


def _check(db: str) -> None:
    a = bootstrap(Settings.from_env({"SANSHI_DB": db}))
    b = bootstrap(Settings.from_env({"SANSHI_DB": db}))
    try:
        numbers = _interleave(a, b, 24)
    finally:
        a.close()
        b.close()
    assert len(numbers) == 36
    assert len(set(numbers)) == len(numbers), "a 工单编号 was issued twice"
    tails = sorted(int(n[-5:]) for n in numbers)
    assert tails == list(range(tails[0], tails[0] + len(numbers))), "a 工单编号 was skipped"


def test_two_writers_on_sqlite_never_issue_one_number_twice(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'log.db'}")


def test_two_writers_on_postgres_never_issue_one_number_twice(fresh_postgres_url: str) -> None:
    _check(fresh_postgres_url)


def test_a_kept_book_is_not_changed_by_a_save_that_failed(tmp_path: Path) -> None:
    """A re-sent record makes the batch's save fail and be tried again: its number is not used."""
    rt = bootstrap(Settings.from_env({"SANSHI_DB": f"sqlite:///{tmp_path / 'log.db'}"}))
    try:
        first = _record(0)
        rt.app.receive(first, route=False)
        again = [first, _record(1)]
        results = rt.app.receive_batch(again, route=False)
        later = rt.app.receive(_record(2), route=False)
        numbers = [rt.app.get_case(r.case_id).order_no or "" for r in [*results, later]]
    finally:
        rt.close()
    assert results[0].duplicate
    tails = [int(x[-5:]) for x in numbers]
    assert tails[1:] == [tails[0] + 1, tails[0] + 2], numbers
