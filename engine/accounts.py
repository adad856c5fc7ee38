"""People (人员账号): named accounts instead of a unit's shared token.

A person belongs to one unit (the centre's staff to the centre) with one role, logs in with a
password (only its hash is kept, computed by a :class:`PasswordHasher` the adapters give) and
may hold personal API tokens (only their sha256 is kept). Accounts are event-sourced: every
change is an :class:`AccountEvent` saying who did it and when, appended to the accounts log
(:class:`AccountLog`, a port; ``adapters.accounts_store`` keeps it in the database) with a
version per account, so two admins changing one person at once cannot both win (409). The
``view_accounts`` projection (``projections.accounts``) folds the log with :func:`apply` and
can be rebuilt from it.

Why a log of its own and not the case log: the case projector folds every event of the case
log into case rows and sets aside what it cannot fold; people are not cases, and their log is
small and read on every request.

The principal a person's acts are recorded under (:func:`person_principal`) is
``person:<account id>;role=<role>;unit=<unit>``: the account id names the person for good
(a name can be corrected, a login renamed), and role and unit say in which capacity they acted
at the time, which a later role change does not rewrite.

Pure: no database, no web framework, no hashing library.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from uuid import UUID, uuid4

from engine.config import Role, SanshiConfig

# What a person's principal starts with; everything after ';' is the capacity they acted in.
PERSON_PREFIX = "person:"
LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256

CREATED = "AccountCreated"  # 新建账号
ROLE_CHANGED = "RoleChanged"  # 调整角色/单位
PASSWORD_SET = "PasswordSet"  # 设置/重置密码
DISABLED = "AccountDisabled"  # 停用
ENABLED = "AccountEnabled"  # 启用
TOKEN_ISSUED = "TokenIssued"  # 发放个人令牌
TOKEN_REVOKED = "TokenRevoked"  # 吊销个人令牌
EVENT_TYPES = (CREATED, ROLE_CHANGED, PASSWORD_SET, DISABLED, ENABLED, TOKEN_ISSUED, TOKEN_REVOKED)
EVENT_LABELS = {
    CREATED: "新建账号",
    ROLE_CHANGED: "调整角色",
    PASSWORD_SET: "设置密码",
    DISABLED: "停用账号",
    ENABLED: "启用账号",
    TOKEN_ISSUED: "发放个人令牌",
    TOKEN_REVOKED: "吊销个人令牌",
}


class AccountError(Exception):
    """A command the accounts refuse: ``status`` 404 (no such person), 409 (conflicts with
    the account's state or another change), 422 (bad value)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class AccountEvent:
    account_id: UUID
    version: int  # 1, 2, ... per account
    type: str
    at: dt.datetime
    by: str  # the principal who made the change
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    id: UUID
    login: str
    name: str
    role: Role
    unit: str | None
    disabled: bool = False
    password_hash: str | None = None
    # token id → (sha256 hex of the token, revoked)
    tokens: dict[str, tuple[str, bool]] = field(default_factory=dict)
    version: int = 0
    created_at: dt.datetime | None = None
    created_by: str = ""

    @property
    def principal(self) -> str:
        return person_principal(self.id, self.role, self.unit)


def person_principal(account_id: UUID, role: Role, unit: str | None) -> str:
    tail = f";unit={unit}" if unit else ""
    return f"{PERSON_PREFIX}{account_id};role={role.value}{tail}"


@dataclass(frozen=True)
class PersonRef:
    """What a person principal says: whose act, in which role, for which unit."""

    account_id: UUID
    role: str
    unit: str | None


def parse_person(principal: str | None) -> PersonRef | None:
    if not principal or not principal.startswith(PERSON_PREFIX):
        return None
    head, *parts = principal[len(PERSON_PREFIX) :].split(";")
    try:
        account_id = UUID(head)
    except ValueError:
        return None
    fields = dict(p.split("=", 1) for p in parts if "=" in p)
    return PersonRef(account_id, fields.get("role", ""), fields.get("unit") or None)


def apply(account: Account | None, event: AccountEvent) -> Account:
    """The fold: the account after ``event`` (the projection and the service share it)."""
    d = event.data
    if event.type == CREATED:
        return Account(
            id=event.account_id,
            login=d["login"],
            name=d["name"],
            role=Role(d["role"]),
            unit=d.get("unit"),
            version=event.version,
            created_at=event.at,
            created_by=event.by,
        )
    if account is None:
        raise ValueError(f"{event.type} before {CREATED} for {event.account_id}")
    account = replace(account, version=event.version)
    if event.type == ROLE_CHANGED:
        return replace(account, role=Role(d["role"]), unit=d.get("unit"))
    if event.type == PASSWORD_SET:
        return replace(account, password_hash=d["password_hash"])
    if event.type == DISABLED:
        return replace(account, disabled=True)
    if event.type == ENABLED:
        return replace(account, disabled=False)
    if event.type == TOKEN_ISSUED:
        return replace(account, tokens={**account.tokens, d["token_id"]: (d["token_hash"], False)})
    if event.type == TOKEN_REVOKED:
        tokens = dict(account.tokens)
        if d["token_id"] in tokens:
            tokens[d["token_id"]] = (tokens[d["token_id"]][0], True)
        return replace(account, tokens=tokens)
    raise ValueError(f"unknown account event {event.type}")


def fold(events: Sequence[AccountEvent]) -> Account | None:
    account: Account | None = None
    for e in events:
        account = apply(account, e)
    return account


class AccountLog(Protocol):
    """The accounts' event log (an adapter keeps it)."""

    def load(self, account_id: UUID) -> list[AccountEvent]: ...

    def append(self, events: Sequence[AccountEvent]) -> None:
        """All or nothing; raises :class:`AccountError` 409 if a version is taken (another
        change came first) or a login is taken."""
        ...

    def login_taken(self, login: str) -> bool: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...


class AccountService:
    """The only write path of accounts. ``by``: the principal of the admin making the change."""

    def __init__(
        self,
        log: AccountLog,
        config: SanshiConfig,
        hasher: PasswordHasher,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.log = log
        self.config = config
        self.hasher = hasher
        self.now = now

    # ---- checks ----------------------------------------------------------------------------

    def _place(self, role: Role, unit: str | None) -> str | None:
        """A unit role needs a unit of the district; the centre's roles belong to the centre."""
        units = {u.id for u in self.config.units}
        if role == Role.UNIT:
            if not unit or unit not in units or unit == self.config.centre.id:
                raise AccountError(422, "承办单位人员必须属于一个承办单位（unit）")
            return unit
        if unit not in (None, "", self.config.centre.id):
            raise AccountError(422, "话务员、领导和管理员属于中心，不能指定承办单位")
        return self.config.centre.id

    @staticmethod
    def check_password(password: str) -> None:
        if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
            raise AccountError(422, f"密码长度须为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符")

    def get(self, account_id: UUID) -> Account:
        account = fold(self.log.load(account_id))
        if account is None:
            raise AccountError(404, "没有这个人员账号")
        return account

    def _event(self, account: Account, type_: str, by: str, **data: Any) -> AccountEvent:
        return AccountEvent(account.id, account.version + 1, type_, self.now(), by, data)

    # ---- commands --------------------------------------------------------------------------

    def create(
        self, *, login: str, name: str, role: Role, unit: str | None, password: str | None, by: str
    ) -> Account:
        login = login.strip().lower()
        name = name.strip()
        if not LOGIN_PATTERN.match(login):
            raise AccountError(422, "登录名须为 2–40 位小写字母、数字、点、下划线或连字符")
        if not name or len(name) > 100:
            raise AccountError(422, "姓名不能为空，且不超过 100 个字符")
        place = self._place(role, unit)
        if self.log.login_taken(login):
            raise AccountError(409, f"登录名 {login} 已被使用")
        if password is not None:
            self.check_password(password)
        at = self.now()
        aid = uuid4()
        events = [
            AccountEvent(
                aid, 1, CREATED, at, by, {"login": login, "name": name, "role": role.value, "unit": place}
            )
        ]
        if password is not None:
            events.append(
                AccountEvent(aid, 2, PASSWORD_SET, at, by, {"password_hash": self.hasher.hash(password)})
            )
        self.log.append(events)
        account = fold(events)
        assert account is not None
        return account

    def change_role(self, account_id: UUID, role: Role, unit: str | None, by: str) -> Account:
        account = self.get(account_id)
        place = self._place(role, unit)
        if (account.role, account.unit) == (role, place):
            raise AccountError(409, "角色和单位没有变化")
        return self._save(account, self._event(account, ROLE_CHANGED, by, role=role.value, unit=place))

    def set_password(self, account_id: UUID, password: str, by: str) -> Account:
        account = self.get(account_id)
        self.check_password(password)
        return self._save(
            account, self._event(account, PASSWORD_SET, by, password_hash=self.hasher.hash(password))
        )

    def disable(self, account_id: UUID, by: str) -> Account:
        account = self.get(account_id)
        if account.disabled:
            raise AccountError(409, "账号已是停用状态")
        if by.startswith(f"{PERSON_PREFIX}{account_id};"):
            raise AccountError(409, "不能停用自己的账号")
        return self._save(account, self._event(account, DISABLED, by))

    def enable(self, account_id: UUID, by: str) -> Account:
        account = self.get(account_id)
        if not account.disabled:
            raise AccountError(409, "账号未停用")
        return self._save(account, self._event(account, ENABLED, by))

    def issue_token(self, account_id: UUID, token_id: str, token_hash: str, by: str) -> Account:
        """The token itself is made and shown once by the adapter; only its hash comes here."""
        account = self.get(account_id)
        if account.disabled:
            raise AccountError(409, "账号已停用，不能发放令牌")
        return self._save(
            account, self._event(account, TOKEN_ISSUED, by, token_id=token_id, token_hash=token_hash)
        )

    def revoke_token(self, account_id: UUID, token_id: str, by: str) -> Account:
        account = self.get(account_id)
        held = account.tokens.get(token_id)
        if held is None:
            raise AccountError(404, "没有这个令牌")
        if held[1]:
            raise AccountError(409, "令牌已吊销")
        return self._save(account, self._event(account, TOKEN_REVOKED, by, token_id=token_id))

    def _save(self, account: Account, event: AccountEvent) -> Account:
        self.log.append([event])
        return apply(account, event)
