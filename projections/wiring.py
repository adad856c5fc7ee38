"""Build the projections for a runtime (called once from ``adapters.bootstrap``, which holds them).

Embedded mode (no SANSHI_KAFKA): the projector catches up after every save and before every
read, so a command's effect is visible at once, also to other processes sharing the database.
The HTTP server on PostgreSQL moves the catch-up after a save into a thread (``catch_up_in_background``):
the catch-up before every read stays, so reads still see every write.
With Kafka, reads see what a projector has applied: ``sanshi worker`` catches the views up
between its polls, or ``sanshi projections follow`` does in a process of its own (beside
``sanshi worker --no-projections``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from engine.application import SanshiApplication
from engine.config import SanshiConfig
from engine.settings import Settings
from projections.projector import Projector
from projections.queries import ReadModel
from projections.sealed import TextSealer
from projections.search import SearchKeys
from projections.tables import make_engine

_follow_log = ContextVar("sanshi_projections_follow_log", default=True)


@contextmanager
def views_left_alone() -> Iterator[None]:
    """Bootstrap without catching the views up (on reads or saves): for `sanshi projections
    rebuild/status`, which must see the views as they are and move them themselves."""
    token = _follow_log.set(False)
    try:
        yield
    finally:
        _follow_log.reset(token)


@dataclass(frozen=True)
class Views:
    """The projections' parts, for the runtime to hold (``adapters.bootstrap``)."""

    projector: Projector
    read_model: ReadModel
    engine: Engine  # the caller disposes of it when it closes


def attach_projections(
    app: SanshiApplication,
    settings: Settings,
    config: SanshiConfig,
    sealer: TextSealer | None = None,
) -> Views:
    """``sealer``: what seals the views' text columns, given by the bootstrap when
    SANSHI_CIPHER_KEY is set (projections do not import adapters). Refused without one when
    the key is set, so no entry point can write or read the views in clear by forgetting it."""
    if settings.cipher_key and sealer is None:
        raise ValueError("已设置 SANSHI_CIPHER_KEY，统计视图却没有加密器 (views need the sealer)")
    engine = make_engine(settings.sqlalchemy_url())
    keys = SearchKeys(settings.district_key, hashed=bool(settings.cipher_key))
    projector = Projector(app, engine, centre=config.centre.id, sealer=sealer, search_keys=keys)
    projector.ensure_schema()
    read_model = ReadModel(engine, config, sealer=sealer)
    if not settings.kafka and _follow_log.get():
        app.on_saved = projector.catch_up_quietly
        read_model.before_read = projector.catch_up_briefly
    return Views(projector, read_model, engine)


class BackgroundCatchUp:
    """Embedded mode for a server: the views catch up in a thread of their own, woken by each
    save, instead of inside the request that saved. Many saves while one catch-up runs cost
    one more catch-up (the wake-ups coalesce), so under load the views apply batches instead
    of one event per request, and a write answers without waiting for them.

    Reads keep their guarantee: ``ReadModel.before_read`` still catches up first (the
    projector's lock makes the reader wait for a catch-up in progress and apply the rest), so
    a read after a write sees it, in this process and in any other on the same database. The
    one exception is bounded: a process stopped inside its batch holds the views' position row
    until it goes on, and a read waits at most ``Projector.read_lock_wait`` seconds for it,
    then answers from the views as they are (``Projector.catch_up_briefly``)."""

    def __init__(self, projector: Projector, gather: float = 0.05) -> None:
        self.projector = projector
        # After a wake-up, the saves of the next ``gather`` seconds join the same catch-up:
        # fewer, bigger batches (each costs its queries and commit whatever its size).
        self.gather = gather
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="views-catch-up", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop.is_set() or self._stop.wait(self.gather):
                return
            self._wake.clear()
            self.projector.catch_up_briefly()

    def stop(self) -> None:
        """Before the views' engine is disposed of: a catch-up in progress finishes first."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)


def catch_up_in_background(app: SanshiApplication, projector: Projector) -> BackgroundCatchUp | None:
    """Move the views' catch-up after a save out of the request into a thread (see
    :class:`BackgroundCatchUp`); only where the wiring above made it follow the log on every
    save (embedded mode), and on PostgreSQL: SQLite has one writer at a time (and the in-memory
    database one connection shared by every thread), so a second writing thread would only
    queue behind the requests or trip over their transaction. Returns None, changing nothing,
    elsewhere."""
    if app.on_saved != projector.catch_up_quietly or projector.engine.dialect.name == "sqlite":
        return None
    follower = BackgroundCatchUp(projector)
    app.on_saved = follower.kick
    return follower
