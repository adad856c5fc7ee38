"""Case counts by place (社区 / 街道) for the leader's map: a grouped count over ``view_cases``
(the views' own table; no new table, nothing to rebuild). Counts only: no text, no address."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, select, true

from engine.domain import OPEN_STATUSES
from projections.queries import ReadModel
from projections.tables import view_cases

_OPEN = frozenset(s.value for s in OPEN_STATUSES)


def counts_by_area(
    read_model: ReadModel, start: dt.date | None = None, end: dt.date | None = None
) -> dict[str, Any]:
    """Cases received in [start, end): per community (``locality`` when it is a community),
    per street, and how many have no place. ``open``: not yet resolved (in an open status: at the centre or with a unit)."""
    read_model._fresh()
    conditions = []
    if start is not None:
        conditions.append(view_cases.c.received_day >= start)
    if end is not None:
        conditions.append(view_cases.c.received_day < end)
    stmt = (
        select(view_cases.c.locality, view_cases.c.street, view_cases.c.status, func.count())
        .where(and_(*conditions) if conditions else true())
        .group_by(view_cases.c.locality, view_cases.c.street, view_cases.c.status)
    )
    places: dict[str, dict[str, int]] = {}
    streets: dict[str, dict[str, int]] = {}
    unplaced = {"received": 0, "open": 0}
    with read_model.engine.connect() as conn:
        for locality, street, status, n in conn.execute(stmt):
            still_open = int(n) if status in _OPEN else 0
            if not locality and not street:
                unplaced["received"] += int(n)
                unplaced["open"] += still_open
                continue
            if locality and locality != street:
                c = places.setdefault(locality, {"received": 0, "open": 0})
                c["received"] += int(n)
                c["open"] += still_open
            if street:
                s = streets.setdefault(street, {"received": 0, "open": 0})
                s["received"] += int(n)
                s["open"] += still_open
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "communities": places,
        "streets": streets,
        "unplaced": unplaced,
    }
