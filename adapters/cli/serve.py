"""`sanshi serve`: the HTTP API, Open311 and the web UI on one port."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8311, show_default=True, type=int, help="监听端口")
@click.option("--log-level", default="info", show_default=True, help="uvicorn 日志级别")
def serve(host: str, port: int, log_level: str) -> None:
    """启动 HTTP 接口与网页界面（受理台、工单箱、领导驾驶舱）。"""
    import uvicorn

    from adapters.bootstrap import bootstrap
    from adapters.http import create_app

    runtime = bootstrap()
    app = create_app(runtime)
    click.echo(f"sanshi 服务已启动：http://{host}:{port}/  （接口文档 /openapi.json，Open311 /open311/v2/discovery.json）")
    try:
        # Access logs are off: they would print query strings (text of complaints, api_key).
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        runtime.close()


def register(group: click.Group) -> None:
    group.add_command(serve)
