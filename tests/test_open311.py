"""Open311 GeoReport v2 conformance: what a standard 311 client sends and expects."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.bootstrap import Runtime
from tests.api_helpers import ASSIGNED, LEADER, OPERATOR, api_client, auth

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

    got = client.get(f"{BASE}/requests/{sid}.json").json()
    assert len(got) == 1
    req = got[0]
    assert set(req) == REQUEST_FIELDS
    assert req["service_request_id"] == sid and req["service_code"] == "municipal"
    assert req["status"] == "open" and req["status_notes"] == "已派单"
    assert req["agency_responsible"] == "茶亭路社区"
    assert req["expected_datetime"] and req["expected_datetime"] > req["requested_datetime"]
    assert req["requested_datetime"].endswith("+08:00")
    assert (req["lat"], req["long"]) == (21.4811, 109.1202)
    # Public output: the phone number in the text is masked, the caller is not shown.
    assert "13812345678" not in str(got) and "138****5678" in req["description"]
    assert "张" not in str({k: v for k, v in req.items() if k != "description"})

    root = xml(client.get(f"{BASE}/requests/{sid}.xml"))
    assert root.tag == "service_requests"
    node = root.find("request")
    assert node.find("service_request_id").text == sid
    assert node.find("status").text == "open" and node.find("agency_responsible").text == "茶亭路社区"

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
    assert client.get(f"{BASE}/requests/{r.case_id}.json").status_code == 404
    listed = client.get(f"{BASE}/requests.json").json()
    assert str(r.case_id) not in [x["service_request_id"] for x in listed]
