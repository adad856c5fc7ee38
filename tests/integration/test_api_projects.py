"""实事项目 over HTTP (issue 20): a leader turns 30 cases into one project, the owner unit reports
progress and completes it, every linked resident is called back through the one 回访 flow, and
the project's figures say so; the four lists (四张清单) are a row dimension and a filter of the
comparison table and its CSV. SQLite here, PostgreSQL below; the project view rebuilt from the
log is the same.

Every instant is fixed (the application's clock is set): cases received in March 2026, the
project opened on 16 March with its deadline on 30 April."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote
from uuid import UUID, uuid4

import pytest

from adapters.bootstrap import Runtime
from engine.deadlines import SHANGHAI
from engine.domain import InvalidCommand
from engine.intake import Channel, IntakeCommand
from projections.tables import view_project_cases, view_project_milestones, view_projects
from tests.support.api import ASSIGNED, ASSIGNED_UNIT, LEADER, OPERATOR, api_client, auth
from tests.unit.test_projections_properties import table_rows

LAMP = "茶亭路{n}号门口的路灯不亮了，晚上黑乎乎的，老人走路容易摔（灯杆编号 {tail}）"
OPENED = dt.datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI)
N = 30


class Clock:
    """The application's clock, moved by the test (no test reads the real one)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def receive(runtime: Runtime, n: int, appeal_type: str = "", at: dt.datetime | None = None) -> UUID:
    r = runtime.app.receive(
        IntakeCommand(
            channel=Channel.HOTLINE,
            source_ref=f"PRJ-{uuid4().hex[:12]}",
            received_at=at or dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI) + dt.timedelta(hours=n),
            content=LAMP.format(n=n, tail=uuid4().hex),
            address=f"海城区茶亭路{n}号",
            caller_name="张伟",
            caller_phone=f"1381234{n:04d}",
            appeal_type=appeal_type,
        )
    )
    assert r.unit == ASSIGNED_UNIT, r
    return r.case_id


def post(client: Any, path: str, token: str, body: dict[str, Any], status: int = 200) -> Any:
    resp = client.post(path, headers=auth(token), json=body)
    assert resp.status_code == status, resp.text[:400]
    return resp.json()


def get(client: Any, path: str, **params: Any) -> Any:
    resp = client.get(path, params=params, headers=auth(LEADER))
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()


def thirty_cases_into_a_project(client: Any, runtime: Runtime) -> tuple[str, list[UUID], dict[str, UUID]]:
    """The story; returns the project id, its 30 cases and the cases left out of it."""
    clock = Clock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))
    runtime.app.clock = clock
    app = runtime.app
    cases = [receive(runtime, n, "投诉" if n % 2 else "") for n in range(1, N + 1)]
    for cid in cases[::3]:  # a third already signed for by the unit: the project takes them too
        app.claim(cid, ASSIGNED_UNIT, "unit:t", at=dt.datetime(2026, 3, 5, 9, 0, tzinfo=SHANGHAI))
    others = {
        "opinion": receive(runtime, 41, "建议"),
        "need": receive(runtime, 42, "求助"),
        "problem": receive(runtime, 43, "投诉"),
        "closed": receive(runtime, 44, "举报"),
    }
    closed = others["closed"]
    app.claim(closed, ASSIGNED_UNIT, "unit:t", at=dt.datetime(2026, 3, 5, 9, 0, tzinfo=SHANGHAI))
    app.resolve(closed, ASSIGNED_UNIT, "已修复", "unit:t", at=dt.datetime(2026, 3, 6, 9, 0, tzinfo=SHANGHAI))
    app.close_case(closed, "结案", "operator:t", at=dt.datetime(2026, 3, 7, 9, 0, tzinfo=SHANGHAI))

    clock.at = OPENED
    project = post(client, "/api/projects", LEADER, {
        "title": "茶亭路路灯整体改造",
        "owner_unit": ASSIGNED_UNIT,
        "deadline": "2026-04-30",
        "budget": "区财政 80 万元（2026 年民生实事专项）",
        "milestones": [{"title": "勘察设计", "due": "2026-03-25"}, {"title": "更换灯杆", "due": "2026-04-20"}],
        "case_ids": [str(c) for c in cases[:25]],
    }, status=201)
    pid = project["project_id"]
    assert project["figures"]["cases"] == 25 and project["status_name"] == "实施中"
    linked = post(client, f"/api/projects/{pid}/cases", OPERATOR, {"case_ids": [str(c) for c in cases[25:]]})
    assert linked["figures"]["cases"] == N
    return pid, cases, others


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


def test_thirty_cases_become_one_project_and_every_resident_is_called_back(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    pid, cases, others = thirty_cases_into_a_project(client, runtime)
    clock = runtime.app.clock
    assert isinstance(clock, Clock)

    # A closed case, or a case already in a project, is refused in Chinese; nothing written.
    resp = client.post(f"/api/projects/{pid}/cases", headers=auth(LEADER), json={"case_ids": [str(others["closed"])]})
    assert resp.status_code == 409 and "已结束或已合并" in resp.json()["message"]
    second = post(client, "/api/projects", OPERATOR, {
        "title": "茶亭路照明补点", "owner_unit": ASSIGNED_UNIT, "deadline": "2026-04-30",
        "milestones": [{"title": "补点", "due": "2026-04-30"}],
    }, status=201)
    resp = client.post(
        f"/api/projects/{second['project_id']}/cases", headers=auth(OPERATOR),
        json={"case_ids": [str(others["need"]), str(cases[0])]},
    )
    assert resp.status_code == 409 and "茶亭路路灯整体改造" in resp.json()["message"]
    assert get(client, f"/api/projects/{second['project_id']}")["figures"]["cases"] == 0  # all or none

    # The owner unit reports: the first milestone on time, the second after its due day.
    clock.at = dt.datetime(2026, 3, 24, 16, 0, tzinfo=SHANGHAI)
    post(client, f"/api/projects/{pid}/progress", ASSIGNED, {"milestone": 1, "note": "勘察完成，设计已批复", "done": True})
    clock.at = dt.datetime(2026, 4, 10, 16, 0, tzinfo=SHANGHAI)
    post(client, f"/api/projects/{pid}/progress", ASSIGNED, {"milestone": 2, "note": "已更换 40 根灯杆"})
    clock.at = dt.datetime(2026, 4, 22, 16, 0, tzinfo=SHANGHAI)
    post(client, f"/api/projects/{pid}/progress", ASSIGNED, {"milestone": 2, "note": "灯杆全部更换", "done": True})
    resp = client.post(f"/api/projects/{pid}/progress", headers=auth("demo-unit-chengguan"), json={"milestone": 1, "note": "x"})
    assert resp.status_code == 404  # another unit does not see the project

    # Completed before the deadline: every linked case is resolved with the project's result.
    clock.at = dt.datetime(2026, 4, 28, 11, 0, tzinfo=SHANGHAI)
    done = post(client, f"/api/projects/{pid}/complete", ASSIGNED, {"result": "茶亭路 86 盏路灯已全部更换并通电"})
    assert done["resolved_now"] == N and done["status_name"] == "已完成" and done["on_time"] is True
    assert {c["status"] for c in done["cases"]} == {"resolved"}
    waiting = get(client, "/api/queue/followup", limit=100)
    assert {str(c) for c in cases} <= {r["case_id"] for r in waiting["rows"]}
    case = client.get(f"/api/cases/{cases[0]}", headers=auth(OPERATOR)).json()
    assert case["status"] == "resolved" and case["resolved_unit"] == ASSIGNED_UNIT
    assert case["project"] == {"id": pid, "title": "茶亭路路灯整体改造"}
    as_unit = client.get(f"/api/cases/{cases[0]}", headers=auth(ASSIGNED)).json()
    assert as_unit["project"]["title"] == "茶亭路路灯整体改造"
    history = client.get(f"/api/cases/{cases[0]}/events", headers=auth(ASSIGNED)).json()
    names = [e["type_name"] for e in (history["events"] if isinstance(history, dict) else history)]
    assert "纳入实事项目" in names and names[-1] == "办结"

    # 回访 through the one flow: 27 satisfied, 2 basically, 1 not (that case is reopened: 重办).
    clock.at = dt.datetime(2026, 4, 29, 10, 0, tzinfo=SHANGHAI)
    ratings = ["satisfied"] * 27 + ["basically_satisfied"] * 2 + ["dissatisfied"]
    for cid, rating in zip(cases, ratings, strict=True):
        post(client, f"/api/cases/{cid}/followup", OPERATOR, {"solved": rating != "dissatisfied", "rating": rating})
    reopened = client.get(f"/api/cases/{cases[-1]}", headers=auth(OPERATOR)).json()
    assert reopened["status"] == "dispatched" and reopened["dispatch"]["unit"] == ASSIGNED_UNIT

    project = get(client, f"/api/projects/{pid}")
    figures = project["figures"]
    assert figures["cases"] == N and figures["called_back"] == N  # every linked resident
    assert (figures["rated"], figures["satisfied"]) == (N, 29)
    assert figures["satisfaction_rate"]["value"] == pytest.approx(29 / 30)
    assert (figures["milestones"], figures["milestones_done"], figures["milestones_on_time"]) == (2, 2, 1)
    assert figures["on_time"] is True
    assert [m["on_time"] for m in project["milestones"]] == [True, False]
    assert [p["note"] for p in project["progress"]] == ["勘察完成，设计已批复", "已更换 40 根灯杆", "灯杆全部更换"]
    listed = {p["project_id"]: p for p in get(client, "/api/projects")["rows"]}
    assert listed[pid]["figures"] == figures
    assert listed[second["project_id"]]["status"] == "open"
    unit_sees = client.get("/api/projects", headers=auth("demo-unit-chengguan")).json()["rows"]
    assert unit_sees == []  # a unit lists only the projects it carries out

    # Completed twice: 409, nothing written.
    resp = client.post(f"/api/projects/{pid}/complete", headers=auth(OPERATOR), json={"result": "再次完成"})
    assert resp.status_code == 409 and "已完成" in resp.json()["message"]

    # 四张清单: the project's 30 cases on the project list, the others by their 诉求类型.
    table = get(client, "/api/stats", by="case_list", **{"from": "2026-03-01", "to": "2026-04-01"})
    received = {r["key"]: r["received"] for r in table["rows"]}
    assert received == {"project": N, "opinion": 1, "need": 1, "problem": 2}
    names = {r["key"]: r["name"] for r in table["rows"]}
    assert names["project"] == "实事项目清单" and names["need"] == "需求清单"
    only_project = get(client, "/api/stats", case_list="project", by="street")
    assert sum(r["received"] for r in only_project["rows"]) == N
    assert only_project["total"]["satisfied"] + only_project["total"]["basically_satisfied"] == 29
    resp = client.get("/api/stats", params={"by": "case_list", "case_list": "need", "format": "csv"}, headers=auth(LEADER))
    assert resp.status_code == 200
    assert unquote(resp.headers["content-disposition"].split("''")[1]) == "七率_按清单_全部时间_清单-需求清单.csv"
    lines = list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))))
    assert [line[1] for line in lines[1:]][:1] == ["需求清单"]
    drill = get(client, "/api/stats/cases", field="received", by="case_list", key="opinion")
    assert [r["case_id"] for r in drill["rows"]] == [str(others["opinion"])]
    resp = client.get("/api/stats", params={"case_list": "wishes"}, headers=auth(LEADER))
    assert resp.status_code == 422

    # The views rebuilt from the log are the same.
    engine = runtime.read_model.engine
    tables = (view_projects, view_project_milestones, view_project_cases)
    before = [table_rows(engine, t) for t in tables]
    runtime.projector.rebuild()
    assert [table_rows(engine, t) for t in tables] == before


@pytest.mark.postgres
def test_a_project_and_its_figures_on_postgresql(fresh_postgres_url: str) -> None:
    with api_client(fresh_postgres_url) as (client, runtime):
        pid, cases, _ = thirty_cases_into_a_project(client, runtime)
        clock = runtime.app.clock
        assert isinstance(clock, Clock)
        clock.at = dt.datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI)  # after the deadline
        done = post(client, f"/api/projects/{pid}/complete", OPERATOR, {"result": "路灯已全部更换"})
        assert done["resolved_now"] == N and done["on_time"] is False
        for cid in cases:
            post(client, f"/api/cases/{cid}/followup", OPERATOR, {"solved": True, "rating": "satisfied"})
        figures = get(client, f"/api/projects/{pid}")["figures"]
        assert (figures["called_back"], figures["rated"], figures["satisfied"]) == (N, N, N)
        received = {r["key"]: r["received"] for r in get(client, "/api/stats", by="case_list")["rows"]}
        assert received == {"project": N, "opinion": 1, "need": 1, "problem": 2}
        engine = runtime.read_model.engine
        tables = (view_projects, view_project_milestones, view_project_cases)
        before = [table_rows(engine, t) for t in tables]
        runtime.projector.rebuild()
        assert [table_rows(engine, t) for t in tables] == before


@pytest.mark.parametrize("day", ["9999-12-31", "2100-01-01"])
def test_a_deadline_past_the_business_years_is_refused_at_the_door_and_by_the_domain(day: str) -> None:
    """A project for 9999-12-31 was accepted (the other doors' dates keep to 2000–2099)."""
    with api_client() as (client, runtime):
        resp = client.post("/api/projects", json={
            "title": "茶亭路路灯改造", "owner_unit": "chengguan", "deadline": day,
            "milestones": [{"title": "勘察", "due": "2026-12-01"}],
        }, headers=auth(LEADER))
        assert resp.status_code == 422, resp.text
        assert "deadline" in resp.json()["message"] and "2099-12-31" in resp.json()["message"]
        resp = client.post("/api/projects", json={
            "title": "茶亭路路灯改造", "owner_unit": "chengguan", "deadline": "2026-12-31",
            "milestones": [{"title": "勘察", "due": day}],
        }, headers=auth(LEADER))
        assert resp.status_code == 422 and "milestones" in resp.json()["message"], resp.text
        # Any other door (the CLI, an import) goes through the application service.
        with pytest.raises(InvalidCommand, match="2099-12-31"):
            runtime.app.open_project(
                title="茶亭路路灯改造", owner_unit="chengguan", deadline=dt.date.fromisoformat(day),
                budget="", milestones=[{"title": "勘察", "due": "2026-12-01"}], case_ids=[],
                principal="leader", at=dt.datetime(2026, 11, 2, 9, 30, tzinfo=SHANGHAI),
            )
