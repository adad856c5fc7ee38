"""One input contract at every door (issue 14, findings 2, 5, 8; engine/contract.py).

Each finding from outside is sent again through its door: what used to be accepted and then
stopped every view, or answered 500, is now refused with 400/422 in the error shape and a
Chinese message naming the field, and nothing is written; through ``sanshi ingest`` and Kafka
it is dead-lettered with the reason. The last tests check that the contract's types and the
doors agree with each other on hostile text (hypothesis).
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from adapters.bootstrap import Runtime
from adapters.channels import DeadLetter, Parsed, adapt, read_one, read_path
from adapters.http.limits import json_depth
from adapters.transport import dead_letter_store, ingest
from engine.contract import (
    MAX_ATTRIBUTE,
    MAX_BODY_BYTES,
    MAX_CONTENT,
    MAX_JSON_DEPTH,
    MAX_LOGIN,
    BusinessTime,
    Content,
    Number,
    WholeNumber,
    problem_zh,
    text_problem,
)
from engine.deadlines import SHANGHAI
from engine.domain import Status, case_id_for
from engine.intake import IntakeCommand
from tests.support.api import ADMIN, ASSIGNED, LEADER, OPERATOR, api_client, auth, case_in

# Reads today's date: CI runs it again on moved clocks (tests/support/moved_clock.py).
pytestmark = pytest.mark.date_sensitive

UNIT = auth(ASSIGNED)
OP = auth(OPERATOR)
BASE = "/open311/v2"


@pytest.fixture
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


def refused(resp: Any, status: int, *names: str) -> str:
    assert resp.status_code == status, resp.text[:300]
    body = resp.json()
    if isinstance(body, list):  # GeoReport's error shape under /open311/
        message = body[0]["description"]
        assert body[0]["code"] == status
    else:
        assert set(body) == {"error", "message"}, body
        message = body["message"]
    for name in names:
        assert name in message, message
    return str(message)


def open311_form(**fields: str) -> dict[str, str]:
    return {
        "api_key": OPERATOR,
        "service_code": "municipal",
        "address_string": "北海市海城区茶亭路32号",
        "description": "茶亭路32号门口井盖缺失，晚上很危险",
        "device_id": "android-7f3a",
        **fields,
    }


# ---- finding 2: accepted, then every view stopped ----------------------------------------------


def test_an_absurd_extension_is_refused_and_the_views_go_on(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.CLAIMED)
    version = runtime.app.get_case(cid).version
    r = client.post(
        f"/api/cases/{cid}/extend",
        json={"until": "9999-12-31T23:59:59-12:00", "reason": "需要协调"},
        headers=UNIT,
    )
    refused(r, 422, "until")
    assert runtime.app.get_case(cid).version == version  # nothing written
    # The same case takes a reasonable extension, and the views follow.
    deadline = runtime.app.get_case(cid).dispatch.handle_deadline  # type: ignore[union-attr]
    ok = client.post(
        f"/api/cases/{cid}/extend",
        json={"until": (deadline + dt.timedelta(days=3)).isoformat(), "reason": "需要协调"},
        headers=UNIT,
    )
    assert ok.status_code == 200, ok.text
    runtime.projector.catch_up()
    assert client.get("/api/stats?by=month", headers=auth(LEADER)).status_code == 200


def test_an_extension_past_the_policys_cap_is_refused_by_the_domain(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.CLAIMED)
    deadline = runtime.app.get_case(cid).dispatch.handle_deadline  # type: ignore[union-attr]
    cap = runtime.config.deadlines.for_category(runtime.app.get_case(cid).category).max_extension_days
    # A business time the contract accepts, but beyond the cap (延期上限) after the deadline.
    too_far = deadline + dt.timedelta(days=cap, minutes=1)
    r = client.post(
        f"/api/cases/{cid}/extend", json={"until": too_far.isoformat(), "reason": "需协调"}, headers=UNIT
    )
    message = refused(r, 422, "until", f"{cap} 天")
    assert r.json()["error"] == "invalid_command", message
    at_cap = client.post(
        f"/api/cases/{cid}/extend",
        json={"until": (deadline + dt.timedelta(days=cap)).isoformat(), "reason": "需协调"},
        headers=UNIT,
    )
    assert at_cap.status_code == 200, at_cap.text


@pytest.mark.parametrize(
    ("route", "field", "body"),
    [
        ("resolve", "result", {"result": "已修复\x00"}),
        ("resolve", "result", {"result": "已修复\x1b[31m"}),
        ("resolve", "result", {"result": "已修复\ud800"}),
        ("return", "reason", {"reason": "不属于本社区\x00"}),
        ("mediation/conclude", "summary", {"agreement": True, "summary": "和解\x07"}),
        ("extend", "reason", {"until": "2030-01-01T00:00:00+08:00", "reason": "\x00"}),
    ],
)
def test_a_unit_command_with_a_control_character_is_refused(
    env: tuple[Any, Runtime], route: str, field: str, body: dict[str, Any]
) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.MEDIATING if route.startswith("mediation") else Status.CLAIMED)
    version = runtime.app.get_case(cid).version
    # json.dumps keeps "\ud800" as the escape a client would send.
    r = client.post(
        f"/api/cases/{cid}/{route}",
        content=json.dumps(body).encode(),
        headers={**UNIT, "Content-Type": "application/json"},
    )
    refused(r, 422, field)
    assert runtime.app.get_case(cid).version == version


def test_a_newline_tab_and_carriage_return_are_text(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.CLAIMED)
    r = client.post(f"/api/cases/{cid}/resolve", json={"result": "已修复\r\n\t灯泡已换"}, headers=UNIT)
    assert r.status_code == 200, r.text


def test_open311_description_with_nul_or_a_lone_surrogate_is_refused(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    head = runtime.app.recorder.max_notification_id()
    form = client.post(f"{BASE}/requests.json", data=open311_form(description="井盖缺失\x00"))
    refused(form, 400, "description")
    body = json.dumps(open311_form(description="井盖缺失\ud800"))  # the escape, as sent
    as_json = client.post(
        f"{BASE}/requests.json", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    refused(as_json, 400, "description")
    xml = client.post(f"{BASE}/requests.xml", data=open311_form(address_string="茶亭路\x0b32号"))
    assert xml.status_code == 400 and b"address_string" in xml.content
    assert runtime.app.recorder.max_notification_id() == head  # nothing written


@pytest.mark.postgres
def test_on_postgresql_nul_is_refused_at_both_doors_and_the_views_keep_up(fresh_postgres_url: str) -> None:
    """Finding 2 was seen on PostgreSQL, which cannot store NUL in a text column."""
    with api_client(fresh_postgres_url) as (client, runtime):
        cid = case_in(runtime, Status.CLAIMED)
        refused(client.post(f"/api/cases/{cid}/resolve", json={"result": "已修复\x00"}, headers=UNIT),
                422, "result")
        refused(client.post(f"{BASE}/requests.json", data=open311_form(description="井盖\x00缺失")),
                400, "description")
        assert client.post(f"/api/cases/{cid}/resolve", json={"result": "已修复"}, headers=UNIT).status_code == 200
        projector = runtime.projector
        projector.catch_up()
        rows = runtime.read_model.cases({"status": "resolved"}, 10, 0)
        assert [str(r["case_id"]) for r in rows] == [str(cid)]


# ---- finding 5: 500s ---------------------------------------------------------------------------


def test_json_nested_100000_deep_is_refused_before_parsing(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    deep = b"[" * 100_000 + b"]" * 100_000
    r = client.post(f"{BASE}/requests.json", content=deep, headers={"Content-Type": "application/json"})
    refused(r, 400, "嵌套")
    api = client.post("/api/cases", content=deep, headers={**OP, "Content-Type": "application/json"})
    refused(api, 400, "嵌套")
    # Depth within the bound is the route's business as before.
    nested = json.dumps({"a": [[[1]]]}).encode()
    ok = client.post(f"{BASE}/requests.json", content=nested, headers={"Content-Type": "application/json"})
    assert ok.status_code == 403  # no api_key: the route answered


def test_a_body_over_the_limit_is_413(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    big = b'{"x": "' + b"a" * MAX_BODY_BYTES + b'"}'
    r = client.post("/api/cases", content=big, headers={**OP, "Content-Type": "application/json"})
    refused(r, 413, "过大")
    form = client.post(f"{BASE}/requests.json", data=open311_form(description="a" * MAX_BODY_BYTES))
    refused(form, 413, "过大")


@pytest.mark.parametrize("end", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00"])
def test_open311_dates_out_of_range_are_400(env: tuple[Any, Runtime], end: str) -> None:
    client, _ = env
    refused(client.get(f"{BASE}/requests.json", params={"end_date": end}), 400, "end_date")
    refused(client.get(f"{BASE}/requests.json", params={"start_date": end}), 400, "start_date")
    assert client.get(f"{BASE}/requests.json", params={"end_date": "2100-12-31T00:00:00Z"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/stats?by=month&from=9999-12-31",
        "/api/stats?by=month&to=9999-12-31",
        "/api/ranking?from=9999-12-31",
        "/api/units/chatinglu/figures?to=9999-12-31",
        "/api/cases?from=0001-01-01T00:00:00%2B14:00",
    ],
)
def test_read_routes_refuse_a_far_year(env: tuple[Any, Runtime], path: str) -> None:
    client, _ = env
    refused(client.get(path, headers=auth(LEADER)), 422)


def test_a_nul_in_a_query_filter_is_refused(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    refused(client.get("/api/cases", params={"q": "路灯\x00"}, headers=OP), 422, "q")
    refused(client.get(f"{BASE}/requests.json", params={"service_code": "a\x00"}), 400, "service_code")


# ---- finding 8: a 100,000-character attribute --------------------------------------------------


def test_an_open311_attribute_is_bounded(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    head = runtime.app.recorder.max_notification_id()
    r = client.post(f"{BASE}/requests.json", data=open311_form(**{"attribute[note]": "长" * 100_000}))
    refused(r, 400, "attribute[note]", str(MAX_ATTRIBUTE))
    many = {f"attribute[a{i}]": "x" for i in range(50)}
    refused(client.post(f"{BASE}/requests.json", data=open311_form(**many)), 400, "attribute")
    refused(
        client.post(f"{BASE}/requests.json", data=open311_form(**{"attribute[appeal_type]": "闲聊"})),
        400, "appeal_type",
    )
    assert runtime.app.recorder.max_notification_id() == head
    ok = client.post(f"{BASE}/requests.json", data=open311_form(**{"attribute[appeal_type]": "投诉"}))
    assert ok.status_code == 201, ok.text


def test_open311_json_values_must_be_text_or_numbers(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    body = {**open311_form(), "description": {"nested": "object"}}
    r = client.post(f"{BASE}/requests.json", json=body)
    refused(r, 400, "description")


# ---- sanshi ingest files and Kafka messages ----------------------------------------------------

HOTLINE = {
    "order_no": "C1", "received_at": "2021-07-16 09:30", "content": "路灯坏了", "address": "茶亭路",
    "caller_name": "张伟", "caller_phone": "13812345678",
}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"content": "路灯\x00坏了"}, "诉求内容"),
        ({"content": "路灯\x1b[2J坏了"}, "诉求内容"),
        ({"caller_name": "张\x00伟"}, "来电人"),
        ({"address": "茶亭路\x85"}, "诉求地址"),
        ({"remark": "备注\x00"}, "extra"),
        ({"remark": "长" * 5000}, "附加字段"),
        ({"received_at": "9999-12-31 23:59"}, "来电时间"),
        ({"received_at": "1999-12-31 23:59"}, "来电时间"),
        ({"appeal_type": "闲聊"}, "appeal_type"),
    ],
)
def test_a_hotline_file_line_breaking_the_contract_is_dead_lettered(
    env: tuple[Any, Runtime], tmp_path: Path, changes: dict[str, str], named: str
) -> None:
    _, runtime = env
    path = tmp_path / "hotline.jsonl"
    path.write_text(json.dumps({**HOTLINE, **changes}, ensure_ascii=False) + "\n", encoding="utf-8")
    report = ingest(runtime, "hotline", read_path(path), source=str(path))
    assert report.counts == {"dead_lettered": 1}
    (letter,) = dead_letter_store(runtime).list()
    assert named in letter["reason"], letter["reason"]
    assert not runtime.app.exists(case_id_for("hotline", "C1"))


# क़ (U+0958) is one character that NFC decomposes into two: a text at its maximum length before
# normalising is twice as long after.
DECOMPOSING = "\u0958"


def test_a_text_over_its_limit_after_normalising_is_refused_at_every_door(
    env: tuple[Any, Runtime], tmp_path: Path
) -> None:
    client, runtime = env
    assert len(unicodedata.normalize("NFC", DECOMPOSING)) == 2
    # A unit's 办理结果 (4,000 characters as sent, 8,000 once normalised): refused, not stored.
    cid = case_in(runtime, Status.CLAIMED)
    version = runtime.app.get_case(cid).version
    r = client.post(f"/api/cases/{cid}/resolve", json={"result": DECOMPOSING * MAX_CONTENT}, headers=UNIT)
    assert "4000" in refused(r, 422, "result")
    assert runtime.app.get_case(cid).version == version
    # At its limit after normalising it is accepted (the rule counts what is stored).
    r = client.post(f"/api/cases/{cid}/resolve", json={"result": DECOMPOSING * (MAX_CONTENT // 2)},
                    headers=UNIT)
    assert r.status_code == 200, r.text[:300]
    # The hotline file's 工单编号 pushed over 200 by NFC: dead-lettered with the Chinese reason
    # the API gives, not pydantic's English.
    path = tmp_path / "hotline.jsonl"
    path.write_text(json.dumps({**HOTLINE, "order_no": DECOMPOSING * 150}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    report = ingest(runtime, "hotline", read_path(path), source=str(path))
    assert report.counts == {"dead_lettered": 1}
    (letter,) = dead_letter_store(runtime).list()
    assert "太长（最多 200 字）" in letter["reason"], letter["reason"]
    assert "String should" not in letter["reason"]
    # And the API's operator intake refuses the same content.
    r = client.post("/api/cases", json={"order_no": "NFC1", "received_at": "2026-11-02 09:30:00",
                                        "content": DECOMPOSING * MAX_CONTENT}, headers=OP)
    assert "4000" in refused(r, 422, "content")


def test_a_login_over_its_limit_after_normalising_is_refused(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    r = client.post("/api/session", json={"login": DECOMPOSING * MAX_LOGIN, "password": "x"})
    assert str(MAX_LOGIN) in refused(r, 422, "login")
    client.cookies.clear()


@pytest.mark.parametrize("kind", [WholeNumber, Number])
def test_true_is_not_a_number_but_a_number_written_as_text_is(kind: Any) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    for value in (True, False):
        with pytest.raises(ValidationError) as caught:
            adapter.validate_python(value)
        assert problem_zh(caught.value.errors()[0]) in ("须为整数", "须为数字")
    with pytest.raises(ValidationError):
        adapter.validate_json("true")
    # Open311 forms and CSV files only have strings: "12" stays a number.
    assert adapter.validate_python("12") == 12
    assert adapter.validate_json("12") == 12


def test_true_where_the_api_expects_a_number_is_422_and_nothing_is_written(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    before = runtime.app.recorder.max_notification_id()
    r = client.post("/api/intake/app", headers=OP, json={
        "submission_id": "APP-TRUE", "content": "茶亭路32号井盖缺失", "lat": True, "lng": 109.1})
    assert "须为数字" in refused(r, 422, "lat")
    r = client.post("/api/admin/rules", headers=auth(ADMIN), json={
        "category": "municipal", "keywords": ["井盖"], "to": "chatinglu", "priority": True})
    assert "须为整数" in refused(r, 422, "priority")
    assert runtime.app.recorder.max_notification_id() == before
    # The same values as numbers are taken.
    r = client.post("/api/intake/app", headers=OP, json={
        "submission_id": "APP-NUMBER", "content": "茶亭路32号井盖缺失", "lat": "21.48", "lng": 109.1})
    assert r.status_code < 300, r.text[:300]


def test_a_csv_line_with_a_nul_is_dead_lettered_not_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "hotline.csv"
    path.write_text(
        "工单编号,来电时间,诉求内容\nC2,2021-07-16 09:30,路灯\x00坏了\nC3,2021-07-16 09:31,路灯坏了\r\n",
        encoding="utf-8",
    )
    outcomes = [adapt("hotline", raw) for raw in read_path(path)]
    assert isinstance(outcomes[0], DeadLetter) and "诉求内容" in outcomes[0].reason
    assert isinstance(outcomes[1], Parsed)


@dataclass
class _TP:
    topic: str
    partition: int

    def __hash__(self) -> int:
        return hash((self.topic, self.partition))


@dataclass
class _Record:
    offset: int
    value: bytes
    headers: list[tuple[str, bytes]]


class _Producer:
    """Stands in for the broker's DLQ topic: the worker publishes its dead letters here."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, topic: str, **kw: Any) -> Any:
        self.sent.append({"topic": topic, **kw})
        offset = len(self.sent) - 1

        class _Done:
            def get(self, timeout: float = 0) -> int:
                return offset  # as librdkafka's future answers: the record's offset

        return _Done()

    def flush(self) -> None:
        return None


def test_a_dead_letter_acknowledged_without_an_offset_is_not_taken_as_stored() -> None:
    """librdkafka once reported records delivered that the broker never stored, with no offset
    (docs/channels.md): a dead letter acknowledged so must raise, so the worker does not commit
    past the record it stands for."""
    from kafka.errors import KafkaError

    from adapters.transport.kafka import KafkaSettings, publish_dead_letters

    class _NoOffset(_Producer):
        def send(self, topic: str, **kw: Any) -> Any:
            super().send(topic, **kw)

            class _Acknowledged:
                def get(self, timeout: float = 0) -> None:
                    return None

            return _Acknowledged()

    letter = DeadLetter("hotline", "无法读取", "topic:0:1", b"{", 1, "0" * 64)
    settings = KafkaSettings.from_env("127.0.0.1:9", environ={})
    with pytest.raises(KafkaError, match="without an offset"):
        publish_dead_letters(_NoOffset(), settings, [letter])
    publish_dead_letters(_Producer(), settings, [letter])  # with its offset: stored


def _message(**changes: Any) -> bytes:
    command = IntakeCommand(
        channel="hotline", source_ref="K1", received_at=dt.datetime(2026, 11, 2, 9, 30, tzinfo=SHANGHAI),
        content="路灯坏了",
    )
    data = json.loads(command.model_dump_json())
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"content": "路灯\x00坏了"}, "content"),
        ({"content": "路灯\ud800"}, "Invalid JSON"),  # the message parser refuses it itself
        ({"address": "茶亭路\x07"}, "address"),
        ({"received_at": "9999-12-31T23:59:59-12:00"}, "received_at"),
        ({"received_at": "2026-11-02T09:30:00"}, "received_at"),  # no zone
        ({"extra": {"note": "x" * 100_000}}, "extra"),
        ({"appeal_type": "闲聊"}, "appeal_type"),
    ],
)
def test_a_kafka_message_breaking_the_contract_is_dead_lettered(
    env: tuple[Any, Runtime], changes: dict[str, Any], field: str
) -> None:
    from adapters.transport.kafka import KafkaSettings
    from adapters.transport.worker import Worker

    _, runtime = env
    settings = KafkaSettings.from_env("127.0.0.1:1")
    worker = Worker(runtime, settings)
    worker._producer = _Producer()
    tp = _TP(settings.intake_topic, 0)
    good = _Record(1, _message(source_ref="K2"), [])
    worker.process({tp: [_Record(0, _message(**changes), [("sanshi-channel", b"hotline")]), good]})
    (letter,) = dead_letter_store(runtime).list()
    assert letter["position"] == f"{settings.intake_topic}:0:0"
    assert field in letter["reason"], letter["reason"]
    assert not runtime.app.exists(case_id_for("hotline", "K1"))
    assert runtime.app.exists(case_id_for("hotline", "K2"))  # the rest of the poll goes on
    assert worker._producer.sent and worker._producer.sent[0]["topic"] == settings.dlq_topic


# ---- the contract's types agree with every door (hypothesis) ----------------------------------

# Text that is mostly fine, with the characters the contract is about mixed in.
_ALPHABET = st.sampled_from(
    [*"路灯坏了 请修理ab1", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\t", "\n", "\r",
     "\ud800", "\udfff", "\u3000", "e\u0301", "😀", "\u202e"]
)
hostile = st.lists(_ALPHABET, max_size=30).map("".join) | st.text(max_size=30)

CONTENT = TypeAdapter(Content)
TIME = TypeAdapter(BusinessTime)


def _content_ok(s: str) -> bool:
    return text_problem(s) is None and 1 <= len(s) <= MAX_CONTENT and bool(s.strip())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile)
def test_the_content_type_refuses_exactly_what_the_rule_says(text: str) -> None:
    try:
        value = CONTENT.validate_python(text)
    except ValidationError:
        assert not _content_ok(text)
        return
    assert _content_ok(text)
    assert value == unicodedata.normalize("NFC", text)
    assert TypeAdapter(Content).validate_python(value) == value  # idempotent


@settings(max_examples=200, deadline=None)
@given(text=hostile)
def test_a_file_line_and_a_kafka_message_agree_with_the_type(text: str) -> None:
    """The same complaint text is accepted by the hotline file adapter, the Kafka message
    model and the Content type alike, or refused by all three."""
    # What any JSON reader gets from the text as JSON writes it: an escaped surrogate pair
    # ("\ud800\udfff") is one valid character there, a lone surrogate stays one.
    seen = json.loads(json.dumps(text))
    accepted = _content_ok(seen)
    line = json.dumps({**HOTLINE, "content": text}).encode()
    outcome = adapt("hotline", read_one(line))
    # The file adapter strips the text's ends (an export's padding); the rule is the same.
    assert isinstance(outcome, Parsed) == (text_problem(seen) is None and bool(seen.strip())), outcome
    try:
        IntakeCommand.model_validate_json(_message(content=text))
        as_message = True
    except ValidationError:
        as_message = False
    assert as_message == accepted


@settings(max_examples=200, deadline=None)
@given(
    t=st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from([dt.timezone(dt.timedelta(hours=h)) for h in (-12, 0, 8, 14)]),
    )
)
def test_a_business_time_is_aware_and_in_range_or_refused(t: dt.datetime) -> None:
    inside = dt.datetime(2000, 1, 1, tzinfo=SHANGHAI) <= t < dt.datetime(2100, 1, 1, tzinfo=SHANGHAI)
    try:
        TIME.validate_python(t)
        ok = True
    except ValidationError:
        ok = False
    assert ok == inside
    with pytest.raises(ValidationError):
        TIME.validate_python(t.replace(tzinfo=None))


@settings(max_examples=200, deadline=None)
@given(
    body=st.recursive(
        st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"a', max_size=3), inner, max_size=3),
        max_leaves=20,
    )
)
def test_json_depth_on_raw_bytes_matches_the_parsed_value(body: Any) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    raw = json.dumps(body).encode()
    assert json_depth(raw) == depth(body)
    assert json_depth(raw, MAX_JSON_DEPTH) <= max(depth(body), raw.count(b"[") + raw.count(b"{"))
