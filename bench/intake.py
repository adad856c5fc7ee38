"""Intake: a Beijing peak day published to Kafka, consumed by ``sanshi worker``, routed and
stored as cases in PostgreSQL, against two baselines run in the same process right after:

- raw psycopg ``executemany`` of the very event rows our run stored, in one transaction, into
  an identical table (the limit of the database: target ratio >= 0.25);
- Kafka's own producer (``org.apache.kafka.tools.ProducerPerformance``) sending the very
  messages our publish path sent (the limit of the broker, for the publish half).

Our path is the real one: ``KafkaIntake.send`` (what ``sanshi ingest`` and HTTP use with
SANSHI_KAFKA set), then the real ``Worker`` loop (poll → ``receive_batch`` → commit), with the
runtime from ``adapters.bootstrap``. Projections are off here (measured in projections.py);
the deadline clock is off (nothing is due on the day of intake).

    python -m bench.intake [--records 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from adapters.transport.kafka import BATCH_LINGER_MS, KafkaIntake, KafkaSettings
from adapters.transport.worker import Worker, WorkerOptions
from bench.common import (
    Result,
    Services,
    Timer,
    events_table,
    higher_is_better,
    print_table,
    psycopg_dsn,
    router_name,
    runtime_for,
    stream_batches,
    stream_lines,
)
from tests.support.services import java_bin, kafka_libs

PUBLISH_BATCH = 500  # what `sanshi ingest` hands the port at a time


class TimedWorker(Worker):
    """The real worker, noting when it started and finished applying polls."""

    first: float | None = None
    last: float = 0.0
    cases_seen: int = 0

    def process(self, batch: dict[Any, list[Any]]) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        super().process(batch)
        self.cases_seen += sum(len(v) for v in batch.values())

    def _commit(self) -> None:
        super()._commit()
        self.last = time.perf_counter()


def publish(bootstrap: str, prefix: str, n: int) -> tuple[float, list[bytes]]:
    """Our publish path: KafkaIntake.send, 500 records at a time. Returns (seconds, the message
    values sent, for the producer baseline)."""
    settings = KafkaSettings.from_env(bootstrap, {"SANSHI_KAFKA_PREFIX": prefix})
    intake = KafkaIntake(settings)
    _ = intake.producer  # connect and create the topics outside the clock
    values: list[bytes] = []
    seconds = 0.0
    try:
        for batch in stream_batches(n, PUBLISH_BATCH):
            t0 = time.perf_counter()
            outcomes = intake.send(batch)
            seconds += time.perf_counter() - t0
            failed = [o for o in outcomes if o.status != "queued"]
            if failed:
                raise RuntimeError(f"publish failed: {failed[0]}")
            values.extend(p.command.model_dump_json().encode() for p in batch[:200])
    finally:
        intake.close()
    return seconds, values


def drain(db_url: str, bootstrap: str, prefix: str, n: int,
          options: WorkerOptions | None = None, router: str = "default") -> dict[str, Any]:
    """Run the real worker until it has applied all ``n`` records."""
    settings = KafkaSettings.from_env(bootstrap, {"SANSHI_KAFKA_PREFIX": prefix})
    runtime = runtime_for(db_url, kafka=bootstrap, router=router)
    name = router_name(runtime)
    opts = options or WorkerOptions(clock_interval=0, projections=False)
    worker = TimedWorker(runtime, settings, opts)
    t0 = time.perf_counter()
    try:
        worker.run(idle_exit=1.0, max_seconds=3600)
    finally:
        runtime.close()
    counts = dict(worker.stats.counts)
    applied = worker.cases_seen
    if applied < n:
        raise RuntimeError(f"worker applied {applied} of {n} records: {counts}")
    start = worker.first or t0
    return {
        "seconds": worker.last - start,
        "join_seconds": start - t0,
        "polls": worker.stats.polls,
        "counts": counts,
        "router": name,
    }


def require_empty(db_url: str) -> None:
    """An external SANSHI_BENCH_PG is used as it is: if it holds events already, every record
    of the stream would be a duplicate (nothing routed) and the baseline would copy rows that
    are not this run's, so both numbers would be wrong, and the run would leave its cases in
    someone else's database. Refuse before writing anything."""
    with psycopg.connect(psycopg_dsn(db_url)) as conn:
        try:
            table = events_table(conn)
        except RuntimeError:
            return  # no events table yet: empty
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    if count and count[0]:
        raise SystemExit(
            f"bench.intake: {db_url.rsplit('@', 1)[-1]} already holds {count[0]} events in {table}; "
            "the intake bench needs an empty database (unset SANSHI_BENCH_PG to let it start "
            "its own PostgreSQL, or point it at an empty database)"
        )


def raw_insert_baseline(db_url: str, repeats: int = 3) -> dict[str, Any]:
    """executemany of the rows our run stored, in one transaction, into an identical table."""
    with psycopg.connect(psycopg_dsn(db_url)) as conn:
        table = events_table(conn)
        rows = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {table} "
            "ORDER BY notification_id"
        ).fetchall()
        conn.commit()
        times = []
        for i in range(repeats):
            copy = f"bench_raw_{table}_{i}"
            conn.execute(f"DROP TABLE IF EXISTS {copy}")
            conn.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
            conn.commit()
            with Timer() as t, conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {copy} (originator_id, originator_version, topic, state) "
                    "VALUES (%s, %s, %s, %s)",
                    rows,
                )
                conn.commit()
            times.append(t.seconds)
            conn.execute(f"DROP TABLE {copy}")
            conn.commit()
    return {"rows": len(rows), "seconds": statistics.median(times), "all": times}


PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


def producer_baseline(bootstrap: str, topic: str, n: int, values: list[bytes]) -> dict[str, Any]:
    """Kafka's ProducerPerformance with our producer's settings, sending our messages."""
    with tempfile.NamedTemporaryFile("wb", suffix=".payloads", delete=False) as f:
        f.write(b"\n".join(values))
        payloads = f.name
    cmd = [
        java_bin(), "-Xmx512m", "-cp", f"{kafka_libs()}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(n), "--throughput", "-1",
        "--payload-file", payloads, "--payload-delimiter", "\n",
        "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        # The settings of the intake's batch producer, which publishes a file
        # (adapters/transport/kafka.py, rdkafka.py), and librdkafka's default batch size.
        "enable.idempotence=false", "max.in.flight.requests.per.connection=1",
        f"linger.ms={BATCH_LINGER_MS}", "batch.size=1000000",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(payloads)
    matches = PERF_LINE.findall(proc.stdout)
    if proc.returncode != 0 or not matches:
        raise RuntimeError(f"ProducerPerformance failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    sent, rate, mb = matches[-1]
    return {"records": int(sent), "records_per_s": float(rate), "mb_per_s": float(mb)}


def run(services: Services, n: int, router: str = "default",
        producer: bool = True) -> list[Result]:
    results, db = run_keeping(services, n, router, producer)
    services.drop(db)
    return results


def run_keeping(services: Services, n: int, router: str = "default",
                producer: bool = True) -> tuple[list[Result], str]:
    """As :func:`run`, and the database is left for the projection and stats benches."""
    db = services.new_database(f"intake_{router}")
    require_empty(db)
    prefix = f"bench{os.getpid()}{int(time.time())}."
    bootstrap = services.kafka_bootstrap
    list(stream_lines(n))  # make the stream (cached) outside every clock

    pub_seconds, values = publish(bootstrap, prefix, n)
    worker = drain(db, bootstrap, prefix, n, router=router)
    raw = raw_insert_baseline(db)
    perf = producer_baseline(bootstrap, prefix + "perf", n, values) if producer else None
    events = raw["rows"]
    ours_events_s = events / worker["seconds"]
    e2e_seconds = pub_seconds + worker["seconds"]
    raw_events_s = events / raw["seconds"]
    detail = {
        "router": worker["router"],
        "records": n,
        "events": events,
        "publish_seconds": round(pub_seconds, 2),
        "worker_seconds": round(worker["seconds"], 2),
        "worker_counts": worker["counts"],
        "polls": worker["polls"],
        "raw_insert_seconds": round(raw["seconds"], 3),
        "peak_day_minutes_at_this_rate": round(210_000 / (n / worker["seconds"]) / 60, 1),
    }
    who = worker["router"]
    results = [
        higher_is_better("intake", f"worker: Kafka → routed cases in PG ({who})", ours_events_s,
                         raw_events_s, "events/s", 0.25,
                         cases_per_s=round(n / worker["seconds"], 1), **detail),
        higher_is_better("intake", f"publish + worker, one after the other ({who})",
                         events / e2e_seconds, raw_events_s, "events/s", None,
                         seconds=round(e2e_seconds, 2)),
    ]
    if perf is not None:
        results.append(higher_is_better(
            "intake", "publish (KafkaIntake.send) vs ProducerPerformance", n / pub_seconds,
            perf["records_per_s"], "records/s", None, producer_performance=perf))
    return results, db


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--router", choices=("default", "keyword"), default="default")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    with Services(kafka=True) as services:
        results = run(services, args.records, router=args.router)
    print_table(results)
    payload = [r.to_dict() for r in results]
    print(json.dumps(payload, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
