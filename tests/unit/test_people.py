"""Named people (人员账号): password login and sessions, personal tokens, the person in the case
history, and the switch that turns the shared tokens off (issue 18)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from adapters.accounts_store import TOKEN_PREFIX
from adapters.bootstrap import Runtime, bootstrap
from adapters.http import create_app
from adapters.http.people import COOKIE
from engine.accounts import AccountError, AccountEvent
from engine.deadlines import SHANGHAI
from engine.domain import Status
from engine.settings import Settings
from tests.support.api import (
    ADMIN,
    ASSIGNED,
    ASSIGNED_UNIT,
    OPERATOR,
    TestClient,
    api_client,
    auth,
    case_in,
)
from tests.support.people import PASSWORD, Clock, new_person, person_with_token

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture()
def env() -> Iterator[tuple[Any, Runtime, Clock]]:
    with api_client() as (client, runtime):
        clock = Clock(START)
        client.app.state.people.now = clock
        yield client, runtime, clock


def login(client: Any, login: str, password: str = PASSWORD) -> Any:
    return client.post("/api/session", json={"login": login, "password": password})


def test_login_sets_a_strict_http_only_session_that_expires_and_logout_ends_it(env: Any) -> None:
    client, _, clock = env
    new_person(client, "wang.clerk", name="王小明")
    r = login(client, "wang.clerk")
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Max-Age=28800" in cookie
    assert r.json()["person"]["name"] == "王小明" and r.json()["csrf_token"]
    me = client.get("/api/session")
    assert me.status_code == 200 and me.json()["person"]["login"] == "wang.clerk"
    assert me.json()["principal"].startswith("person:")

    clock.move(hours=7, minutes=59)
    assert client.get(f"/api/units/{ASSIGNED_UNIT}/inbox").status_code == 200
    clock.move(minutes=2)  # 8 hours and a minute after login
    expired = client.get(f"/api/units/{ASSIGNED_UNIT}/inbox")
    assert expired.status_code == 401 and "过期" in expired.json()["message"]

    login(client, "wang.clerk")
    assert client.get("/api/session").status_code == 200
    assert client.delete("/api/session").status_code == 200
    assert COOKIE not in client.cookies
    assert client.get("/api/session").status_code == 401


def test_a_kept_cookie_is_dead_after_logout(env: Any) -> None:
    client, _, _ = env
    new_person(client, "kept.cookie")
    login(client, "kept.cookie")
    secret = client.cookies[COOKIE]
    client.delete("/api/session")
    client.cookies.set(COOKIE, secret)
    assert client.get("/api/session").status_code == 401


def test_wrong_password_and_unknown_login_are_401_and_a_disabled_person_403(env: Any) -> None:
    client, _, _ = env
    account, _ = new_person(client, "zhao.clerk")
    wrong = login(client, "zhao.clerk", "not the password")
    unknown = login(client, "no.such.person", "not the password")
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    # The same answer: nothing tells a known login from an unknown one.
    assert wrong.json() == unknown.json()
    assert COOKIE not in client.cookies
    assert client.post(f"/api/people/{account}/disable", headers=auth(ADMIN)).status_code == 200
    disabled = login(client, "zhao.clerk")
    assert disabled.status_code == 403 and disabled.json()["error"] == "disabled"
    # ...and the wrong password of a disabled person is still only 401.
    assert login(client, "zhao.clerk", "not the password").status_code == 401


def test_an_unknown_login_costs_an_argon2_verification_like_a_known_one(env: Any) -> None:
    client, _, _ = env
    new_person(client, "timing.clerk")
    passwords = client.app.state.people.passwords
    calls: list[str] = []
    verify = passwords.verify

    def counting(h: str | None, p: str) -> bool:
        calls.append((h or "")[:9])
        return verify(h, p)

    passwords.verify = counting
    login(client, "nobody.here", "some password")
    login(client, "timing.clerk", "some password")
    assert calls == ["$argon2id", "$argon2id"]  # one full verification each

    def took(name: str) -> float:
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            login(client, name, "some password")
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples)

    known, unknown = took("timing.clerk"), took("nobody.here")
    # Same work, not the same microsecond: a lookup that skipped argon2 would be ~100× faster.
    assert unknown > known / 4, (known, unknown)


def test_cookie_requests_that_change_things_need_the_csrf_token(env: Any) -> None:
    client, runtime, _ = env
    new_person(client, "csrf.clerk")
    csrf = login(client, "csrf.clerk").json()["csrf_token"]
    cid = case_in(runtime, Status.DISPATCHED)
    refused = client.post(f"/api/cases/{cid}/claim")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf"
    assert client.post(f"/api/cases/{cid}/claim", headers={"X-CSRF-Token": "0" * 32}).status_code == 403
    assert runtime.app.get_case(cid).status == Status.DISPATCHED  # nothing written
    ok = client.post(f"/api/cases/{cid}/claim", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert client.get("/api/session").json()["csrf_token"] == csrf


def test_the_case_history_names_the_person_and_units_see_only_their_own_people(env: Any) -> None:
    client, runtime, _ = env
    _, operator = person_with_token(client, "op.zhang", "operator", None, name="张话务")
    _, clerk = person_with_token(client, "clerk.li", "unit", ASSIGNED_UNIT, name="李社工")
    _, colleague = person_with_token(client, "clerk.wu", "unit", ASSIGNED_UNIT, name="吴社工")
    cid = case_in(runtime, Status.RECEIVED)
    assert client.post(f"/api/cases/{cid}/dispatch", headers=auth(operator), json={"unit": ASSIGNED_UNIT}).status_code == 200
    assert client.post(f"/api/cases/{cid}/claim", headers=auth(clerk)).status_code == 200

    def history(token: str) -> dict[str, tuple[str, str]]:
        events = client.get(f"/api/cases/{cid}/events", headers=auth(token)).json()
        return {e["type"]: (e["principal"], e["actor"]) for e in events}

    centre = history(OPERATOR)
    assert centre["Dispatched"][1] == "张话务（话务员）" and centre["Dispatched"][0].startswith("person:")
    assert centre["Claimed"][1] == "李社工（茶亭路社区）"
    unit = history(colleague)
    assert unit["Claimed"][1] == "李社工（茶亭路社区）"  # a colleague
    assert unit["Dispatched"] == ("centre:operator", "中心话务员")  # the centre, not its staff
    assert "张话务" not in str(client.get(f"/api/cases/{cid}/events", headers=auth(colleague)).json())
    # The log itself records the person's identity, role and unit.
    claimed = next(e for e in runtime.app.events.get(cid) if type(e).__name__ == "Claimed")
    assert claimed.principal.endswith(f";role=unit;unit={ASSIGNED_UNIT}")


def test_a_person_of_one_unit_cannot_act_on_another_units_case(env: Any) -> None:
    client, runtime, _ = env
    _, stranger = person_with_token(client, "cg.clerk", "unit", "chengguan")
    cid = case_in(runtime, Status.DISPATCHED)  # with 茶亭路社区
    before = runtime.app.get_case(cid).version
    assert client.post(f"/api/cases/{cid}/claim", headers=auth(stranger)).status_code == 404
    assert client.get(f"/api/cases/{cid}", headers=auth(stranger)).status_code == 404
    assert runtime.app.get_case(cid).version == before


def test_disabling_a_person_ends_their_session_and_tokens_at_once(env: Any) -> None:
    client, _, _ = env
    account, token = person_with_token(client, "leaving.clerk", "unit", ASSIGNED_UNIT)
    login(client, "leaving.clerk")
    assert client.get("/api/session").status_code == 200
    assert client.get("/api/session", headers=auth(token)).status_code == 200
    assert client.post(f"/api/people/{account}/disable", headers=auth(ADMIN)).status_code == 200
    assert client.get("/api/session", headers=auth(token)).status_code == 403
    assert client.get("/api/session").status_code == 401  # the session was ended
    # Enabled again: the token works again, the session does not come back.
    assert client.post(f"/api/people/{account}/enable", headers=auth(ADMIN)).status_code == 200
    assert client.get("/api/session", headers=auth(token)).status_code == 200


def test_a_revoked_token_and_a_reset_password_stop_working(env: Any) -> None:
    client, _, _ = env
    account, _ = new_person(client, "reset.clerk")
    issued = client.post(f"/api/people/{account}/tokens", headers=auth(ADMIN)).json()
    token = issued["token"]
    assert client.get("/api/session", headers=auth(token)).status_code == 200
    r = client.post(f"/api/people/{account}/tokens/{issued['token_id']}/revoke", headers=auth(ADMIN))
    assert r.status_code == 200 and r.json()["tokens"] == [{"token_id": issued["token_id"], "revoked": True}]
    assert client.get("/api/session", headers=auth(token)).status_code == 401
    again = client.post(f"/api/people/{account}/tokens/{issued['token_id']}/revoke", headers=auth(ADMIN))
    assert again.status_code == 409

    reset = client.post(f"/api/people/{account}/password", headers=auth(ADMIN), json={}).json()
    assert login(client, "reset.clerk").status_code == 401
    assert login(client, "reset.clerk", reset["password"]).status_code == 200


def test_every_change_is_an_event_naming_the_admin_and_the_view_rebuilds(env: Any) -> None:
    client, _, _ = env
    _, admin = person_with_token(client, "admin.chen", "admin", None, name="陈管理")
    r = client.post("/api/people", headers=auth(admin), json={"login": "new.op", "name": "新话务", "role": "operator"})
    assert r.status_code == 201 and len(r.json()["password"]) == 16
    account = r.json()["id"]
    assert client.post(f"/api/people/{account}/role", headers=auth(admin), json={"role": "leader"}).status_code == 200
    assert client.post(f"/api/people/{account}/disable", headers=auth(admin)).status_code == 200
    detail = client.get(f"/api/people/{account}", headers=auth(admin)).json()
    assert [(h["type_name"], h["by_name"]) for h in detail["history"]] == [
        ("新建账号", "陈管理"), ("设置密码", "陈管理"), ("调整角色", "陈管理"), ("停用账号", "陈管理"),
    ]
    assert "password_hash" not in str(detail)
    view = client.app.state.people.view
    before = [(p.login, p.role, p.disabled, p.version) for p in view.all()]
    view.rebuild()
    assert [(p.login, p.role, p.disabled, p.version) for p in view.all()] == before


def test_bad_values_are_422_and_a_taken_login_409(env: Any) -> None:
    client, _, _ = env
    body = {"login": "dup.clerk", "name": "甲", "role": "unit", "unit": ASSIGNED_UNIT, "password": PASSWORD}
    assert client.post("/api/people", headers=auth(ADMIN), json=body).status_code == 201
    assert client.post("/api/people", headers=auth(ADMIN), json=body).status_code == 409
    for bad in ({"unit": None}, {"unit": "nowhere"}, {"login": "Bad Login!"}, {"password": "short"},
                {"role": "operator", "unit": ASSIGNED_UNIT}, {"role": "king"}):
        r = client.post("/api/people", headers=auth(ADMIN), json=body | {"login": "x.clerk"} | bad)
        assert r.status_code == 422, (bad, r.text)
    assert client.get("/api/people/not-an-id", headers=auth(ADMIN)).status_code == 404


def test_two_changes_to_one_person_at_once_keep_only_the_first(env: Any) -> None:
    client, _, clock = env
    account, _ = new_person(client, "race.clerk")
    people = client.app.state.people
    current = people.service.get(__import__("uuid").UUID(account))
    event = AccountEvent(current.id, current.version + 1, "AccountDisabled", clock(), "admin:t", {})
    people.log.append([event])
    with pytest.raises(AccountError) as err:
        people.log.append([event])
    assert err.value.status == 409


def _runtime(db: str, shared: bool, tmp_path: Path) -> Runtime:
    """The demo district, with ``auth: {shared_tokens: false}`` added to its file when asked."""
    config = tmp_path / "district.yaml"
    text = resources.files("engine").joinpath("data/haicheng.yaml").read_text("utf-8")
    config.write_text(text + ("" if shared else "\nauth:\n  shared_tokens: false\n"), "utf-8")
    # The district file names its area polygons by a path beside it.
    areas = resources.files("engine").joinpath("data/haicheng-areas.geojson").read_bytes()
    (tmp_path / "haicheng-areas.geojson").write_bytes(areas)
    return bootstrap(Settings.from_env({"SANSHI_DB": db, "SANSHI_CONFIG": str(config)}))


def test_with_shared_tokens_off_only_named_people_get_in(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'people.db'}"
    runtime = _runtime(db, True, tmp_path)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        _, operator = person_with_token(client, "only.op", "operator", None)
    runtime.close()

    runtime = _runtime(db, False, tmp_path)
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            assert client.get("/api/auth/options").json() == {"shared_tokens": False, "session": False, "demo": False}
            for token in (OPERATOR, ADMIN, ASSIGNED):
                assert client.get("/api/session", headers=auth(token)).status_code == 401
            issued = runtime.api_store.create_token("leader", None, "领导")  # sanshi token create
            assert client.get("/api/stats", headers=auth(issued)).status_code == 401
            assert client.get("/open311/v2/requests.json", params={"api_key": OPERATOR}).status_code == 200
            assert client.post("/open311/v2/requests.json", data={"api_key": OPERATOR, "service_code": "municipal",
                               "description": "井盖缺失", "address_string": "茶亭路1号"}).status_code == 403
            assert client.get("/api/session", headers=auth(operator)).status_code == 200
            assert login(client, "only.op").status_code == 200
    finally:
        runtime.close()


def test_the_database_holds_no_password_token_or_session_in_clear(tmp_path: Path) -> None:
    db_path = tmp_path / "raw.db"
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": f"sqlite:///{db_path}"}))
    secret_password = "Zz9-very-secret-pass"
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            account, _ = new_person(client, "raw.clerk", password=secret_password)
            token = client.post(f"/api/people/{account}/tokens", headers=auth(ADMIN)).json()["token"]
            reset = client.post(f"/api/people/{account}/password", headers=auth(ADMIN), json={}).json()["password"]
            assert login(client, "raw.clerk", reset).status_code == 200
            session = client.cookies[COOKIE]
    finally:
        runtime.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"raw.clerk" in raw  # the file is the one the accounts were written to
    # the token's secret part is what follows "sanshi_p_<id>_"; it may itself hold "_"
    secret_part = token.removeprefix(TOKEN_PREFIX).split("_", 1)[1]
    assert len(secret_part) >= 40
    for secret in (secret_password, reset, token, secret_part, session):
        assert secret.encode() not in raw, secret
