"""The long run: up to a million records through Kafka and ``sanshi worker`` (projections on,
as deployed), publishing and consuming at the same time, with the worker's memory sampled.

The worker runs in its own process (the real ``Worker`` loop on a runtime from
``adapters.bootstrap``) so its resident set is its own; it prints one JSON line per checkpoint.
Target: RSS at the end <= 1.2x RSS after the first 100,000 cases. The database it leaves
(events and views of every case) is what bench.stats and bench.projections measure "at scale".

    python -m bench.memory [--records 1000000] [--router keyword]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    Result,
    Services,
    lower_is_better,
    print_table,
    router_name,
    rss_mb,
    runtime_for,
)

CHECKPOINT = 50_000
REFERENCE = 100_000  # "after the first 100k"


# ---- the worker process ------------------------------------------------------------------------


def worker_main(db: str, bootstrap: str, prefix: str, records: int, router: str,
                every: int) -> None:
    from adapters.transport.kafka import KafkaSettings
    from adapters.transport.worker import Worker, WorkerOptions

    settings = KafkaSettings.from_env(bootstrap, {"SANSHI_KAFKA_PREFIX": prefix})
    runtime = runtime_for(db, kafka=bootstrap, router=router)

    class Sampled(Worker):
        seen = 0
        next_mark = every
        started: float | None = None

        def process(self, batch: dict[Any, list[Any]]) -> None:
            if self.started is None:
                self.started = time.perf_counter()
                emit({"event": "first_poll"})
            super().process(batch)
            self.seen += sum(len(v) for v in batch.values())
            if self.seen >= self.next_mark or self.seen >= records:
                self.next_mark += every
                projector = runtime.projector
                emit({"event": "checkpoint", "records": self.seen, "rss_mb": round(rss_mb(), 1),
                      "seconds": round(time.perf_counter() - self.started, 2),
                      "projection_lag": projector.lag() if projector else None})
            if self.seen >= records:
                self.stop()

    def emit(body: dict[str, Any]) -> None:
        print(json.dumps(body), flush=True)

    worker = Sampled(runtime, settings, WorkerOptions(clock_interval=0, projections=True))
    worker.run(max_seconds=6 * 3600)
    started = worker.started or time.perf_counter()
    intake_seconds = time.perf_counter() - started
    projector = runtime.projector
    t0 = time.perf_counter()
    projector.catch_up()  # what the worker would do on its next idle loop
    gc.collect()
    emit({"event": "done", "records": worker.seen, "rss_mb": round(rss_mb(), 1),
          "seconds": round(intake_seconds, 2), "final_catch_up_seconds":
          round(time.perf_counter() - t0, 2), "counts": dict(worker.stats.counts),
          "router": router_name(runtime)})
    runtime.close()


# ---- the driver -----------------------------------------------------------------------------


def run(services: Services, n: int, router: str = "keyword",
        keep_db: bool = True) -> tuple[list[Result], str, dict[str, Any]]:
    """Publish ``n`` records while the worker process consumes them. Returns the results, the
    database (kept for stats/projections at scale) and the raw samples."""
    from bench.intake import publish

    db = services.new_database("big")
    prefix = f"benchm{os.getpid()}{int(time.time())}."
    from bench.common import ensure_stream

    ensure_stream(n)  # made (or found) outside every clock
    every = min(CHECKPOINT, max(1, n // 10))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.memory", "--worker", "--db", db, "--kafka",
         services.kafka_bootstrap, "--prefix", prefix, "--records", str(n), "--router", router,
         "--every", str(every)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    samples: list[dict[str, Any]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                samples.append(json.loads(line))
                sys.stderr.write(f"[memory] {line}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    t0 = time.perf_counter()
    try:
        publish_seconds, _ = publish(services.kafka_bootstrap, prefix, n)
        code = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: do not leave the worker behind
            proc.terminate()
            proc.wait(timeout=30)
    reader.join(timeout=10)
    wall = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"worker process failed ({code})")
    done = next(s for s in samples if s["event"] == "done")
    marks = [s for s in samples if s["event"] == "checkpoint"]
    # "after the first 100k" (half the run when the run is shorter than 200k)
    ref = next((s for s in marks if s["records"] >= min(REFERENCE, max(1, n // 2))), marks[0])
    info = {"records": done["records"], "router": done["router"], "counts": done["counts"],
            "publish_seconds": round(publish_seconds, 1),
            "worker_seconds": done["seconds"], "wall_seconds": round(wall, 1),
            "peak_day_minutes_at_this_rate": round(210_000 / (n / wall) / 60, 1),
            "final_catch_up_seconds": done["final_catch_up_seconds"],
            "samples": [{k: s[k] for k in ("records", "rss_mb", "seconds", "projection_lag")}
                        for s in marks]}
    results = [
        lower_is_better("memory", f"worker RSS at {done['records']:,} vs at {ref['records']:,}",
                        done["rss_mb"], ref["rss_mb"], "MB", 1.2, **info),
    ]
    if not keep_db:
        services.drop(db)
    return results, db, info


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--router", choices=("default", "keyword"), default="keyword")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--kafka", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--every", type=int, default=CHECKPOINT, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(args.db, args.kafka, args.prefix, args.records, args.router, args.every)
        return
    with Services(kafka=True) as services:
        results, _, _ = run(services, args.records, args.router, keep_db=False)
    print_table(results)
    payload = [r.to_dict() for r in results]
    print(json.dumps(payload, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
