"""一表通 (one form) and 通报/追责 (censures): two small aggregates beside the Case.

A 一表通 form is what a grid worker's inspection, a visit or a meeting writes down at once: several
matters, each a case of its own (received, routed and handled on its own), under one parent. The
parent (:class:`Form`) records which cases are its items; whether it is complete is read from
its items' cases (every item ended), never stored, so it cannot disagree with them.

A censure (:class:`Censure`) is the centre naming a unit: 通报 (a notice) or 追责 (holding it to
account), with a reason and, if it is about one, a case. It counts in the unit's monthly figures
(docs/rates.md). Pure domain code, as ``engine.domain``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from engine.domain import InvalidCommand
from engine.vocabulary import CensureKind, FormKind

# A form's id is uuid5(FORM_NAMESPACE, its reference): the same form sent twice lands once.
FORM_NAMESPACE = UUID("0b1e7a11-5e2f-5c3d-9a4b-6c7d8e9f0a1b")
MAX_FORM_ITEMS = 20


def form_id_for(ref: str) -> UUID:
    return uuid5(FORM_NAMESPACE, f"form:{ref}")


def form_item_ref(ref: str, item: int) -> str:
    """The source reference of item ``item`` (1-based) of form ``ref``: its case id follows
    (walk-in channel), so re-sending a form re-sends the same cases."""
    return f"{ref}#{item}"


class Form(Aggregate):
    """一表通: one form, several linked cases."""

    @staticmethod
    def create_id(ref: str) -> UUID:
        return form_id_for(ref)

    @event("FormSubmitted")
    def __init__(
        self,
        *,
        ref: str,
        kind: str,
        title: str,
        items: list[dict[str, Any]],
        principal: str,
        at: datetime,
    ) -> None:
        # ``items``: [{"item": 1, "case_id": "<uuid>"}, ...] in the form's order.
        self.ref = ref
        self.kind = kind
        self.title = title
        self.items = [dict(i) for i in items]
        self.submitted_by = principal
        self.submitted_at = at

    @property
    def case_ids(self) -> list[UUID]:
        return [UUID(str(i["case_id"])) for i in self.items]


def new_form(
    *, ref: str, kind: str, title: str, case_ids: list[UUID], principal: str, at: datetime
) -> Form:
    """A form over these cases (already received), checked."""
    if kind not in {k.value for k in FormKind}:
        raise InvalidCommand(f"一表通类型「{kind}」不存在")
    if not title.strip():
        raise InvalidCommand("一表通须填写标题")
    if not 1 <= len(case_ids) <= MAX_FORM_ITEMS:
        raise InvalidCommand(f"一表通须有 1 至 {MAX_FORM_ITEMS} 个事项")
    items = [{"item": n, "case_id": str(cid)} for n, cid in enumerate(case_ids, start=1)]
    return Form(ref=ref, kind=kind, title=title, items=items, principal=principal, at=at)


class Censure(Aggregate):
    """通报 or 追责 of a unit by the centre (one aggregate each: a record, never changed)."""

    @event("UnitCensured")
    def __init__(
        self,
        *,
        kind: str,
        unit: str,
        reason: str,
        case_id: UUID | None,
        principal: str,
        at: datetime,
    ) -> None:
        self.kind = kind
        self.unit = unit
        self.reason = reason
        self.case_id = case_id
        self.principal = principal
        self.at = at


def new_censure(
    *, kind: str, unit: str, reason: str, case_id: UUID | None, principal: str, at: datetime
) -> Censure:
    if kind not in {k.value for k in CensureKind}:
        raise InvalidCommand(f"通报追责类型「{kind}」不存在")
    if not reason.strip():
        raise InvalidCommand("通报/追责须说明理由")
    return Censure(kind=kind, unit=unit, reason=reason, case_id=case_id, principal=principal, at=at)
