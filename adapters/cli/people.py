"""`sanshi person create`: a named account from the command line, for the first admin of a
district that runs with ``auth.shared_tokens: false`` (after that, the admin's 人员管理 screen).
The change is an event of the accounts log like any other, recorded as made by ``system:cli``."""

from __future__ import annotations

import secrets

import click

from engine.config import Role


@click.group("person")
def person() -> None:
    """人员账号（密码只保存 argon2 哈希）。"""


@person.command("create")
@click.option("--login", "login_", required=True, help="登录名（小写字母、数字、._-）")
@click.option("--name", required=True, help="姓名")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True, help="角色")
@click.option("--unit", default=None, help="承办单位 id（role=unit 时必填）")
def create(login_: str, name: str, role: str, unit: str | None) -> None:
    """新建账号，生成初始密码并只显示一次。"""
    from adapters.bootstrap import bootstrap
    from adapters.http.people import People
    from adapters.http.store import sql_engine_for
    from engine.accounts import AccountError

    runtime = bootstrap()
    password = secrets.token_urlsafe(12)
    engine = sql_engine_for(runtime.settings)
    try:
        people = People(engine, runtime.config)
        people.service.create(
            login=login_, name=name, role=Role(role), unit=unit, password=password, by="system:cli"
        )
    except AccountError as err:
        raise click.UsageError(err.message) from None
    finally:
        engine.dispose()
        runtime.close()
    click.echo(password)
    click.echo("初始密码只显示这一次，请交给本人；系统只保存其哈希值。", err=True)


def register(main: click.Group) -> None:
    main.add_command(person)
