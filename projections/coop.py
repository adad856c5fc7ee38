"""主办/协办 and 吹哨报到 in the views: the parts of co-handled cases (``view_parts``), the whistles
blown (``view_whistles``), the unit's 协办待反馈 queue and the figures of docs/rates.md (协办与吹哨).

How a co-handled case counts (docs/rates.md, "Co-handled cases"), stated once:

- the district, channel, category and street count each case ONCE, by the lead's events alone:
  a part adds nothing to ``view_counts`` (no dispatched, no resolved);
- the lead unit's seven rates count the case as any case it holds (the lead is the responsible
  unit: received, resolved, on time, follow-ups);
- an assisting unit's part has its own figures here, never in the seven rates: parts, claimed
  on time (协办响应率 = claimed on time / parts), reported on time (协办按时反馈率 = reported on
  time / reported), returned, closed by the centre, still outstanding;
- 吹哨报到: whistles blown per street/community, and per department called in: whistled,
  reported in (报到 = its part claimed), reported in on time (报到率 = on time / whistled) and
  the mean minutes from the whistle to the report-in.

Every figure counts on the case's RECEIVED day, as the seven rates do. The part rows are written
by the projector in the transaction of the batch their events are in (exactly once, rebuilt
with the other views, tracked by the same position); a batch's part events reload their cases'
rows from the database first, so no cache can go stale. The reads are ``projections.coop_queries``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from engine.vocabulary import PartStatus
from projections.tables import view_parts, view_whistles

# The events of a case's parts (the projector hands these to CoopFold).
COOP_EVENTS = frozenset(
    {
        "AssistAdded",
        "Whistled",
        "PartClaimed",
        "PartReported",
        "PartReturned",
        "PartClosed",
        "PartEscalated",
    }
)
OPEN_PART_STATES = (PartStatus.ASSIGNED.value, PartStatus.CLAIMED.value)
_LOAD_CHUNK = 500


class CoopCaseRules:
    """The case row's rules for the part events (mixed into ``projections.fold.CaseFold``). A
    part changes no counter of the seven rates (the district counts each case once); an
    assisting unit is added to the units that may see the case (``units``)."""

    def _on_AssistAdded(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        unit = str(e["unit"])
        units = row["units"] or "|"
        if f"|{unit}|" not in units:
            row["units"] = f"{units}{unit}|"

    def _on_Whistled(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        """Counted in ``view_whistles``; the case's row and rates do not change."""

    def _on_PartClaimed(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        """The part's own response figure (``view_parts``), not the lead's."""

    def _on_PartReported(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        """The part's own on-time figure (``view_parts``), not the lead's."""

    def _on_PartReturned(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        """A returned part is not a returned case: the lead still holds it."""

    def _on_PartClosed(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        """Closed by the centre: counted in ``view_parts``."""

    def _on_PartEscalated(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        """督办 of a part: the part's flags (``view_parts``); the lead's level is its own."""


@dataclass
class CoopPending:
    """A part event seen in a batch, with what the case's row said then."""

    case_id: UUID
    name: str
    event: dict[str, Any]
    received_day: dt.date
    lead_unit: str | None


@dataclass
class CoopWrites:
    cases: list[UUID] = field(default_factory=list)  # whose part rows are replaced
    parts: list[dict[str, Any]] = field(default_factory=list)
    whistles: list[dict[str, Any]] = field(default_factory=list)


class CoopFold:
    """Folds a batch's part events onto the part rows of their cases."""

    def prepare(self, conn: Connection, pending: Sequence[CoopPending]) -> CoopWrites | None:
        if not pending:
            return None
        ids = list(dict.fromkeys(p.case_id for p in pending))
        parts: dict[tuple[UUID, int], dict[str, Any]] = {}
        for i in range(0, len(ids), _LOAD_CHUNK):
            chunk = ids[i : i + _LOAD_CHUNK]
            for r in conn.execute(select(view_parts).where(view_parts.c.case_id.in_(chunk))):
                row = dict(r._mapping)
                parts[(row["case_id"], row["number"])] = row
        out = CoopWrites(cases=ids)
        for p in pending:
            self._apply(p, parts, out)
        out.parts = list(parts.values())
        return out

    @staticmethod
    def _apply(
        p: CoopPending,
        parts: dict[tuple[UUID, int], dict[str, Any]],
        out: CoopWrites,
    ) -> None:
        e = p.event
        if p.name == "Whistled":
            out.whistles.append(
                {
                    "case_id": p.case_id,
                    "number": int(e["number"]),
                    "unit": str(e["unit"]),
                    "received_day": p.received_day,
                    "at": e["at"],
                    "due": e["due"],
                    "departments": len(e["departments"]),
                }
            )
            return
        key = (p.case_id, int(e["number"]))
        if p.name == "AssistAdded":
            whistle = e.get("whistle")
            parts[key] = {
                "case_id": p.case_id,
                "number": int(e["number"]),
                "unit": str(e["unit"]),
                "lead_unit": p.lead_unit,
                "whistle": int(whistle) if whistle is not None else None,
                "received_day": p.received_day,
                "state": PartStatus.ASSIGNED.value,
                "added_at": e["at"],
                "claim_deadline": e["claim_deadline"],
                "handle_deadline": e["handle_deadline"],
                "claimed_at": None,
                "claimed_on_time": None,
                "reported_at": None,
                "reported_on_time": None,
                "returned_at": None,
                "closed_at": None,
                "claim_escalated": False,
                "handle_escalated": False,
            }
            return
        row = parts.get(key)
        if row is None:  # a truncated log: nothing to attribute it to
            return
        if p.name == "PartClaimed":
            row.update(
                state=PartStatus.CLAIMED.value, claimed_at=e["at"], claimed_on_time=bool(e["on_time"])
            )
        elif p.name == "PartReported":
            row.update(
                state=PartStatus.REPORTED.value,
                reported_at=e["at"],
                reported_on_time=bool(e["on_time"]),
            )
        elif p.name == "PartReturned":
            row.update(state=PartStatus.RETURNED.value, returned_at=e["at"])
        elif p.name == "PartClosed":
            row.update(state=PartStatus.CLOSED.value, closed_at=e["at"])
        elif p.name == "PartEscalated":
            row["claim_escalated" if e["kind"] == "claim" else "handle_escalated"] = True

    @staticmethod
    def write(conn: Connection, writes: CoopWrites) -> None:
        for i in range(0, len(writes.cases), _LOAD_CHUNK):
            chunk = writes.cases[i : i + _LOAD_CHUNK]
            conn.execute(view_parts.delete().where(view_parts.c.case_id.in_(chunk)))
        if writes.parts:
            conn.execute(view_parts.insert(), writes.parts)
        if writes.whistles:
            conn.execute(view_whistles.insert(), writes.whistles)


__all__: Sequence[str] = (
    "COOP_EVENTS",
    "OPEN_PART_STATES",
    "CoopCaseRules",
    "CoopFold",
    "CoopPending",
    "CoopWrites",
)
