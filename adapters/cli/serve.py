"""`sanshi serve`: the HTTP API, Open311 and the web UI on one port.

Without SANSHI_KAFKA this is the only long-running process, so it also runs the deadline
clock (督办 of missed claim / handling deadlines); with Kafka, `sanshi worker` does. Several
servers on one PostgreSQL database without Kafka run one clock between them: the one that
holds the clock's lease (``adapters.leases``).

``--workers N`` (PostgreSQL): N server processes behind one port (uvicorn's workers share its
listening socket). Each builds its own runtime (``worker_app``): the log and the database keep
the guarantees between them (a case's version and its order number are unique in the log, so
a command raced by another process is refused with 409 as within one), reads catch the views
up from the shared log, and the deadline clock runs in the one holding its lease.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from fastapi import FastAPI

    from adapters.bootstrap import Runtime
    from adapters.leases import Lease

log = logging.getLogger("sanshi.serve")


def run_clock(runtime: Runtime, interval: float, stop: threading.Event) -> None:
    """Every ``interval`` seconds: escalate the deadlines that have passed, once each; only
    while this server holds the clock's lease (always on SQLite)."""
    from adapters.leases import DEADLINE_CLOCK, Lease
    from engine.deadlines import SHANGHAI

    lease = Lease(runtime.views_engine, DEADLINE_CLOCK, runtime.config.district.id)
    try:
        _tick_while_held(runtime, interval, stop, lease, SHANGHAI)
    finally:
        lease.release()


def _tick_while_held(
    runtime: Runtime, interval: float, stop: threading.Event, lease: Lease, zone: dt.tzinfo
) -> None:
    last = time.monotonic()  # the first tick one interval after the start, as always
    while not stop.wait(min(interval, lease.retry / 4)):  # the lease asks every retry seconds
        if not lease.held() or time.monotonic() - last < interval:
            continue
        last = time.monotonic()
        now = dt.datetime.now(zone)
        try:
            due = runtime.read_model.due_for_escalation(now)
            if due:
                n = runtime.app.tick(due, now)
                log.info("deadline clock: %d deadlines escalated (督办)", n)
        except Exception:  # the next tick retries; the server stays up
            log.exception("deadline clock failed; will retry")


def build_server(clock_interval: float, demo: bool) -> tuple[FastAPI, Callable[[], None]]:
    """One server process's app and the threads beside it (deadline clock, photo queue,
    notices); the callable stops them and closes the runtime."""
    from adapters.bootstrap import bootstrap
    from adapters.http import create_app

    runtime = bootstrap()
    app = create_app(runtime, demo=demo)
    stop = threading.Event()
    if clock_interval > 0 and not runtime.settings.kafka:
        threading.Thread(
            target=run_clock, args=(runtime, clock_interval, stop), name="deadline-clock", daemon=True
        ).start()
    if not runtime.settings.kafka and runtime.config.attachments.fetch_hosts:
        # The app's photos still queued from before a restart (adapters/attachments/queue.py).
        runtime.photo_queue.kick()
    notifier = runtime.notifier
    if not runtime.settings.kafka and notifier is not None:
        # 通知 (adapters/notify/outbox.py): in a thread of this process, woken after each save.
        saved = runtime.app.on_saved

        def on_saved() -> None:
            if saved is not None:
                saved()
            notifier.kick()

        runtime.app.on_saved = on_saved
        notifier.kick()

    def close() -> None:
        stop.set()
        runtime.close()

    _settle_heap()
    return app, close


# Python's default: collect the youngest generation every 700 net allocations. A request
# allocates thousands of objects, so collections ran inside every request, and the older
# generations' collections walked the whole start-up heap (config, catalogue, routes, the
# app): that set /healthz's p99 under load (bench/RESULTS.md, "API write path").
YOUNG_COLLECTION_EVERY = 50_000


def _settle_heap() -> None:
    """After start-up: what was built so far lives as long as the process, so the collector
    stops walking it (``gc.freeze``), and the youngest generation is collected less often. Reference
    counting still frees everything that is not in a cycle at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


# How ``serve --workers`` hands its options to the worker processes (they import this module
# afresh and call ``worker_app``).
_WORKER_OPTIONS = "SANSHI_SERVE_WORKER_OPTIONS"


def worker_app() -> FastAPI:
    """uvicorn's factory for each process of ``serve --workers N``; the runtime is closed when
    the process's server shuts down."""
    options = json.loads(os.environ.get(_WORKER_OPTIONS) or "{}")
    app, close = build_server(float(options.get("clock_interval", 60.0)), bool(options.get("demo")))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        try:
            async with inner(a) as state:
                yield state
        finally:
            close()

    app.router.lifespan_context = lifespan
    return app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8311, show_default=True, type=int, help="监听端口")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="同一端口上的服务进程数（多于 1 个时需 PostgreSQL）",
)
@click.option(
    "--worker-healthcheck",
    default=20,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="多进程时：服务进程多少秒不应答即判定为卡死并重启",
)
@click.option(
    "--clock-interval",
    default=60.0,
    show_default=True,
    type=float,
    help="时限检查（自动督办）间隔秒数；0 关闭。使用 Kafka 时由 sanshi worker 负责",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn 日志级别")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="在此内部端口另行提供 /metrics（无需令牌，供 Prometheus 抓取）；主端口的 /metrics 需领导/管理员/指标令牌",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="--metrics-port 的监听地址（内网）"
)
@click.option(
    "--demo",
    is_flag=True,
    help="演示模式：登录页为每个角色显示一个演示账号按钮（切勿用于生产）",
)
@click.option(
    "--city",
    "city_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="市级部署：按市级配置文件同时服务多个区（各区挂在 /d/<区>/，市级统计 /city/api/stats）",
)
def serve(
    host: str,
    port: int,
    workers: int,
    worker_healthcheck: int,
    clock_interval: float,
    log_level: str,
    metrics_port: int | None,
    metrics_host: str,
    demo: bool,
    city_file: str | None,
) -> None:
    """启动 HTTP 接口与网页界面（受理台、工单箱、领导驾驶舱）。"""
    import uvicorn

    if city_file is not None:
        if workers > 1:
            raise click.UsageError("--city 暂不支持 --workers 多于 1 个")
        serve_city(city_file, host, port, clock_interval, log_level)
        return
    if workers > 1:
        _serve_workers(
            host, port, workers, worker_healthcheck, clock_interval, log_level, metrics_port, demo
        )
        return
    app, close = build_server(clock_interval, demo)
    metrics_at = "指标 /metrics（需令牌）"
    if metrics_port is not None:
        # The registry is the app's (same collectors, same routing histogram): an internal
        # port for a scraper that holds no token; the public port keeps asking for one.
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host, registry=app.state.metrics)
        metrics_at = f"指标 http://{metrics_host}:{metrics_port}/metrics"
    _started(host, port, metrics_at, demo)
    try:
        # Access logs are off: they would print query strings (complaint text, api_key).
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        close()


def _serve_workers(
    host: str,
    port: int,
    workers: int,
    healthcheck: int,
    clock_interval: float,
    log_level: str,
    metrics_port: int | None,
    demo: bool,
) -> None:
    import uvicorn

    from engine.settings import Settings

    if not Settings.from_env().is_postgres:
        # SQLite has one writer at a time (and memory:// one process): more processes would
        # only wait for each other's locks.
        raise click.UsageError("--workers 多于 1 个时需使用 PostgreSQL（SANSHI_DB=postgresql://…）")
    if metrics_port is not None:
        # Each process has its own counters; one internal port cannot serve them all.
        raise click.UsageError("--workers 多于 1 个时不支持 --metrics-port；请在主端口用令牌抓取 /metrics")
    os.environ[_WORKER_OPTIONS] = json.dumps({"clock_interval": clock_interval, "demo": demo})
    _started(host, port, f"指标 /metrics（需令牌），{workers} 个服务进程", demo)
    # Access logs are off: they would print query strings (complaint text, api_key).
    uvicorn.run(
        "adapters.cli.serve:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn's supervisor kills a process that has not answered its ping for this long
        # (its default, 5 s, is shorter than a first decision loading the sentence model on a
        # busy machine); the dead one is replaced, its in-flight requests fail.
        timeout_worker_healthcheck=healthcheck,
        log_level=log_level,
        access_log=False,
    )


def _started(host: str, port: int, metrics_at: str, demo: bool) -> None:
    click.echo(
        f"sanshi 服务已启动：http://{host}:{port}/  "
        f"（接口说明 /openapi.json，Open311 /open311/v2/discovery.json，{metrics_at}）"
        + ("\n演示模式：登录页显示各角色的演示账号按钮，不得用于生产" if demo else "")
    )
    if not os.environ.get("SANSHI_CIPHER_KEY"):
        # Said at every start, not only in the docs: a district that went live without the key
        # keeps residents' words, names and numbers readable by anyone who copies the database.
        click.echo(
            "注意：未设置 SANSHI_CIPHER_KEY，诉求内容、地址和来电人姓名电话在数据库中为明文；"
            "演示可以，正式使用前请设置（见 docs/boundary.md）",
            err=True,
        )


def serve_city(
    city_file: str, host: str, port: int, clock_interval: float, log_level: str
) -> None:
    """docs/city.md: every district of the city file its own runtime, one app, one port; each
    district's deadline clock in a thread of its own (on its own database's lease)."""
    import uvicorn

    from adapters.city import bootstrap_city
    from adapters.http.city import create_city_app
    from engine.config import ConfigError

    try:
        city = bootstrap_city(city_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_city_app(city)
    stop = threading.Event()
    if clock_interval > 0:
        for district, runtime in city.districts.items():
            threading.Thread(
                target=run_clock,
                args=(runtime, clock_interval, stop),
                name=f"deadline-clock-{district}",
                daemon=True,
            ).start()
    mounts = "，".join(f"{rt.config.district.name} /d/{d}/" for d, rt in city.districts.items())
    click.echo(
        f"sanshi 市级服务已启动：http://{host}:{port}/  {city.config.city.name}："
        f"{mounts}；市级平台 /（市级令牌登录），市级统计 /city/api/stats"
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        stop.set()
        city.close()


def register(group: click.Group) -> None:
    group.add_command(serve)
