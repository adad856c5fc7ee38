"""The FastAPI application: JSON API (/api), Open311 (/open311/v2), /metrics, /healthz and the
Chinese web UI (/), all over one runtime from ``adapters.bootstrap.bootstrap()``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.bootstrap import Runtime
from adapters.http import (
    demo_login,
    open311,
    ops,
    routes_admin,
    routes_attachments,
    routes_cases,
    routes_coop,
    routes_hand,
    routes_knowledge,
    routes_leader,
    routes_proactive,
    routes_projects,
    routes_read,
    routes_reports,
    routes_review,
    routes_search,
    routes_shelf,
    routes_unit_queues,
)
from adapters.http.database import install_postgres_gate
from adapters.http.errors import install_error_handlers
from adapters.http.limits import BodyLimits
from adapters.http.metrics import TimedRouter, build_metrics
from adapters.http.people import People
from adapters.http.policy import TokenRegistry
from adapters.http.routes_accounts import router as accounts_router
from adapters.http.store import ApiStore
from adapters.http.timing import UniformNotFound, floor_from_env
from adapters.web import static_dir
from projections.wiring import catch_up_in_background

DESCRIPTION = """三事 sanshi 工单系统 HTTP 接口。

认证：`Authorization: Bearer <令牌>`。角色：operator（话务员：受理、派单、延期审批、回访），
unit（承办单位：只处理派给本单位的工单，来电人信息脱敏），leader（领导：只读），admin（管理员：只读与审计）。
错误统一为 `{"error": code, "message": text}`，状态码 400/401/403/404/409/422；数据库暂不可用时为 503
（`{"error": "unavailable"}`，带 `Retry-After`），稍后重试即可（受理幂等，不会重复建单）。
Open311 GeoReport v2 见 `/open311/v2/discovery.json`。
"""


def create_app(
    runtime: Runtime,
    store: ApiStore | None = None,
    not_found_floor: float | None = None,
    demo: bool = False,
) -> FastAPI:
    """``demo``: the demo's one-click login per role (``adapters.http.demo_login``); only
    ``sanshi demo --serve`` and ``sanshi serve --demo`` set it."""
    app = FastAPI(
        title="sanshi 三事",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        # Swagger UI would load its scripts from a CDN, which the deployment cannot reach.
        docs_url=None,
        redoc_url=None,
    )
    if store is None:
        store = runtime.api_store
    if store is None:
        # The views' engine: same database, and for memory:// the same one.
        store = ApiStore(runtime.views_engine)
    runtime.api_store = store
    # PostgreSQL down: 503 within seconds instead of minutes of retries (adapters.http.database).
    install_postgres_gate(runtime)
    # Embedded mode: a write answers without waiting for the views; they catch up in a thread
    # woken by each save, and every read still catches them up first (projections.wiring).
    follower = catch_up_in_background(runtime.app, runtime.projector)
    if follower is not None:
        # First: its thread must not outlive the engine it writes with.
        runtime.closers.insert(0, follower.stop)
    if runtime.settings.kafka and runtime.read_model.before_read is None:
        # Kafka mode: the workers (or `sanshi projections follow`) keep the views up, and a read
        # here still catches them up first, so a list read after a write (this process's or a
        # worker's) shows it, as in embedded mode: the unit's inbox right after the routing.
        runtime.read_model.before_read = runtime.projector.catch_up_briefly
    registry, routing_hist = build_metrics(runtime)
    if not isinstance(runtime.app.router, TimedRouter):
        timed = TimedRouter(runtime.app.router, routing_hist)
        runtime.app.router = timed
        runtime.router = timed

    app.state.runtime = runtime
    app.state.store = store
    # Named people (人员账号): their log and view in the API's database (adapters.http.people).
    app.state.people = People(store.engine, runtime.config)
    app.state.tokens = TokenRegistry(runtime.config, store, app.state.people)
    app.state.metrics = registry

    install_error_handlers(app)
    # Body size and JSON depth before anything parses the body (the input contract).
    # An attachment upload may be larger: up to the configured limit (+ multipart framing).
    app.add_middleware(
        BodyLimits,
        uploads=(routes_attachments.UPLOAD_PATH, runtime.config.attachments.max_bytes + 64 * 1024),
    )
    app.include_router(routes_cases.router)
    app.include_router(routes_read.router)
    app.include_router(routes_coop.router)
    app.include_router(routes_shelf.router)  # 认领大厅
    app.include_router(routes_hand.router)
    app.include_router(routes_review.router)
    app.include_router(routes_attachments.router)
    app.include_router(routes_attachments.public_router)
    app.include_router(accounts_router)
    app.include_router(routes_knowledge.router)
    app.include_router(routes_unit_queues.router)
    app.include_router(routes_leader.router)  # 下钻, 趋势 (issue 19)
    app.include_router(routes_reports.router)  # 报表, 工单打印
    app.include_router(routes_projects.router)  # 实事项目
    app.include_router(routes_proactive.router)  # 主动治理, 诉源治理 (issue 20)
    app.state.demo = demo
    if demo:
        demo_login.seed_demo_people(app.state.people, runtime.config)
        app.include_router(demo_login.router)
    app.include_router(routes_admin.router)  # 管理设置
    routes_search.install(app, runtime)  # 查找, 来电弹屏, order numbers in case paths
    open311.mount(app)  # with GeoReport's error shape
    app.include_router(ops.router)

    static = static_dir()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=static), name="static")

    install_security_headers(app)

    # Outermost, so that its clock starts first: a hidden case and an absent id answer 404 in
    # the same time (adapters.http.timing).
    app.add_middleware(
        UniformNotFound, floor=floor_from_env() if not_found_floor is None else not_found_floor
    )

    return app


SECURITY_HEADERS = (
    # Everything the UI needs is served from here; nothing inline, nothing remote.
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """The web pages' headers on every answer that does not set them itself. A plain ASGI
    middleware (Starlette's advice for speed): ``@app.middleware("http")`` runs each request
    through a second task and a memory stream, which the write path's profile showed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
            await send(message)

        await self.app(scope, receive, with_headers)


def install_security_headers(app: FastAPI) -> None:
    """The web pages' headers (a district's, and the city's page: adapters.http.city)."""
    app.add_middleware(SecurityHeaders)
