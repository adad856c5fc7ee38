"""bench.api's wrk runs: a run in which not one request completed is run again, longer, instead
of becoming a baseline of 0 (ci18: /healthz completed nothing in 2 s on a busy machine, and the
smoke test's ratio had nothing to divide by); and the PostgreSQL log counts of `--log-lock-waits`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import api


def test_a_run_that_completed_nothing_is_run_again_for_longer(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[float] = []

    def once(url: str, script: str, seconds: float, connections: int) -> dict[str, Any]:
        asked.append(seconds)
        done = 0 if len(asked) < 3 else 40
        return {"requests": done, "seconds": seconds, "rps": done / seconds}

    monkeypatch.setattr(api, "_run_wrk_once", once)
    out = api.run_wrk("http://127.0.0.1:1/healthz", "", 1.0, 16)
    assert asked == [1.0, 4.0, 8.0]
    assert out["requests"] == 40


def test_it_gives_up_after_sixteen_seconds_and_says_nothing_completed(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[float] = []

    def once(url: str, script: str, seconds: float, connections: int) -> dict[str, Any]:
        asked.append(seconds)
        return {"requests": 0, "seconds": seconds, "rps": 0.0}

    monkeypatch.setattr(api, "_run_wrk_once", once)
    assert api.run_wrk("http://127.0.0.1:1/healthz", "", 2.0, 16)["requests"] == 0
    assert asked == [2.0, 4.0, 8.0, 16.0]


def test_lock_waits_and_slow_statements_are_counted_from_postgres_log(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(
        "2026-12-05 04:19:59.247 UTC [27044] LOG:  process 27044 still waiting for ExclusiveLock"
        " on relation 16390 of database 16385 after 10.085 ms\n"
        "2026-12-05 04:19:59.247 UTC [27044] DETAIL:  Process holding the lock: 28059.\n"
        "2026-12-05 04:19:59.250 UTC [27044] LOG:  process 27044 acquired ExclusiveLock on"
        " relation 16390 of database 16385 after 13.2 ms\n"
        "2026-12-05 04:19:59.251 UTC [27044] LOG:  duration: 31.2 ms  execute <unnamed>: SELECT 1\n",
        encoding="utf-8",
    )
    assert api.lock_wait_counts(log) == {"lock_waits_over_10ms": 1, "statements_over_20ms": 1}
