"""Channel adapters (docs/channels.md): raw records → IntakeCommand, a filtered count, or a dead letter.

No storage here: these tests call the adapters and the file reader directly.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from adapters.channels import (
    DeadLetter,
    Filtered,
    Parsed,
    adapt,
    context_for,
    read_one,
    read_path,
    read_stream,
)
from adapters.channels.police import incident_ref
from adapters.channels.privacy import mask_name, mask_phone, mask_text
from adapters.channels.reading import FileRefused
from engine.config import load_config
from engine.deadlines import SHANGHAI

# Reads today's date: CI runs it again on moved clocks (tests/support/moved_clock.py).
pytestmark = pytest.mark.date_sensitive

SAMPLES = Path(__file__).parent.parent / "data" / "intake_samples"  # copy of the shared samples

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
CTX = context_for(load_config(None), now=NOW)


def run(channel: str, path: Path | str) -> list[Any]:
    return [adapt(channel, raw, CTX) for raw in read_path(path)]


def run_bytes(channel: str, data: bytes, name: str = "upload.jsonl") -> list[Any]:
    return [adapt(channel, raw, CTX) for raw in read_stream(io.BytesIO(data), name)]


def commands(outcomes: list[Any]) -> list[Any]:
    return [o.command for o in outcomes if isinstance(o, Parsed)]


def dead(outcomes: list[Any]) -> list[DeadLetter]:
    return [o for o in outcomes if isinstance(o, DeadLetter)]


def one(channel: str, record: dict[str, Any]) -> Any:
    return adapt(channel, read_one(record), CTX)


def jsonl(*records: dict[str, Any] | str) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records).encode() + b"\n"


HOTLINE = {
    "order_no": "BH1",
    "received_at": "2021-07-16T09:30:00+08:00",
    "caller_phone": "13877912345",
    "content": "小区没有路灯",
}
POLICE = {
    "incident_no": "JQ1",
    "received_at": "2021-06-16T08:12:00+08:00",
    "caller_phone": "15150001234",
    "caller_name": "孔祥东",
    "location": "徐州市鼓楼区丰财街道",
    "summary": "报警人称与物业因停车费发生争执",
    "police_category": "纠纷",
    "sub_category": "物业纠纷",
}
APP = {"submission_id": "s1", "user_id": "u1", "phone": "13877900001", "content": "纱网破了", "concern": "trouble"}
WALKIN = {"station_id": "jy-chatinglu", "ticket_no": "0001", "content": "孙子入学手续缺失", "received_at": "2021-05-06T09:00:00+08:00"}


# ---- the shared samples, as their README says they ingest -------------------------------


def test_hotline_jsonl_sample_with_a_time_without_zone() -> None:
    cmds = commands(run("hotline", SAMPLES / "hotline.jsonl"))
    assert [c.source_ref for c in cmds] == [f"BH20210716{n:06d}" for n in range(123, 128)]
    no_zone = next(c for c in cmds if c.source_ref == "BH20210716000125")
    assert no_zone.received_at == dt.datetime(2021, 7, 16, 11, 15, 40, tzinfo=SHANGHAI)
    assert no_zone.received_at.utcoffset() == dt.timedelta(hours=8)
    urgent = {c.source_ref for c in cmds if c.urgent}
    assert urgent == {"BH20210716000126"}  # 紧急
    assert cmds[1].caller_phone == "0779-3031234"  # hotline numbers are kept for 回访


def test_hotline_gb18030_csv_with_chinese_headers_reads_as_chinese() -> None:
    data = (SAMPLES / "hotline_gb18030.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the sample really is GB18030
    cmds = commands(run("hotline", SAMPLES / "hotline_gb18030.csv"))
    assert len(cmds) == 3
    first = cmds[0]
    assert first.source_ref == "BH20210717000201"
    assert first.content == "小区电梯坏了十来天，物业不维修不处理，老人上下楼非常困难。"
    assert first.caller_name == "李女士"
    assert first.address == "北海市海城区东街街道海景花园"
    assert first.appeal_type == "投诉"
    assert first.received_at == dt.datetime(2021, 7, 17, 8, 10, tzinfo=SHANGHAI)
    assert cmds[2].caller_name == ""


def test_police_sample_theft_and_traffic_stay_with_the_police_and_the_rest_is_masked() -> None:
    outcomes = run("police", SAMPLES / "police.jsonl")
    filtered = [o for o in outcomes if isinstance(o, Filtered)]
    assert [o.position.rsplit(":", 1)[1] for o in filtered] == ["3", "6"]
    assert "刑事" in filtered[0].reason and "交通" in filtered[1].reason
    cmds = commands(outcomes)
    # the incident number is kept only as its keyed hash (issue 14)
    assert [c.source_ref for c in cmds] == [incident_ref(n) for n in (
        "JQ320302202106160001", "JQ320302202106160002", "JQ320302202106160004", "JQ320302202106160005",
    )]
    assert not any("JQ3203022021" in c.model_dump_json() for c in cmds)
    assert all(c.category_hint == "dispute" for c in cmds)  # 纠纷 → mediation
    injured = cmds[1]
    assert "320302198001011239" not in injured.content
    assert "**************1239" in injured.content
    assert injured.caller_name == "王某"
    assert injured.caller_phone == "*******1234"
    assert cmds[0].caller_name == "孔某"
    assert cmds[0].extra["police_category"] == "纠纷"
    assert cmds[0].extra["sub_category"] == "物业纠纷"
    raw_values = [json.loads(line) for line in (SAMPLES / "police.jsonl").read_text().splitlines()]
    published = "".join(c.model_dump_json() for c in cmds)
    for record in raw_values:
        assert record["caller_phone"] not in published
        if mask_name(record["caller_name"]) != record["caller_name"]:  # 褚某 is masked already
            assert record["caller_name"] not in published


def test_app_sample_anguish_is_urgent_and_time_defaults_to_now() -> None:
    cmds = commands(run("app", SAMPLES / "app.jsonl"))
    assert [c.concern.value for c in cmds] == ["trouble", "worry", "anguish"]
    assert [c.urgent for c in cmds] == [False, False, True]
    assert all(c.received_at == NOW for c in cmds)
    assert cmds[0].extra["lat"] == 36.889 and cmds[0].extra["photos"] == []
    assert cmds[0].caller_phone == "13877900001"


def test_walkin_sample_source_ref_and_on_behalf() -> None:
    cmds = commands(run("walkin", SAMPLES / "walkin.csv"))
    assert [c.source_ref for c in cmds] == ["jy-chatinglu/0001", "jy-chatinglu/0002"]
    assert [c.extra["on_behalf"] for c in cmds] == [False, True]
    assert cmds[0].caller_name == "梁崇玉"
    assert cmds[0].extra["staff_id"] == "gw017"


# ---- encodings --------------------------------------------------------------------------


def test_utf8_with_bom_csv_with_english_headers(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        codecs.BOM_UTF8
        + "order_no,received_at,content,urgency,category\nBH9,2021-07-16 09:30:00,路灯坏了,紧急,市政设施\n".encode()
    )
    (cmd,) = commands(run("hotline", path))
    assert cmd.source_ref == "BH9" and cmd.urgent and cmd.category_hint == "municipal"


def test_gb18030_json_lines() -> None:
    data = json.dumps(HOTLINE, ensure_ascii=False).encode("gb18030") + b"\n"
    (cmd,) = commands(run_bytes("hotline", data))
    assert cmd.content == "小区没有路灯"


def test_one_broken_line_in_a_utf8_file_is_a_dead_letter_not_mojibake_for_all() -> None:
    good = json.dumps(HOTLINE, ensure_ascii=False).encode()
    other = json.dumps({**HOTLINE, "order_no": "BH2", "content": "油烟扰民"}, ensure_ascii=False).encode()
    broken = json.dumps({**HOTLINE, "order_no": "BH3"}, ensure_ascii=False).encode()[:-12] + b"\xff\xfe\"}"
    outcomes = run_bytes("hotline", good + b"\n" + broken + b"\n" + other + b"\n")
    assert [c.content for c in commands(outcomes)] == ["小区没有路灯", "油烟扰民"]
    (letter,) = dead(outcomes)
    assert letter.position == "upload.jsonl:2"
    assert "编码" in letter.reason
    # kept byte for byte, but redacted like every dead letter: the caller's number masked
    assert letter.redacted and letter.raw == broken.replace(b"13877912345", b"*******2345")


def test_a_file_that_is_neither_utf8_nor_gb18030_ends_as_dead_letters() -> None:
    lines = [b"\x80\x81 order", b"\xff\xfe\x80\x81 order", b"\x80\xff\x00 content", b"\xfe\xfe\xfe\xff"]
    outcomes = run_bytes("hotline", b"\n".join(lines), name="weird.csv")
    assert outcomes and all(isinstance(o, DeadLetter) for o in outcomes)
    assert {o.raw for o in outcomes} <= set(lines)


def test_a_file_that_starts_with_a_utf16_bom_is_refused_as_a_whole() -> None:
    with pytest.raises(FileRefused, match="UTF-16"):
        run_bytes("hotline", b"\xff\xfe\x80\x81 order\n\x80\xff content", name="weird.csv")


# ---- times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2021-07-16T09:30:00+08:00", dt.datetime(2021, 7, 16, 9, 30, tzinfo=SHANGHAI)),
        ("2021-07-16 09:30:00", dt.datetime(2021, 7, 16, 9, 30, tzinfo=SHANGHAI)),
        ("2021-07-16T01:30:00Z", dt.datetime(2021, 7, 16, 9, 30, tzinfo=SHANGHAI)),
        ("2021/7/16 9:30", dt.datetime(2021, 7, 16, 9, 30, tzinfo=SHANGHAI)),
        ("2021年7月16日 09:30", dt.datetime(2021, 7, 16, 9, 30, tzinfo=SHANGHAI)),
    ],
)
def test_times_accepted(given: str, expected: dt.datetime) -> None:
    out = one("hotline", {**HOTLINE, "received_at": given})
    assert isinstance(out, Parsed)
    assert out.command.received_at == expected
    assert out.command.received_at.tzinfo is not None


@pytest.mark.parametrize("given", ["明天上午", "2021-13-45 09:30:00", "2021-07-16", "", None, 20210716, "0001-01-01T00:00:00"])
def test_a_time_that_is_not_a_time_is_a_dead_letter(given: Any) -> None:
    out = one("hotline", {**HOTLINE, "received_at": given})
    assert isinstance(out, DeadLetter)
    assert "received_at" in out.reason


# ---- content ----------------------------------------------------------------------------


def test_content_of_4000_characters_passes_whole_and_4001_is_refused_not_cut() -> None:
    ok = one("hotline", {**HOTLINE, "content": "路" * 4000})
    assert isinstance(ok, Parsed) and len(ok.command.content) == 4000
    long = one("hotline", {**HOTLINE, "content": "路" * 4001})
    assert isinstance(long, DeadLetter)
    assert "4000" in long.reason and "4001" in long.reason
    assert "路" * 4001 in long.raw.decode()  # the whole text is kept in the dead letter


def test_ten_megabytes_on_one_line_is_a_dead_letter_and_reading_goes_on() -> None:
    huge = b'{"order_no": "BIG", "content": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    data = jsonl(HOTLINE) + huge + b"\n" + jsonl({**HOTLINE, "order_no": "BH2"})
    outcomes = run_bytes("hotline", data)
    assert [c.source_ref for c in commands(outcomes)] == ["BH1", "BH2"]
    (letter,) = dead(outcomes)
    assert letter.position == "upload.jsonl:2"
    assert "过大" in letter.reason
    assert letter.raw_size == len(huge) + 1  # the line break belongs to the line
    assert letter.raw_truncated and len(letter.raw) <= 256 * 1024
    assert outcomes[2].position == "upload.jsonl:3"


def test_text_is_nfc_normalised() -> None:
    out = one("hotline", {**HOTLINE, "content": "Cafe\u0301 门口积水", "address": "e\u0301街"})
    assert isinstance(out, Parsed)
    assert out.command.content == "Café 门口积水" and out.command.address == "é街"


@pytest.mark.parametrize(
    ("channel", "record", "word"),
    [
        ("hotline", {**HOTLINE, "content": None}, "content"),
        ("hotline", {**HOTLINE, "content": "   "}, "content"),
        ("hotline", {**HOTLINE, "content": 12345}, "content"),
        ("hotline", {**HOTLINE, "order_no": ""}, "order_no"),
        ("hotline", {**HOTLINE, "caller_name": ["张三"]}, "caller_name"),
        ("hotline", {**HOTLINE, "urgency": "很急吗"}, "urgency"),
        ("app", {**APP, "lat": "north"}, "lat"),
        ("app", {**APP, "lat": 123.0, "lng": 50}, "lat"),
        ("app", {**APP, "photos": "http://x/1.jpg"}, "photos"),
        ("app", {**APP, "concern": "angry"}, "concern"),
        ("app", {**APP, "content": "\ud800坏了"}, "Unicode"),
        ("walkin", {**WALKIN, "station_id": "a/b"}, "station_id"),
        ("walkin", {**WALKIN, "on_behalf": "maybe"}, "on_behalf"),
        ("police", {**POLICE, "police_category": None}, "police_category"),
        ("police", {**POLICE, "received_at": "昨晚"}, "received_at"),
    ],
)
def test_unreadable_records_are_dead_letters_with_a_reason(channel: str, record: dict[str, Any], word: str) -> None:
    out = one(channel, record)
    assert isinstance(out, DeadLetter), out
    assert word in out.reason
    assert out.channel == channel and out.position == "http" and out.raw


def test_not_json_and_not_an_object() -> None:
    outcomes = run_bytes("app", b'{"submission_id": \n[1, 2]\n"text"\n\n   \n')
    assert [o.position for o in outcomes] == ["upload.jsonl:1", "upload.jsonl:2", "upload.jsonl:3"]
    assert all(isinstance(o, DeadLetter) for o in outcomes)
    assert "JSON" in outcomes[0].reason and "object" in outcomes[1].reason


def test_channel_fields_go_to_extra_and_category_names_become_codes() -> None:
    out = one("hotline", {**HOTLINE, "category": "矛盾纠纷", "区域": "海城", "ticket_hint": 7})
    assert isinstance(out, Parsed)
    assert out.command.category_hint == "dispute"
    assert out.command.extra == {"区域": "海城", "ticket_hint": 7}
    unknown = one("hotline", {**HOTLINE, "category": "not-a-category"})
    assert isinstance(unknown, Parsed) and unknown.command.category_hint == "not-a-category"


def test_app_received_at_from_the_record_when_given() -> None:
    out = one("app", {**APP, "received_at": "2021-07-16 09:30:00", "photos": ["http://x/1.jpg"]})
    assert isinstance(out, Parsed)
    assert out.command.received_at == dt.datetime(2021, 7, 16, 9, 30, tzinfo=SHANGHAI)
    assert out.command.extra["photos"] == ["http://x/1.jpg"]
    assert "received_at_assumed" not in out.command.extra


# ---- CSV structure ----------------------------------------------------------------------


def test_csv_rows_with_more_cells_than_header_and_a_quoted_multiline_field(tmp_path: Path) -> None:
    path = tmp_path / "walkin.csv"
    path.write_text(
        "station_id,ticket_no,content,received_at\n"
        "s1,1,第一条,2021-05-06 09:00\n"
        "s1,2,多,出来,的,列\n"
        '\n'
        's1,3,"第一行\n第二行",2021-05-06 10:00\n'
        "s1,4,最后一条,2021-05-06 11:00,\n",
        encoding="utf-8",
    )
    outcomes = run("walkin", path)
    assert [o.position.rsplit(":", 1)[1] for o in outcomes] == ["2", "3", "5", "7"]
    assert isinstance(outcomes[1], DeadLetter) and "列数" in outcomes[1].reason
    assert [c.content for c in commands(outcomes)] == ["第一条", "第一行\n第二行", "最后一条"]


def test_csv_without_a_content_column_dead_letters_every_row(tmp_path: Path) -> None:
    path = tmp_path / "hotline.csv"
    path.write_text("工单编号,来电时间\nA1,2021-07-16 09:30\nA2,2021-07-16 09:31\n", encoding="utf-8")
    outcomes = run("hotline", path)
    assert len(outcomes) == 2 and all(isinstance(o, DeadLetter) for o in outcomes)
    assert all("content" in o.reason for o in outcomes)


def test_walkin_json_array_batch(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([WALKIN, {**WALKIN, "ticket_no": 2}, "oops"], ensure_ascii=False))
    outcomes = run("walkin", path)
    assert [c.source_ref for c in commands(outcomes)] == ["jy-chatinglu/0001", "jy-chatinglu/2"]
    assert isinstance(outcomes[2], DeadLetter) and outcomes[2].position.endswith("[2]")


# ---- police desensitisation -------------------------------------------------------------


def test_mask_primitives() -> None:
    assert mask_phone("13912345678") == "*******5678"
    assert mask_phone("0516-83801234") == "********1234"
    assert mask_name("张三丰") == "张某"
    assert mask_name("欧阳娜娜") == "欧阳某"
    assert mask_name("") == ""


@pytest.mark.parametrize(
    ("written", "secret"),
    [
        ("139 1234 5678", "12345678"),
        ("+86 139-1234-5678", "1391234"),
        ("+8613912345678", "1391234"),
        ("0086 13912345678", "1391234"),
        ("１３９１２３４５６７８", "１３９１２３４"),
        ("13912345678", "1391234"),
        ("(0516)83801234", "0516838"),
        ("320302198001011239", "3203021980"),  # checksum-valid ID number
        ("32030219800101123X", "3203021980"),  # ID-shaped with a wrong check digit: masked anyway
        ("320302 19800101 1239", "19800101"),
    ],
)
def test_numbers_inside_police_text_are_masked(written: str, secret: str) -> None:
    masked = mask_text(f"对方电话{written}，请联系")
    assert secret not in masked
    assert masked.startswith("对方电话") and masked.endswith("，请联系")


def test_police_caller_name_and_number_inside_the_summary_are_replaced() -> None:
    record = {
        **POLICE,
        "caller_name": "欧阳娜娜",
        "caller_phone": "0516-83801234",
        "summary": "报警人欧阳娜娜称邻居噪音扰民，欧阳娜娜要求处理，回电0516 8380 1234。我叫张伟明，是她邻居。",
    }
    out = one("police", record)
    assert isinstance(out, Parsed)
    cmd = out.command
    assert cmd.caller_name == "欧阳某"
    assert cmd.caller_phone == "********1234"
    assert "欧阳娜娜" not in cmd.content and cmd.content.count("欧阳某") == 2
    assert "8380" not in cmd.content
    assert "张伟明" not in cmd.content and "我叫张某" in cmd.content


def test_police_fields_we_do_not_know_are_not_forwarded() -> None:
    out = one("police", {**POLICE, "id_number": "320302198001011239", "备注": "身份证见附件"})
    assert isinstance(out, Parsed)
    text = out.command.model_dump_json()
    assert "320302198001011239" not in text and "身份证见附件" not in text
    assert sorted(out.command.extra["fields_not_forwarded"]) == ["id_number", "备注"]


def test_police_seek_help_and_consultation_pass_other_categories_do_not() -> None:
    assert isinstance(one("police", {**POLICE, "police_category": "求助"}), Parsed)
    consult = one("police", {**POLICE, "police_category": "咨询"})
    assert isinstance(consult, Parsed) and consult.command.category_hint == ""
    for category in ("刑事", "治安", "交通", "火灾", "其他警情"):
        out = one("police", {**POLICE, "police_category": category, "received_at": "bad"})
        assert isinstance(out, Filtered), category  # filtered before anything else is read


def test_an_unreadable_police_record_is_stored_desensitised() -> None:
    raw = jsonl({**POLICE, "received_at": "昨晚", "summary": "报警人孔祥东称，电话15150001234，身份证320302198001011239"})
    (letter,) = run_bytes("police", raw)
    assert isinstance(letter, DeadLetter) and letter.redacted
    for secret in (b"15150001234", "孔祥东".encode(), b"320302198001011239"):
        assert secret not in letter.raw
    assert letter.raw_sha256  # of the original, so a re-send is recognised
    broken = b'{"incident_no": "JQ9", "caller_name": "\xe5\xad\x94\xe7\xa5\xa5\xe4\xb8\x9c", "caller_phone": "15150001234", "summ'
    (letter,) = run_bytes("police", broken + b"\n")
    assert b"15150001234" not in letter.raw and "孔祥东".encode() not in letter.raw


def test_record_reasons_never_quote_police_values() -> None:
    bad = {**POLICE, "caller_name": "孔祥东" * 40, "caller_phone": "15150001234" * 6}
    out = one("police", bad)
    if isinstance(out, DeadLetter):
        assert "孔祥东" not in out.reason and "15150001234" not in out.reason
    bad_type = one("police", {**POLICE, "summary": {"text": "孔祥东 15150001234"}})
    assert isinstance(bad_type, DeadLetter)
    assert "15150001234" not in bad_type.reason


def test_reading_a_body_for_http() -> None:
    assert isinstance(adapt("app", read_one(json.dumps(APP).encode())), Parsed)
    assert isinstance(adapt("app", read_one(b"\xff\xfe")), DeadLetter)
    assert isinstance(adapt("app", read_one("[1]")), DeadLetter)
    with pytest.raises(ValueError, match="渠道"):
        adapt("fax", read_one(APP))


def test_positions_are_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(jsonl(HOTLINE) + b"\n\n" + jsonl({"order_no": 1}))
    outcomes = run("hotline", path)
    assert [o.position for o in outcomes] == [f"{path}:1", f"{path}:4"]
    assert re.search(r"content|received_at", dead(outcomes)[0].reason)
