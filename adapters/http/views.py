"""JSON views of a case and its events, shaped for the caller (masking, allowed actions)."""

from __future__ import annotations

from typing import Any

from adapters.http.coop_view import coop_actions, parts_view, whistles_view
from adapters.http.policy import Principal
from adapters.http.unit_view import lens_for_case
from adapters.jsonable import jsonable
from engine.config import Role, SanshiConfig
from engine.domain import Action, Case, Status
from engine.vocabulary import ACTIONS, EVENT_KINDS, STATUSES

# Action → the API route name the UI calls (POST /api/cases/{id}/<name>).
CENTRE_ACTIONS: dict[Action, str] = {
    Action.DISPATCH: "dispatch",
    Action.CLASSIFY: "reclassify",
    Action.ANSWER_DIRECTLY: "answer",
    Action.REJECT: "reject",
    Action.DECIDE_EXTENSION: "extension/decide",
    Action.FOLLOW_UP: "followup",
    Action.URGE: "urge",
    Action.DECIDE_HOLD: "hold/decide",
    Action.RESUME: "resume",
    Action.MERGE: "merge",  # 合并 by hand (adapters.http.routes_hand)
    Action.UNMERGE: "unmerge",
    Action.REVIEW_RETURN: "return/review",
    Action.TRANSFER: "transfer",
    Action.CALLBACK_UNANSWERED: "callback/unanswered",
    Action.CLOSE_UNREACHABLE: "close/unreachable",
}
UNIT_ACTIONS: dict[Action, str] = {
    Action.CLAIM: "claim",
    Action.RETURN: "return",
    Action.REQUEST_EXTENSION: "extend",
    Action.START_MEDIATION: "mediation/start",
    Action.CONCLUDE_MEDIATION: "mediation/conclude",
    Action.RESOLVE: "resolve",
    Action.REQUEST_HOLD: "hold",
    Action.RESUME: "resume",
    Action.ANSWER_INSTRUCTION: "instruction/reply",
}
LEADER_ACTIONS: dict[Action, str] = {Action.INSTRUCT: "instruct"}



def unit_name(config: SanshiConfig, unit_id: str | None) -> str | None:
    if unit_id is None:
        return None
    try:
        return config.unit(unit_id).name
    except KeyError:
        return unit_id


def category_name(config: SanshiConfig, code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return config.category(code).name
    except KeyError:
        return code


def allowed_actions(principal: Principal, case: Case) -> list[str]:
    """What this caller may do to the case now: the UI shows exactly these buttons."""
    actions: dict[Action, str]
    if principal.role == Role.OPERATOR:
        actions = CENTRE_ACTIONS
    elif principal.role == Role.LEADER:
        actions = LEADER_ACTIONS
    elif principal.role == Role.UNIT and case.assigned_unit == principal.unit:
        actions = UNIT_ACTIONS
    else:
        actions = {}
    out = [name for action, name in actions.items() if case.offers(action)]
    # 查看联系方式: the holding unit's, and not offered on a 保密件 (the UI says the centre relays).
    if actions is UNIT_ACTIONS and case.offers(Action.REVEAL_CONTACT) and not case.confidential:
        out.append("contact")
    return out


def case_view(case: Case, principal: Principal, config: SanshiConfig) -> dict[str, Any]:
    """The case as this caller may see it: the centre, leaders and admins as the log has it;
    a unit what ``unit_view`` chooses (an allow-list of fields, the caller masked)."""
    full = _full_case_view(case, principal, config)
    lens = lens_for_case(principal, case)
    return full if lens is None else lens.case(full)


def _full_case_view(case: Case, principal: Principal, config: SanshiConfig) -> dict[str, Any]:
    d = case.dispatch
    dispatch = None
    if d is not None:
        dispatch = {
            "number": d.number,
            "unit": d.unit,
            "unit_name": unit_name(config, d.unit),
            "at": d.at.isoformat(),
            "claim_deadline": d.claim_deadline.isoformat(),
            "handle_deadline": d.handle_deadline.isoformat(),
            "claimed_at": d.claimed_at.isoformat() if d.claimed_at else None,
            "extension_requested_to": (
                d.extension_requested_to.isoformat() if d.extension_requested_to else None
            ),
            "note": d.note,
        }
    status = Status(case.status)
    return {
        "id": str(case.id),
        "version": case.version,
        "channel": case.channel,
        "source_ref": case.source_ref,
        "order_no": case.order_no,  # 工单编号 (engine.order_numbers); None before numbering
        "status": status.value,
        "status_name": STATUSES.label(status),
        "received_at": case.received_at.isoformat(),
        "content": case.content,
        "address": case.address,
        "caller_name": case.caller_name,
        "caller_phone": case.caller_phone,
        "masked": False,
        "confidential": case.confidential,
        "appeal_type": case.appeal_type,
        "appeal_type_predicted": case.appeal_type_predicted,
        "appeal": case.appeal,  # 诉求类型: the operator's, else the predicted one
        "project": case.project,  # 实事项目: {"id", "title"} of the project it is in, or None
        "urgent": case.urgent,
        "concern": case.concern,
        "category": case.category,
        "category_name": category_name(config, case.category),
        "category_hint": case.category_hint,
        "locality": case.locality,
        "locality_name": unit_name(config, case.locality),
        "street": case.street,
        "street_name": unit_name(config, case.street),
        "assigned_unit": case.assigned_unit,
        "assigned_unit_name": unit_name(config, case.assigned_unit),
        "dispatch": dispatch,
        "units_ever": list(case.units_ever),
        "returned_by": list(case.returned_by),
        "return_count": case.return_count,
        "escalation_level": case.escalation_level,
        "manual_reason": case.manual_reason,
        "merged_into": str(case.merged_into) if case.merged_into else None,
        "duplicates": [str(x) for x in case.duplicates],
        "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None,
        "resolved_unit": case.resolved_unit,
        "rating": case.rating.value if case.rating else None,
        "solved": case.solved,
        "mediation_agreement": case.mediation_agreement,
        "status_times": {k: v.isoformat() for k, v in case.status_times.items()},
        # 挂起: the request waiting for the centre, the current suspension, the last refusal.
        "hold": {
            "requested": jsonable(case.hold_request),
            "held_since": case.held_since.isoformat() if case.held_since else None,
            "resume_expected": (
                case.resume_expected.isoformat() if case.resume_expected else None
            ),
            "refusal_note": case.hold_refusal,
            "paused_workdays": case.paused_workdays,
        },
        # 领导批示, the latest first: the unit sees them at the top of the case.
        "instructions": [
            {**jsonable(i), "unit_name": unit_name(config, i["unit"])}
            for i in reversed(case.instructions)
        ],
        "extra": jsonable(case.extra),
        # 主办/协办 and 吹哨报到 (adapters/http/coop_view.py)
        "parts": parts_view(case, config),
        "whistles": whistles_view(case, config),
        **_notes_and_reviews(case, config),
        **_shelf_view(case, principal, config),
        "actions": allowed_actions(principal, case) + coop_actions(principal, case, config),
    }


# 认领大厅: what the centre may do about the shelf (the case page's 上架/下架/认领审核 forms, shelf.js).
SHELF_ACTIONS: dict[Action, str] = {
    Action.SHELVE: "shelve",
    Action.UNSHELVE: "unshelve",
    Action.DECIDE_CLAIM: "decide_claim",
}


def _shelf_view(case: Case, principal: Principal, config: SanshiConfig) -> dict[str, Any]:
    """The listing on the shelf and every claim made (the centre's view; a unit's lens lists
    none of these fields)."""
    listing = case.shelf
    return {
        "shelf": (
            None
            if listing is None
            else {**jsonable(listing), "service_name": config.service_name(str(listing["service"]))}
        ),
        "shelf_claims": [
            {**jsonable(c), "unit_name": unit_name(config, c["unit"])} for c in case.shelf_claims
        ],
        "shelf_actions": (
            [name for action, name in SHELF_ACTIONS.items() if case.offers(action)]
            if principal.role == Role.OPERATOR
            else []
        ),
    }


def _notes_and_reviews(case: Case, config: SanshiConfig) -> dict[str, Any]:
    """退单审核, the centre's notes to the unit, and the follow-up calls (回访) with the
    resident's comments (docs/lifecycle.md)."""
    review = case.return_review
    return {
        # The return waiting for the centre's review (待审退单), with the unit it named.
        "return_review": (
            None
            if review is None
            else {
                **jsonable(review),
                "unit_name": unit_name(config, review["unit"]),
                "suggested_unit_name": unit_name(config, review["suggested_unit"]),
            }
        ),
        "return_refusal": case.return_refusal,
        # What the centre wrote to the unit: dispatch and transfer notes, 催办, its decisions.
        "centre_notes": [
            {**jsonable(n), "kind_name": ACTIONS.label(n["kind"]), "unit_name": unit_name(config, n["unit"])}
            for n in case.centre_notes
        ],
        "callbacks": jsonable(case.callbacks),
        "callbacks_unanswered": case.callbacks_unanswered,
        "max_unanswered": case.max_unanswered or config.callback.max_unanswered,
    }


_EVENT_META = {"timestamp", "originator_topic", "originator_id", "originator_version"}


def event_view(
    event: Any, principal: Principal, config: SanshiConfig, case: Case | None = None
) -> dict[str, Any]:
    """One event of a case's history; for a unit, only the data ``unit_view`` lists for its
    type (``case`` gives the caller whose name and number are masked in the text)."""
    full = _full_event_view(event, config)
    if case is None or principal.role != Role.UNIT:
        if principal.role == Role.UNIT:  # no case to mask against: show nothing of the data
            return {**full, "data": {}}
        return full
    lens = lens_for_case(principal, case)
    assert lens is not None
    return lens.event(case.id, full)


def _full_event_view(event: Any, config: SanshiConfig) -> dict[str, Any]:
    name = type(event).__qualname__.split(".")[-1]
    data = {k: v for k, v in event.__dict__.items() if k not in _EVENT_META}
    unit = data.get("unit")
    return {
        "version": event.originator_version,
        "type": name,
        "type_name": EVENT_KINDS.label(name),
        "at": jsonable(data.pop("at", None)),
        "principal": data.pop("principal", None),
        "unit": unit,
        "unit_name": unit_name(config, unit) if isinstance(unit, str) else None,
        "recorded_at": event.timestamp.isoformat(),
        "data": jsonable(data),
    }


def notice_views(runtime: Any, case: Case) -> list[dict[str, Any]]:
    """通知 about this case (``NoticeSent`` / ``NoticeAbandoned``, docs/notifications.md) in the
    shape of its events, for the timeline: who was told (the unit's name, 来电人, the leader)
    and by which channel. The outcomes are aggregates of their own, found through the outbox
    rows of the case; none when no channel is configured."""
    from adapters.notify.outbox import DEAD, SENT
    from engine.notices import notice_id
    from engine.vocabulary import NOTICE_CHANNELS

    notifier = runtime.notifier
    if notifier is None:
        return []
    config = runtime.config
    out: list[dict[str, Any]] = []
    for row in notifier.rows(case_id=case.id):
        if row.status not in (SENT, DEAD):
            continue
        if row.audience == "resident":
            who = "来电人"
        elif row.audience == "unit":
            who = unit_name(config, row.target) or row.target
        else:
            who = row.target
        for event in runtime.app.events.get(notice_id(row.key)):
            view = _full_event_view(event, config)
            view["unit"] = row.target if row.audience == "unit" else None
            view["unit_name"] = f"{who}（{NOTICE_CHANNELS.label(row.channel)}）"
            view["data"].pop("key", None)
            out.append(view)
    return out
