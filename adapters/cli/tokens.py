"""`sanshi token create` / `sanshi token revoke`: API tokens; only their sha256 hashes are stored."""

from __future__ import annotations

import click

from engine.config import Role


@click.group("token")
def token() -> None:
    """API 令牌管理（数据库只保存令牌的哈希值）。"""


@token.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True, help="角色")
@click.option("--unit", default=None, help="承办单位 id（role=unit 时必填）")
@click.option("--name", default="", help="使用人或系统名称，记入审计")
def create(role: str, unit: str | None, name: str) -> None:
    """生成新令牌并只显示一次。"""
    from adapters.bootstrap import bootstrap
    from adapters.http.store import ApiStore, sql_engine_for

    runtime = bootstrap()
    try:
        if role == Role.UNIT.value:
            if not unit:
                raise click.UsageError("role=unit 时必须指定 --unit")
            if not runtime.config.has_unit(unit):
                raise click.UsageError(f"单位「{unit}」不存在")
        elif unit:
            raise click.UsageError("只有 role=unit 的令牌才能指定 --unit")
        store = ApiStore(sql_engine_for(runtime.settings))
        value = store.create_token(role, unit, name)
    finally:
        runtime.close()
    click.echo(value)
    click.echo("请妥善保存：此令牌只显示这一次，系统只保存其哈希值。", err=True)


@token.command("revoke")
@click.argument("value")
def revoke(value: str) -> None:
    """停用令牌：VALUE 为令牌本身，或审计记录中显示的指纹（8 位以上十六进制）。立即生效。"""
    from adapters.bootstrap import bootstrap
    from adapters.http.store import ApiStore, sql_engine_for

    runtime = bootstrap()
    try:
        store = ApiStore(sql_engine_for(runtime.settings))
        try:
            count = store.revoke_token(value)
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        in_config = any(t.token == value for t in runtime.config.tokens)
    finally:
        runtime.close()
    if count:
        click.echo(f"已停用 {count} 个令牌（立即生效）")
        return
    if in_config:
        click.echo("该令牌写在配置文件（SANSHI_CONFIG）中：请从配置中删除并重启服务", err=True)
    else:
        click.echo("未找到该令牌（或已停用）", err=True)
    raise SystemExit(1)


def register(group: click.Group) -> None:
    group.add_command(token)
