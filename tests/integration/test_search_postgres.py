"""查找 on PostgreSQL (issue 18): the same searches as tests/unit/test_api_search.py through
the GIN index over the words, the order book numbering cases, and a rebuild giving the same
numbers and the same answers."""

from __future__ import annotations

import pytest

from tests.support.api import ASSIGNED, OPERATOR, api_client, auth

pytestmark = pytest.mark.postgres


def test_search_and_history_on_postgresql(fresh_postgres_url: str) -> None:
    with api_client(fresh_postgres_url) as (client, rt):
        made = []
        for i, (content, address) in enumerate([
            ("茶亭路18号门口的路灯不亮了，晚上黑乎乎的", "海城区茶亭路18号"),
            ("珠海路菜市场门口占道经营严重，摊贩把人行道全占了", "海城区珠海路"),
        ]):
            r = client.post("/api/cases", headers=auth(OPERATOR), json={
                "order_no": f"PG-S-{i}", "received_at": "2026-12-01 09:30:00", "content": content,
                "address": address, "caller_phone": "13977900001", "caller_name": "李女士",
            })
            assert r.status_code == 201, r.text
            made.append(r.json())
        assert [c["order_no"] for c in made] == ["HC20261201000001", "HC20261201000002"]

        def found(token: str, **params: str) -> list[str]:
            body = client.get("/api/search", headers=auth(token), params=params).json()
            return [row["case_id"] for row in body["rows"]]

        assert found(OPERATOR, q="+86 139 7790 0001") == [made[1]["id"], made[0]["id"]]
        assert found(OPERATOR, q="路灯") == [made[0]["id"]]
        assert found(OPERATOR, q="人行道 摊贩") == [made[1]["id"]]
        assert found(OPERATOR, q="李女士", kind="name") == [made[1]["id"], made[0]["id"]]
        assert found(ASSIGNED, q="摊贩") == []  # another unit's case
        by_path = client.get(f"/api/cases/{made[0]['order_no']}", headers=auth(OPERATOR))
        assert by_path.json()["id"] == made[0]["id"]
        history = client.get("/api/callers/history", headers=auth(OPERATOR),
                             params={"phone": "１３９７７９００００１"}).json()["cases"]
        assert len(history) == 2

        rt.projector.rebuild()
        assert found(OPERATOR, q="路灯") == [made[0]["id"]]
        again = client.get(f"/api/cases/{made[1]['order_no']}", headers=auth(OPERATOR)).json()
        assert again["order_no"] == made[1]["order_no"]
