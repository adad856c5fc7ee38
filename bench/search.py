"""查找 (issue 18): search p99 at N cases on PostgreSQL, beside the raw query.

The search view (``projections.search``) and ``view_cases`` are bulk-loaded (COPY) with N
cases written as the projector writes them: the words of each case cut by ``SearchKeys.terms``
from its text and address, "@<unit>" for every unit it was sent to, one log position per
case every 5 (a case's Received, Numbered, Dispatched, ... lie between). The texts are the
simulator's (``IntakeStream``: its problems at their own frequencies, so 路灯, 小区, 噪音 and
物业 are as common as on an ordinary day) mixed with the real complaints of
tests/data/real_texts, drawn again and again from a pool of ~40,000; callers' names are the
simulator's (李女士 and 王先生 match tens of thousands of cases); units are drawn with a
long tail (a few units get most cases).

Each kind of search is timed through ``SearchIndex.search`` (the query function behind
``GET /api/search``: the count up to 1,000 and the page of 20 with its facts) beside the one
raw SQL query a direct implementation would send for the same page (psycopg, no count).

    python -m bench.search --cases 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.common import Result, Services, print_table, psycopg_dsn
from engine.settings import district_key
from projections.search import TSV, UNIT_MARK, SearchIndex, SearchKeys, view_search
from projections.tables import create_tables, make_engine, view_cases

BASE = dt.datetime(2026, 3, 2)  # naive UTC, as view_cases stores it
TARGET_MS = 200.0
STEP = 5  # log positions per case
POOL = 25_000
REAL = Path(__file__).resolve().parent.parent / "tests/data/real_texts/corpus.jsonl"


def _pool(keys: SearchKeys, size: int, seed: int) -> list[tuple[str, list[str]]]:
    """(text, its indexed words) of ~size simulated and real complaints."""
    return [(t, keys.terms(t)) for t in _pool_texts(size, seed)]


def _pool_texts(size: int, seed: int) -> list[str]:
    from adapters.simulator.stream import IntakeStream
    from engine.config import load_config

    start = dt.datetime(2026, 3, 2, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    stream = IntakeStream(load_config(), seed, start, days=20, scale=max(1.0, size / 2_000))
    texts: list[str] = []
    for h in stream.hours():
        for r in stream.records_between(h, h + dt.timedelta(hours=1)):
            rec = r.record
            body = str(rec.get("content") or rec.get("summary") or rec.get("text") or "")
            address = str(rec.get("address") or rec.get("location") or "")
            if body:
                texts.append(f"{body} {address}")
        if len(texts) >= size:
            break
    real = [json.loads(line)["text"] for line in REAL.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(seed)
    return texts[: size - size // 10] + [rng.choice(real) for _ in range(size // 10)]


def _units(n: int) -> list[tuple[str, float]]:
    from engine.config import load_config

    codes = [u.id for u in load_config().units][:n]
    return [(c, 1.0 / (1 + i) ** 0.9) for i, c in enumerate(codes)]


def _defaults(table: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in table.columns:
        d = col.default
        out[col.name] = d.arg if d is not None and not callable(d.arg) else None
    return out


def fill(url: str, n: int, keys: SearchKeys, seed: int = 7) -> dict[str, Any]:
    """N cases in view_cases and view_search, by COPY; returns samples to search for."""
    engine = make_engine(url)
    create_tables(engine)
    engine.dispose()
    rng = random.Random(seed)
    t0 = time.perf_counter()
    pool = _pool(keys, min(POOL, n), seed)
    print(f"pool: {len(pool):,} texts cut in {time.perf_counter() - t0:.0f} s", flush=True)
    units = _units(45)
    unit_codes = [u for u, _ in units]
    unit_w = [w for _, w in units]
    from adapters.simulator.texts import person_name, phone_number

    regulars = [phone_number(rng) for _ in range(max(1, n // 200))]  # callers who call again
    case_cols = [c.name for c in view_cases.columns]
    search_cols = [c.name for c in view_search.columns]
    case_def, search_def = _defaults(view_cases), _defaults(view_search)
    samples: dict[str, Any] = {"phone": [], "name": [], "order_no": [], "text": []}
    df: Counter[str] = Counter()
    per_unit: Counter[str] = Counter()
    every = max(1, n // 400)
    with psycopg.connect(psycopg_dsn(url)) as conn:
        dropped = []
        for table in ("view_search", "view_cases"):
            for name, ddl in conn.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (table,)
            ).fetchall():
                conn.execute(f"DROP INDEX {name}")
                dropped.append(ddl)
        conn.commit()
        t0 = time.perf_counter()
        unit_rng = random.Random(seed + 2)
        with conn.cursor() as cur, cur.copy(f"COPY view_cases ({', '.join(case_cols)}) FROM STDIN") as cc:
            for i in range(n):
                at = BASE + dt.timedelta(seconds=i * 30)
                sent = unit_rng.choices(unit_codes, unit_w, k=2 if unit_rng.random() < 0.1 else 1)
                row = {**case_def, "case_id": uuid.UUID(int=i + 1), "channel": "hotline",
                       "source_ref": f"B{i}", "received_at": at, "received_day": at.date(),
                       "received_month": f"{at:%Y-%m}", "updated_at": at, "status": "dispatched",
                       "resp_unit": sent[-1], "unit": sent[-1],
                       "units": "|" + "|".join(dict.fromkeys(sent)) + "|"}
                cc.write_row([row[c] for c in case_cols])
        conn.commit()
        print(f"view_cases: {n:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
        # The same draws again, in order, for the search rows (one pass keeps memory flat).
        unit_rng = random.Random(seed + 2)
        pool_rng = random.Random(seed + 1)
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY view_search ({', '.join(search_cols)}) FROM STDIN") as cs:
            for i in range(n):
                at = BASE + dt.timedelta(seconds=i * 30)
                sent = unit_rng.choices(unit_codes, unit_w, k=2 if unit_rng.random() < 0.1 else 1)
                text, terms = pool[pool_rng.randrange(len(pool))]
                phone = rng.choice(regulars) if rng.random() < 0.2 else phone_number(rng)
                name = person_name(rng)
                order_no = f"HC{at:%Y%m%d}{i + 1:06d}"
                marks = [f"{UNIT_MARK}{u}" for u in dict.fromkeys(sent)]
                per_unit.update(list(dict.fromkeys(sent)))
                row = {**search_def, "case_id": uuid.UUID(int=i + 1), "seq": 1 + i * STEP,
                       "order_no": order_no, "phone_key": keys.phone(phone),
                       "name_key": keys.name(name), "appeal_type": "投诉", "appeal_chosen": True,
                       "terms": " ".join([*terms, *marks])}
                cs.write_row([row[c] for c in search_cols])
                if i % 10 == 0:
                    df.update(terms)
                if i % every == 0:
                    samples["phone"].append(phone)
                    samples["name"].append(name)
                    samples["order_no"].append(order_no)
                    samples["text"].append(text)
        conn.commit()
        print(f"view_search: {n:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        for ddl in dropped:
            conn.execute(ddl)
            conn.commit()
        print(f"indexes: {len(dropped)} built in {time.perf_counter() - t0:.0f} s", flush=True)
        conn.autocommit = True
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE view_search")
        conn.execute("VACUUM ANALYZE view_cases")
        print(f"vacuum analyze: {time.perf_counter() - t0:.0f} s", flush=True)
    # Document frequencies (a tenth of the rows sampled, so x10).
    samples["df"] = {w: c * 10 for w, c in df.items()}
    samples["units"] = per_unit
    return samples


def samples_of(url: str, n: int, keys: SearchKeys, seed: int = 7) -> dict[str, Any]:
    """What ``fill`` returns, for a view it filled before (``--reuse``): the same regular
    callers' numbers, names of the same distribution, order numbers and units read from
    the view, document frequencies estimated from 3,000 texts of the pool."""
    from adapters.simulator.texts import person_name, phone_number

    rng = random.Random(seed)
    regulars = [phone_number(rng) for _ in range(max(1, n // 200))]
    texts = _pool_texts(min(POOL, n), seed)
    names = random.Random(seed + 5)
    some = random.Random(seed + 6).sample(texts, min(3_000, len(texts)))
    df: Counter[str] = Counter()
    for t in some:
        df.update(keys.terms(t))
    with psycopg.connect(psycopg_dsn(url)) as conn:
        orders = [r[0] for r in conn.execute(
            "SELECT order_no FROM view_search TABLESAMPLE SYSTEM (0.1) LIMIT 400").fetchall()]
        per_unit: Counter[str] = Counter()
        for units, count in conn.execute("SELECT units, count(*) FROM view_cases GROUP BY units"):
            for u in units.strip("|").split("|"):
                per_unit[u] += count
    return {
        "phone": regulars[:400], "name": [person_name(names) for _ in range(400)],
        "order_no": orders, "text": random.Random(seed + 7).sample(texts, 400),
        "df": {w: c * n // len(some) for w, c in df.items()}, "units": per_unit,
    }


def _times(fn: Callable[[], Any], runs: int, budget_s: float = 40.0) -> tuple[float, float]:
    """(p50, p99) in ms; fewer runs (at least 5) if they take longer than budget_s."""
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(runs):
        if len(times) >= 5 and time.perf_counter() - start > budget_s:
            break
        t0 = time.perf_counter()
        with contextlib.suppress(psycopg.errors.QueryCanceled):  # a raw query past its timeout
            fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def _tsquery(words: list[str]) -> str:
    return " & ".join(f"'{w}'" for w in words)


def run(url: str, n: int, runs: int = 200, reuse: bool = False) -> list[Result]:
    keys = SearchKeys(district_key(None, None))
    samples = samples_of(url, n, keys) if reuse else fill(url, n, keys)
    df: dict[str, int] = samples["df"]
    index = SearchIndex(make_engine(url), keys)
    rng = random.Random(11)
    raw = psycopg.connect(psycopg_dsn(url), autocommit=True)
    raw.execute("SET statement_timeout = '20s'")  # a raw plan gone wrong is reported as >= 20 s

    def query_words(q: str) -> list[str]:
        return keys.terms(q, for_index=False)

    # Words as a resident types them: frequent ones (the worst case for "newest first"),
    # rare ones (seen in ~10-100 cases), and two frequent words seldom together.
    chinese = [w for w in df if len(w) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in w)]
    by_df = sorted(chinese, key=lambda w: -df[w])
    frequent = [w for w in ("小区", "噪音", "物业", "路灯", "垃圾") if df.get(w, 0) > n // 200] or by_df[:5]
    low = n // 10_000 if reuse else 10
    rare = [w for w in chinese if low <= df[w] <= 10 * low and len(query_words(w)) == 1][:200] or by_df[-50:]
    pairs = [("噪音", "电梯"), ("路灯", "垃圾"), ("物业", "井盖"), ("小区", "工资")]
    units = samples["units"]
    mid_unit = sorted(units, key=lambda u: -units[u])[min(5, len(units) - 1)]
    print("frequent:", {w: df.get(w, 0) for w in frequent}, "rare, e.g.:",
          {w: df[w] for w in rare[:5]}, f"unit {mid_unit}: {units[mid_unit]:,} cases", flush=True)

    def one_word() -> str:
        return rng.choice(query_words(rng.choice(samples["text"])) or ["路灯"])

    def raw_text(words: list[str], unit: str | None = None) -> list[Any]:
        if unit is None:
            return raw.execute(
                f"SELECT case_id FROM view_search WHERE {TSV} @@ CAST(%s AS tsquery) "
                "ORDER BY seq DESC LIMIT 20", (_tsquery(words),)
            ).fetchall()
        return raw.execute(
            f"SELECT view_search.case_id FROM view_search JOIN view_cases c USING (case_id) "
            f"WHERE {TSV} @@ CAST(%s AS tsquery) AND c.units LIKE %s "
            "ORDER BY view_search.seq DESC LIMIT 20", (_tsquery(words), f"%|{unit}|%")
        ).fetchall()

    def raw_key(column: str, value: str | None) -> list[Any]:
        return raw.execute(
            f"SELECT case_id FROM view_search WHERE {column} = %s ORDER BY seq DESC LIMIT 20", (value,)
        ).fetchall()

    def with_words(pick: Callable[[], list[str]], unit: str | None = None) -> tuple[Callable[[], Any], Callable[[], Any]]:
        return (lambda: index.search(" ".join(pick()), "text", unit=unit),
                lambda: raw_text([w for p in pick() for w in query_words(p)], unit))

    kinds: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "phone (keyed hash)": (
            lambda: index.search(rng.choice(samples["phone"]), "phone"),
            lambda: raw_key("phone_key", keys.phone(rng.choice(samples["phone"]))),
        ),
        "order number": (
            lambda: index.search(rng.choice(samples["order_no"]), "order_no"),
            lambda: raw_key("order_no", rng.choice(samples["order_no"])),
        ),
        "name (keyed hash)": (
            lambda: index.search(rng.choice(samples["name"]), "name"),
            lambda: raw_key("name_key", keys.name(rng.choice(samples["name"]))),
        ),
        "word of a sampled text": (
            lambda: index.search(one_word(), "text"),
            lambda: raw_text([one_word()]),
        ),
        "frequent word": with_words(lambda: [rng.choice(frequent)]),
        "rare word": with_words(lambda: [rng.choice(rare)]),
        "two frequent words, seldom together": with_words(lambda: list(rng.choice(pairs))),
        f"frequent word, unit {mid_unit}": with_words(lambda: [rng.choice(frequent)], mid_unit),
        f"rare word, unit {mid_unit}": with_words(lambda: [rng.choice(rare)], mid_unit),
        "frequent word, page 10 (offset 180)": (
            lambda: index.search(rng.choice(frequent), "text", offset=180),
            lambda: raw.execute(
                f"SELECT case_id FROM view_search WHERE {TSV} @@ CAST(%s AS tsquery) "
                "ORDER BY seq DESC LIMIT 20 OFFSET 180", (_tsquery(query_words(rng.choice(frequent))),)
            ).fetchall(),
        ),
    }
    results: list[Result] = []
    load = os.getloadavg()
    for kind, (ours, baseline) in kinds.items():
        ours(); baseline()  # noqa: E702 warm-up
        (m_ours, p_ours), (m_raw, p_raw) = _times(ours, runs), _times(baseline, runs)
        results.append(Result(
            bench="search", what=f"{kind}, p99 at {n:,} cases", ours=p_ours, baseline=p_raw,
            unit="ms", ratio=p_ours / p_raw if p_raw else float("inf"),
            target=f"<= {TARGET_MS:.0f} ms", ok=p_ours <= TARGET_MS,
            detail={"p50_ms": round(m_ours, 1), "raw_p50_ms": round(m_raw, 1)},
        ))
        print(f"{kind}: ours p50 {m_ours:.1f} p99 {p_ours:.1f} ms | raw p50 {m_raw:.1f} "
              f"p99 {p_raw:.1f} ms | p99 ratio {p_ours / p_raw if p_raw else 0:.2f}", flush=True)
    print(f"load average before/after: {load} / {os.getloadavg()}")
    raw.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--reuse", metavar="URL", help="time the searches on a view filled before")
    args = ap.parse_args()
    if args.reuse:
        print_table(run(args.reuse, args.cases, args.runs, reuse=True))
        return
    with Services(kafka=False) as services:
        url = services.new_database("search")
        try:
            results = run(url, args.cases, args.runs)
            print_table(results)
        finally:
            services.drop(url)


if __name__ == "__main__":
    main()
