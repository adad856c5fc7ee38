"""演示登录 (issue 18): in demo mode one named person per role and a one-click login that opens a
real session (the acts are recorded under the person); not in demo mode neither the routes nor
the page's buttons exist."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from adapters.bootstrap import Runtime, bootstrap
from adapters.http import create_app
from adapters.http.demo_login import DEMO_PEOPLE, seed_demo_people
from adapters.http.people import COOKIE, People
from engine.domain import Status
from engine.settings import Settings
from tests.support.api import ASSIGNED_UNIT, api_client, case_in


@contextmanager
def demo_client() -> Iterator[tuple[TestClient, Runtime]]:
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    try:
        with TestClient(create_app(runtime, demo=True), raise_server_exceptions=False) as client:
            yield client, runtime
    finally:
        runtime.close()


def test_demo_mode_lists_one_person_per_role_and_unit_kind() -> None:
    with demo_client() as (client, runtime):
        assert client.get("/api/auth/options").json()["demo"] is True
        people = client.get("/api/demo/accounts").json()
        by_login = {p["login"]: p for p in people}
        assert [p["login"] for p in people] == [p.login for p in DEMO_PEOPLE]
        assert by_login["demo.operator"]["label"] == "话务员"
        assert by_login["demo.leader"]["label"] == "领导"
        assert by_login["demo.admin"]["label"] == "管理员"
        kinds = {u.id: u.kind.value for u in runtime.config.units}
        for login, kind, zh in (("demo.street", "street", "街道"), ("demo.department", "department", "职能部门"),
                                ("demo.community", "community", "社区"), ("demo.judicial", "judicial_office", "司法所")):
            p = by_login[login]
            assert p["role"] == "unit" and kinds[p["unit"]] == kind
            assert p["label"] == f"{zh}·{p['unit_name']}"
        # No password: nobody logs in as them with one.
        assert not any(p["has_password"] for p in people)


def test_one_click_is_a_real_session_and_acts_are_recorded_under_the_person() -> None:
    with demo_client() as (client, runtime):
        r = client.post("/api/demo/session", json={"login": "demo.operator"})
        assert r.status_code == 200, r.text
        csrf = r.json()["csrf_token"]
        assert COOKIE in client.cookies
        me = client.get("/api/session").json()
        assert me["role"] == "operator" and me["person"]["name"] == "陈晓雯"
        assert me["principal"].startswith("person:")
        cid = case_in(runtime, Status.RECEIVED)
        # Like any cookie session, a change without the CSRF token is refused.
        assert client.post(f"/api/cases/{cid}/dispatch", json={"unit": ASSIGNED_UNIT}).status_code == 403
        d = client.post(f"/api/cases/{cid}/dispatch", json={"unit": ASSIGNED_UNIT}, headers={"X-CSRF-Token": csrf})
        assert d.status_code == 200, d.text
        dispatched = next(e for e in runtime.app.events.get(cid) if type(e).__name__ == "Dispatched")
        assert dispatched.principal == me["principal"]
        events = client.get(f"/api/cases/{cid}/events").json()
        assert next(e for e in events if e["type"] == "Dispatched")["actor"] == "陈晓雯（话务员）"

        # Each role's button lands as that role.
        for person in DEMO_PEOPLE:
            client.cookies.clear()
            assert client.post("/api/demo/session", json={"login": person.login}).status_code == 200
            assert client.get("/api/session").json()["role"] == person.role.value
        # Only the demo's people: not an admin-made account, not an unknown login.
        client.cookies.clear()
        assert client.post("/api/demo/session", json={"login": "someone.else"}).status_code == 404


def test_a_disabled_demo_person_cannot_log_in() -> None:
    with demo_client() as (client, _runtime):
        people: People = client.app.state.people  # type: ignore[attr-defined]
        row = people.view.by_login("demo.street")
        assert row is not None
        people.service.disable(row.id, "system:test")
        r = client.post("/api/demo/session", json={"login": "demo.street"})
        assert r.status_code == 403 and r.json()["error"] == "disabled"
        assert "demo.street" not in {p["login"] for p in client.get("/api/demo/accounts").json()}


def test_production_mode_has_no_demo_login_even_with_the_demo_people_in_the_database() -> None:
    with api_client() as (client, runtime):
        seed_demo_people(client.app.state.people, runtime.config)  # type: ignore[attr-defined]
        assert client.get("/api/auth/options").json()["demo"] is False
        assert client.get("/api/demo/accounts").status_code == 404
        r = client.post("/api/demo/session", json={"login": "demo.operator"})
        assert r.status_code == 404
        assert COOKIE not in client.cookies
        assert client.get("/api/session").status_code == 401
        # And the password login does not let them in either (they have none).
        assert client.post("/api/session", json={"login": "demo.operator", "password": "x" * 12}).status_code == 401
        assert "/api/demo" not in str(client.get("/openapi.json").json()["paths"])


def test_seeding_twice_makes_each_person_once() -> None:
    with api_client() as (client, runtime):
        people: Any = client.app.state.people  # type: ignore[attr-defined]
        first = seed_demo_people(people, runtime.config)
        assert first == [p.login for p in DEMO_PEOPLE]
        assert seed_demo_people(people, runtime.config) == []
        assert len([r for r in people.view.all() if r.login.startswith("demo.")]) == len(DEMO_PEOPLE)
