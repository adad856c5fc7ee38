"""The parts of a co-handled case (主办/协办) and its whistles (吹哨报到) in the case's JSON, and
the part actions a caller is offered (the UI shows exactly these buttons)."""

from __future__ import annotations

from typing import Any

from adapters.http.policy import Principal
from engine.config import Role, SanshiConfig, UnitKind
from engine.domain import Action, Case
from engine.vocabulary import PART_STATUSES

# Action → the route name the UI calls (POST /api/cases/{id}/<name>).
CENTRE_COOP_ACTIONS: dict[Action, str] = {Action.ADD_ASSIST: "assist"}
LEAD_COOP_ACTIONS: dict[Action, str] = {Action.WHISTLE: "whistle"}
PART_ACTIONS: dict[Action, str] = {
    Action.CLAIM_PART: "part/claim",
    Action.REPORT_PART: "part/report",
    Action.RETURN_PART: "part/return",
}
# Who may whistle (吹哨): a street or a community leading the case.
WHISTLERS = frozenset({UnitKind.STREET, UnitKind.COMMUNITY})


def _name(config: SanshiConfig, unit: str) -> str:
    return config.unit(unit).name if config.has_unit(unit) else unit


def parts_view(case: Case, config: SanshiConfig) -> list[dict[str, Any]]:
    return [
        {
            "number": p.number,
            "unit": p.unit,
            "unit_name": _name(config, p.unit),
            "whistle": p.whistle,
            "state": p.state.value,
            "state_name": PART_STATUSES.label(p.state),
            "at": p.at.isoformat(),
            "claim_deadline": p.claim_deadline.isoformat(),
            "handle_deadline": p.handle_deadline.isoformat(),
            "claimed_at": p.claimed_at.isoformat() if p.claimed_at else None,
            "reported_at": p.reported_at.isoformat() if p.reported_at else None,
            "feedback": p.feedback,
            "note": p.note,
            "escalations": len(p.escalated),
        }
        for p in case.parts
    ]


def whistles_view(case: Case, config: SanshiConfig) -> list[dict[str, Any]]:
    return [
        {
            "number": w["number"],
            "unit": w["unit"],
            "unit_name": _name(config, w["unit"]),
            "departments": list(w["departments"]),
            "department_names": [_name(config, d) for d in w["departments"]],
            "due": w["due"].isoformat(),
            "reason": w["reason"],
            "at": w["at"].isoformat(),
        }
        for w in case.whistles
    ]


def coop_actions(principal: Principal, case: Case, config: SanshiConfig) -> list[str]:
    """The co-handling actions this caller may take now: the centre adds assisting units and
    closes a part (``parts/close``, the part's number in the path); the lead, a street or a
    community, whistles; an assisting unit claims, reports or returns its own part."""
    out: list[str] = []
    if principal.role == Role.OPERATOR:
        out += [n for a, n in CENTRE_COOP_ACTIONS.items() if case.offers(a)]
        if case.offers(Action.CLOSE_PART):
            out.append("parts/close")
    elif principal.role == Role.UNIT and principal.unit is not None:
        unit = principal.unit
        if (
            case.assigned_unit == unit
            and config.has_unit(unit)
            and config.unit(unit).kind in WHISTLERS
            and case.offers(Action.WHISTLE)
        ):
            out.append("whistle")
        out += [n for a, n in PART_ACTIONS.items() if case.offers_part(a, unit)]
    return out
