"""查找 on PostgreSQL past the count cap (issue 18): a word in more cases than the cap is read
newest first a window of buckets at a time; every page must be the page of the full match
list in time order, for a unit too, and a view made before the buckets is upgraded in place.

The cap is made small (5) and the cases' log positions far apart (~3 cases a bucket), so a
few dozen cases cross many buckets."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from projections.search import SearchFold, SearchIndex, SearchKeys, SearchWrites
from projections.tables import create_tables, make_engine, view_cases

pytestmark = pytest.mark.postgres

KEYS = SearchKeys(b"k" * 32)
CAP = 5


def _fill(url: str) -> tuple[Any, list[dict[str, Any]]]:
    engine = make_engine(url)
    create_tables(engine)
    fold = SearchFold("postgresql", KEYS)
    cases = []
    writes = SearchWrites()
    for i in range(60):
        cid = uuid.UUID(int=i + 1)
        # 路灯 in every case; 井盖 in every seventh; units: a in every third, b otherwise.
        content = "门口的路灯不亮了" + ("，井盖也松了" if i % 7 == 0 else "")
        fold.note(writes, 1 + i * 700, cid, "Received", {"content": content, "address": "茶亭路"})
        unit = "a" if i % 3 == 0 else "b"
        fold.note(writes, 2 + i * 700, cid, "Dispatched", {"unit": unit})
        if i % 12 == 0:  # sent on to a second unit, after another batch
            cases.append({"id": cid, "units": [unit, "c"], "lamp": True, "manhole": i % 7 == 0})
        else:
            cases.append({"id": cid, "units": [unit], "lamp": True, "manhole": i % 7 == 0})
    with engine.begin() as conn:
        fold.write(conn, writes)
    later = SearchWrites()
    for c in cases:
        if "c" in c["units"]:
            fold.note(later, 0, c["id"], "Dispatched", {"unit": "c"})
            fold.note(later, 0, c["id"], "Dispatched", {"unit": "c"})  # twice: one word
    with engine.begin() as conn:
        fold.write(conn, later)
    newest_first = list(reversed(cases))
    return engine, newest_first


@pytest.mark.parametrize("first_buckets", [127, 2])  # 2: the whole-index count is asked too
def test_pages_past_the_cap_are_the_newest_first_pages(fresh_postgres_url: str, first_buckets: int) -> None:
    engine, newest = _fill(fresh_postgres_url)
    index = SearchIndex(engine, KEYS, cap=CAP)
    index.FIRST_BUCKETS = first_buckets

    def pages(q: str, unit: str | None, size: int) -> tuple[list[uuid.UUID], set[tuple[int, bool]]]:
        ids: list[uuid.UUID] = []
        totals = set()
        for offset in range(0, 70, size):
            page = index.search(q, "text", unit=unit, limit=size, offset=offset)
            totals.add((page.total, page.capped))
            ids.extend(page.ids)
            assert set(page.facts) == set(page.ids)
        return ids, totals

    every = [c["id"] for c in newest]
    assert pages("路灯", None, 7) == (every, {(CAP, True)})
    in_a = [c["id"] for c in newest if "a" in c["units"]]
    assert pages("路灯", "a", 4) == (in_a, {(CAP, True)})
    in_c = [c["id"] for c in newest if "c" in c["units"]]
    assert len(in_c) <= CAP
    assert pages("路灯", "c", 2) == (in_c, {(len(in_c), False)})
    manholes = [c["id"] for c in newest if c["manhole"]]
    assert pages("井盖 路灯", None, 3) == (manholes, {(CAP, True)})
    assert pages("井盖", "c", 3)[1] == {(len([c for c in newest if c["manhole"] and "c" in c["units"]]), False)}
    with engine.connect() as conn:
        marks = conn.execute(
            text("SELECT terms FROM view_search WHERE case_id = :k"), {"k": newest[-1]["id"]}
        ).scalar_one()
    assert marks.split(" ").count("@c") == 1  # sent twice to c, one word


def test_a_view_from_before_the_buckets_is_upgraded(fresh_postgres_url: str) -> None:
    engine, newest = _fill(fresh_postgres_url)
    with engine.begin() as conn:  # as an older version left it: no unit words, the old index
        conn.execute(text("DROP INDEX ix_view_search_words"))
        conn.execute(text(
            "UPDATE view_search SET terms = array_to_string(ARRAY(SELECT w FROM "
            "unnest(string_to_array(terms, ' ')) AS w WHERE w NOT LIKE '@%'), ' ')"
        ))
        conn.execute(text(
            "CREATE INDEX ix_view_search_terms ON view_search USING gin "
            "(array_to_tsvector(string_to_array(terms, ' ')))"
        ))
    at = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    with engine.begin() as conn:  # what view_cases knows of the units
        conn.execute(view_cases.insert(), [
            {"case_id": c["id"], "channel": "hotline", "source_ref": str(c["id"]), "received_at": at,
             "received_day": at.date(), "received_month": "2026-03", "updated_at": at,
             "status": "dispatched", "resp_unit": "centre", "units": "|" + "|".join(c["units"]) + "|"}
            for c in newest
        ])
    create_tables(engine)  # start-up
    with engine.connect() as conn:
        names = set(conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'view_search'"
        )).scalars())
    assert "ix_view_search_words" in names and "ix_view_search_terms" not in names
    index = SearchIndex(engine, KEYS, cap=CAP)
    got = []
    for offset in range(0, 60, 10):
        got.extend(index.search("路灯", "text", unit="c", limit=10, offset=offset).ids)
    assert got == [c["id"] for c in newest if "c" in c["units"]]

