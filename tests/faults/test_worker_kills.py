"""The Kafka worker SIGKILLed at random points during an intake: nothing lost, nothing doubled,
and the views it kept equal a replay of the log.

Short (CI): 1,500 records, 3 kills. Long (SANSHI_FAULTS_LONG=1): 100,000 records, 10 kills.
``sanshi ingest`` processes publish while the worker applies and is killed; each kill lands at
a random moment after the worker has made progress since its last start.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import bootstrap
from adapters.transport import dead_letter_store
from engine.settings import Settings
from tests.faults.support import (
    LONG,
    WorkerProcess,
    assert_each_once,
    assert_views_equal_rebuild,
    cli_env,
    count_received_pg,
    make_corpus,
    received_counts,
    run_ingest,
    size,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

RECORDS = size(1_500, 100_000)
KILLS = size(3, 10)


def test_worker_killed_at_random_points_loses_nothing_and_doubles_nothing(
    kafka_bootstrap: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    seed = 9001 if not LONG else 9100
    rng = random.Random(seed)
    corpus = make_corpus(tmp_path, RECORDS, seed=seed)
    prefix = f"fk{uuid.uuid4().hex[:8]}."
    env = cli_env(fresh_postgres_url, kafka_bootstrap, prefix)
    # kafka set: this runtime only reads (no projection catch-up of its own).
    runtime = bootstrap(
        Settings(db=fresh_postgres_url, kafka=kafka_bootstrap, config_path=None, cipher_key=None)
    )
    table = runtime.app.recorder.events_table_name  # type: ignore[attr-defined]
    worker = WorkerProcess(env, tmp_path / "worker.log", f"{prefix}w")
    reports: list[dict[str, Any]] = []
    publish_errors: list[BaseException] = []

    def publish() -> None:
        try:
            for channel, path in corpus.files:
                reports.append(run_ingest(env, channel, path))
        except BaseException as e:  # reported by the main thread
            publish_errors.append(e)

    expected = len(corpus.expected)
    started = time.monotonic()
    publisher = threading.Thread(target=publish, daemon=True)
    try:
        worker.start()
        publisher.start()
        # Kill points: random fractions of the intake, a random delay after reaching each.
        for fraction in sorted(rng.uniform(0.05, 0.95) for _ in range(KILLS)):
            target = int(fraction * expected)
            wait_for(
                lambda t=target: count_received_pg(fresh_postgres_url, table) >= t,  # type: ignore[misc]
                timeout=size(600, 7200), what=f"{target} cases received", every=0.2,
                check=worker.check,
            )
            time.sleep(rng.uniform(0.0, 0.6))
            worker.kill()
            worker.start()
        publisher.join(timeout=size(1800, 4 * 3600))
        assert not publish_errors, publish_errors
        assert not publisher.is_alive(), "publishing did not finish"
        wait_for(
            lambda: count_received_pg(fresh_postgres_url, table) >= expected,
            timeout=size(1800, 4 * 3600), what="every case received", every=0.5,
            check=worker.check,
        )
        applied = time.monotonic()
        worker.drain()
    finally:
        worker.stop()
    try:
        totals = {
            k: sum(r[k] for r in reports)
            for k in ("queued", "duplicate", "filtered", "dead_lettered", "failed")
        }
        # Every record accounted for once by the publishers.
        assert totals["failed"] == 0
        assert sum(totals.values()) == corpus.records
        assert totals["filtered"] == corpus.filtered
        assert totals["dead_lettered"] == corpus.broken
        assert totals["queued"] + totals["duplicate"] == expected + corpus.duplicates
        # Each case exactly once in the log, whatever the kills did.
        assert_each_once(received_counts(runtime.app), corpus.expected)
        assert dead_letter_store(runtime).count() == corpus.broken
        # The views the killed-and-restarted worker kept equal a fresh replay of the log.
        events = assert_views_equal_rebuild(
            runtime.app, runtime.views_engine, tmp_path
        )
    finally:
        runtime.close()
    assert worker.kills == KILLS
    print(
        f"\nworker kills: {RECORDS:,} records ({expected:,} cases, {corpus.duplicates} re-sent, "
        f"{corpus.filtered} filtered, {corpus.broken} broken) through Kafka into PostgreSQL, "
        f"{worker.kills} SIGKILLs, applied in {applied - started:.1f}s; 0 lost, 0 doubled; "
        f"views equal a replay of {events:,} events"
    )
