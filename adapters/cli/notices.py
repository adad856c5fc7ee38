"""`sanshi notices`: the notices' outbox (docs/notifications.md): how many were sent, withheld,
given up or are waiting, and the rows themselves with their reasons (no address is printed)."""

from __future__ import annotations

import json

import click

from engine.vocabulary import NOTICE_CHANNELS, NOTICE_KINDS

STATUS_ZH = {"pending": "待发送", "sent": "已发送", "withheld": "不发送", "dead": "已放弃"}


@click.command("notices")
@click.option("--status", type=click.Choice(sorted(STATUS_ZH)), default=None, help="只列出此状态")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def notices_command(status: str | None, limit: int, fmt: str) -> None:
    """列出通知（发件箱）：各状态数量，以及每条通知的类型、渠道、对象、尝试次数与原因。"""
    from adapters.cli.intake import _runtime

    runtime = _runtime("keyword")  # listing routes nothing
    try:
        notifier = runtime.notifier
        if notifier is None:
            click.echo(
                "未配置通知渠道（SANSHI_SMTP_URL、SANSHI_WEBHOOK_URL、SANSHI_SMS_URL 均未设置），没有通知"
            )
            return
        counts = notifier.counts()
        rows = notifier.rows(status=status)[-limit:]
    finally:
        runtime.close()
    if fmt == "json":
        click.echo(json.dumps({"counts": counts, "notices": [r.to_dict() for r in rows]}, ensure_ascii=False))
        return
    click.echo("，".join(f"{STATUS_ZH.get(k, k)} {n}" for k, n in sorted(counts.items())) or "没有通知")
    for r in rows:
        click.echo(
            f"{STATUS_ZH.get(r.status, r.status)}\t{NOTICE_KINDS.label(r.kind)}\t"
            f"{NOTICE_CHANNELS.label(r.channel)}\t{r.target}\t"
            f"{r.case_id or '-'}\t尝试 {r.attempts} 次\t{r.reason}"
        )


def register(group: click.Group) -> None:
    group.add_command(notices_command)
