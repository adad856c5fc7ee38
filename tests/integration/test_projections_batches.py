"""How the projector sizes its batches: live catch-up in short transactions, a backlog (a
rebuild, a catch-up after a pause) in big ones on PostgreSQL, SQLite always short; and the GC
thresholds it raises while it works through a backlog are given back."""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

import pytest

from projections.projector import Projector
from projections.tables import make_engine
from tests.integration.test_projections_rebuild import BYS, write_log
from tests.support.fold_oracle import (
    LAMP,
    assert_stats_match,
    expected_stats,
    intake,
    make_runtime,
)


def batch_sizes(projector: Projector) -> list[int]:
    sizes: list[int] = []
    projector.catch_up(progress=lambda _last, n: sizes.append(n))
    return sizes


def test_sqlite_keeps_short_batches_through_a_backlog(tmp_path: Path) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path / 'sanshi.db'}")
    try:
        write_log(rt, cases=40)
        projector = Projector(rt.app, make_engine(f"sqlite:///{tmp_path / 'sanshi.db'}"), batch_size=25)
        projector.ensure_schema()
        assert projector.backlog_batch_size == 25
        projector.reset()
        sizes = batch_sizes(projector)
        assert max(sizes) == 25 and sum(sizes) == projector.head()
        projector.engine.dispose()
    finally:
        rt.close()


def backlog_then_live(url: str) -> None:
    rt = make_runtime(url)
    try:
        write_log(rt, cases=60)
        head = rt.projector.head()
        projector = Projector(rt.app, make_engine(url), batch_size=20, backlog_batch_size=150)
        projector.ensure_schema()
        projector.reset()
        thresholds = gc.get_threshold()
        sizes = batch_sizes(projector)
        # The first read comes back full: a backlog, so the rest goes in big batches.
        assert sizes[0] == 20 and max(sizes[1:]) == 150 and sum(sizes) == head
        assert gc.get_threshold() == thresholds
        events = [rt.app.mapper.to_domain_event(n) for n in rt.app.recorder.select_notifications(None, 10**9)]
        from projections.queries import ReadModel

        rm = ReadModel(projector.engine, rt.config)
        for by in BYS:
            assert_stats_match(rm.stats(by), expected_stats(events, by))
        # Live: a few new events, one short batch.
        for n in range(3):
            rt.app.receive(intake(LAMP.format(n=n), f"茶亭路{n}号"))
        new = batch_sizes(projector)
        assert len(new) == 1 and 3 <= new[0] < 20
        projector.engine.dispose()
    finally:
        rt.close()


def test_a_backlog_goes_in_big_batches_with_the_same_numbers(tmp_path: Path) -> None:
    backlog_then_live(f"sqlite:///{tmp_path / 'sanshi.db'}")


@pytest.mark.postgres
def test_postgres_defaults_to_big_batches_for_a_backlog(fresh_postgres_url: str) -> None:
    backlog_then_live(fresh_postgres_url)
    rt = make_runtime(fresh_postgres_url)
    try:
        assert rt.projector.backlog_batch_size == 10_000
        assert rt.projector.batch_size == 1000
    finally:
        rt.close()


def test_the_gc_thresholds_are_restored_after_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path / 'sanshi.db'}")
    try:
        write_log(rt, cases=30)
        projector = Projector(rt.app, make_engine(f"sqlite:///{tmp_path / 'sanshi.db'}"), batch_size=10, backlog_batch_size=50)
        projector.ensure_schema()
        projector.reset()
        thresholds = gc.get_threshold()
        seen: list[tuple[int, int, int]] = []

        def fail(*_args: object) -> None:
            seen.append(gc.get_threshold())
            # A fault of the database (an event's own fault would be set aside instead).
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(projector, "_apply_batch", fail)
        with pytest.raises(sqlite3.OperationalError):
            projector.catch_up()
        assert seen and seen[0][0] > thresholds[0]
        assert gc.get_threshold() == thresholds
        projector.engine.dispose()
    finally:
        rt.close()
