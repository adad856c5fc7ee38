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
from tests.support.fold_oracle import T0, make_runtime

REPO = Path(__file__).resolve().parents[2]
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


class Shelved(Case.Event):
    """An event whose name the views' fold has no rule for (a new or renamed event the fold
    was not told about)."""

    reason: str
    principal: str
    at: dt.datetime


def resolve(case: Case, result: str = "已修复", at: dt.datetime = T0 + 3 * DAY) -> None:
    case._resolved(unit="chatinglu", result=result, on_time=True, principal="u", at=at)


def save(rt: Runtime, *cases: Case) -> None:
    rt.app.save(*cases)


def projector_of(rt: Runtime) -> Projector:
    projector: Projector = rt.projector
    return projector


def view_case(rt: Runtime, case_id: UUID) -> dict[str, Any] | None:
    engine = rt.views_engine
    with engine.connect() as conn:
        row = conn.execute(select(view_cases).where(view_cases.c.case_id == case_id)).mappings().first()
    return dict(row) if row is not None else None


def inbox_ids(rt: Runtime, unit: str = "chatinglu") -> set[UUID]:
    rows = rt.read_model.inbox(unit, T0 + DAY)
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
    listed = {str(r["case_id"]): r for r in rt.read_model.inbox("chatinglu", T0 + DAY)}
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
    views, quarantine = view_rows(rt.views_engine), found
    assert projector.rebuild() == projector.head()
    assert view_rows(rt.views_engine) == views
    assert projector.quarantined() == quarantine

    # Live catch-up goes on after it, event by event too.
    later = dispatched("later")
    save(rt, later)
    projector.catch_up()
    assert projector.lag() == 0 and later.id in inbox_ids(rt)


def test_an_event_the_views_have_no_rule_for_is_set_aside_not_dropped(rt: Runtime) -> None:
    case = claimed("unknown-name")
    case.trigger_event(Shelved, reason="改名后的事件", principal="o", at=T0 + DAY)
    shelved_version = case.version
    resolve(case)  # later events of the same case still apply to its row
    save(rt, case)
    projector = projector_of(rt)
    projector.catch_up()
    assert projector.lag() == 0
    [found] = projector.quarantined()
    assert (found.case_id, found.event_type, found.version) == (str(case.id), "Shelved", shelved_version)
    assert found.error.startswith("UnknownEvent:") and "'Shelved'" in found.error
    row = view_case(rt, case.id)
    assert row is not None and row["status"] == "resolved"
    assert projector.rebuild() == projector.head()
    assert projector.quarantined() == [found]


def lifecycles(rt: Runtime, poison: bool) -> list[UUID]:
    """150 cases over 10 saves, claimed, some extended, resolved, followed up; with ``poison``
    every 17th also gets an ExtensionRequested no view can apply. Returns the poisoned ids."""
    bad: list[UUID] = []
    for start in range(0, 150, 15):
        cases = []
        for n in range(start, start + 15):
            case = claimed(f"k{n}")
            if poison and n % 17 == 5:
                poisoned_extension(case)
                bad.append(case.id)
            if n % 5 == 1 and n % 17 != 5:  # not with a pending (poisoned) request
                case.request_extension(unit="chatinglu", until=T0 + 9 * DAY, reason="等材料", principal="u", at=T0 + DAY)
                case.decide_extension(granted=n % 2 == 0, note="", principal="o", at=T0 + DAY)
            if n % 3 == 0:
                resolve(case)
                case.follow_up(solved=True, rating=None, comment="", centre="centre", principal="o", at=T0 + 4 * DAY)
            cases.append(case)
        save(rt, *cases)
    return bad


def test_a_failing_batch_loses_and_doubles_no_good_event(rt: Runtime, tmp_path: Path) -> None:
    """Bad events scattered over many batches of a catch-up and of a rebuild: the views equal
    those of the same log without the bad events, applied by a projector that never saw them."""
    bad_ids = lifecycles(rt, poison=True)
    projector = Projector(rt.app, rt.views_engine, batch_size=37, backlog_batch_size=37)
    projector.catch_up()
    assert projector.lag() == 0
    assert [UUID(q.case_id) for q in projector.quarantined()] == bad_ids

    clean = make_runtime(f"sqlite:///{tmp_path / 'clean.db'}")
    try:
        clean.app.on_saved = None
        assert lifecycles(clean, poison=False) == []
        projector_of(clean).catch_up()
        expected = _comparable(view_rows(clean.views_engine))
    finally:
        clean.close()
    assert _comparable(view_rows(rt.views_engine)) == expected
    # A rebuild in other batch sizes: the same again, and the same quarantine.
    listed = projector.quarantined()
    projector.batch_size = projector.backlog_batch_size = 200
    projector.rebuild()
    assert _comparable(view_rows(rt.views_engine)) == expected
    assert projector.quarantined() == listed


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

    from tests.support.api import ADMIN, ASSIGNED, LEADER, api_client, auth

    with api_client(f"sqlite:///{tmp_path / 'api.db'}") as (client, runtime):
        bad = claimed("api-bad")
        poisoned_extension(bad)
        runtime.app.save(bad)  # embedded mode: the save catches the views up, and sets it aside
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
        metrics = generate_latest(client.app.state.metrics).decode()  # type: ignore[attr-defined]
        assert "sanshi_projection_quarantined_events 1.0" in metrics
        page = client.get("/static/app.js")  # the admin's 隔离事件 tab reads that route
        assert page.status_code == 200
        assert '["quarantine", "隔离事件"]' in page.text and "/api/admin/quarantine" in page.text


def test_a_value_only_the_database_refuses_is_set_aside_too(rt: Runtime, db_url: str) -> None:
    """A category longer than its column: PostgreSQL refuses the write (inside the pipelined
    batch), the savepoint takes it back and the rest of the batch applies. SQLite, which keeps
    any length, applies it."""
    long = received("long-category")
    long.classify(category="类" * 80, urgent=False, locality=None, street="zhongjie", reason={}, override=False, principal="p", at=T0)
    long.dispatch_to(unit="chatinglu", claim_deadline=T0 + DAY, handle_deadline=T0 + 5 * DAY, reason={}, principal="p", at=T0)
    others = [dispatched(f"beside-{n}") for n in range(5)]
    save(rt, others[0], long, *others[1:])
    projector = projector_of(rt)
    projector.catch_up()
    assert projector.lag() == 0
    assert {c.id for c in others} | {long.id} <= inbox_ids(rt)
    found = projector.quarantined()
    if db_url.startswith("sqlite"):
        assert found == []
    else:
        assert [(q.case_id, q.event_type) for q in found] == [(str(long.id), "Classified")]
        assert "StringDataRightTruncation" in found[0].error or "DataError" in found[0].error
        assert view_case(rt, long.id)["category"] == ""  # type: ignore[index]


def test_a_database_fault_sets_nothing_aside(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost connection or a lock timeout is not the event's fault: the catch-up fails as
    before, nothing is set aside, and the next one applies everything."""
    from sqlalchemy.exc import OperationalError

    cases = [dispatched(f"fault-{n}") for n in range(3)]
    save(rt, *cases)
    projector = projector_of(rt)
    real = projector._write

    def lose_connection(*args: Any) -> None:
        raise OperationalError("UPDATE …", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(projector, "_write", lose_connection)
    with pytest.raises(OperationalError):
        projector.catch_up()
    assert projector.position() == 0 and projector.quarantined_count() == 0
    monkeypatch.setattr(projector, "_write", real)
    projector.catch_up()
    assert projector.lag() == 0 and projector.quarantined_count() == 0
    assert {c.id for c in cases} <= inbox_ids(rt)


def test_events_the_recorder_took_as_they_came_are_set_aside(rt: Runtime) -> None:
    """Straight through eventsourcing's recorder: a topic this version does not know and a
    state that is not JSON. Reading the log goes on past both; each is set aside."""
    from eventsourcing.persistence import StoredEvent

    case = claimed("recorder")
    save(rt, case)
    unknown = StoredEvent(originator_id=case.id, originator_version=case.version + 1, topic="engine.domain:Case.Vanished", state=b"{}")
    garbled = StoredEvent(originator_id=case.id, originator_version=case.version + 2, topic="engine.domain:Case.Claimed", state=b"\xff not json")
    rt.app.recorder.insert_events([unknown, garbled])
    after = dispatched("after-recorder")
    save(rt, after)
    projector = projector_of(rt)
    projector.catch_up()
    assert projector.lag() == 0 and after.id in inbox_ids(rt)
    found = projector.quarantined()
    assert [(q.case_id, q.version, q.event_type) for q in found] == [
        (str(case.id), case.version + 1, "Vanished"),
        (str(case.id), case.version + 2, "Claimed"),
    ]
    assert view_case(rt, case.id)["status"] == "claimed"  # type: ignore[index]


def test_under_the_cipher_key_nul_still_applies_and_the_reason_is_stored_sealed(tmp_path: Path) -> None:
    """SANSHI_CIPHER_KEY: the log's states are encrypted (the NUL is looked for after opening
    them), and a reason set aside is stored sealed like the resident's text, read in clear."""
    from tests.integration.test_projections_sealed import keyed

    db = f"sqlite:///{tmp_path / 'keyed.db'}"
    runtime = keyed(db)
    try:
        runtime.app.on_saved = None
        nul = dispatched("keyed-nul", content="路灯\x00不亮")
        bad = claimed("keyed-bad")
        poisoned_extension(bad)
        save(runtime, nul, bad)
        projector = projector_of(runtime)
        projector.catch_up()
        assert projector.lag() == 0 and nul.id in inbox_ids(runtime)
        [q] = projector.quarantined()
        assert q.case_id == str(bad.id) and q.error.startswith("AttributeError")
        with runtime.views_engine.connect() as conn:
            raw = conn.exec_driver_sql("SELECT error FROM view_quarantine").scalar()
        assert raw and "AttributeError" not in raw
    finally:
        runtime.close()
