"""What a unit (承办单位) sees of a case: chosen field by field, never "everything minus the keys
we know to be personal".

A unit needs the problem, the place, the deadlines and the history of the handling; it does not
need to know who called. So every answer a unit token can read (``GET /api/cases/{id}``, the
case returned by each unit command, ``/events``, the inbox, the case list, Open311 with a
unit's key, and the web UI, which reads only these) is built here, through :class:`UnitLens`:

- **fields**: only those named in :data:`CASE_FIELDS`, :data:`ROW_FIELDS` and
  :data:`EVENT_FIELDS`. A field added to the case, a row or an event later is not shown to units
  until someone adds it here.
- **extra**: the channel's own fields reach a unit only when their key is in
  :data:`EXTRA_KEYS` (coordinates, photos, the counter, the police category); everything else a
  channel or a client sent (联系电话, 来电人姓名, 身份证号, mobile, email, 车牌号, ...) stays with
  the centre.
- **text** (content, address, results, notes, reasons): the caller's own name and number are
  masked wherever they were written (``adapters.channels.privacy.mask_text``, which also masks
  other phone and ID numbers and names after cue words), using the caller's fields from the
  case. The views hold no caller name or phone (by design; see ``projections/sealed.py``), so
  lists look the callers up from the log (:func:`callers_of`, one query on PostgreSQL).
- **保密件** (confidential): the caller's name and number are not shown at all (not even 张某 or
  the last four digits), in the fields or in the text; the centre relays.

The caller's number reaches a unit only through ``POST /api/cases/{id}/contact`` (查看联系方式),
an audited command recorded in the case's history.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.channels.privacy import mask_text
from adapters.http.policy import Principal, mask_name, mask_phone
from engine.application import SanshiApplication
from engine.config import Role
from engine.domain import Case

# Shown in place of a confidential caller's name inside text (a whole name, never a surname).
CONFIDENTIAL_NAME = "某某"
# What mask_text leaves of a number (the last four digits after stars): a 保密件 shows none.
_MASKED_TAIL = re.compile(r"\*{3,}[0-9０-９]{1,4}")


@dataclass(frozen=True)
class Caller:
    """The caller of one case as the log has it (police cases: already desensitised)."""

    name: str
    phone: str
    confidential: bool

    @classmethod
    def of(cls, case: Case) -> Caller:
        return cls(case.caller_name or "", case.caller_phone or "", bool(case.confidential))


UNKNOWN_CALLER = Caller("", "", False)


def callers_of(app: SanshiApplication, ids: Iterable[UUID]) -> dict[UUID, Caller]:
    """The callers of these cases, read from the log (the views do not keep them)."""
    wanted = {i for i in ids}
    if not wanted:
        return {}
    return {cid: Caller.of(case) for cid, case in app.get_cases(wanted).items()}


def unit_text(text: Any, caller: Caller) -> Any:
    """Free text as a unit may read it: the caller's own name and number masked wherever
    they appear (and other identifiers privacy.mask_text finds); for a 保密件 nothing of
    either is left."""
    if not isinstance(text, str) or not text:
        return text
    name = caller.name.strip()
    if caller.confidential and len(name) >= 2:
        text = text.replace(name, CONFIDENTIAL_NAME)
    out = mask_text(text, [name] if name else [], [caller.phone] if caller.phone else [])
    if caller.confidential:
        out = _MASKED_TAIL.sub(lambda m: "*" * len(m.group(0)), out)
    return out


# ---- field lists -------------------------------------------------------------------------------

Shape = Callable[[Any, Caller], Any] | None  # None: shown as it is (ids, codes, times, counts)


def _text(value: Any, caller: Caller) -> Any:
    return unit_text(value, caller)


def _caller_name(value: Any, caller: Caller) -> str:
    return "" if caller.confidential else mask_name(str(value or ""))


def _caller_phone(value: Any, caller: Caller) -> str:
    return "" if caller.confidential else mask_phone(str(value or ""))


# Keys of ``extra`` that describe the problem, not the person: where it is (coordinates),
# what it looks like (photos), which counter took it, the police category. Anything else a
# channel keeps (unknown CSV columns, Open311 account and device ids, e-mail) is not shown.
EXTRA_KEYS: frozenset[str] = frozenset(
    {"lat", "lng", "photos", "station_id", "on_behalf", "police_category", "sub_category",
     "desensitised", "received_at_assumed",
     # 媒体监督 (the report), 诉前调解 (not the parties), 镇呼市应 (who asks whom)
     "report_outlet", "report_title", "report_url", "report_published_at", "court", "dispute_type",
     "mediation_deadline",
     "requesting_unit", "department_asked", "department_configured"}
)


def _scalar_or_text(value: Any, caller: Caller) -> Any:
    if isinstance(value, str):
        return unit_text(value, caller)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list):
        return [v for v in (_scalar_or_text(x, caller) for x in value) if not isinstance(v, dict | list)]
    return None  # a nested object under a harmless key is not expected: not shown


def _extra(value: Any, caller: Caller) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {k: _scalar_or_text(value[k], caller) for k in sorted(EXTRA_KEYS) if k in value}


def _source_ref(value: Any, caller: Caller, channel: Any) -> Any:
    # A 110 incident number identifies a police record; a unit refers to the case by its id.
    return None if channel == "police" else value


# 挂起 as a unit sees it: its own request (reason masked), the suspension, the centre's note.
HOLD_FIELDS: dict[str, Shape] = {
    "requested": lambda v, c: _pick(v, HOLD_REQUEST_FIELDS, c) if isinstance(v, Mapping) else None,
    "held_since": None,
    "resume_expected": None,
    "refusal_note": _text,
    "paused_workdays": None,
}
HOLD_REQUEST_FIELDS: dict[str, Shape] = {
    "unit": None, "reason": _text, "expected_resume": None, "at": None,
}
# 领导批示: shown to the unit at the top of the case (who wrote it is the leader's office, not a
# resident: shown as the log has it).
INSTRUCTION_FIELDS: dict[str, Shape] = {
    "number": None, "unit": None, "unit_name": None, "text": _text, "by": None, "at": None,
    "due": None, "reply": _text, "answered_by": None, "answered_at": None, "on_time": None,
}


# 主办/协办: every part of the case (the co-units' parts too: a unit must see them), and the
# whistles blown; the free text (feedback, a return's reason, a whistle's reason) masked.
PART_FIELDS: dict[str, Shape] = {
    "number": None, "unit": None, "unit_name": None, "whistle": None, "state": None,
    "state_name": None, "at": None, "claim_deadline": None, "handle_deadline": None,
    "claimed_at": None, "reported_at": None, "feedback": _text, "note": _text,
    "escalations": None,
}
WHISTLE_FIELDS: dict[str, Shape] = {
    "number": None, "unit": None, "unit_name": None, "departments": None,
    "department_names": None, "due": None, "reason": _text, "at": None,
}
# A 协办待反馈 row's part (projections.coop_queries): times, states and flags, no text.
ROW_PART_KEYS = (
    "number", "unit", "unit_name", "lead_unit", "lead_unit_name", "whistle", "state",
    "state_name", "added_at", "claim_deadline", "handle_deadline", "claimed_at",
    "claimed_on_time", "reported_at", "reported_on_time", "returned_at", "closed_at",
    "claim_escalated", "handle_escalated", "claim_overdue", "handle_overdue", "overdue",
    "next_deadline",
)


def _list_of(fields: Mapping[str, Shape]) -> Callable[[Any, Caller], list[dict[str, Any]]]:
    def shape(value: Any, caller: Caller) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            return []
        return [_pick(x, fields, caller) for x in value if isinstance(x, Mapping)]

    return shape


# 派单: the clocks, and the centre's dispatch note (派单说明), its text masked.
DISPATCH_FIELDS: dict[str, Shape] = {
    "number": None, "unit": None, "unit_name": None, "at": None, "claim_deadline": None,
    "handle_deadline": None, "claimed_at": None, "extension_requested_to": None, "note": _text,
}
# The unit's own return while it waits for the centre's review (退单审核).
RETURN_REVIEW_FIELDS: dict[str, Shape] = {
    "number": None, "unit": None, "unit_name": None, "reason": _text, "suggested_unit": None,
    "suggested_unit_name": None, "at": None,
}
# What the centre wrote to the unit (dispatch and transfer notes, 催办, decisions on its
# requests and returns): the centre's words, a resident's name in them masked.
CENTRE_NOTE_FIELDS: dict[str, Shape] = {
    "kind": None, "kind_name": None, "text": _text, "by": None, "at": None, "unit": None,
    "unit_name": None,
}
# 回访: what the resident said of the handling (the comment masked: it may name the caller).
CALLBACK_FIELDS: dict[str, Shape] = {
    "at": None, "unit": None, "solved": None, "rating": None, "comment": _text,
}


def _picked(fields: dict[str, Shape]) -> Callable[[Any, Caller], Any]:
    def shape(value: Any, caller: Caller) -> Any:
        return _pick(value, fields, caller) if isinstance(value, Mapping) else None

    return shape


def _row_part(value: Any, caller: Caller) -> Any:
    return {k: value[k] for k in ROW_PART_KEYS if k in value} if isinstance(value, Mapping) else None


def _picked_list(fields: dict[str, Shape]) -> Callable[[Any, Caller], Any]:
    def shape(value: Any, caller: Caller) -> Any:
        if not isinstance(value, list):
            return []
        return [_pick(v, fields, caller) for v in value if isinstance(v, Mapping)]

    return shape


def _hold(value: Any, caller: Caller) -> Any:
    return _pick(value, HOLD_FIELDS, caller) if isinstance(value, Mapping) else None


def _instructions(value: Any, caller: Caller) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [_pick(i, INSTRUCTION_FIELDS, caller) for i in value if isinstance(i, Mapping)]


# The case as ``GET /api/cases/{id}`` shows it to a unit.
CASE_FIELDS: dict[str, Shape] = {
    "id": None,
    "version": None,
    "channel": None,
    "status": None,
    "status_name": None,
    "received_at": None,
    "content": _text,
    "address": _text,
    "caller_name": _caller_name,
    "caller_phone": _caller_phone,
    "order_no": None,
    "appeal_type": None,
    "appeal_type_predicted": None,
    "appeal": None,
    "project": None,
    "urgent": None,
    "concern": None,
    "category": None,
    "category_name": None,
    "category_hint": None,
    "locality": None,
    "locality_name": None,
    "street": None,
    "street_name": None,
    "assigned_unit": None,
    "assigned_unit_name": None,
    "dispatch": _picked(DISPATCH_FIELDS),
    "units_ever": None,
    "returned_by": None,
    "return_count": None,
    "escalation_level": None,
    "manual_reason": _text,
    "merged_into": None,
    "duplicates": None,
    "resolved_at": None,
    "resolved_unit": None,
    "rating": None,
    "solved": None,
    "mediation_agreement": None,
    "status_times": None,
    "extra": _extra,
    "actions": None,
    "hold": _hold,
    "instructions": _instructions,
    "parts": _list_of(PART_FIELDS),
    "whistles": _list_of(WHISTLE_FIELDS),
    "return_review": _picked(RETURN_REVIEW_FIELDS),
    "return_refusal": _text,
    "centre_notes": _picked_list(CENTRE_NOTE_FIELDS),
    "callbacks": _picked_list(CALLBACK_FIELDS),
}

# A row of the inbox or the case list (read model) as a unit sees it.
ROW_FIELDS: dict[str, Shape] = {
    **{
        k: None
        for k in (
            "case_id", "channel", "channel_name", "status", "status_name", "received_at",
            "received_day", "month", "updated_at", "concern", "urgent", "category",
            "category_name", "locality", "street", "unit", "unit_name", "resp_unit", "units",
            "dispatch_number", "dispatched_at", "claim_deadline", "handle_deadline",
            "claimed_at", "extension_requested_to", "claim_escalated", "handle_escalated",
            "claim_overdue", "handle_overdue", "overdue", "overdue_kind", "next_deadline",
            "next_deadline_kind", "escalation_level",
            "return_count", "merged_into", "resolved_unit", "resolved_at", "resolved_now",
            "is_open", "counts", "lat", "lng", "hold_requested_at", "held_since", "resume_expected",
            "instructions", "instructions_answered", "instructions_on_time", "instruction_at",
            "instruction_due", "instruction_overdue",
        )
    },
    "content": _text,
    "snippet": _text,
    "address": _text,
    "result": _text,
    "manual_reason": _text,
    "part": _row_part,
}

# Per event type, the data a unit sees in a case's history (办理过程); free text masked. An
# event type not listed shows its name, time and unit only.
_T = _text
EVENT_FIELDS: dict[str, dict[str, Shape]] = {
    "Received": {"channel": None, "received_at": None, "content": _T, "address": _T,
                 "caller_name": _caller_name, "caller_phone": _caller_phone,
                 "appeal_type": None, "urgent": None, "category_hint": None, "concern": None},
    "Classified": {"category": None, "urgent": None, "locality": None, "street": None,
                   "override": None, "leaf": None},
    "Dispatched": {"unit": None, "number": None, "claim_deadline": None, "handle_deadline": None},
    "Claimed": {"unit": None},
    "Returned": {"unit": None, "reason": _T, "suggested_unit": None, "review": None},
    "ExtensionRequested": {"unit": None, "until": None, "reason": _T},
    "ExtensionDecided": {"unit": None, "granted": None, "until": None, "note": _T},
    "MediationStarted": {"unit": None},
    "MediationConcluded": {"unit": None, "agreement": None, "summary": _T},
    "Resolved": {"unit": None, "result": _T, "on_time": None},
    "AnsweredDirectly": {"answer": _T},
    "Rejected": {"reason": _T},
    "FollowedUp": {"unit": None, "solved": None, "rating": None, "comment": _T},
    "Reopened": {"unit": None, "reason": _T},
    "Closed": {"reason": _T},
    "Escalated": {"unit": None, "kind": None, "level": None, "supervisor": None},
    "Urged": {"unit": None, "note": _T},
    "Merged": {"target": None, "similarity": None},
    "DuplicateLinked": {"duplicate": None},
    "SentToManual": {"reason": _T},
    "ContactRevealed": {"unit": None},
    "MarkedConfidential": {},
    "Numbered": {"order_no": None, "appeal_type_predicted": None},
    "HoldRequested": {"unit": None, "reason": _T, "expected_resume": None},
    "HoldDecided": {"unit": None, "granted": None, "note": _T, "expected_resume": None},
    "Resumed": {"unit": None, "held_since": None, "handle_deadline": None, "paused_workdays": None},
    "Instructed": {"unit": None, "number": None, "text": _T, "due": None},
    "InstructionAnswered": {"unit": None, "number": None, "reply": _T, "on_time": None},
    "AssistAdded": {"unit": None, "number": None, "claim_deadline": None,
                    "handle_deadline": None, "whistle": None, "note": _T},
    "Whistled": {"unit": None, "number": None, "departments": None, "due": None, "reason": _T},
    "PartClaimed": {"unit": None, "number": None, "on_time": None},
    "PartReported": {"unit": None, "number": None, "feedback": _T, "on_time": None},
    "PartReturned": {"unit": None, "number": None, "reason": _T},
    "PartClosed": {"unit": None, "number": None, "note": _T},
    "PartEscalated": {"unit": None, "number": None, "kind": None, "supervisor": None},
    "Unmerged": {"original": None, "note": _T},
    "DuplicateUnlinked": {"duplicate": None},
    "OriginalResolved": {"original": None, "unit": None, "result": _T},
    "LinkedToProject": {"project_id": None, "title": None},
    "MergeDeclined": {"target": None},
    "LinkedToForm": {"form_id": None, "item": None, "kind": None, "title": _T},
    "ReturnReviewed": {"unit": None, "number": None, "approved": None, "to_unit": None,
                       "suggested_unit": None, "reason": _T, "note": _T},
    "Transferred": {"unit": None, "to_unit": None, "note": _T},
    "CallbackUnanswered": {"unit": None, "attempt": None, "max_unanswered": None, "note": _T},
    "ClosedUnreachable": {"unit": None, "attempts": None, "note": _T},
    "AttachmentAdded": {"digest": None, "kind": None, "mime": None, "size": None, "name": _T,
                        "stage": None, "public": None, "unit": None},
    "AttachmentPublicity": {"digest": None, "public": None},
}


def _pick(data: Mapping[str, Any], fields: Mapping[str, Shape], caller: Caller) -> dict[str, Any]:
    return {k: (shape(data[k], caller) if shape else data[k]) for k, shape in fields.items() if k in data}


class UnitLens:
    """Everything a unit token reads of cases passes through one of these methods."""

    def __init__(self, callers: Mapping[UUID, Caller]) -> None:
        self._callers = callers

    def caller(self, case_id: Any) -> Caller:
        try:
            return self._callers.get(UUID(str(case_id)), UNKNOWN_CALLER)
        except ValueError:
            return UNKNOWN_CALLER

    def text(self, case_id: Any, text: Any) -> Any:
        return unit_text(text, self.caller(case_id))

    def case(self, full: Mapping[str, Any]) -> dict[str, Any]:
        caller = self.caller(full["id"])
        out = _pick(full, CASE_FIELDS, caller)
        out["source_ref"] = _source_ref(full.get("source_ref"), caller, full.get("channel"))
        out["masked"] = True
        out["confidential"] = caller.confidential
        return out

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        caller = self.caller(row.get("case_id"))
        out = _pick(row, ROW_FIELDS, caller)
        if "source_ref" in row:
            out["source_ref"] = _source_ref(row["source_ref"], caller, row.get("channel"))
        return out

    def event(self, case_id: Any, view: Mapping[str, Any]) -> dict[str, Any]:
        """An event as ``views.event_view`` shaped it, its ``data`` reduced to the list."""
        fields = EVENT_FIELDS.get(str(view.get("type")), {})
        data = view.get("data") or {}
        return {**view, "data": _pick(data, fields, self.caller(case_id))}


def lens_for(
    principal: Principal | None, app: SanshiApplication, case_ids: Iterable[Any]
) -> UnitLens | None:
    """The lens a reader's answers go through: None for the centre, leaders and admins (they
    see the case as the log has it), a :class:`UnitLens` over these cases' callers for a unit."""
    if principal is None or principal.role != Role.UNIT:
        return None
    ids: set[UUID] = set()
    for raw in case_ids:
        try:
            ids.add(UUID(str(raw)))
        except ValueError:
            continue
    return UnitLens(callers_of(app, ids))


def lens_for_case(principal: Principal | None, case: Case) -> UnitLens | None:
    """As :func:`lens_for`, for a case already loaded."""
    if principal is None or principal.role != Role.UNIT:
        return None
    return UnitLens({case.id: Caller.of(case)})
