"""`sanshi projections rebuild` survives kill -9, and `sanshi stats` output formats.

The crash test runs the real CLI in a subprocess against a database file (or a PostgreSQL
database), kills it with SIGKILL half-way, and checks that (1) what was committed is exactly
the log up to the tracked position — never half a batch — and (2) running the command again,
resumed or from scratch, ends with the very same views as an uninterrupted rebuild.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from adapters.bootstrap import Runtime
from adapters.cli import main
from engine.admin import DistrictAdmin
from engine.domain import Case, Rating
from engine.knowledge import KnowledgeEntry
from projections.projector import Projector
from projections.queries import ReadModel
from projections.tables import (
    make_engine,
    view_cases,
    view_counts,
    view_counts_month,
    view_knowledge,
    view_knowledge_proposals,
    view_lessons,
    view_open_cases,
    view_tracking,
)
from tests.support.fold_oracle import (
    LAMP,
    T0,
    assert_stats_match,
    expected_stats,
    intake,
    make_runtime,
)
from tests.unit.test_projections_properties import table_rows

REPO = Path(__file__).resolve().parents[2]
BYS = (None, "unit", "channel", "category", "street", "month")
UNITS = [
    ("chengguan", "city_management"),
    ("zhujian", "housing"),
    ("renshe", "labour"),
    ("chatinglu", "municipal"),
    ("zhongjie-sfs", "dispute"),
]


def write_log(rt: Runtime, cases: int, seed: int = 5) -> int:
    """A log of interleaved lifecycles, written fast: domain commands and one save per
    simulated hour (this test is about the projector, not the service). Returns the cases
    received: the ``cases`` dispatched ones and the 咨询 answered from the knowledge base
    between them (received too, and counted so in the figures)."""
    rnd = random.Random(seed)
    rt.app.on_saved = None
    live: dict[Any, tuple[Case, int, str]] = {}
    made, hour, asked_count = 0, 0, 0
    while made < cases or live:
        at = T0 + dt.timedelta(hours=hour)
        hour += 1
        touched: list[Case] = []
        for cid in list(live):
            if rnd.random() > 0.2:
                continue
            case, step, unit = live[cid]
            touched.append(case)
            done = False
            if step == 0:
                case.claim(unit=unit, principal="u", at=at + dt.timedelta(hours=rnd.choice([0, 30])))
            elif step == 1 and rnd.random() < 0.1:
                case.return_case(unit=unit, reason="非本单位", principal="u", at=at)
                done = True  # left at the centre (or the next unit; never acted on again)
            elif step == 1:
                if case.category == "dispute":
                    case.start_mediation(unit=unit, principal="u", at=at)
                    case.conclude_mediation(unit=unit, agreement=rnd.random() < 0.8, summary="", principal="u", at=at)
                case.resolve(unit=unit, result="已办结", principal="u", at=at)
            else:
                rating = rnd.choice([Rating.SATISFIED] * 6 + [Rating.BASICALLY_SATISFIED, Rating.DISSATISFIED])
                case.follow_up(solved=rating != Rating.DISSATISFIED, rating=rating, comment="", centre="centre", principal="o", at=at)
                done = True  # closed, or reopened and waiting at the centre
            if done:
                del live[cid]
            else:
                live[cid] = (case, step + 1, unit)
        if hour == 1:
            # 管理设置 events between the cases': no case row, no count (engine.admin).
            admin = DistrictAdmin(principal="a", at=at)
            change: dict[str, list[Any]] = {"category": [None, "other"], "keywords": [None, ["某词"]], "to": [None, "locality"], "priority": [None, 100]}
            admin.rule_added(rule="r1", change=change, principal="a", at=at)
            touched.append(admin)
        if hour % 25 == 1 and made < cases:
            # 知识库 events between the cases': an entry, edited, a 咨询 answered from it.
            entry = KnowledgeEntry(
                ref=f"R{hour}", question=f"第{hour}问", answer="答复", category="", unit="",
                source="", valid_from=None, valid_until=None, principal="o", at=at,
            )
            entry.edit(values={"answer": f"答复{hour}"}, principal="o", at=at)
            asked = Case(
                channel="hotline", source_ref=f"Q{hour}", received_at=at, content=f"第{hour}问",
                address="", caller_name="", caller_phone="", appeal_type="", urgent=False,
                category_hint="", concern="worry", extra={}, principal="p", at=at,
            )
            asked.answer_directly(
                answer="答复", centre="centre", principal="o", at=at, entry=str(entry.id)
            )
            touched.extend([entry, asked])
            asked_count += 1
        for _ in range(min(15, cases - made)):
            unit, category = UNITS[made % len(UNITS)]
            case = Case(
                channel=rnd.choice(["hotline", "police", "app", "walkin"]), source_ref=f"K{made}",
                received_at=at, content=f"第{made}号诉求", address="", caller_name="", caller_phone="",
                appeal_type="", urgent=False, category_hint="", concern="worry", extra={},
                principal="p", at=at,
            )
            case.classify(category=category, urgent=False, locality=None, street=rnd.choice(["zhongjie", "dongjie", None]), reason={}, override=False, principal="p", at=at)
            case.dispatch_to(unit=unit, claim_deadline=at + dt.timedelta(days=1), handle_deadline=at + dt.timedelta(days=5), reason={}, principal="p", at=at)
            live[case.id] = (case, 0, unit)
            touched.append(case)
            made += 1
        if touched:
            rt.app.save(*touched)
    return made + asked_count


def cli_env(db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    env["SANSHI_DB"] = db
    env["PYTHONPATH"] = str(REPO)
    return env


def run_cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from adapters.cli import main; main()", *args],
        cwd=REPO, env=cli_env(db), capture_output=True, text=True, timeout=600,
    )


def position(engine: Any) -> int:
    with engine.connect() as conn:
        value = conn.execute(select(view_tracking.c.position)).scalar()
    return int(value or 0)


def kill_mid_rebuild(db: str, engine: Any, head: int, *args: str) -> int:
    """Start the rebuild, SIGKILL it once it is between 20% and 80% of the way; returns the
    position it reached."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from adapters.cli import main; main()", "projections", "rebuild", *args],
        cwd=REPO, env=cli_env(db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        seen_reset = "--resume" in args
        while time.monotonic() < deadline:
            pos = position(engine)
            seen_reset = seen_reset or pos < head * 0.2
            if seen_reset and head * 0.2 <= pos <= head * 0.8:
                break
            assert proc.poll() is None, f"rebuild ended before it could be killed: {proc.stderr and proc.stderr.read()}"
            time.sleep(0.005)
        else:
            pytest.fail("rebuild never reached the middle of the log")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return position(engine)


def snapshot(engine: Any, config: Any) -> dict[str, Any]:
    rm = ReadModel(engine, config)
    out: dict[str, Any] = {str(by): rm.stats(by) for by in BYS}
    for table in (
        view_cases, view_open_cases, view_counts, view_counts_month, view_lessons,
        view_knowledge, view_knowledge_proposals,
    ):
        out[table.name] = table_rows(engine, table)
    return out


def crash_and_recover(db: str, views_url: str) -> None:
    rt = make_runtime(db)
    try:
        write_log(rt, cases=1200)
        head = rt.projector.head()
        assert head > 6_000
        notes = rt.app.recorder.select_notifications(None, head + 1)
        events = [rt.app.mapper.to_domain_event(n) for n in notes]
        # The reference: an uninterrupted rebuild into a database of its own.
        ref_engine = make_engine("sqlite://")
        ref = Projector(rt.app, ref_engine)
        ref.ensure_schema()
        ref.catch_up()
        reference = snapshot(ref_engine, rt.config)
        ref_engine.dispose()
        config = rt.config
    finally:
        rt.close()

    engine = make_engine(views_url)
    try:
        # 1. Killed half-way: the views hold exactly the events up to the tracked position.
        pos = kill_mid_rebuild(db, engine, head, "--batch-size", "100")
        assert 0 < pos < head
        prefix = [e for n, e in zip(notes, events, strict=True) if n.id <= pos]
        partial = ReadModel(engine, config)  # no catch-up: what the killed process committed
        for by in BYS:
            assert_stats_match(partial.stats(by), expected_stats(prefix, by))

        # 2. Resumed: the same views as the uninterrupted rebuild.
        done = run_cli(db, "projections", "rebuild", "--resume")
        assert done.returncode == 0, done.stderr
        assert position(engine) == head
        assert snapshot(engine, config) == reference

        # 3. Killed again, then rebuilt from scratch: the same again.
        kill_mid_rebuild(db, engine, head, "--batch-size", "100")
        again = run_cli(db, "projections", "rebuild")
        assert again.returncode == 0, again.stderr
        assert "完成" in again.stdout
        assert snapshot(engine, config) == reference
    finally:
        engine.dispose()


@pytest.mark.slow
def test_rebuild_killed_midway_on_sqlite_recovers_the_same_numbers(tmp_path: Path) -> None:
    path = tmp_path / "sanshi.db"
    crash_and_recover(f"sqlite:///{path}", f"sqlite:///{path}")


@pytest.mark.postgres
@pytest.mark.slow
def test_rebuild_killed_midway_on_postgres_recovers_the_same_numbers(fresh_postgres_url: str) -> None:
    crash_and_recover(fresh_postgres_url, fresh_postgres_url)


# ---------------------------------------------------------------------------------------------
# sanshi stats
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def stats_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    rt = make_runtime(db)
    app = rt.app
    try:
        for n in range(3):
            r = app.receive(intake(LAMP.format(n=n), f"茶亭路{n}号", at=T0 + dt.timedelta(days=n)))
            if n < 2:
                app.claim(r.case_id, r.unit, "u", at=T0 + dt.timedelta(days=n, hours=1))
                app.resolve(r.case_id, r.unit, "已修复", "u", at=T0 + dt.timedelta(days=n, hours=5))
    finally:
        rt.close()
    for key in [k for k in os.environ if k.startswith("SANSHI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SANSHI_DB", db)
    yield db


def test_stats_json_is_the_spec_shape(stats_db: str) -> None:
    result = CliRunner().invoke(main, ["stats", "--by", "unit", "--from", "2026-03-01", "--to", "2026-04-01", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["from", "to", "by", "rows", "total"]
    assert data["by"] == "unit" and data["from"] == "2026-03-01" and data["to"] == "2026-04-01"
    (row,) = data["rows"]
    assert (row["key"], row["name"], row["received"], row["resolved"]) == ("chatinglu", "茶亭路社区", 3, 2)
    assert row["handling_rate"] == {"value": 2 / 3, "numerator": 2, "denominator": 3}
    assert row["satisfaction_rate"] == {"value": None, "numerator": 0, "denominator": 0}
    assert data["total"]["key"] == "total" and data["total"]["name"] == "海城区"


def test_stats_csv_has_a_bom_and_chinese_headers_for_excel(stats_db: str, tmp_path: Path) -> None:
    out = tmp_path / "stats.csv"
    result = CliRunner().invoke(main, ["stats", "--by", "category", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:2] == ["key", "名称"]
    assert "办结率(handling_rate)" in header and "满意率(satisfaction_rate)" in header
    body = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert body["municipal"]["名称"] == "市政设施"
    assert body["municipal"]["办结率(handling_rate)"] == "66.67%"
    assert (body["municipal"]["办结率分子"], body["municipal"]["办结率分母"]) == ("2", "3")
    assert body["municipal"]["满意率(satisfaction_rate)"] == ""  # null: nobody rated yet
    assert body["total"]["名称"] == "合计（海城区）"
    # stdout gets the same bytes
    piped = CliRunner().invoke(main, ["stats", "--by", "category", "--format", "csv"])
    assert piped.stdout_bytes == raw


def test_stats_table_shows_percentages_with_their_fractions(stats_db: str) -> None:
    result = CliRunner().invoke(main, ["stats", "--by", "unit"])
    assert result.exit_code == 0, result.output
    for text in ("办结率", "满意率", "茶亭路社区", "66.67%", "2/3", "—", "合计（海城区）"):
        assert text in result.output, text


def test_stats_refuses_a_bad_date_and_a_filter_it_cannot_answer(stats_db: str) -> None:
    bad_date = CliRunner().invoke(main, ["stats", "--from", "2026-13-01"])
    assert bad_date.exit_code == 2
    cross = CliRunner().invoke(main, ["stats", "--by", "category", "--unit", "chatinglu"])
    assert cross.exit_code == 2
    assert "不能" in cross.output
    # one scope as a filter, broken down by month, is answered from the counters
    monthly = CliRunner().invoke(main, ["stats", "--by", "month", "--unit", "chatinglu", "--format", "json"])
    assert monthly.exit_code == 0, monthly.output
    data = json.loads(monthly.output)
    assert [r["key"] for r in data["rows"]] == ["2026-03"]
    assert data["total"]["name"] == "茶亭路社区"


def test_projections_status_reports_the_lag_and_stats_catches_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    rt = make_runtime(db)
    try:
        received = write_log(rt, cases=20)  # written without following: the views lag
        head = rt.projector.head()
    finally:
        rt.close()
    for key in [k for k in os.environ if k.startswith("SANSHI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SANSHI_DB", db)
    status = CliRunner().invoke(main, ["projections", "status"])
    assert status.exit_code == 0, status.output
    assert f"视图位置 0 / 日志最新 {head}，落后 {head} 个事件" in status.output
    stats = CliRunner().invoke(main, ["stats", "--format", "json"])
    assert json.loads(stats.output)["total"]["received"] == received
    status = CliRunner().invoke(main, ["projections", "status"])
    assert "落后 0 个事件" in status.output


def test_a_second_projector_never_applies_an_event_twice(tmp_path: Path) -> None:
    """Two projectors on one database (a server and a worker, say) interleave batches; the
    tracking check lets each batch in exactly once."""
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    rt = make_runtime(db)
    try:
        write_log(rt, cases=300)
        other = Projector(rt.app, make_engine(db), batch_size=7)
        mine: Projector = rt.projector
        mine.batch_size = 5
        mine.reset()
        while mine.lag():
            other.catch_up(max_events=7)
            mine.catch_up(max_events=5)
        events = [rt.app.mapper.to_domain_event(n) for n in rt.app.recorder.select_notifications(None, 10**9)]
        rm: ReadModel = rt.read_model
        for by in BYS:
            assert_stats_match(rm.stats(by), expected_stats(events, by))
        other.engine.dispose()
    finally:
        rt.close()


def test_open_cases_queries(tmp_path: Path) -> None:
    rt = make_runtime()
    app, rm = rt.app, rt.read_model
    try:
        r = app.receive(intake(LAMP.format(n=9), "茶亭路9号"))
        vague = app.receive(intake("我想反映一个情况，麻烦你们记一下"))
        inbox = rm.inbox("chatinglu", T0)
        assert [c["case_id"] for c in inbox] == [r.case_id]
        assert inbox[0]["overdue"] is False and inbox[0]["next_deadline"] is not None
        assert [c["case_id"] for c in rm.manual_queue()] == [vague.case_id]
        assert rm.manual_queue()[0]["manual_reason"]
        later = T0 + dt.timedelta(days=10)
        assert [c["case_id"] for c in rm.overdue(later)] == [r.case_id]
        assert rm.due_for_escalation(later) == [r.case_id]
        assert app.tick(rm.due_for_escalation(later), later) == 2  # claim and handling deadlines
        assert rm.due_for_escalation(later) == []
        assert rm.inbox("chatinglu", later)[0]["escalation_level"] == 2
        router_rows = rm.open_cases_for_router()
        assert {row["case_id"] for row in router_rows} == {r.case_id, vague.case_id}
        lamp = next(row for row in router_rows if row["case_id"] == r.case_id)
        assert (lamp["category"], lamp["locality"], lamp["content"]) == ("municipal", "chatinglu", LAMP.format(n=9))
        found = rm.cases({"status": "dispatched", "category": "municipal"}, 10, 0)
        assert [c["case_id"] for c in found] == [r.case_id]
        assert rm.count_cases({"q": "路灯"}) == 1
        assert rm.count_cases({"dispatched_to": "chatinglu"}) == 1
        summary = rm.case_summary(r.case_id)
        assert summary is not None and summary["content"] == LAMP.format(n=9)
        assert summary["unit_name"] == "茶亭路社区" and summary["status_name"] == "已派单"
        assert rm.case_summary(intake("x").case_id) is None
    finally:
        rt.close()


def test_views_of_another_layout_are_rebuilt_at_start(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    rt = make_runtime(db)
    try:
        write_log(rt, cases=60)
        rt.projector.catch_up()
        before = snapshot(rt.views_engine, rt.config)
    finally:
        rt.close()
    engine = make_engine(db)
    with engine.begin() as conn:  # as an older or newer version would have left them
        conn.exec_driver_sql("ALTER TABLE view_cases ADD COLUMN legacy TEXT")
    engine.dispose()
    rt = make_runtime(db)
    try:
        assert rt.projector.position() == 0  # recreated, to be caught up
        rt.read_model.stats()  # embedded mode: a read catches the views up
        assert snapshot(rt.views_engine, rt.config) == before
    finally:
        rt.close()


def test_processes_starting_together_on_a_new_database_all_start(tmp_path: Path) -> None:
    """A worker and `sanshi ingest` starting at the same moment both create the views."""
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    start = time.time() + 4  # all imports done: bootstrap at the same instant
    code = (
        # on the suite's clock, moved or not: the start instant is the parent's
        "import time, tests.support.moved_clock; from adapters.bootstrap import bootstrap; "
        f"time.sleep(max(0, {start} - time.time())); rt = bootstrap(); "
        "rt.read_model.stats(); rt.close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=cli_env(db), stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors


def test_projections_follow_keeps_the_views_up_beside_a_writer(tmp_path: Path) -> None:
    """`sanshi projections follow` as its own process (the worker runs --no-projections): the
    views reach the head of the log as it grows, and SIGTERM stops it cleanly."""
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from adapters.cli import main; main()", "projections", "follow",
         "--poll-interval", "0.1"],
        cwd=REPO, env=cli_env(db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        rt = make_runtime(db)
        try:
            received = write_log(rt, cases=30)  # written without following: only `follow` moves the views
            head = rt.projector.head()
            config = rt.config
        finally:
            rt.close()
        engine = make_engine(db)
        try:
            deadline = time.monotonic() + 120
            while position(engine) < head and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr and proc.stderr.read()
                time.sleep(0.1)
            assert position(engine) == head
            # what the follower committed, read without catching up here
            assert ReadModel(engine, config).stats()["total"]["received"] == received
        finally:
            engine.dispose()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "已停止" in out and f"视图位置 {head}" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
