"""What an outsider found at the boundary (twenty-fifth session), each as a user would notice it:

- an ID-card number written into Open311, a 一表通 item or a clerk's 办结 / 退单 / 挂起 / 批示
  text is never in the database's bytes (boundary.md §2), in any spelling;
- a unit asking for another unit's case by its order number gets the very body an order number
  never issued gets (no case id in it);
- Open311's 保密件 box: an HTML checkbox's ``on`` is a yes, a value that is neither is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from engine.vocabulary import Status
from tests.support.api import (
    ASSIGNED,
    LEADER,
    OPERATOR,
    OTHER_UNIT,
    api_client,
    auth,
    case_in,
)

# Checksum-valid numbers (GB 11643) in the spellings residents and clerks type.
SPELLINGS = {
    "plain": "450502199001011233",
    "x": "11010519491231002x",
    "full-width": "４５０５０２１９８５０７０８９９０６",
    "spaced": "450502 1975 0808 9903",
    "numerals": "四五〇五〇二一九八八〇三一五一二一七",
}
# What must not be anywhere: the region and birth date (the last four digits are kept).
CORES = ("45050219900101", "11010519491231", "45050219850708", "45050219750808", "45050219880315")


def _raw(tmp: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp.glob("sanshi.db*")))


def _leaked(raw: bytes) -> list[str]:
    found = [core for core in CORES if core.encode() in raw]
    found += [s for s in SPELLINGS.values() if s.encode() in raw]
    return found


def _post(client: Any, token: str, path: str, body: dict[str, Any]) -> Any:
    r = client.post(path, json=body, headers=auth(token))
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r.json()


def test_no_door_and_no_clerks_note_keeps_an_id_number(tmp_path: Path) -> None:
    with api_client(f"sqlite:///{tmp_path}/sanshi.db") as (client, runtime):
        ids = list(SPELLINGS.values())
        # Open311 (the residents' app door), form-encoded, the number in the text and an attribute.
        r = client.post("/open311/v2/requests.json", data={
            "api_key": OPERATOR, "service_code": "municipal", "device_id": "door-test",
            "description": f"四川路口的路灯坏了，我的身份证{ids[0]}",
            "address_string": "海城区四川路", "attribute[appeal_type]": "",
        })
        assert r.status_code == 201, r.text
        # 一表通: one form, two items.
        _post(client, OPERATOR, "/api/forms", {
            "ref": "DOOR-FORM-1", "kind": "visit", "title": "走访",
            "items": [
                {"content": f"居民身份证{ids[1]}，反映楼道灯坏了", "address": "海城区四川路8号"},
                {"content": "贵州路口井盖松动", "address": f"海城区贵州路{ids[2]}"},
            ],
        })
        # A clerk's texts on cases: 办结, 退单, 挂起, and a leader's 批示 with its reply.
        resolved, returned, held, instructed = (case_in(runtime, Status.CLAIMED) for _ in range(4))
        _post(client, ASSIGNED, f"/api/cases/{resolved}/resolve", {"result": f"已联系，身份证{ids[3]}"})
        _post(client, ASSIGNED, f"/api/cases/{returned}/return", {"reason": f"当事人{ids[4]}不在本辖区"})
        _post(client, ASSIGNED, f"/api/cases/{held}/hold", {"reason": f"等待{ids[0]}本人返回"})
        _post(client, LEADER, f"/api/cases/{instructed}/instruct", {"text": f"请核实{ids[1]}的情况"})
        _post(client, ASSIGNED, f"/api/cases/{instructed}/instruction/reply", {"reply": f"已核实{ids[2]}"})
    raw = _raw(tmp_path)
    assert "路灯".encode() in raw and b"*1233" in raw  # the texts are there, in clear, masked
    assert not _leaked(raw), _leaked(raw)


def test_another_units_case_by_order_number_answers_as_one_never_issued() -> None:
    with api_client() as (client, runtime):
        cid = case_in(runtime, Status.DISPATCHED)
        order_no = runtime.app.get_case(cid).order_no
        assert order_no
        absent = order_no[:-6] + "999999"
        hidden = client.get(f"/api/cases/{order_no}", headers=auth(OTHER_UNIT))
        never = client.get(f"/api/cases/{absent}", headers=auth(OTHER_UNIT))
        assert hidden.status_code == never.status_code == 404
        assert hidden.content == never.content
        assert str(cid).encode() not in hidden.content and order_no.encode() not in hidden.content
        # The unit the case is with reads it by the same number.
        assert client.get(f"/api/cases/{order_no}", headers=auth(ASSIGNED)).json()["id"] == str(cid)


def test_open311_confidential_box_is_yes_no_or_refused() -> None:
    with api_client() as (client, runtime):
        def post(value: str, n: int) -> Any:
            return client.post("/open311/v2/requests.json", data={
                "api_key": OPERATOR, "service_code": "municipal", "device_id": f"box-{n}",
                "description": f"四川路{n}号门口路灯不亮", "address_string": f"海城区四川路{n}号",
                "attribute[confidential]": value,
            })

        ticked = post("on", 1)  # what a browser sends for a ticked checkbox
        assert ticked.status_code == 201, ticked.text
        case_id = ticked.json()[0]["service_request_id"]
        assert runtime.app.get_case(UUID(case_id)).confidential
        for n, value in enumerate(("maybe", "<script>", "2"), start=2):
            refused = post(value, n)
            assert refused.status_code == 400, (value, refused.status_code, refused.text)
            assert "保密件" in refused.text
        assert post("off", 9).status_code == 201
