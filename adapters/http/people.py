"""Named people over HTTP: password login with a cookie session, personal API tokens, and the
principal a person acts as.

How a request is authenticated (``policy.authenticate``):

1. ``Authorization: Bearer`` — a shared token (config ``tokens:`` or ``sanshi token create``,
   while ``auth.shared_tokens`` is true) or a person's token (``sanshi_p_…``, stored as its
   sha256 in the accounts log and view).
2. Otherwise the ``sanshi_session`` cookie of a password login.

Cookie sessions and CSRF. The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict``
(a browser sends it on no request started by another site, not even a top-level link), has
``Max-Age`` = ``auth.session_hours`` and the server refuses it after its ``expires_at`` in any
case, and is ``Secure`` over https (or with ``auth.secure_cookie``). On top of SameSite, every
request that changes something (any method but GET/HEAD/OPTIONS) authenticated by the cookie
must carry ``X-CSRF-Token``: an HMAC of the session's secret that the login answer (and
``GET /api/session``) gives the page. Another site can neither read it nor make a browser send
a custom header cross-origin without a CORS preflight, which this server never grants; a
request without it is 403 ``csrf``. Bearer requests need no such token: a browser never adds an
Authorization header by itself.

Sessions are not events: they come and go (tables ``api_sessions``, key = sha256 of the cookie
value, so the database holds no usable session either). Disabling a person ends their sessions
and tokens at the next request: every request reads the accounts view, which is caught up
first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Engine

from adapters.accounts_store import TOKEN_PREFIX, Passwords, SqlAccountLog, token_digest
from engine.accounts import AccountService
from engine.application import now_shanghai
from engine.config import SanshiConfig
from projections.accounts import AccountRow, AccountsView
from projections.tables import create_schema

COOKIE = "sanshi_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

metadata = MetaData()

api_sessions = Table(
    "api_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),  # sha256 hex of the cookie value
    Column("account_id", String(36), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class Refused(Exception):
    """401 (who are you?) or 403 (known, but not now: a disabled account)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Session:
    secret: str  # the cookie value, given to the client once
    account: AccountRow
    expires_at: dt.datetime
    csrf: str


def csrf_for(secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), b"sanshi csrf v1", hashlib.sha256).hexdigest()[:32]


def _naive_utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None)


class People:
    """The accounts as the HTTP layer uses them: the service (writes), the view (reads),
    passwords, sessions and a clock (a test gives a fixed one)."""

    def __init__(
        self,
        engine: Engine,
        config: SanshiConfig,
        now: Callable[[], dt.datetime] = now_shanghai,
    ) -> None:
        self.engine = engine
        self.config = config
        self.now = now
        self.passwords = Passwords()
        self.log = SqlAccountLog(engine)
        self.view = AccountsView(engine, self.log.after)
        self.service = AccountService(self.log, config, self.passwords, lambda: self.now())
        create_schema(metadata, engine)

    # ---- password login and sessions ---------------------------------------------------------

    def login(self, login: str, password: str) -> Session:
        account = self.view.by_login(login)
        if account is None:
            self.passwords.verify_unknown(password)  # the same work as a known login
            raise Refused(401, "unauthorized", "账号或密码错误")
        if not self.passwords.verify(account.password_hash, password):
            raise Refused(401, "unauthorized", "账号或密码错误")
        if account.disabled:
            raise Refused(403, "disabled", "账号已停用，请联系管理员")
        return self.open_session(account)

    def open_session(self, account: AccountRow) -> Session:
        """A new session for a person already known to be who they say (a checked password, or
        the demo's one-click login, ``adapters.http.demo_login``)."""
        if account.disabled:
            raise Refused(403, "disabled", "账号已停用，请联系管理员")
        secret = secrets.token_urlsafe(32)
        now = self.now()
        expires = now + dt.timedelta(hours=self.config.auth.session_hours)
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_sessions).values(
                    session_hash=token_digest(secret),
                    account_id=str(account.id),
                    created_at=_naive_utc(now),
                    expires_at=_naive_utc(expires),
                )
            )
        return Session(secret, account, expires, csrf_for(secret))

    def session(self, secret: str) -> tuple[AccountRow, dt.datetime]:
        """The person of a session cookie, or :class:`Refused`."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_sessions).where(api_sessions.c.session_hash == token_digest(secret))
            ).first()
        if row is None:
            raise Refused(401, "unauthorized", "登录已失效，请重新登录")
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
        if self.now() >= expires:
            self.logout(secret)
            raise Refused(401, "unauthorized", "登录已过期，请重新登录")
        account = self.view.by_id(row.account_id)
        if account is None:
            raise Refused(401, "unauthorized", "登录已失效，请重新登录")
        if account.disabled:
            raise Refused(403, "disabled", "账号已停用，请联系管理员")
        return account, expires

    def logout(self, secret: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(api_sessions).where(api_sessions.c.session_hash == token_digest(secret)))

    def end_sessions_of(self, account_id: UUID) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(api_sessions).where(api_sessions.c.account_id == str(account_id)))

    # ---- personal tokens -----------------------------------------------------------------------

    def by_token(self, token: str) -> AccountRow | None:
        """The person holding this personal token (None: not one); 403 if they are disabled."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        account = self.view.by_token_hash(token_digest(token))
        if account is not None and account.disabled:
            raise Refused(403, "disabled", "账号已停用，请联系管理员")
        return account
