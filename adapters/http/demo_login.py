"""演示登录 (demo login): one named person per role, and one button each on the login screen.

Only in demo mode — ``sanshi demo --serve`` or ``sanshi serve --demo``, which call
``create_app(runtime, demo=True)``. Without it these routes are not mounted at all (404) and
``/api/auth/options`` says ``demo: false``, so the page shows no buttons: a production server
never lets anyone in without a password or a token.

The button opens a real session of a real account (``People.open_session``, the same cookie,
expiry and CSRF token as a password login), so every act is recorded under that person's
principal (``person:<id>;role=…;unit=…``), never under a shared role token. The accounts are
ordinary events of the accounts log, made by ``system:demo``; they have no password (nobody
can log in as them on a server not in demo mode) and the admin's 人员管理 lists them like
anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.people import People, Refused
from engine.accounts import AccountError
from engine.config import Role, SanshiConfig, UnitKind
from engine.vocabulary import ROLES, UNIT_KINDS

BY = "system:demo"


@dataclass(frozen=True)
class DemoPerson:
    login: str
    name: str
    role: Role
    kind: UnitKind | None = None  # for a unit clerk: the kind of unit (the first of that kind)


# In the order of the buttons: the centre's operator first, then the units from the street
# down, then who reads and who administers.
DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("demo.operator", "陈晓雯", Role.OPERATOR),
    DemoPerson("demo.street", "林建国", Role.UNIT, UnitKind.STREET),
    DemoPerson("demo.department", "黄志强", Role.UNIT, UnitKind.DEPARTMENT),
    DemoPerson("demo.community", "刘芳", Role.UNIT, UnitKind.COMMUNITY),
    DemoPerson("demo.judicial", "周敏", Role.UNIT, UnitKind.JUDICIAL_OFFICE),
    DemoPerson("demo.volunteer", "何静", Role.UNIT, UnitKind.VOLUNTEER_TEAM),  # 认领大厅
    DemoPerson("demo.leader", "王振华", Role.LEADER),
    DemoPerson("demo.admin", "赵磊", Role.ADMIN),
)
DEMO_LOGINS = frozenset(p.login for p in DEMO_PEOPLE)


def _unit_for(config: SanshiConfig, person: DemoPerson) -> str | None:
    if person.kind is None:
        return None
    units = config.units_of_kind(person.kind)
    return units[0].id if units else None


def seed_demo_people(people: People, config: SanshiConfig) -> list[str]:
    """The demo's people, made once (a login already there is left as it is). A unit kind the
    district has no unit of gets no clerk. Returns the logins made now."""
    made: list[str] = []
    for person in DEMO_PEOPLE:
        unit = _unit_for(config, person)
        if person.role == Role.UNIT and unit is None:
            continue
        if people.view.by_login(person.login) is not None:
            continue
        try:
            people.service.create(
                login=person.login, name=person.name, role=person.role, unit=unit, password=None, by=BY
            )
        except AccountError as err:
            if err.status != 409:  # 409: made meanwhile by another process, which is fine
                raise
        made.append(person.login)
    return made


router = APIRouter(prefix="/api/demo", tags=["demo 演示登录"], responses=ERROR_RESPONSES)


class DemoLoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(description="演示账号登录名")


def _people(request: Request) -> People:
    people: People = request.app.state.people
    return people


def _label(request: Request, role: str, unit_name: str | None, unit: str | None) -> str:
    if role != Role.UNIT.value or not unit:
        return ROLES.label(role)
    config = request.app.state.runtime.config
    kind = next((u.kind for u in config.units if u.id == unit), None)
    return f"{UNIT_KINDS.label(kind) if kind else ROLES.label(role)}·{unit_name}"


@router.get("/accounts", summary="演示账号（仅演示模式；每个角色一个）")
def demo_accounts(request: Request) -> list[dict[str, Any]]:
    from adapters.http.routes_accounts import person_json

    people = _people(request)
    out = []
    for person in DEMO_PEOPLE:
        row = people.view.by_login(person.login)
        if row is None or row.disabled:
            continue
        shown = person_json(request, row)
        shown["label"] = _label(request, row.role, shown["unit_name"], row.unit)
        out.append(shown)
    return out


@router.post("/session", summary="以演示账号登录（仅演示模式；与密码登录相同的会话）")
def demo_login(request: Request, body: DemoLoginBody, response: Response) -> dict[str, Any]:
    from adapters.http.routes_accounts import session_opened

    people = _people(request)
    row = people.view.by_login(body.login) if body.login in DEMO_LOGINS else None
    if row is None:
        raise ApiError(404, "not_found", "没有这个演示账号")
    try:
        session = people.open_session(row)
    except Refused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    return session_opened(request, response, people, session)
