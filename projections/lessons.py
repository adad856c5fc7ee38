"""The lessons view (纠错经验, ``view_lessons``): every correction of the router, kept so that a
router starting up reads its lessons here instead of scanning the log.

Written by the projector, in the transaction of the batch the correction is in (so it is
exactly once, rebuilt with the other views and tracked by the same position):

- ``Classified`` with ``override``: an operator's re-categorisation, ``text → category``
  (``kind = category``, ``source = reclassify``);
- ``Returned``: ``place + category → not this unit`` (``not_unit``, ``source = return``, the
  reason in ``note``) and, with the unit the returning unit suggested (建议承办单位),
  ``place + category → that unit`` (``unit``, ``source = suggested``);
- ``Dispatched`` by an operator (``reason.by == "operator"``: from the manual queue, after a
  return, a 转派): ``place + category → that unit`` (``unit``, ``source = dispatch``).

The place key is the router's own (:func:`engine.routing.learning.corrections.place_keys`),
read from the case's address and text when the lesson is made; a change of the place parser
takes effect on the lessons with ``sanshi projections rebuild``.

:class:`LessonView` is the other side: what a router reads (``LessonSource``), every row after
the position it has read up to; in another process as well, since the view is in the shared
database (docs/routing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, func, select

from engine.config import SanshiConfig
from engine.routing.learning.corrections import place_keys
from engine.routing.learning.places import PlaceReader
from engine.routing.port import Lesson
from projections.sealed import TextSealer, opener
from projections.tables import view_lessons, view_open_cases

# The events that may carry a lesson (the projector asks only about these).
LESSON_EVENTS = frozenset({"Classified", "Returned", "Dispatched"})
_SEALED = ("text", "place", "area", "note")
_LOAD_CHUNK = 500


@dataclass
class Pending:
    """A correction seen in a batch, with what the case was at that moment."""

    position: int
    case_id: UUID
    name: str
    event: dict[str, Any]
    category: str
    locality: str
    address: str
    content: str | None  # None: read from the open-cases view (the case came in earlier)


class LessonFold:
    """Turns the corrections of a batch into ``view_lessons`` rows. ``config``: the district
    whose place names the place parser knows (None: no place lessons, only re-categorisations)."""

    def __init__(self, config: SanshiConfig | None, sealer: TextSealer | None = None) -> None:
        self.places = PlaceReader(config) if config is not None else None
        self._seal = sealer.seal_text if sealer is not None else None
        self._open = opener(sealer) if sealer is not None else None

    def note(
        self, position: int, case_id: UUID, name: str, e: dict[str, Any], row: dict[str, Any]
    ) -> Pending | None:
        """``row``: the case's view row after the event was folded."""
        if name == "Classified":
            if not e.get("override"):
                return None  # the router's own decision
        elif name == "Dispatched":
            reason = e.get("reason")
            if not (isinstance(reason, dict) and reason.get("by") == "operator"):
                return None
        elif name != "Returned":
            return None
        return Pending(
            position=int(position),
            case_id=case_id,
            name=name,
            event=e,
            category=str(row.get("category") or ""),
            locality=str(row.get("locality") or ""),
            address=str(row.get("address") or ""),
            content=row.get("content"),
        )

    def rows(self, conn: Connection, pending: Sequence[Pending]) -> list[dict[str, Any]]:
        """The lesson rows of a batch's corrections (sealed with the cipher key)."""
        if not pending:
            return []
        texts = self._texts(conn, [p.case_id for p in pending if p.content is None])
        out: list[dict[str, Any]] = []
        for p in pending:
            content = p.content if p.content is not None else texts.get(p.case_id, "")
            out.extend(self._lessons(p, content))
        if self._seal is not None:
            seal = self._seal
            for r in out:
                for c in _SEALED:
                    if r[c]:
                        r[c] = seal(r[c])
        return out

    def _texts(self, conn: Connection, ids: list[UUID]) -> dict[UUID, str]:
        found: dict[UUID, str] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), _LOAD_CHUNK):
            chunk = ids[i : i + _LOAD_CHUNK]
            for cid, content in conn.execute(
                select(view_open_cases.c.case_id, view_open_cases.c.content).where(
                    view_open_cases.c.case_id.in_(chunk)
                )
            ):
                found[cid] = self._open(content) if self._open and content else content
        return found

    def _lessons(self, p: Pending, content: str) -> list[dict[str, Any]]:
        e = p.event
        base = {
            "position": p.position,
            "case_id": p.case_id,
            "category": p.category,
            "unit": None,
            "place": None,
            "area": None,
            "text": "",
            "note": "",
            "at": e["at"],
        }
        if p.name == "Classified":
            text = content or ""
            if not text.strip():
                return []
            return [{**base, "kind": "category", "text": text, "source": "reclassify"}]
        if not p.category or self.places is None:
            return []
        place, area = place_keys(self.places, p.address, content or "", p.locality or None)
        if place is None:
            return []  # nowhere to keep it: neither a place nor a locality was read
        base.update(place=place, area=area)
        if p.name == "Returned":
            note = str(e.get("reason") or "")[:1000]
            out = [{**base, "kind": "not_unit", "unit": str(e["unit"]), "source": "return",
                    "note": note}]
            suggested = e.get("suggested_unit")
            if suggested:
                out.append({**base, "kind": "unit", "unit": str(suggested),
                            "source": "suggested", "note": note})
            return out
        reason = e.get("reason") if isinstance(e.get("reason"), dict) else {}
        return [{**base, "kind": "unit", "unit": str(e["unit"]), "source": "dispatch",
                 "note": str((reason or {}).get("note") or "")[:1000]}]


class LessonView:
    """A router's :class:`engine.routing.port.LessonSource` over ``view_lessons``: at start-up
    every lesson in the view, then before each decision (or batch) the rows after the position
    read so far. ``reads``: how many queries it made (tests count them)."""

    def __init__(self, engine: Engine, sealer: TextSealer | None = None, batch: int = 5000) -> None:
        self.engine = engine
        self.batch = max(batch, 10)
        self.position = 0
        self.reads = 0
        self._open = opener(sealer) if sealer is not None else None

    def since(self) -> list[Lesson]:
        out: list[Lesson] = []
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(
                    select(view_lessons)
                    .where(view_lessons.c.position > self.position)
                    .order_by(view_lessons.c.position, view_lessons.c.kind)
                    .limit(self.batch)
                ).all()
                self.reads += 1
                full = len(rows) == self.batch
                if full:
                    # A position's lessons are read together: the last one may go on next page.
                    last = rows[-1].position
                    rows = [r for r in rows if r.position != last]
                for r in rows:
                    out.append(self._lesson(r))
                    self.position = max(self.position, int(r.position))
                if not full:
                    return out

    def _lesson(self, r: Any) -> Lesson:
        open_ = self._open

        def text(value: str | None) -> str | None:
            return open_(value) if open_ is not None and value else value

        return Lesson(
            position=int(r.position),
            kind=str(r.kind),
            category=str(r.category),
            unit=r.unit,
            place=text(r.place),
            area=text(r.area),
            text=text(r.text) or "",
            source=str(r.source),
            note=text(r.note) or "",
            case_id=str(r.case_id),
        )

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(view_lessons)).scalar() or 0)

