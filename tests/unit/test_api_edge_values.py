"""Every query parameter of every GET route, given the values at the edges of what its type can
hold (the last date, an integer past 64 bits, a NUL, a long string, full-width digits, a date
that does not exist), as the leader and as a unit: a clear 4xx or an answer, never a 5xx.
Schemathesis (test_api_schemathesis.py) draws values from the schema and rarely lands on these;
they found two 500s: a report for 9999-12-31 (its end is past the last date) and an offset past
SQLite's integer on 批示跟踪."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ASSIGNED, LEADER, OPERATOR, api_client, auth
from tests.support.edges import EDGES

# Path parameters that are not ids: a route that exists, so its query parameters are read.
PATH_VALUES = {"fmt": "json", "unit": "chatinglu", "unit_id": "chatinglu", "service_code": "municipal"}


def _url(path: str, op: dict[str, Any]) -> str:
    for p in op.get("parameters", []):
        if p["in"] == "path":
            value = PATH_VALUES.get(p["name"], "00000000-0000-0000-0000-000000000000")
            path = path.replace("{" + p["name"] + "}", value)
    return path


@pytest.mark.parametrize("token", [LEADER, ASSIGNED], ids=["leader", "unit"])
def test_no_query_value_at_the_edge_makes_a_server_error(token: str) -> None:
    with api_client() as (client, _):
        for n in range(2):
            client.post("/api/cases", json={
                "order_no": f"EDGE{n}", "received_at": "2026-11-02 09:30:00",
                "content": f"茶亭路{n + 3}号门口的路灯不亮了", "caller_phone": "13912340000",
            }, headers=auth(OPERATOR))
        spec = client.get("/openapi.json").json()
        failures, asked = [], 0
        for path, ops in spec["paths"].items():
            op = ops.get("get")
            if op is None:
                continue
            url = _url(path, op)
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            for name in names:
                for value in EDGES:
                    answer = client.get(url, params={name: value}, headers=auth(token))
                    asked += 1
                    if answer.status_code >= 500:
                        failures.append(f"GET {url}?{name}={value[:24]!r}: {answer.status_code}")
            if names:  # every parameter at the last date together (a range to the end of time)
                answer = client.get(url, params=dict.fromkeys(names, "9999-12-31"), headers=auth(token))
                asked += 1
                if answer.status_code >= 500:
                    failures.append(f"GET {url} (all 9999-12-31): {answer.status_code}")
        assert asked > 500  # the schema still lists the routes and their parameters
        assert not failures, failures
