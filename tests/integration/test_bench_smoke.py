"""The benchmarks still run: every bench at a tiny size, on the test services.

Numbers are not asserted (a shared CI machine says nothing about speed); what is asserted is
what a reader of bench/RESULTS.md relies on: every row is there, compares ours against a
baseline measured in the same run, and the work really happened (every record became a case
or a reported duplicate, the views count them, the API created and claimed cases).
"""

from __future__ import annotations

import math

import pytest

from bench import run_all
from bench.common import Services
from tests.support.services import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

TINY = {"small": 300, "default": 60, "big": 600, "api_seconds": 1.0}


def test_every_bench_runs_at_a_tiny_size(pg_server: PostgresServer, kafka_bootstrap: str) -> None:
    with Services(kafka=True, pg=pg_server, kafka_bootstrap=kafka_bootstrap) as services:
        out = run_all.run(TINY, services=services)
    rows = out.pop("_rows")
    benches = {r.bench for r in rows}
    assert benches == {"intake", "projections", "memory", "stats", "api"}
    for r in rows:
        assert r.baseline > 0 and math.isfinite(r.ratio), r
        assert r.ours > 0 or r.bench == "api", r

    worker_rows = [r for r in rows if r.what.startswith("worker:")]
    assert {r.detail["router"] for r in worker_rows} >= {"KeywordRouter"}
    for r in worker_rows:
        counts = r.detail["worker_counts"]
        # every record is accounted for: a case, or a re-sent record reported as a duplicate
        assert counts.get("accepted", 0) + counts.get("duplicate", 0) == r.detail["records"]
        assert r.detail["events"] >= 2 * counts["accepted"]  # received + classified at least

    long_run = out["info"]["long_run"]
    assert long_run["records"] == TINY["big"]
    assert long_run["samples"], "memory was sampled"

    stats_rows = [r for r in rows if r.bench == "stats"]
    assert stats_rows[0].detail["cases_big"] > stats_rows[0].detail["cases_small"] > 0

    api = next(r for r in rows if r.bench == "api" and "requests/s" in r.what)
    assert api.detail["create_claim"]["created"] > 0
    assert api.detail["healthz"]["requests"] > 0
