"""媒体监督 (media), 诉前调解 (court) and 镇呼市应 (town): their records as docs/channels.md
describes them, what becomes a dead letter and why, what is never kept (a court case number in
any spelling), and where a court referral goes (the judicial office of its street, first)."""

from __future__ import annotations

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
    read_one,
    read_path,
    read_stream,
    source_ref_for,
)
from adapters.channels.columns import column_check
from adapters.channels.court import case_ref
from adapters.channels.reading import FileRefused
from adapters.cli.explain import Namer, _rule
from engine.config import SanshiConfig, load_config
from engine.routing.keyword import KeywordRouter
from engine.routing.rules import Locality, unit_by_channel_rules, unit_by_rules

SAMPLES = Path(__file__).parent.parent / "data" / "intake_samples"
CONFIG = load_config(None)
CTX = context_for(CONFIG)

MEDIA = {"outlet": "北海日报", "title": "路灯不亮", "url": "https://news.example.cn/a/1.html",
         "published_at": "2026-09-07 08:00", "passage": "茶亭路幸福里小区路灯坏了一个月"}
COURT = {"case_no": "（2026）桂0502民诉前调1234号", "received_at": "2026-09-07 10:00",
         "dispute_type": "相邻关系纠纷", "summary": "楼上漏水至楼下", "applicant_name": "黄丽华",
         "applicant_phone": "13977912001", "respondent_name": "陈国强", "respondent_phone": "13977912002",
         "address": "北海市海城区茶亭路26号"}
TOWN = {"request_no": "ZJ-1", "street": "zhongjie", "received_at": "2026-09-07 09:00",
        "content": "珠海路积水严重，请求住建局改造雨水管网"}


def one(channel: str, record: dict[str, Any] | bytes, ctx: Any = CTX) -> Any:
    return adapt(channel, read_one(record), ctx)


def parsed(channel: str, record: dict[str, Any]) -> Any:
    out = one(channel, record)
    assert isinstance(out, Parsed), out
    return out.command


# ---- media ---------------------------------------------------------------------------------


def test_media_sample_keeps_the_report_in_extra_and_has_no_caller() -> None:
    outcomes = [adapt("media", raw, CTX) for raw in read_path(SAMPLES / "media.jsonl")]
    cmds = [o.command for o in outcomes if isinstance(o, Parsed)]
    assert len(cmds) == len(outcomes) == 3
    first = cmds[0]
    assert first.channel == "media" and first.caller_name == "" and first.caller_phone == ""
    assert first.content.startswith("记者走访发现") and first.address.endswith("幸福里小区")
    assert first.extra == {
        "report_outlet": "北海日报",
        "report_title": "茶亭路一段路灯熄灭近月 居民夜行摸黑",
        "report_url": "https://www.bhrb.example.cn/2026-09/07/content_1001.html",
        "report_published_at": "2026-09-07T07:30:00+08:00",
    }
    # received_at: when the centre took the report in; without it, the publication time
    assert first.received_at.isoformat() == "2026-09-07T07:30:00+08:00"
    assert cmds[1].received_at.isoformat() == "2026-09-09T08:40:00+08:00"
    assert cmds[1].extra["report_published_at"] == "2026-09-08T19:00:00+08:00"
    assert cmds[2].urgent and not cmds[0].urgent


def test_media_the_same_report_is_the_same_case_however_its_address_is_cased() -> None:
    a = parsed("media", MEDIA)
    b = parsed("media", {**MEDIA, "url": "HTTPS://NEWS.Example.CN/a/1.html", "title": "别的标题"})
    c = parsed("media", {**MEDIA, "url": "https://news.example.cn/a/2.html"})
    assert a.source_ref == b.source_ref != c.source_ref
    assert a.source_ref == source_ref_for("media", MEDIA["url"])


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("ftp://news.example.cn/1", "http"),
        ("javascript:alert(1)", "http"),
        ("https://", "http"),
        ("news.example.cn/1", "http"),
        ("https://news.example.cn/a b", "空格"),
        ("http://[::1", "URL"),
        ("", "url"),
    ],
)
def test_media_url_must_be_http_or_https(url: str, word: str) -> None:
    out = one("media", {**MEDIA, "url": url})
    assert isinstance(out, DeadLetter) and word in out.reason


@pytest.mark.parametrize("missing", ["outlet", "title", "url", "published_at", "passage"])
def test_media_required_fields(missing: str) -> None:
    record = {k: v for k, v in MEDIA.items() if k != missing}
    out = one("media", record)
    assert isinstance(out, DeadLetter) and missing in out.reason


@pytest.mark.parametrize(("received", "ok"), [
    ("2000-01-01 00:00", False), ("2026-09-07 07:49", False), ("2026-09-07 07:51", True),
    ("2026-09-07 08:00", True), ("2026-09-08 09:00", True),
])
def test_media_taken_in_before_it_was_published_is_a_dead_letter(received: str, ok: bool) -> None:
    out = one("media", {**MEDIA, "received_at": received})
    if ok:
        assert not isinstance(out, DeadLetter), out
    else:
        assert isinstance(out, DeadLetter) and "收录时间早于发布时间" in out.reason


def test_media_csv_with_chinese_headers(tmp_path: Path) -> None:
    path = tmp_path / "media.csv"
    path.write_bytes(
        "媒体名称,报道标题,原文链接,发布时间,报道摘录,涉及地点\n"
        "北海晚报,井盖缺失,https://wb.example.cn/1,2026年9月7日 8:30,云南路18号井盖不见了,云南路18号\n"
        .encode("gb18030")
    )
    (out,) = [adapt("media", raw, CTX) for raw in read_path(path)]
    assert isinstance(out, Parsed) and out.command.extra["report_outlet"] == "北海晚报"
    with pytest.raises(FileRefused, match="原文链接"):
        list(read_path(_csv(tmp_path, "媒体名称,报道标题,发布时间,报道摘录\n"), columns=column_check("media")))


def _csv(folder: Path, text: str) -> Path:
    path = folder / "header.csv"
    path.write_text(text, encoding="utf-8")
    return path


# ---- court ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "（2026）桂0502民诉前调1234号",
        "(2026)桂0502民诉前调1234号",
        "〔2026〕桂0502民诉前调1234号",
        "[2026]桂0502民诉前调1234号",
        "（２０２６）桂０５０２民诉前调１２３４号",
        "（2026） 桂0502 民诉前调 1234 号",
        " (2026)桂0502民诉前调1234 ",
    ],
)
def test_court_case_number_spellings_are_one_hash(spelling: str) -> None:
    cmd = parsed("court", {**COURT, "case_no": spelling})
    assert cmd.source_ref == case_ref("（2026）桂0502民诉前调1234号")
    assert cmd.source_ref.startswith("ah-h") and len(cmd.source_ref) == 36
    assert "1234" not in cmd.model_dump_json()


def test_court_hash_depends_on_the_district_secret() -> None:
    ours = parsed("court", COURT).source_ref
    theirs = adapt("court", read_one(COURT), context_for(CONFIG, district_key=b"another district"))
    assert isinstance(theirs, Parsed) and theirs.command.source_ref != ours
    assert parsed("court", {**COURT, "case_no": "（2026）桂0502民诉前调1235号"}).source_ref != ours


@pytest.mark.parametrize(
    "number", ["1234", "桂0502民诉前调1234号", "（26）桂0502民诉前调1234号", "（2026）1234号", "（2026）桂0502民诉前调号"]
)
def test_court_a_number_that_is_not_a_case_number_is_a_dead_letter_not_quoted(number: str) -> None:
    out = one("court", {**COURT, "case_no": number})
    assert isinstance(out, DeadLetter) and "案号" in out.reason
    assert number not in out.reason
    if len(number) > 6:
        assert number.encode() not in out.raw


def test_court_parties_dispute_type_and_what_is_not_forwarded() -> None:
    cmd = parsed(
        "court",
        {**COURT, "summary": "本案（2026）桂0502民诉前调1234号，另案(2025)桂0502民初 88 号，身份证450502199001011234",
         "身份证号": "450502199001011234"},
    )
    # the applicant as the hotline keeps a caller; the respondent for the mediator
    assert (cmd.caller_name, cmd.caller_phone) == ("黄丽华", "13977912001")
    assert cmd.extra["respondent_name"] == "陈国强" and cmd.extra["respondent_phone"] == "13977912002"
    assert cmd.extra["dispute_type"] == "相邻关系纠纷" and cmd.category_hint == "dispute"
    assert cmd.extra["fields_not_forwarded"] == ["身份证号"]
    text = cmd.model_dump_json()
    for secret in ("1234号", "民初", "450502199001011234"):
        assert secret not in text
    assert case_ref("(2025)桂0502民初88号") in cmd.content


def test_court_dead_letter_keeps_the_record_with_the_number_hashed() -> None:
    body = json.dumps({**COURT, "received_at": "下周三"}, ensure_ascii=False).encode()
    out = one("court", body)
    assert isinstance(out, DeadLetter) and "received_at" in out.reason
    assert "民诉前调1234".encode() not in out.raw
    assert case_ref(COURT["case_no"]).encode() in out.raw
    # a court number fed to another channel is hashed in its dead letter too
    hotline = one("hotline", json.dumps({"order_no": "X", "content": f"见{COURT['case_no']}"}, ensure_ascii=False).encode())
    assert isinstance(hotline, DeadLetter) and "民诉前调1234".encode() not in hotline.raw


def test_court_sample_csv() -> None:
    outcomes = [adapt("court", raw, CTX) for raw in read_path(SAMPLES / "court.csv", columns=column_check("court"))]
    cmds = [o.command for o in outcomes if isinstance(o, Parsed)]
    assert len(cmds) == 3
    assert {c.source_ref for c in cmds} == {
        case_ref(n) for n in ("(2026)桂0502民诉前调1234号", "(2026)桂0502民诉前调1301号", "(2026)桂0502民诉前调1322号")
    }
    assert cmds[1].received_at.isoformat() == "2026-09-08T15:20:00+08:00"


# ---- town ----------------------------------------------------------------------------------


def test_town_requesting_street_by_id_or_name_and_the_department_asked() -> None:
    by_id = parsed("town", {**TOWN, "department": "zhujian"})
    by_name = parsed("town", {**TOWN, "street": "中街街道", "department": "区住房和城乡建设局"})
    assert by_id.source_ref == by_name.source_ref == "zhongjie/ZJ-1"
    assert by_id.extra == by_name.extra == {
        "requesting_unit": "zhongjie", "department_asked": "zhujian", "department_configured": True
    }
    other = parsed("town", {**TOWN, "department": "市海洋局"})
    assert other.extra["department_asked"] == "市海洋局" and not other.extra["department_configured"]
    assert "department_asked" not in parsed("town", TOWN).extra


@pytest.mark.parametrize("spelled", ["ＺＨＯＮＧＪＩＥ", "ZhongJie", " zhong jie ", "中街街道　"])
def test_town_a_street_id_in_the_spellings_town_systems_export_is_the_same_street(spelled: str) -> None:
    assert parsed("town", {**TOWN, "street": spelled}).extra["requesting_unit"] == "zhongjie"


@pytest.mark.parametrize("street", ["chatinglu", "zhongjie-sfs", "zhujian", "月球街道", "centre", ""])
def test_town_a_requesting_unit_that_is_not_a_configured_street_is_a_dead_letter(street: str) -> None:
    out = one("town", {**TOWN, "street": street})
    assert isinstance(out, DeadLetter) and ("街道" in out.reason or "street" in out.reason)


def test_town_without_a_district_nothing_can_be_confirmed() -> None:
    out = adapt("town", read_one(TOWN))
    assert isinstance(out, DeadLetter) and "街道" in out.reason


def test_town_carries_no_resident_identifiers() -> None:
    cmd = parsed(
        "town",
        {**TOWN, "content": "居民王女士（电话13977905555，身份证450502199001011234）家门口积水", "联系人电话": "13977906666",
         "caller_name": "王女士"},
    )
    assert cmd.caller_name == "" and cmd.caller_phone == ""
    text = cmd.model_dump_json()
    for secret in ("13977905555", "450502199001011234", "13977906666"):
        assert secret not in text


def test_town_sample() -> None:
    outcomes = [adapt("town", raw, CTX) for raw in read_path(SAMPLES / "town.jsonl")]
    assert [o.command.source_ref for o in outcomes if isinstance(o, Parsed)] == ["zhongjie/ZJ-2026-031", "dongjie/DJ-2026-017", "xijie/XJ-2026-009"]


def test_csv_headers_the_new_channels_require() -> None:
    for channel, header, missing in (
        ("court", "委派时间,纠纷类型,纠纷简介\n", "案号"),
        ("town", "请求编号,提出时间,请求事项\n", "请求单位"),
    ):
        data = (header + "x,y,z\n").encode()
        with pytest.raises(FileRefused, match=missing):
            list(read_stream(io.BytesIO(data), "h.csv", columns=column_check(channel)))


# ---- routing: court referrals to the street's judicial office ---------------------------------


def test_a_channel_rule_comes_first_and_names_its_channel() -> None:
    loc = Locality("chatinglu", "zhongjie", "茶亭路")
    unit, why = unit_by_channel_rules(CONFIG, "court", "housing", "漏水", loc)
    assert unit == "zhongjie-sfs" and why is not None and why["channel"] == "court"
    assert _rule(why, Namer(CONFIG)) == "第1条（渠道「诉前调解」，属地司法所）：中街司法所（zhongjie-sfs） 牵头"
    # not for another channel; and the ordinary rules skip it
    assert unit_by_channel_rules(CONFIG, "hotline", "housing", "漏水", loc) == (None, None)
    assert unit_by_rules(CONFIG, "housing", "漏水", loc)[0] == "zhujian"
    # no street known: no judicial office, nothing decided by the channel rule, and it says so
    unit, why = unit_by_channel_rules(CONFIG, "court", "dispute", "x", Locality(None, None, None))
    assert unit is None and why is not None and why["skipped"][0]["no_candidate"]
    skipped = _rule({"rule": 13, "to": "judicial_office", "keywords": [], "skipped": [],
                     "channel_skipped": why}, Namer(CONFIG))
    assert skipped == "第14条（属地司法所）；渠道规则未适用（第1条在此处无可派单位）"
    # the judicial office returned the case: skipped, the street's community by the category
    unit, why = unit_by_channel_rules(CONFIG, "court", "housing", "漏水", loc, frozenset({"zhongjie-sfs"}))
    assert unit is None and why is not None
    assert _rule({"channel_skipped": why}, Namer(CONFIG)) == "渠道规则未适用（中街司法所（zhongjie-sfs） 已退单）"


def test_keyword_router_sends_a_court_referral_to_the_judicial_office_whatever_its_category() -> None:
    from engine.routing.port import CaseFacts

    router = KeywordRouter(CONFIG)
    cmd = parsed("court", {**COURT, "summary": "物业公司拖欠电梯维修，业主拒交物业费", "address": "北海市海城区贵州路8号"})
    facts = CaseFacts(
        case_id=cmd.case_id, channel="court", content=cmd.content, address=cmd.address,
        category_hint="housing", urgent=False, concern="worry", received_at=cmd.received_at,
    )
    decision = router.decide(facts)
    assert decision.category == "housing" and decision.unit == "dongjie-sfs"
    assert decision.reason["unit"]["channel"] == "court"
    assert decision.reason["unit"]["departments"] == ["zhujian"]  # the category's unit, to call in
    hotline = router.decide(CaseFacts(**{**facts.__dict__, "channel": "hotline"}))
    assert hotline.unit == "zhujian"


def test_config_checks_the_channels_a_rule_names() -> None:
    raw = CONFIG.model_dump(mode="json")
    with pytest.raises(ValueError, match="fax"):
        SanshiConfig.model_validate({**raw, "routing": [{"channels": ["fax"], "to": "judicial_office"}]})
    with pytest.raises(ValueError, match="category"):
        SanshiConfig.model_validate({**raw, "routing": [{"to": "judicial_office"}]})


# ---- over HTTP: POST /api/intake/media and /api/intake/town ------------------------------------


def test_media_and_town_over_http() -> None:
    from tests.support.api import OPERATOR, api_client, auth

    with api_client() as (client, runtime):
        first = client.post("/api/intake/media", headers=auth(OPERATOR), json=MEDIA)
        assert first.status_code == 201, first.text
        again = client.post("/api/intake/media", headers=auth(OPERATOR), json={**MEDIA, "title": "又一次"})
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["case_id"] == first.json()["case_id"]
        case = runtime.app.get_case(first.json()["case_id"])
        assert case.channel == "media" and case.extra["report_outlet"] == "北海日报"
        bad = client.post("/api/intake/media", headers=auth(OPERATOR), json={**MEDIA, "url": "file:///etc/passwd"})
        assert bad.status_code == 422 and "原文链接" in bad.json()["message"]
        town = client.post("/api/intake/town", headers=auth(OPERATOR), json=TOWN)
        assert town.status_code == 201, town.text
        not_street = client.post("/api/intake/town", headers=auth(OPERATOR), json={**TOWN, "street": "chatinglu"})
        assert not_street.status_code == 422 and "街道" in not_street.json()["message"]
        assert client.post("/api/intake/court", headers=auth(OPERATOR), json=COURT).status_code in (404, 405)


def test_what_the_unit_given_the_case_sees_of_the_new_channels() -> None:
    from adapters.transport import submit
    from tests.support.api import api_client, auth

    with api_client() as (client, runtime):
        court = submit(runtime, "court", COURT)
        media = submit(runtime, "media", {**MEDIA, "address": "北海市海城区茶亭路幸福里小区"})
        assert court.unit == "zhongjie-sfs"  # 诉前调解 → the street's judicial office
        seen = client.get(f"/api/cases/{court.case_id}", headers=auth("demo-unit-zhongjie-sfs")).json()
        assert seen["extra"]["dispute_type"] == "相邻关系纠纷" and "respondent_name" not in seen["extra"]
        assert "13977912002" not in json.dumps(seen, ensure_ascii=False)  # the respondent's number
        assert "陈国强" not in json.dumps(seen, ensure_ascii=False)
        assert media.unit is not None
        shown = client.get(f"/api/cases/{media.case_id}", headers=auth(f"demo-unit-{media.unit}")).json()
        assert shown["extra"]["report_outlet"] == "北海日报"
        assert shown["extra"]["report_url"] == MEDIA["url"]


def test_sanshi_ingest_reads_the_three_samples_and_lists_dead_letters_without_the_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from adapters.cli import main

    monkeypatch.setenv("SANSHI_DB", f"sqlite:///{tmp_path / 'sanshi.db'}")
    monkeypatch.delenv("SANSHI_KAFKA", raising=False)
    monkeypatch.delenv("SANSHI_CIPHER_KEY", raising=False)
    runner = CliRunner()
    for channel, name in (("media", "media.jsonl"), ("court", "court.csv"), ("town", "town.jsonl")):
        result = runner.invoke(main, ["ingest", channel, str(SAMPLES / name), "--format", "json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output[result.output.index("{"):])
        assert (report["accepted"], report["dead_lettered"]) == (3, 0), channel
    bad = tmp_path / "court-bad.jsonl"
    bad.write_text(json.dumps({**COURT, "received_at": "下周三"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert runner.invoke(main, ["ingest", "court", str(bad)]).exit_code == 1  # a dead letter
    listed = runner.invoke(main, ["dlq", "list", "--format", "json"])
    letter = json.loads(listed.output[listed.output.index("{"):])["dead_letters"][0]
    assert letter["channel"] == "court" and "received_at" in letter["reason"]
    assert "1234" not in letter["raw_text"] and case_ref(COURT["case_no"]) in letter["raw_text"]


def test_media_report_address_is_kept_as_published_long_article_numbers_included() -> None:
    url = "https://www.bhrb.example.cn/2026-11/03/content_1796281447914492371.html"
    cmd = parsed("media", {**MEDIA, "url": url, "passage": "卡号6222021234567890128的事"})
    assert cmd.extra["report_url"] == url
    assert "6222021234567890128" not in cmd.content  # the passage is still masked
