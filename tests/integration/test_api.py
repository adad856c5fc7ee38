"""The HTTP API as its users meet it: intake, the lifecycle, errors, read views, metrics."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.bootstrap import Runtime
from adapters.http import create_app
from engine.deadlines import SHANGHAI
from engine.domain import Status
from tests.support.api import (
    ADMIN,
    ASSIGNED,
    ASSIGNED_UNIT,
    LEADER,
    OPERATOR,
    TestClient,
    api_client,
    auth,
    case_in,
)

# Reads today's date: CI runs it again on moved clocks (tests/support/moved_clock.py).
pytestmark = pytest.mark.date_sensitive

OP, UNIT = auth(OPERATOR), auth(ASSIGNED)

LAMP_RECORD = {
    "order_no": "BH20261102000123",
    "received_at": "2026-11-02 09:30:00",
    "caller_phone": "13877912345",
    "caller_name": "庞女士",
    "content": "茶亭路社区幸福里小区没有路灯，晚上出门看不清，老人容易摔跤，希望尽快安装。",
    "address": "北海市海城区茶亭路幸福里小区",
    "appeal_type": "求助",
    "urgency": "一般",
}


@pytest.fixture
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


def test_operator_files_a_hotline_record_and_gets_the_routed_case(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    r = client.post("/api/cases", json=LAMP_RECORD, headers=OP)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["duplicate"] is False
    assert case["status"] == "dispatched" and case["assigned_unit"] == ASSIGNED_UNIT
    assert case["category"] == "municipal" and case["category_name"] == "市政设施"
    assert case["received_at"] == "2026-11-02T09:30:00+08:00"  # no zone → Beijing time
    assert case["content"] == LAMP_RECORD["content"]
    assert case["dispatch"]["handle_deadline"] > case["dispatch"]["claim_deadline"]

    again = client.post("/api/cases", json=LAMP_RECORD, headers=OP)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == case["id"]
    listed = client.get("/api/cases?limit=100", headers=OP).json()
    assert [row["case_id"] for row in listed].count(case["id"]) == 1


def test_an_unreadable_record_is_refused_with_the_reason_and_dead_lettered(
    env: tuple[Any, Runtime],
) -> None:
    client, _ = env
    bad = {**LAMP_RECORD, "order_no": "BAD-1", "received_at": "上周三"}
    r = client.post("/api/cases", json=bad, headers=OP)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_record" and "死信" in r.json()["message"]
    metrics = client.get("/metrics", headers=auth(LEADER)).text
    assert "sanshi_dead_letters 1.0" in metrics


def test_errors_have_one_shape_with_a_chinese_message(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    missing = client.post("/api/cases", json={"order_no": "X"}, headers=OP)
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_request" and "必填" in missing.json()["message"]

    broken = client.post("/api/cases", content=b"{not json", headers={**OP, "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"] == "bad_request"

    unknown = client.get("/api/cases/3f1c0000-0000-5000-8000-000000000000", headers=OP)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert client.get("/api/cases/not-a-uuid", headers=OP).status_code == 404
    assert client.get("/api/no-such-route", headers=OP).json()["error"] == "not_found"

    cid = case_in(runtime, Status.DISPATCHED)
    before = runtime.app.get_case(cid).version
    illegal = client.post(f"/api/cases/{cid}/resolve", json={"result": "已处理"}, headers=UNIT)
    assert illegal.status_code == 409
    assert illegal.json()["error"] == "illegal_transition" and "已派单" in illegal.json()["message"]
    assert runtime.app.get_case(cid).version == before

    blank = client.post(f"/api/cases/{cid}/return", json={"reason": "   "}, headers=UNIT)
    assert blank.status_code == 422 and runtime.app.get_case(cid).version == before

    bad_stats = client.get("/api/stats?by=unit&channel=app", headers=OP)
    assert bad_stats.status_code == 422 and bad_stats.json()["error"] == "invalid_query"
    assert client.get("/api/stats?from=yesterday", headers=OP).status_code in (400, 422)


def test_call_claim_resolve_dissatisfied_reopens_and_the_rates_follow(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    cid = client.post("/api/cases", json=LAMP_RECORD, headers=OP).json()["id"]
    before = client.get("/api/stats", headers=auth(LEADER)).json()["total"]

    inbox = client.get(f"/api/units/{ASSIGNED_UNIT}/inbox", headers=UNIT).json()
    assert cid in [row["case_id"] for row in inbox]
    claimed = client.post(f"/api/cases/{cid}/claim", headers=UNIT).json()
    assert claimed["status"] == "claimed" and "resolve" in claimed["actions"]
    resolved = client.post(f"/api/cases/{cid}/resolve", json={"result": "已安装两盏路灯"}, headers=UNIT)
    assert resolved.json()["status"] == "resolved"
    # 待回访 is counted and paged now ({"total", "rows", ...}, issue 17).
    followup = client.get("/api/queue/followup", headers=OP).json()
    assert cid in [row["case_id"] for row in followup["rows"]] and followup["total"] >= 1
    mid = client.get("/api/stats", headers=auth(LEADER)).json()["total"]
    assert mid["resolved"] == before["resolved"] + 1

    back = client.post(
        f"/api/cases/{cid}/followup",
        json={"solved": False, "rating": "dissatisfied", "comment": "只装了一盏"},
        headers=OP,
    ).json()
    # 重办: dispatched again to the unit that resolved it.
    assert back["status"] == "dispatched" and back["assigned_unit"] == ASSIGNED_UNIT
    assert back["dispatch"]["number"] == 2
    events = [e["type"] for e in client.get(f"/api/cases/{cid}/events", headers=OP).json()]
    assert events[-3:] == ["FollowedUp", "Reopened", "Dispatched"]

    after = client.get("/api/stats", headers=auth(LEADER)).json()["total"]
    assert after["followups"] == before["followups"] + 1
    assert after["dissatisfied"] == before["dissatisfied"] + 1
    assert after["satisfaction_rate"]["denominator"] == before["satisfaction_rate"]["denominator"] + 1
    assert after["satisfaction_rate"]["numerator"] == before["satisfaction_rate"]["numerator"]


def test_stats_are_the_read_models_json_and_export_as_csv_for_excel(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    for _ in range(3):
        case_in(runtime, Status.RESOLVED)
    api = client.get("/api/stats?by=unit&from=2000-01-01&to=2100-01-01", headers=auth(LEADER)).json()
    direct = runtime.read_model.stats("unit", "2000-01-01", "2100-01-01", {})
    assert api == json.loads(json.dumps(direct, default=str))
    assert set(api) >= {"from", "to", "by", "rows", "total"}
    row = next(r for r in api["rows"] if r["key"] == ASSIGNED_UNIT)
    assert row["handling_rate"] == {"value": 1.0, "numerator": 3, "denominator": 3}

    exported = client.get("/api/stats?by=unit&format=csv", headers=auth(LEADER))
    assert exported.headers["content-type"].startswith("text/csv")
    text = exported.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    mine = next(r for r in rows if r["key"] == ASSIGNED_UNIT)
    assert mine["办结(resolved)"] == "3" and mine["办结率(handling_rate)"] == "100.00%"
    assert rows[-1]["key"] == "total" and rows[-1]["名称"].startswith("合计")


def test_inbox_lists_deadlines_first_and_marks_overdue(env: tuple[Any, Runtime]) -> None:
    import datetime as dt

    from tests.support.api import LAMP, LAMP_ADDRESS, intake

    client, runtime = env
    old = runtime.app.receive(
        intake(LAMP.format(n=901) + "（很久以前）", LAMP_ADDRESS.format(n=901),
               at=dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    )
    fresh = case_in(runtime, Status.DISPATCHED)
    rows = client.get(f"/api/units/{ASSIGNED_UNIT}/inbox", headers=UNIT).json()
    ids = [r["case_id"] for r in rows]
    assert ids.index(str(old.case_id)) < ids.index(str(fresh))
    by_id = {r["case_id"]: r for r in rows}
    assert by_id[str(old.case_id)]["overdue"] is True
    assert by_id[str(fresh)]["overdue"] is False
    assert "caller_phone" not in by_id[str(fresh)] and "caller_name" not in by_id[str(fresh)]
    overdue = client.get("/api/overdue", params={"limit": 500}, headers=auth(LEADER)).json()
    assert str(old.case_id) in [r["case_id"] for r in overdue["rows"]]


def test_routing_preview_suggests_category_unit_and_duplicates_without_writing(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    # The preview looks for duplicates in the window before *today*: the earlier report is from
    # yesterday, whatever day the suite runs on.
    yesterday = dt.datetime.now(SHANGHAI) - dt.timedelta(days=1)
    earlier = {**LAMP_RECORD, "received_at": yesterday.strftime("%Y-%m-%d %H:%M:%S")}
    assert client.post("/api/cases", json=earlier, headers=OP).status_code == 201
    head = runtime.app.recorder.max_notification_id()
    r = client.get(
        "/api/routing/suggest",
        params={"text": LAMP_RECORD["content"], "address": LAMP_RECORD["address"]},
        headers=OP,
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["category"], s["unit"], s["unit_name"]) == ("municipal", ASSIGNED_UNIT, "茶亭路社区")
    assert s["duplicates"] and s["duplicates"][0]["similarity"] >= 0.8
    assert s["duplicates"][0]["content"] == LAMP_RECORD["content"]
    assert runtime.app.recorder.max_notification_id() == head


def test_app_and_walkin_intake(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    app_record = {
        "submission_id": "6b0f7f0e-0003", "user_id": "u10088", "phone": "13877900003",
        "content": "小区地下室燃气管道有泄漏的味道，很危险，请马上派人来看看！",
        "address": "北海市海城区茶亭路幸福里小区", "concern": "anguish",
    }
    r = client.post("/api/intake/app", json=app_record, headers=OP)
    assert r.status_code == 201, r.text
    case = client.get(f"/api/cases/{r.json()['case_id']}", headers=OP).json()
    assert case["channel"] == "app" and case["urgent"] is True
    assert client.post("/api/intake/app", json=app_record, headers=OP).json()["duplicate"] is True

    walkin = {
        "station_id": "jy-chatinglu", "ticket_no": "0001", "staff_id": "gw017",
        "resident_name": "梁崇玉", "phone": "13977905555", "on_behalf": "false",
        "content": "孙子入学手续缺失，读书问题一拖再拖，希望帮忙协调。",
        "address": "北海市海城区茶亭路社区", "received_at": "2021-05-06T09:00:00+08:00",
    }
    w = client.post("/api/intake/walkin", json=walkin, headers=OP)
    assert w.status_code == 201, w.text
    assert client.get(f"/api/cases/{w.json()['case_id']}", headers=OP).json()["source_ref"] == "jy-chatinglu/0001"


def test_unit_commands_extension_and_mediation(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.CLAIMED)
    dispatch = runtime.app.get_case(cid).dispatch
    assert dispatch is not None
    # A naive time is Beijing time; a week past the deadline is within the cap (延期上限).
    until = (dispatch.handle_deadline + dt.timedelta(days=7)).astimezone(SHANGHAI).replace(microsecond=0)
    ext = client.post(
        f"/api/cases/{cid}/extend",
        json={"until": until.replace(tzinfo=None).isoformat(), "reason": "需要协调供电部门迁改线路"},
        headers=UNIT,
    ).json()
    assert ext["dispatch"]["extension_requested_to"] == until.isoformat()
    assert "extension/decide" in client.get(f"/api/cases/{cid}", headers=OP).json()["actions"]
    granted = client.post(f"/api/cases/{cid}/extension/decide", json={"granted": True}, headers=OP).json()
    assert granted["dispatch"]["handle_deadline"] == until.isoformat()

    started = client.post(f"/api/cases/{cid}/mediation/start", headers=UNIT).json()
    assert started["status"] == "mediating"
    done = client.post(
        f"/api/cases/{cid}/mediation/conclude", json={"agreement": True, "summary": "双方签订协议"}, headers=UNIT
    ).json()
    assert done["status"] == "claimed" and done["mediation_agreement"] is True


def _log_length(runtime: Runtime) -> int:
    return runtime.app.recorder.max_notification_id() or 0


def test_suspension_asked_by_the_unit_decided_by_the_centre_and_resumed(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.CLAIMED)
    case = client.get(f"/api/cases/{cid}", headers=UNIT).json()
    assert "hold" in case["actions"] and "resume" not in case["actions"]
    # Two months on (a naive time is Beijing time): long after the deadline checked below.
    back = (runtime.app.clock() + dt.timedelta(days=60)).astimezone(SHANGHAI).replace(microsecond=0)
    asked = client.post(
        f"/api/cases/{cid}/hold",
        json={"reason": "等待法院开庭，预计下月", "expected_resume": back.replace(tzinfo=None).isoformat()},
        headers=UNIT,
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["hold"]["requested"]["reason"] == "等待法院开庭，预计下月"
    assert "hold" not in asked.json()["actions"]
    # The unit cannot approve its own request.
    own = client.post(f"/api/cases/{cid}/hold/decide", json={"granted": True}, headers=UNIT)
    assert own.status_code == 403
    queue = client.get("/api/queue/holds", headers=OP).json()
    assert str(cid) in {r["case_id"] for r in queue}
    assert "hold/decide" in client.get(f"/api/cases/{cid}", headers=OP).json()["actions"]
    before = runtime.app.get_case(cid).dispatch
    assert before is not None
    granted = client.post(f"/api/cases/{cid}/hold/decide", json={"granted": True}, headers=OP).json()
    assert granted["status"] == "on_hold" and granted["status_name"] == "挂起中"
    assert str(cid) not in {r["case_id"] for r in client.get("/api/queue/holds", headers=OP).json()}
    # The unit still holds it: in its inbox, never overdue, nothing to escalate.
    inbox = client.get(f"/api/units/{ASSIGNED_UNIT}/inbox", headers=UNIT).json()
    row = next(r for r in inbox if r["case_id"] == str(cid))
    assert row["status"] == "on_hold" and row["overdue"] is False
    assert granted["hold"]["resume_expected"] == back.isoformat()
    late = before.handle_deadline + dt.timedelta(days=30)
    assert late < back and cid not in runtime.read_model.due_for_escalation(late)
    assert runtime.app.tick([cid], late) == 0 and runtime.app.get_case(cid).status == Status.ON_HOLD
    # A refused action is 409 and writes nothing.
    n = _log_length(runtime)
    refused = client.post(f"/api/cases/{cid}/resolve", json={"result": "已办"}, headers=UNIT)
    assert refused.status_code == 409 and refused.json()["error"] == "illegal_transition"
    again = client.post(f"/api/cases/{cid}/hold/decide", json={"granted": True}, headers=OP)
    assert again.status_code == 409 and _log_length(runtime) == n
    resumed = client.post(f"/api/cases/{cid}/resume", headers=UNIT).json()
    assert resumed["status"] == "claimed"
    assert resumed["dispatch"]["handle_deadline"] >= before.handle_deadline.isoformat()
    assert client.post(f"/api/cases/{cid}/resume", headers=OP).status_code == 409


def test_a_refused_suspension_shows_the_centres_note_to_the_unit(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.CLAIMED)
    client.post(f"/api/cases/{cid}/hold", json={"reason": "当事人外出"}, headers=UNIT)
    no_note = client.post(f"/api/cases/{cid}/hold/decide", json={"granted": False}, headers=OP)
    assert no_note.status_code == 422
    client.post(
        f"/api/cases/{cid}/hold/decide", json={"granted": False, "note": "可电话联系，继续办理"}, headers=OP
    )
    seen = client.get(f"/api/cases/{cid}", headers=UNIT).json()
    assert seen["status"] == "claimed" and seen["hold"]["refusal_note"] == "可电话联系，继续办理"
    events = client.get(f"/api/cases/{cid}/events", headers=UNIT).json()
    decided = next(e for e in events if e["type"] == "HoldDecided")
    assert decided["data"] == {
        "unit": ASSIGNED_UNIT, "granted": False, "note": "可电话联系，继续办理", "expected_resume": None
    }


def test_a_leaders_instruction_reaches_the_unit_and_is_tracked(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    lead = auth(LEADER)
    cid = case_in(runtime, Status.CLAIMED)
    assert "instruct" in client.get(f"/api/cases/{cid}", headers=lead).json()["actions"]
    r = client.post(f"/api/cases/{cid}/instruct", json={"text": "请核实后三日内回复"}, headers=lead)
    assert r.status_code == 200, r.text
    assert "instruct" not in r.json()["actions"]  # one waits at a time
    seen = client.get(f"/api/cases/{cid}", headers=UNIT).json()
    top = seen["instructions"][0]
    assert top["text"] == "请核实后三日内回复" and top["reply"] is None and top["due"]
    assert "instruction/reply" in seen["actions"]
    tracking = client.get("/api/queue/instructions", headers=lead).json()
    assert tracking["counts"]["pending"] >= 1
    row = next(x for x in tracking["rows"] if x["case_id"] == str(cid))
    assert row["instructions"] == 1 and row["instructions_answered"] == 0 and row["instruction_due"]
    n = _log_length(runtime)
    twice = client.post(f"/api/cases/{cid}/instruct", json={"text": "再批"}, headers=lead)
    assert twice.status_code == 422 and _log_length(runtime) == n
    answered = client.post(f"/api/cases/{cid}/instruction/reply", json={"reply": "已核实，正在维修"}, headers=UNIT)
    assert answered.status_code == 200, answered.text
    top = answered.json()["instructions"][0]
    assert top["reply"] == "已核实，正在维修" and top["on_time"] is True
    after = client.get("/api/queue/instructions", headers=lead).json()
    row = next(x for x in after["rows"] if x["case_id"] == str(cid))
    assert row["instructions_answered"] == 1 and row["instructions_on_time"] == 1
    assert row["instruction_due"] is None
    assert after["counts"]["answered"] == tracking["counts"]["answered"] + 1
    # Resolved, the case can take no instruction: 409, nothing written.
    client.post(f"/api/cases/{cid}/resolve", json={"result": "已修复"}, headers=UNIT)
    n = _log_length(runtime)
    late = client.post(f"/api/cases/{cid}/instruct", json={"text": "再批"}, headers=lead)
    assert late.status_code == 409 and _log_length(runtime) == n


def test_health_metrics_and_the_ui_are_served(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    case_in(runtime, Status.DISPATCHED)
    health = client.get("/healthz", headers=auth(LEADER)).json()
    assert health["status"] == "ok" and health["events"] > 0
    metrics = client.get("/metrics", headers=auth(LEADER)).text
    assert 'sanshi_intake_total{channel="hotline"} 1.0' in metrics
    assert "sanshi_routing_seconds_count 1.0" in metrics
    assert "sanshi_projection_lag_events 0.0" in metrics
    page = client.get("/")
    assert page.status_code == 200 and "三事通解" in page.text
    assert "Content-Security-Policy" in page.headers
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    # No CDN: every script and stylesheet is served from here.
    assert "http" not in page.text.replace("http-equiv", "")
    assert client.get("/openapi.json").json()["info"]["title"].startswith("sanshi")


def test_admin_sees_the_audit_trail_and_nobody_else(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.DISPATCHED)
    client.get(f"/api/cases/{cid}", headers=auth(LEADER))
    trail = client.get("/api/audit", headers=auth(ADMIN)).json()
    assert trail[0]["case_id"] == str(cid) and trail[0]["role"] == "leader"
    assert client.get("/api/audit", headers=auth(LEADER)).status_code == 403


@pytest.mark.postgres
def test_the_api_on_postgresql(fresh_postgres_url: str) -> None:
    with api_client(fresh_postgres_url) as (client, _):
        cid = client.post("/api/cases", json=LAMP_RECORD, headers=OP).json()["id"]
        assert client.post(f"/api/cases/{cid}/claim", headers=UNIT).status_code == 200
        assert client.post(f"/api/cases/{cid}/resolve", json={"result": "已安装"}, headers=UNIT).status_code == 200
        total = client.get("/api/stats", headers=auth(LEADER)).json()["total"]
        assert total["resolved"] == 1
        client.get(f"/api/cases/{cid}", headers=UNIT)
        assert client.get("/api/audit", headers=auth(ADMIN)).json()[0]["masked"] is True


@pytest.mark.kafka
@pytest.mark.slow
def test_with_kafka_intake_is_queued_then_the_worker_makes_the_case(
    kafka_bootstrap: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid as _uuid

    from adapters.transport.kafka import KafkaSettings
    from adapters.transport.worker import Worker, WorkerOptions
    from engine.domain import case_id_for

    monkeypatch.setenv("SANSHI_KAFKA_PREFIX", f"api{_uuid.uuid4().hex[:10]}.")
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    runtime = bootstrap_kafka(db, kafka_bootstrap)
    try:
        with TestClient(create_app(runtime)) as client:
            expected = str(case_id_for("hotline", LAMP_RECORD["order_no"]))
            for _ in range(2):  # the second send is a redelivery: still one case
                r = client.post("/api/cases", json=LAMP_RECORD, headers=OP)
                assert r.status_code == 202, r.text
                assert r.json() == {"id": expected, "status": "queued", "duplicate": False}
            assert client.get(f"/api/cases/{expected}", headers=OP).status_code == 404
            Worker(
                runtime,
                KafkaSettings.from_env(kafka_bootstrap),
                WorkerOptions(clock_interval=0, poll_timeout_ms=200, session_timeout_ms=6000),
            ).run(idle_exit=0.5, max_seconds=90)
            case = client.get(f"/api/cases/{expected}", headers=OP).json()
            assert case["status"] == "dispatched" and case["assigned_unit"] == ASSIGNED_UNIT
            assert client.get("/api/stats", headers=auth(LEADER)).json()["total"]["received"] == 1
    finally:
        runtime.close()


def bootstrap_kafka(db: str, kafka: str) -> Runtime:
    from adapters.bootstrap import bootstrap
    from engine.settings import Settings

    return bootstrap(Settings(db=db, kafka=kafka, config_path=None, cipher_key=None))


def test_serve_runs_the_deadline_clock_without_kafka(env: tuple[Any, Runtime]) -> None:
    import datetime as dt
    import threading
    import time

    from adapters.cli.serve import run_clock
    from tests.support.api import LAMP, LAMP_ADDRESS, intake

    _, runtime = env
    long_ago = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    late = runtime.app.receive(intake(LAMP.format(n=77) + "（去年的）", LAMP_ADDRESS.format(n=77), at=long_ago))
    stop = threading.Event()
    clock = threading.Thread(target=run_clock, args=(runtime, 0.05, stop), daemon=True)
    clock.start()
    try:
        deadline = time.monotonic() + 10
        while runtime.app.get_case(late.case_id).escalation_level < 2:
            assert time.monotonic() < deadline, "the clock did not escalate the missed deadlines"
            time.sleep(0.05)
        time.sleep(0.3)  # more ticks: each deadline is escalated once only
    finally:
        stop.set()
        clock.join(timeout=5)
    case = runtime.app.get_case(late.case_id)
    assert case.escalation_level == 2 and len(case.escalated_keys) == 2  # claim and handle


def test_token_create_prints_a_working_token_and_stores_only_its_hash(tmp_path: Any) -> None:
    from click.testing import CliRunner
    from sqlalchemy import text

    from adapters.cli import main

    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    result = CliRunner().invoke(
        main, ["token", "create", "--role", "unit", "--unit", ASSIGNED_UNIT, "--name", "茶亭路社区值班"],
        env={"SANSHI_DB": db},
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("sanshi_") and len(token) > 30
    refused = CliRunner().invoke(main, ["token", "create", "--role", "unit"], env={"SANSHI_DB": db})
    assert refused.exit_code != 0 and "--unit" in refused.output

    with api_client(db) as (client, runtime):
        me = client.get("/api/meta", headers=auth(token)).json()["me"]
        assert me == {"role": "unit", "unit": ASSIGNED_UNIT, "unit_name": "茶亭路社区", "name": "茶亭路社区值班"}
        with runtime.api_store.engine.connect() as conn:
            stored = conn.execute(text("SELECT token_hash, role, unit FROM api_tokens")).all()
        assert len(stored) == 1 and token not in str(stored)
