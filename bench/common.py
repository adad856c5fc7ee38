"""What every benchmark shares: real services, a runtime on them, a Beijing-peak intake stream,
and one way to report a measurement as a ratio against a baseline run in the same process.

Services come from ``tests/support/services.py`` (throwaway PostgreSQL and a KRaft Kafka broker
on free loopback ports). ``SANSHI_BENCH_PG`` / ``SANSHI_BENCH_KAFKA`` point the benches at
servers that are already running instead. ``SANSHI_BENCH_CIPHER_KEY`` runs them with that
``SANSHI_CIPHER_KEY`` (event log and views encrypted).

The intake stream is the simulator's (``adapters.simulator.stream``) at Beijing's peak rate
(210,000 records a day over the demo district), turned into intake commands by the real channel
adapters. Making the records is slow Python (bench/RESULTS.md, "Numbers moved from comments"),
so each simulated day is made once (in parallel processes) and kept as JSON lines under
``$SANSHI_CACHE/bench/``; the benches read them back. Nothing here writes events: every case
goes through the application service.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import Parsed
from engine.deadlines import SHANGHAI
from engine.intake import IntakeCommand
from engine.settings import Settings
from tests.support.services import KafkaBroker, PostgresServer, cache_dir

REPO = Path(__file__).resolve().parent.parent

PEAK_PER_DAY = 210_000  # Beijing 12345: >70,000 a day, about 3x on a peak day
STREAM_START = dt.datetime(2026, 3, 2, tzinfo=SHANGHAI)  # a Monday
SEED = 12345


# ---- results --------------------------------------------------------------------------------


@dataclass
class Result:
    """One row of the table: ours against a baseline, as a ratio, with the target."""

    bench: str
    what: str
    ours: float
    baseline: float
    unit: str  # of ours/baseline, e.g. "events/s", "ms", "MB"
    ratio: float
    target: str  # ">= 0.25", "<= 2.0", "report"
    ok: bool | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def higher_is_better(bench: str, what: str, ours: float, baseline: float, unit: str,
                     target: float | None, **detail: Any) -> Result:
    """ratio = ours / baseline for rates (events/s): 1.0 would be as fast as the baseline."""
    ratio = ours / baseline if baseline else 0.0
    return Result(bench, what, ours, baseline, unit, ratio,
                  f">= {target:g}" if target is not None else "report",
                  None if target is None else ratio >= target, detail)


def lower_is_better(bench: str, what: str, ours: float, baseline: float, unit: str,
                    target: float | None, **detail: Any) -> Result:
    """ratio = ours / baseline for costs (ms, MB): growth; 1.0 would be no growth."""
    ratio = ours / baseline if baseline else float("inf")
    return Result(bench, what, ours, baseline, unit, ratio,
                  f"<= {target:g}" if target is not None else "report",
                  None if target is None else ratio <= target, detail)


def print_table(results: list[Result]) -> None:
    head = ("bench", "what", "ours", "baseline", "unit", "ratio", "target", "ok")
    rows = [
        (r.bench, r.what, f"{r.ours:,.1f}", f"{r.baseline:,.1f}", r.unit, f"{r.ratio:.3f}",
         r.target, "-" if r.ok is None else ("yes" if r.ok else "NO"))
        for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    line = " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


def machine() -> dict[str, Any]:
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        if dirty:
            commit += "+dirty"
    return {
        "commit": commit,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# ---- services --------------------------------------------------------------------------------


class Services:
    """PostgreSQL (always) and Kafka (when asked), started once for a whole run."""

    def __init__(self, kafka: bool = True, pg: PostgresServer | None = None,
                 kafka_bootstrap: str | None = None) -> None:
        """``pg`` / ``kafka_bootstrap``: servers someone else started (the test fixtures);
        they are used and left running."""
        self.want_kafka = kafka
        self.pg = pg
        self.broker: KafkaBroker | None = None
        self.pg_url = pg.url if pg else os.environ.get("SANSHI_BENCH_PG", "")
        self.kafka_bootstrap = kafka_bootstrap or os.environ.get("SANSHI_BENCH_KAFKA", "")
        self._own_pg = False
        self._n = 0

    def __enter__(self) -> Services:
        if not self.pg_url:
            self.pg = PostgresServer().start()
            self.pg_url = self.pg.url
            self._own_pg = True
        if self.want_kafka and not self.kafka_bootstrap:
            self.broker = KafkaBroker(heap="-Xms512m -Xmx1g").start()
            self.kafka_bootstrap = self.broker.bootstrap
        return self

    def __exit__(self, *exc: object) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self.pg is not None and self._own_pg:
            self.pg.stop()

    def new_database(self, label: str) -> str:
        """A new empty database (only with our own server; an external one is used as is)."""
        self._n += 1
        if self.pg is None:
            return self.pg_url
        return self.pg.create_database(f"bench_{label}_{os.getpid()}_{self._n}")

    def drop(self, url: str) -> None:
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.drop_database(url.rsplit("/", 1)[1])


def settings_for(db_url: str, kafka: str | None = None) -> Settings:
    key = os.environ.get("SANSHI_BENCH_CIPHER_KEY") or None
    return Settings(db=db_url, kafka=kafka, config_path=None, cipher_key=key)


ROUTERS = ("default", "keyword")


def runtime_for(db_url: str, kafka: str | None = None, router: str = "default") -> Runtime:
    """The same wiring as every entry point (adapters.bootstrap), on this database. With
    ``kafka`` set the projections are not caught up on every save (the worker's mode).
    ``router``: "default" is what bootstrap builds; "keyword" the config-only KeywordRouter."""
    if router == "keyword":
        from engine.config import load_config
        from engine.routing.keyword import KeywordRouter

        config = load_config(None)
        return bootstrap(settings_for(db_url, kafka), config=config, router=KeywordRouter(config))
    if router != "default":
        raise ValueError(f"router must be one of {ROUTERS}")
    return bootstrap(settings_for(db_url, kafka))


def router_name(runtime: Runtime) -> str:
    """The router that decides, under the admin overlay's decorator (engine.admin.AdminRouter)."""
    return type(getattr(runtime.router, "inner", runtime.router)).__name__


def psycopg_dsn(db_url: str) -> str:
    return db_url.replace("postgresql+psycopg://", "postgresql://")


# ---- the intake stream ------------------------------------------------------------------------


def _day_file(day: int, per_day: int, seed: int) -> Path:
    return cache_dir() / "bench" / f"intake-s{seed}-p{per_day}-d{day}.jsonl"


def _hour_file(day: int, hour: int, per_day: int, seed: int) -> Path:
    return cache_dir() / "bench" / f"intake-s{seed}-p{per_day}-d{day}-h{hour:02d}.jsonl"


def _make_day(day: int, per_day: int, seed: int, until: int | None = None) -> str:
    """One simulated day of intake, adapted, as JSON lines (a worker process's job). With
    ``until``, only its first hours, until that many records, each hour in a file of its own
    (small runs: a whole day costs far more CPU than they need)."""
    from adapters.channels import adapt, context_for, read_one
    from adapters.simulator.stream import IntakeStream, daily_volume
    from engine.config import load_config

    path = _day_file(day, per_day, seed)
    if path.exists():
        return str(path)
    config = load_config(None)
    start = STREAM_START + dt.timedelta(days=day)
    stream = IntakeStream(config, seed=seed + day, start=start, days=1,
                          scale=per_day / daily_volume(config), surge=None)
    ctx = context_for(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if until is None else None
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    out = open(tmp, "w", encoding="utf-8") if target else None  # noqa: SIM115
    written = 0
    try:
        for n_hour, hour in enumerate(stream.hours()):
            records = stream.records_between(hour, hour + dt.timedelta(hours=1))
            hour_path = _hour_file(day, n_hour, per_day, seed)
            if target is None and hour_path.exists():  # made before: keep the RNG in step only
                written += _count_lines(hour_path)
                if until is not None and written >= until:
                    break
                continue
            lines = []
            for rec in records:
                raw = read_one(rec.record, position=f"sim:{rec.channel}:{rec.source_ref}")
                adapted = adapt(rec.channel, raw,
                                dataclasses.replace(ctx, now=rec.received_at), source="sim")
                if not isinstance(adapted, Parsed):
                    continue  # police business (filtered) and the like: not cases
                # a re-sent record stays in: the engine must report it as a duplicate
                lines.append(json.dumps({"p": adapted.position,
                                         "c": json.loads(adapted.command.model_dump_json())},
                                        ensure_ascii=False) + "\n")
            if out is not None:
                out.writelines(lines)
            else:
                htmp = hour_path.with_suffix(f".tmp{os.getpid()}")
                htmp.write_text("".join(lines), encoding="utf-8")
                htmp.replace(hour_path)
            written += len(lines)
            if until is not None and written >= until:
                break
    finally:
        if out is not None:
            out.close()
            tmp.replace(path)
    return str(path)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def _day_files(day: int, per_day: int, seed: int) -> list[Path]:
    full = _day_file(day, per_day, seed)
    if full.exists():
        return [full]
    hours = [_hour_file(day, h, per_day, seed) for h in range(24)]
    out = []
    for h in hours:  # in order, up to the first hour not made yet
        if not h.exists():
            break
        out.append(h)
    return out


def ensure_stream(n: int, per_day: int = PEAK_PER_DAY, seed: int = SEED,
                  processes: int | None = None) -> list[Path]:
    """Make (once) enough of the stream for ``n`` records; returns its files in order. Whole
    days are made in parallel processes; a last part day hour by hour."""
    whole_days = n // int(per_day * 0.85)  # a day has ~per_day records, less police business
    missing = [d for d in range(whole_days) if not _day_file(d, per_day, seed).exists()]
    procs = min(len(missing), processes or os.cpu_count() or 1)
    if procs > 1:
        with ProcessPoolExecutor(procs) as pool:
            list(pool.map(_make_day, missing, [per_day] * len(missing), [seed] * len(missing)))
    else:
        for d in missing:
            _make_day(d, per_day, seed)
    files: list[Path] = []
    total = 0
    day = 0
    while total < n:
        have = _day_files(day, per_day, seed)
        have_n = sum(_count_lines(f) for f in have)
        complete = bool(have) and (have[0].name.endswith(f"-d{day}.jsonl") or len(have) == 24)
        if not complete and total + have_n < n:
            _make_day(day, per_day, seed, until=n - total)
            have = _day_files(day, per_day, seed)
            have_n = sum(_count_lines(f) for f in have)
        files += have
        total += have_n
        day += 1
    return files


def stream_lines(n: int, per_day: int = PEAK_PER_DAY, seed: int = SEED) -> Iterator[bytes]:
    """The first ``n`` records of the stream as stored JSON lines (bytes)."""
    left = n
    for f in ensure_stream(n, per_day, seed):
        with open(f, "rb") as fh:
            for line in fh:
                if left <= 0:
                    return
                yield line
                left -= 1


def parse_line(line: bytes) -> Parsed:
    body = json.loads(line)
    return Parsed(IntakeCommand.model_validate(body["c"]), body["p"])


def stream_batches(n: int, batch: int, per_day: int = PEAK_PER_DAY,
                   seed: int = SEED) -> Iterator[list[Parsed]]:
    """The first ``n`` records as intake items, ``batch`` at a time."""
    out: list[Parsed] = []
    for line in stream_lines(n, per_day, seed):
        out.append(parse_line(line))
        if len(out) >= batch:
            yield out
            out = []
    if out:
        yield out


def stream_items(n: int, per_day: int = PEAK_PER_DAY, seed: int = SEED) -> list[Parsed]:
    return [parse_line(line) for line in stream_lines(n, per_day, seed)]


# ---- raw PostgreSQL (the baselines) -----------------------------------------------------------


def events_table(conn: Any) -> str:
    """The name of eventsourcing's events table in this database."""
    row = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_name LIKE '%events' ORDER BY table_name"
    ).fetchall()
    names = [r[0] for r in row if r[0] != "dead_letters"]
    if not names:
        raise RuntimeError("no events table")
    return str(names[0])


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process, in MB (Linux)."""
    path = f"/proc/{pid or os.getpid()}/status"
    with open(path, encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
