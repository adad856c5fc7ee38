"""Property-based tests (hypothesis) at every adapter: whatever arrives, no exception escapes
and every record ends as exactly one of command / filtered / dead letter; police output
never carries the caller's raw name, number or ID number."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.channels import (
    CHANNELS,
    DeadLetter,
    Filtered,
    Parsed,
    adapt,
    context_for,
    read_one,
    read_stream,
)
from adapters.channels.privacy import COMPOUND_SURNAMES, mask_name
from adapters.channels.reading import FileRefused, _decodes
from engine.config import load_config

SAMPLES = Path(__file__).parent.parent / "data" / "intake_samples"
SAMPLE_LINES = {
    "hotline": (SAMPLES / "hotline.jsonl").read_bytes().splitlines(),
    "police": (SAMPLES / "police.jsonl").read_bytes().splitlines(),
    "app": (SAMPLES / "app.jsonl").read_bytes().splitlines(),
    "grid": (SAMPLES / "grid.jsonl").read_bytes().splitlines(),
    "enterprise": (SAMPLES / "enterprise.jsonl").read_bytes().splitlines(),
    "walkin": [
        json.dumps(
            {"station_id": "s1", "ticket_no": "1", "content": "路灯坏了", "received_at": "2021-05-06 09:00"},
            ensure_ascii=False,
        ).encode()
    ],
    "media": (SAMPLES / "media.jsonl").read_bytes().splitlines(),
    "court": [
        json.dumps(
            {"case_no": "（2026）桂0502民诉前调1234号", "received_at": "2026-09-07 10:00",
             "dispute_type": "相邻关系纠纷", "summary": "楼上漏水", "applicant_name": "黄丽华"},
            ensure_ascii=False,
        ).encode()
    ],
    "town": (SAMPLES / "town.jsonl").read_bytes().splitlines(),
}
# The district the samples name (town records must come from one of its streets).
CTX = context_for(load_config(None))
KINDS = (Parsed, Filtered, DeadLetter)
channels = st.sampled_from(sorted(CHANNELS))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def outcomes_of(channel: str, data: bytes, name: str) -> list[Any]:
    return [adapt(channel, raw) for raw in read_stream(io.BytesIO(data), name)]


@FAST
@given(channel=channels, data=st.data())
def test_arbitrary_bytes_as_json_lines_every_visible_line_is_accounted_for(channel: str, data: Any) -> None:
    pieces = data.draw(
        st.lists(st.binary(max_size=120) | st.sampled_from(SAMPLE_LINES[channel]), max_size=12)
    )
    blob = b"\n".join(pieces)
    try:
        outcomes = outcomes_of(channel, blob, "in.jsonl")
    except FileRefused as refusal:
        # A file in an encoding that is not taken (docs/boundary.md) is refused as a whole, once,
        # saying which encoding it read as; only bytes that are not UTF-8 can look like that.
        assert "Big5" in str(refusal) or "UTF-16" in str(refusal)
        assert not _decodes(blob, "utf-8")
        return
    assert all(isinstance(o, KINDS) for o in outcomes)
    if blob.lstrip(b"\xef\xbb\xbf").lstrip()[:1] == b"[":
        return  # read as one JSON array: positions are [i], checked elsewhere
    positions = [o.position for o in outcomes]
    assert len(positions) == len(set(positions))  # one outcome per line at most
    visible = {
        f"in.jsonl:{n}"
        for n, line in enumerate(blob.split(b"\n"), start=1)
        if any(0x21 <= b <= 0x7E for b in line)
    }
    assert visible <= set(positions)  # no line with something on it is skipped silently


@FAST
@given(channel=channels, blob=st.binary(max_size=600))
def test_arbitrary_bytes_as_csv_never_raise(channel: str, blob: bytes) -> None:
    data = b"order_no,received_at,content\n" + blob
    try:
        outcomes = outcomes_of(channel, data, "in.csv")
    except FileRefused as refusal:  # an encoding that is not taken, said once for the file
        assert "Big5" in str(refusal) or "UTF-16" in str(refusal)
        assert not _decodes(data, "utf-8")
        return
    assert all(isinstance(o, KINDS) for o in outcomes)


@FAST
@given(channel=channels, body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_http_bodies_never_raise(channel: str, body: bytes) -> None:
    assert isinstance(adapt(channel, read_one(body)), KINDS)


def _base(channel: str) -> dict[str, Any]:
    return dict(json.loads(SAMPLE_LINES[channel][0]))


@FAST
@given(channel=channels, data=st.data())
def test_mutated_records_end_as_exactly_one_outcome(channel: str, data: Any) -> None:
    record = _base(channel)
    keys = [*sorted(record), "content", "received_at", "extra_field"]
    for _ in range(data.draw(st.integers(0, 4))):
        key = data.draw(st.sampled_from(keys))
        action = data.draw(st.sampled_from(["drop", "value", "text", "long"]))
        if action == "drop":
            record.pop(key, None)
        elif action == "value":
            record[key] = data.draw(json_values)
        elif action == "text":
            record[key] = data.draw(st.text(max_size=40))
        else:
            record[key] = "长" * data.draw(st.integers(3990, 4010))
    body = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(body)))
        body = body[:cut] + data.draw(st.binary(max_size=5)) + body[cut:]
    outcome = adapt(channel, read_one(body), CTX)
    assert isinstance(outcome, KINDS)
    if isinstance(outcome, Parsed):
        assert len(outcome.command.content) <= 4000
        json.loads(outcome.command.model_dump_json())  # fits Kafka and the event store


# ---- police privacy ---------------------------------------------------------------------

GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅志玉兰"
SINGLE = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
SEGMENTS = ["130", "135", "138", "139", "150", "151", "158", "166", "177", "186", "189", "199"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(body17: str) -> str:
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True)) % 11]
    return body17 + check


names = st.builds(
    lambda surname, given: surname + given,
    st.sampled_from(sorted(COMPOUND_SURNAMES)) | st.sampled_from(SINGLE),
    st.text(alphabet=GIVEN, min_size=1, max_size=2),
)
mobiles = st.builds(lambda seg, rest: seg + rest, st.sampled_from(SEGMENTS), st.text(alphabet="0123456789", min_size=8, max_size=8))
ids = st.builds(
    lambda region, year, month, day, seq: id_number(f"{region}{year}{month:02d}{day:02d}{seq}"),
    st.sampled_from(["320302", "110105", "450502", "440305"]),
    st.integers(1940, 2015),
    st.integers(1, 12),
    st.integers(1, 28),
    st.text(alphabet="0123456789", min_size=3, max_size=3),
)


def spaced(m: str) -> str:
    return f"{m[:3]} {m[3:7]} {m[7:]}"


@settings(max_examples=300, deadline=None)
@given(
    name=names,
    phone=mobiles,
    other=mobiles,
    ident=ids,
    form=st.sampled_from(["plain", "spaced", "+86", "+86 dashed"]),
    category=st.sampled_from(["纠纷", "求助", "咨询"]),
)
def test_police_output_never_holds_the_raw_name_number_or_id(
    name: str, phone: str, other: str, ident: str, form: str, category: str
) -> None:
    written = {
        "plain": other,
        "spaced": spaced(other),
        "+86": "+86" + other,
        "+86 dashed": f"+86 {other[:3]}-{other[3:7]}-{other[7:]}",
    }[form]
    record = {
        "incident_no": "JQ1",
        "received_at": "2021-06-16 08:12",
        "caller_phone": phone,
        "caller_name": name,
        "location": f"{name}家门口",
        "summary": f"报警人{name}称与邻居发生争执，{name}要求处理。对方电话{written}，本人{spaced(phone)}，身份证号{ident}。",
        "police_category": category,
        "sub_category": "邻里纠纷",
    }
    outcome = adapt("police", read_one(record))
    assert isinstance(outcome, Parsed)
    text = outcome.command.model_dump_json()
    assert mask_name(name) in text
    for secret in (name, phone, other, spaced(other), written, spaced(phone), ident):
        assert secret not in text, (secret, text)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_every_sample_line_parses(channel: str) -> None:
    for line in SAMPLE_LINES[channel]:
        assert isinstance(adapt(channel, read_one(line), CTX), Parsed | Filtered)
