"""Projections on PostgreSQL: catch-up over a log the views have not seen, and a full rebuild,
against a raw ``SELECT`` of the same event rows (psycopg, one query, every row fetched) run in
the same process right after. Target: ratio >= 0.30.

Runs on a database an intake run filled (the worker had projections off, so the views start at
position 0 and the catch-up applies the whole log, as ``sanshi worker`` does after a pause).
Both use the runtime's projector as the worker and ``sanshi projections follow`` have it: 1,000
events a transaction until a read comes back full, then ``backlog_batch_size`` (10,000 on
PostgreSQL, what ``sanshi projections rebuild`` uses).

    python -m bench.projections --db URL --reset-views   # a filled database: catch-up from 0 too

    python -m bench.projections [--records 20000] [--cipher-key KEY]

With ``--cipher-key`` (base64 of 16/24/32 bytes) the log is written and the views rebuilt under
that SANSHI_CIPHER_KEY: events decrypted, the views' text sealed (compare with a run without).
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import psycopg

from bench.common import (
    Result,
    Services,
    Timer,
    events_table,
    higher_is_better,
    print_table,
    psycopg_dsn,
    runtime_for,
)

TARGET = 0.30


def raw_select(db_url: str, repeats: int = 3) -> dict[str, Any]:
    """SELECT every event row in log order, fetched to Python (the read half of a projection)."""
    times = []
    rows = 0
    with psycopg.connect(psycopg_dsn(db_url)) as conn:
        table = events_table(conn)
        for _ in range(repeats):
            with Timer() as t, conn.cursor(name="bench_raw_select") as cur:
                # server-side cursor: every row reaches Python, a million at a time never does
                cur.itersize = 10_000
                cur.execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state "
                    f"FROM {table} ORDER BY notification_id"
                )
                rows = sum(1 for _ in cur)
            conn.commit()
            times.append(t.seconds)
    return {"rows": rows, "seconds": statistics.median(times)}


def measure(db_url: str, reset_views: bool = False) -> list[Result]:
    """Catch-up from the current position (from 0 with ``reset_views``), then a full rebuild;
    each against a raw SELECT measured right after it."""
    # Worker mode: nothing catches up on its own. The keyword router: the default one starts
    # embedding every open case for its duplicate index in a background thread at start-up
    # (seconds of a core: bench/RESULTS.md), which shared the CPU with what is measured here.
    runtime = runtime_for(db_url, kafka="bench", router="keyword")
    projector = runtime.projector
    try:
        if reset_views:
            projector.reset()
        lag = projector.lag()
        with Timer() as catch:
            applied = projector.catch_up()
        raw_after_catch = raw_select(db_url)
        with Timer() as rebuild:
            rebuilt = projector.rebuild()
        raw_after_rebuild = raw_select(db_url)
    finally:
        runtime.close()
    events = raw_after_catch["rows"]
    results = []
    keyed = bool(runtime.settings.cipher_key)
    if applied:
        results.append(higher_is_better(
            "projections", "catch-up (PG, key)" if keyed else "catch-up (PG)", applied / catch.seconds,
            raw_after_catch["rows"] / raw_after_catch["seconds"], "events/s", TARGET,
            events=applied, lag_before=lag, seconds=round(catch.seconds, 2),
            raw_select_seconds=round(raw_after_catch["seconds"], 3)))
    results.append(higher_is_better(
        "projections", "full rebuild (PG, key)" if keyed else "full rebuild (PG)",
        rebuilt / rebuild.seconds,
        raw_after_rebuild["rows"] / raw_after_rebuild["seconds"], "events/s", TARGET,
        events=rebuilt, log_events=events, seconds=round(rebuild.seconds, 2),
        raw_select_seconds=round(raw_after_rebuild["seconds"], 3)))
    return results


def run(services: Services, n: int) -> list[Result]:
    """Fill a database through the intake path (bench.intake), then measure."""
    import os
    import time

    from bench.intake import drain, publish

    db = services.new_database("proj")
    prefix = f"benchp{os.getpid()}{int(time.time())}."
    publish(services.kafka_bootstrap, prefix, n)
    drain(db, services.kafka_bootstrap, prefix, n)
    results = measure(db)
    services.drop(db)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--db", help="measure on this database (already filled) instead")
    ap.add_argument("--cipher-key", help="SANSHI_CIPHER_KEY for the whole run (base64)")
    ap.add_argument("--reset-views", action="store_true",
                    help="with --db: empty the views first, so that the catch-up is measured too")
    args = ap.parse_args(argv)
    if args.cipher_key:
        import os

        os.environ["SANSHI_BENCH_CIPHER_KEY"] = args.cipher_key  # read by bench.common
    if args.db:
        results = measure(args.db, reset_views=args.reset_views)
    else:
        with Services(kafka=True) as services:
            results = run(services, args.records)
    print_table(results)
    print(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
