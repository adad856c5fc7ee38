"""The single bootstrap (cosmicpython): settings → config → router → application → projections.

Every entry point (CLI, HTTP, worker, simulator, tests) builds its runtime here, so that the
wiring of ports to real parts lives in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from adapters.eventstore import StoreApplication
from adapters.transport.sealing import sealer_for
from engine.application import SanshiApplication
from engine.config import SanshiConfig, load_config
from engine.routing.learning import LearningRouter
from engine.routing.port import FollowsLessons, OpenCasesForRouter, Router, WarmsFromOpenCases
from engine.settings import POSTGRES_CONNECT_TIMEOUT, Settings
from projections.wiring import attach_projections


@dataclass
class Runtime:
    settings: Settings
    config: SanshiConfig
    app: SanshiApplication
    router: Router
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        if isinstance(self.router, FollowsLessons):
            # Before the log's connection goes away under the router's reader thread.
            self.router.stop_following_lessons()
        for closer in self.extras.get("closers", []):
            closer()
        self.app.close()


def build_router(config: SanshiConfig) -> Router:
    return LearningRouter(config)


def bootstrap(
    settings: Settings | None = None,
    config: SanshiConfig | None = None,
    router: Router | None = None,
) -> Runtime:
    settings = settings or Settings.from_env()
    config = config or load_config(settings.config_path)
    router = router or build_router(config)
    app = StoreApplication(config, router, env=settings.eventsourcing_env())
    _bound_postgres_connects(app)
    runtime = Runtime(settings=settings, config=config, app=app, router=router)
    # extras["projector"], extras["read_model"]; embedded mode catches up on every save.
    # With SANSHI_CIPHER_KEY the views' text columns are sealed under the same key.
    attach_projections(runtime, sealer_for(settings.cipher_key))
    _warm_router(runtime)
    return runtime


def _bound_postgres_connects(app: SanshiApplication) -> None:
    """libpq's connect_timeout for the log's pool (eventsourcing has no setting for it)."""
    pool = getattr(getattr(app.recorder, "datastore", None), "pool", None)
    kwargs = getattr(pool, "kwargs", None)
    if isinstance(kwargs, dict):
        kwargs.setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT)


def _warm_router(runtime: Runtime) -> None:
    """The router's duplicate index starts with the open cases of the read model (if both
    sides support it), so a restart does not forget what is open; and it learns operators'
    re-categorisations from the log, whichever process made them."""
    router = runtime.router
    if isinstance(router, FollowsLessons):
        from engine.routing.learning.lessons import LessonFeed

        router.follow_lessons(LessonFeed(runtime.app))
    read_model = runtime.extras.get("read_model")
    if not isinstance(router, WarmsFromOpenCases) or not isinstance(
        read_model, OpenCasesForRouter
    ):
        return
    try:
        router.warm(read_model.open_cases_for_router())
    except Exception:  # a cold index only misses duplicates; never refuse to start for it
        logging.getLogger(__name__).warning("router index not warmed", exc_info=True)
