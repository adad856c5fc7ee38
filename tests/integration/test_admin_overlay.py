"""管理设置 without a restart (issue 18): a routing rule an admin adds through the API changes the
next routing decision in the same process, and a second app instance over the same database
(another process's runtime: a worker, a second web server) routes by it too without a restart;
removing it, and deactivating a unit, take effect the same way."""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import ADMIN, OPERATOR, api_client, auth

SMOKE = "北部湾中路的烧烤店每天晚上油烟扰民严重，熏得没法开窗（第{n}次反映）"
NOISE = "北部湾中路工地夜里施工噪音很大，吵得睡不着（第{n}次反映）"
_n = itertools.count(1)


def _intake(client: Any, text: str) -> dict[str, Any]:
    n = next(_n)
    resp = client.post(
        "/api/cases",
        headers=auth(OPERATOR),
        json={
            "order_no": f"ADMIN-IT-{n}",
            "received_at": "2026-11-02 09:30:00",
            "content": text.format(n=n),
            "address": "海城区北部湾中路",
        },
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _unit(case: dict[str, Any]) -> str | None:
    dispatch = case.get("dispatch") or {}
    unit: str | None = dispatch.get("unit")
    return unit


def test_an_added_rule_routes_the_next_case_here_and_in_a_second_instance(tmp_path: Path) -> None:
    _rule_in_two_instances(f"sqlite:///{tmp_path / 'sanshi.db'}")


@pytest.mark.postgres
def test_the_same_on_postgresql(fresh_postgres_url: str) -> None:
    _rule_in_two_instances(fresh_postgres_url)


def _rule_in_two_instances(db: str) -> None:
    with ExitStack() as stack:
        first, rt1 = stack.enter_context(api_client(db))
        second, rt2 = stack.enter_context(api_client(db))  # started before the change
        for rt in (rt1, rt2):
            rt.router.wait_ready()
        assert rt2.admin is not None
        rt2.admin.interval = 0  # poll before every decision (the default is every 2 s)

        before = _intake(first, SMOKE)
        assert (before["status"], _unit(before)) == ("dispatched", "huanjing")

        added = first.post(
            "/api/admin/rules",
            headers=auth(ADMIN),
            json={"category": "environment", "keywords": ["油烟"], "to": "chengguan", "priority": 200},
        )
        assert added.status_code == 201, added.text
        rule = added.json()["id"]

        # Same process, no restart: the next decision follows the rule.
        here = _intake(first, SMOKE)
        assert _unit(here) == "chengguan"
        # The second instance reads the change from the log before its next decision.
        there = _intake(second, SMOKE)
        assert _unit(there) == "chengguan"
        # A text without the keyword still goes where the district file says.
        assert _unit(_intake(second, NOISE)) == "huanjing"
        # Both list it, and the history says who, when and what.
        listed = second.get("/api/admin/settings", headers=auth(ADMIN)).json()["rules"]
        assert listed[0] == {
            "id": rule, "category": "environment", "keywords": ["油烟"], "to": "chengguan",
            "priority": 200, "source": "admin",
        }
        history = second.get("/api/admin/history", headers=auth(ADMIN)).json()["items"]
        assert history[0]["event"] == "RoutingRuleAdded"
        assert history[0]["change"]["to"] == [None, "chengguan"]
        assert history[0]["principal"].startswith("admin") and history[0]["at"]

        # Removed: both instances route as before.
        removed = first.post(f"/api/admin/rules/{rule}/remove", headers=auth(ADMIN))
        assert removed.status_code == 200, removed.text
        assert _unit(_intake(second, SMOKE)) == "huanjing"
        assert _unit(_intake(first, SMOKE)) == "huanjing"


def test_a_deactivated_unit_gets_no_new_cases_but_keeps_its_own(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    with ExitStack() as stack:
        first, rt1 = stack.enter_context(api_client(db))
        second, rt2 = stack.enter_context(api_client(db))
        for rt in (rt1, rt2):
            rt.router.wait_ready()
        assert rt2.admin is not None
        rt2.admin.interval = 0
        kept = _intake(first, NOISE)
        assert _unit(kept) == "huanjing"

        centre = first.post("/api/admin/units/centre/deactivate", headers=auth(ADMIN), json={})
        assert centre.status_code == 409 and "中心" in centre.json()["message"]
        off = first.post("/api/admin/units/huanjing/deactivate", headers=auth(ADMIN), json={"reason": "职责调整"})
        assert off.status_code == 200, off.text

        # The second instance: no longer routed there (the centre's hand instead) …
        new = _intake(second, NOISE)
        assert _unit(new) != "huanjing"
        # … an operator cannot dispatch there either (409), and a rule cannot point there.
        refused = second.post(
            f"/api/cases/{new['id']}/dispatch", headers=auth(OPERATOR), json={"unit": "huanjing"}
        )
        assert refused.status_code == 409 and "已停用" in refused.json()["message"], refused.text
        rule = first.post(
            "/api/admin/rules",
            headers=auth(ADMIN),
            json={"category": "environment", "keywords": ["噪音"], "to": "huanjing"},
        )
        assert rule.status_code == 409 and "已停用" in rule.json()["message"]
        # The case it had stays with it.
        still = second.get(f"/api/cases/{kept['id']}", headers=auth(OPERATOR)).json()
        assert _unit(still) == "huanjing"
        units = {u["id"]: u for u in second.get("/api/admin/settings", headers=auth(ADMIN)).json()["units"]}
        assert units["huanjing"]["active"] is False
