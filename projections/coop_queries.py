"""The reads of the part views (``projections.coop``): 协办待反馈, the deadline clock's part
candidates, and the figures of docs/rates.md (协办与吹哨)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import and_, or_, select, true

from engine.vocabulary import PART_STATUSES, PartStatus
from projections.coop import OPEN_PART_STATES
from projections.fold import WITH_UNIT
from projections.queries import HELD_BY_UNIT, ReadModel, _as_date, rate
from projections.tables import view_cases, view_open_cases, view_parts, view_whistles


def part_flags(part: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A part's deadline state at ``now`` (as ``queries._overdue_flags`` for a dispatch)."""
    open_ = part["state"] in OPEN_PART_STATES
    claimed = part.get("claimed_at") is not None
    claim_overdue = bool(open_ and not claimed and now > part["claim_deadline"])
    handle_overdue = bool(open_ and now > part["handle_deadline"])
    return {
        "claim_overdue": claim_overdue,
        "handle_overdue": handle_overdue,
        "overdue": claim_overdue or handle_overdue,
        "next_deadline": None if not open_ else (
            part["handle_deadline"] if claimed else part["claim_deadline"]
        ),
    }


def part_dict(part: Mapping[str, Any], now: dt.datetime, name_of: Callable[[str | None, str], str]) -> dict[str, Any]:
    out = {k: part[k] for k in (
        "number", "unit", "lead_unit", "whistle", "state", "added_at", "claim_deadline",
        "handle_deadline", "claimed_at", "claimed_on_time", "reported_at", "reported_on_time",
        "returned_at", "closed_at", "claim_escalated", "handle_escalated",
    )}
    out["unit_name"] = name_of("unit", part["unit"])
    out["lead_unit_name"] = name_of("unit", part["lead_unit"]) if part["lead_unit"] else None
    out["state_name"] = PART_STATUSES.label(part["state"])
    out.update(part_flags(part, now))
    return out


class CoopViews:
    """The reads of the part views, over a :class:`ReadModel`'s database and names."""

    def __init__(self, read_model: ReadModel) -> None:
        self.rm = read_model

    def _fresh(self) -> None:
        if self.rm.before_read is not None:
            self.rm.before_read()

    def assist_queue(self, unit: str, now: dt.datetime) -> list[dict[str, Any]]:
        """协办待反馈: the unit's open parts on cases a lead holds, oldest part first; each
        row is the case's row with its ``part``."""
        self._fresh()
        p, c = view_parts, view_cases
        stmt = (
            select(p, c)
            .join(c, c.c.case_id == p.c.case_id)
            .where(
                p.c.unit == unit,
                p.c.state.in_(OPEN_PART_STATES),
                c.c.status.in_(HELD_BY_UNIT),
            )
            .order_by(p.c.added_at, p.c.case_id)
        )
        out: list[dict[str, Any]] = []
        with self.rm.engine.connect() as conn:
            for r in conn.execute(stmt):
                # select(p, c): the part's columns first, then the case's (names overlap)
                part_row = {col.name: r[i] for i, col in enumerate(p.columns)}
                case_row = {col.name: r[len(p.columns) + i] for i, col in enumerate(c.columns)}
                row = self.rm._case_dict(self.rm._opened(case_row))
                row["part"] = part_dict(part_row, now, self.rm.name_of)
                out.append(row)
        return out

    def due_parts(self, now: dt.datetime) -> list[UUID]:
        """Cases with an open part whose deadline passed and was not escalated, the lead's
        clocks running (the deadline clock's candidates, with ``due_for_escalation``)."""
        p, o = view_parts, view_open_cases
        stmt = (
            select(p.c.case_id)
            .join(o, o.c.case_id == p.c.case_id)
            .where(
                o.c.status.in_(sorted(WITH_UNIT)),
                p.c.state.in_(OPEN_PART_STATES),
                or_(
                    and_(
                        p.c.claimed_at.is_(None),
                        p.c.claim_deadline < now,
                        p.c.claim_escalated.is_(False),
                    ),
                    and_(p.c.handle_deadline < now, p.c.handle_escalated.is_(False)),
                ),
            )
            .distinct()
        )
        with self.rm.engine.connect() as conn:
            return [r[0] for r in conn.execute(stmt)]

    def figures(
        self, from_: dt.date | str | None = None, to: dt.date | str | None = None
    ) -> dict[str, Any]:
        """协办与吹哨 over cases received in [from, to) (docs/rates.md): per assisting unit its
        parts' figures; per street/community the whistles it blew; per department called in its
        report-in figures; and the district's totals (each part once, each whistle once)."""
        start, end = _as_date(from_), _as_date(to)
        self._fresh()
        p, w = view_parts, view_whistles
        pc = [c for c in (p.c.received_day >= start if start else None,
                          p.c.received_day < end if end else None) if c is not None]
        wc = [c for c in (w.c.received_day >= start if start else None,
                          w.c.received_day < end if end else None) if c is not None]
        with self.rm.engine.connect() as conn:
            parts = [dict(r._mapping) for r in conn.execute(select(p).where(and_(true(), *pc)))]
            whistles = [dict(r._mapping) for r in conn.execute(select(w).where(and_(true(), *wc)))]
        whistle_at = {(x["case_id"], x["number"]): x["at"] for x in whistles}
        units: dict[str, dict[str, int]] = {}
        called: dict[str, dict[str, Any]] = {}
        for part in parts:
            units.setdefault(part["unit"], _zero_parts())
            _add_part(units[part["unit"]], part)
            if part["whistle"] is not None:
                d = called.setdefault(part["unit"], _zero_called())
                _add_called(d, part, whistle_at.get((part["case_id"], part["whistle"])))
        blown: dict[str, dict[str, int]] = {}
        for x in whistles:
            b = blown.setdefault(x["unit"], {"whistles": 0, "called": 0})
            b["whistles"] += 1
            b["called"] += x["departments"]
        total_parts = _zero_parts()
        for part in parts:
            _add_part(total_parts, part)
        total_called = _zero_called()
        for part in parts:
            if part["whistle"] is not None:
                _add_called(total_called, part, whistle_at.get((part["case_id"], part["whistle"])))
        name = self.rm.name_of
        return {
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "parts": sorted(
                (_part_row(k, name("unit", k), v) for k, v in units.items()),
                key=lambda r: (-r["parts"], r["key"]),
            ),
            "whistles": sorted(
                ({"key": k, "name": name("unit", k), **v} for k, v in blown.items()),
                key=lambda r: (-r["whistles"], r["key"]),
            ),
            "reports": sorted(
                (_called_row(k, name("unit", k), v) for k, v in called.items()),
                key=lambda r: (-r["whistled"], r["key"]),
            ),
            "total": {
                **_part_row("total", name("total", ""), total_parts),
                "whistles": sum(b["whistles"] for b in blown.values()),
                "called": sum(b["called"] for b in blown.values()),
                "report": _called_row("total", name("total", ""), total_called),
            },
        }


def _zero_parts() -> dict[str, int]:
    return dict.fromkeys(
        ("parts", "claimed", "claimed_on_time", "reported", "reported_on_time", "returned",
         "closed", "outstanding"),
        0,
    )


def _add_part(c: dict[str, int], part: Mapping[str, Any]) -> None:
    c["parts"] += 1
    c["claimed"] += part["claimed_at"] is not None
    c["claimed_on_time"] += bool(part["claimed_on_time"])
    c["reported"] += part["state"] == PartStatus.REPORTED.value
    c["reported_on_time"] += bool(part["reported_on_time"])
    c["returned"] += part["returned_at"] is not None
    c["closed"] += part["state"] == PartStatus.CLOSED.value
    c["outstanding"] += part["state"] in (*OPEN_PART_STATES, PartStatus.RETURNED.value)


def _part_row(key: str, name: str, c: Mapping[str, int]) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        **c,
        "response_rate": rate(c["claimed_on_time"], c["parts"]),
        "on_time_rate": rate(c["reported_on_time"], c["reported"]),
    }


def _zero_called() -> dict[str, Any]:
    return {"whistled": 0, "reported_in": 0, "reported_in_on_time": 0, "minutes": []}


def _add_called(d: dict[str, Any], part: Mapping[str, Any], whistled_at: dt.datetime | None) -> None:
    d["whistled"] += 1
    if part["claimed_at"] is not None:
        d["reported_in"] += 1
        d["reported_in_on_time"] += bool(part["claimed_on_time"])
        start = whistled_at or part["added_at"]
        d["minutes"].append((part["claimed_at"] - start).total_seconds() / 60)


def _called_row(key: str, name: str, d: Mapping[str, Any]) -> dict[str, Any]:
    minutes: list[float] = d["minutes"]
    return {
        "key": key,
        "name": name,
        "whistled": d["whistled"],
        "reported_in": d["reported_in"],
        "reported_in_on_time": d["reported_in_on_time"],
        "report_rate": rate(d["reported_in_on_time"], d["whistled"]),
        "mean_minutes_to_report": round(sum(minutes) / len(minutes), 1) if minutes else None,
    }


__all__: Sequence[str] = ("CoopViews", "part_dict", "part_flags")
