"""Authorisation in one place: who may call what, and what a caller may see of a case.

Routes never check roles by hand. Each declares one :class:`Permission` through
:func:`allow`, which authenticates the bearer token (401) and checks the role against
:data:`ROLES` (403). Case-level rules (a unit sees only cases dispatched to it, ever; a unit
sees the caller masked) are the functions at the bottom, used by the case views, and so is
what Open311 readers see of a case (:func:`open311_view`).

Shared tokens come from the district config (``tokens:``) and from ``sanshi token create``
(stored as sha256 hashes); ``auth.shared_tokens: false`` turns both off. They are compared with
:func:`hmac.compare_digest` and never logged; such a caller is identified in events and logs by
role, unit/name and an 8-character fingerprint. A named person (人员账号, ``adapters.http.people``)
logs in with a password (a cookie session) or a personal token and is identified as
``person:<account id>;role=…;unit=…`` (``engine.accounts.person_principal``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.http.errors import ApiError
from adapters.http.store import ApiStore
from engine.accounts import person_principal
from engine.config import Role, SanshiConfig
from engine.vocabulary import ROLES as ROLE_TERMS

if TYPE_CHECKING:
    from adapters.http.people import People


@dataclass(frozen=True)
class Principal:
    role: Role
    unit: str | None
    name: str
    fingerprint: str  # first 8 hex of sha256(token): tells callers apart, reveals nothing
    person: UUID | None = None  # a named account's id (None: a shared token)

    @property
    def id(self) -> str:
        """What events record as ``principal``."""
        if self.person is not None:
            return person_principal(self.person, self.role, self.unit)
        if self.role == Role.UNIT:
            return f"unit:{self.unit}#{self.fingerprint}"
        return f"{self.role.value}:{self.name or 'anonymous'}#{self.fingerprint}"


class Permission(StrEnum):
    CASE_CREATE = "case.create"  # 受理 a hotline record
    CASE_READ = "case.read"  # one case and its events (units: only their own)
    CASE_LIST = "case.list"  # lists without personal data (units: only their own)
    CENTRE_ACT = "case.centre_act"  # 派单 延期审批 挂起审批 退单审核 转办 回访 回访未接通 未接通结案 改分类 直办 不予受理 催办
    UNIT_ACT = "case.unit_act"  # 签收 退单 申请延期 调解 办结 申请挂起 批示回复
    RESUME = "case.resume"  # 恢复办理 (挂起的工单): the unit holding it or the centre
    LEADER_ACT = "case.leader_act"  # 领导批示
    INBOX_READ = "inbox.read"  # a unit's inbox (units: only their own)
    QUEUE_READ = "queue.read"  # the centre's queues (待派单 待审挂起 待审退单 待回访) and 批示跟踪
    STATS_READ = "stats.read"  # rates, ranking, overdue list
    ROUTING_SUGGEST = "routing.suggest"  # router preview for the intake form
    INTAKE_SUBMIT = "intake.submit"  # app / walk-in records
    AUDIT_READ = "audit.read"  # who read whose personal data
    QUARANTINE_READ = "views.quarantine"  # events the views could not apply (隔离事件)
    PEOPLE_ADMIN = "people.admin"  # 人员管理: create, disable, reset password, issue tokens
    KNOWLEDGE_READ = "knowledge.read"  # 知识库: entries, suggestions, proposals
    KNOWLEDGE_EDIT = "knowledge.edit"  # 新增/修改/停用条目, 审核修改建议 (the centre)
    KNOWLEDGE_PROPOSE = "knowledge.propose"  # 建议修改 (a unit)
    CALLER_HISTORY = "caller.history"  # 来电弹屏: a number's cases, for the intake form
    DISTRICT_ADMIN = "district.admin"  # 管理设置: units, categories, routing rules, their history
    UNIT_FIGURES = "unit.figures"  # 本单位考核: a unit's rates and place (units: only their own)
    # 认领大厅: the items on the open shelf (a unit: those of the services it offers, with its
    # own claims only); applying is UNIT_ACT, 上架/下架/认领审核 CENTRE_ACT.
    SHELF_READ = "shelf.read"
    PROJECT_READ = "project.read"  # 实事项目: list and detail (units: the ones they carry out)
    PROJECT_PLAN = "project.plan"  # 实事项目: 立项, 关联工单 (the centre or a leader)
    PROJECT_PROGRESS = "project.progress"  # 实事项目进度 (the owner unit)
    PROJECT_COMPLETE = "project.complete"  # 实事项目完成 (the owner unit or the centre)


OPERATOR, UNIT, LEADER, ADMIN = Role.OPERATOR, Role.UNIT, Role.LEADER, Role.ADMIN

# The whole role matrix. Leader reads everything and writes only instructions (领导批示); a
# unit cannot approve its own request to suspend (挂起审批 is the centre's); admin reads everything
# and the audit trail but does not act on cases (acting is the operators' and units' job, and
# the log should say which of them did it).
ROLES: dict[Permission, frozenset[Role]] = {
    Permission.CASE_CREATE: frozenset({OPERATOR}),
    Permission.CASE_READ: frozenset({OPERATOR, UNIT, LEADER, ADMIN}),
    Permission.CASE_LIST: frozenset({OPERATOR, UNIT, LEADER, ADMIN}),
    Permission.CENTRE_ACT: frozenset({OPERATOR}),
    Permission.UNIT_ACT: frozenset({UNIT}),
    Permission.RESUME: frozenset({OPERATOR, UNIT}),
    Permission.LEADER_ACT: frozenset({LEADER}),
    Permission.INBOX_READ: frozenset({OPERATOR, UNIT, LEADER, ADMIN}),
    Permission.QUEUE_READ: frozenset({OPERATOR, LEADER, ADMIN}),
    Permission.STATS_READ: frozenset({OPERATOR, LEADER, ADMIN}),
    Permission.ROUTING_SUGGEST: frozenset({OPERATOR}),
    Permission.INTAKE_SUBMIT: frozenset({OPERATOR}),
    Permission.AUDIT_READ: frozenset({ADMIN}),
    Permission.QUARANTINE_READ: frozenset({ADMIN}),
    Permission.PEOPLE_ADMIN: frozenset({ADMIN}),
    # 知识库: the centre (operators, admins) edits; a unit proposes; everyone reads.
    Permission.KNOWLEDGE_READ: frozenset({OPERATOR, UNIT, LEADER, ADMIN}),
    Permission.KNOWLEDGE_EDIT: frozenset({OPERATOR, ADMIN}),
    Permission.KNOWLEDGE_PROPOSE: frozenset({UNIT}),
    Permission.CALLER_HISTORY: frozenset({OPERATOR}),
    Permission.DISTRICT_ADMIN: frozenset({ADMIN}),
    Permission.UNIT_FIGURES: frozenset({OPERATOR, UNIT, LEADER, ADMIN}),
    Permission.SHELF_READ: frozenset({OPERATOR, UNIT, LEADER, ADMIN}),
    # 实事项目: the centre or a leader turns cases into a project; its owner unit reports
    # progress and completes it (or the centre does); a unit reads the ones it carries out.
    Permission.PROJECT_READ: frozenset({OPERATOR, UNIT, LEADER, ADMIN}),
    Permission.PROJECT_PLAN: frozenset({OPERATOR, LEADER}),
    Permission.PROJECT_PROGRESS: frozenset({UNIT}),
    Permission.PROJECT_COMPLETE: frozenset({OPERATOR, UNIT}),
}

ROLE_ZH = ROLE_TERMS.labels()  # engine.vocabulary


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:8]


class TokenRegistry:
    """Resolves a presented token to a principal, or None."""

    def __init__(
        self, config: SanshiConfig, store: ApiStore | None, people: People | None = None
    ) -> None:
        # auth.shared_tokens: false — only named people (no config or issued shared tokens).
        self.shared = config.auth.shared_tokens
        self._config_tokens = (
            [(t.token.encode("utf-8"), t.role, t.unit, t.name) for t in config.tokens]
            if self.shared
            else []
        )
        self._store = store if self.shared else None
        self.people = people

    def resolve(self, token: str) -> Principal | None:
        """Raises ``ApiError`` 403 for a disabled person's token."""
        if self.people is not None:
            from adapters.http.people import Refused

            try:
                account = self.people.by_token(token)
            except Refused as refused:
                raise ApiError(refused.status, refused.code, refused.message) from None
            if account is not None:
                return person_of(account.id, account.role, account.unit, account.name)
        presented = token.encode("utf-8")
        found: Principal | None = None
        # Compare against every configured token, without stopping early.
        for secret, role, unit, name in self._config_tokens:
            if hmac.compare_digest(presented, secret) and found is None:
                found = Principal(role, unit, name, _fingerprint(token))
        if found is not None:
            return found
        if self._store is not None:
            issued = self._store.lookup_token(token)
            if issued is not None:
                return Principal(Role(issued.role), issued.unit, issued.name, _fingerprint(token))
        return None


bearer = HTTPBearer(auto_error=False, description="Bearer 令牌（配置文件 tokens 或 sanshi token create）")


def person_of(account_id: UUID, role: str, unit: str | None, name: str) -> Principal:
    r = Role(role)
    # A centre person's unit is the centre; the policy's unit is only a unit role's.
    return Principal(r, unit if r == Role.UNIT else None, name, account_id.hex[:8], account_id)


def principal_from_session(request: Request) -> Principal | None:
    """The person of the session cookie (None: no cookie); a request that changes something
    must carry the session's CSRF token (``adapters.http.people``)."""
    from adapters.http.people import COOKIE, CSRF_HEADER, SAFE_METHODS, Refused, csrf_for

    secret = request.cookies.get(COOKIE)
    people: People | None = getattr(request.app.state, "people", None)
    if not secret or people is None:
        return None
    try:
        account, _ = people.session(secret)
    except Refused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, "").encode("utf-8"), csrf_for(secret).encode("utf-8")
    ):
        raise ApiError(403, "csrf", "缺少或错误的 X-CSRF-Token：请刷新页面后重试")
    return person_of(account.id, account.role, account.unit, account.name)


def principal_from_token(request: Request, token: str | None) -> Principal:
    if not token:
        raise ApiError(401, "unauthorized", "缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
    registry: TokenRegistry = request.app.state.tokens
    principal = registry.resolve(token)
    if principal is None:
        raise ApiError(401, "unauthorized", "令牌无效或已停用")
    return principal


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        person = principal_from_session(request)
        if person is not None:
            return person
    return principal_from_token(request, credentials.credentials if credentials else None)


def check_role(principal: Principal, permission: Permission) -> None:
    if principal.role not in ROLES[permission]:
        raise ApiError(
            403,
            "forbidden",
            f"角色「{ROLE_ZH[principal.role]}」无权执行此操作（{permission.value}）",
        )


def allow(permission: Permission) -> Any:
    """The dependency every protected route declares: authenticated and allowed, or an error."""

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        check_role(principal, permission)
        return principal

    dependency.__name__ = f"allow_{permission.name.lower()}"
    return Depends(dependency)


# ---- case-level rules ------------------------------------------------------------------------


def can_see_case(principal: Principal, units_ever: list[str]) -> bool:
    """A unit sees a case it was ever dispatched to; everyone else with CASE_READ sees all."""
    if principal.role == Role.UNIT:
        return principal.unit in units_ever
    return True


def require_own_unit(principal: Principal, unit: str) -> None:
    if principal.role == Role.UNIT and principal.unit != unit:
        raise ApiError(403, "forbidden", "只能查看本单位的工单箱")


def require_known_unit(config: SanshiConfig, unit: str) -> None:
    """A unit path parameter names a unit of the district, else 404."""
    if not config.has_unit(unit):
        raise ApiError(404, "not_found", f"单位「{unit[:64]}」不存在")


def sees_masked(principal: Principal) -> bool:
    """Units see the caller's phone and name masked (138****5678, 张某); what else they see is
    chosen in ``adapters.http.unit_view``."""
    return principal.role == Role.UNIT


def acting_unit(principal: Principal) -> str:
    assert principal.role == Role.UNIT and principal.unit is not None
    return principal.unit


# ---- Open311 reads ---------------------------------------------------------------------------


class Open311View(StrEnum):
    """What an Open311 reader gets of one case.

    GeoReport v2 reads need no key, but a grievance is personal: a 12345 centre publishes that
    a street light was reported and who is fixing it, never what a resident wrote or where they
    live. So:

    - ``FULL``: the request as the centre keeps it (description with phone and ID numbers
      masked, address, lat/long, media). Only for a valid key whose holder may read the case
      under the same rule as ``GET /api/cases/{id}``: operators, leaders and admins every case,
      a unit the cases ever dispatched to it.
    - ``PUBLIC``: the narrow record anyone may see: id, service code and name, status, the
      agency responsible, requested / updated / expected times, and the street (街道) as the
      only location. No description, no address, no lat/long, no media, nothing of the caller.
    - ``HIDDEN``: not listed, and 404 by id (as if it did not exist): cases handed over by the
      police, and categories about a person rather than a place (:data:`OPEN311_PUBLIC_CATEGORIES`).
    """

    FULL = "full"
    PUBLIC = "public"
    HIDDEN = "hidden"


# Categories whose cases are about public space and public services (a lamp, a pothole, noise, a
# bus stop): their existence is everybody's business. Everything else (disputes 邻里家庭纠纷,
# public security, labour, welfare, health, schooling, "other", and any category a district adds
# to its config) concerns a person and stays out of the public view: an allow-list, so a new
# category is private until someone decides otherwise here.
OPEN311_PUBLIC_CATEGORIES = frozenset(
    {"municipal", "city_management", "environment", "utilities", "transport", "housing", "market"}
)
# 110 警情 handed over by the police are never public, whatever their category.
OPEN311_PRIVATE_CHANNELS = frozenset({"police"})


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def open311_reader(request: Request, api_key: str | None) -> Principal | None:
    """Who reads Open311: the ``api_key`` query parameter (what GeoReport clients send), else a
    Bearer header (what the rest of the API takes). No key, or a key that is not valid (wrong,
    revoked), is an anonymous reader: the public view, not an error, so that a standard client
    without a key keeps working."""
    token = api_key or bearer_token(request)
    if not token:
        return None
    registry: TokenRegistry = request.app.state.tokens
    return registry.resolve(token)


def open311_view(
    reader: Principal | None, *, channel: str, category: str | None, units_ever: list[str]
) -> Open311View:
    if (
        reader is not None
        and reader.role in ROLES[Permission.CASE_READ]
        and can_see_case(reader, units_ever)
    ):
        return Open311View.FULL
    if channel in OPEN311_PRIVATE_CHANNELS or (category or "other") not in OPEN311_PUBLIC_CATEGORIES:
        return Open311View.HIDDEN
    return Open311View.PUBLIC


# ---- masking ---------------------------------------------------------------------------------

_COMPOUND_SURNAMES = ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "西门", "南宫"]


def mask_phone(phone: str) -> str:
    """138****5678; landlines keep the area code and the last four digits."""
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 7:
        return "*" * len(phone) if phone else ""
    if len(digits) == 11 and digits[0] == "1":
        return "".join(digits[:3]) + "****" + "".join(digits[-4:])
    # Keep the shape (0779-3031234 → 0779-***1234).
    keep_tail = 4
    seen = 0
    total = len(digits)
    out = []
    head = phone.split("-", 1)[0] if "-" in phone else ""
    for c in phone:
        if c.isdigit():
            seen += 1
            in_head = head and seen <= len(head)
            out.append(c if in_head or seen > total - keep_tail else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_name(name: str) -> str:
    """张伟 → 张某; 欧阳娜娜 → 欧阳某; empty stays empty."""
    name = name.strip()
    if not name:
        return ""
    for s in _COMPOUND_SURNAMES:
        if name.startswith(s) and len(name) > len(s):
            return s + "某"
    return name[0] + "某"
