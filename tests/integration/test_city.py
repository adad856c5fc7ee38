"""A city of two districts in one deployment (docs/city.md): each district's tokens see its own
cases only; a 跨区转办 is received once in each district and once in the city; a retry does
not double it; each district's views equal a rebuild after it."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from adapters.city import City, bootstrap_city
from adapters.http.city import create_city_app
from engine.deadlines import SHANGHAI
from engine.domain import Status
from engine.intake import Channel, IntakeCommand

REPO = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 3, 3, 9, 30, tzinfo=SHANGHAI)  # a Tuesday
DAY = T0.date().isoformat()
NEXT_DAY = (T0.date() + dt.timedelta(days=1)).isoformat()
CITY_LEADER = "test-city-leader-token"
HC_OPERATOR, YH_OPERATOR = "demo-operator-token", "yinhai-demo-operator-token"
LAMP = "茶亭路{n}号门口的路灯不亮了，晚上黑乎乎的，老人走路容易摔"
VAGUE = "我想反映一个情况，麻烦你们记一下（{n}）"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _city_file(tmp_path: Path, haicheng_db: str, yinhai_db: str) -> Path:
    file = tmp_path / "city.yaml"
    file.write_text(
        "city: {id: beihai, name: 北海市}\n"
        "districts:\n"
        f"- {{id: haicheng, name: 海城区, config: {REPO / 'engine/data/haicheng.yaml'}, "
        f"database: '{haicheng_db}'}}\n"
        f"- {{id: yinhai, name: 银海区, config: {REPO / 'deploy/city/yinhai.yaml'}, "
        f"database: '{yinhai_db}'}}\n"
        f"tokens:\n- {{token: {CITY_LEADER}, role: leader, name: 市领导}}\n",
        encoding="utf-8",
    )
    return file


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[City]:
    """Two districts, each its own database: two SQLite files, or two PostgreSQL databases."""
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        names = [f"t_{uuid4().hex}" for _ in range(2)]
        urls = [server.create_database(n) for n in names]
    else:
        names, urls = [], [f"sqlite:///{tmp_path / d}.db" for d in ("haicheng", "yinhai")]
    c = bootstrap_city(_city_file(tmp_path, *urls), environ={})
    for rt in c.districts.values():
        rt.app.clock = lambda: T0  # commands given no time (the HTTP routes) happen at T0
    try:
        yield c
    finally:
        c.close()
        for n in names:
            server.drop_database(n)


@pytest.fixture
def client(city: City) -> Iterator[TestClient]:
    with TestClient(create_city_app(city, not_found_floor=0), raise_server_exceptions=False) as c:
        yield c


def _receive(city: City, district: str, ref: str, text: str) -> UUID:
    r = city.runtime(district).app.receive(
        IntakeCommand(
            channel=Channel.HOTLINE, source_ref=ref, received_at=T0, content=text, address=""
        )
    )
    return r.case_id


def _tokens(city: City) -> dict[str, list[str]]:
    return {d: [t.token for t in rt.config.tokens] for d, rt in city.districts.items()}


# The authorisation matrix does not depend on the database: SQLite runs it.
@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_no_case_of_one_district_is_visible_to_the_other_districts_tokens(
    city: City, client: TestClient
) -> None:
    # The same street lamp words in both districts: both route it to a unit called chatinglu
    # (the second district keeps the demo's community ids), so the unit ids coincide and only
    # the district tells the cases apart.
    cases = {
        "haicheng": _receive(city, "haicheng", "HC1", LAMP.format(n=1)),
        "yinhai": _receive(city, "yinhai", "YH1", LAMP.format(n=2)),
    }
    units = {d: city.runtime(d).app.get_case(c).assigned_unit for d, c in cases.items()}
    assert units == {"haicheng": "chatinglu", "yinhai": "chatinglu"}
    tokens = _tokens(city)
    seen_own = 0
    for token_district, district_tokens in tokens.items():
        for token in [*district_tokens, CITY_LEADER]:
            for mount in city.districts:
                for case_district, cid in cases.items():
                    for path in (f"/api/cases/{cid}", f"/api/cases/{cid}/events"):
                        r = client.get(f"/d/{mount}{path}", headers=_auth(token))
                        own = token != CITY_LEADER and token_district == mount == case_district
                        if not own:
                            # Another district's case, or a token of another district (or
                            # the city's) on this mount: never the case.
                            assert r.status_code in (401, 403, 404), (token, mount, path)
                            # (a 404 names the id asked for; nothing of the case itself)
                            assert set(r.json()) == {"error", "message"}, (token, mount, path)
                        elif r.status_code == 200:
                            seen_own += 1
                    listing = client.get(f"/d/{mount}/api/cases", headers=_auth(token))
                    if token == CITY_LEADER or token_district != mount:
                        assert listing.status_code == 401, (token, mount)
                    assert str(cases["yinhai" if mount == "haicheng" else "haicheng"]) not in (
                        listing.text
                    )
    # Each district's operator, leader, admin and the lamp's unit read their own case (and its
    # events) on their own mount: 4 readers × 2 routes × 2 districts.
    assert seen_own == 16
    # The city's figures are for city tokens only.
    assert client.get("/city/api/stats", headers=_auth(HC_OPERATOR)).status_code == 401
    assert client.get("/city/api/stats", headers=_auth("demo-leader-token")).status_code == 401
    assert client.get("/city/api/stats", headers=_auth(CITY_LEADER)).status_code == 200


def _transfer(client: TestClient, cid: UUID, token: str = HC_OPERATOR) -> Any:
    return client.post(
        "/d/haicheng/api/city/transfers",
        json={"case_id": str(cid), "to_district": "yinhai", "reason": "地址在银海区，属银海区办理"},
        headers=_auth(token),
    )


def _counts(row: dict[str, Any]) -> dict[str, int]:
    keys = ("received", "rejected", "accepted", "transferred_in", "transferred_out", "transfers")
    return {k: row[k] for k in keys if k in row}


def test_a_transfer_is_received_once_in_each_district_and_once_in_the_city(
    city: City, client: TestClient
) -> None:
    # 海城区 receives two cases (one of them 银海区's), 银海区 one of its own.
    theirs = _receive(city, "haicheng", "HC2", VAGUE.format(n=1))
    _receive(city, "haicheng", "HC3", LAMP.format(n=3))
    _receive(city, "yinhai", "YH2", LAMP.format(n=4))
    assert city.runtime("haicheng").app.get_case(theirs).status == Status.RECEIVED

    # Only the case's own district's operator may hand it over.
    assert _transfer(client, theirs, YH_OPERATOR).status_code == 401
    assert _transfer(client, theirs, "demo-unit-chatinglu").status_code == 403
    first = _transfer(client, theirs)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "transferred_out" and body["duplicate"] is False
    # A retry (the operator's second click, a lost answer) writes nothing twice.
    again = _transfer(client, theirs)
    assert again.status_code == 201
    assert again.json()["to_case_id"] == body["to_case_id"] and again.json()["duplicate"] is True
    # Handing it to a third place after it left is refused.
    assert client.post(
        "/d/haicheng/api/city/transfers",
        json={"case_id": str(theirs), "to_district": "haicheng", "reason": "退回"},
        headers=_auth(HC_OPERATOR),
    ).status_code in (409, 422)

    received = city.runtime("yinhai").app.get_case(UUID(body["to_case_id"]))
    assert received.channel == "transfer"
    assert received.extra["transferred_from"]["district"] == "haicheng"
    assert received.extra["transferred_from"]["case_id"] == str(theirs)

    # 海城区's operator sees the case as 已转出; 银海区's operator sees the new one, 海城区's not.
    out = client.get(f"/d/haicheng/api/cases/{theirs}", headers=_auth(HC_OPERATOR))
    assert out.status_code == 200 and out.json()["status"] == "transferred_out"
    to_case = body["to_case_id"]
    assert client.get(f"/d/yinhai/api/cases/{to_case}", headers=_auth(YH_OPERATOR)).status_code == 200
    assert client.get(f"/d/haicheng/api/cases/{to_case}", headers=_auth(HC_OPERATOR)).status_code == 404

    stats = client.get(
        "/city/api/stats", params={"from": DAY, "to": NEXT_DAY}, headers=_auth(CITY_LEADER)
    ).json()
    rows = {r["key"]: _counts(r) for r in stats["rows"]}
    # 海城区: received 2; the transfer is not its to handle: rejected 1 (it), accepted 2 − 1 = 1.
    assert rows["haicheng"] == {
        "received": 2, "rejected": 1, "accepted": 1, "transferred_in": 0, "transferred_out": 1
    }
    # 银海区: received 2 (its own and the transfer, on channel 跨区转入), accepted 2.
    assert rows["yinhai"] == {
        "received": 2, "rejected": 0, "accepted": 2, "transferred_in": 1, "transferred_out": 0
    }
    # The city: received 2 + 2 − 1 (the transfer, received in both) = 3; rejected 1 − 1 = 0;
    # accepted 3 = 1 + 2; one transfer.
    assert _counts(stats["total"]) == {"received": 3, "rejected": 0, "accepted": 3, "transfers": 1}
    # Rates from the sums: 办结率's denominator is the city's accepted cases.
    assert stats["total"]["handling_rate"]["denominator"] == 3

    # The districts' own figures (their own /api/stats) say the same.
    hc = client.get("/d/haicheng/api/stats", headers=_auth("demo-leader-token")).json()["total"]
    yh = client.get("/d/yinhai/api/stats", headers=_auth("yinhai-demo-leader-token")).json()[
        "total"
    ]
    assert (hc["received"], hc["accepted"], yh["received"], yh["accepted"]) == (2, 1, 2, 2)


def test_each_districts_views_equal_a_rebuild_after_a_transfer(
    city: City, client: TestClient
) -> None:
    theirs = _receive(city, "haicheng", "HC4", VAGUE.format(n=2))
    _receive(city, "yinhai", "YH4", LAMP.format(n=5))
    assert _transfer(client, theirs).status_code == 201
    for district, rt in city.districts.items():
        live = rt.read_model.stats("channel")
        live_case = rt.read_model.stats(None)["total"]
        rt.projector.rebuild()
        assert rt.read_model.stats("channel") == live, district
        assert rt.read_model.stats(None)["total"] == live_case, district


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_returned_case_transferred_out_leaves_the_return_queue(city: City) -> None:
    """A unit returns a case as not its district's; the centre hands it over instead of
    reviewing the return: the return lapses (no longer 待审退单) and the case is 已转出."""
    hc = city.runtime("haicheng")
    cid = _receive(city, "haicheng", "HC5", LAMP.format(n=6))
    unit = hc.app.get_case(cid).assigned_unit
    assert unit is not None
    hc.app.return_case(cid, unit, "该地址属银海区", "unit:clerk", at=T0)
    assert [r["case_id"] for r in hc.read_model.return_review_queue()["rows"]] == [cid]
    moved = city.transfer("haicheng", cid, "yinhai", "地址属银海区", "operator:test", at=T0)
    assert moved["status"] == "transferred_out" and moved["duplicate"] is False
    assert hc.read_model.return_review_queue()["total"] == 0
    with hc.views_engine.connect() as conn:
        from projections.tables import view_returns

        decisions = [r.decision for r in conn.execute(view_returns.select())]
    assert decisions == ["lapsed"]
    # The return happened (退单率 counts it) and stays 海城区's.
    assert hc.read_model.stats(None)["total"]["returned"] == 1


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_the_city_page_is_served_without_a_token_and_its_data_is_not(client: TestClient) -> None:
    """市级平台: the page at "/" and "/city/" holds no data (it asks /city/api/… with the city
    token it is given), so it answers anyone; the data routes still answer 401 without one."""
    for path in ("/", "/city/"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "市级平台" in page.text and 'src="static/city.js"' in page.text, path
        assert "script-src 'self'" in page.headers["content-security-policy"], path
    # What the page loads, relative to itself, from either place; nothing else of the folder.
    for prefix in ("/static/", "/city/static/"):
        for asset in ("city.js", "city.css", "app.css"):
            assert client.get(prefix + asset).status_code == 200, prefix + asset
        for other in ("index.html", "app.js", "city.html", "..%2Fcity.py"):
            assert client.get(prefix + other).status_code == 404, prefix + other
    for path in ("/city/api/meta", "/city/api/stats", "/city/api/districts"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=_auth(HC_OPERATOR)).status_code == 401, path
        assert client.get(path, headers=_auth("not-a-token-at-all")).status_code == 401, path
    meta = client.get("/city/api/meta", headers=_auth(CITY_LEADER)).json()
    assert meta["city"] == {"id": "beihai", "name": "北海市"} and meta["reader"] == "市领导"
    assert [d["mount"] for d in meta["districts"]] == ["/d/haicheng/", "/d/yinhai/"]
    # The words of the page's columns are the server's (engine.vocabulary).
    words = {v: {t["code"]: t["label"] for t in meta["vocabulary"][v]["terms"]}
             for v in ("counts", "rates", "city_counts")}
    assert words["city_counts"] == {
        "transferred_in": "跨区转入", "transferred_out": "跨区转出", "transfers": "跨区转办"
    }
    assert words["rates"]["handling_rate"] == "办结率" and words["counts"]["received"] == "受理"
