"""Every benchmark in one process, against its baseline run the same minute; a table and JSON.

    python -m bench.run_all            # the full run: ~1M records (see --big), the longest
    python -m bench.run_all --quick    # small sizes, a few minutes: do the benches still work?

Order: intake on ~10k records (keyword router: the ratio, Kafka's ProducerPerformance beside
our publish path), projections and stats on that database; intake with the default router
(bootstrap's); the long run (``--big`` records through Kafka and the worker with projections
on, memory sampled), projections and stats on that database; the API under load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import api, intake, memory, projections, stats
from bench.common import Result, Services, machine, print_table

SIZES = {
    # small = the 10k database (and intake ratio), default = intake with the default router
    "full": {"small": 10_000, "default": 10_000, "big": 1_000_000, "api_seconds": 20.0},
    "quick": {"small": 2_000, "default": 1_000, "big": 6_000, "api_seconds": 3.0},
}


def log(msg: str) -> None:
    print(f"[run_all {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(sizes: dict[str, Any], only: set[str] | None = None,
        services: Services | None = None) -> dict[str, Any]:
    results: list[Result] = []
    info: dict[str, Any] = {"machine": machine(), "sizes": sizes,
                            "load_average_start": os.getloadavg()}
    want = only or {"intake", "default", "big", "api"}
    with services or Services(kafka=True) as services:
        small_stats = None
        if "intake" in want:
            log(f"intake, keyword router, {sizes['small']:,} records")
            rows, small_db = intake.run_keeping(services, sizes["small"], router="keyword")
            results += rows
            log("projections on it")
            results += projections.measure(small_db)
            small_stats = stats.time_queries(small_db)
            services.drop(small_db)
        if "default" in want:
            log(f"intake, default router, {sizes['default']:,} records")
            results += intake.run(services, sizes["default"], router="default", producer=False)
        if "big" in want:
            log(f"long run, {sizes['big']:,} records through Kafka and the worker")
            rows, big_db, big_info = memory.run(services, sizes["big"], router="keyword")
            results += rows
            info["long_run"] = big_info
            log("projections at scale")
            results += [r for r in projections.measure(big_db)]
            if small_stats is not None:
                log("stats at scale")
                results += stats.compare(small_stats, stats.time_queries(big_db))
            services.drop(big_db)
        if "api" in want:
            log("API under load")
            results += api.run(services, seconds=sizes["api_seconds"])
    info["load_average_end"] = os.getloadavg()
    for r in results:
        if r.bench == "projections" and "events" in r.detail:
            r.what += f", {r.detail['events']:,} events"
    return {"info": info, "results": [r.to_dict() for r in results], "_rows": results}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    ap.add_argument("--big", type=int, help="records in the long run (default 1,000,000)")
    ap.add_argument("--small", type=int, help="records in the intake/stats-small run")
    ap.add_argument("--only", action="append",
                    choices=("intake", "default", "big", "api"), help="run only these parts")
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)
    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.big:
        sizes["big"] = args.big
    if args.small:
        sizes["small"] = args.small
    out = run(sizes, set(args.only) if args.only else None)
    rows = out.pop("_rows")
    print_table(rows)
    text = json.dumps(out, ensure_ascii=False, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
