"""值守 (duties): work that one process of the deployment does at a time, with standbys.

Some steps are done once for everyone, not once per process: the deadline clock (督办) and the
notices' outbox (通知) in ``sanshi worker``, and ``sanshi projections follow``. Each is a *duty*
with a named lease: a PostgreSQL session-level advisory lock (``pg_try_advisory_lock``) on a
connection of its own that the holder keeps open. Every process that can do the duty asks for
it; one gets it and does the duty, the others stand by and ask again every ``retry`` seconds
(1 s by default). PostgreSQL releases a session lock when the session ends, however it ends: a
holder that exits, is SIGKILLed or whose host dies (the lease connection's TCP keepalives,
set below, let the server see a silent peer within ~20 s) lets a standby take over at its next
try. The take-over is logged (WARNING: somebody's holder went away).

A holder checks its lease connection every ``retry`` seconds; when it is gone (the server
restarted, the network broke) the process stops doing the duty at once and asks again like a
standby, since another process may hold it by now.

Who asks: a loop that turns often (the server's clock thread, ``projections follow``) asks in
its own turns (:meth:`Lease.held`). A loop whose turns can be long (``sanshi worker``: a poll,
a batch routed, a rebalance, the views' catch-up) would take the duty over only at its next
turn, seconds after the holder died; it starts :meth:`Lease.keep` instead, a thread that asks
every ``retry`` seconds whatever the loop is doing, and its turns read the answer.

The lease is not a fence: in the second or so between a holder's connection dying and the
holder noticing, a standby may already have taken over. Each duty is safe to overlap briefly
(the clock: one 督办 per deadline, a second writer conflicts; the projector: each batch moves
the tracked position in its own transaction, exactly once; the outbox: a notice has one
outcome in the log); the lease saves doubled work and doubled sends, it does not carry
correctness.

The key of a duty is stable: 64 bits of SHA-256 over the duty's name and the district's id, so
two districts on one server hold their duties apart, and every version of sanshi computes the
same key. On SQLite (the embedded default: one process) there is nobody to share with: the
lease is always held and no connection is opened.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("sanshi.leases")

# The duties (their names are part of the lock's key: never rename one).
DEADLINE_CLOCK = "deadline_clock"  # 督办: sanshi worker (and sanshi serve without Kafka)
NOTIFY = "notify"  # 通知: the outbox's delivery in sanshi worker
PROJECTIONS_FOLLOW = "projections_follow"  # sanshi projections follow
DUTIES = (DEADLINE_CLOCK, NOTIFY, PROJECTIONS_FOLLOW)

DEFAULT_RETRY = 1.0  # seconds between a standby's tries, and between a holder's checks

# The lease connection's TCP keepalives on the server side (seconds; settable per session):
# the server drops a holder whose host went silent after about idle + interval × count.
_KEEPALIVES = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 3, "tcp_keepalives_count": 3}
_APPLICATION_NAME_MAX = 63  # PostgreSQL's NAMEDATALEN - 1


def duty_key(duty: str, district: str) -> int:
    """The advisory lock's key of ``duty`` in ``district``: a signed 64-bit integer."""
    digest = hashlib.sha256(f"sanshi/{district}/{duty}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def this_process() -> str:
    """How a holder names itself (``pg_stat_activity.application_name``): host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """The lease on one duty for this process. Call :meth:`held` before each turn of the
    duty; do the turn only when it says True. After :meth:`keep`, a thread of the lease asks
    and :meth:`held` only reads its answer."""

    def __init__(
        self,
        engine: Engine,
        duty: str,
        district: str,
        *,
        retry: float = DEFAULT_RETRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if duty not in DUTIES:
            raise ValueError(f"unknown duty {duty!r}")
        self.engine = engine
        self.duty = duty
        self.district = district
        self.key = duty_key(duty, district)
        self.retry = max(0.05, float(retry))
        self.shared = engine.dialect.name == "postgresql"  # else: one process, always held
        self._clock = clock
        self._conn: Connection | None = None
        self._held = False
        self._checked: float | None = None  # when the lease was last asked for or checked
        self._waiting_since: float | None = None  # a standby since then
        self.takeovers = 0  # times this process took the duty after standing by
        self._asking = threading.Lock()  # the caller's loop and the keeper never ask at once
        self._keeper: threading.Thread | None = None
        self._stop_keeping = threading.Event()

    @property
    def name(self) -> str:
        """What this process shows as the holder (``pg_stat_activity.application_name``)."""
        return f"sanshi {self.duty} {this_process()}"[:_APPLICATION_NAME_MAX]

    def held(self) -> bool:
        """True when this process holds the duty now. Asks PostgreSQL at most every ``retry``
        seconds: a standby tries to take the lock, a holder checks that its connection lives."""
        if not self.shared:
            return True
        if self._keeper is not None:
            return self._held
        with self._asking:
            now = self._clock()
            if self._checked is not None and now - self._checked < self.retry:
                return self._held
            return self._ask(now)

    def keep(self) -> Lease:
        """Ask every ``retry`` seconds on a thread of the lease's own, until :meth:`release`:
        a standby takes the duty over within ``retry`` of the holder's death however long the
        caller's turns take. Returns the lease."""
        if not self.shared or self._keeper is not None:
            return self
        self._stop_keeping.clear()
        self._keeper = threading.Thread(
            target=self._keep_asking, name=f"lease-{self.duty}", daemon=True
        )
        self._keeper.start()
        return self

    def _keep_asking(self) -> None:
        while True:
            with self._asking:
                if self._stop_keeping.is_set():
                    return
                self._ask(self._clock())
            if self._stop_keeping.wait(self.retry):
                return

    def _ask(self, now: float) -> bool:
        """Take the lease (a standby) or check the connection that holds it (the holder)."""
        self._checked = now
        if self._held:
            if self._alive():
                return True
            self._held = False
            self._waiting_since = now
            log.warning(
                "duty %s: lost the lease (its connection is gone); stopped doing it until the "
                "lease is held again",
                self.duty,
            )
        self._held = self._try()
        if self._held:
            if self._waiting_since is not None:
                self.takeovers += 1
                log.warning(
                    "duty %s: took over (standing by %.1f s): this process (%s) does it now",
                    self.duty,
                    now - self._waiting_since,
                    self.name,
                )
            else:
                log.info("duty %s: holding it (%s)", self.duty, self.name)
            self._waiting_since = None
        elif self._waiting_since is None:
            self._waiting_since = now
            log.info(
                "duty %s: held by %s; standing by (asking every %.1f s)",
                self.duty,
                holder(self.engine, self.duty, self.district) or "another process",
                self.retry,
            )
        return self._held

    def release(self) -> None:
        """Give the duty up (at a clean stop): closing the session releases the lock, and the
        connection is not handed back to the pool with the lock on it. Stops the keeper."""
        keeper, self._keeper = self._keeper, None
        self._stop_keeping.set()
        with self._asking:  # the keeper is between two asks or gone: it asks no more
            if self._held and self._conn is not None:
                # Unlocked here, not only by closing the session: the server ends a closed
                # session's backend (and frees its locks) a moment after the client goes, and
                # under load a standby or `holder()` still saw the lock held after release()
                # had returned (a CI run of test_leases).
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                except Exception:  # the connection is gone: so is the lock
                    log.debug("unlocking %s failed", self.duty, exc_info=True)
            self._held = False
            self._drop()
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join(timeout=5)

    # ---- the lease connection ------------------------------------------------------------

    def _try(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._connect()
            got = self._conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar()
            return bool(got)
        except Exception as exc:  # the database away: stand by, the next try asks again
            log.warning("duty %s: cannot ask for the lease (%s)", self.duty, type(exc).__name__)
            self._drop()
            return False

    def _connect(self) -> Connection:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        settings: dict[str, Any] = {"application_name": self.name, **_KEEPALIVES}
        for setting, value in settings.items():
            conn.execute(
                text("SELECT set_config(:name, :value, false)"),
                {"name": setting, "value": str(value)},
            )
        return conn

    def _alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception:
            self._drop()
            return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.invalidate()  # closes the session (releasing its locks), never back to the pool
            conn.close()
        except Exception:  # already gone
            log.debug("closing the lease connection of %s failed", self.duty, exc_info=True)


@dataclass(frozen=True)
class Holder:
    duty: str
    holder: str | None  # the holder's application_name (``sanshi <duty> host:pid``); None: nobody


def holder(engine: Engine, duty: str, district: str) -> str | None:
    """Who holds ``duty`` now (its application_name), or None. On SQLite: None (no leases)."""
    if engine.dialect.name != "postgresql":
        return None
    unsigned = duty_key(duty, district) & 0xFFFF_FFFF_FFFF_FFFF
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
        ).first()
    if row is None:
        return None
    return str(row[0] or "(unnamed)")


def holders(engine: Engine, district: str) -> list[Holder]:
    """Every duty and who holds it (for /healthz's details)."""
    return [Holder(duty, holder(engine, duty, district)) for duty in DUTIES]
