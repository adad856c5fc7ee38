"""人员账号 routes (docs/http-api.md, "People"): password login and logout (a cookie
session, ``adapters.http.people``), who am I, and the admin's people screen: create, change
role, reset password, disable/enable, issue and revoke personal tokens, each an event of the
accounts log recording the admin who did it.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters.accounts_store import new_personal_token
from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.people import COOKIE, People, Refused, Session, csrf_for
from adapters.http.policy import (
    ROLE_ZH,
    Permission,
    Principal,
    allow,
)
from engine.accounts import EVENT_LABELS, AccountError, parse_person
from engine.config import Role
from engine.contract import Login, Name
from projections.accounts import AccountRow

router = APIRouter(prefix="/api", tags=["people 人员账号"], responses=ERROR_RESPONSES)

Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    login: Login = Field(description="登录名")
    password: Password = Field(description="密码")


class PersonBody(_Body):
    login: Login = Field(description="登录名（小写字母、数字、._-）")
    name: Name = Field(description="姓名")
    role: Role = Field(description="角色 operator/unit/leader/admin")
    unit: str | None = Field(default=None, max_length=64, description="承办单位（角色为 unit 时必填）")
    password: Password | None = Field(default=None, description="初始密码（不填则生成一个，只显示一次）")


class RoleBody(_Body):
    role: Role
    unit: str | None = Field(default=None, max_length=64)


class PasswordBody(_Body):
    password: Password | None = Field(default=None, description="新密码（不填则生成一个，只显示一次）")


def people_of(request: Request) -> People:
    people: People = request.app.state.people
    return people


def _refused(err: AccountError | Refused) -> ApiError:
    code = {404: "not_found", 409: "conflict", 422: "invalid_request"}.get(err.status, "refused")
    if isinstance(err, Refused):
        code = err.code
    return ApiError(err.status, code, err.message)


def _unit_name(request: Request, unit: str | None) -> str | None:
    if not unit:
        return None
    for u in request.app.state.runtime.config.units:
        if u.id == unit:
            return str(u.name)
    return unit


def person_json(request: Request, row: AccountRow, tokens: list[tuple[str, bool]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(row.id),
        "login": row.login,
        "name": row.name,
        "role": row.role,
        "role_name": ROLE_ZH.get(Role(row.role), row.role),
        "unit": row.unit,
        "unit_name": _unit_name(request, row.unit),
        "disabled": row.disabled,
        "has_password": bool(row.password_hash),
    }
    if tokens is not None:
        out["tokens"] = [{"token_id": t, "revoked": r} for t, r in tokens]
    return out


def _generated() -> str:
    # 16 characters from an alphabet without look-alikes (0/O, 1/l/I): read over the phone.
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def _account_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(404, "not_found", "没有这个人员账号") from None


def _person(request: Request, account_id: UUID) -> dict[str, Any]:
    people = people_of(request)
    row = people.view.by_id(account_id)
    if row is None:
        raise ApiError(404, "not_found", "没有这个人员账号")
    return person_json(request, row, people.view.tokens_of(account_id))


# ---- session ---------------------------------------------------------------------------------


def _set_cookie(request: Request, response: Response, secret: str, max_age: int) -> None:
    config = request.app.state.runtime.config
    response.set_cookie(
        COOKIE,
        secret,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=config.auth.secure_cookie or request.url.scheme == "https",
        path=_cookie_path(request),
    )


def _cookie_path(request: Request) -> str:
    """The district's mount: "/" on its own server, "/d/haicheng" under a city (docs/city.md),
    so a session in one district is never sent to, nor replaced by, another's."""
    return str(request.scope.get("root_path") or "") or "/"


@router.post("/session", summary="账号密码登录（设置会话 Cookie，返回 CSRF 令牌）")
def login(request: Request, body: LoginBody, response: Response) -> dict[str, Any]:
    people = people_of(request)
    try:
        session = people.login(body.login, body.password)
    except Refused as refused:
        raise _refused(refused) from None
    return session_opened(request, response, people, session)


def session_opened(
    request: Request, response: Response, people: People, session: Session
) -> dict[str, Any]:
    """The cookie and the answer for a session just opened (password login, demo login)."""
    max_age = int((session.expires_at - people.now()).total_seconds())
    _set_cookie(request, response, session.secret, max_age)
    return {
        "person": person_json(request, session.account),
        "csrf_token": session.csrf,
        "expires_at": session.expires_at.isoformat(),
    }


@router.get("/session", summary="当前登录者（个人账号时含 CSRF 令牌）")
def whoami(request: Request, principal: Annotated[Principal, allow(Permission.CASE_LIST)]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "principal": principal.id,
        "role": principal.role.value,
        "unit": principal.unit,
        "name": principal.name,
        "person": None,
        "csrf_token": None,
    }
    if principal.person is not None:
        out["person"] = _person(request, principal.person)
        secret = request.cookies.get(COOKIE)
        if secret and request.headers.get("authorization") is None:
            out["csrf_token"] = csrf_for(secret)
    return out


@router.delete("/session", summary="退出登录（结束会话）")
def logout(request: Request, response: Response) -> dict[str, Any]:
    secret = request.cookies.get(COOKIE)
    if secret:
        people_of(request).logout(secret)
    response.delete_cookie(COOKIE, path=_cookie_path(request), httponly=True, samesite="strict")
    return {"ok": True}


@router.get("/auth/options", summary="登录方式（是否仍接受共享令牌；本浏览器是否有有效会话）")
def auth_options(request: Request) -> dict[str, Any]:
    """Public: the login page asks before showing the token form, and whether its own cookie
    still holds a session (a reload), without a 401 in the console when it does not."""
    secret = request.cookies.get(COOKIE)
    session = False
    if secret:
        try:
            people_of(request).session(secret)
            session = True
        except Refused:
            session = False
    return {
        "shared_tokens": bool(request.app.state.runtime.config.auth.shared_tokens),
        "session": session,
        # The demo's one-click login per role (adapters.http.demo_login): never in production.
        "demo": bool(getattr(request.app.state, "demo", False)),
    }


# ---- the admin's people screen ------------------------------------------------------------------

Admin = Annotated[Principal, allow(Permission.PEOPLE_ADMIN)]


@router.get("/people", summary="人员列表（管理员）")
def list_people(request: Request, principal: Admin) -> list[dict[str, Any]]:
    return [person_json(request, row) for row in people_of(request).view.all()]


@router.post("/people", status_code=201, summary="新建人员账号（管理员；生成的初始密码只显示一次）")
def create_person(request: Request, body: PersonBody, principal: Admin) -> dict[str, Any]:
    people = people_of(request)
    password = body.password or _generated()
    try:
        account = people.service.create(
            login=body.login, name=body.name, role=body.role, unit=body.unit, password=password, by=principal.id
        )
    except AccountError as err:
        raise _refused(err) from None
    out = _person(request, account.id)
    if body.password is None:
        out["password"] = password  # shown once; only its hash is kept
    return out


@router.get("/people/{account_id}", summary="人员详情与变更记录（管理员）")
def get_person(request: Request, account_id: str, principal: Admin) -> dict[str, Any]:
    aid = _account_id(account_id)
    out = _person(request, aid)
    people = people_of(request)
    events = people.log.load(aid)
    by_ids = {ref.account_id.hex for e in events if (ref := parse_person(e.by))}
    names = {UUID(k).hex: v.name for k, v in people.view.names({str(UUID(i)) for i in by_ids}).items()}
    out["history"] = [
        {
            "version": e.version,
            "type": e.type,
            "type_name": EVENT_LABELS.get(e.type, e.type),
            "at": e.at.isoformat(),
            "by": e.by,
            "by_name": _by_name(e.by, names),
            # What changed, without hashes.
            "data": {k: v for k, v in e.data.items() if not k.endswith("_hash")},
        }
        for e in events
    ]
    return out


def _by_name(principal: str, names: dict[str, str]) -> str:
    ref = parse_person(principal)
    if ref is not None:
        return names.get(ref.account_id.hex, "（未知人员）")
    return principal.split("#", 1)[0]


def _change(request: Request, account_id: str, act: Any) -> dict[str, Any]:
    aid = _account_id(account_id)
    try:
        act(aid)
    except AccountError as err:
        raise _refused(err) from None
    return _person(request, aid)


@router.post("/people/{account_id}/role", summary="调整角色与单位（管理员）")
def change_role(request: Request, account_id: str, body: RoleBody, principal: Admin) -> dict[str, Any]:
    people = people_of(request)
    return _change(request, account_id, lambda a: people.service.change_role(a, body.role, body.unit, principal.id))


@router.post("/people/{account_id}/password", summary="重置密码（管理员；生成的密码只显示一次）")
def reset_password(request: Request, account_id: str, body: PasswordBody, principal: Admin) -> dict[str, Any]:
    people = people_of(request)
    password = body.password or _generated()
    out = _change(request, account_id, lambda a: people.service.set_password(a, password, principal.id))
    people.end_sessions_of(_account_id(account_id))  # a reset password logs the person out
    if body.password is None:
        out["password"] = password
    return out


@router.post("/people/{account_id}/disable", summary="停用账号（管理员；会话与令牌即时失效）")
def disable_person(request: Request, account_id: str, principal: Admin) -> dict[str, Any]:
    people = people_of(request)
    out = _change(request, account_id, lambda a: people.service.disable(a, principal.id))
    people.end_sessions_of(_account_id(account_id))
    return out


@router.post("/people/{account_id}/enable", summary="启用账号（管理员）")
def enable_person(request: Request, account_id: str, principal: Admin) -> dict[str, Any]:
    people = people_of(request)
    return _change(request, account_id, lambda a: people.service.enable(a, principal.id))


@router.post("/people/{account_id}/tokens", status_code=201, summary="发放个人 API 令牌（管理员；只显示一次）")
def issue_token(request: Request, account_id: str, principal: Admin) -> dict[str, Any]:
    people = people_of(request)
    token_id, token, digest = new_personal_token()
    out = _change(request, account_id, lambda a: people.service.issue_token(a, token_id, digest, principal.id))
    out["token"] = token
    out["token_id"] = token_id
    return out


@router.post("/people/{account_id}/tokens/{token_id}/revoke", summary="吊销个人 API 令牌（管理员）")
def revoke_token(request: Request, account_id: str, token_id: str, principal: Admin) -> dict[str, Any]:
    people = people_of(request)
    return _change(request, account_id, lambda a: people.service.revoke_token(a, token_id[:16], principal.id))


