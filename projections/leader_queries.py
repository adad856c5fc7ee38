"""What leadership reads beyond one rate card (issue 19): comparison tables sorted by any
column, the cases behind any number of a table (下钻), trends by day, week or month with the
periods still open marked, and the overdue list filtered and paged.

Every read here is over the views (``projections.tables``), as ``ReadModel.stats``: the
tables *are* ``ReadModel.stats``; a drill-down selects the per-case rows (``view_cases``)
whose own counter for the asked count is above zero, so that, for every cell, the cases'
contributions add up to the number shown (the cell's figure is a sum of those same vectors,
or of the counters the projector keeps from the same events).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal_column, select, true

from engine.deadlines import SHANGHAI
from engine.vocabulary import COUNTS, RATES, STATS_DIMENSIONS, rate
from projections.fold import RESPONSIBLE_FIELDS
from projections.queries import (
    CASE_ONLY,
    FILTER_KEYS,
    OUTPUT_COUNTS,
    UNIT_MIX_REFUSED,
    ReadModel,
    StatsQueryError,
    _overdue_flags,
    case_group,
    case_list_column,
    case_scope,
    with_rates,
)
from projections.search import view_search
from projections.tables import (
    COUNT_FIELDS,
    view_cases,
    view_counts,
    view_open_cases,
    view_project_cases,
)

# Columns a table can be sorted by: the row's key or name, any count, any rate (by its value).
SORT_KEYS: tuple[str, ...] = ("key", "name", *OUTPUT_COUNTS, *RATES.codes)
# Counts that are not about a case (a censure need not name one): no list of cases behind them.
NOT_PER_CASE = frozenset({"notices", "accountabilities"})
# A unit's per-case counts: those of the case itself, which sit with its responsible unit.
UNIT_CELL_COUNTS = frozenset({*RESPONSIBLE_FIELDS, "accepted"})
GRANULARITIES = ("day", "week", "month")
GRANULARITY_NAMES = {"day": "日", "week": "周", "month": "月"}
# At most this many periods in a trend (day: a year and a bit; week: five years; month: ten).
MAX_PERIODS = {"day": 400, "week": 270, "month": 120}


def sort_rows(rows: list[dict[str, Any]], sort: str | None, descending: bool = True) -> list[dict[str, Any]]:
    """Rows in the order of one column. A rate sorts by its value, rows without one (no
    denominator) last whichever way; ties by key, so the order is the same on every call."""
    if not sort:
        return rows
    if sort not in SORT_KEYS:
        raise StatsQueryError(f"sort 只能是 {'/'.join(SORT_KEYS)} 之一，不能是 {sort[:40]!r}")
    keyed = sorted(rows, key=lambda r: str(r["key"]))
    if sort in RATES:
        with_value = [r for r in keyed if r[sort]["value"] is not None]
        without = [r for r in keyed if r[sort]["value"] is None]
        with_value.sort(key=lambda r: r[sort]["value"], reverse=descending)
        return with_value + without
    return sorted(keyed, key=lambda r: r[sort], reverse=descending)


def _count_terms(field: str) -> tuple[str, list[tuple[str, int]]]:
    """``field`` (a count, or ``<rate>.numerator`` / ``<rate>.denominator``) as the count it
    names and the per-case columns that make it, each with its sign (有效受理 = 受理 − 合并 −
    不予受理)."""
    count = field
    if "." in field:
        code, _, part = field.partition(".")
        if code not in RATES or part not in ("numerator", "denominator"):
            raise StatsQueryError(f"field 不是计数或“率.numerator/denominator”：{field[:60]!r}")
        r = rate(code)
        if part == "denominator":
            count = r.denominator
        elif len(r.numerator) == 1:
            count = r.numerator[0]
        else:
            return field, [(n, 1) for n in r.numerator]
    if count not in OUTPUT_COUNTS:
        raise StatsQueryError(f"没有这个计数：{field[:60]!r}（可用：{'/'.join(OUTPUT_COUNTS)}）")
    if count in NOT_PER_CASE:
        raise StatsQueryError(f"{COUNTS.label(count)}不是工单的计数（通报、追责不一定针对某件工单），没有对应的工单列表")
    if count == "accepted":
        return count, [("received", 1), ("merged", -1), ("rejected", -1)]
    return count, [(count, 1)]


class LeaderViews:
    """The leadership reads over a :class:`ReadModel` (its engine, names and text opener)."""

    def __init__(self, rm: ReadModel) -> None:
        self.rm = rm

    # ---- comparison tables ---------------------------------------------------------------

    def table(
        self,
        by: str | None,
        start: dt.date | None,
        end: dt.date | None,
        filters: Mapping[str, str],
        sort: str | None = None,
        descending: bool = True,
    ) -> dict[str, Any]:
        """``ReadModel.stats`` with its rows in the order of ``sort``."""
        out = self.rm.stats(by, start, end, filters)
        out["rows"] = sort_rows(out["rows"], sort, descending)
        if sort:
            out["sort"] = {"by": sort, "descending": descending}
        return out

    # ---- drill-down (下钻) -----------------------------------------------------------------

    def cell_cases(
        self,
        field: str,
        by: str | None,
        key: str | None,
        start: dt.date | None,
        end: dt.date | None,
        filters: Mapping[str, str],
        limit: int = 50,
        offset: int = 0,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The cases behind one number of a table: the cell (row ``key`` of breakdown ``by``,
        or the total row without ``by``) under the same period and filters, count ``field``.

        ``count`` is the number the cell shows, the sum of each case's own contribution
        (``n``: a case dispatched twice brings 2 to 派单); ``total`` the number of cases,
        for paging. Newest first."""
        active = {k: str(v) for k, v in filters.items() if v not in (None, "")}
        for k in active:
            if k not in FILTER_KEYS:
                raise StatsQueryError(f"不支持按 {k!r} 筛选（可用：{'/'.join(FILTER_KEYS)}）")
        if by in ("", "total"):
            by = None
        if by is not None and by not in STATS_DIMENSIONS:
            raise StatsQueryError(f"by 只能是 {'/'.join(STATS_DIMENSIONS.codes)}，不能是 {by!r}")
        if by is not None and key is None:
            raise StatsQueryError("下钻需要给出行（key）")
        count, terms = _count_terms(field)
        if ("unit" in active and (len(active) > 1 or by not in (None, "month", "unit"))) or (
            by == "unit" and set(active) - {"unit"}
        ):
            raise StatsQueryError(UNIT_MIX_REFUSED)
        if ("unit" in active or by == "unit") and count not in UNIT_CELL_COUNTS:
            raise StatsQueryError(
                f"单位的{COUNTS.label(count, field)}按事件归属单位（派给谁、谁签收、谁退单、谁调解、"
                "谁办结后被回访），一件工单可先后计入几个单位，不是工单本身的属性，不能列出工单；"
                f"单位可下钻的计数：{'、'.join(COUNTS.label(c) for c in COUNTS.codes if c in UNIT_CELL_COUNTS)}"
                "，其他计数请按街道、社区、分类、渠道或月份下钻"
            )
        self.rm._fresh()
        t = view_cases
        n = sum((t.c[c] * sign for c, sign in terms[1:]), t.c[terms[0][0]] * terms[0][1])
        source, cond = case_scope(active, start, end, by)
        row_of = case_group(by)
        if row_of is not None:
            cond.append(row_of == key)
        cond.append(n > 0)
        where = and_(true(), *cond)
        totals = (
            select(func.count().label("cases"), func.coalesce(func.sum(n), 0).label("n"))
            .select_from(source)
            .where(where)
        )
        page = (
            select(t, n.label("n"))
            .select_from(source)
            .where(where)
            .order_by(t.c.received_at.desc(), t.c.case_id)
            .limit(max(0, limit))
            .offset(max(0, offset))
        )
        with self.rm.engine.connect() as conn:
            found = conn.execute(totals).one()
            rows = []
            for r in conn.execute(page):
                m = dict(r._mapping)
                contribution = int(m.pop("n") or 0)
                row = self.rm._case_dict(self.rm._opened(m))
                row["n"] = contribution
                if now is not None:
                    row.update(_overdue_flags(row, now))
                rows.append(row)
        return {
            "field": field,
            "count_name": "+".join(COUNTS.label(c) for c, _ in terms) if count == field and "." in field else COUNTS.label(count),
            "by": by,
            "key": key,
            "name": self.rm.name_of(by, key or "") if by else self.rm.name_of(None, ""),
            "from": start,
            "to": end,
            "filters": active,
            "count": int(found.n or 0),
            "total": int(found.cases or 0),
            "limit": limit,
            "offset": offset,
            "rows": rows,
        }

    # ---- trends --------------------------------------------------------------------------

    def trend(
        self,
        granularity: str,
        start: dt.date | None,
        end: dt.date | None,
        filters: Mapping[str, str],
        now: dt.datetime,
    ) -> dict[str, Any]:
        """Counts and rates per day, week (Monday to Sunday) or month over [start, end);
        default: the last 12 months up to and including the current one. A period not yet
        complete at ``now`` is ``open`` (its cases are still being handled: its 办结率 is low
        for that reason, not because work was poor); one cut by the range is ``partial``."""
        if granularity not in GRANULARITIES:
            raise StatsQueryError(f"granularity 只能是 {'/'.join(GRANULARITIES)}，不能是 {granularity[:20]!r}")
        today = now.astimezone(SHANGHAI).date()
        if end is None:
            end = _next_month(today.replace(day=1))
        if start is None:
            start = _months_before(end, 12)
        if start >= end:
            raise StatsQueryError("起始日期必须早于截止日期")
        periods = _periods(granularity, start, end)
        if len(periods) > MAX_PERIODS[granularity]:
            raise StatsQueryError(
                f"按{GRANULARITY_NAMES[granularity]}的趋势最多 {MAX_PERIODS[granularity]} 个时段，"
                f"所选期间有 {len(periods)} 个：请缩短期间或改用更粗的粒度"
            )
        by_day = self._counts_by_day(start, end, filters)
        rows = []
        for p_start, p_end, natural_end in periods:
            counts = dict.fromkeys(COUNT_FIELDS, 0)
            for day, c in by_day.items():
                if p_start <= day < p_end:
                    for f in COUNT_FIELDS:
                        counts[f] += c[f]
            key = _period_key(granularity, _period_start(granularity, p_start))
            row = with_rates(key, _period_name(granularity, p_start, natural_end), counts)
            row["from"] = p_start
            row["to"] = p_end
            row["open"] = natural_end > today
            row["partial"] = (p_end != natural_end) or (p_start != _period_start(granularity, p_start))
            rows.append(row)
        return {
            "granularity": granularity,
            "from": start,
            "to": end,
            "now": now,
            "filters": {k: v for k, v in filters.items() if v},
            "rows": rows,
        }

    def _counts_by_day(
        self, start: dt.date, end: dt.date, filters: Mapping[str, str]
    ) -> dict[dt.date, dict[str, int]]:
        """Per received day: the counters (no filter, or one of unit/channel/category/street),
        else the per-case rows, as ``ReadModel.stats`` answers the same selection."""
        active = {k: str(v) for k, v in filters.items() if v not in (None, "")}
        for k in active:
            if k not in FILTER_KEYS:
                raise StatsQueryError(f"不支持按 {k!r} 筛选（可用：{'/'.join(FILTER_KEYS)}）")
        self.rm._fresh()
        if len(active) <= 1 and not (CASE_ONLY & set(active)):
            t = view_counts
            kind, key = next(iter(active.items())) if active else ("total", None)
            cond: list[ColumnElement[bool]] = [t.c.kind == kind, t.c.day >= start, t.c.day < end]
            if key is not None:
                cond.append(t.c.key == key)
            stmt = select(t.c.day.label("g"), *[func.sum(t.c[f]).label(f) for f in COUNT_FIELDS]).where(and_(*cond)).group_by(t.c.day)
        else:
            if "unit" in active:
                raise StatsQueryError(UNIT_MIX_REFUSED)
            source, conds = case_scope(active, start, end)
            c = view_cases
            stmt = (
                select(c.c.received_day.label("g"), *[func.sum(c.c[f]).label(f) for f in COUNT_FIELDS])
                .select_from(source)
                .where(and_(true(), *conds))
                .group_by(c.c.received_day)
            )
        out: dict[dt.date, dict[str, int]] = {}
        with self.rm.engine.connect() as conn:
            for r in conn.execute(stmt):
                m = r._mapping
                day = m["g"] if isinstance(m["g"], dt.date) else dt.date.fromisoformat(str(m["g"]))
                out[day] = {f: int(m[f] or 0) for f in COUNT_FIELDS}
        return out

    # ---- overdue (超期工单) ------------------------------------------------------------------

    def overdue_page(
        self,
        now: dt.datetime,
        filters: Mapping[str, str],
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Cases with a unit whose claim or handling deadline has passed at ``now``, the
        longest overdue first, narrowed by the table's filters (unit: the unit holding it now;
        received in [start, end)), counted and paged (``limit`` None: every row, for export).
        Rows carry the first 120 characters of the text (``snippet``), not the whole of it."""
        for k in filters:
            if k not in FILTER_KEYS:
                raise StatsQueryError(f"不支持按 {k!r} 筛选（可用：{'/'.join(FILTER_KEYS)}）")
        self.rm._fresh()
        t = view_open_cases
        cond: list[ColumnElement[bool]] = [self.rm._overdue_condition(now)]
        source: Any = t
        for k, v in filters.items():
            if not v:
                continue
            if k == "community":
                cond.append(t.c.locality == v)
            elif k == "appeal_type":
                cond.append(func.coalesce(view_search.c.appeal_type, literal_column("''")) == v)
            elif k == "case_list":  # 四张清单: from 诉求类型 and the project links
                cond.append(case_list_column() == v)
            else:
                cond.append(t.c[k] == v)
        if filters.get("appeal_type") or filters.get("case_list"):
            source = source.join(view_search, view_search.c.case_id == t.c.case_id, isouter=True)
        if filters.get("case_list"):
            source = source.join(view_project_cases, view_project_cases.c.case_id == t.c.case_id, isouter=True)
        if start is not None:
            cond.append(t.c.received_at >= _midnight(start))
        if end is not None:
            cond.append(t.c.received_at < _midnight(end))
        where = and_(*cond)
        count = select(func.count()).select_from(source).where(where)
        # The deadline missed first: the claim deadline of a case not yet claimed, else the
        # handling deadline (as the rows' flags say); the longest missed first.
        missed = case((t.c.claimed_at.is_(None), t.c.claim_deadline), else_=t.c.handle_deadline)
        stmt = select(t).select_from(source).where(where).order_by(missed, t.c.case_id).offset(max(0, offset))
        if limit is not None:
            stmt = stmt.limit(max(0, limit))
        with self.rm.engine.connect() as conn:
            total = int(conn.execute(count).scalar() or 0)
        rows = self.rm._open_dicts(stmt, now)
        for row in rows:
            row["snippet"] = str(row.pop("content") or "")[:120]
            row["street_name"] = self.rm.name_of("street", row["street"]) if row["street"] else None
            row["community_name"] = self.rm.name_of("community", row["locality"]) if row["locality"] else None
            row["category_name"] = self.rm.name_of("category", row["category"])
        return {"now": now, "total": total, "limit": limit, "offset": offset, "rows": rows}


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _months_before(first: dt.date, n: int) -> dt.date:
    y, m = divmod(first.year * 12 + first.month - 1 - n, 12)
    return dt.date(y, m + 1, 1)


def _period_start(granularity: str, day: dt.date) -> dt.date:
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _period_end(granularity: str, first: dt.date) -> dt.date:
    if granularity == "week":
        return first + dt.timedelta(days=7)
    if granularity == "month":
        return _next_month(first)
    return first + dt.timedelta(days=1)


def _periods(granularity: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date, dt.date]]:
    """(start, end clipped to the range, natural end) of each period touching [start, end)."""
    out = []
    first = _period_start(granularity, start)
    while first < end:
        natural_end = _period_end(granularity, first)
        out.append((max(first, start), min(natural_end, end), natural_end))
        first = natural_end
        if len(out) > max(MAX_PERIODS.values()) + 1:
            break
    return out


def _period_key(granularity: str, first: dt.date) -> str:
    if granularity == "month":
        return first.strftime("%Y-%m")
    if granularity == "week":
        iso = first.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return first.isoformat()


def _period_name(granularity: str, first: dt.date, natural_end: dt.date) -> str:
    natural_first = _period_start(granularity, first)
    if granularity == "month":
        return f"{natural_first.year}年{natural_first.month:02d}月"
    if granularity == "week":
        last = natural_end - dt.timedelta(days=1)
        return f"{natural_first.month}月{natural_first.day}日–{last.month}月{last.day}日"
    return f"{first.month}月{first.day}日"


__all__: Sequence[str] = ("GRANULARITIES", "SORT_KEYS", "LeaderViews", "sort_rows")
