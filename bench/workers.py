"""Intake through 1, 2 and 3 ``sanshi worker`` processes in one consumer group, keyed by place
(adapters/transport/placement.py): records a second, as ratios to one worker, side by side.

Each run: a fresh PostgreSQL database and topic prefix; the workers are started (the real CLI,
the default router, ``--no-projections`` as bench/intake.py) and wait until the partitions are
shared out; then the first ``--records`` of the peak-day stream are published through
``KafkaIntake`` with place keys, and the clock runs from the first send until every case of the
stream is in the log. Runs alternate (1, 2, 3, 1, 2, 3, ...) so that a load change on the shared
machine hits every count alike. Also reported: how the stream's records fall over the
partitions (the place keys' spread).

    python -m bench.workers [--records 3000] [--rounds 2] [--partitions 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from adapters.channels import Parsed
from adapters.transport.kafka import KafkaIntake, KafkaSettings
from adapters.transport.placement import PlaceKeys, partition_of
from bench.common import Services, events_table, psycopg_dsn, stream_batches
from engine.config import load_config
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand

REPO = Path(__file__).resolve().parents[1]
HOLDING = re.compile(r"holding the places of partitions \[([\d, ]*)\] of (\d+)")


def _env(db_url: str, kafka: str, prefix: str, partitions: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    env.update(
        SANSHI_DB=db_url, SANSHI_KAFKA=kafka, SANSHI_KAFKA_PREFIX=prefix,
        SANSHI_KAFKA_PARTITIONS=str(partitions), SANSHI_LOG_LEVEL="INFO",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _received(db_url: str) -> int:
    with psycopg.connect(psycopg_dsn(db_url)) as conn:
        table = events_table(conn)
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE topic = 'engine.domain:Case.Received'"
        ).fetchone()
        return int(row[0]) if row else 0


def warm_up_items(partitions: int) -> list[Parsed]:
    """One record per partition, at a locality that partition carries: every worker loads its
    models on it before the clock starts (the first decision waits for them)."""
    config = load_config()
    keys = PlaceKeys(config)
    items = []
    for p in range(partitions):
        loc = sorted(keys.localities_in([p], partitions))[0]
        cmd = IntakeCommand(
            channel=Channel.HOTLINE, source_ref=f"WARM-{p}", content="路灯不亮",
            address=f"北海市海城区{config.unit(loc).name}",
            received_at=dt.datetime(2026, 1, 1, 9, tzinfo=SHANGHAI),
        )
        assert keys.locality_of(cmd) == loc, (loc, keys.locality_of(cmd))
        items.append(Parsed(cmd, f"warm:{p}"))
    return items


def one_run(services: Services, workers: int, n: int, partitions: int, folder: Path) -> dict[str, Any]:
    db_url = services.new_database(f"w{workers}")
    prefix = f"bw{uuid.uuid4().hex[:8]}."
    env = _env(db_url, services.kafka_bootstrap, prefix, partitions)
    logs = [folder / f"{prefix}{i}.log" for i in range(workers)]
    procs = []
    for i, log in enumerate(logs):
        with open(log, "ab") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-c", "from adapters.cli import main; main()", "worker",
                 "--clock-interval", "0",
                 "--no-projections", "--instance-id", f"{prefix}{i}"],
                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            ))
    try:
        deadline = time.monotonic() + 300
        while True:  # every worker holds a share, and the shares cover the partitions
            held = [HOLDING.findall(log.read_text(errors="replace")) for log in logs]
            last = [{int(p) for p in h[-1][0].split(",") if p.strip()} if h else set() for h in held]
            if all(last) and set().union(*last) == set(range(partitions)) and sum(map(len, last)) == partitions:
                break
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError(f"workers did not share the partitions: {last}")
            time.sleep(0.3)
        settings = KafkaSettings.from_env(
            services.kafka_bootstrap,
            {"SANSHI_KAFKA_PREFIX": prefix, "SANSHI_KAFKA_PARTITIONS": str(partitions)},
        )
        intake = KafkaIntake(settings, places=PlaceKeys(load_config()))
        warm = warm_up_items(partitions)
        intake.send(warm)
        while _received(db_url) < len(warm):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError("warm-up records not applied")
            time.sleep(0.2)
        ids: set[Any] = set()
        t0 = time.perf_counter()
        for batch in stream_batches(n, 500):
            intake.send(batch)
            ids.update(p.command.case_id for p in batch)
        intake.close()
        published = time.perf_counter() - t0
        while _received(db_url) < len(ids) + len(warm):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited")
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=120)
        services.drop(db_url)
    stats = []
    for log in logs:  # the worker's last line: its totals
        lines = [x for x in log.read_text(errors="replace").splitlines() if x.startswith("{")]
        stats.append(json.loads(lines[-1]) if lines else {})
    return {"workers": workers, "cases": len(ids), "seconds": seconds, "published": published,
            "per_second": len(ids) / seconds, "load": os.getloadavg()[0], "stats": stats}


def spread(n: int, partitions: int) -> Counter[int]:
    keys = PlaceKeys(load_config())
    return Counter(
        partition_of(keys.key_of(p.command), partitions) for b in stream_batches(n, 500) for p in b
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--counts", default="1,2,3")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    shares = spread(args.records, args.partitions)
    print(f"records per partition ({args.partitions} partitions): {dict(sorted(shares.items()))}")
    results: dict[int, list[dict[str, Any]]] = {c: [] for c in counts}
    with Services() as services, tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for c in counts:
                r = one_run(services, c, args.records, args.partitions, Path(tmp))
                results[c].append(r)
                print(f"{c} worker(s): {r['cases']} cases in {r['seconds']:.1f}s "
                      f"({r['per_second']:.0f}/s, published in {r['published']:.1f}s, load {r['load']:.1f}) "
                      f"{[{k: v for k, v in st.items() if k != 'polls'} for st in r['stats']]}",
                      flush=True)
    base = statistics.median(r["per_second"] for r in results[counts[0]])
    print("\n| workers | cases/s, median (runs) | ratio to 1 worker |")
    print("|---:|---:|---:|")
    for c in counts:
        rates = [r["per_second"] for r in results[c]]
        med = statistics.median(rates)
        print(f"| {c} | {med:.0f} ({', '.join(f'{x:.0f}' for x in rates)}) | {med / base:.2f} |")


if __name__ == "__main__":
    main()
