"""Fuzz the whole path, door to views to rebuild (issue 14; the machine is in ``whole_path``).

Bounded for CI: the same examples every run (``derandomize``), on SQLite in memory at the usual
start date, at a date inside 2027's Spring Festival and in 2031, and a smaller run on
PostgreSQL. ``SANSHI_FAULTS_LONG=1`` makes them bigger; the million-step run is
``python -m tests.faults.fuzz_long``.

Every invariant is strict: a 5xx, a view that stops following the log, an event set aside,
or a rebuild that differs from the live views fails the test with the door and the request.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.faults.support import LONG, size
from tests.faults.whole_path import (
    SPRING_FESTIVAL_2027,
    START,
    YEAR_2031,
    Databases,
    WholePath,
    quiet_logs,
)

pytestmark = pytest.mark.slow
SHRINK = os.environ.get("SANSHI_FUZZ_SHRINK") == "1"


def fuzz_settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=not LONG,  # CI: the same sequences every run
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        # Shrinking a long stateful run took over 5 minutes; the failure message already
        # names the door and the request, and the steps before it are printed.
        # SANSHI_FUZZ_SHRINK=1 shrinks to the fewest steps.
        phases=list(Phase) if SHRINK else [p for p in Phase if p != Phase.shrink],
    )


def machine(start: dt.datetime, databases: Callable[[], Databases] | None = None) -> type[WholePath]:
    attrs: dict[str, object] = {"start": start}
    if databases is not None:
        attrs["databases"] = staticmethod(databases)
    return type(f"WholePath_{start:%Y%m%d}", (WholePath,), attrs)


def run(cls: type[WholePath], examples: int, steps: int) -> None:
    with quiet_logs():
        run_state_machine_as_test(cls, settings=fuzz_settings(examples, steps))


def test_whole_path_on_sqlite() -> None:
    run(machine(START), size(25, 2_000), 40)


@pytest.mark.parametrize("start", [SPRING_FESTIVAL_2027, YEAR_2031], ids=["spring-festival-2027", "2031"])
def test_whole_path_with_the_clock_moved(start: dt.datetime) -> None:
    """Nothing in the path may depend on today's date: the same machine, started at a date
    the holiday package does not know and at one years away."""
    run(machine(start), size(8, 500), 30)


@pytest.mark.postgres
def test_whole_path_on_postgres(pg_server: object) -> None:
    """PostgreSQL refuses what SQLite stores (NUL in text): the live views and the rebuild on
    PostgreSQL, a fresh database pair per example."""

    def databases() -> Databases:
        names = [f"t_fuzz_{uuid.uuid4().hex[:12]}" for _ in range(2)]
        live, rebuild = (pg_server.create_database(n) for n in names)  # type: ignore[attr-defined]

        def cleanup() -> None:
            for n in names:
                pg_server.drop_database(n)  # type: ignore[attr-defined]

        return Databases(live=live, rebuild=rebuild, cleanup=cleanup)

    run(machine(START, databases), size(6, 300), 30)
