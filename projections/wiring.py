"""Build the projections for a runtime (called once from ``adapters.bootstrap``, which holds them).

Embedded mode (no SANSHI_KAFKA): the projector catches up after every save and before every
read, so a command's effect is visible at once, also to other processes sharing the database.
With Kafka, reads see what a projector has applied: ``sanshi worker`` catches the views up
between its polls, or ``sanshi projections follow`` does in a process of its own (beside
``sanshi worker --no-projections``).
"""

from __future__ import annotations

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
        read_model.before_read = projector.catch_up_quietly
    return Views(projector, read_model, engine)
