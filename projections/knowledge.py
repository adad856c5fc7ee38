"""The knowledge-base view (知识库, ``view_knowledge`` and ``view_knowledge_proposals``): each
entry as it stands, its proposed changes, and how many 咨询 were answered from it.

Written by the projector in the transaction of the batch the events are in (exactly once,
rebuilt with the other views, tracked by the same position), from the entry's events
(``engine.knowledge.KNOWLEDGE_EVENTS``) and from a case's ``AnsweredDirectly`` that names an
entry (``entry``): that is the figure "answers per entry".

:class:`KnowledgeViews` reads them: the admin list, one entry, the proposals, and the
suggestions for a text (``engine.knowledge.EntryRanker`` over the entries offered that day:
not retired, within their validity; the ranker is built again only when an entry changed or
the day did).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from engine.knowledge import KNOWLEDGE_EVENTS, EntryRanker
from projections.tables import view_knowledge, view_knowledge_proposals

# The events this view reads (beside the entry's own): 直办 from an entry.
ANSWER_EVENT = "AnsweredDirectly"


@dataclass(frozen=True)
class KnowledgePending:
    position: int
    aggregate_id: UUID
    name: str
    event: dict[str, Any]


def wanted(name: str, state: dict[str, Any]) -> bool:
    """Whether the knowledge view applies this event."""
    return name in KNOWLEDGE_EVENTS or (name == ANSWER_EVENT and bool(state.get("entry")))


def _day(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


_COLUMNS = ("question", "answer", "category", "unit", "source", "valid_from", "valid_until")


def _values(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, pair in changes.items():
        if name not in _COLUMNS:
            continue
        after = pair[1] if isinstance(pair, list | tuple) else pair
        out[name] = _day(after) if name.startswith("valid_") else (after or "")
    return out


class KnowledgeFold:
    """Applies a batch's knowledge events to the two tables, in the batch's order."""

    def write(self, conn: Connection, pending: Sequence[KnowledgePending]) -> None:
        for p in pending:
            getattr(self, f"_on_{p.name}")(conn, p)

    def _touch(self, p: KnowledgePending, **more: Any) -> Any:
        return (
            update(view_knowledge)
            .where(view_knowledge.c.entry_id == p.aggregate_id)
            .values(
                updated_by=str(p.event["principal"]),
                updated_at=p.event["at"],
                changes=view_knowledge.c.changes + 1,
                position=p.position,
                **more,
            )
        )

    def _on_KnowledgeEntryCreated(self, conn: Connection, p: KnowledgePending) -> None:
        e = p.event
        conn.execute(
            view_knowledge.insert().values(
                entry_id=p.aggregate_id,
                ref=str(e["ref"])[:100],
                question=str(e["question"]),
                answer=str(e["answer"]),
                category=str(e.get("category") or ""),
                unit=str(e.get("unit") or ""),
                source=str(e.get("source") or ""),
                valid_from=_day(e.get("valid_from")),
                valid_until=_day(e.get("valid_until")),
                retired=False,
                retired_reason="",
                created_by=str(e["principal"]),
                created_at=e["at"],
                updated_by=str(e["principal"]),
                updated_at=e["at"],
                changes=0,
                answers=0,
                position=p.position,
            )
        )

    def _on_KnowledgeEntryEdited(self, conn: Connection, p: KnowledgePending) -> None:
        conn.execute(self._touch(p, **_values(p.event["changes"])))

    def _on_KnowledgeEntryRetired(self, conn: Connection, p: KnowledgePending) -> None:
        conn.execute(self._touch(p, retired=True, retired_reason=str(p.event["reason"])))

    def _on_KnowledgeChangeProposed(self, conn: Connection, p: KnowledgePending) -> None:
        e = p.event
        conn.execute(
            view_knowledge_proposals.insert().values(
                entry_id=p.aggregate_id,
                number=int(e["number"]),
                unit=str(e["unit"]),
                changes=json.dumps(e["changes"], ensure_ascii=False),
                note=str(e.get("note") or ""),
                state="pending",
                proposed_by=str(e["principal"]),
                proposed_at=e["at"],
                decision_note="",
            )
        )

    def _decided(self, conn: Connection, p: KnowledgePending, state: str, note: str) -> None:
        conn.execute(
            update(view_knowledge_proposals)
            .where(
                view_knowledge_proposals.c.entry_id == p.aggregate_id,
                view_knowledge_proposals.c.number == int(p.event["number"]),
            )
            .values(
                state=state,
                decided_by=str(p.event["principal"]),
                decided_at=p.event["at"],
                decision_note=note,
            )
        )

    def _on_KnowledgeProposalAccepted(self, conn: Connection, p: KnowledgePending) -> None:
        conn.execute(self._touch(p, **_values(p.event["changes"])))
        self._decided(conn, p, "accepted", str(p.event.get("note") or ""))

    def _on_KnowledgeProposalRejected(self, conn: Connection, p: KnowledgePending) -> None:
        self._decided(conn, p, "rejected", str(p.event.get("reason") or ""))

    def _on_AnsweredDirectly(self, conn: Connection, p: KnowledgePending) -> None:
        try:
            entry = UUID(str(p.event["entry"]))
        except ValueError:
            return  # not an entry id: nothing to count it for
        conn.execute(
            update(view_knowledge)
            .where(view_knowledge.c.entry_id == entry)
            .values(answers=view_knowledge.c.answers + 1, last_answered_at=p.event["at"])
        )


def entry_dict(row: Any, day: dt.date | None = None) -> dict[str, Any]:
    out = {
        "id": str(row.entry_id),
        "ref": row.ref,
        "question": row.question,
        "answer": row.answer,
        "category": row.category or None,
        "unit": row.unit or None,
        "source": row.source,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "retired": bool(row.retired),
        "retired_reason": row.retired_reason,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
        "changes": int(row.changes),
        "answers": int(row.answers),
        "last_answered_at": row.last_answered_at,
    }
    if day is not None:
        out["offered"] = (
            not row.retired
            and (row.valid_from is None or row.valid_from <= day)
            and (row.valid_until is None or day <= row.valid_until)
        )
    return out


def proposal_dict(row: Any) -> dict[str, Any]:
    return {
        "entry_id": str(row.entry_id),
        "number": int(row.number),
        "unit": row.unit,
        "changes": json.loads(row.changes),
        "note": row.note,
        "state": row.state,
        "proposed_by": row.proposed_by,
        "proposed_at": row.proposed_at,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at,
        "decision_note": row.decision_note,
    }


class KnowledgeViews:
    """The reads of the knowledge view. ``before_read``: the read model's catch-up (embedded
    mode), so a change is visible at once."""

    # Per database (engine), the ranker for the offered set it was built on.
    _rankers: ClassVar[weakref.WeakKeyDictionary[Engine, tuple[tuple[Any, ...], EntryRanker]]] = (
        weakref.WeakKeyDictionary()
    )
    _lock = threading.Lock()

    def __init__(self, engine: Engine, before_read: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.before_read = before_read

    def _fresh(self) -> None:
        if self.before_read is not None:
            self.before_read()

    @staticmethod
    def _offered(day: dt.date) -> Any:
        k = view_knowledge.c
        return and_(
            k.retired.is_(False),
            or_(k.valid_from.is_(None), k.valid_from <= day),
            or_(k.valid_until.is_(None), k.valid_until >= day),
        )

    def entries(
        self,
        day: dt.date,
        *,
        include_retired: bool = False,
        offered_only: bool = False,
        limit: int = 200,
        offset: int = 0,
    ) -> dict[str, Any]:
        self._fresh()
        k = view_knowledge.c
        query = select(view_knowledge)
        if offered_only:
            query = query.where(self._offered(day))
        elif not include_retired:
            query = query.where(k.retired.is_(False))
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(query.subquery())
            ).scalar_one()
            rows = conn.execute(
                query.order_by(k.category, k.question, k.entry_id).limit(limit).offset(offset)
            ).all()
        return {"total": int(total), "items": [entry_dict(r, day) for r in rows]}

    def entry(self, entry_id: UUID, day: dt.date) -> dict[str, Any] | None:
        self._fresh()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(view_knowledge).where(view_knowledge.c.entry_id == entry_id)
            ).first()
            if row is None:
                return None
            proposals = conn.execute(
                select(view_knowledge_proposals)
                .where(view_knowledge_proposals.c.entry_id == entry_id)
                .order_by(view_knowledge_proposals.c.number)
            ).all()
        out = entry_dict(row, day)
        out["proposals"] = [proposal_dict(p) for p in proposals]
        return out

    def proposals(self, state: str | None = None, unit: str | None = None) -> list[dict[str, Any]]:
        self._fresh()
        p, k = view_knowledge_proposals.c, view_knowledge.c
        query = select(view_knowledge_proposals, k.question).join(
            view_knowledge, k.entry_id == p.entry_id
        )
        if state:
            query = query.where(p.state == state)
        if unit:
            query = query.where(p.unit == unit)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(p.proposed_at, p.entry_id, p.number)).all()
        return [{**proposal_dict(r), "question": r.question} for r in rows]

    def suggest(self, text: str, day: dt.date, limit: int = 5) -> list[dict[str, Any]]:
        """The entries offered on ``day`` that best answer ``text``, best first, each with its
        score."""
        self._fresh()
        with self.engine.connect() as conn:
            signature = tuple(
                conn.execute(
                    select(func.count(), func.max(view_knowledge.c.position)).where(
                        self._offered(day)
                    )
                ).one()
            )
            ranker = self._ranker(conn, (*signature, day))
            ranked = ranker.rank(text, limit=limit)
            if not ranked:
                return []
            ids = [UUID(r.entry_id) for r in ranked]
            rows = {
                r.entry_id: r
                for r in conn.execute(
                    select(view_knowledge).where(view_knowledge.c.entry_id.in_(ids))
                )
            }
        return [
            {**entry_dict(rows[UUID(r.entry_id)], day), "score": r.score}
            for r in ranked
            if UUID(r.entry_id) in rows
        ]

    def _ranker(self, conn: Connection, key: tuple[Any, ...]) -> EntryRanker:
        slot = self.engine
        with self._lock:
            cached = self._rankers.get(slot)
            if cached is not None and cached[0] == key:
                return cached[1]
        day = key[-1]
        rows = conn.execute(
            select(
                view_knowledge.c.entry_id, view_knowledge.c.question, view_knowledge.c.answer
            ).where(self._offered(day)).order_by(view_knowledge.c.entry_id)
        ).all()
        ranker = EntryRanker([(str(r.entry_id), r.question, r.answer) for r in rows])
        with self._lock:
            self._rankers[slot] = (key, ranker)
        return ranker
