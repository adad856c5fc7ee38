"""Report periods (projections/reports.py): 2026-11 is a month, 2026-W48 an ISO week, 2026-11-30
a day, --from/--to a range with the end excluded; a bad period is refused with a Chinese
message that says what to write. Fixed dates only."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.reports import Period, PeriodError, parse_period

DAYS = st.dates(min_value=dt.date(2001, 1, 8), max_value=dt.date(2098, 6, 1))  # + 400 days stays in 2099


def test_a_month_a_week_a_day_and_a_range() -> None:
    month = parse_period("2026-11")
    assert (month.kind, month.start, month.end) == ("month", dt.date(2026, 11, 1), dt.date(2026, 12, 1))
    assert (month.label, month.kind_label, month.file_key) == ("2026年11月", "月报", "2026-11")
    december = parse_period("2026-12")
    assert december.end == dt.date(2027, 1, 1)
    assert december.previous() == month

    week = parse_period("2026-W48")
    # ISO week 48 of 2026: Monday 23 November to Sunday 29 November.
    assert (week.kind, week.start, week.end) == ("week", dt.date(2026, 11, 23), dt.date(2026, 11, 30))
    assert week.label == "2026年第48周（11月23日—11月29日）"
    assert week.previous().key == "2026-W47"
    # ISO weeks at the turn of the year: 2027's first week starts on Monday 4 January.
    assert parse_period("2027-W01").start == dt.date(2027, 1, 4)
    assert parse_period("2026-W53").start == dt.date(2026, 12, 28)  # 2026 has 53 ISO weeks

    day = parse_period("2026-11-30")
    assert (day.kind, day.start, day.end, day.label) == ("day", dt.date(2026, 11, 30), dt.date(2026, 12, 1), "2026年11月30日")
    assert day.previous().key == "2026-11-29"

    custom = parse_period(None, "2026-11-01", "2026-11-15")
    assert (custom.kind, custom.days, custom.last_day) == ("range", 14, dt.date(2026, 11, 14))
    assert custom.file_key == "2026-11-01至2026-11-14"
    assert (custom.previous().start, custom.previous().end) == (dt.date(2026, 10, 18), dt.date(2026, 11, 1))


@pytest.mark.parametrize(
    ("period", "from_", "to", "says"),
    [
        ("2026-13", None, None, "没有这个日期或周"),
        ("2026-02-30", None, None, "没有这个日期或周"),
        ("2026-W54", None, None, "没有这个日期或周"),
        ("2025-W53", None, None, "没有这个日期或周"),  # 2025 has 52 ISO weeks
        ("十一月", None, None, "格式不对"),
        ("2026/11", None, None, "格式不对"),
        ("2026-11-01T00:00", None, None, "格式不对"),
        (None, None, None, "请给出报表周期"),
        (None, "2026-11-01", None, "请给出报表周期"),
        (None, "2026-11-15", "2026-11-01", "应晚于开始日期"),
        (None, "2026-11-01", "2026-11-01", "应晚于开始日期"),
        (None, "2026-11-1x", "2026-11-15", "开始日期格式应为 YYYY-MM-DD"),
        (None, "2020-01-01", "2026-01-01", "最长"),
        ("2026-11", "2026-11-01", "2026-11-15", "只能二选一"),
        # Outside the contract's business years (engine.contract), or its previous period is.
        ("0001-01", None, None, "报表周期应在 2001 年至 2099 年之间"),
        ("2000-06", None, None, "报表周期应在"),
        ("2100-01", None, None, "报表周期应在"),
        ("9999-W01", None, None, "报表周期应在"),
        # The last day and week a date can hold: their end is past it (was a 500).
        ("9999-12-31", None, None, "报表周期应在"),
        ("9999-W52", None, None, "报表周期应在"),
        ("9999-12", None, None, "没有这个日期或周"),
        ("0001-01-01", None, None, "报表周期应在"),
        (None, "2099-12-01", "2100-01-02", "报表周期应在"),
    ],
)
def test_a_bad_period_is_refused_with_what_to_write(
    period: str | None, from_: str | None, to: str | None, says: str
) -> None:
    with pytest.raises(PeriodError, match=says):
        parse_period(period, from_, to)


@given(DAYS)
def test_every_day_is_in_exactly_its_week_and_month(day: dt.date) -> None:
    year, week, _ = day.isocalendar()
    w = parse_period(f"{year}-W{week:02d}")
    assert w.start <= day < w.end and w.days == 7 and w.start.weekday() == 0
    m = parse_period(f"{day.year}-{day.month:02d}")
    assert m.start <= day < m.end and m.start.day == 1 and m.end.day == 1
    d = parse_period(day.isoformat())
    assert (d.start, d.days) == (day, 1)
    # Written back, each key reads as the same period.
    for p in (w, m, d):
        assert parse_period(p.key) == p


@given(DAYS, st.integers(min_value=1, max_value=400))
def test_the_previous_period_ends_where_this_one_starts(day: dt.date, length: int) -> None:
    periods: list[Period] = [
        parse_period(day.isoformat()),
        parse_period(f"{day.isocalendar()[0]}-W{day.isocalendar()[1]:02d}"),
        parse_period(f"{day.year}-{day.month:02d}"),
        parse_period(None, day, day + dt.timedelta(days=length)),
    ]
    for p in periods:
        before = p.previous()
        assert before.end == p.start and before.kind == p.kind
        if p.kind != "month":
            assert before.days == p.days
