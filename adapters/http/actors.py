"""Who acted, as a case's history shows it (``actor`` of each event of
``GET /api/cases/{id}/events``).

Events record the principal (``engine.accounts.person_principal`` for a named person). What a
reader is shown of it:

- the centre (operators, leaders, admins) sees the person's name, role and unit: they run the
  service and answer for who did what;
- a unit sees the names of its own people (its head must know who claimed or resolved), and
  of everybody else only the organisation: another unit's name, or 「中心」 with the role for
  the centre's staff. A unit deals with the centre and with other units as institutions: a
  dispute about a dispatch goes to the centre, not to the operator who typed it, and one
  unit's staff list is not another's business. The principal string is reduced the same way
  (``centre:<role>``, ``unit:<unit>``), so a person's account id does not follow them across
  units' views either.

Shared tokens keep what they always showed (the token's name), and ``system:…`` is the system.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from adapters.http.policy import ROLE_ZH, Principal
from engine.accounts import parse_person
from engine.config import Role


def _unit_name(request: Request, unit: str | None) -> str:
    for u in request.app.state.runtime.config.units:
        if u.id == unit:
            return str(u.name)
    return unit or ""


def _role_name(role: str) -> str:
    try:
        return ROLE_ZH[Role(role)]
    except ValueError:
        return role


def name_actors(request: Request, reader: Principal, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    people = getattr(request.app.state, "people", None)
    refs = {e.get("principal"): parse_person(e.get("principal")) for e in events}
    ids = {str(r.account_id) for r in refs.values() if r is not None}
    names = people.view.names(ids) if people is not None and ids else {}
    for e in events:
        p = e.get("principal")
        ref = refs.get(p)
        if ref is None:
            e["actor"] = _shared_actor(p)
            continue
        row = names.get(str(ref.account_id))
        name = row.name if row is not None else "（未知人员）"
        if ref.role == Role.UNIT.value:
            org = _unit_name(request, ref.unit)
            if reader.role != Role.UNIT or reader.unit == ref.unit:
                e["actor"] = f"{name}（{org}）"
            else:
                e["actor"] = org
                e["principal"] = f"unit:{ref.unit}"
        elif reader.role != Role.UNIT:
            e["actor"] = f"{name}（{_role_name(ref.role)}）"
        else:
            e["actor"] = f"中心{_role_name(ref.role)}"
            e["principal"] = f"centre:{ref.role}"
    return events


def _shared_actor(principal: Any) -> str:
    if not isinstance(principal, str) or not principal:
        return ""
    kind, _, rest = principal.partition(":")
    if kind == "system":
        return "系统"
    return rest.split("#", 1)[0] or kind
