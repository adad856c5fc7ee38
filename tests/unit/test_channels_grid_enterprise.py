"""The grid (网格员上报/走访) and enterprise (企呼市应) channels (docs/channels.md): their records
become commands or dead letters with a reason; hostile spellings (full-width forms, separators,
Chinese numerals, GB18030) read as the plain ones; the credit code's check digit is checked;
the demo district sends enterprise requests to its 营商环境办公室 first."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.channels import (
    DeadLetter,
    Parsed,
    adapt,
    context_for,
    credit_code,
    read_one,
    read_path,
    read_stream,
)
from adapters.channels.columns import header_problem
from adapters.channels.grid import grid_code
from engine.config import load_config
from engine.deadlines import SHANGHAI

SAMPLES = Path(__file__).parent.parent / "data" / "intake_samples"
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
CTX = context_for(load_config(None), now=NOW)

GRID: dict[str, Any] = {
    "report_no": "GR1", "grid_worker_id": "gw017", "grid_id": "茶亭路社区第3网格",
    "received_at": "2026-03-02 09:30", "content": "独居老人家中水管漏水，请求帮助维修。",
    "address": "北海市海城区茶亭路社区", "on_behalf": "是", "resident_name": "梁崇玉",
    "resident_phone": "13977905555", "consent": "是", "consent_method": "签字",
    "consent_at": "2026-03-02 09:20",
}
ENTERPRISE: dict[str, Any] = {
    "request_no": "QH1", "received_at": "2026-03-02 09:00", "enterprise_name": "北海海韵食品有限公司",
    "credit_code": "91450500MA5K2B7C3C", "contact_name": "覃志刚", "contact_phone": "13977911111",
    "content": "新建冷库申请用电增容，报装两个月仍未接电。", "address": "北海市海城区工业园区",
}


def one(channel: str, record: dict[str, Any]) -> Any:
    return adapt(channel, read_one(record), CTX)


def parsed(channel: str, record: dict[str, Any]) -> Any:
    out = one(channel, record)
    assert isinstance(out, Parsed), out
    return out.command


def dead(channel: str, record: dict[str, Any]) -> DeadLetter:
    out = one(channel, record)
    assert isinstance(out, DeadLetter), out
    assert out.channel == channel and out.position == "http" and out.raw
    return out


# ---- grid -----------------------------------------------------------------------------------


def test_grid_record_on_behalf_keeps_resident_as_caller_and_consent_in_extra() -> None:
    cmd = parsed("grid", GRID)
    assert cmd.channel == "grid" and cmd.source_ref == "GR1"
    assert (cmd.caller_name, cmd.caller_phone) == ("梁崇玉", "13977905555")
    assert cmd.received_at == dt.datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
    assert cmd.extra == {
        "grid_worker_id": "gw017", "grid_id": "茶亭路社区第3网格", "kind": "上报", "on_behalf": True,
        "consent": True, "consent_method": "签字", "consent_at": "2026-03-02T09:20:00+08:00",
    }


def test_grid_worker_own_finding_needs_no_consent() -> None:
    record = {k: v for k, v in GRID.items() if not k.startswith(("resident", "consent"))}
    cmd = parsed("grid", {**record, "on_behalf": "否", "kind": "巡查上报"})
    assert cmd.caller_name == "" and cmd.caller_phone == ""
    assert "consent" not in cmd.extra and cmd.extra["kind"] == "上报"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"consent": None}, ["网格员代办", "未记录居民是否同意", "consent"]),
        ({"consent": ""}, ["网格员代办", "未记录居民是否同意"]),
        ({"consent": "否"}, ["网格员代办", "居民未同意"]),
        ({"consent": "不同意"}, ["居民未同意", "did not consent"]),
        ({"consent_method": ""}, ["同意方式", "consent_method"]),
        ({"consent_method": "微信"}, ["同意方式 应为 口头/书面/签字 (consent_method)"]),
        ({"consent_at": None}, ["同意时间", "consent_at"]),
        ({"consent_at": "上周"}, ["同意时间", "consent_at"]),
        ({"consent_at": "2026-03-02 11:00"}, ["同意时间晚于上报时间"]),
        ({"on_behalf": "否", "consent": None}, ["记录了居民姓名或电话", "未记录居民是否同意"]),
        ({"grid_id": ""}, ["网格编号", "grid_id"]),
        ({"grid_worker_id": None}, ["网格员编号", "grid_worker_id"]),
        ({"report_no": " "}, ["事件编号", "report_no"]),
        ({"kind": "开会"}, ["上报类型", "上报/走访"]),
        ({"received_at": "2026-03-02"}, ["上报时间", "received_at"]),
        ({"content": ""}, ["事项内容", "content"]),
    ],
)
def test_grid_records_that_cannot_become_cases_say_why(change: dict[str, Any], words: list[str]) -> None:
    letter = dead("grid", {**GRID, **change})
    for word in words:
        assert word in letter.reason
    # the dead letter keeps the record, with the resident's name and number masked
    assert "梁崇玉" not in letter.raw.decode() and "13977905555" not in letter.raw.decode()


@pytest.mark.parametrize(
    ("given", "method"),
    [("口头", "口头"), ("口头同意", "口头"), ("oral", "口头"), ("书面", "书面"), ("Written", "书面"),
     ("签字", "签字"), ("签名", "签字"), ("ｓｉｇｎｅｄ", "签字")],
)
def test_grid_consent_methods(given: str, method: str) -> None:
    assert parsed("grid", {**GRID, "consent_method": given}).extra["consent_method"] == method


@pytest.mark.parametrize("agreed", ["是", "同意", "已同意", "true", True, 1, "ＹＥＳ"])
def test_grid_consent_spellings(agreed: Any) -> None:
    assert parsed("grid", {**GRID, "consent": agreed}).extra["consent"] is True


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("茶亭路社区第三网格", "茶亭路社区第3网格"),
        ("茶亭路社区第３网格", "茶亭路社区第3网格"),
        ("茶亭路社区 第 3 网格", "茶亭路社区第3网格"),
        ("第十二网格", "第12网格"),
        ("hc-zj-07", "HC-ZJ-07"),
        ("ＨＣ－ＺＪ－０７", "HC-ZJ-07"),
    ],
)
def test_grid_numbers_in_any_spelling_are_one_code(given: str, code: str) -> None:
    assert grid_code(given) == code
    assert parsed("grid", {**GRID, "grid_id": given}).extra["grid_id"] == code


def test_grid_consent_may_be_noted_up_to_an_hour_after_the_report() -> None:
    assert parsed("grid", {**GRID, "consent_at": "2026-03-02 10:30"}).extra["consent"] is True


def test_grid_gb18030_csv_sample_with_chinese_headers_and_hostile_spellings() -> None:
    outcomes = [adapt("grid", raw, CTX) for raw in read_path(SAMPLES / "grid_gb18030.csv")]
    assert all(isinstance(o, Parsed) for o in outcomes), outcomes
    cmds = [o.command for o in outcomes if isinstance(o, Parsed)]
    assert [c.source_ref for c in cmds] == ["GR2021071600001", "GR2021071600002", "GR2021071600003"]
    # 第三网格, 第３网格 and 第 二 网格 as codes; 2021年7月16日9时30分 as a time
    assert [c.extra["grid_id"] for c in cmds] == ["茶亭路社区第3网格", "茶亭路社区第3网格", "珠海路社区第2网格"]
    assert cmds[0].received_at == dt.datetime(2021, 7, 16, 9, 30, tzinfo=SHANGHAI)
    assert [c.extra["kind"] for c in cmds] == ["上报", "走访", "走访"]
    assert [c.extra.get("consent_method") for c in cmds] == [None, "签字", "口头"]
    assert cmds[1].caller_name == "梁崇玉" and cmds[2].caller_phone == "0779-3035678"


def test_grid_csv_without_a_grid_column_is_refused_naming_it() -> None:
    problem = header_problem("grid", ["事件编号", "网格员编号", "上报时间", "事项内容"])
    assert problem is not None and "网格编号" in problem
    assert header_problem("grid", ["事件编号", "网格员", "所属网格", "走访时间", "反映内容"]) is None


# ---- enterprise -----------------------------------------------------------------------------


def test_enterprise_record_keeps_name_and_code_and_contact_as_caller() -> None:
    cmd = parsed("enterprise", ENTERPRISE)
    assert cmd.channel == "enterprise" and cmd.source_ref == "QH1"
    assert (cmd.caller_name, cmd.caller_phone) == ("覃志刚", "13977911111")
    assert cmd.extra == {"enterprise_name": "北海海韵食品有限公司", "credit_code": "91450500MA5K2B7C3C"}


@pytest.mark.parametrize(
    "given",
    [
        "91450500MA5K2B7C3C",
        "91450500ma5k2b7c3c",  # lowercase
        "９１４５０５００ＭＡ５Ｋ２Ｂ７Ｃ３Ｃ",  # full-width
        "9145 0500 MA5K 2B7C 3C",  # spaces
        "914505-00MA5K2B-7C3C",  # hyphens
        "91450500\u3000MA5K2B7C3C",  # an ideographic space
        " 91450500.MA5K2B7C3C ",
    ],
)
def test_credit_code_spellings_are_one_code(given: str) -> None:
    assert credit_code.validate(given) == "91450500MA5K2B7C3C"
    assert parsed("enterprise", {**ENTERPRISE, "credit_code": given}).extra["credit_code"] == "91450500MA5K2B7C3C"


def test_credit_codes_from_the_standard_and_other_registering_authorities() -> None:
    # python-stdnum's own example; Y (其他) and N (农业) as the registering authority
    for code in ("91110000600037341L", "Y1450500MJX123456L", "91450502198765432X"):
        assert credit_code.is_valid(code), code
    from stdnum.cn import uscc

    assert credit_code.is_valid("N2450500MA" + "1234567" + uscc.calc_check_digit("N2450500MA1234567"))


@pytest.mark.parametrize(
    ("given", "word"),
    [
        ("91450500MA5K2B7C3D", "校验位"),  # one character off: the check digit no longer fits
        ("91450500MA5K2B7C3", "18位"),
        ("91450500MA5K2B7C3CC", "18位"),
        ("91450500MA5K2B7I3C", "字符"),  # I is not in the alphabet
        ("9145A500MA5K2B7C3C", "字符"),  # the region is digits
        ("", "统一社会信用代码"),
    ],
)
def test_enterprise_with_a_wrong_credit_code_is_a_dead_letter(given: str, word: str) -> None:
    letter = dead("enterprise", {**ENTERPRISE, "credit_code": given})
    assert word in letter.reason and "credit" in letter.reason
    assert given.strip() not in letter.reason or not given.strip()  # reasons never quote values


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"enterprise_name": ""}, "企业名称"),
        ({"request_no": None}, "诉求编号"),
        ({"received_at": "上午"}, "提交时间"),
        ({"content": None}, "诉求内容"),
        ({"urgency": "很急吗"}, "紧急程度"),
    ],
)
def test_enterprise_records_that_cannot_become_cases_say_why(change: dict[str, Any], word: str) -> None:
    letter = dead("enterprise", {**ENTERPRISE, **change})
    assert word in letter.reason
    assert "覃志刚" not in letter.raw.decode() and "13977911111" not in letter.raw.decode()


def test_enterprise_samples_json_and_csv_read_with_their_hostile_spellings() -> None:
    cmds = [
        o.command
        for name in ("enterprise.jsonl", "enterprise.csv")
        for o in (adapt("enterprise", raw, CTX) for raw in read_path(SAMPLES / name))
        if isinstance(o, Parsed)
    ]
    assert [c.extra["credit_code"] for c in cmds] == [
        "91450500MA5K2B7C3C", "91450502198765432X", "92450502MA5L3Q8W1E",
        "Y1450500MJX123456L", "91450500MA5K2B7C3C",
    ]
    assert cmds[1].extra["enterprise_name"] == "北海BH智能装备有限公司"  # full-width letters
    assert cmds[1].category_hint == "labour" and cmds[4].urgent


def test_enterprise_gb18030_csv_with_chinese_headers() -> None:
    rows = "诉求编号,提交时间,企业名称,统一社会信用代码,诉求内容,联系人\r\n" \
        "QH9,2026年3月2日9时05分,北海海韵食品有限公司,９１４５０５００ ＭＡ５Ｋ ２Ｂ７Ｃ ３Ｃ,厂区门口路灯坏了,覃志刚\r\n"
    (out,) = [adapt("enterprise", raw, CTX) for raw in read_stream(io.BytesIO(rows.encode("gb18030")), "e.csv")]
    assert isinstance(out, Parsed), out
    assert out.command.extra["credit_code"] == "91450500MA5K2B7C3C"
    assert out.command.received_at == dt.datetime(2026, 3, 2, 9, 5, tzinfo=SHANGHAI)


def test_json_lines_of_both_channels_count_each_line_once() -> None:
    data = b"\n".join(
        [json.dumps(GRID, ensure_ascii=False).encode(), b"{oops", json.dumps({**GRID, "consent": "否"}).encode()]
    )
    outcomes = [adapt("grid", raw, CTX) for raw in read_stream(io.BytesIO(data), "g.jsonl")]
    assert [type(o).__name__ for o in outcomes] == ["Parsed", "DeadLetter", "DeadLetter"]
    assert [o.position for o in outcomes] == ["g.jsonl:1", "g.jsonl:2", "g.jsonl:3"]


# ---- through `sanshi ingest` into a database: identifiers never in clear ----------------------

KEY = base64.b64encode(bytes(range(32))).decode()  # a fixed 32-byte AES key for the test


def test_ingest_both_channels_with_the_cipher_key_keeps_no_caller_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from adapters.cli import main

    db_file = tmp_path / "sanshi.db"
    monkeypatch.setenv("SANSHI_DB", f"sqlite:///{db_file}")
    monkeypatch.setenv("SANSHI_CIPHER_KEY", KEY)
    monkeypatch.delenv("SANSHI_KAFKA", raising=False)
    monkeypatch.delenv("SANSHI_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "240")
    no_consent = tmp_path / "grid_no_consent.jsonl"
    no_consent.write_text(
        json.dumps({**GRID, "report_no": "GRX", "resident_name": "诸葛秀兰", "resident_phone": "13977907777",
                    "consent": None}, ensure_ascii=False) + "\n", encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(main, ["ingest", "grid", str(SAMPLES / "grid_gb18030.csv"), str(SAMPLES / "grid.jsonl"),
                                str(no_consent), "--format", "json"])
    assert done.exit_code == 1, done.output  # a record was dead-lettered
    report = json.loads(done.output[done.output.index("{"):])
    assert (report["accepted"], report["dead_lettered"]) == (5, 1)
    done = runner.invoke(main, ["ingest", "enterprise", str(SAMPLES / "enterprise.jsonl"),
                                str(SAMPLES / "enterprise.csv"), "--format", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output[done.output.index("{"):])["accepted"] == 5
    listed = runner.invoke(main, ["dlq", "list", "--channel", "grid", "--format", "json"])
    (letter,) = json.loads(listed.output[listed.output.index("{"):])["dead_letters"]
    assert letter["position"] == f"{no_consent}:1" and "未记录居民是否同意" in letter["reason"]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("sanshi.db*"))
    callers = ["梁崇玉", "13977905555", "庞秀英", "0779-3035678", "欧阳秀兰", "13877906666",
               "覃志刚", "13977911111", "司马晓东", "黄丽", "13977933333", "诸葛秀兰", "13977907777"]
    for secret in callers:
        for spelling in {secret.encode(), json.dumps(secret)[1:-1].encode(), secret.encode("gb18030")}:
            assert spelling not in stored, secret


@pytest.mark.parametrize("channel", ["grid", "enterprise"])
def test_the_resident_or_contact_of_both_channels_is_told_by_sms_unless_withheld(channel: str) -> None:
    from engine.notices import NotificationSettings, resident_withheld

    settings = NotificationSettings()
    told = resident_withheld(channel=channel, confidential=False, phone="13977905555", extra={}, settings=settings)
    assert told is None
    assert resident_withheld(channel="police", confidential=False, phone="13977905555", extra={},
                             settings=settings) is not None
    assert resident_withheld(channel=channel, confidential=True, phone="13977905555", extra={},
                             settings=settings) == "保密件，不向来电人发送短信"
