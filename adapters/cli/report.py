"""`sanshi report`: 日报 / 周报 / 月报 or a custom range as Excel (.xlsx), a print page (.html) or
JSON, from the same views as `sanshi stats` (docs/reports.md)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from adapters.cli import exits
from projections.reports import PERIOD_HELP


@click.command("report")
@click.option("--period", default=None, help=f"报表周期：{PERIOD_HELP}")
@click.option("--from", "from_", default=None, help="自定区间：受理日期起（含），YYYY-MM-DD")
@click.option("--to", "to", default=None, help="自定区间：受理日期止（不含），YYYY-MM-DD")
@click.option("--street", default=None, help="只看某街道（单位编号）")
@click.option("--category", default=None, help="只看某诉求分类（分类编码）")
@click.option("--channel", default=None, help="只看某渠道（渠道编码）")
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "html", "json"]), default="xlsx", show_default=True,
    help="xlsx：Excel 报表；html：可打印的 A4 页面；json：全部数字",
)
@click.option(
    "--out", "-o", "out", type=click.Path(path_type=Path), default=None,
    help="写入的文件或目录（不填则写到当前目录，文件名含周期与筛选条件）",
)
@click.option(
    "--as-of", "as_of", type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]), default=None,
    help="超期工单与批示件截至的时间（北京时间，默认现在）",
)
def report(
    period: str | None,
    from_: str | None,
    to: str | None,
    street: str | None,
    category: str | None,
    channel: str | None,
    fmt: str,
    out: Path | None,
    as_of: dt.datetime | None,
) -> None:
    """生成报表：七率（含分子分母）、分街道/分类/分渠道/分单位、趋势、高频诉求、超期工单、批示件。

    例：sanshi report --period 2026-11 --format xlsx"""
    from adapters.cli.stats import _runtime_that_reads
    from engine.deadlines import SHANGHAI
    from projections.queries import StatsQueryError
    from projections.reports import PeriodError, build_report, parse_period

    try:
        p = parse_period(period, from_, to)
    except PeriodError as e:
        raise click.UsageError(str(e)) from None
    now = as_of.replace(tzinfo=SHANGHAI) if as_of else dt.datetime.now(SHANGHAI)
    runtime = _runtime_that_reads()
    try:
        try:
            built = build_report(
                runtime.read_model, p, now, {"street": street, "category": category, "channel": channel}
            )
        except StatsQueryError as e:
            raise click.UsageError(str(e)) from None
    finally:
        runtime.close()

    if fmt == "xlsx":
        from adapters.reports.xlsx import render_xlsx

        data = render_xlsx(built)
    elif fmt == "html":
        from adapters.reports.html import render_report_html

        data = render_report_html(built, inline_css=True).encode("utf-8")
    else:
        from adapters.reports.as_json import report_json

        data = (json.dumps(report_json(built), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    name = f"{built.file_stem()}.{fmt}"
    target = out if out is not None else Path(name)
    if target.is_dir():
        target = target / name
    try:
        target.write_bytes(data)
    except OSError as e:
        click.echo(f"无法写入 {target}：{e.strerror or e}", err=True)
        raise click.exceptions.Exit(exits.REFUSED) from None
    t = built.total
    click.echo(f"已生成{built.period.kind_label}：{target}")
    click.echo(
        f"{built.period.label}：受理 {t['received']} 件，办结率 {_pct(t['handling_rate'])}，"
        f"满意率 {_pct(t['satisfaction_rate'])}，调解成功率 {_pct(t['mediation_success_rate'])}；"
        f"超期 {len(built.overdue)} 件，批示件 {built.instruction_counts['cases']} 件。"
    )


def _pct(r: dict[str, object]) -> str:
    v = r["value"]
    return "—" if not isinstance(v, int | float) else f"{v * 100:.2f}%"


def register(group: click.Group) -> None:
    group.add_command(report)
