"""`sanshi` command line. Each module in this package adds its commands through a
``register(group)`` function, so command groups can be written and reviewed apart."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import click

from adapters.cli import exits
from engine.config import ConfigError


class SanshiGroup(click.Group):
    """Reports a bad configuration file by line and field, and an unreachable PostgreSQL or
    Kafka as one line saying what to check (exit code 3, see ``exits``), not as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(exits.REFUSED)
        except click.exceptions.Exit:
            raise
        except Exception as exc:
            message = exits.unreachable(exc)
            if message is None:
                raise
            click.echo(message, err=True)
            ctx.exit(exits.UNREACHABLE)


@click.group(
    cls=SanshiGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=exits.HELP,
)
@click.version_option(package_name="sanshi")
def main() -> None:
    """三事 sanshi：12345 / 110 / APP / 窗口 诉求统一受理、智能分拨与考核。"""


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("__"):  # __main__ runs the command line; it registers nothing
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(main)


_register_all()
