"""bench.api's wrk runs: a run in which not one request completed is run again, longer, instead
of becoming a baseline of 0 (ci18: /healthz completed nothing in 2 s on a busy machine, and the
smoke test's ratio had nothing to divide by)."""

from __future__ import annotations

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
