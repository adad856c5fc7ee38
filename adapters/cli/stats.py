"""`sanshi stats` (docs/rates.md rates as a table, JSON or CSV) and `sanshi projections …`."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine.vocabulary import CHANNELS, COUNTS, STATS_DIMENSIONS, WHOLE_DISTRICT, CaseList, rates

if TYPE_CHECKING:
    from adapters.bootstrap import Runtime

# Events at most per catch-up of `projections follow` (a few seconds of a rebuild): the lease
# is checked between them, so a holder that lost it stops within a step.
FOLLOW_STEP = 50_000

# Counts shown in the table (the CSV and JSON carry all of them).
TABLE_COUNTS = ("received", "accepted", "dispatched", "resolved")


def _percent(r: dict[str, Any]) -> str:
    return "—" if r["value"] is None else f"{r['value'] * 100:.2f}%"


def render_table(data: dict[str, Any]) -> Any:
    from rich import box
    from rich.table import Table

    period = f"{data['from'] or '最早'} 至 {data['to'] or '现在'}（不含）"
    by = WHOLE_DISTRICT if data["by"] is None else STATS_DIMENSIONS.label(data["by"])
    table = Table(
        title=f"办理情况统计 · 按{by} · 受理日期 {period}",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("名称", no_wrap=True)
    for f in TABLE_COUNTS:
        table.add_column(COUNTS.label(f), justify="right")
    for r in rates():
        table.add_column(r.label, justify="right")

    def cells(row: dict[str, Any]) -> list[str]:
        out = [str(row["name"] or row["key"])]
        out += [str(row[f]) for f in TABLE_COUNTS]
        for term in rates():
            r = row[term.code]
            out.append(f"{_percent(r)}\n[dim]{r['numerator']}/{r['denominator']}[/dim]")
        return out

    for row in data["rows"]:
        table.add_row(*cells(row))
    total = data["total"]
    if data["rows"]:
        table.add_section()
    table.add_row(*cells({**total, "name": f"合计（{total['name']}）"}), style="bold")
    return table


def render_csv(data: dict[str, Any]) -> str:
    """UTF-8 CSV; the caller adds the BOM so that Excel reads the Chinese headers."""
    from projections.queries import OUTPUT_COUNTS

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    header = ["key", "名称"]
    header += [f"{COUNTS.label(f)}({f})" for f in OUTPUT_COUNTS]
    for term in rates():
        header += [f"{term.label}({term.code})", f"{term.label}分子", f"{term.label}分母"]
    w.writerow(header)

    def line(row: dict[str, Any]) -> list[Any]:
        out: list[Any] = [row["key"], row["name"]]
        out += [row[f] for f in OUTPUT_COUNTS]
        for term in rates():
            r = row[term.code]
            value = "" if r["value"] is None else f"{r['value'] * 100:.2f}%"
            out += [value, r["numerator"], r["denominator"]]
        return out

    for row in data["rows"]:
        w.writerow(line(row))
    w.writerow(line({**data["total"], "key": "total", "name": f"合计（{data['total']['name']}）"}))
    return buf.getvalue()


@click.command("stats")
@click.option(
    "--by",
    type=click.Choice(list(STATS_DIMENSIONS.codes)),
    default=None,
    help=f"分组：{' / '.join(STATS_DIMENSIONS.labels().values())}（不填则为{WHOLE_DISTRICT}合计）",
)
@click.option("--from", "from_", type=click.DateTime(["%Y-%m-%d"]), default=None, help="受理日期起（含），YYYY-MM-DD")
@click.option("--to", "to", type=click.DateTime(["%Y-%m-%d"]), default=None, help="受理日期止（不含），YYYY-MM-DD")
@click.option("--unit", default=None, help="只看某承办单位（单位编号）")
@click.option("--channel", default=None, help=f"只看某渠道（{'/'.join(CHANNELS.codes)}）")
@click.option("--category", default=None, help="只看某诉求分类（分类编码）")
@click.option("--street", default=None, help="只看某街道（单位编号）")
@click.option("--community", default=None, help="只看某社区（单位编号）")
@click.option("--appeal-type", "appeal_type", default=None, help="只看某诉求类型（咨询 求助 投诉 举报 建议 表扬）")
@click.option("--case-list", "case_list", type=click.Choice([c.value for c in CaseList]), default=None,
              help="只看某清单（problem 问题清单 / opinion 意见清单 / need 需求清单 / project 实事项目清单）")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="写入文件而不是屏幕")
def stats(
    by: str | None,
    from_: dt.datetime | None,
    to: dt.datetime | None,
    unit: str | None,
    channel: str | None,
    category: str | None,
    street: str | None,
    community: str | None,
    appeal_type: str | None,
    case_list: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """办结率、按时办结率、响应率、退单率、调解成功率、解决率、满意率（按受理日期统计）。"""
    from projections.queries import StatsQueryError

    filters = {
        k: v
        for k, v in {
            "unit": unit,
            "channel": channel,
            "category": category,
            "street": street,
            "community": community,
            "appeal_type": appeal_type,
            "case_list": case_list,
        }.items()
        if v
    }
    runtime = _runtime_that_reads()
    try:
        try:
            data = runtime.read_model.stats(
                by,
                from_.date() if from_ else None,
                to.date() if to else None,
                filters,
            )
        except StatsQueryError as e:
            raise click.UsageError(str(e)) from None
    finally:
        runtime.close()

    if fmt == "json":
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        _emit(text.encode("utf-8"), output)
    elif fmt == "csv":
        _emit(render_csv(data).encode("utf-8-sig"), output)
    else:
        from rich.console import Console

        if output is not None:
            with output.open("w", encoding="utf-8") as fh:
                Console(file=fh, width=180).print(render_table(data))
        else:
            console = Console()
            if not console.is_terminal:  # a pipe or a file: don't squeeze to 80 columns
                console = Console(width=180)
            console.print(render_table(data))


def _emit(data: bytes, output: Path | None) -> None:
    if output is not None:
        output.write_bytes(data)
    else:
        # sys.stdout.buffer, not click.get_binary_stream (deprecated in click 8.5).
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


@click.group("projections")
def projections() -> None:
    """统计视图（由事件日志投影而来，可随时重建）。"""


@projections.command("rebuild")
@click.option("--resume", is_flag=True, help="不清空，从上次的位置继续（中断后续跑）")
@click.option(
    "--batch-size",
    default=10_000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="每个事务处理的事件数（越大越快：同一工单的多个事件合并为一次写入）",
)
def rebuild(resume: bool, batch_size: int) -> None:
    """从事件日志重建全部统计视图（带进度条）。

    中断（Ctrl-C、断电、kill -9）后再次运行即可：每批事件与位置在同一事务中提交，
    再次运行（重建或 --resume）得到的数字与一次跑完完全相同。
    设置了 SANSHI_CIPHER_KEY 时，视图中的诉求内容、地址和办理结果加密存储；
    设置密钥前写入视图的明文行，重建后也一并加密。"""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    runtime = _runtime_that_routes_nothing()
    try:
        projector = runtime.projector
        projector.batch_size = projector.backlog_batch_size = batch_size
        if not resume:
            projector.reset()
        start = projector.position()
        head = projector.head()
        t0 = time.monotonic()
        with Progress(
            TextColumn("[bold]重建统计视图"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("事件"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("rebuild", total=max(head - start, 0))

            def progress(last_id: int, _n: int) -> None:
                if last_id > head:
                    bar.update(task, total=last_id - start)
                bar.update(task, completed=last_id - start)

            applied = projector.catch_up(progress=progress)
        seconds = time.monotonic() - t0
        rate = applied / seconds if seconds > 0 else 0.0
        click.echo(
            f"完成：应用 {applied} 个事件，用时 {seconds:.1f} 秒（{rate:,.0f} 事件/秒），"
            f"当前位置 {projector.position()}。"
        )
        if projector.sealed and not resume:  # a resumed run keeps the rows it found
            click.echo("诉求内容、地址和办理结果已按 SANSHI_CIPHER_KEY 加密存储。")
        set_aside = projector.quarantined_count()
        if set_aside:
            click.echo(
                f"有 {set_aside} 个事件无法应用到视图，已隔离（其余事件照常统计）："
                "运行 sanshi projections quarantine 查看。"
            )
    finally:
        runtime.close()


@projections.command("follow")
@click.option(
    "--poll-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 60.0),
    help="追平后隔多少秒再查日志",
)
@click.option("--idle-exit", type=float, default=None, help="追平且空闲这么多秒后退出（测试与批处理用）")
@click.option(
    "--standby-retry",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 60.0),
    help="PostgreSQL 上同时只有一个 follow 进程更新视图，其余待命，每隔这么多秒尝试接管",
)
def follow(poll_interval: float, idle_exit: float | None, standby_retry: float) -> None:
    """持续追踪事件日志、更新统计视图（独立进程，Ctrl-C / SIGTERM 停止）。

    与 `sanshi worker --no-projections` 搭配，受理和统计各用一个 CPU 核。
    PostgreSQL 上可启动多个 follow 进程：同一时刻只有持有值守锁的一个更新视图，其余待命，
    持有者退出或被杀后几秒内接管（adapters/leases.py）。即使与 worker 内的投影同时运行，
    每批事件与视图位置在同一事务中提交，同一事件只会计入一次。"""
    import os
    import signal
    import threading

    from adapters.leases import PROJECTIONS_FOLLOW, Lease

    logging.basicConfig(
        level=os.environ.get("SANSHI_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runtime = _runtime_that_routes_nothing()
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    lease = Lease(
        runtime.views_engine, PROJECTIONS_FOLLOW, runtime.config.district.id, retry=standby_retry
    )
    try:
        projector = runtime.projector
        click.echo(f"开始追踪事件日志：视图位置 {projector.position()} / 日志最新 {projector.head()}。")
        t0, applied, idle_since = time.monotonic(), 0, time.monotonic()
        standing_by, takeovers = False, 0
        while not stop.is_set():
            if not lease.held():  # a standby: another follow process keeps the views
                if not standing_by:
                    click.echo("另一个 follow 进程正在更新视图：本进程待命，它停止后接管。")
                    standing_by = True
                idle_since = time.monotonic()
                stop.wait(lease.retry / 4)  # the lease asks PostgreSQL every retry seconds
                continue
            if lease.takeovers > takeovers:
                takeovers = lease.takeovers
                click.echo(f"已接管视图更新：视图位置 {projector.position()}。")
            standing_by = False
            try:
                # In steps: a holder that lost its lease notices between them.
                n = projector.catch_up(max_events=FOLLOW_STEP)
            except Exception:  # a database restart: logged, retried
                logging.getLogger("sanshi.projections").exception("视图更新失败，稍后重试")
                n = 0
            applied += n
            if n:
                idle_since = time.monotonic()
                continue
            if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                break
            stop.wait(poll_interval)
        seconds = time.monotonic() - t0
        click.echo(
            f"已停止：本次应用 {applied} 个事件，用时 {seconds:.1f} 秒，视图位置 {projector.position()}。"
        )
    finally:
        lease.release()
        runtime.close()


@projections.command("status")
def status() -> None:
    """统计视图追到了事件日志的哪里。"""
    runtime = _runtime_that_routes_nothing()
    try:
        projector = runtime.projector
        position, head = projector.position(), projector.head()
        click.echo(f"视图位置 {position} / 日志最新 {head}，落后 {max(head - position, 0)} 个事件。")
    finally:
        runtime.close()


@projections.command("quarantine")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True, help="每行一个 JSON 对象（便于脚本处理）")
def quarantine(limit: int, as_json: bool) -> None:
    """列出隔离事件：统计视图无法应用、已隔离的事件（日志位置、工单、事件类型、原因）。

    事件日志仍保存这些事件原样；视图跳过它们继续更新。修复后运行
    sanshi projections rebuild 即可重新应用（重建时仍无法应用的会再次列在这里）。"""
    runtime = _runtime_that_routes_nothing()
    try:
        projector = runtime.projector
        found = projector.quarantined(limit=limit)
        if as_json:
            for q in found:
                click.echo(json.dumps(dataclasses.asdict(q), ensure_ascii=False))
            return
        total = projector.quarantined_count()
        if not found:
            click.echo("没有隔离事件：日志中的每个事件都已应用到统计视图。")
            return
        click.echo(f"隔离事件 {total} 个（统计视图无法应用，事件日志仍保存原样）：")
        click.echo("日志位置\t工单\t版本\t事件类型\t原因")
        for q in found:
            click.echo(f"{q.position}\t{q.case_id}\t{q.version}\t{q.event_type}\t{q.error}")
        if total > len(found):
            click.echo(f"……仅列出前 {len(found)} 个（--limit）。")
    finally:
        runtime.close()


def _runtime_that_reads() -> Runtime:
    """The runtime for reading the views (``sanshi stats``), with the keyword router: the
    default one loads its sentence model and starts embedding every open case for its
    duplicate index, which a command that routes nothing would pay for in start-up time
    (bench/RESULTS.md, Stats) and, on a big database, share its CPU with. The views still catch up
    before the read, as with any runtime."""
    from adapters.bootstrap import bootstrap
    from engine.config import load_config
    from engine.routing.keyword import KeywordRouter
    from engine.settings import Settings

    settings = Settings.from_env()
    config = load_config(settings.config_path)
    return bootstrap(settings, config, router=KeywordRouter(config))


def _runtime_that_routes_nothing() -> Runtime:
    """The runtime for commands that only read the log and move the views themselves (no
    catch-up on reads or saves), with the keyword router: it starts nothing. The default router loads its sentence model and embeds every
    open case in a background thread (seconds of a core for 20,000 open cases), which a
    rebuild would share its CPU with."""
    from adapters.bootstrap import bootstrap
    from engine.config import load_config
    from engine.routing.keyword import KeywordRouter
    from engine.settings import Settings
    from projections.wiring import views_left_alone

    settings = Settings.from_env()
    config = load_config(settings.config_path)
    with views_left_alone():
        return bootstrap(settings, config, router=KeywordRouter(config))


def register(group: click.Group) -> None:
    group.add_command(stats)
    group.add_command(projections)
