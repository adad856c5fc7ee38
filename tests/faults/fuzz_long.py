"""The long variant of the whole-path fuzzer (issue 14): the ``WholePath`` machine of
``tests/faults/whole_path.py`` run for as many steps as asked, counting failures instead of
stopping at the first one.

    python -m tests.faults.fuzz_long --steps 1000000
    python -m tests.faults.fuzz_long --steps 20000 --start 2027-02-08       # moved clock
    python -m tests.faults.fuzz_long --steps 5000 --postgres auto     # a throwaway server
    python -m tests.faults.fuzz_long --steps 5000 --postgres postgresql://u:p@127.0.0.1:5432/postgres

Each example is a fresh runtime (in-memory SQLite, or a fresh database pair on PostgreSQL)
that takes ``--steps-per-example`` steps; the views' lag is checked after every step and a
full rebuild is compared with the live views at the end of every example, so the cost of a
check stays bounded however long the run. Prints a progress line every ``--every`` seconds
and at the end: steps, steps/s, requests, server errors, stuck views, quarantined events,
rebuild mismatches, and the first example of each distinct failure (door, request, what
broke). Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from engine.deadlines import SHANGHAI
from tests.faults.whole_path import START, Databases, Failure, Tally, WholePath, quiet_logs

KINDS = ("server_error", "stuck_views", "quarantined", "rebuild_mismatch", "refused_wrote", "leak",
         "search_miss", "wrong_status", "wrong_state", "harness_error")


def postgres_databases(admin_url: str) -> Callable[[], Databases]:
    """A fresh database pair per example on the server of ``admin_url``, dropped after."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(admin_url)

    def make() -> Databases:
        names = [f"fuzz_{uuid.uuid4().hex[:16]}" for _ in range(2)]
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for n in names:
                conn.execute(f'CREATE DATABASE "{n}"')

        def cleanup() -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                for n in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')

        urls = [base.set(database=n).render_as_string(hide_password=False) for n in names]
        return Databases(live=urls[0], rebuild=urls[1], cleanup=cleanup)

    return make


def summary(tally: Tally) -> dict[str, object]:
    seconds = time.monotonic() - tally.started
    return {
        "steps": tally.steps,
        "steps_per_second": round(tally.steps / seconds, 1) if seconds else None,
        "seconds": round(seconds, 1),
        "examples": tally.examples,
        "requests": tally.requests,
        "rebuilds_compared": tally.rebuilds,
        "events_rebuilt": tally.events,
        **{kind: tally.counts[kind] for kind in KINDS},
    }


def fan_out(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``--jobs`` copies of this command, each with ``steps / jobs`` steps and its own
    report, and add their reports up."""
    import subprocess
    import tempfile

    rest = _without(argv, {"--jobs", "--steps", "--report"})
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        reports = [Path(tmp) / f"job{i}.json" for i in range(args.jobs)]
        procs = [
            subprocess.Popen([sys.executable, "-m", "tests.faults.fuzz_long", *rest,
                              "--steps", str(-(-args.steps // args.jobs)), "--report", str(r)])
            for r in reports
        ]
        for proc in procs:
            proc.wait()
        parts = [json.loads(r.read_text(encoding="utf-8")) for r in reports if r.exists()]
    total: dict[str, object] = {}
    for key in ("steps", "examples", "requests", "rebuilds_compared", "events_rebuilt", *KINDS):
        total[key] = sum(int(p["summary"][key]) for p in parts)
    seconds = time.monotonic() - started
    total["seconds"] = round(seconds, 1)
    total["steps_per_second"] = round(int(total["steps"]) / seconds, 1)  # type: ignore[call-overload]
    total["jobs"] = args.jobs
    failures: dict[tuple[str, str, str], dict[str, str]] = {}
    for p in parts:
        for f in p["failures"]:
            cause = re.search(r"(?:logged|raised) (\w+)", f["detail"])
            failures.setdefault((f["kind"], f["door"], cause.group(1) if cause else f["detail"][:40]), f)
    print("\n== whole-path fuzz, all jobs: " + ", ".join(f"{k} {v}" for k, v in total.items()))
    if args.report:
        args.report.write_text(json.dumps({"summary": total, "failures": list(failures.values())},
                                          ensure_ascii=False, indent=2), encoding="utf-8")
    bad = any(int(total[k]) for k in KINDS)  # type: ignore[call-overload]
    return 1 if bad or len(parts) < args.jobs else 0


def _without(argv: list[str], options: set[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        if a.split("=", 1)[0] in options:
            continue
        out.append(a)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--steps-per-example", type=int, default=200)
    parser.add_argument("--start", default=START.date().isoformat(),
                        help="the moved clock's start date (Beijing time, 10:00)")
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server, or 'auto' to start a "
                        "throwaway one (tests.support.services); default: SQLite in memory")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between progress lines")
    parser.add_argument("--report", type=Path, help="write the summary and failures as JSON here")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes side by side, each with its share of the steps (2 on 2 cores)")
    args = parser.parse_args(argv)
    if args.jobs > 1:
        return fan_out(args, argv if argv is not None else sys.argv[1:])

    if args.postgres == "auto":
        from tests.support.services import PostgresServer

        with PostgresServer() as pg:
            return main([*(argv if argv is not None else sys.argv[1:]), "--postgres", pg.url_for("postgres")])
    day = dt.date.fromisoformat(args.start)
    attrs: dict[str, object] = {
        "tally": Tally(announce=True),
        "start": dt.datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI),
    }
    if args.postgres:
        attrs["databases"] = staticmethod(postgres_databases(args.postgres))
    machine = type("WholePathLong", (WholePath,), attrs)
    tally: Tally = attrs["tally"]  # type: ignore[assignment]
    # Examples per hypothesis run: small enough for a progress line now and then.
    chunk = max(1, min(10, args.steps // args.steps_per_example))
    last = time.monotonic()
    with quiet_logs():
        while tally.steps < args.steps:
            try:
                run_state_machine_as_test(machine, settings=settings(
                    max_examples=chunk,
                    stateful_step_count=args.steps_per_example,
                    deadline=None,
                    derandomize=False,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.generate],
                ))
            except Exception as exc:  # the harness itself (a failure is tallied, not raised)
                where = traceback.extract_tb(exc.__traceback__)[-3:]
                tally.add(Failure("harness_error", "harness", " <- ".join(
                    f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(where)),
                    f"raised {type(exc).__name__}: {str(exc)[:500]}"))
            if time.monotonic() - last >= args.every or tally.steps >= args.steps:
                last = time.monotonic()
                print(json.dumps(summary(tally), ensure_ascii=False), flush=True)
    result = summary(tally)
    print("\n== whole-path fuzz: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    print(f"== doors: {dict(tally.doors.most_common())}")
    failures = sorted(tally.first.values(), key=lambda f: (f.kind, f.door))
    for f in failures:
        print(f"\n{f}")
    if args.report:
        args.report.write_text(json.dumps(
            {"summary": result, "doors": dict(tally.doors),
             "failures": [f.__dict__ for f in failures]}, ensure_ascii=False, indent=2),
            encoding="utf-8")
    return 1 if any(tally.counts[k] for k in KINDS) else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
