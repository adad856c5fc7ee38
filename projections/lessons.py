"""The lessons view (纠错经验, ``view_lessons``): every correction of the router, kept so that a
router starting up reads its lessons here instead of scanning the log.

Written by the projector, in the transaction of the batch the correction is in (so it is
exactly once, rebuilt with the other views and tracked by the same position):

- ``Classified`` with ``override``: an operator's re-categorisation, ``text → category``
  (``kind = category``, ``source = reclassify``);
- ``Returned`` re-routed at once (``returns.auto_reroute``, and returns written before review
  existed): ``place + category → not this unit`` (``not_unit``, ``source = return``, the
  reason in ``note``) and, with the unit the returning unit suggested (建议承办单位),
  ``place + category → that unit`` (``unit``, ``source = suggested``). A return that waits for
  the centre's review (退单审核) teaches nothing until the centre decides:
- ``ReturnReviewed`` approved: the same two lessons (the suggested one only when the centre
  sent the case to the suggested unit); refused: ``place + category → the returning unit``
  (``unit``, ``source = review``, the centre's note in ``note``): the centre said it is theirs;
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

from collections.abc import Callable, Sequence
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
LESSON_EVENTS = frozenset({"Classified", "Returned", "Dispatched", "ReturnReviewed"})
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
        elif name == "Returned":
            if e.get("review"):
                return None  # the centre's review decides what it teaches (ReturnReviewed)
        elif name != "ReturnReviewed":
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

    def lesson_rows(self, p: Pending) -> list[dict[str, Any]]:
        """The lessons of one correction whose case text is known (not sealed)."""
        return self._lessons(p, p.content or "")

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
        if p.name == "ReturnReviewed":
            return _reviewed_lessons(base, e)
        reason = e.get("reason") if isinstance(e.get("reason"), dict) else {}
        return [{**base, "kind": "unit", "unit": str(e["unit"]), "source": "dispatch",
                 "note": str((reason or {}).get("note") or "")[:1000]}]


def _reviewed_lessons(base: dict[str, Any], e: dict[str, Any]) -> list[dict[str, Any]]:
    """退单审核: approved, the return's lessons (as a return re-routed at once teaches);
    refused, the returning unit is the one (the centre's note as the lesson's note)."""
    if not e.get("approved"):
        return [{**base, "kind": "unit", "unit": str(e["unit"]), "source": "review",
                 "note": str(e.get("note") or "")[:1000]}]
    note = str(e.get("reason") or "")[:1000]
    out = [{**base, "kind": "not_unit", "unit": str(e["unit"]), "source": "return", "note": note}]
    suggested = e.get("suggested_unit")
    if suggested and suggested == e.get("to_unit"):
        out.append({**base, "kind": "unit", "unit": str(suggested), "source": "suggested",
                    "note": note})
    return out


_TAIL_TOPICS = tuple(f"engine.domain:Case.{name}" for name in sorted(LESSON_EVENTS))
# Marks in the stored JSON (compact) that a Classified / Dispatched may be a lesson; an
# encrypted or compressed log is decoded in full.
_MARKS = {"Classified": b'"override":true', "Dispatched": b'"operator"'}


class LessonView:
    """A router's :class:`engine.routing.port.LessonSource`: at start-up every lesson in
    ``view_lessons``, then before each decision (or batch) the rows after the position read so
    far; and, with ``app``, the corrections in the log after the views' position (``tracking``),
    which the views have not applied yet (a worker whose views another process keeps, or
    that catches them up only between polls), folded the same way. ``reads``: how many queries
    of the view it made (tests count them)."""

    def __init__(
        self,
        engine: Engine,
        sealer: TextSealer | None = None,
        batch: int = 5000,
        *,
        app: Any = None,
        tracking: Callable[[], int] | None = None,
    ) -> None:
        self.engine = engine
        self.batch = max(batch, 10)
        self.position = 0
        self.reads = 0
        self._open = opener(sealer) if sealer is not None else None
        self.app = app
        self.tracking = tracking
        config = getattr(app, "config", None)
        self._fold = LessonFold(config if isinstance(config, SanshiConfig) else None)

    def since(self) -> list[Lesson]:
        if self.app is None or self.tracking is None:
            return self._from_view(None)
        # The views' position first: the rows up to it are committed with it, so the view gives
        # every lesson up to there and the log the ones after.
        views_at = self.tracking()
        out = self._from_view(views_at)
        out.extend(self._from_log(max(self.position, views_at)))
        return out

    def _from_log(self, after: int) -> list[Lesson]:
        """The corrections in the log after ``after`` (the views have not applied them)."""
        out: list[Lesson] = []
        app = self.app
        while True:
            notes = app.recorder.select_notifications(
                after, self.batch, topics=_TAIL_TOPICS, inclusive_of_start=False
            )
            for note in notes:
                after = max(after, int(note.id))
                name = str(note.topic).rsplit(".", 1)[-1]
                state = note.state
                plain = isinstance(state, bytes | bytearray) and state.lstrip()[:1] == b"{"
                mark = _MARKS.get(name)
                if plain and mark is not None and mark not in state:
                    continue
                event = app.mapper.to_domain_event(note)
                try:
                    case = app.repository.get(note.originator_id, version=note.originator_version)
                except Exception:  # a case the log cannot give back: nothing to learn from it
                    continue
                row = {
                    "category": case.category,
                    "locality": case.locality,
                    "address": case.address,
                    "content": case.content,
                }
                pending = self._fold.note(note.id, case.id, name, dict(vars(event)), row)
                if pending is not None:
                    out.extend(self._lesson_of(r) for r in self._fold.lesson_rows(pending))
            self.position = max(self.position, after)
            if len(notes) < self.batch:
                return out

    def _lesson_of(self, r: dict[str, Any]) -> Lesson:
        return Lesson(
            position=int(r["position"]),
            kind=str(r["kind"]),
            category=str(r["category"]),
            unit=r["unit"],
            place=r["place"],
            area=r["area"],
            text=r["text"] or "",
            source=str(r["source"]),
            note=r["note"] or "",
            case_id=str(r["case_id"]),
        )

    def _from_view(self, upto: int | None) -> list[Lesson]:
        out: list[Lesson] = []
        if upto is not None and upto <= self.position:
            return out
        with self.engine.connect() as conn:
            while True:
                query = select(view_lessons).where(view_lessons.c.position > self.position)
                if upto is not None:
                    query = query.where(view_lessons.c.position <= upto)
                rows = conn.execute(
                    query.order_by(view_lessons.c.position, view_lessons.c.kind)
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

