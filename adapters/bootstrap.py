"""The single bootstrap (cosmicpython): settings → config → router → application → projections.

Every entry point (CLI, HTTP, worker, simulator, tests) builds its runtime here, so that the
wiring of ports to real parts lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.application import SanshiApplication
from engine.config import SanshiConfig, load_config
from engine.keyword_router import KeywordRouter
from engine.routing import Router
from engine.settings import Settings
from projections.wiring import attach_projections


@dataclass
class Runtime:
    settings: Settings
    config: SanshiConfig
    app: SanshiApplication
    router: Router
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for closer in self.extras.get("closers", []):
            closer()
        self.app.close()


def build_router(config: SanshiConfig) -> Router:
    return KeywordRouter(config)


def bootstrap(
    settings: Settings | None = None,
    config: SanshiConfig | None = None,
    router: Router | None = None,
) -> Runtime:
    settings = settings or Settings.from_env()
    config = config or load_config(settings.config_path)
    router = router or build_router(config)
    app = SanshiApplication(config, router, env=settings.eventsourcing_env())
    runtime = Runtime(settings=settings, config=config, app=app, router=router)
    # extras["projector"], extras["read_model"]; embedded mode catches up on every save.
    attach_projections(runtime)
    return runtime
