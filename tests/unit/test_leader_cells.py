"""Property: for every cell of every comparison table over a generated history, the cases the
drill-down (下钻) lists add up to the number the cell shows, and there are as many of them as
it says (issue 19).

Histories are the projection property test's (``tests.unit.test_projections_properties``):
random legal commands through the application service, so cases are dispatched twice,
returned, merged, re-categorised, followed up twice...
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.vocabulary import RATES, STATS_DIMENSIONS
from projections.leader_queries import NOT_PER_CASE, UNIT_CELL_COUNTS, LeaderViews, sort_rows
from projections.queries import OUTPUT_COUNTS, StatsQueryError
from tests.support.fold_oracle import make_runtime
from tests.unit.test_projections_properties import Plan, case_plan, drive

EXAMPLES = int(os.environ.get("SANSHI_PROPERTY_EXAMPLES", "30")) // 5 or 1
CELL_COUNTS = [c for c in OUTPUT_COUNTS if c not in NOT_PER_CASE]
# Filters a leader combines (the history's cases are in March–April 2026, all channels).
FILTER_SETS: list[dict[str, str]] = [
    {},
    {"channel": "hotline"},
    {"street": "zhongjie", "channel": "app"},
    {"appeal_type": "求助"},
]
WINDOWS = [(None, None), (dt.date(2026, 3, 10), dt.date(2026, 4, 1))]


def _cell(row: dict[str, Any], field: str) -> int:
    if "." in field:
        code, _, part = field.partition(".")
        return int(row[code][part])
    return int(row[field])


def _check_table(views: LeaderViews, by: str | None, filters: dict[str, str],
                 start: dt.date | None, end: dt.date | None) -> int:
    try:
        table = views.table(by, start, end, filters)
    except StatsQueryError:
        return 0  # a combination the table refuses (unit with other filters): no cells
    rows = [(r["key"], r) for r in table["rows"]] if by else [(None, table["total"])]
    checked = 0
    fields = [*CELL_COUNTS, *(f"{code}.{part}" for code in RATES.codes for part in ("numerator", "denominator"))]
    for key, row in rows:
        for field in fields:
            count = field.split(".")[0] if "." not in field else None
            if by == "unit" or "unit" in filters:
                base = count or _base_count(field)
                if base is not None and base not in UNIT_CELL_COUNTS:
                    with pytest.raises(StatsQueryError, match="单位"):
                        views.cell_cases(field, by, key, start, end, filters)
                    continue
            got = views.cell_cases(field, by, key, start, end, filters, limit=500)
            assert got["count"] == _cell(row, field), (by, key, field, filters, start, end)
            assert sum(r["n"] for r in got["rows"]) == got["count"]
            assert got["total"] == len(got["rows"]) and all(r["n"] > 0 for r in got["rows"])
            checked += 1
    return checked


def _base_count(field: str) -> str | None:
    """The one count a rate part stands for (None: 满意率's numerator, two counts)."""
    from engine.vocabulary import rate

    code, _, part = field.partition(".")
    r = rate(code)
    if part == "denominator":
        return r.denominator
    return r.numerator[0] if len(r.numerator) == 1 else "satisfied"


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(case_plan, min_size=2, max_size=8))
def test_every_cell_drills_down_to_its_number(plans: list[Plan]) -> None:
    rt = make_runtime()
    try:
        drive(rt, plans)
        views = LeaderViews(rt.read_model)
        checked = 0
        for start, end in WINDOWS:
            for filters in FILTER_SETS:
                for by in (None, *STATS_DIMENSIONS.codes):
                    checked += _check_table(views, by, filters, start, end)
            checked += _check_table(views, "month", {"unit": "chatinglu"}, start, end)
        assert checked > 0
    finally:
        rt.close()


def test_a_rate_sorts_by_value_with_the_rows_without_one_last() -> None:
    def row(key: str, value: float | None) -> dict[str, Any]:
        return {"key": key, "handling_rate": {"value": value}}

    rows = [row("a", 0.5), row("b", None), row("c", 0.9), row("d", 0.1)]
    assert [r["key"] for r in sort_rows(rows, "handling_rate")] == ["c", "a", "d", "b"]
    assert [r["key"] for r in sort_rows(rows, "handling_rate", descending=False)] == ["d", "a", "c", "b"]
    with pytest.raises(StatsQueryError, match="sort"):
        sort_rows(rows, "nonsense")
