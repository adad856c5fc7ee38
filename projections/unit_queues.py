"""A unit's work queues (承办单位工作队列): 待签收, 办理中, 今日到期, 已超期, 协办待反馈, 批示.

Each queue is a filter of the unit's own cases, counted over all of them and paged, the oldest
(the most pressing deadline) first. The names are engine.vocabulary's ``UNIT_QUEUES``.

"Today" is the day of ``now`` in the district's time (Asia/Shanghai): the caller passes the
service's clock (``app.clock()``), never the machine's date, so tests can fix or move it.

- 今日到期: a case with the unit whose handling deadline (办理时限) falls later today and has
  not passed; a case whose claim deadline has passed is 已超期 instead, so the two never
  overlap.
- 已超期: the overdue rule of every list (``ReadModel._overdue_condition``, the row flags of
  ``_overdue_flags``): the claim deadline passed before claiming, or the handling deadline.
- A suspended case (挂起中) is in neither: its handling clock stands still, and on 恢复办理 the
  view's handling deadline moves later by the paused working days (``Resumed``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from engine.deadlines import SHANGHAI
from engine.vocabulary import UNIT_QUEUES
from projections.fold import WITH_UNIT
from projections.queries import HELD_BY_UNIT, ReadModel
from projections.tables import view_open_cases

QUEUES: tuple[str, ...] = UNIT_QUEUES.codes


class UnknownQueue(ValueError):
    """A queue name not in ``UNIT_QUEUES``."""


def end_of_today(now: dt.datetime) -> dt.datetime:
    """The next midnight after ``now`` in the district's time."""
    day = now.astimezone(SHANGHAI).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=SHANGHAI)


class UnitQueues:
    def __init__(self, read_model: ReadModel) -> None:
        self.rm = read_model

    def _case_where(self, unit: str, queue: str, now: dt.datetime) -> ColumnElement[bool]:
        t = view_open_cases
        mine = t.c.unit == unit
        with_unit = t.c.status.in_(sorted(WITH_UNIT))
        if queue == "to_claim":
            return and_(mine, t.c.status == "dispatched")
        if queue == "handling":
            return and_(mine, t.c.status.in_([s for s in HELD_BY_UNIT if s != "dispatched"]))
        if queue == "overdue":
            return and_(mine, self.rm._overdue_condition(now))
        if queue == "due_today":
            claim_missed = and_(t.c.claimed_at.is_(None), t.c.claim_deadline < now)
            return and_(
                mine,
                with_unit,
                t.c.handle_deadline >= now,
                t.c.handle_deadline < end_of_today(now),
                ~claim_missed,
            )
        if queue == "instructions":
            # A leader's instruction waiting for this unit's reply (the unit holding the case).
            return and_(mine, t.c.status.in_(HELD_BY_UNIT), t.c.instruction_due.is_not(None))
        raise UnknownQueue(queue)

    def _order(self, queue: str) -> Sequence[Any]:
        t = view_open_cases
        if queue == "to_claim":
            return (t.c.claim_deadline, t.c.dispatched_at, t.c.case_id)
        if queue == "overdue":
            # The deadline missed first: the claim's before claiming, else the handling one.
            missed = case((t.c.claimed_at.is_(None), t.c.claim_deadline), else_=t.c.handle_deadline)
            return (missed, t.c.received_at, t.c.case_id)
        if queue == "instructions":
            return (t.c.instruction_due, t.c.received_at, t.c.case_id)
        return (t.c.handle_deadline, t.c.received_at, t.c.case_id)

    def counts(self, unit: str, now: dt.datetime) -> dict[str, int]:
        """How many cases each queue holds for ``unit`` at ``now``."""
        self.rm._fresh()
        t = view_open_cases
        out: dict[str, int] = {}
        with self.rm.engine.connect() as conn:
            for queue in QUEUES:
                if queue == "assists":
                    continue
                where = self._case_where(unit, queue, now)
                out[queue] = int(
                    conn.execute(select(func.count()).select_from(t).where(where)).scalar() or 0
                )
        out["assists"] = len(self._assists(unit, now))
        return {q: out[q] for q in QUEUES}

    def page(
        self, unit: str, queue: str, now: dt.datetime, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """One page of a queue: ``{"queue", "name", "total", "limit", "offset", "rows"}``;
        rows carry the deadline flags of every list (``overdue``, ``next_deadline`` ...)."""
        if queue not in QUEUES:
            raise UnknownQueue(queue)
        self.rm._fresh()
        if queue == "assists":
            rows = self._assists(unit, now)
            page: dict[str, Any] = {
                "total": len(rows), "limit": limit, "offset": offset,
                "rows": rows[offset : offset + limit],
            }
        else:
            where = self._case_where(unit, queue, now)
            page = self.rm._paged(where, self._order(queue), limit, offset, now)
        return {"queue": queue, "name": UNIT_QUEUES.label(queue), **page}

    def _assists(self, unit: str, now: dt.datetime) -> list[dict[str, Any]]:
        # 协办待反馈 is a queue of parts, not of the cases the unit leads (projections.coop_queries).
        from projections.coop_queries import CoopViews

        return CoopViews(self.rm).assist_queue(unit, now)


__all__: Sequence[str] = ("QUEUES", "UnitQueues", "UnknownQueue", "end_of_today")
