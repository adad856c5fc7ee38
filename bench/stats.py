"""Stats (docs/rates.md): a month's rates for the district and per unit, on a database of ~10,000
cases against the same query on one of ~1,000,000 (or the largest the run made). The views
keep per-day counters, so the answer should not grow with the number of cases: target growth
<= 2x. A query with two filters (channel + category) is answered from the per-case rows (a scan
of the month's cases) and is reported too, without a target: it does grow.

    python -m bench.stats --small URL --big URL
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import Result, lower_is_better, print_table, runtime_for

MONTH = ("2026-03-01", "2026-04-01")  # the stream starts on 2026-03-02

QUERIES: dict[str, Callable[[Any], Any]] = {
    "district, month": lambda rm: rm.stats(from_=MONTH[0], to=MONTH[1]),
    "per unit, month": lambda rm: rm.stats(by="unit", from_=MONTH[0], to=MONTH[1]),
    "per street, month, channel+category filter (case scan)": lambda rm: rm.stats(
        by="street", from_=MONTH[0], to=MONTH[1],
        filters={"channel": "hotline", "category": "municipal"}),
}
TARGETS = {"district, month": 2.0, "per unit, month": 2.0}


def time_queries(db_url: str, repeats: int = 15) -> dict[str, dict[str, Any]]:
    """Median milliseconds of each query (after one warm-up), and the cases it counted."""
    # No catch-up before reads (views are ready); the keyword router, because the default one
    # embeds every open case for its duplicate index in a background thread at start-up, which
    # took the CPU from the queries being timed (a false "growth": bench/RESULTS.md, Stats).
    runtime = runtime_for(db_url, kafka="bench", router="keyword")
    read_model = runtime.read_model
    out: dict[str, dict[str, Any]] = {}
    try:
        projector = runtime.projector
        if projector.lag():
            projector.catch_up()
        for name, query in QUERIES.items():
            answer = query(read_model)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                query(read_model)
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = {
                "ms": statistics.median(times),
                "received": answer["total"]["received"],
                "rows": len(answer["rows"]),
            }
    finally:
        runtime.close()
    return out


def compare(small: dict[str, dict[str, Any]], big: dict[str, dict[str, Any]]) -> list[Result]:
    results = []
    for name in QUERIES:
        s, b = small[name], big[name]
        results.append(lower_is_better(
            "stats", f"{name}: {b['received']:,} vs {s['received']:,} cases", b["ms"], s["ms"],
            "ms", TARGETS.get(name), cases_small=s["received"], cases_big=b["received"],
            rows=b["rows"]))
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", required=True, help="database of ~10k cases")
    ap.add_argument("--big", required=True, help="database of ~1M cases")
    args = ap.parse_args(argv)
    small = time_queries(args.small)
    big = time_queries(args.big)
    results = compare(small, big)
    print_table(results)
    print(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
