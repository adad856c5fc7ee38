"""Read queries over the ``view_`` tables: the rates of docs/rates.md (their JSON: docs/rates.md#where-the-rates-are-read), inboxes, queues, search.

Every query reads the views only; none scans the event log. The rates of a month cost a sum
over the counter rows of that month (≈ 31 rows per key), at 10k cases as at 10M.

In embedded mode (no Kafka) ``before_read`` is set to the projector's catch-up, so a read sees
every event already written to the log, including by another process on the same database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Engine, and_, case, func, literal_column, or_, select, true

from engine.config import SanshiConfig
from engine.vocabulary import (
    CASE_LIST_OF_APPEAL,
    CASE_LISTS,
    CHANNELS,
    DEFAULT_CASE_LIST,
    RETURN_DECISIONS,
    STATS_DIMENSIONS,
    STATUSES,
    UNIT_KINDS,
    WHOLE_DISTRICT,
    CaseList,
    DeadlineKind,
    rates,
)
from projections.fold import TERMINAL, WITH_UNIT, month_of
from projections.ranking import RANKED_KINDS, VOLUME, RankingRule, group_by_kind, place_text
from projections.sealed import TextSealer, open_row, opener
from projections.search import view_search
from projections.tables import (
    COUNT_FIELDS,
    view_cases,
    view_counts,
    view_counts_month,
    view_open_cases,
    view_project_cases,
    view_returns,
)

# The words (labels, the rates' numerators and denominators) are engine.vocabulary's.
BY_VALUES = STATS_DIMENSIONS.codes
FILTER_KEYS = ("unit", "channel", "category", "street", "community", "appeal_type", "case_list")
UNIT_MIX_REFUSED = (
    "按单位统计或筛选时不能再按其他维度分组或筛选：单位的派单、签收、退单、回访等计数随工单"
    "转办归属不同单位，不是工单本身的属性（可只按单位筛选、按月份分组，或按单位分组不加筛选）"
)
# Filters and breakdowns with no counter rows of their own: answered from the per-case rows.
CASE_ONLY = frozenset({"community", "appeal_type", "case_list"})

# field → (中文, numerator, denominator parts); satisfaction adds two numerator counts.
RATES: dict[str, tuple[str, tuple[str, ...], str]] = {
    r.code: (r.label, r.numerator, r.denominator) for r in rates()
}
OUTPUT_COUNTS: tuple[str, ...] = ("received", "accepted", *COUNT_FIELDS[1:])
# Columns of view_open_cases for the router's duplicate index alone, never in a list.
ROUTER_ONLY = ("caller_key", "caller_name_key")
OPEN_STATUSES = (
    "received", "dispatched", "claimed", "mediating", "returned", "reopened", "on_hold"
)
# What a unit holds: its inbox lists suspended cases too (挂起中), with no deadline running.
HELD_BY_UNIT = tuple(sorted({*WITH_UNIT, "on_hold"}))
AT_CENTRE = ("received", "returned", "reopened")
FOLLOW_UP_STATUSES = ("resolved", "answered_directly")
# Rows that are nobody's work: the terminal statuses, and a merged case (not terminal, since
# the centre may unmerge it, but its matter is handled on its original).
ENDED = TERMINAL | {"merged"}


class StatsQueryError(ValueError):
    """A stats request the views cannot answer (bad ``by``, unknown filter); HTTP 422."""


def rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {
        "value": (numerator / denominator) if denominator else None,
        "numerator": numerator,
        "denominator": denominator,
    }


def with_rates(key: str, name: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """One stats row (docs/rates.md): key, name, every count (accepted derived) and every rate."""
    c = {f: int(counts.get(f, 0) or 0) for f in COUNT_FIELDS}
    c["accepted"] = c["received"] - c["merged"] - c["rejected"]
    row: dict[str, Any] = {"key": key, "name": name}
    row.update({f: c[f] for f in OUTPUT_COUNTS})
    for field, (_zh, nums, den) in RATES.items():
        row[field] = rate(sum(c[n] for n in nums), c[den])
    return row


def _as_date(value: dt.date | str | None) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise StatsQueryError(f"日期格式应为 YYYY-MM-DD：{value!r}") from None


class ReadModel:
    def __init__(
        self,
        engine: Engine,
        config: SanshiConfig | None = None,
        sealer: TextSealer | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        # Embedded mode: catch the projector up before answering (set by the wiring).
        self.before_read: Callable[[], None] | None = None
        # SANSHI_CIPHER_KEY: text columns are stored sealed; every row is opened on the way
        # out (projections.sealed). None: stored plain, returned as read.
        self.sealed = sealer is not None
        self._open: Callable[[str], str] | None = opener(sealer) if sealer is not None else None

    def _opened(self, row: dict[str, Any]) -> dict[str, Any]:
        return open_row(row, self._open) if self._open is not None else row

    def _fresh(self) -> None:
        if self.before_read is not None:
            self.before_read()

    # ---- names ---------------------------------------------------------------------------

    def name_of(self, kind: str | None, key: str) -> str:
        cfg = self.config
        if kind is None or kind == "total":
            return cfg.district.name if cfg else WHOLE_DISTRICT
        if kind == "appeal_type":
            return key or "未分类"
        if kind == "case_list":
            return CASE_LISTS.label(key)
        if kind == "month":
            return f"{key[:4]}年{key[5:7]}月" if len(key) == 7 else key
        if kind == "channel":
            return CHANNELS.label(key)
        if kind == "category":
            if not key:
                return "未分类"
            if cfg is not None:
                try:
                    return cfg.category(key).name
                except KeyError:
                    return key
            return key
        if kind in ("unit", "street", "community"):
            if not key:
                return "未知单位" if kind == "unit" else "未定属地"
            if cfg is not None and cfg.has_unit(key):
                return cfg.unit(key).name
            return key
        return key

    # ---- docs/rates.md, docs/http-api.md --------------------------------------------------------------------

    def stats(
        self,
        by: str | None = None,
        from_: dt.date | str | None = None,
        to: dt.date | str | None = None,
        filters: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``{"from","to","by","rows":[…],"total":{…}}`` over cases received in [from, to).

        ``filters``: at most one of unit/channel/category/street from the counters (any
        ``by`` of month or the same kind); channel/category/street/community/appeal_type
        combined, or with another ``by``, and the community and appeal_type breakdowns, are
        answered from the per-case rows (a scan of the period's cases, still no scan of the
        log). A unit filter with another breakdown or filter is refused (``UNIT_MIX_REFUSED``):
        a case's unit counts are not a property of the case alone.
        """
        if by in ("", "total"):
            by = None
        if by is not None and by not in BY_VALUES:
            raise StatsQueryError(f"by 只能是 {'/'.join(BY_VALUES)}，不能是 {by!r}")
        start, end = _as_date(from_), _as_date(to)
        active = {k: str(v) for k, v in (filters or {}).items() if v not in (None, "")}
        for k in active:
            if k not in FILTER_KEYS:
                raise StatsQueryError(f"不支持按 {k!r} 筛选（可用：{'/'.join(FILTER_KEYS)}）")
        self._fresh()
        if by in CASE_ONLY or CASE_ONLY & set(active):
            # 社区 (the case's locality) and 诉求类型 (projections.search): per-case rows only.
            if "unit" in active or by == "unit":
                raise StatsQueryError(UNIT_MIX_REFUSED)
            grouped = self._sum_cases(active, start, end, by)
            total = self._sum_cases(active, start, end, None)
        elif not active:
            kind = "total" if by in (None, "month") else by
            assert kind is not None
            grouped = self._sum_counts(kind, None, start, end, by)
            total = self._sum_counts("total", None, start, end, None)
        elif len(active) == 1 and (by is None or by == "month" or by in active):
            (kind, key), = active.items()
            grouped = self._sum_counts(kind, key, start, end, by)
            total = self._sum_counts(kind, key, start, end, None)
        elif "unit" in active or by == "unit":
            raise StatsQueryError(UNIT_MIX_REFUSED)
        else:
            grouped = self._sum_cases(active, start, end, by)
            total = self._sum_cases(active, start, end, None)
        # Without a breakdown everything is in "total".
        rows = (
            [with_rates(key, self.name_of(by, key), c) for key, c in grouped.items()]
            if by is not None
            else []
        )
        if by == "month":
            rows.sort(key=lambda r: r["key"])
        else:
            rows.sort(key=lambda r: (-r["received"], -r["dispatched"], r["key"]))
        total_counts = total.get("", {})
        if len(active) == 1:
            (fkind, fkey), = active.items()
            total_row = with_rates(fkey, self.name_of(fkind, fkey), total_counts)
        else:
            total_row = with_rates("total", self.name_of("total", ""), total_counts)
        out: dict[str, Any] = {
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "by": by,
            "rows": rows,
            "total": total_row,
        }
        if active:
            out["filters"] = active
        return out

    def _sum_counts(
        self,
        kind: str,
        key: str | None,
        start: dt.date | None,
        end: dt.date | None,
        by: str | None,
    ) -> dict[str, dict[str, int]]:
        """Sum the counters of one scope kind over [start, end): whole months from the monthly
        rows, the partial months at either edge from the daily rows."""
        month_from = None if start is None else (start if start.day == 1 else _next_month(start))
        month_to = None if end is None else end.replace(day=1)
        if month_from is not None and month_to is not None and month_from >= month_to:
            parts = [self._counts_stmt(view_counts, kind, key, start, end, by)]
        else:
            parts = []
            if start is not None and month_from is not None and start < month_from:
                parts.append(self._counts_stmt(view_counts, kind, key, start, month_from, by))
            parts.append(self._counts_stmt(view_counts_month, kind, key, month_from, month_to, by))
            if end is not None and month_to is not None and month_to < end:
                parts.append(self._counts_stmt(view_counts, kind, key, month_to, end, by))
        grouped = by is not None
        total: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for stmt in parts:
                for g, counts in self._collect(conn, stmt, grouped).items():
                    into = total.setdefault(g, dict.fromkeys(COUNT_FIELDS, 0))
                    for f, v in counts.items():
                        into[f] += v
        return _without_empty(total, grouped)

    @staticmethod
    def _counts_stmt(
        t: Any,
        kind: str,
        key: str | None,
        start: dt.date | None,
        end: dt.date | None,
        by: str | None,
    ) -> Any:
        cond: list[ColumnElement[bool]] = [t.c.kind == kind]
        if key is not None:
            cond.append(t.c.key == key)
        monthly = "day" not in t.c
        if start is not None:
            cond.append(t.c.month >= month_of(start) if monthly else t.c.day >= start)
        if end is not None:
            cond.append(t.c.month < month_of(end) if monthly else t.c.day < end)
        group = t.c.month if by == "month" else (t.c.key if by is not None else None)
        sums = [func.sum(t.c[f]).label(f) for f in COUNT_FIELDS]
        stmt = select(*([group.label("g")] if group is not None else []), *sums).where(and_(*cond))
        if group is not None:
            stmt = stmt.group_by(group)
        return stmt

    def _sum_cases(
        self,
        filters: Mapping[str, str],
        start: dt.date | None,
        end: dt.date | None,
        by: str | None,
    ) -> dict[str, dict[str, int]]:
        t = view_cases
        source, cond = case_scope(filters, start, end, by)
        group = case_group(by)
        sums = [func.sum(t.c[f]).label(f) for f in COUNT_FIELDS]
        stmt = select(*([group.label("g")] if group is not None else []), *sums).select_from(source)
        if cond:
            stmt = stmt.where(and_(*cond))
        if group is not None:
            stmt = stmt.group_by(group)
        with self.engine.connect() as conn:
            return _without_empty(self._collect(conn, stmt, group is not None), group is not None)

    @staticmethod
    def _collect(conn: Any, stmt: Any, grouped: bool) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in conn.execute(stmt):
            m = r._mapping
            out[str(m["g"] or "") if grouped else ""] = {f: int(m[f] or 0) for f in COUNT_FIELDS}
        return out

    def ranking(
        self,
        from_: dt.date | str | None = None,
        to: dt.date | str | None = None,
        kind: str | None = None,
    ) -> dict[str, Any]:
        """承办单位排名 over cases received in [from, to): each kind of unit ranked apart by the
        district's weights (projections/ranking.py, docs/rates.md#the-ranking-承办单位排名).

        ``{"from", "to", "weights", "min_volume", "volume", "definition", "groups": [{"kind",
        "kind_name", "rows": [ranked, best first], "unranked": [样本不足]}]}``; ``kind``: that
        kind's group only."""
        if kind is not None and kind not in RANKED_KINDS:
            names = "/".join(RANKED_KINDS)
            raise StatsQueryError(f"kind 只能是 {names}，不能是 {kind!r}")
        rule = RankingRule.of_config(self.config)
        data = self.stats("unit", from_, to)
        kinds = RANKED_KINDS if kind is None else (kind,)
        by_kind = group_by_kind(
            self.config, data["rows"], lambda key, name: with_rates(key, name, {}), kinds
        )
        groups = []
        for k, rows in by_kind.items():
            ranked, apart = rule.rank(rows)
            groups.append(
                {"kind": k, "kind_name": UNIT_KINDS.label(k), "rows": ranked, "unranked": apart}
            )
        return {
            "from": data["from"],
            "to": data["to"],
            "weights": rule.weights,
            "min_volume": rule.min_volume,
            "volume": VOLUME,
            "definition": rule.definition(),
            "groups": groups,
        }

    def unit_figures(
        self,
        unit: str,
        from_: dt.date | str | None = None,
        to: dt.date | str | None = None,
    ) -> dict[str, Any]:
        """本单位考核: one unit's seven rates over [from, to) (the ``total`` of ``stats`` with a
        unit filter, the same numbers), its place in its kind's ranking and its rates per month."""
        own = self.stats(None, from_, to, {"unit": unit})
        monthly = self.stats("month", from_, to, {"unit": unit})
        kind = self.config.unit(unit).kind.value if self.config and self.config.has_unit(unit) else ""
        rule = RankingRule.of_config(self.config)
        row: dict[str, Any] | None = None
        group: dict[str, Any] | None = None
        if kind in RANKED_KINDS:
            report = self.ranking(from_, to, kind)
            group = report["groups"][0] if report["groups"] else None
            for r in [*(group or {}).get("rows", []), *(group or {}).get("unranked", [])]:
                if r["key"] == unit:
                    row = r
        place = {
            "kind": kind,
            "kind_name": UNIT_KINDS.label(kind) if kind else "",
            "ranked": row is not None and row.get("rank") is not None,
            "rank": row.get("rank") if row else None,
            "of": len(group["rows"]) if group else 0,
            "score": row.get("score") if row else None,
            "unscored": row.get("unscored", []) if row else [],
            "reason": row.get("reason") if row else None,
            "text": place_text(row, kind, rule),
        }
        return {
            "unit": unit,
            "name": self.name_of("unit", unit),
            "kind": kind,
            "kind_name": place["kind_name"],
            "from": own["from"],
            "to": own["to"],
            "figures": own["total"],
            "place": place,
            "months": monthly["rows"],
            "weights": rule.weights,
            "min_volume": rule.min_volume,
            "volume": VOLUME,
            "definition": rule.definition(),
        }

    # ---- open cases ----------------------------------------------------------------------

    def _open_dicts(self, stmt: Any, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = [self._opened(dict(r._mapping)) for r in conn.execute(stmt)]
        for row in rows:
            # The callers' keyed hashes are the router's (open_cases_for_router): a list
            # handed to a unit or a page must not let anyone link one caller's cases.
            for column in ROUTER_ONLY:
                row.pop(column, None)
            row["status_name"] = STATUSES.label(row["status"])
            row["unit_name"] = self.name_of("unit", row["unit"]) if row["unit"] else None
            if now is not None:
                row.update(_overdue_flags(row, now))
        return rows

    def inbox(self, unit: str, now: dt.datetime) -> list[dict[str, Any]]:
        """The unit's open cases (dispatched / claimed / mediating), nearest deadline first."""
        self._fresh()
        t = view_open_cases
        stmt = select(t).where(t.c.unit == unit, t.c.status.in_(HELD_BY_UNIT))
        rows = self._open_dicts(stmt, now)
        rows.sort(key=lambda r: (r["next_deadline"] is None, r["next_deadline"] or now))
        return rows

    def manual_queue(self) -> list[dict[str, Any]]:
        """Cases waiting at the centre (转人工 / after a return or reopen), oldest first;
        ``manual_reason`` says why when the router or the third return put it there."""
        self._fresh()
        t = view_open_cases
        stmt = (
            select(t)
            .where(t.c.status.in_(AT_CENTRE))
            .order_by(t.c.manual_reason.is_(None), t.c.received_at)
        )
        return self._open_dicts(stmt)

    def manual_queue_page(self, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """待派单 counted and paged, in :meth:`manual_queue`'s order."""
        self._fresh()
        t = view_open_cases
        return self._paged(
            t.c.status.in_(AT_CENTRE),
            (t.c.manual_reason.is_(None), t.c.received_at, t.c.case_id),
            limit,
            offset,
        )

    def follow_up_queue(self) -> list[dict[str, Any]]:
        """Resolved or answered cases waiting for the follow-up call (待回访), oldest first."""
        self._fresh()
        t = view_open_cases
        # A merged caller is due a callback once the original is resolved (合并件回访).
        due = or_(t.c.status.in_(FOLLOW_UP_STATUSES), and_(t.c.status == "merged", t.c.callback_due))
        stmt = (
            select(t)
            .where(due)
            .order_by(t.c.callback_since, t.c.received_at, t.c.case_id)
        )
        return self._open_dicts(stmt)

    def hold_queue(self) -> list[dict[str, Any]]:
        """待审挂起: requests to suspend waiting for the centre, oldest request first."""
        self._fresh()
        t = view_open_cases
        stmt = (
            select(t)
            .where(t.c.hold_requested_at.is_not(None))
            .order_by(t.c.hold_requested_at, t.c.received_at)
        )
        return self._open_dicts(stmt)

    def hold_queue_page(
        self, limit: int = 50, offset: int = 0, unit: str | None = None
    ) -> dict[str, Any]:
        """待审挂起 counted and paged, in :meth:`hold_queue`'s order; ``unit``: that unit's."""
        self._fresh()
        t = view_open_cases
        return self._paged(
            and_(t.c.hold_requested_at.is_not(None), _of_unit(t.c.unit, unit)),
            (t.c.hold_requested_at, t.c.received_at, t.c.case_id),
            limit,
            offset,
        )

    def instruction_tracking(
        self, now: dt.datetime, limit: int = 200, offset: int = 0
    ) -> dict[str, Any]:
        """批示跟踪: every case with a leader's instruction (批示件), those waiting for the
        unit's reply first (the earliest reply deadline first), then the answered ones, latest
        case first; with counts over all of them: instructions, answered, answered on time,
        waiting, waiting past their deadline."""
        self._fresh()
        t = view_cases
        waiting = t.c.instruction_due.is_not(None)
        with self.engine.connect() as conn:
            totals = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(t.c.instructions), 0),
                    func.coalesce(func.sum(t.c.instructions_answered), 0),
                    func.coalesce(func.sum(t.c.instructions_on_time), 0),
                    func.count(t.c.instruction_due),
                    func.count(case((t.c.instruction_due < now, 1))),
                ).where(t.c.instructions > 0)
            ).one()
            stmt = (
                select(t)
                .where(t.c.instructions > 0)
                .order_by(waiting.desc(), t.c.instruction_due, t.c.received_at.desc(), t.c.case_id)
                .limit(limit)
                .offset(offset)
            )
            rows = [self._case_dict(self._opened(dict(r._mapping))) for r in conn.execute(stmt)]
        for row in rows:
            due = row["instruction_due"]
            row["instruction_overdue"] = bool(due is not None and now > due)
        cases, total, answered, on_time, pending, overdue = (int(v) for v in totals)
        return {
            "counts": {
                "cases": cases,
                "instructions": total,
                "answered": answered,
                "answered_on_time": on_time,
                "pending": pending,
                "pending_overdue": overdue,
            },
            "rows": rows,
        }

    # ---- 待审退单, 待回访 (paged work queues) and disputed returns per unit pair --------------------

    def _paged(
        self,
        where: ColumnElement[bool],
        order: Sequence[Any],
        limit: int,
        offset: int,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """A work queue: how many in all, and one page of them in the given order (with ``now``,
        each row carries its deadline state, as the inbox)."""
        t = view_open_cases
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(t).where(where)).scalar() or 0)
        stmt = select(t).where(where).order_by(*order).limit(limit).offset(offset)
        rows = self._open_dicts(stmt, now)
        return {"total": total, "limit": limit, "offset": offset, "rows": rows}

    def return_review_queue(
        self, limit: int = 50, offset: int = 0, unit: str | None = None
    ) -> dict[str, Any]:
        """待审退单: returns waiting for the centre's review, the oldest return first, with the
        returning unit, the unit it named and its reason; ``unit``: the returns of that unit."""
        self._fresh()
        t = view_open_cases
        page = self._paged(
            # A merged case stays among the open rows (its caller is called back later); a
            # return that waited when it was merged lapsed.
            and_(
                t.c.return_pending_at.is_not(None),
                t.c.status != "merged",
                _of_unit(t.c.return_from, unit),
            ),
            (t.c.return_pending_at, t.c.received_at, t.c.case_id),
            limit,
            offset,
        )
        for row in page["rows"]:
            row["return_from_name"] = self.name_of("unit", row["return_from"] or "")
            suggested = row["return_suggested"]
            row["return_suggested_name"] = self.name_of("unit", suggested) if suggested else None
        return page

    def extension_review_queue(
        self, now: dt.datetime, limit: int = 50, offset: int = 0, unit: str | None = None
    ) -> dict[str, Any]:
        """待审延期: requests for more time waiting for the centre's decision, oldest request
        first, with the unit."""
        self._fresh()
        t = view_open_cases
        return self._paged(
            and_(
                t.c.extension_requested_to.is_not(None),
                t.c.status.in_(sorted(WITH_UNIT)),
                _of_unit(t.c.unit, unit),
            ),
            (t.c.extension_requested_at, t.c.received_at, t.c.case_id),
            limit,
            offset,
            now,
        )

    def callback_queue(
        self, limit: int = 50, offset: int = 0, unit: str | None = None
    ) -> dict[str, Any]:
        """待回访: every resolved or directly answered case waiting for its follow-up call (and
        every merged caller whose original is resolved), the
        longest waiting first, with the calls nobody answered and whether that allows
        未接通结案; ``closable``: how many of them may be closed so."""
        self._fresh()
        t = view_open_cases
        # A merged caller is due a callback once the original is resolved (合并件回访).
        due = and_(
            or_(t.c.status.in_(FOLLOW_UP_STATUSES), and_(t.c.status == "merged", t.c.callback_due)),
            # ``unit``: the cases that unit resolved (resp_unit: who answers for the result).
            _of_unit(t.c.resp_unit, unit),
        )
        page = self._paged(due, (t.c.callback_since, t.c.received_at, t.c.case_id), limit, offset)
        with self.engine.connect() as conn:
            page["closable"] = int(
                conn.execute(
                    select(func.count()).select_from(t).where(due, t.c.callback_closable)
                ).scalar()
                or 0
            )
        for row in page["rows"]:
            resolved = row.get("resp_unit")
            row["resolved_unit_name"] = self.name_of("unit", resolved) if resolved else None
        return page

    def return_pairs(
        self,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        unit: str | None = None,
    ) -> dict[str, Any]:
        """Disputed returns per unit pair (退单争议): for returns made in [start, end) (Beijing
        days), per returning unit and the unit it named (建议承办单位, "" when none), how many
        returns, and what the centre decided (approved, of those to the named unit, refused,
        pending; auto and lapsed as docs/lifecycle.md says); ``reverse``: the returns of the
        opposite pair (units pushing a case back and forth). ``unit``: pairs with that unit on
        either side."""
        self._fresh()
        t = view_returns
        cond: list[ColumnElement[bool]] = []
        start_d, end_d = _as_date(start), _as_date(end)
        if start_d is not None:
            cond.append(t.c.returned_day >= start_d)
        if end_d is not None:
            cond.append(t.c.returned_day < end_d)

        def n(decision: str) -> Any:
            return func.coalesce(func.sum(case((t.c.decision == decision, 1), else_=0)), 0)

        to_named = func.coalesce(
            func.sum(
                case(
                    (and_(t.c.decision == "approved", t.c.to_unit == t.c.suggested_unit), 1),
                    else_=0,
                )
            ),
            0,
        )
        stmt = (
            select(
                t.c.unit,
                t.c.suggested_unit,
                func.count().label("returns"),
                *(n(d).label(d) for d in RETURN_DECISIONS.codes),
                to_named.label("approved_to_suggested"),
            )
            .where(and_(true(), *cond))
            .group_by(t.c.unit, t.c.suggested_unit)
        )
        with self.engine.connect() as conn:
            found = [dict(r._mapping) for r in conn.execute(stmt)]
        by_pair = {(r["unit"], r["suggested_unit"]): r for r in found}
        rows = []
        for r in found:
            if unit is not None and unit not in (r["unit"], r["suggested_unit"]):
                continue
            row = {k: (int(v) if k not in ("unit", "suggested_unit") else v) for k, v in r.items()}
            row["unit_name"] = self.name_of("unit", r["unit"])
            named = r["suggested_unit"]
            row["suggested_unit_name"] = self.name_of("unit", named) if named else None
            reverse = by_pair.get((named, r["unit"])) if named else None
            row["reverse"] = int(reverse["returns"]) if reverse else 0
            row["decided"] = row["approved"] + row["refused"]
            row["refusal_rate"] = rate(row["refused"], row["decided"])
            rows.append(row)
        rows.sort(key=lambda r: (-r["refused"], -r["returns"], r["unit"], r["suggested_unit"]))
        totals = {k: sum(r[k] for r in rows) for k in ("returns", *RETURN_DECISIONS.codes)}
        return {"from": start_d, "to": end_d, "rows": rows, "total": totals}

    def _overdue_condition(self, now: dt.datetime) -> ColumnElement[bool]:
        t = view_open_cases
        return and_(
            t.c.status.in_(sorted(WITH_UNIT)),
            or_(
                and_(t.c.claimed_at.is_(None), t.c.claim_deadline < now),
                t.c.handle_deadline < now,
            ),
        )

    def overdue(self, now: dt.datetime) -> list[dict[str, Any]]:
        """Cases with a unit whose claim or handling deadline has passed, most overdue first."""
        self._fresh()
        t = view_open_cases
        stmt = select(t).where(self._overdue_condition(now)).order_by(t.c.handle_deadline)
        return self._open_dicts(stmt, now)

    def due_for_escalation(self, now: dt.datetime) -> list[UUID]:
        """Cases with a passed deadline not yet escalated (督办), and suspended cases whose
        expected resume time has come (挂起到期) — the deadline clock's candidates;
        ``app.tick`` checks each against the case itself."""
        self._fresh()
        t = view_open_cases
        stmt = select(t.c.case_id).where(
            or_(
                and_(
                    t.c.status.in_(sorted(WITH_UNIT)),
                    or_(
                        and_(
                            t.c.claimed_at.is_(None),
                            t.c.claim_deadline < now,
                            t.c.claim_escalated.is_(False),
                        ),
                        and_(t.c.handle_deadline < now, t.c.handle_escalated.is_(False)),
                    ),
                ),
                and_(t.c.status == "on_hold", t.c.resume_expected <= now),
            )
        )
        with self.engine.connect() as conn:
            due = [r[0] for r in conn.execute(stmt)]
        # 协办: cases whose assisting parts missed a deadline (projections.coop_queries).
        from projections.coop_queries import CoopViews

        return list(dict.fromkeys([*due, *CoopViews(self).due_parts(now)]))

    def open_cases_for_router(
        self, localities: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Open, classified cases for the router's duplicate index at start-up: case_id,
        content, category, locality, received_at (plus channel, address, street, urgent,
        concern, appeal_type, enough for ``CaseFacts``; the caller as the keyed hashes
        caller_key / caller_name_key the index compares, engine.routing.callers). With ``localities``: only the open cases at those
        属地 (a Kafka worker taking over the places of its partitions, or checking a report
        that reached it from another worker's place: adapters/transport/worker.py)."""
        self._fresh()
        t = view_open_cases
        stmt = select(
            t.c.case_id,
            t.c.content,
            t.c.category,
            t.c.locality,
            t.c.street,
            t.c.received_at,
            t.c.channel,
            t.c.address,
            t.c.urgent,
            t.c.concern,
            t.c.appeal_type,
            t.c.caller_key,
            t.c.caller_name_key,
        ).where(t.c.status.in_(OPEN_STATUSES), t.c.category != "")
        if localities is not None:
            stmt = stmt.where(t.c.locality.in_(sorted(localities)))
        with self.engine.connect() as conn:
            rows = [self._opened(dict(r._mapping)) for r in conn.execute(stmt)]
        for row in rows:
            row["locality"] = row["locality"] or None
            row["street"] = row["street"] or None
        return rows

    # ---- search --------------------------------------------------------------------------

    def _case_conditions(self, filters: Mapping[str, Any] | None) -> list[ColumnElement[bool]]:
        t = view_cases
        cond: list[ColumnElement[bool]] = []
        for k, v in (filters or {}).items():
            if v is None or v == "":
                continue
            if k == "status":
                values = v if isinstance(v, list | tuple | set) else str(v).split(",")
                cond.append(t.c.status.in_([s.strip() for s in values]))
            elif k == "open":
                terminal = sorted(ENDED | {"resolved", "answered_directly"})
                cond.append(t.c.status.notin_(terminal) if v else t.c.status.in_(terminal))
            elif k in ("unit", "channel", "category", "street", "locality", "resolved_unit"):
                cond.append(t.c[k] == str(v))
            elif k == "dispatched_to":  # every unit it was ever sent to (a unit's visibility)
                cond.append(t.c.units.contains(f"|{v}|", autoescape=True))
            elif k == "source_ref":
                cond.append(t.c.source_ref == str(v))
            elif k in ("from", "received_from"):
                cond.append(t.c.received_day >= _as_date(v))
            elif k in ("to", "received_to"):
                cond.append(t.c.received_day < _as_date(v))
            elif k == "updated_after":
                cond.append(t.c.updated_at >= v)
            elif k == "updated_before":
                cond.append(t.c.updated_at < v)
            elif k == "q":
                if self.sealed:
                    continue  # sealed snippets: matched in Python (_search_ids)
                cond.append(t.c.snippet.contains(str(v), autoescape=True))
            elif k == "ids":
                cond.append(t.c.case_id.in_([UUID(str(i)) for i in v]))
            else:
                raise StatsQueryError(f"不支持的查询条件 {k!r}")
        return cond

    def cases(
        self,
        filters: Mapping[str, Any] | None = None,
        limit: int = 50,
        offset: int = 0,
        now: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Case list for search and Open311, newest first. Filters: status (one or a comma
        list), open (bool), unit (current), dispatched_to (ever), channel, category, street,
        locality, resolved_unit, source_ref, from/to (received day), updated_after/before
        (aware datetimes), q (text in the first 120 characters), ids. With ``now``, each row
        also carries its deadline state (``overdue`` ..., as the inbox)."""
        self._fresh()
        t = view_cases
        cond = self._case_conditions(filters)
        needle = self._sealed_needle(filters)
        if needle is not None:
            page = self._search_ids(cond, needle, max(0, offset) + max(0, limit))[max(0, offset) :]
            cond = [t.c.case_id.in_(page)]
            limit, offset = len(page), 0
        stmt = (
            select(t)
            .where(and_(true(), *cond))
            .order_by(t.c.received_at.desc(), t.c.case_id)
            .limit(max(0, limit))
            .offset(max(0, offset))
        )
        with self.engine.connect() as conn:
            rows = [self._case_dict(self._opened(dict(r._mapping))) for r in conn.execute(stmt)]
        if now is not None:
            for row in rows:
                row.update(_overdue_flags(row, now))
        return rows

    def count_cases(self, filters: Mapping[str, Any] | None = None) -> int:
        self._fresh()
        cond = self._case_conditions(filters)
        needle = self._sealed_needle(filters)
        if needle is not None:
            return len(self._search_ids(cond, needle, None))
        stmt = select(func.count()).select_from(view_cases).where(and_(true(), *cond))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def _sealed_needle(self, filters: Mapping[str, Any] | None) -> str | None:
        """The text to look for in Python: only with sealed snippets and a ``q``."""
        q = (filters or {}).get("q")
        if not self.sealed or q is None or q == "":
            return None
        return str(q).casefold()

    def _search_ids(
        self, cond: Sequence[ColumnElement[bool]], needle: str, wanted: int | None
    ) -> list[UUID]:
        """Ids of the cases matching ``cond`` whose opened snippet contains ``needle``, newest
        first, the first ``wanted`` of them (all with None).

        Sealed snippets cannot be matched by SQL. A clerk searching 路灯 expects the cases
        about street lights, key or no key, so the other filters narrow the rows in SQL and
        the snippets are opened and matched here, stopping as soon as the page is full. Cost:
        ~µs per snippet opened, so a search over every case of a large district (no other
        filter, few matches) reads them all; counts always do. Case-insensitive, like
        SQLite's LIKE (PostgreSQL's is not; Chinese has no case)."""
        t = view_cases
        assert self._open is not None
        open_ = self._open
        stmt = (
            select(t.c.case_id, t.c.snippet)
            .where(and_(true(), *cond))
            .order_by(t.c.received_at.desc(), t.c.case_id)
        )
        found: list[UUID] = []
        if wanted == 0:
            return found
        with self.engine.connect() as conn:
            for case_id, snippet in conn.execution_options(yield_per=2000).execute(stmt):
                if snippet and needle in open_(snippet).casefold():
                    found.append(case_id)
                    if wanted is not None and len(found) >= wanted:
                        break
        return found

    def case_summary(self, case_id: UUID) -> dict[str, Any] | None:
        self._fresh()
        with self.engine.connect() as conn:
            r = conn.execute(select(view_cases).where(view_cases.c.case_id == case_id)).first()
            if r is None:
                return None
            row = self._case_dict(self._opened(dict(r._mapping)))
            content = conn.execute(
                select(view_open_cases.c.content).where(view_open_cases.c.case_id == case_id)
            ).scalar()
        if content is not None:
            row["content"] = self._open(content) if self._open is not None else content
        return row

    def _case_dict(self, row: dict[str, Any]) -> dict[str, Any]:
        counts = {f: row.pop(f) for f in COUNT_FIELDS}
        row["resolved_now"] = bool(counts["resolved"])
        row["counts"] = counts
        row["status_name"] = STATUSES.label(row["status"])
        row["category_name"] = self.name_of("category", row["category"])
        row["unit_name"] = self.name_of("unit", row["unit"]) if row["unit"] else None
        row["channel_name"] = CHANNELS.label(row["channel"])
        row["units"] = [u for u in (row["units"] or "").split("|") if u]
        row["is_open"] = row["status"] not in ENDED
        row["month"] = row.pop("received_month")
        return row


def _appeal_type() -> ColumnElement[str]:
    """A case's 诉求类型 ("" when it has none, or no search row)."""
    # A literal, not a bound "": PostgreSQL must see the GROUP BY expression as the selected one.
    return func.coalesce(view_search.c.appeal_type, literal_column("''"))


def case_list_column() -> ColumnElement[str]:
    """A case's list (四张清单), the rule of ``engine.vocabulary.case_list_of`` in SQL: a case
    in a 实事项目 is on the project list; otherwise its 诉求类型 decides (needs the search view
    and the project links joined: ``case_scope``)."""
    appeal = _appeal_type()
    whens: list[tuple[ColumnElement[bool], ColumnElement[str]]] = [
        (view_project_cases.c.project_id.is_not(None), literal_column(f"'{CaseList.PROJECT.value}'"))
    ]
    by_list: dict[str, list[str]] = {}
    for appeal_type, code in CASE_LIST_OF_APPEAL.items():
        by_list.setdefault(code, []).append(appeal_type)
    for code, types in by_list.items():
        whens.append((appeal.in_(types), literal_column(f"'{code}'")))
    return case(*whens, else_=literal_column(f"'{DEFAULT_CASE_LIST}'"))


def case_group(by: str | None) -> ColumnElement[Any] | None:
    """The per-case column a breakdown groups by (``day``: the received day, for trends)."""
    t = view_cases
    if by is None:
        return None
    if by == "month":
        return t.c.received_month
    if by == "day":
        return t.c.received_day
    if by == "community":
        return t.c.locality
    if by == "appeal_type":
        return _appeal_type()
    if by == "case_list":
        return case_list_column()
    if by == "unit":  # only the case-level counts sit with one unit (RESPONSIBLE_FIELDS)
        return t.c.resp_unit
    return t.c[by]


def case_scope(
    filters: Mapping[str, str],
    start: dt.date | None,
    end: dt.date | None,
    by: str | None = None,
) -> tuple[Any, list[ColumnElement[bool]]]:
    """The per-case rows of a selection: what to select from (the search view joined when
    诉求类型 is asked for) and the conditions (filters, received in [start, end))."""
    t = view_cases
    cond: list[ColumnElement[bool]] = []
    for k, v in filters.items():
        if k == "community":
            cond.append(t.c.locality == v)
        elif k == "appeal_type":
            cond.append(_appeal_type() == v)
        elif k == "case_list":
            cond.append(case_list_column() == v)
        elif k == "unit":
            cond.append(t.c.resp_unit == v)
        else:
            cond.append(t.c[k] == v)
    if start is not None:
        cond.append(t.c.received_day >= start)
    if end is not None:
        cond.append(t.c.received_day < end)
    source: Any = t
    lists = by == "case_list" or "case_list" in filters
    if lists or by == "appeal_type" or "appeal_type" in filters:
        source = t.join(view_search, view_search.c.case_id == t.c.case_id, isouter=True)
    if lists:
        source = source.join(
            view_project_cases, view_project_cases.c.case_id == t.c.case_id, isouter=True
        )
    return source, cond


def _of_unit(column: Any, unit: str | None) -> ColumnElement[bool]:
    """A work queue's unit filter: no condition without one."""
    return true() if not unit else column == unit


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _without_empty(
    groups: dict[str, dict[str, int]], grouped: bool
) -> dict[str, dict[str, int]]:
    """Drop keys whose cases all moved elsewhere (re-categorised, re-assigned)."""
    if not grouped:
        return groups
    return {k: v for k, v in groups.items() if any(v.values())}


def _overdue_flags(row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The deadline state of a row at ``now``: the one overdue rule of every list (the web UI
    shows these flags and computes none). Only a case with a unit can be late; the claim
    clock runs until the unit claims, the handling clock after."""
    with_unit = row["status"] in WITH_UNIT
    claim_deadline = row.get("claim_deadline")
    handle_deadline = row.get("handle_deadline")
    claim_overdue = bool(
        with_unit and row.get("claimed_at") is None and claim_deadline and now > claim_deadline
    )
    handle_overdue = bool(with_unit and handle_deadline and now > handle_deadline)
    next_kind: DeadlineKind | None
    if not with_unit:
        next_kind, next_deadline = None, None
    elif row.get("claimed_at") is None:
        next_kind, next_deadline = DeadlineKind.CLAIM, claim_deadline
    else:
        next_kind, next_deadline = DeadlineKind.HANDLE, handle_deadline
    # The deadline missed first: 签收 before the claim, else 办理.
    overdue_kind = (
        DeadlineKind.CLAIM if claim_overdue else DeadlineKind.HANDLE if handle_overdue else None
    )
    return {
        "claim_overdue": claim_overdue,
        "handle_overdue": handle_overdue,
        "overdue": claim_overdue or handle_overdue,
        "overdue_kind": overdue_kind.value if overdue_kind else None,
        "next_deadline": next_deadline,
        "next_deadline_kind": next_kind.value if next_kind else None,
    }


__all__: Sequence[str] = ("RATES", "ReadModel", "StatsQueryError", "rate", "with_rates")
