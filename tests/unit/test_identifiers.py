"""Identifiers in every spelling are masked before a police record is kept (issue 14, finding
3), ordinary complaint text stays readable, ``police_category`` must be an item of the list,
and the incident number is kept only as a keyed hash. Each spelling here was stored verbatim
before."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from adapters.bootstrap import bootstrap
from adapters.channels import (
    DeadLetter,
    Filtered,
    Parsed,
    adapt,
    context_for,
    read_one,
    read_path,
)
from adapters.channels.police import incident_ref
from adapters.channels.privacy import mask_text
from adapters.transport import dead_letter_store, ingest
from adapters.transport.dead_letters import to_message
from engine.config import load_config
from engine.domain import case_id_for
from engine.identifiers import CITIZEN_KINDS, Kind, find, redact
from engine.routing.keyword import KeywordRouter
from engine.settings import DEV_DISTRICT_SECRET, Settings

ID = "450502199001011234"  # a plausible birth date, check digit not valid
ID_VALID = "11010519491231002X"  # checksum-valid

POLICE = {
    "incident_no": "JQ450502202612010007",
    "received_at": "2026-12-01 09:30:00",
    "caller_phone": "13977905555",
    "caller_name": "欧阳娜娜",
    "location": "海城区茶亭路8栋2单元301",
    "summary": "邻里纠纷",
    "police_category": "纠纷",
}


def police(summary: str, **fields: str) -> Parsed:
    out = adapt("police", read_one({**POLICE, "summary": summary, **fields}))
    assert isinstance(out, Parsed), out
    return out


def digits_of(text: str) -> str:
    """Every digit in ``text`` in any spelling, separators dropped: what 'in clear' means."""
    from engine.identifiers import normalise

    return re.sub(r"[^0-9X]", "", normalise(text).text)


@pytest.mark.parametrize(
    "spelled",
    [
        "４５０５０２１９９００１０１１２３４",  # full-width
        "四五〇五〇二一九九〇〇一〇一一二三四",  # Chinese numerals
        "肆伍零伍零贰壹玖玖零零壹零壹壹贰叁肆",  # 大写
        "450502 1990 0101 1234",  # 6-4-4-4
        "450502-1990-0101-1234",
        "450502.19900101.1234",
        "4505 0219 9001 0112 34",
        "450502·19900101·1234",
        "11010519491231002x",  # lower-case check letter
        "１１０１０５１９４９１２３１００２Ｘ",
        "450502900101123",  # 15 digits (pre-1999)
    ],
)
def test_an_id_in_any_spelling_loses_its_region_and_birth_date(spelled: str) -> None:
    cmd = police(f"当事人身份证号{spelled}，称与邻居发生纠纷").command
    core = digits_of(spelled)[:-4]
    assert core not in digits_of(cmd.content), cmd.content
    assert cmd.content.startswith("当事人身份证号*") and cmd.content.endswith("，称与邻居发生纠纷")


@pytest.mark.parametrize(
    ("spelled", "kept"),
    [
        ("苏C·12345", "苏C"),
        ("桂E12345", "桂E"),
        ("苏CD12345", "苏C"),  # new energy, 8 characters
        ("粤B12345F", "粤B"),
        ("桂a 12345", "桂a"),  # lower case, a space
        ("京A-12345", "京A"),
        ("沪B•D1234A", "沪B"),
        ("桂A1234警", "桂A"),
        ("桂A1234学", "桂A"),
        ("粤Z1234港", "粤Z"),
        ("桂A1234挂", "桂A"),
        ("沪A1234领", "沪A"),
        ("使014578", "使"),
        ("VA12345", "V"),  # 军车
        ("KA·12345", "K"),
        ("WJ桂12345", "W"),  # 武警, since 2012
        ("WJ京1234消", "W"),
        ("WJ01-12345", "W"),  # 武警, before
    ],
)
def test_plates_of_every_kind_lose_their_serial(spelled: str, kept: str) -> None:
    cmd = police(f"一辆车牌{spelled}的小车堵住消防通道").command
    serial = re.sub(r"[^0-9A-Z]", "", spelled.upper()[len(kept):])
    masked = cmd.content
    assert serial[:4] not in re.sub(r"[^0-9A-Z]", "", masked.upper()), masked
    assert f"车牌{kept}" in masked and masked.endswith("的小车堵住消防通道")


@pytest.mark.parametrize("spelled", ["警号：012345", "警号:012345", "警号 012345", "警号012345", "警号为０１２３４５"])
def test_badge_numbers_with_any_separator(spelled: str) -> None:
    cmd = police(f"出警民警{spelled}已到场").command
    assert "012345" not in digits_of(cmd.content) and cmd.content.startswith("出警民警警号")


@pytest.mark.parametrize(
    "spelled",
    ["6222021234567890128", "6222 0212 3456 7890 128", "6222-0212-3456-7890-128", "４５１２３４５６７８９０１２３４"],
)
def test_bank_cards_passing_luhn_in_any_grouping(spelled: str) -> None:
    cmd = police(f"被骗转账到对方卡{spelled}共三次").command
    core = digits_of(spelled)[:-4]
    assert core not in digits_of(cmd.content), cmd.content


@pytest.mark.parametrize("spelled", ["E12345678", "G23456789", "EA1234567", "护照号P12345678"])
def test_passports(spelled: str) -> None:
    cmd = police(f"外籍人员护照{spelled}丢失求助").command
    assert digits_of(spelled)[:6] not in digits_of(cmd.content), cmd.content


@pytest.mark.parametrize(
    "spelled",
    ["+86 139 7790 1234", "0086-13977901234", "139-7790-1234", "幺三九七七九零幺二三四", "0771-3201234", "(0771)3201234"],
)
def test_phones(spelled: str) -> None:
    cmd = police(f"对方电话{spelled}一直打不通").command
    assert digits_of(spelled)[-8:-4] + digits_of(spelled)[-4:] not in digits_of(cmd.content)


@pytest.mark.parametrize(
    "text",
    [
        "我住海城区茶亭路8栋2单元301，楼上漏水",
        "公司欠薪12000元，已经三个月",
        "工单HC20261201002444还没有回复",
        "2026-12-01晚上和2026年12月1日上午都很吵，2026.12.1也是",
        "价格23456.78元，预付卡余额3500元",
        "拨打12345热线三次",
        "G2401次列车延误",
    ],
)
def test_ordinary_complaint_text_stays_readable(text: str) -> None:
    assert redact(text) == text
    assert mask_text(text) == text


def test_the_citizen_channels_drop_ids_cards_and_passports_but_keep_plates_and_phones() -> None:
    text = f"我身份证{ID}，卡号6222021234567890128，护照E12345678，车牌桂A12345占道，物业电话0771-3201234"
    out = redact(text, CITIZEN_KINDS)
    assert ID[:14] not in out and "622202123456" not in out and "12345678" not in out
    assert "桂A12345" in out and "0771-3201234" in out
    record = {"order_no": "HC20261201002444", "received_at": "2026-12-01 09:30", "content": text,
              "address": f"茶亭路{ID_VALID}", "证件号": ID}
    cmd = adapt("hotline", read_one(record))
    assert isinstance(cmd, Parsed)
    stored = cmd.command.model_dump_json()
    assert ID[:14] not in stored and ID_VALID[:14] not in stored and "622202123456" not in stored
    assert cmd.command.source_ref == "HC20261201002444" and "桂A12345" in stored


def test_find_names_the_kind() -> None:
    kinds = [m.kind for m in find(f"身份证{ID} 电话13977901234 车牌苏C·12345 警号：012345")]
    assert kinds == [Kind.ID_CARD, Kind.PHONE, Kind.PLATE, Kind.BADGE]


# ---- police_category ------------------------------------------------------------------------


@pytest.mark.parametrize("category", [f"{ID}纠纷", "刑事纠纷", "纠纷 ", "抢劫纠纷"])
def test_a_category_that_only_ends_in_dispute_stays_with_the_police(category: str) -> None:
    out = adapt("police", read_one({**POLICE, "police_category": category}))
    if category.strip() == "纠纷":
        assert isinstance(out, Parsed) and out.command.extra["police_category"] == "纠纷"
        return
    assert isinstance(out, Filtered), out
    assert ID not in out.reason and "其他" in out.reason


@pytest.mark.parametrize("category", ["纠纷", "求助", "咨询", "邻里纠纷", "物业纠纷", "ｊ纠纷"[1:], " 劳资纠纷 "])
def test_categories_of_the_list_pass(category: str) -> None:
    assert isinstance(adapt("police", read_one({**POLICE, "police_category": category})), Parsed)


def test_a_district_configures_the_categories_it_takes_from_the_police() -> None:
    config = load_config(None).model_copy(update={"police_categories": ["邻里纠纷", "求助"]})
    ctx = context_for(config)
    assert isinstance(adapt("police", read_one({**POLICE, "police_category": "邻里纠纷"}), ctx), Parsed)
    assert isinstance(adapt("police", read_one({**POLICE, "police_category": "求助 "}), ctx), Parsed)
    # on the built-in list, but not on this district's
    assert isinstance(adapt("police", read_one({**POLICE, "police_category": "物业纠纷"}), ctx), Filtered)
    assert isinstance(adapt("police", read_one({**POLICE, "police_category": "物业纠纷"})), Parsed)


# ---- incident_no ---------------------------------------------------------------------------


def test_a_record_whose_incident_number_is_not_text_is_a_dead_letter_not_a_crash() -> None:
    # found by the whole-path fuzzer: a lone surrogate from a JSON escape in incident_no
    record = {**POLICE, "incident_no": "灯\udfff坏", "received_at": True}
    out = adapt("police", read_one(json.dumps(record).encode()))
    assert isinstance(out, DeadLetter), out


def test_the_incident_number_is_kept_only_as_a_keyed_hash() -> None:
    cmd = police("邻里纠纷").command
    assert cmd.source_ref == incident_ref(POLICE["incident_no"], DEV_DISTRICT_SECRET.encode())
    assert "JQ450502202612010007" not in cmd.model_dump_json()
    assert "450502202612010007" not in digits_of(cmd.model_dump_json())
    # another district secret, another hash: the number cannot be tried against case ids
    keyed = Settings.from_env({"SANSHI_DISTRICT_SECRET": "haicheng-2026"})
    assert incident_ref(POLICE["incident_no"], keyed.district_key) != cmd.source_ref
    # a cipher key alone derives one (not the cipher key itself, not the dev default)
    ciphered = Settings.from_env({"SANSHI_CIPHER_KEY": "k" * 32})
    assert ciphered.district_key not in (b"k" * 32, DEV_DISTRICT_SECRET.encode())
    assert Settings.from_env({}).district_key == DEV_DISTRICT_SECRET.encode()


def _runtime(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"SANSHI_DB": f"sqlite:///{tmp_path / 'sanshi.db'}", **env})
    config = load_config(None)
    return bootstrap(settings, config, router=KeywordRouter(config))


def _database_bytes(tmp_path: Path) -> bytes:
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("sanshi.db*"))
    con = sqlite3.connect(tmp_path / "sanshi.db")
    try:  # the rows too (a value may straddle a page boundary in the file)
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            for row in con.execute(f'SELECT * FROM "{name}"'):
                blob += b"\n".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    finally:
        con.close()
    return blob


def test_a_resent_police_record_lands_once_and_its_number_is_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lines = [
        {**POLICE, "summary": f"报警人称邻居吵闹，身份证{ID}"},
        {**POLICE, "summary": f"报警人称邻居吵闹，身份证{ID}"},  # the same record re-sent
        {**POLICE, "incident_no": "JQ450502202612010008", "received_at": "明天", "summary": f"卡{ID}"},
    ]
    path = tmp_path / "police.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + "\n", encoding="utf-8")
    runtime = _runtime(tmp_path, SANSHI_DISTRICT_SECRET="haicheng-2026")
    try:
        report = ingest(runtime, "police", read_path(path))
        again = ingest(runtime, "police", read_path(path))
        assert report.counts["accepted"] == 1 and report.counts["dead_lettered"] == 1
        assert again.counts["duplicate"] == 2 and again.counts["accepted"] == 0
        ref = incident_ref(POLICE["incident_no"], b"haicheng-2026")
        case = runtime.app.get_case(case_id_for("police", ref))
        assert case.source_ref == ref
        (letter,) = dead_letter_store(runtime).list()
        assert incident_ref("JQ450502202612010008", b"haicheng-2026").encode() in bytes(letter["raw"])
    finally:
        runtime.close()
    stored = _database_bytes(tmp_path)
    for secret in ("JQ450502202612010007", "JQ450502202612010008", ID[:14], "13977905555", "欧阳娜娜"):
        assert secret.encode() not in stored, secret
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "JQ4505022026120100" not in logged and ID[:14] not in logged


def test_a_police_file_fed_to_the_hotline_channel_is_dead_lettered_redacted(tmp_path: Path) -> None:
    """The hotline adapter refuses it (no order_no): what it keeps of it must be masked too."""
    line = {**POLICE, "summary": f"报警人身份证{ID}，电话13977905555，卡号6222021234567890128"}
    path = tmp_path / "police.jsonl"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    runtime = _runtime(tmp_path)
    try:
        report = ingest(runtime, "hotline", read_path(path))
        assert report.counts["dead_lettered"] == 1
        (row,) = dead_letter_store(runtime).list()
        assert row["redacted"]
    finally:
        runtime.close()
    stored = _database_bytes(tmp_path)
    for secret in (ID[:14], "1397790", "622202123456", "JQ450502202612010007", "欧阳娜娜"):
        assert secret.encode() not in stored, secret


def test_the_dead_letter_store_and_topic_redact_what_they_are_given() -> None:
    """A letter made elsewhere (the worker's unreadable message, the engine's refusal) is
    masked by the store and by the DLQ message format themselves."""
    raw = f"not json {ID} 13977905555 桂A12345 警号：012345".encode()
    import hashlib

    letter = DeadLetter("hotline", "无法读取", "topic:0:1", raw, len(raw), hashlib.sha256(raw).hexdigest())
    message = to_message(letter)
    body = json.loads(message)
    import base64

    sent = base64.b64decode(body["raw_b64"]).decode()
    assert body["redacted"] is True and body["id"] == str(letter.id)
    for secret in (ID[:14], "1397790", "12345", "012345"):
        assert secret not in sent, sent
