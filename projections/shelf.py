"""认领大厅 in the views: the open shelf's listings (``view_shelf``) and the claims made on them
(``view_shelf_claims``); the reads are ``projections.shelf_queries``.

Written by the projector in the transaction of the batch the events are in (exactly once,
rebuilt with the other views, tracked by the same position):

- ``ShelfListed``: a new listing row, ``on_shelf``, with the case's category and street then;
- ``ShelfWithdrawn``: the listing becomes ``withdrawn`` (下架); its claims still waiting lapse;
- ``ClaimApplied``: a new claim row, ``pending``;
- ``ClaimDecided``: the claim becomes ``accepted`` or ``refused`` (with the reason); accepted, the
  listing becomes ``taken`` by the claimant and the other claims waiting lapse.

The case's own row (``view_cases`` / ``view_open_cases``) and the counters of docs/rates.md do
not change with a shelf event (:class:`ShelfCaseRules`): the centre still holds the case until
it accepts a claim, and the Dispatched that follows the acceptance counts as any dispatch. The
centre's 待派单 queue shows a listed case with the reason 「已上架认领大厅」.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, update

from projections.tables import view_shelf, view_shelf_claims

SHELF_EVENTS = frozenset({"ShelfListed", "ShelfWithdrawn", "ClaimApplied", "ClaimDecided"})
# What the centre's 待派单 queue says of a case on the shelf (its manual_reason while listed).
ON_SHELF_REASON = "已上架认领大厅，等待认领"


class ShelfCaseRules:
    """The case row's rules for the shelf events (mixed into ``projections.fold.CaseFold``):
    no counter changes; the 待派单 queue says why a listed case waits."""

    def _on_ShelfListed(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        row["manual_reason"] = ON_SHELF_REASON

    def _on_ShelfWithdrawn(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        row["manual_reason"] = None

    def _on_ClaimApplied(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        """A claim is the unit's request: the centre still holds the case (view_shelf_claims)."""

    def _on_ClaimDecided(self, row: dict[str, Any], e: dict[str, Any], deltas: Any) -> None:
        # Accepted: the Dispatched that follows moves the case to the claimant (and clears the
        # reason); refused: it stays on the shelf.
        if e["accepted"]:
            row["manual_reason"] = None


def _day(at: Any) -> Any:
    from projections.fold import shanghai_day  # the fold imports this module's rules

    return shanghai_day(at)


@dataclass
class ShelfWrites:
    """A batch's writes: new rows (later events of the batch change them in place) and updates
    of rows written by earlier batches, in order. Keys: (table name, case id, number)."""

    inserts: dict[tuple[str, UUID, int], dict[str, Any]] = field(default_factory=dict)
    updates: list[tuple[tuple[str, UUID, int], dict[str, Any]]] = field(default_factory=list)
    # Claims waiting when their listing ended: lapsed by a statement (rows of earlier batches).
    lapses: list[tuple[UUID, int, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.lapses)

    def change(self, key: tuple[str, UUID, int], values: dict[str, Any]) -> None:
        row = self.inserts.get(key)
        if row is not None:
            row.update(values)
        else:
            self.updates.append((key, values))

    def lapse(self, case_id: UUID, listing: int, at: Any) -> None:
        for (table, cid, _), row in self.inserts.items():
            mine = table == "claims" and cid == case_id and row["listing"] == listing
            if mine and row["state"] == "pending":
                row.update(state="lapsed", decided_at=at)
        self.lapses.append((case_id, listing, at))


class ShelfFold:
    """Turns a batch's shelf events into ``view_shelf`` / ``view_shelf_claims`` writes."""

    def note(
        self, writes: ShelfWrites, case_id: UUID, name: str, e: dict[str, Any], row: dict[str, Any]
    ) -> None:
        """``row``: the case's view row after the event was folded."""
        at = e["at"]
        if name == "ShelfListed":
            number = int(e["number"])
            writes.inserts[("shelf", case_id, number)] = {
                "case_id": case_id,
                "number": number,
                "service": str(e["service"]),
                "summary": str(e["summary"]),
                "category": str(row.get("category") or ""),
                "street": str(row.get("street") or ""),
                "received_day": row["received_day"],
                "listed_at": at,
                "listed_day": _day(at),
                "state": "on_shelf",
                "unit": None,
                "ended_at": None,
            }
        elif name == "ShelfWithdrawn":
            number = int(e["number"])
            writes.change(("shelf", case_id, number), {"state": "withdrawn", "ended_at": at})
            writes.lapse(case_id, number, at)
        elif name == "ClaimApplied":
            number = int(e["number"])
            writes.inserts[("claims", case_id, number)] = {
                "case_id": case_id,
                "number": number,
                "listing": int(e["listing"]),
                "unit": str(e["unit"]),
                "note": str(e["note"]),
                "applied_at": at,
                "applied_day": _day(at),
                "state": "pending",
                "reason": "",
                "decided_at": None,
            }
        elif name == "ClaimDecided":
            number = int(e["number"])
            accepted = bool(e["accepted"])
            writes.change(
                ("claims", case_id, number),
                {
                    "state": "accepted" if accepted else "refused",
                    "reason": str(e["reason"]),
                    "decided_at": at,
                },
            )
            if accepted:
                listing = self._listing_of(writes, case_id, number)
                if listing is not None:
                    writes.change(
                        ("shelf", case_id, listing),
                        {"state": "taken", "unit": str(e["unit"]), "ended_at": at},
                    )
                    writes.lapse(case_id, listing, at)
                else:  # the claim's row is from an earlier batch: find its listing in SQL
                    writes.updates.append((("taken", case_id, number), {"unit": str(e["unit"]), "ended_at": at}))

    @staticmethod
    def _listing_of(writes: ShelfWrites, case_id: UUID, number: int) -> int | None:
        row = writes.inserts.get(("claims", case_id, number))
        return int(row["listing"]) if row is not None else None

    @staticmethod
    def write(conn: Connection, writes: ShelfWrites) -> None:
        shelf_rows = [r for (t, _, _), r in writes.inserts.items() if t == "shelf"]
        claim_rows = [r for (t, _, _), r in writes.inserts.items() if t == "claims"]
        if shelf_rows:
            conn.execute(view_shelf.insert(), shelf_rows)
        if claim_rows:
            conn.execute(view_shelf_claims.insert(), claim_rows)
        s, c = view_shelf, view_shelf_claims
        for (table, cid, number), values in writes.updates:
            if table == "shelf":
                conn.execute(update(s).where(s.c.case_id == cid, s.c.number == number).values(**values))
            elif table == "claims":
                conn.execute(update(c).where(c.c.case_id == cid, c.c.number == number).values(**values))
            else:  # "taken": the listing of claim ``number``, read in the same transaction
                listing = conn.execute(
                    c.select().with_only_columns(c.c.listing).where(c.c.case_id == cid, c.c.number == number)
                ).scalar()
                if listing is None:  # a truncated log
                    continue
                conn.execute(
                    update(s)
                    .where(s.c.case_id == cid, s.c.number == listing)
                    .values(state="taken", **values)
                )
                conn.execute(
                    update(c)
                    .where(c.c.case_id == cid, c.c.listing == listing, c.c.state == "pending")
                    .values(state="lapsed", decided_at=values["ended_at"])
                )
        for cid, listing, at in writes.lapses:
            conn.execute(
                update(c)
                .where(c.c.case_id == cid, c.c.listing == listing, c.c.state == "pending")
                .values(state="lapsed", decided_at=at)
            )


__all__: Sequence[str] = (
    "ON_SHELF_REASON",
    "SHELF_EVENTS",
    "ShelfCaseRules",
    "ShelfFold",
    "ShelfWrites",
)
