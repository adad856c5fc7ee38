"""`sanshi demo`: a district's month in one command (embedded, in-process).

Simulates a few weeks of the configured district (the bundled 海城区 unless SANSHI_CONFIG says
otherwise) through the channel adapters and the application service, prints what happened and
the docs/rates.md rates from the read model, and leaves the data in an SQLite file that
``sanshi demo --keep --serve`` (or ``SANSHI_DB=sqlite:///… sanshi serve``) opens in the UI.

The simulation writes to a scratch database in memory-backed storage (/dev/shm when there is
one) and copies it to ``--db`` at the end with SQLite's backup API: a demo does not need every
one of its ten thousand commands fsync'ed, and a crash half-way leaves the previous demo file
untouched instead of half a district.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adapters.cli.demo_channels import referral_lines
from engine.vocabulary import CHANNELS, COUNTS, RATES, ROLES, STATS_DIMENSIONS

if TYPE_CHECKING:
    from adapters.bootstrap import Runtime

DEFAULT_DB = Path("sanshi-data") / "demo.db"
DEFAULT_PORT = 8311

# The seven rates, in the order of docs/rates.md, with their labels (engine.vocabulary).
RATE_FIELDS = tuple((t.code, t.label) for t in RATES)
# The ranking's rate columns.
RANKED_RATES = ("handling_rate", "on_time_rate", "response_rate", "return_rate", "satisfaction_rate")


def _scratch_dir() -> Path:
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="sanshi-demo-", dir=base))


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            p.unlink()


def _copy_db(source: Path, target: Path) -> None:
    """SQLite online backup: a consistent copy including what is still in the WAL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    _remove_db(partial)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    _remove_db(target)
    partial.replace(target)


def _has_cases(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return bool(con.execute("SELECT 1 FROM stored_events LIMIT 1").fetchone())
        finally:
            con.close()
    except sqlite3.Error:
        return False


def _settings(db_path: Path) -> Any:
    from engine.settings import Settings

    env = Settings.from_env()
    # Embedded by definition: the demo never publishes to Kafka, whatever the shell says.
    return Settings(db=f"sqlite:///{db_path}", kafka=None, config_path=env.config_path,
                    cipher_key=env.cipher_key)


def _percent(r: dict[str, Any]) -> str:
    return "—" if r["value"] is None else f"{r['value'] * 100:.1f}%"


MATURE_DAYS = 7  # cases received this long before the end have had their handling time


def read_results(runtime: Runtime, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Rates, per-channel rows and the ranking from the read model (docs/rates.md); also the rates
    of the cases received at least a week before the end (the last week's cases are mostly
    still within their handling time, which pulls 办结率 down)."""
    read_model = runtime.read_model
    total = read_model.stats(None, start, end)["total"]
    mature_end = end - dt.timedelta(days=MATURE_DAYS)
    mature = read_model.stats(None, start, mature_end)["total"] if mature_end > start else None
    by_channel = read_model.stats("channel", start, end)["rows"]
    ranking = read_model.ranking(start, end)  # per kind of unit, by the district's rule
    from projections.projects import ProjectViews
    from projections.shelf_queries import ShelfViews

    helpers = ShelfViews(read_model).figures(start, end)  # 认领大厅: counted apart, not ranked
    projects = ProjectViews(read_model).list()  # 实事项目 with their figures
    # 主动治理: the surges the detector finds in the views (adapters.simulator.proactive).
    from adapters.simulator.proactive import detected_surges
    from engine.deadlines import SHANGHAI

    now = dt.datetime.combine(end, dt.time(0, 0), tzinfo=SHANGHAI)
    return {"total": total, "mature": mature, "mature_to": mature_end.isoformat(),
            "by_channel": by_channel, "ranking": ranking, "helpers": helpers,
            "projects": projects, "surges": detected_surges(runtime, start, end, now),
            "referrals": referral_lines(runtime, start, end)}


def shelf_lines(shelf: Any, helpers: dict[str, Any] | None) -> list[str]:
    """认领大厅 and the helpers' 微服务 (counted apart from government units, never ranked)."""
    lines = [
        f"认领大厅：上架需求 {shelf['listed']} 件，认领申请 {shelf['claims']} 次"
        f"（同意 {shelf['accepted']}，拒绝 {shelf['refused']}）"
    ]
    if helpers is not None:
        total = helpers["total"]
        kinds = "，".join(f"{k['name']} {k['micro_services']}" for k in helpers["kinds"])
        rate = total["satisfaction_rate"]
        lines.append(
            f"社会力量微服务 {total['micro_services']} 件（{kinds or '无'}；办理中 {total['handling']} 件；"
            f"满意率 {_percent(rate)}，不计入承办单位排名）"
        )
    return lines


def project_lines(projects: list[dict[str, Any]]) -> list[str]:
    """实事项目: one line per project, its figures as the project view has them."""
    out = []
    for p in projects:
        f = p["figures"]
        sat = f["satisfaction_rate"]
        state = ("按期完成" if f["on_time"] else "逾期完成") if p["status"] == "completed" else "实施中"
        out.append(
            f"实事项目「{p['title']}」（牵头 {p['owner_unit_name']}）：关联工单 {f['cases']} 件，"
            f"节点 {f['milestones']} 个（完成 {f['milestones_done']}，按期 {f['milestones_on_time']}），{state}；"
            f"回访群众 {f['called_back']}/{f['cases']} 人，满意率 {_percent(sat)}（{sat['numerator']}/{sat['denominator']}）"
        )
    return out


def _ranking_row(table: Any, row: dict[str, Any], style: str) -> None:
    table.add_row(str(row["rank"]), str(row["name"]), f"{(row['score'] or 0) * 100:.1f}",
                  str(row["dispatched"]), *(_percent(row[f]) for f in RANKED_RATES), style=style)


def _token_hints(config: Any) -> list[tuple[str, str]]:
    """Only demo tokens are shown: a real district's tokens are secrets."""
    out: list[tuple[str, str]] = []
    # Each role with the screen it opens on.
    role_zh = {
        "operator": f"{ROLES.label('operator')}（受理台）",
        "leader": f"{ROLES.label('leader')}（领导驾驶舱）",
        "admin": ROLES.label("admin"),
    }
    for t in config.tokens:
        if not t.token.startswith("demo-"):
            continue
        if t.role.value in role_zh:
            out.append((role_zh.pop(t.role.value), t.token))
    unit_tokens = [t for t in config.tokens if t.role.value == "unit" and t.token.startswith("demo-")]
    if unit_tokens:
        t = unit_tokens[0]
        name = config.unit(t.unit).name if t.unit else ""
        out.append((f"承办单位（工单箱，如{name}）", f"{t.token}（各单位为 demo-unit-<单位id>）"))
    return out


def render(console: Any, report: Any, results: dict[str, Any], db: Path, seconds: float,
           config: Any, host: str, port: int) -> None:
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    from adapters.simulator.partner_channels import summary_lines as partner_summary_lines

    d = report.to_dict()
    first_day = report.start.date()
    last_day = (report.end - dt.timedelta(seconds=1)).date()
    days = (report.end - report.start).days
    district = f"{config.district.name}（{config.district.city}）" if config.district.city else config.district.name
    console.print(Panel.fit(
        f"[bold]「三事」演示 · {district}[/bold]\n"
        f"{first_day} 至 {last_day}，共 {days} 天 · 种子 {report.seed} · 规模 {report.scale:g}",
        border_style="cyan",
    ))

    # ---- what was simulated
    t = Table(title="一、模拟了什么（各渠道的原始记录 → 渠道适配 → 受理）", box=box.SIMPLE_HEAD)
    channel_col = STATS_DIMENSIONS.label("channel")
    for col in (channel_col, "原始记录", COUNTS.label("received"), "重复提交", "警务过滤", "死信"):
        t.add_column(col, justify="left" if col == channel_col else "right")
    for row in report.channel_rows():
        t.add_row(CHANNELS.label(row["channel"]), str(row["records"]), str(row["accepted"]),
                  str(row["duplicate"]), str(row["filtered"]), str(row["dead_lettered"]))
    t.add_section()
    rows = report.channel_rows()
    t.add_row("合计", *(str(sum(r[k] for r in rows)) for k in
                       ("records", "accepted", "duplicate", "filtered", "dead_lettered")),
              style="bold")
    console.print(t)
    a, o = report.actions, report.outcomes_of_actions
    lines = [
        f"智能分拨：直接派单 {report.routed['dispatched']} 件，转人工 {report.routed['manual']} 件，"
        f"合并重复件 {report.routed['merged']} 件"
        f"（同一事件 {report.merges_true} 件，误合并不同事件 {report.merges_false} 件；"
        f"同一事件的重复反映共 {report.repeat_reports} 件）",
        f"承办单位：签收 {a['claim']} 次，退单 {a['return']} 次，"
        f"申请延期 {a['request_extension']} 次（批准 {o['extension_granted']}，驳回 {o['extension_denied']}），"
        f"调解 {a['start_mediation']} 次（成功 {o['mediation_agreed']}，未成功 {o['mediation_failed']}），"
        f"办结 {a['resolve']} 次",
        f"中心：人工派单 {o['dispatched_by_hand']} 次（其中改分类 {o['reclassified']} 次），"
        f"直办 {o['answered_directly']} 件，不予受理 {o['rejected']} 件，"
        f"督办（超时自动） {report.escalations} 次",
        f"退单审核：{a['review_return']} 次（同意转派 {o['return_approved']}，其中转给退单建议的单位 "
        f"{o['return_to_suggested']}；不同意、退回原单位 {o['return_refused']}）",
        f"回访：{a['follow_up']} 次（其中未接通 {o['callback_unanswered']} 次），"
        f"不满意或未解决重办 {o['reopened']} 件，未接通结案 {o['follow_up_unreachable']} 件",
    ]
    c = report.coop
    lines += [
        f"主办/协办：协办件 {c['assist_cases']} 件，协办部分 {c['parts']} 个（签收 {c['parts_claimed']}，"
        f"反馈 {c['parts_reported']}，退回 {c['parts_returned']}，中心关闭 {c['parts_closed']}；"
        f"协办超时督办 {c['part_escalations']} 次）",
        f"吹哨报到：吹哨 {c['whistles']} 次，点名部门 {c['called']} 个，按时报到 {c['reported_in_on_time']} 个，"
        f"逾期报到 {c['reported_in_late']} 个",
        f"一表通：表单 {c['forms']} 张，事项 {report.form_items} 个（各自立案分拨）",
        f"中心：转办 {c['transfers']} 次；挂起申请 {c['holds_requested']} 次（同意 {c['holds_granted']}，"
        f"不同意 {c['holds_denied']}，恢复办理 {c['resumed']} 次）",
        f"领导批示 {c['instructions']} 件（已回复 {c['instructions_answered']}，按时 {c['instructions_on_time']}）；"
        f"通报 {c['notices']} 次，追责 {c['accountabilities']} 次",
    ]
    lines += shelf_lines(report.shelf, results.get("helpers"))
    lines += partner_summary_lines(report)  # 网格员上报 / 企呼市应
    lines += results.get("referrals", [])  # 媒体监督 诉前调解 镇呼市应 (adapters/cli/demo_channels.py)
    if report.surge:
        lines.append(f"台风日 {report.surge}：当天记录 {report.surge_records} 条（停电、积水、树倒集中反映）")
    lines += project_lines(results.get("projects") or [])
    if "surges" in results:
        from adapters.simulator.proactive import surge_lines

        lines += surge_lines(results["surges"])
    if d["refused"]:
        lines.append(f"引擎拒绝的操作：{d['refused']}")
    for line in lines:
        console.print(f"  · {line}")
    console.print()

    # ---- the seven rates
    total = results["total"]
    rt = Table(title=f"二、{config.district.name}七率（受理日期 {first_day} 至 {last_day}）", box=box.SIMPLE_HEAD)
    rt.add_column("指标")
    rt.add_column("比率", justify="right")
    rt.add_column("分子/分母", justify="right")
    mature = results.get("mature")
    if mature is not None:
        rt.add_column(f"{results['mature_to']} 前受理的", justify="right")
    for field, zh in RATE_FIELDS:
        r = total[field]
        cells = [zh, _percent(r), f"{r['numerator']}/{r['denominator']}"]
        if mature is not None:
            m = mature[field]
            cells.append(f"{_percent(m)}  [dim]{m['numerator']}/{m['denominator']}[/dim]")
        rt.add_row(*cells)
    console.print(rt)

    # ---- ranking: each kind of unit apart, the district's rule printed under it
    ranking = results["ranking"]
    console.print("[bold]三、承办单位排名[/bold]（按单位类型分别排名；每类前三与后三）")
    for group in ranking["groups"]:
        rows = group["rows"]
        title = f"{group['kind_name']}（{len(rows)} 个参与排名，{len(group['unranked'])} 个样本不足）"
        if not rows:
            console.print(f"  {title}")
            continue
        tt = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        for col in ("名次", "单位", "得分", COUNTS.label("dispatched"), *(RATES.label(f) for f in RANKED_RATES)):
            tt.add_column(col, justify="left" if col == "单位" else "right", no_wrap=True)
        top, bottom = (rows, []) if len(rows) <= 6 else (rows[:3], rows[-3:])
        for row in top:
            _ranking_row(tt, row, "green" if bottom else "")
        if bottom:
            tt.add_section()
            for row in bottom:
                _ranking_row(tt, row, "red")
        console.print(tt)
    console.print(f"[dim]{ranking['definition']}[/dim]")

    # ---- next steps
    console.print(f"[bold]四、下一步[/bold]  数据已保存到 {db}")
    console.print(f"  · 打开界面：[bold]sanshi demo --keep --serve[/bold]（直接用这份数据）"
                  f"或 [bold]sanshi demo --serve[/bold]（重新模拟后启动），浏览器访问 http://{host}:{port}/")
    console.print(f"  · 也可以：SANSHI_DB=sqlite:///{db} sanshi serve / sanshi stats --by unit")
    console.print("  · 演示账号：以 --serve 启动时，登录页为每个角色（话务员、街道、职能部门、社区、司法所、志愿服务队、领导、管理员）"
                  "各有一个按钮，点击即以该人员身份登录，所有操作记在其名下")
    hints = _token_hints(config)
    if hints:
        console.print("  · 登录令牌：" + "；".join(f"{who} {tok}" for who, tok in hints))
    else:
        console.print("  · 登录令牌：使用配置文件 tokens 中的令牌")
    console.print(
        f"  · 用时 {seconds:.1f} 秒（模拟 {report.wall_seconds:.1f} 秒，"
        f"{report.accepted} 件，{report.accepted / max(report.wall_seconds, 1e-9):.0f} 件/秒）"
    )


def _serve(db: Path, host: str, port: int) -> None:
    import uvicorn

    from adapters.bootstrap import bootstrap
    from adapters.http import create_app

    runtime = bootstrap(_settings(db))
    click.echo(f"sanshi 演示界面：http://{host}:{port}/  （数据 {db}；登录页每个角色一个演示账号按钮；Ctrl+C 退出）")
    try:
        # Demo mode: the login screen's one button per role (adapters/http/demo_login.py).
        uvicorn.run(create_app(runtime, demo=True), host=host, port=port, log_level="info", access_log=False)
    finally:
        runtime.close()


@click.command("demo")
@click.option("--days", type=click.IntRange(1, 366), default=21, show_default=True, help="模拟天数")
@click.option("--scale", type=click.FloatRange(0.01, 50.0), default=1.0, show_default=True,
              help="日均诉求量的倍数")
@click.option("--seed", type=int, default=7, show_default=True, help="随机种子（相同种子结果相同）")
@click.option("--start", "start_day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="第一天（默认：今天往前 --days 天）")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB,
              show_default=True, help="演示数据 SQLite 文件（每次重新生成，除非 --keep）")
@click.option("--keep", is_flag=True, help="已有演示数据时不重新模拟，直接使用")
@click.option("--serve", is_flag=True, help="模拟完成后启动网页界面")
@click.option("--host", default="127.0.0.1", show_default=True, help="--serve 的监听地址")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="--serve 的监听端口")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def demo(days: int, scale: float, seed: int, start_day: dt.datetime | None, db_path: Path, keep: bool,
         serve: bool, host: str, port: int, fmt: str) -> None:
    """一条命令看一个区的一个月：模拟各渠道的诉求与各单位办理，打印七率与单位排名。"""
    from rich.console import Console

    from engine.deadlines import SHANGHAI

    started = time.perf_counter()
    out = Console()
    if not out.is_terminal:
        out = Console(width=120)  # piped or captured: the ranking table needs the room
    err = Console(stderr=True)
    if keep and _has_cases(db_path):
        if fmt == "table":
            err.print(f"使用已有演示数据 {db_path}（--keep），不重新模拟")
        if serve:
            _serve(db_path, host, port)
        return

    if start_day is None:
        today = dt.datetime.now(SHANGHAI).date()
        first = today - dt.timedelta(days=days)
    else:
        first = start_day.date()
    start = dt.datetime.combine(first, dt.time(0, 0), tzinfo=SHANGHAI)

    from adapters.bootstrap import bootstrap
    from adapters.simulator import simulate

    scratch = _scratch_dir()
    work = scratch / "demo.db"
    try:
        runtime = bootstrap(_settings(work))
        try:
            # 知识库: the demo district's answers (demo content, marked so in their source).
            from engine.knowledge import seed_demo

            seed_demo(runtime.app, runtime.config, at=start)
            # 演示账号: one named person per role, for the login screen's buttons in demo mode.
            from adapters.http.demo_login import seed_demo_people
            from adapters.http.people import People

            seed_demo_people(People(runtime.views_engine, runtime.config), runtime.config)
            report = _simulate(runtime, days, start, seed, scale, err if fmt == "table" else None, simulate)
            results = read_results(runtime, first, first + dt.timedelta(days=days))
            config = runtime.config
        finally:
            runtime.close()
        _copy_db(work, db_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started

    if fmt == "json":
        click.echo(json.dumps({
            "db": str(db_path),
            "seconds": round(seconds, 2),
            "simulation": report.to_dict(),
            "rates": {f: results["total"][f] for f, _ in RATE_FIELDS},
            "total": results["total"],
            "mature": {"to": results["mature_to"], "total": results["mature"]},
            "by_channel": results["by_channel"],
            "ranking": results["ranking"],
            "helpers": results["helpers"],
            "projects": results["projects"],
            "surges": results["surges"],
        }, ensure_ascii=False, indent=2, default=str))
    else:
        render(out, report, results, db_path, seconds, config, host, port)
    if serve:
        _serve(db_path, host, port)


def _simulate(runtime: Runtime, days: int, start: dt.datetime, seed: int, scale: float,
              console: Any, simulate: Any) -> Any:
    if console is None:
        return simulate(runtime, days=days, start=start, seed=seed, scale=scale)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("模拟中"), BarColumn(), MofNCompleteColumn(), TextColumn("天"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("days", total=days)
        return simulate(runtime, days=days, start=start, seed=seed, scale=scale,
                        progress=lambda done, _n: progress.update(task, completed=done))


def register(group: click.Group) -> None:
    group.add_command(demo)
