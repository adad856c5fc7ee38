"""What a unit (承办单位) sees is chosen, not filtered (issue 14, finding 4).

A case whose ``extra`` carries the caller's contact under keys nobody foresaw (联系电话,
来电人姓名, 身份证号, mobile, contact, email, 车牌号) and whose text names the caller and gives
their number: no route a unit token can read shows any of it (asserted on the raw bytes of the
answer), while the operator still sees it all. The holding unit reveals the number through
查看联系方式, which the case's history records; another unit, an unclaimed case and a 保密件 get
403/404/409 and nothing is written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime
from engine.domain import Status
from tests.support.api import (
    ADMIN,
    ASSIGNED,
    ASSIGNED_UNIT,
    LEADER,
    OPERATOR,
    OTHER_UNIT,
    api_client,
    auth,
)

NAME = "李秀英"
PHONE = "13912345678"
# The same number as residents write it inside a complaint.
PHONE_SPELLINGS = (PHONE, "139 1234 5678", "139-1234-5678")
EXTRA_SECRETS = {
    "联系电话": "13600001111",
    "来电人姓名": "欧阳明月",
    "身份证号": "450502199001011234",
    "mobile": "13700002222",
    "contact": "王大明",
    "email": "lixiuying@example.com",
    "车牌号": "桂E12345",
}
SECRETS = (NAME, *PHONE_SPELLINGS, *EXTRA_SECRETS.values(), "司马文静", "13955507788",
           "139 5550 7788", "139-5550-7788")

_n = itertools.count(1)


# A confidential caller of their own, so that the other cases in a list (masked 李某) do not
# stand for this one.
SECRET_NAME, SECRET_PHONE = "司马文静", "13955507788"


def _record(confidential: bool = False) -> dict[str, Any]:
    n = next(_n)
    name, phone = (SECRET_NAME, SECRET_PHONE) if confidential else (NAME, PHONE)
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    dashed = f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    return {
        "order_no": f"UV{n:05d}",
        "received_at": "2026-11-02 09:30:00",
        "caller_name": name,
        "caller_phone": phone,
        "address": f"海城区茶亭路{n}号（{name}家门口）",
        # A unique tail keeps the duplicate detector from merging one test case into another.
        "content": (
            f"{name}反映：茶亭路{n}号门口的路灯不亮了，晚上黑乎乎的，灯杆编号UV{n:05d}。"
            f"有事请打 {spaced} 或 {dashed} 找{name}，手机{phone}"
        ),
        "confidential": confidential,
        **EXTRA_SECRETS,
    }


def _leaks(body: bytes) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    return [s for s in SECRETS if s in text]


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


def _create(client: Any, confidential: bool = False) -> UUID:
    r = client.post("/api/cases", headers=auth(OPERATOR), json=_record(confidential))
    assert r.status_code == 201, r.text
    body = r.json()
    if body["assigned_unit"] is None:
        # The router's auto-dispatch threshold may leave the case in the manual queue: the
        # operator dispatches it (what these tests need is a case with the unit).
        r = client.post(
            f"/api/cases/{body['id']}/dispatch", headers=auth(OPERATOR), json={"unit": ASSIGNED_UNIT}
        )
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["assigned_unit"] == ASSIGNED_UNIT, body
    return UUID(body["id"])


def _unit_reads(cid: UUID) -> list[tuple[str, str, dict[str, Any]]]:
    """Every GET a unit token can make about its case (both Open311 key forms)."""
    reads: list[tuple[str, str, dict[str, Any]]] = []
    bearer = {"headers": auth(ASSIGNED)}
    for path in (
        f"/api/cases/{cid}",
        f"/api/cases/{cid}/events",
        f"/api/units/{ASSIGNED_UNIT}/inbox",
        "/api/cases?limit=500",
        "/api/cases?q=路灯&limit=500",
        f"/api/cases?unit={ASSIGNED_UNIT}&limit=500",
        "/api/meta",
    ):
        reads.append(("GET", path, bearer))
    for fmt in ("json", "xml"):
        for path in (
            f"/open311/v2/requests.{fmt}",
            f"/open311/v2/requests/{cid}.{fmt}",
            f"/open311/v2/requests.{fmt}?service_request_id={cid}",
        ):
            reads.append(("GET", path, bearer))
            reads.append(("GET", path, {"params": {"api_key": ASSIGNED}}))
    return reads


def test_no_route_a_unit_reads_shows_the_callers_contact_the_operator_sees_it(
    env: tuple[Any, Runtime],
) -> None:
    client, _ = env
    cid = _create(client)
    answered = 0
    for method, path, way in _unit_reads(cid):
        r = client.request(method, path, **way)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert not _leaks(r.content), f"the unit got {_leaks(r.content)} from {path}"
        answered += 1
    # The unit's own commands answer with the case too.
    for path, body in ((f"/api/cases/{cid}/claim", None), (f"/api/cases/{cid}/mediation/start", None)):
        r = client.post(path, headers=auth(ASSIGNED), json=body)
        assert r.status_code == 200, r.text
        assert not _leaks(r.content), f"the unit got {_leaks(r.content)} from POST {path}"
    # ...and the unit does see the problem, the place and its own case on Open311.
    case = client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).json()
    assert "路灯不亮" in case["content"] and "茶亭路" in case["address"]
    assert case["caller_name"] == "李某" and case["caller_phone"] == "139****5678"
    assert "李某" in case["content"] and "5678" in case["content"]
    assert set(case["extra"]) <= {"lat", "lng", "photos"}, case["extra"]
    full = client.get(f"/open311/v2/requests/{cid}.json", params={"api_key": ASSIGNED}).json()[0]
    assert "路灯不亮" in full["description"]

    # The operator sees everything as it was taken.
    as_operator = client.get(f"/api/cases/{cid}", headers=auth(OPERATOR))
    seen = as_operator.content.decode("utf-8")
    # (an ID number is masked at intake for everyone: identifiers are never stored in clear)
    kept = [v for k, v in EXTRA_SECRETS.items() if k != "身份证号"]
    assert all(s in seen for s in (NAME, PHONE, *kept)), seen[:400]
    assert "450502199001011234" not in seen and "1234" in seen
    assert as_operator.json()["extra"]["联系电话"] == EXTRA_SECRETS["联系电话"]
    assert answered >= 19


def test_the_claiming_unit_reveals_the_number_and_the_history_says_so(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    cid = _create(client)
    assert "contact" not in client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).json()["actions"]
    assert client.post(f"/api/cases/{cid}/claim", headers=auth(ASSIGNED)).status_code == 200
    assert "contact" in client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).json()["actions"]

    r = client.post(f"/api/cases/{cid}/contact", headers=auth(ASSIGNED))
    assert r.status_code == 200, r.text
    assert r.json() == {"case_id": str(cid), "caller_phone": PHONE}

    for token in (ASSIGNED, OPERATOR):
        events = client.get(f"/api/cases/{cid}/events", headers=auth(token)).json()
        revealed = [e for e in events if e["type"] == "ContactRevealed"]
        assert len(revealed) == 1, events
        e = revealed[0]
        assert e["type_name"] == "查看了联系方式"
        assert e["unit"] == ASSIGNED_UNIT and e["principal"].startswith(f"unit:{ASSIGNED_UNIT}#")
        assert e["at"] and PHONE not in str(e)
    trail = client.get(f"/api/audit?case_id={cid}", headers=auth(ADMIN)).json()
    assert any(t["what"] == "contact" and t["unit"] == ASSIGNED_UNIT for t in trail), trail
    # The number is not left behind in the case view afterwards.
    assert not _leaks(client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).content)
    assert runtime.app.get_case(cid).status == Status.CLAIMED


def _refused(client: Any, runtime: Runtime, cid: UUID, token: str, status: int) -> dict[str, Any]:
    before = runtime.app.get_case(cid).version
    r = client.post(f"/api/cases/{cid}/contact", headers=auth(token))
    assert r.status_code == status, r.text
    assert not _leaks(r.content)
    assert runtime.app.get_case(cid).version == before, "a refused reveal wrote something"
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "message"}
    return body


def test_reveal_is_refused_to_another_unit_before_claiming_and_for_a_confidential_case(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    unclaimed = _create(client)
    _refused(client, runtime, unclaimed, ASSIGNED, 409)
    _refused(client, runtime, unclaimed, OTHER_UNIT, 404)  # another unit's case: as if absent
    for token in (OPERATOR, ADMIN):  # the centre reads the case itself; reveal is for units
        _refused(client, runtime, unclaimed, token, 403)

    claimed = _create(client)
    client.post(f"/api/cases/{claimed}/claim", headers=auth(ASSIGNED))
    _refused(client, runtime, claimed, OTHER_UNIT, 404)

    secret = _create(client, confidential=True)
    assert client.post(f"/api/cases/{secret}/claim", headers=auth(ASSIGNED)).status_code == 200
    body = _refused(client, runtime, secret, ASSIGNED, 409)
    assert body["message"] == "保密件，请联系中心转达"
    assert "contact" not in client.get(f"/api/cases/{secret}", headers=auth(ASSIGNED)).json()["actions"]


def test_a_confidential_case_shows_units_neither_name_nor_number_the_operator_both(
    env: tuple[Any, Runtime],
) -> None:
    client, _ = env
    cid = _create(client, confidential=True)
    masked_tail = re.compile(r"\*+7788")
    for method, path, way in _unit_reads(cid):
        r = client.request(method, path, **way)
        assert r.status_code == 200, (path, r.text[:200])
        text = r.content.decode("utf-8")
        assert not _leaks(r.content), (path, _leaks(r.content))
        # Not even the surname or the last four digits.
        assert "司马" not in text and not masked_tail.search(text), (path, text[:600])
    case = client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).json()
    assert case["confidential"] is True
    assert (case["caller_name"], case["caller_phone"]) == ("", "")
    assert "路灯不亮" in case["content"]
    as_operator = client.get(f"/api/cases/{cid}", headers=auth(OPERATOR)).json()
    assert as_operator["confidential"] is True
    assert (as_operator["caller_name"], as_operator["caller_phone"]) == (SECRET_NAME, SECRET_PHONE)
    events = client.get(f"/api/cases/{cid}/events", headers=auth(OPERATOR)).json()
    assert "MarkedConfidential" in {e["type"] for e in events}


@pytest.mark.parametrize(
    ("path", "record"),
    [
        ("/api/intake/walkin", {"station_id": "jy-uv", "ticket_no": "T{n}", "resident_name": NAME,
                                "phone": PHONE, "content": "茶亭路{n}号路灯不亮", "confidential": True,
                                "received_at": "2026-11-02T09:00:00+08:00"}),
        ("/api/intake/app", {"submission_id": "uv-app-{n}", "phone": PHONE,
                             "content": "茶亭路{n}号路灯不亮", "confidential": True,
                             "received_at": "2026-11-02T09:00:00+08:00"}),
    ],
)
def test_app_and_walkin_intake_take_the_confidential_checkbox(
    env: tuple[Any, Runtime], path: str, record: dict[str, Any]
) -> None:
    client, runtime = env
    n = next(_n)
    body = {k: v.replace("{n}", str(n)) if isinstance(v, str) else v for k, v in record.items()}
    r = client.post(path, headers=auth(OPERATOR), json=body)
    assert r.status_code == 201, r.text
    assert runtime.app.get_case(UUID(r.json()["case_id"])).confidential is True


def test_open311_takes_the_confidential_attribute(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    n = next(_n)
    r = client.post(
        "/open311/v2/requests.json",
        data={"api_key": OPERATOR, "service_code": "municipal", "description": f"茶亭路{n}号井盖缺失",
              "address_string": f"茶亭路{n}号", "phone": PHONE, "attribute[confidential]": "true"},
    )
    assert r.status_code == 201, r.text
    assert runtime.app.get_case(UUID(r.json()[0]["service_request_id"])).confidential is True


def test_a_units_token_on_every_other_units_things(env: tuple[Any, Runtime]) -> None:
    """Every unit token of the district against a case held (claimed) by another unit: no
    read, no reveal, nothing written, no contact in any answer."""
    client, runtime = env
    cid = _create(client)
    client.post(f"/api/cases/{cid}/claim", headers=auth(ASSIGNED))
    before = runtime.app.get_case(cid).version
    others = [t for t in runtime.config.tokens if t.role.value == "unit" and t.unit != ASSIGNED_UNIT]
    assert len(others) >= 5
    for t in others:
        h = auth(t.token)
        for method, path in (
            ("GET", f"/api/cases/{cid}"),
            ("GET", f"/api/cases/{cid}/events"),
            ("POST", f"/api/cases/{cid}/contact"),
            ("POST", f"/api/cases/{cid}/resolve"),
            ("GET", f"/api/units/{ASSIGNED_UNIT}/inbox"),
        ):
            json = {"result": "已处理"} if path.endswith("resolve") else None
            r = client.request(method, path, headers=h, json=json)
            # Another unit's case answers as if absent (404); another unit's inbox is 403.
            expected = 403 if "/inbox" in path else 404
            assert r.status_code == expected, (t.unit, path, r.status_code)
            assert not _leaks(r.content)
        listed = client.get("/api/cases?limit=500", headers=h)
        assert str(cid) not in listed.text and not _leaks(listed.content)
        o311 = client.get(f"/open311/v2/requests/{cid}.json", params={"api_key": t.token})
        assert "路灯不亮" not in o311.text and not _leaks(o311.content)
    assert runtime.app.get_case(cid).version == before


def test_a_unit_sees_the_leaders_instruction_and_its_suspension_the_caller_masked_in_them(
    env: tuple[Any, Runtime],
) -> None:
    client, _ = env
    cid = _create(client)
    assert client.post(f"/api/cases/{cid}/claim", headers=auth(ASSIGNED)).status_code == 200
    text = f"请尽快联系{NAME}（{PHONE}）核实并回复"
    r = client.post(f"/api/cases/{cid}/instruct", headers=auth(LEADER), json={"text": text})
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/cases/{cid}/hold", headers=auth(ASSIGNED), json={"reason": f"{NAME}外出，电话{PHONE}无人接"}
    )
    assert r.status_code == 200, r.text
    seen = client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED))
    body = seen.json()
    top = body["instructions"][0]
    assert top["text"].startswith("请尽快联系") and top["due"] and top["reply"] is None
    assert body["hold"]["requested"]["reason"].endswith("无人接")
    events = client.get(f"/api/cases/{cid}/events", headers=auth(ASSIGNED))
    kinds = {e["type"]: e["data"] for e in events.json()}
    assert kinds["Instructed"]["text"] and kinds["HoldRequested"]["reason"]
    for answer in (seen, events):
        assert _leaks(answer.content) == [], answer.text[:300]


def test_a_unit_sees_the_centres_notes_and_the_residents_comment_the_caller_masked(
    env: tuple[Any, Runtime],
) -> None:
    """What a unit must see on its case (issue 17): the dispatch note, the centre's notes (催办,
    a refused return), the leader's instruction, and the resident's comment from the follow-up
    call; the caller masked in every one of them."""
    client, _ = env
    cid = _create(client)
    op = auth(OPERATOR)
    if client.get(f"/api/cases/{cid}", headers=op).json()["assigned_unit"] != ASSIGNED_UNIT:
        client.post(f"/api/cases/{cid}/dispatch", headers=op, json={"unit": ASSIGNED_UNIT})
    unit = auth(ASSIGNED)
    assert client.post(f"/api/cases/{cid}/claim", headers=unit).status_code == 200
    client.post(f"/api/cases/{cid}/return", headers=unit, json={"reason": "不归社区", "suggested_unit": "zhongjie"})
    note = f"经核实属社区维护，请联系{NAME}（{PHONE}）"
    r = client.post(f"/api/cases/{cid}/return/review", headers=op, json={"approved": False, "note": note})
    assert r.status_code == 200, r.text
    client.post(f"/api/cases/{cid}/urge", headers=op, json={"note": f"{NAME}再次来电催促"})
    client.post(f"/api/cases/{cid}/instruct", headers=auth(LEADER), json={"text": "请本周内办结"})
    client.post(f"/api/cases/{cid}/instruction/reply", headers=unit, json={"reply": "已安排"})
    client.post(f"/api/cases/{cid}/resolve", headers=unit, json={"result": "已更换灯泡"})
    r = client.post(
        f"/api/cases/{cid}/followup",
        headers=op,
        json={"solved": False, "rating": "dissatisfied", "comment": f"{NAME}说灯还是不亮，电话{PHONE}"},
    )
    assert r.status_code == 200, r.text  # 重办: dispatched back to the community
    seen = client.get(f"/api/cases/{cid}", headers=unit)
    body = seen.json()
    assert body["assigned_unit"] == ASSIGNED_UNIT
    kinds = [n["kind"] for n in body["centre_notes"]]
    assert kinds[:2] == ["review_return", "urge"]
    assert body["centre_notes"][0]["text"].startswith("经核实属社区维护")
    assert body["return_refusal"].startswith("经核实属社区维护")
    assert body["instructions"][0]["text"] == "请本周内办结"
    assert body["callbacks"][0]["rating"] == "dissatisfied"
    assert body["callbacks"][0]["comment"].startswith("李某说灯还是不亮")
    assert "callbacks_unanswered" not in body and "max_unanswered" not in body
    events = client.get(f"/api/cases/{cid}/events", headers=unit)
    for answer in (seen, events):
        assert _leaks(answer.content) == [], answer.text[:300]
    full = client.get(f"/api/cases/{cid}", headers=op).json()
    assert NAME in full["callbacks"][0]["comment"]  # the centre reads it as said
