"""Views that no event can stop (issue 14, finding 2).

Events are written straight into the log, past every door and domain check: through the
aggregate's own event methods (``Case._extension_requested`` …), which record whatever they are
given. Three of them once stopped every view for good (each catch-up failed on them, new cases
never reached an inbox and a rebuild failed the same way): an extension to
9999-12-31T23:59:59-12:00, and on PostgreSQL a NUL in a result or in a resident's text. Those
now apply (a clamped instant, U+FFFD in the views). What the views still cannot apply is set
aside (隔离事件) with its position, case and error, and the views go on with the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from adapters.bootstrap import Runtime
from engine.domain import Case
from projections.projector import Projector
from projections.tables import view_cases
from tests.faults.support import view_rows
from tests.test_projections_fold import T0, make_runtime

REPO = Path(__file__).resolve().parent.parent
FAR = dt.datetime.fromisoformat("9999-12-31T23:59:59-12:00")
DAY = dt.timedelta(days=1)


# ---- writing the log past every check ----------------------------------------------------------


def received(ref: str, content: Any = "茶亭路5号的路灯不亮", at: dt.datetime = T0) -> Case:
    return Case(
        channel="hotline", source_ref=ref, received_at=at, content=content, address="茶亭路5号",
        caller_name="", caller_phone="", appeal_type="", urgent=False, category_hint="",
        concern="worry", extra={}, principal="p", at=at,
    )


def dispatched(ref: str, unit: str = "chatinglu", content: Any = "茶亭路5号的路灯不亮") -> Case:
    case = received(ref, content)
    case.classify(category="municipal", urgent=False, locality=None, street="zhongjie", reason={}, override=False, principal="p", at=T0)
    case.dispatch_to(unit=unit, claim_deadline=T0 + DAY, handle_deadline=T0 + 5 * DAY, reason={}, principal="p", at=T0)
    return case


def claimed(ref: str) -> Case:
    case = dispatched(ref)
    case.claim(unit="chatinglu", principal="u", at=T0 + dt.timedelta(hours=1))
    return case


def poisoned_extension(case: Case) -> None:
    """An ExtensionRequested whose ``until`` is no instant at all: no view can place it."""
    case._extension_requested(unit="chatinglu", until="明年再说", reason="等预算", principal="u", at=T0 + 2 * DAY)  # type: ignore[arg-type]


def resolve(case: Case, result: str = "已修复", at: dt.datetime = T0 + 3 * DAY) -> None:
    case._resolved(unit="chatinglu", result=result, on_time=True, principal="u", at=at)


def save(rt: Runtime, *cases: Case) -> None:
    rt.app.save(*cases)


def projector_of(rt: Runtime) -> Projector:
    projector: Projector = rt.extras["projector"]
    return projector


def view_case(rt: Runtime, case_id: UUID) -> dict[str, Any] | None:
    engine = rt.extras["views_engine"]
    with engine.connect() as conn:
        row = conn.execute(select(view_cases).where(view_cases.c.case_id == case_id)).mappings().first()
    return dict(row) if row is not None else None


def inbox_ids(rt: Runtime, unit: str = "chatinglu") -> set[UUID]:
    rows = rt.extras["read_model"].inbox(unit, T0 + DAY)
    return {UUID(str(r["case_id"])) for r in rows}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sanshi.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def rt(db_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(db_url)
    # Saves do not catch the views up here: each test says when (a batch holds what it holds).
    runtime.app.on_saved = None
    yield runtime
    runtime.close()


# ---- values that have a sensible view now apply ----------------------------------------------


def test_an_extension_to_the_end_of_time_applies_with_the_last_instant_the_views_hold(rt: Runtime) -> None:
    case = claimed("far")
    case._extension_requested(unit="chatinglu", until=FAR, reason="等预算", principal="u", at=T0 + 2 * DAY)
    case._extension_decided(unit="chatinglu", granted=True, until=FAR, note="同意", principal="o", at=T0 + 2 * DAY)
    later = dispatched("after-far")
    save(rt, case)
    save(rt, later)
    projector = projector_of(rt)
    projector.catch_up()
    assert projector.lag() == 0 and projector.quarantined() == []
    row = view_case(rt, case.id)
    assert row is not None and row["handle_deadline"].year == 9999
    assert later.id in inbox_ids(rt)
    # What a unit reads back (Asia/Shanghai, +8) does not overflow either.
    listed = {str(r["case_id"]): r for r in rt.extras["read_model"].inbox("chatinglu", T0 + DAY)}
    assert str(case.id) in listed


def test_nul_in_a_result_and_in_a_residents_text_applies_with_a_replacement_character(rt: Runtime) -> None:
    nul_text = dispatched("nul-text", content="路灯\x00不亮")
    nul_result = claimed("nul-result")
    resolve(nul_result, result="已\x00修复")
    later = dispatched("after-nul")
    save(rt, nul_text, nul_result)
    save(rt, later)
    projector = projector_of(rt)
    projector.catch_up()
    assert projector.lag() == 0 and projector.quarantined() == []
    assert view_case(rt, nul_result.id)["result"] == "已\ufffd修复"  # type: ignore[index]
    assert view_case(rt, nul_text.id)["snippet"] == "路灯\ufffd不亮"  # type: ignore[index]
    assert {nul_text.id, later.id} <= inbox_ids(rt)
    # The log keeps what was written.
    assert rt.app.repository.get(nul_result.id).resolved_unit == "chatinglu"
    events = list(rt.app.events.get(nul_text.id)) if hasattr(rt.app, "events") else []
    assert not events or events[0].content == "路灯\x00不亮"


# ---- what cannot be applied is set aside --------------------------------------------------------


def test_an_event_no_view_can_apply_is_set_aside_and_the_views_go_on(rt: Runtime) -> None:
    before = dispatched("before")
    bad = claimed("bad")
    poisoned_extension(bad)
    resolve(bad)  # later events of the same case still apply to its row
    no_text = received("no-text", content=None)  # a Received the fold cannot read: no row at all
    no_text.classify(category="municipal", urgent=False, locality=None, street="zhongjie", reason={}, override=False, principal="p", at=T0)
    after = dispatched("after")
    save(rt, before, bad, no_text, after)
    projector = projector_of(rt)
    projector.catch_up()
    assert projector.lag() == 0
    assert {before.id, after.id} <= inbox_ids(rt)
    found = projector.quarantined()
    assert [(q.case_id, q.event_type, q.version) for q in found] == [
        (str(bad.id), "ExtensionRequested", 5),
        (str(no_text.id), "Received", 1),
    ]
    assert all(q.error and q.position > 0 for q in found)
    assert "AttributeError" in found[0].error and "TypeError" in found[1].error
    assert projector.quarantined_count() == 2
    row = view_case(rt, bad.id)
    assert row is not None and row["status"] == "resolved" and row["extension_requested_to"] is None
    assert view_case(rt, no_text.id) is None

    # A rebuild gives the same views and the same quarantine.
    views, quarantine = view_rows(rt.extras["views_engine"]), found
    assert projector.rebuild() == projector.head()
    assert view_rows(rt.extras["views_engine"]) == views
    assert projector.quarantined() == quarantine

    # Live catch-up goes on after it, event by event too.
    later = dispatched("later")
    save(rt, later)
    projector.catch_up()
    assert projector.lag() == 0 and later.id in inbox_ids(rt)


def test_a_failing_batch_loses_and_doubles_no_good_event(rt: Runtime, db_url: str, tmp_path: Path) -> None:
    """Many cases in one batch, a few bad events among them: the views equal those of the same
    log without the bad events (applied by a projector that never saw them)."""
    cases, bad_ids = [], []
    for n in range(60):
        case = claimed(f"k{n}")
        if n % 17 == 5:
            poisoned_extension(case)
            bad_ids.append(case.id)
        if n % 3 == 0:
            resolve(case)
        cases.append(case)
    save(rt, *cases)
    projector = Projector(rt.app, rt.extras["views_engine"], batch_size=1000)
    projector.catch_up()
    assert projector.lag() == 0
    assert [UUID(q.case_id) for q in projector.quarantined()] == bad_ids

    # The same log without the bad events, applied by another projector into another database.
    clean_db = f"sqlite:///{tmp_path / 'clean.db'}"
    clean = make_runtime(clean_db)
    try:
        clean.app.on_saved = None
        again = []
        for n in range(60):
            case = claimed(f"k{n}")
            if n % 3 == 0:
                resolve(case)
            again.append(case)
        save(clean, *again)
        clean_projector = projector_of(clean)
        clean_projector.catch_up()
        assert _comparable(view_rows(rt.extras["views_engine"])) == _comparable(view_rows(clean.extras["views_engine"]))
    finally:
        clean.close()


def _comparable(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of two databases compared as text (a datetime from PostgreSQL, a string from
    SQLite would otherwise differ for the same instant)."""
    return {t: sorted(tuple(str(v) for v in r) for r in rs) for t, rs in rows.items()}


# ---- where an operator sees them: the CLI, /metrics, the admin API ------------------------------


def run_cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    env.update(SANSHI_DB=db, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", "from adapters.cli import main; main()", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_cli_lists_them_and_a_rebuild_says_so(rt: Runtime, db_url: str) -> None:
    bad = claimed("cli-bad")
    poisoned_extension(bad)
    far = claimed("cli-far")
    far._extension_requested(unit="chatinglu", until=FAR, reason="等预算", principal="u", at=T0 + 2 * DAY)
    save(rt, bad, far, dispatched("cli-after"))
    position = rt.app.recorder.max_notification_id()

    empty = run_cli(db_url, "projections", "quarantine")
    assert empty.returncode == 0, empty.stderr
    assert "没有隔离事件" in empty.stdout  # nothing applied yet, nothing set aside

    rebuilt = run_cli(db_url, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "有 1 个事件无法应用到视图，已隔离" in rebuilt.stdout
    listed = run_cli(db_url, "projections", "quarantine")
    assert listed.returncode == 0, listed.stderr
    assert "隔离事件 1 个" in listed.stdout
    line = next(x for x in listed.stdout.splitlines() if str(bad.id) in x)
    assert "ExtensionRequested" in line and "AttributeError" in line
    as_json = run_cli(db_url, "projections", "quarantine", "--json")
    [entry] = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert entry["case_id"] == str(bad.id) and entry["version"] == 5
    assert 0 < entry["position"] < (position or 0)
    status = run_cli(db_url, "projections", "status")
    assert "落后 0 个事件" in status.stdout


def test_metrics_and_the_admin_page_list_them(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from tests.api_helpers import ADMIN, ASSIGNED, LEADER, api_client, auth

    with api_client(f"sqlite:///{tmp_path / 'api.db'}") as (client, runtime):
        bad = claimed("api-bad")
        poisoned_extension(bad)
        runtime.app.save(bad)  # embedded mode: the save catches the views up, and sets it aside
        metrics = generate_latest(client.app.state.metrics).decode()  # type: ignore[attr-defined]
        assert "sanshi_projection_quarantined_events 1.0" in metrics
        assert "sanshi_projection_lag_events 0.0" in metrics
        answer = client.get("/api/admin/quarantine", headers=auth(ADMIN))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == 1
        [row] = body["rows"]
        assert row["case_id"] == str(bad.id) and row["event_type"] == "ExtensionRequested"
        assert row["position"] > 0 and "AttributeError" in row["error"]
        for token in (LEADER, ASSIGNED):
            refused = client.get("/api/admin/quarantine", headers=auth(token))
            assert refused.status_code == 403 and set(refused.json()) == {"error", "message"}
        page = client.get("/static/app.js")  # the admin's 隔离事件 tab reads that route
        assert page.status_code == 200
        assert '["quarantine", "隔离事件"]' in page.text and "/api/admin/quarantine" in page.text
