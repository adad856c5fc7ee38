"""诉源治理 figures: disputes settled before they reach a court (docs/rates.md#诉源治理).

Per month of receipt and per judicial office (司法所) or street (街道), over the case view
(``view_cases``, each case's own counters):

- 矛盾纠纷件 (``disputes``): valid cases (received − merged − rejected) of a category that
  needs mediation (``categories[].mediation`` in the district config); their mediations that
  ended (``dispute_mediations``) and those that ended in an agreement (``dispute_agreements``);
- 诉前调解件 (``court_cases``): valid cases of the channel ``court`` (法院诉前委派), with the
  same two counts (``court_mediations``, ``court_agreements``).

A case's judicial office is the first judicial office it was sent to (its ``units``): the one
that mediated it; a case no judicial office saw has none (行 “未经司法所”). The rates are
``engine.vocabulary.SOURCE_RATES``, numerator and denominator given with each value.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select

from engine.config import SanshiConfig, UnitKind
from engine.vocabulary import SOURCE_COUNTS, SOURCE_RATES, Rate
from projections.queries import ReadModel, StatsQueryError, rate
from projections.tables import view_cases

COURT_CHANNEL = "court"  # 诉前调解 (engine.vocabulary.Channel once the channel is merged)
SOURCE_BY = ("judicial_office", "street")
NO_OFFICE = "未经司法所"


def _rates() -> list[Rate]:
    out = []
    for t in SOURCE_RATES:
        assert isinstance(t, Rate)
        out.append(t)
    return out


class SourceGovernance:
    def __init__(self, rm: ReadModel, config: SanshiConfig) -> None:
        self.rm = rm
        self.config = config

    def figures(self, by: str, start: dt.date, end: dt.date) -> dict[str, Any]:
        """Rows per (month, judicial office or street) with the six counts and two rates, and
        a total per month and for the whole period."""
        if by not in SOURCE_BY:
            raise StatsQueryError(f"by 只能是 {'/'.join(SOURCE_BY)}，不能是 {by[:30]!r}")
        if start >= end:
            raise StatsQueryError("起始日期必须早于截止日期")
        self.rm._fresh()
        mediated = [c.code for c in self.config.categories if c.mediation]
        offices = {u.id for u in self.config.units_of_kind(UnitKind.JUDICIAL_OFFICE)}
        t = view_cases
        stmt = select(
            t.c.received_month, t.c.street, t.c.units, t.c.channel, t.c.category,
            (t.c.received - t.c.merged - t.c.rejected).label("valid"),
            t.c.mediations_concluded, t.c.mediations_succeeded,
        ).where(
            and_(
                t.c.received_day >= start,
                t.c.received_day < end,
                or_(t.c.channel == COURT_CHANNEL, t.c.category.in_(mediated) if mediated else t.c.channel == COURT_CHANNEL),
            )
        )
        cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(SOURCE_COUNTS.codes, 0))
        with self.rm.engine.connect() as conn:
            for r in conn.execute(stmt):
                if by == "street":
                    key = r.street or ""
                else:
                    key = next((u for u in (r.units or "").split("|") if u in offices), "")
                for row_key in ((r.received_month, key), (r.received_month, "*"), ("*", key), ("*", "*")):
                    c = cells[row_key]
                    if r.channel == COURT_CHANNEL:
                        c["court_cases"] += max(0, int(r.valid or 0))
                        c["court_mediations"] += int(r.mediations_concluded or 0)
                        c["court_agreements"] += int(r.mediations_succeeded or 0)
                    else:
                        c["disputes"] += max(0, int(r.valid or 0))
                        c["dispute_mediations"] += int(r.mediations_concluded or 0)
                        c["dispute_agreements"] += int(r.mediations_succeeded or 0)

        def row(month: str, key: str) -> dict[str, Any]:
            counts = cells[(month, key)]
            out: dict[str, Any] = {
                "month": None if month == "*" else month,
                "key": None if key == "*" else key,
                "name": self._name(by, key),
                **counts,
            }
            for r in _rates():
                out[r.code] = rate(sum(counts[n] for n in r.numerator), counts[r.denominator])
            return out

        months = sorted({m for m, _ in cells if m != "*"})
        keys = sorted({k for _, k in cells if k != "*"})
        return {
            "by": by,
            "from": start,
            "to": end,
            "court_channel": COURT_CHANNEL,
            "mediation_categories": mediated,
            "rows": [row(m, k) for m in months for k in keys if (m, k) in cells],
            "months": [row(m, "*") for m in months],
            "by_key": [row("*", k) for k in keys],
            "total": row("*", "*"),
        }

    def _name(self, by: str, key: str) -> str:
        if key == "*":
            return "合计"
        if not key:
            return NO_OFFICE if by == "judicial_office" else "未定属地"
        return self.rm.name_of("unit" if by == "judicial_office" else "street", key)


__all__: Sequence[str] = ("COURT_CHANNEL", "SOURCE_BY", "SourceGovernance")
