"""The returns view (退单, ``view_returns``): one row per return and what became of it.

Written by the projector in the transaction of the batch the events are in (exactly once,
rebuilt with the other views, tracked by the same position):

- ``Returned``: a new row, ``pending`` when the return waits for the centre's review (退单审核),
  ``auto`` when the district re-routes returns by itself (and for returns written before
  review existed);
- ``ReturnReviewed``: the row of that return becomes ``approved`` (``to_unit``: the unit the
  centre sent the case to) or ``refused`` (``to_unit``: back to the returning unit);
- ``Merged`` of a case whose return was still waiting: ``lapsed`` (nobody decided it).

Disputed returns per unit pair (``ReadModel.return_pairs``) and the 待审退单 counts are sums
over these rows: a pair is the returning unit and the unit it named (建议承办单位, "" when it
named none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, update

from projections.fold import CaseRow, shanghai_day
from projections.tables import view_returns

# The events that touch the returns view (the projector asks only about these).
RETURN_EVENTS = frozenset({"Returned", "ReturnReviewed", "Merged", "TransferredOut"})


@dataclass
class ReturnWrites:
    """A batch's writes to ``view_returns``: new rows (a later event of the same batch updates
    them in place) and updates of rows written by earlier batches, in order."""

    inserts: dict[tuple[UUID, int], dict[str, Any]] = field(default_factory=dict)
    updates: list[tuple[tuple[UUID, int], dict[str, Any]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates)

    def change(self, key: tuple[UUID, int], values: dict[str, Any]) -> None:
        row = self.inserts.get(key)
        if row is not None:
            row.update(values)
        else:
            self.updates.append((key, values))


class ReturnFold:
    """Turns the return events of a batch into ``view_returns`` writes."""

    def note(
        self, writes: ReturnWrites, case_id: UUID, name: str, e: dict[str, Any], row: CaseRow
    ) -> None:
        """``row``: the case's view row after the event was folded."""
        if name == "Returned":
            number = int(row["return_count"])
            writes.inserts[(case_id, number)] = {
                "case_id": case_id,
                "number": number,
                "unit": str(e["unit"]),
                "suggested_unit": str(e.get("suggested_unit") or ""),
                "returned_at": e["at"],
                "returned_day": shanghai_day(e["at"]),
                "decision": "pending" if e.get("review") else "auto",
                "decided_at": None,
                "to_unit": None,
            }
        elif name == "ReturnReviewed":
            writes.change(
                (case_id, int(e["number"])),
                {
                    "decision": "approved" if e["approved"] else "refused",
                    "decided_at": e["at"],
                    "to_unit": str(e["to_unit"]),
                },
            )
        elif name in ("Merged", "TransferredOut") and row.get("return_pending_at") is not None:
            writes.change(
                (case_id, int(row["return_count"])),
                {"decision": "lapsed", "decided_at": e["at"]},
            )

    @staticmethod
    def write(conn: Connection, writes: ReturnWrites) -> None:
        if writes.inserts:
            conn.execute(view_returns.insert(), list(writes.inserts.values()))
        t = view_returns
        for (cid, number), values in writes.updates:
            conn.execute(
                update(t).where(t.c.case_id == cid, t.c.number == number).values(**values)
            )


__all__: Sequence[str] = ("RETURN_EVENTS", "ReturnFold", "ReturnWrites")
