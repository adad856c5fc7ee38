"""`sanshi serve`: the HTTP API, Open311 and the web UI on one port.

Without SANSHI_KAFKA this is the only long-running process, so it also runs the deadline
clock (督办 of missed claim / handling deadlines); with Kafka, `sanshi worker` does. Several
servers on one PostgreSQL database without Kafka run one clock between them: the one that
holds the clock's lease (``adapters.leases``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
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


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8311, show_default=True, type=int, help="监听端口")
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
    clock_interval: float,
    log_level: str,
    metrics_port: int | None,
    metrics_host: str,
    demo: bool,
    city_file: str | None,
) -> None:
    """启动 HTTP 接口与网页界面（受理台、工单箱、领导驾驶舱）。"""
    import uvicorn

    from adapters.bootstrap import bootstrap
    from adapters.http import create_app

    if city_file is not None:
        serve_city(city_file, host, port, clock_interval, log_level)
        return
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
    metrics_at = "指标 /metrics（需令牌）"
    if metrics_port is not None:
        # The registry is the app's (same collectors, same routing histogram): an internal
        # port for a scraper that holds no token; the public port keeps asking for one.
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host, registry=app.state.metrics)
        metrics_at = f"指标 http://{metrics_host}:{metrics_port}/metrics"
    click.echo(
        f"sanshi 服务已启动：http://{host}:{port}/  "
        f"（接口说明 /openapi.json，Open311 /open311/v2/discovery.json，{metrics_at}）"
        + ("\n演示模式：登录页显示各角色的演示账号按钮，不得用于生产" if demo else "")
    )
    try:
        # Access logs are off: they would print query strings (complaint text, api_key).
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        stop.set()
        runtime.close()


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
        f"{mounts}；市级统计 /city/api/stats（市级令牌）"
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        stop.set()
        city.close()


def register(group: click.Group) -> None:
    group.add_command(serve)
