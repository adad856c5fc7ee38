"""查找 (issue 18): search p99 at N cases on PostgreSQL, beside the raw query.

The search view (``projections.search``) and ``view_cases`` are filled with N synthetic cases
(the simulator's complaint texts, numbered per day, a number and a name each; words cut and
indexed as the projector does), then each kind of search is timed through ``SearchIndex``
(its SQL, the count and the page of 20) against the same page query run raw with psycopg.
Target: p99 <= 200 ms (issue 18 at 1,000,000 cases).

    python -m bench.search --cases 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from bench.common import Result, Services, print_table, psycopg_dsn
from engine.settings import district_key
from projections.search import SearchIndex, SearchKeys, view_search
from projections.tables import COUNT_FIELDS, create_tables, make_engine, view_cases

BASE = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
TARGET_MS = 200.0


def fill(url: str, n: int, keys: SearchKeys, seed: int = 7) -> list[dict[str, Any]]:
    """N cases in view_cases and view_search; returns a sample of what was written."""
    engine = make_engine(url)
    create_tables(engine)
    rng = random.Random(seed)
    sample: list[dict[str, Any]] = []
    chunk = 5_000
    with engine.begin() as conn:
        for start in range(0, n, chunk):
            cases, search = [], []
            for i in range(start, min(n, start + chunk)):
                at = BASE + dt.timedelta(seconds=i * 30)
                cid = uuid.UUID(int=i + 1)
                text = _text(rng)
                phone = f"139{rng.randrange(10**8):08d}"
                name = rng.choice("李王张刘陈杨黄赵") + rng.choice(["女士", "先生", "阿姨"])
                order_no = f"HC{at:%Y%m%d}{i + 1:06d}"
                cases.append({
                    "case_id": cid, "channel": "hotline", "source_ref": f"B{i}",
                    "received_at": at, "received_day": at.date(),
                    "received_month": f"{at:%Y-%m}", "updated_at": at, "snippet": text[:120],
                    "status": "dispatched", "resp_unit": "centre", "unit": "chatinglu",
                    "units": "|chatinglu|" if i % 7 else "|chengguan|",
                    **dict.fromkeys(COUNT_FIELDS, 0),
                })
                search.append({
                    "case_id": cid, "seq": i + 1, "order_no": order_no,
                    "phone_key": keys.phone(phone), "name_key": keys.name(name),
                    "appeal_type": "投诉", "appeal_chosen": True,
                    "terms": " ".join(keys.terms(text)),
                })
                if i % max(1, n // 200) == 0:
                    sample.append({"phone": phone, "name": name, "order_no": order_no, "text": text})
            conn.execute(view_cases.insert(), cases)
            conn.execute(view_search.insert(), search)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE view_search")
        conn.exec_driver_sql("ANALYZE view_cases")
    engine.dispose()
    return sample


TEMPLATES = (
    "门口的路灯不亮了，晚上黑乎乎的，老人走路容易摔",
    "楼上装修噪音扰民，每天早上七点就开始电钻",
    "菜市场门口占道经营严重，摊贩把人行道全占了",
    "门口垃圾桶满了没人清运，臭气很大",
    "公司拖欠工资三个月，老板不接电话",
    "下水道堵塞，污水冒到路面上",
    "电梯经常困人，物业不管",
    "井盖松动，车压过去响得厉害",
    "办理居住证需要带什么材料",
    "烧烤店油烟直排，熏得窗户都不敢开",
    "树枝压着电线，刮风时很危险",
    "小区停车位被外来车辆占用",
)


def _text(rng: random.Random) -> str:
    from adapters.simulator.texts import LANDMARKS, SHOPS, XIAOQU

    place = rng.choice((*XIAOQU, *LANDMARKS, *SHOPS))
    return f"{place}{rng.choice(TEMPLATES)}"


def _times(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """(p50, p99) in ms."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def run(url: str, n: int, runs: int = 200) -> list[Result]:
    keys = SearchKeys(district_key(None, None))
    sample = fill(url, n, keys)
    index = SearchIndex(make_engine(url), keys)
    rng = random.Random(11)
    results: list[Result] = []
    raw = psycopg.connect(psycopg_dsn(url))
    word_of = {s["text"]: next(iter(keys.terms(s["text"], for_index=False)), "路灯") for s in sample}

    def pick() -> dict[str, Any]:
        return rng.choice(sample)

    kinds: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "phone": (
            lambda: index.search(pick()["phone"], "phone"),
            lambda: raw.execute(
                "SELECT case_id FROM view_search WHERE phone_key = %s ORDER BY seq DESC LIMIT 20",
                (keys.phone(pick()["phone"]),),
            ).fetchall(),
        ),
        "order_no": (
            lambda: index.search(pick()["order_no"], "order_no"),
            lambda: raw.execute(
                "SELECT case_id FROM view_search WHERE order_no = %s LIMIT 20", (pick()["order_no"],)
            ).fetchall(),
        ),
        "name (unit-scoped)": (
            lambda: index.search(pick()["name"], "name", unit="chatinglu"),
            lambda: raw.execute(
                "SELECT s.case_id FROM view_search s JOIN view_cases c USING (case_id) "
                "WHERE s.name_key = %s AND c.units LIKE '%%|chatinglu|%%' ORDER BY s.seq DESC LIMIT 20",
                (keys.name(pick()["name"]),),
            ).fetchall(),
        ),
        "text (one word)": (
            lambda: index.search(word_of[pick()["text"]], "text"),
            lambda: raw.execute(
                "SELECT case_id FROM view_search WHERE array_to_tsvector(string_to_array(terms, ' ')) "
                "@@ CAST(%s AS tsquery) ORDER BY seq DESC LIMIT 20",
                (f"'{word_of[pick()['text']]}'",),
            ).fetchall(),
        ),
    }
    for kind, (ours, baseline) in kinds.items():
        ours(); baseline()  # noqa: E702 warm-up
        (m_ours, p_ours), (m_raw, p_raw) = _times(ours, runs), _times(baseline, runs)
        results.append(Result(
            bench="search", what=f"{kind}, p99 at {n:,} cases", ours=p_ours, baseline=p_raw,
            unit="ms", ratio=p_ours / p_raw if p_raw else float("inf"),
            target=f"<= {TARGET_MS:.0f} ms", ok=p_ours <= TARGET_MS,
            detail={"runs": runs, "p50_ms": round(m_ours, 1), "raw_p50_ms": round(m_raw, 1),
                    "raw": "the page query only (no count, no facts)"},
        ))
    raw.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    with Services(kafka=False) as services:
        url = services.new_database("search")
        try:
            results = run(url, args.cases, args.runs)
            print_table(results)
            for r in results:
                print(r.what, r.detail)
        finally:
            services.drop(url)


if __name__ == "__main__":
    main()
