"""``sanshi ingest``, ``sanshi dlq list``, ``sanshi worker`` (docs/channels.md, docs/http-api.md).

Exit status (``adapters.cli.exits``): 0 when every record was taken (accepted, duplicate, or
filtered as police business); 1 when some or all records were dead-lettered or Kafka did not
acknowledge them; 2 for a usage error (unknown channel, missing file, no SANSHI_KAFKA for the
worker) or a file refused as a whole (not UTF-8 / UTF-8 BOM / GB18030, or a CSV header without
a required column: said once, nothing of it stored, the other files still read); 3 when
PostgreSQL or Kafka is unreachable (one line naming the variable and the address to check).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from adapters.channels import CHANNELS, read_path
from adapters.channels.columns import column_check
from adapters.channels.reading import FileRefused
from adapters.cli import exits
from engine.vocabulary import CHANNELS as CHANNEL_TERMS

if TYPE_CHECKING:
    from adapters.bootstrap import Publisher, Runtime

LABELS = {
    "accepted": "已受理 accepted",
    "queued": "已发布 queued",
    "duplicate": "重复 duplicate",
    "filtered": "留公安 filtered",
    "dead_lettered": "死信 dead-lettered",
    "failed": "发布失败 failed",
}
LARGE_FILE_BYTES = 1024 * 1024


def _runtime(router: str = "learning", *, warm_index: bool = True) -> Runtime:
    from adapters.bootstrap import bootstrap

    if router == "keyword":
        from engine.config import load_config
        from engine.routing.keyword import KeywordRouter
        from engine.settings import Settings

        settings = Settings.from_env()
        config = load_config(settings.config_path)
        return bootstrap(settings, config, KeywordRouter(config), warm_index=warm_index)
    return bootstrap(warm_index=warm_index)


def _publisher() -> Publisher:
    """What ``sanshi ingest`` needs with Kafka (``adapters.bootstrap.Publisher``): no event
    store, views or router."""
    from adapters.bootstrap import publisher

    return publisher()


@click.command("ingest", epilog=exits.HELP)
@click.argument("channel", type=click.Choice(sorted(CHANNELS)))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="输出格式 / output format",
)
@click.option(
    "--input-format", type=click.Choice(["auto", "json", "csv"]), default="auto",
    show_default=True, help="文件格式（默认按扩展名/内容判断）",
)
@click.option("--batch-size", type=click.IntRange(1, 10000), default=500, show_default=True)
def ingest_command(channel: str, files: tuple[str, ...], fmt: str, input_format: str, batch_size: int) -> None:
    """导入渠道文件：CHANNEL 为 hotline / police / app / walkin / grid / enterprise。

    每条记录计为 已受理、重复、留公安（警情不属受理范围）或 死信 之一；设置 SANSHI_KAFKA
    时“已发布”表示已由 Kafka 确认，由 sanshi worker 受理。文件编码须为 UTF-8、带 BOM 的
    UTF-8 或 GB18030；CSV 表头须有该渠道的必需列，否则整个文件不导入（只报一次）。
    """
    from adapters.transport import IngestReport, ingest, intake_port

    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise click.UsageError("文件不存在 (no such file): " + ", ".join(missing))
    err = Console(stderr=True)
    runtime: Publisher = _publisher() if os.environ.get("SANSHI_KAFKA") else _runtime()
    try:
        port = intake_port(runtime)
        report = IngestReport(mode=port.mode)
        seen: set[bytes] = set()
        refused: list[str] = []
        for name in files:
            size = Path(name).stat().st_size
            show = size >= LARGE_FILE_BYTES and err.is_terminal and fmt == "table"
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
                disable=not show,
            ) as progress:
                task = progress.add_task(Path(name).name, total=size)

                def advance(done: int, task: Any = task, progress: Progress = progress) -> None:
                    progress.update(task, completed=done)

                records = read_path(
                    name,
                    None if input_format == "auto" else input_format,  # type: ignore[arg-type]
                    progress=advance,
                    columns=column_check(channel),
                )
                try:
                    ingest(runtime, channel, records, source=name, report=report,
                           batch_size=batch_size, seen=seen)
                except FileRefused as refusal:
                    # Once for the file, not once per line: nothing of it was stored.
                    refused.append(name)
                    err.print(f"文件未导入 (file refused): {refusal.reason}", markup=False,
                              highlight=False, soft_wrap=True)
    except Exception as e:
        from kafka.errors import KafkaError

        message = exits.unreachable(e)
        if message is not None:
            click.echo(message, err=True)
            sys.exit(exits.UNREACHABLE)
        if isinstance(e, KafkaError | OSError):
            err.print(f"[red]导入中断 (ingest aborted): {type(e).__name__}: {e}[/red]")
            sys.exit(exits.INCOMPLETE)
        raise
    finally:
        runtime.close()
    if fmt == "json":
        click.echo(json.dumps({**report.to_dict(), "refused_files": refused},
                              ensure_ascii=False, indent=2))
    else:
        _print_report(report, channel)
    if report.counts["failed"]:
        sys.exit(exits.INCOMPLETE)
    if refused:
        sys.exit(exits.REFUSED)
    if report.counts["dead_lettered"]:
        sys.exit(exits.DEAD_LETTERED)


def _print_report(report: Any, channel: str) -> None:
    out = Console()
    kafka = report.mode == "kafka"
    shown = ["queued" if kafka else "accepted", "duplicate", "filtered", "dead_lettered"]
    if report.counts["failed"]:
        shown.append("failed")
    table = Table(title=f"{CHANNEL_TERMS.label(channel)} 导入结果 (ingest)")
    table.add_column("文件 file")
    for status in shown:
        table.add_column(LABELS[status], justify="right")
    for source, counts in report.per_source.items():
        table.add_row(source, *(str(counts[s]) for s in shown))
    table.add_row("[bold]合计 total[/bold]", *(f"[bold]{report.counts[s]}[/bold]" for s in shown))
    out.print(table)
    rate = report.records / report.seconds if report.seconds else 0.0
    out.print(f"共 {report.records} 条，用时 {report.seconds:.2f}s（{rate:,.0f} 条/秒）")
    if kafka:
        out.print("已发布 = Kafka 已确认接收，由 sanshi worker 受理（重复在 worker 中识别）"
                  " (queued = acknowledged by Kafka; the worker receives them)")
    if report.dead_letters:
        out.print(f"[yellow]死信 {len(report.dead_letters)} 条（sanshi dlq list 查看原文）:[/yellow]")
        for position, reason in report.dead_letters[:20]:
            out.print(f"  {position}  {reason}", markup=False)
        if len(report.dead_letters) > 20:
            out.print(f"  … 另有 {len(report.dead_letters) - 20} 条")
    if report.failures:
        out.print(f"[red]发布失败 {len(report.failures)} 条，请重新导入（重复的会被识别）:[/red]")
        for position, reason in report.failures[:20]:
            out.print(f"  {position}  {reason}", markup=False)


@click.group("dlq")
def dlq_group() -> None:
    """死信（无法读取的记录）。"""


@dlq_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--channel", type=click.Choice(sorted(CHANNELS)), default=None)
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@click.option("--raw/--no-raw", "show_raw_text", default=False, help="表格中显示原文")
def dlq_list(fmt: str, channel: str | None, limit: int, show_raw_text: bool) -> None:
    """列出死信：渠道、原因、位置（文件:行 或 topic:分区:偏移）与原文。"""
    from adapters.transport import dead_letter_store
    from adapters.transport.dead_letters import show_raw

    runtime = _runtime("keyword")  # listing routes nothing
    try:
        store = dead_letter_store(runtime)
        rows = store.list(limit=limit, channel=channel)
        total = store.count(channel)
    finally:
        runtime.close()
    if fmt == "json":
        click.echo(json.dumps(
            {
                "total": total,
                "dead_letters": [
                    {
                        "id": r["id"],
                        "channel": r["channel"],
                        "reason": r["reason"],
                        "position": r["position"],
                        "source": r["source"],
                        "created_at": r["created_at"].isoformat() if r["created_at"] else None,
                        "raw_size": r["raw_size"],
                        "raw_sha256": r["raw_sha256"],
                        "raw_truncated": r["raw_size"] > len(r["raw"]),
                        "redacted": r["redacted"],
                        "raw_text": show_raw(r["raw"]),
                        "raw_b64": base64.b64encode(r["raw"]).decode("ascii"),
                    }
                    for r in rows
                ],
            },
            ensure_ascii=False,
            indent=2,
        ))
        return
    out = Console()
    if not rows:
        out.print("没有死信 (no dead letters)")
        return
    table = Table(title=f"死信 dead letters（共 {total} 条，显示 {len(rows)} 条）")
    for col in ("时间", "渠道", "位置 position", "原因 reason", "大小"):
        table.add_column(col, overflow="fold")
    if show_raw_text:
        table.add_column("原文 raw", overflow="fold")
    for r in rows:
        size = f"{r['raw_size']:,}B" + (" (已截断)" if r["raw_size"] > len(r["raw"]) else "")
        if r["redacted"]:
            size += " 已脱敏"
        cells = [
            r["created_at"].strftime("%Y-%m-%d %H:%M:%S") if r["created_at"] else "",
            r["channel"],
            r["position"],
            r["reason"],
            size,
        ]
        if show_raw_text:
            cells.append(show_raw(r["raw"])[:300])
        table.add_row(*cells)
    out.print(table)


def _session_timeout(given: float | None, instance_id: str | None) -> float:
    """A static member (``--instance-id``) keeps its partitions while it restarts, which is
    what static membership is for: the group rebalances only if it is away longer than this.
    The learning router's start (models, the places' open cases) takes 5-20 s on a loaded
    machine, so 10 s turned each restart into two rebalances of the whole group (bench/RESULTS.md
    "Workers killed every ~10 s"); a dynamic member's partitions should move on sooner."""
    if given is not None:
        return given
    return 45.0 if instance_id else 10.0


@click.command("worker", epilog=exits.HELP)
@click.option("--clock-interval", type=float, default=30.0, show_default=True,
              help="督办时钟间隔（秒），0 关闭")
@click.option("--idle-exit", type=float, default=None,
              help="全部消费完且空闲这么多秒后退出（测试与批处理用）")
@click.option("--instance-id", default=lambda: os.environ.get("SANSHI_WORKER_ID") or None,
              help="静态成员 id（重启后立即接管分区）；默认取 SANSHI_WORKER_ID")
@click.option("--max-poll-records", type=click.IntRange(1, 10000), default=500, show_default=True)
@click.option("--session-timeout", type=click.FloatRange(6.0, 300.0), default=None,
              help="组会话超时（秒）：超过这么久没有心跳，Kafka 把分区交给其他 worker；"
                   "默认 10，静态成员（--instance-id）默认 45，重启期间不触发重新分配")
@click.option("--no-projections", is_flag=True, help="不在 worker 中更新统计视图")
@click.option("--standby-retry", type=click.FloatRange(0.1, 60.0), default=1.0, show_default=True,
              help="督办时钟、通知由一个 worker 值守；其余 worker 待命，每隔这么多秒尝试接管")
@click.option(
    "--router", type=click.Choice(["learning", "keyword"]), default="learning", show_default=True,
    help="分拨器：learning（含句向量模型）或 keyword（关键词基线，更快、精度较低）",
)
@click.option("--city", "city_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="市级部署：市级配置文件（与 sanshi serve --city 相同），须同时给 --district")
@click.option("--district", default=None,
              help="市级部署中本 worker 负责的区（该区自己的数据库和 Kafka 主题）")
def worker_command(
    clock_interval: float,
    idle_exit: float | None,
    instance_id: str | None,
    max_poll_records: int,
    session_timeout: float | None,
    no_projections: bool,
    standby_retry: float,
    router: str,
    city_file: str | None,
    district: str | None,
) -> None:
    """消费 Kafka（sanshi.intake / sanshi.dlq）：解析 → 受理（一次事务）→ 提交位移。"""
    from adapters.transport.kafka import KafkaSettings
    from adapters.transport.worker import Worker, WorkerOptions

    logging.basicConfig(
        level=os.environ.get("SANSHI_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Its INFO is a line per connection, and an unreachable broker is an ERROR line per retry:
    # the CLI says that once (exits.kafka_message).
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if (city_file is None) != (district is None):
        raise click.UsageError("--city 与 --district 须同时给出")
    if city_file is not None and district is not None:
        if router != "learning":
            raise click.UsageError("市级部署的 worker 使用各区的 learning 分拨器")
        from adapters.city import UnknownDistrict, district_runtime

        try:
            runtime = district_runtime(city_file, district, warm_index=False)
        except UnknownDistrict as e:
            raise click.UsageError(str(e)) from None
    else:
        # Its places' open cases come with its partitions.
        runtime = _runtime(router, warm_index=False)
    if not runtime.settings.kafka:
        runtime.close()
        raise click.UsageError("未设置 SANSHI_KAFKA（worker 只在 Kafka 模式下运行）")
    worker = Worker(
        runtime,
        KafkaSettings.from_env(
            runtime.settings.kafka,
            cipher_key=runtime.settings.cipher_key,
            prefix=runtime.settings.kafka_prefix,
        ),
        WorkerOptions(
            clock_interval=clock_interval,
            max_poll_records=max_poll_records,
            session_timeout_ms=round(1000 * _session_timeout(session_timeout, instance_id)),
            instance_id=instance_id,
            projections=not no_projections,
            standby_retry=standby_retry,
        ),
    )

    def _stop(signum: int, _frame: Any) -> None:
        logging.getLogger("sanshi.worker").info("signal %d: finishing the current poll", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        stats = worker.run(idle_exit=idle_exit)
    finally:
        runtime.close()
    click.echo(json.dumps(stats.as_dict(), ensure_ascii=False), err=True)


def register(group: click.Group) -> None:
    group.add_command(ingest_command)
    group.add_command(dlq_group)
    group.add_command(worker_command)
