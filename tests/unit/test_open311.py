"""Open311 GeoReport v2 conformance: what a standard 311 client sends and expects, and what a
reader sees by key (policy.open311_view): no key the narrow public record, staff keys the full
request, a unit's key its own cases in full."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.bootstrap import Runtime
from tests.support.api import ADMIN, ASSIGNED, BAD, LEADER, OPERATOR, OTHER_UNIT, api_client, auth

# Reads today's date: CI runs it again on moved clocks (tests/support/moved_clock.py).
pytestmark = pytest.mark.date_sensitive

BASE = "/open311/v2"
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
}


@pytest.fixture
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


def post_request(client: Any, fmt: str = "json", **fields: str) -> Any:
    form = {
        "api_key": OPERATOR,
        "service_code": "municipal",
        "lat": "21.4811",
        "long": "109.1202",
        "address_string": "北海市海城区茶亭路32号",
        "description": "茶亭路32号门口井盖缺失，晚上很危险，我的电话13812345678",
        "first_name": "伟",
        "last_name": "张",
        "phone": "13812345678",
        "device_id": "android-7f3a",
        "attribute[concern]": "trouble",
        **fields,
    }
    # A form-encoded body, as GeoReport v2 clients send it.
    return client.post(f"{BASE}/requests.{fmt}", data=form)


def xml(resp: Any) -> ET.Element:
    assert resp.headers["content-type"].startswith("text/xml")
    assert resp.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(resp.content)


def test_discovery_and_services_in_json_and_xml(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    d = client.get(f"{BASE}/discovery.json").json()
    endpoint = d["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2/") and "text/xml" in endpoint["formats"]
    assert xml(client.get(f"{BASE}/discovery.xml")).find("endpoints/endpoint/formats/format") is not None

    services = client.get(f"{BASE}/services.json").json()
    assert [s["service_code"] for s in services] == runtime.config.category_codes()
    lamp = next(s for s in services if s["service_code"] == "municipal")
    assert lamp["service_name"] == "市政设施" and lamp["metadata"] is True and lamp["type"] == "realtime"
    root = xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/service_name").text == services[0]["service_name"]

    definition = client.get(f"{BASE}/services/dispute.json").json()
    concern = next(a for a in definition["attributes"] if a["code"] == "concern")
    assert concern["datatype"] == "singlevaluelist"
    assert {v["key"] for v in concern["values"]} == {"worry", "trouble", "anguish"}
    root = xml(client.get(f"{BASE}/services/dispute.xml"))
    assert root.tag == "service_definition" and root.find("attributes/attribute/values/value/key") is not None


def test_post_a_request_form_encoded_and_read_it_back_in_json_and_xml(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    r = post_request(client)
    assert r.status_code == 201, r.text
    created = r.json()
    assert isinstance(created, list) and len(created) == 1
    sid = created[0]["service_request_id"]

    # With the operator's key, as the client that posted it: the whole request.
    got = client.get(f"{BASE}/requests/{sid}.json", params={"api_key": OPERATOR}).json()
    assert len(got) == 1
    req = got[0]
    assert set(req) == REQUEST_FIELDS
    assert req["service_request_id"] == sid and req["service_code"] == "municipal"
    assert req["status"] == "open" and req["status_notes"] == "已派单"
    assert req["agency_responsible"] == "茶亭路社区"
    assert req["expected_datetime"] and req["expected_datetime"] > req["requested_datetime"]
    assert req["requested_datetime"].endswith("+08:00")
    assert (req["lat"], req["long"]) == (21.4811, 109.1202)
    assert req["address"] == "北海市海城区茶亭路32号"
    # Even in full: the phone number in the text is masked, the caller is not shown.
    assert "13812345678" not in str(got) and "138****5678" in req["description"]
    assert "张" not in str({k: v for k, v in req.items() if k != "description"})

    # Without a key: the same fields, the public ones filled, the street as the only place.
    public = client.get(f"{BASE}/requests/{sid}.json").json()[0]
    assert set(public) == REQUEST_FIELDS
    assert {k: public[k] for k in ("service_request_id", "status", "agency_responsible",
                                   "requested_datetime", "expected_datetime")} == {
        k: req[k] for k in ("service_request_id", "status", "agency_responsible",
                            "requested_datetime", "expected_datetime")}
    assert public["address"] == "海城区中街街道"
    assert public["description"] is public["lat"] is public["long"] is public["media_url"] is None

    root = xml(client.get(f"{BASE}/requests/{sid}.xml", params={"api_key": OPERATOR}))
    assert root.tag == "service_requests"
    node = root.find("request")
    assert node.find("service_request_id").text == sid
    assert node.find("status").text == "open" and node.find("agency_responsible").text == "茶亭路社区"
    assert "井盖缺失" in node.find("description").text
    root = xml(client.get(f"{BASE}/requests/{sid}.xml"))
    node = root.find("request")
    assert node.find("service_request_id").text == sid and not node.find("description").text
    assert node.find("address").text == "海城区中街街道"

    # The case behind it: app channel, the service_code as the operator's category hint.
    case = client.get(f"/api/cases/{sid}", headers=auth(OPERATOR)).json()
    assert case["channel"] == "app" and case["category"] == "municipal"
    assert case["caller_name"] == "张伟" and case["concern"] == "trouble"

    # The same request again (a client retry) is the same case.
    again = post_request(client)
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == sid


def test_post_in_xml_and_the_status_moves_to_closed(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    root = xml(post_request(client, "xml", description="茶亭路5号路灯不亮已经一周"))
    sid = root.find("request/service_request_id").text
    unit = auth(ASSIGNED)
    assert client.post(f"/api/cases/{sid}/claim", headers=unit).status_code == 200
    assert client.post(f"/api/cases/{sid}/resolve", json={"result": "已修复"}, headers=unit).status_code == 200
    req = client.get(f"{BASE}/requests/{sid}.json").json()[0]
    assert req["status"] == "closed" and req["status_notes"] == "已办结"

    closed = client.get(f"{BASE}/requests.json", params={"status": "closed"}).json()
    assert sid in [x["service_request_id"] for x in closed]
    opened = client.get(f"{BASE}/requests.json", params={"status": "open"}).json()
    assert sid not in [x["service_request_id"] for x in opened]


def test_list_filters_by_service_code_dates_and_ids(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    lamp = post_request(client).json()[0]["service_request_id"]
    noise = post_request(
        client, service_code="environment", description="湖北路烧烤店油烟太大，晚上噪音扰民",
        address_string="海城区湖北路8号",
    ).json()[0]["service_request_id"]
    listed = client.get(f"{BASE}/requests.json", params={"service_code": "environment"}).json()
    assert [x["service_request_id"] for x in listed] == [noise]
    both = client.get(f"{BASE}/requests.json", params={"service_request_id": f"{lamp},{noise}"}).json()
    assert {x["service_request_id"] for x in both} == {lamp, noise}
    none = client.get(
        f"{BASE}/requests.json",
        params={"start_date": "2010-01-01T00:00:00Z", "end_date": "2010-02-01T00:00:00Z"},
    ).json()
    assert none == []
    root = xml(client.get(f"{BASE}/requests.xml", params={"service_code": "municipal"}))
    assert [n.text for n in root.findall("request/service_request_id")] == [lamp]


def test_errors_are_open311_shaped(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    no_key = post_request(client, api_key="")
    assert no_key.status_code == 403
    assert no_key.json()[0]["code"] == 403 and no_key.json()[0]["description"]
    wrong_role = post_request(client, api_key=LEADER)
    assert wrong_role.status_code == 403
    missing = post_request(client, service_code="")
    assert missing.status_code == 400 and "service_code" in missing.json()[0]["description"]
    unknown = post_request(client, service_code="ufo")
    assert unknown.status_code == 404
    nowhere = post_request(client, lat="", long="", address_string="")
    assert nowhere.status_code == 400
    err = xml(post_request(client, "xml", api_key="nope-nope-nope"))
    assert err.tag == "errors" and err.find("error/code").text == "403"
    assert client.get(f"{BASE}/requests/not-a-case.json").status_code == 404
    assert client.get(f"{BASE}/services/ufo.xml").status_code == 404
    assert client.get(f"{BASE}/services.yaml").status_code == 404
    bad_date = client.get(f"{BASE}/requests.json", params={"start_date": "昨天"})
    assert bad_date.status_code == 400 and bad_date.json()[0]["code"] == 400


def test_police_cases_are_never_public(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    from engine.application import now_shanghai
    from engine.intake import Channel, IntakeCommand

    r = runtime.app.receive(
        IntakeCommand(
            channel=Channel.POLICE, source_ref="JQ2026110200017", received_at=now_shanghai(),
            content="报警人称与邻居因噪音发生纠纷，双方争吵，请求调解。", address="海城区茶亭路9号",
        )
    )
    assert client.get(f"/api/cases/{r.case_id}", headers=auth(OPERATOR)).status_code == 200
    for key in (None, BAD, OTHER_UNIT):
        params = {"api_key": key} if key else {}
        assert client.get(f"{BASE}/requests/{r.case_id}.json", params=params).status_code == 404
        listed = client.get(f"{BASE}/requests.json", params=params).json()
        assert str(r.case_id) not in [x["service_request_id"] for x in listed]
    # The centre's staff see it in Open311 as they do in the API.
    staff = client.get(f"{BASE}/requests/{r.case_id}.json", params={"api_key": OPERATOR}).json()
    assert "噪音" in staff[0]["description"] and staff[0]["address"] == "海城区茶亭路9号"


# ---- who sees what -------------------------------------------------------------------------

LAMP_TEXT = "茶亭路32号门口井盖缺失，晚上很危险"
NOISE_TEXT = "湖北路烧烤店油烟太大，晚上噪音扰民"
DISPUTE_TEXT = "楼上邻居漏水不肯维修，两家吵了好几次，邻里纠纷"
WAGES_TEXT = "公司拖欠工资三个月了，老板电话不接"
HOUSE_NUMBERS = ["茶亭路32号", "湖北路8号", "茶亭路9号", "茶亭路10号"]


def _four_cases(client: Any) -> dict[str, str]:
    """A lamp (茶亭路社区), noise (生态环境局), a neighbours' dispute (中街司法所) and unpaid
    wages (人社局), each with a house-number address; service_request_id by name."""
    ids = {}
    for name, code, text, address in [
        ("lamp", "municipal", LAMP_TEXT, "北海市海城区茶亭路32号"),
        ("noise", "environment", NOISE_TEXT, "海城区湖北路8号"),
        ("dispute", "dispute", DISPUTE_TEXT, "海城区茶亭路9号"),
        ("wages", "labour", WAGES_TEXT, "海城区茶亭路10号"),
    ]:
        r = post_request(client, service_code=code, description=text, address_string=address)
        assert r.status_code == 201, r.text
        ids[name] = r.json()[0]["service_request_id"]
    return ids


def _bodies(client: Any, ids: dict[str, str], **how: Any) -> dict[str, bytes]:
    """Raw bodies of every Open311 read of these cases, in JSON and XML."""
    out = {}
    for fmt in ("json", "xml"):
        out[f"list.{fmt}"] = client.get(f"{BASE}/requests.{fmt}", **how).content
        params = {**how.get("params", {}), "service_request_id": ",".join(ids.values())}
        out[f"ids.{fmt}"] = client.get(f"{BASE}/requests.{fmt}", **{**how, "params": params}).content
        for name, sid in ids.items():
            out[f"{name}.{fmt}"] = client.get(f"{BASE}/requests/{sid}.{fmt}", **how).content
    return out


def _texts(blob: bytes) -> list[str]:
    """Complaint text or house-number addresses found in a raw body (UTF-8 or JSON-escaped)."""
    secrets = [LAMP_TEXT[:8], NOISE_TEXT[:8], DISPUTE_TEXT[:8], WAGES_TEXT[:8], *HOUSE_NUMBERS]
    return [s for s in secrets if s.encode() in blob or json.dumps(s)[1:-1].encode() in blob]


def _listed(client: Any, fmt: str = "json", **how: Any) -> dict[str, dict[str, Any]]:
    r = client.get(f"{BASE}/requests.{fmt}", **how)
    assert r.status_code == 200
    if fmt == "json":
        return {x["service_request_id"]: x for x in r.json()}
    return {
        n.find("service_request_id").text: {c.tag: c.text for c in n}
        for n in xml(r).findall("request")
    }


@pytest.mark.parametrize(
    "how",
    [{}, {"params": {"api_key": BAD}}, {"params": {"api_key": ""}}, {"headers": auth(BAD)}],
    ids=["no key", "wrong api_key", "empty api_key", "wrong bearer"],
)
def test_without_a_valid_key_no_case_text_or_address_is_shown(
    env: tuple[Any, Runtime], how: dict[str, Any]
) -> None:
    client, _ = env
    ids = _four_cases(client)
    bodies = _bodies(client, ids, **how)
    leaked = {where: found for where, blob in bodies.items() if (found := _texts(blob))}
    assert not leaked, leaked
    # The control: the same reads with the operator's key do show the text.
    staff = _bodies(client, ids, params={"api_key": OPERATOR})
    assert all(_texts(blob) for blob in staff.values())

    # What is public: lamp and noise, narrow; the dispute and the wages not at all.
    for fmt in ("json", "xml"):
        listed = _listed(client, fmt, **how)
        assert ids["lamp"] in listed and ids["noise"] in listed
        assert ids["dispute"] not in listed and ids["wages"] not in listed
        lamp = listed[ids["lamp"]]
        assert lamp["agency_responsible"] == "茶亭路社区" and lamp["address"] == "海城区中街街道"
        assert not lamp["description"] and not lamp["lat"] and not lamp["media_url"]
    for name in ("dispute", "wages"):
        assert client.get(f"{BASE}/requests/{ids[name]}.json", **how).status_code == 404


def test_a_units_key_shows_its_own_cases_in_full_and_the_rest_narrow(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    ids = _four_cases(client)
    mediator = "demo-unit-zhongjie-sfs"  # 中街司法所: the dispute is theirs
    assert runtime.app.get_case(uuid.UUID(ids["dispute"])).units_ever == ["zhongjie-sfs"]
    for how in ({"params": {"api_key": ASSIGNED}}, {"headers": auth(ASSIGNED)}):
        listed = _listed(client, **how)
        lamp, noise = listed[ids["lamp"]], listed[ids["noise"]]
        assert LAMP_TEXT in lamp["description"] and lamp["address"] == "北海市海城区茶亭路32号"
        assert lamp["lat"] == 21.4811
        assert noise["description"] is None and noise["address"] == "海城区西街街道"
        assert ids["dispute"] not in listed and ids["wages"] not in listed
        assert client.get(f"{BASE}/requests/{ids['dispute']}.json", **how).status_code == 404
        noise_bodies = b"".join(client.get(f"{BASE}/requests/{ids['noise']}.{f}", **how).content
                                for f in ("json", "xml"))
        assert not _texts(noise_bodies)
    # The mediation office: its dispute in full, the lamp narrow, the wages hidden.
    listed = _listed(client, params={"api_key": mediator})
    assert DISPUTE_TEXT in listed[ids["dispute"]]["description"]
    assert listed[ids["dispute"]]["address"] == "海城区茶亭路9号"
    assert listed[ids["lamp"]]["description"] is None and ids["wages"] not in listed
    root = xml(client.get(f"{BASE}/requests/{ids['dispute']}.xml", params={"api_key": mediator}))
    assert "邻里纠纷" in root.find("request/description").text


@pytest.mark.parametrize("key", [OPERATOR, LEADER, ADMIN])
def test_staff_keys_see_every_case_in_full(env: tuple[Any, Runtime], key: str) -> None:
    client, _ = env
    ids = _four_cases(client)
    for how in ({"params": {"api_key": key}}, {"headers": auth(key)}):
        listed = _listed(client, **how)
        assert set(ids.values()) <= set(listed)
        assert WAGES_TEXT in listed[ids["wages"]]["description"]
        assert listed[ids["dispute"]]["address"] == "海城区茶亭路9号"
        one = client.get(f"{BASE}/requests/{ids['dispute']}.json", **how)
        assert one.status_code == 200 and DISPUTE_TEXT in one.json()[0]["description"]
        assert one.headers["cache-control"] == "private, no-store"
        assert "Authorization" in one.headers["vary"]


def test_full_reads_by_key_are_audited(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    ids = _four_cases(client)
    store = runtime.api_store
    before = len(store.audit_entries(case_id=ids["lamp"]))
    client.get(f"{BASE}/requests/{ids['lamp']}.json")  # public: nothing personal, not audited
    client.get(f"{BASE}/requests/{ids['noise']}.json", params={"api_key": ASSIGNED})  # narrow
    client.get(f"{BASE}/requests/{ids['lamp']}.json", params={"api_key": ASSIGNED})
    entries = store.audit_entries(case_id=ids["lamp"])
    assert len(entries) == before + 1
    assert entries[0]["what"] == "open311" and entries[0]["unit"] == "chatinglu"
    assert not store.audit_entries(case_id=ids["noise"])
