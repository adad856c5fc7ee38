"""The single bootstrap (cosmicpython): settings → config → router → application → projections.

Every entry point (CLI, HTTP, worker, simulator, tests) builds its runtime here, so that the
wiring of ports to real parts lives in one place. The parts are named, typed fields of
:class:`Runtime`; the ones not every entry point needs (the intake port, the dead-letter store,
the adapters' context) are built here too, on first use, and closed with the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from adapters.channels import context_for
from adapters.channels.common import AdapterContext
from adapters.eventstore import StoreApplication
from adapters.transport.dead_letters import DeadLetterStore
from adapters.transport.port import InProcessIntake, IntakePort
from adapters.transport.sealing import sealer_for
from engine.admin import AdminOverlay
from engine.admin import attach as attach_admin
from engine.application import SanshiApplication
from engine.config import SanshiConfig, load_config
from engine.routing.learning import LearningRouter
from engine.routing.port import (
    FollowsLessons,
    KeysCallers,
    OpenCasesForRouter,
    Router,
    WarmsFromOpenCases,
)
from engine.settings import POSTGRES_CONNECT_TIMEOUT, Settings
from projections.lessons import LessonView
from projections.projector import Projector
from projections.queries import ReadModel
from projections.search import SearchIndex, SearchKeys
from projections.wiring import attach_projections

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from adapters.attachments.queue import PhotoQueue
    from adapters.http.store import ApiStore
    from adapters.notify.outbox import Notifier
    from engine.attachments import AttachmentService


@dataclass(kw_only=True)
class Publisher:
    """The parts that hand records over: settings, the district config, the adapters' context
    and the intake port. All that ``sanshi ingest`` needs with Kafka (no event store, views or
    router: the worker does that, and a publisher that opened the database would wait on the
    worker's write lock); :class:`Runtime` adds the rest."""

    settings: Settings
    config: SanshiConfig
    # Called in order by close(): what the parts opened (engines, producers).
    closers: list[Callable[[], None]] = field(default_factory=list)

    @cached_property
    def adapter_context(self) -> AdapterContext:
        return context_for(self.config, district_key=self.settings.district_key)

    @cached_property
    def intake_port(self) -> IntakePort:
        """Kafka: without an event store there is nothing to apply records to here."""
        if not self.settings.kafka:
            raise RuntimeError("SANSHI_KAFKA 未设置：发布端没有事件库 (a publisher needs Kafka)")
        return self._kafka_port()

    @cached_property
    def dead_letter_store(self) -> DeadLetterStore:
        store = DeadLetterStore.from_url(
            self.settings.sqlalchemy_url(), sealer_for(self.settings.cipher_key)
        )
        self.closers.append(store.engine.dispose)
        return store

    def _kafka_port(self) -> IntakePort:
        from adapters.transport.kafka import KafkaIntake, KafkaSettings
        from adapters.transport.placement import PlaceKeys

        assert self.settings.kafka
        port = KafkaIntake(
            KafkaSettings.from_env(
                self.settings.kafka,
                cipher_key=self.settings.cipher_key,
                prefix=self.settings.kafka_prefix,
            ),
            # Keyed by 属地: reports of one place reach the worker that holds its open cases.
            places=PlaceKeys(self.config),
        )
        self.closers.append(port.close)
        return port

    def close(self) -> None:
        for closer in self.closers:
            closer()


@dataclass(kw_only=True)
class Runtime(Publisher):
    app: SanshiApplication
    router: Router
    # The views (projections/): always attached by bootstrap().
    projector: Projector
    read_model: ReadModel
    views_engine: Engine
    # Tokens and audit: given by the HTTP layer (adapters.http.create_app) when it serves.
    api_store: ApiStore | None = None
    # The overlay of admin changes on the district file (bootstrap attaches it).
    admin: AdminOverlay | None = None

    @cached_property
    def intake_port(self) -> IntakePort:
        """Kafka when SANSHI_KAFKA is set, else straight into this runtime's application."""
        if self.settings.kafka:
            return self._kafka_port()
        port = InProcessIntake(self)
        self.closers.append(port.close)
        return port

    @cached_property
    def dead_letter_store(self) -> DeadLetterStore:
        """In the views' database (for memory:// the same one)."""
        return DeadLetterStore(self.views_engine, sealer_for(self.settings.cipher_key))

    def search_index(self) -> SearchIndex:
        """The search view's queries (查找, 来电弹屏, order numbers), after the views have caught
        up (embedded mode)."""
        if self.read_model.before_read is not None:
            self.read_model.before_read()
        keys = SearchKeys(self.settings.district_key, hashed=bool(self.settings.cipher_key))
        return SearchIndex(self.views_engine, keys)

    @cached_property
    def attachments(self) -> AttachmentService:
        """附件: the content-addressed store this runtime's settings choose
        (``adapters.attachments.wiring``)."""
        from adapters.attachments.wiring import attachment_service

        return attachment_service(self)

    @cached_property
    def photo_queue(self) -> PhotoQueue:
        """The app's photo URLs fetched after intake (``adapters.attachments.queue``), in the
        views' database."""
        from adapters.attachments.queue import PhotoQueue

        queue = PhotoQueue(self.views_engine, self.attachments)
        # First: its thread must not outlive the engine it writes with.
        self.closers.insert(0, queue.stop)
        return queue

    @cached_property
    def notifier(self) -> Notifier | None:
        """通知 (``adapters.notify.outbox``): the outbox in the views' database and the senders
        the settings configure; None when no channel is configured or the district turned
        notices off."""
        if not self.settings.notifies or not self.config.notifications.enabled:
            return None
        from adapters.notify.outbox import Notifier, build_senders

        s = self.settings
        notifier = Notifier(
            self.app,
            self.views_engine,
            build_senders(s.smtp_url, s.webhook_url, s.webhook_secret, s.sms_url, s.sms_key),
            dead_letters=self.dead_letter_store,
            sealer=sealer_for(s.cipher_key),
        )
        # First: its thread must not outlive the engine it writes with.
        self.closers.insert(0, notifier.close)
        return notifier

    def close(self) -> None:
        if isinstance(self.router, FollowsLessons):
            # Before the views' engine goes away under the router's reader thread.
            self.router.stop_following_lessons()
        for closer in self.closers:
            closer()
        self.app.close()


def build_router(config: SanshiConfig) -> Router:
    return LearningRouter(config)


def publisher(settings: Settings | None = None, config: SanshiConfig | None = None) -> Publisher:
    settings = settings or Settings.from_env()
    return Publisher(settings=settings, config=config or load_config(settings.config_path))


def bootstrap(
    settings: Settings | None = None,
    config: SanshiConfig | None = None,
    router: Router | None = None,
    *,
    warm_index: bool = True,
) -> Runtime:
    """``warm_index=False``: the router's duplicate index starts empty. A Kafka worker passes
    it: it files the open cases of the places its partitions carry once the group assigns
    them (adapters.transport.worker.PlaceShards), so loading every open case first, only to
    forget most of them, made each restart seconds slower (bench/RESULTS.md)."""
    settings = settings or Settings.from_env()
    config = config or load_config(settings.config_path)
    router = router or build_router(config)
    if isinstance(router, KeysCallers):
        # Callers' hashes under the key the open-cases view uses: a case taken over from the
        # read model compares its caller as one this process saw (engine.routing.callers).
        router.key_callers(settings.district_key)
    app = StoreApplication(config, router, env=settings.eventsourcing_env())
    _bound_postgres_connects(app)
    # Embedded mode catches up on every save. With SANSHI_CIPHER_KEY the views' text columns
    # are sealed under the same key.
    views = attach_projections(app, settings, config, sealer_for(settings.cipher_key))
    runtime = Runtime(
        settings=settings,
        config=config,
        app=app,
        router=router,
        projector=views.projector,
        read_model=views.read_model,
        views_engine=views.engine,
        closers=[views.engine.dispose],
    )
    _warm_router(runtime, warm_index)
    # 管理设置 (engine.admin): the admin changes in the log over the district file, now and
    # before each later decision (another process's changes too), without a restart.
    runtime.admin, runtime.router = attach_admin(app, config, router)
    return runtime


def _bound_postgres_connects(app: SanshiApplication) -> None:
    """libpq's connect_timeout for the log's pool (eventsourcing has no setting for it)."""
    pool = getattr(getattr(app.recorder, "datastore", None), "pool", None)
    kwargs = getattr(pool, "kwargs", None)
    if isinstance(kwargs, dict):
        kwargs.setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT)


def _warm_router(runtime: Runtime, open_cases: bool = True) -> None:
    """The router's duplicate index starts with the open cases of the read model (if both
    sides support it), so a restart does not forget what is open; and it learns operators'
    corrections (re-categorisations, returns, the centre's choices of unit) from the lessons
    view, whichever process made them."""
    router = runtime.router
    if isinstance(router, FollowsLessons):
        # From the lessons view, not the log: start-up reads the view's rows, and each decision
        # the rows after them, then the log after the views' position (projections.lessons).
        router.follow_lessons(
            LessonView(
                runtime.views_engine,
                sealer_for(runtime.settings.cipher_key),
                app=runtime.app,
                # At most a second old (one query a second, not one a decision): an older
                # position only means a little more log read after it.
                tracking=runtime.projector.recent_position,
            )
        )
    read_model = runtime.read_model
    if not open_cases or not isinstance(router, WarmsFromOpenCases) or not isinstance(
        read_model, OpenCasesForRouter
    ):
        return
    try:
        router.warm(read_model.open_cases_for_router())
    except Exception:  # a cold index only misses duplicates; never refuse to start for it
        logging.getLogger(__name__).warning("router index not warmed", exc_info=True)
