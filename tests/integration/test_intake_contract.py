"""One contract, two transports (docs/channels.md, docs/configuration.md): whether records go in-process or through Kafka
and ``sanshi worker``, every record is accounted for once and the event store ends the same.

Each test runs twice: ``in_process`` (no SANSHI_KAFKA) and ``kafka`` (a real broker from the
``kafka_bootstrap`` fixture; the worker runs in this process until it has consumed everything).
"Handed over" is ``accepted`` in-process and ``queued`` (acknowledged by Kafka) with Kafka;
duplicates of earlier runs are only known once the worker has applied them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import read_path, source_ref_for
from adapters.channels.court import normal_case_no
from adapters.transport import IngestReport, dead_letter_store, ingest, submit
from engine.domain import case_id_for
from engine.settings import Settings

SAMPLES = Path(__file__).parent.parent / "data" / "intake_samples"
SAMPLE_FILES = [
    ("hotline", "hotline.jsonl"),
    ("hotline", "hotline_gb18030.csv"),
    ("police", "police.jsonl"),
    ("app", "app.jsonl"),
    ("walkin", "walkin.csv"),
    ("grid", "grid_gb18030.csv"),
    ("grid", "grid.jsonl"),
    ("enterprise", "enterprise.jsonl"),
    ("enterprise", "enterprise.csv"),
    ("media", "media.jsonl"),
    ("court", "court.csv"),
    ("town", "town.jsonl"),
]
SAMPLE_CASES = {
    *(("hotline", f"BH20210716{n:06d}") for n in range(123, 128)),
    *(("hotline", f"BH20210717{n:06d}") for n in range(201, 204)),
    *(("police", f"JQ32030220210616000{n}") for n in (1, 2, 4, 5)),
    *(("app", f"6b0f7f0e-4c1e-4a3b-9a55-2f1c8a1d000{n}") for n in (1, 2, 3)),
    ("walkin", "jy-chatinglu/0001"),
    ("walkin", "jy-chatinglu/0002"),
    *(("grid", f"GR2021071600{n:03d}") for n in (1, 2, 3)),
    *(("grid", f"GR2021071700{n:03d}") for n in (11, 12)),
    *(("enterprise", f"QH2021071600{n:03d}") for n in (101, 102, 103)),
    *(("enterprise", f"QH2021071700{n:03d}") for n in (201, 202)),
    ("media", "https://www.bhrb.example.cn/2026-09/07/content_1001.html"),
    ("media", "http://tv.bh.example.cn/msztc/20260908.shtml"),
    ("media", "https://mp.example.cn/s/hcfb-0910"),
    # the case numbers as court.csv spells them: one hash for every spelling
    ("court", "(2026)桂0502民诉前调1234号"),
    ("court", "（2026）桂0502民诉前调1301号"),
    ("court", "〔2026〕桂0502民诉前调1322号"),
    ("town", "zhongjie/ZJ-2026-031"),
    ("town", "dongjie/DJ-2026-017"),
    ("town", "xijie/XJ-2026-009"),
}
RECEIVED = "engine.domain:Case.Received"


@dataclass
class Transport:
    name: str
    runtime: Runtime
    settle: Callable[[], None]

    @property
    def handed(self) -> str:
        return "queued" if self.name == "kafka" else "accepted"

    def ingest(self, channel: str, *paths: Path) -> IngestReport:
        report = IngestReport(mode="kafka" if self.name == "kafka" else "embedded")
        seen: set[bytes] = set()
        for path in paths:
            ingest(self.runtime, channel, read_path(path), source=str(path), report=report, seen=seen)
        return report

    def received_ids(self) -> list[UUID]:
        """Every Case.Received in the log: a case received twice would show twice."""
        notes = self.runtime.app.recorder.select_notifications(0, 10**7, topics=(RECEIVED,))
        return [n.originator_id for n in notes]  # type: ignore[misc]


@pytest.fixture(params=["in_process", pytest.param("kafka", marks=pytest.mark.kafka)])
def transport(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Transport]:
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    kafka = None
    if request.param == "kafka":
        kafka = request.getfixturevalue("kafka_bootstrap")
        monkeypatch.setenv("SANSHI_KAFKA_PREFIX", f"c{uuid.uuid4().hex[:10]}.")
    runtime = bootstrap(Settings(db=db, kafka=kafka, config_path=None, cipher_key=None))

    def settle() -> None:
        if kafka is None:
            return
        from adapters.transport.kafka import KafkaSettings
        from adapters.transport.worker import Worker, WorkerOptions

        # A 12 s session leaves a loaded CI machine more room than 6 s did. A member whose
        # records wait while it fetches nothing joins again after 10 s (the worker's
        # StalledPartitions, UnclaimedIntake; 30 s in production), well within the 90 s.
        worker = Worker(
            runtime,
            KafkaSettings.from_env(kafka),
            WorkerOptions(
                clock_interval=0,
                poll_timeout_ms=200,
                session_timeout_ms=12000,
                stalled_rejoin_s=10.0,
                unclaimed_rejoin_s=10.0,
            ),
        )
        worker.run(idle_exit=0.3, max_seconds=90)

    yield Transport(request.param, runtime, settle)
    runtime.close()


def ids(cases: set[tuple[str, str]]) -> set[UUID]:
    # a police incident number is kept only as its keyed hash (the tests' runtimes have no
    # cipher key and no district secret: the development key)
    return {case_id_for(channel, source_ref_for(channel, ref)) for channel, ref in cases}


def test_samples_land_once_each(transport: Transport) -> None:
    totals: dict[str, int] = {}
    for channel, name in SAMPLE_FILES:
        report = transport.ingest(channel, SAMPLES / name)
        for key, value in report.counts.items():
            totals[key] = totals.get(key, 0) + value
    transport.settle()
    assert totals == {transport.handed: len(SAMPLE_CASES), "filtered": 2}
    received = transport.received_ids()
    assert len(received) == len(set(received)) == len(SAMPLE_CASES)
    assert set(received) == ids(SAMPLE_CASES)


def test_the_same_files_again_make_no_second_case(transport: Transport) -> None:
    for _ in range(2):
        for channel, name in SAMPLE_FILES:
            report = transport.ingest(channel, SAMPLES / name)
            assert report.records == sum(report.counts.values())
        transport.settle()
    received = transport.received_ids()
    assert len(received) == len(set(received)) == len(SAMPLE_CASES)
    if transport.name == "in_process":
        assert report.counts == {"duplicate": report.records}  # the last file: every record known


def test_repeats_inside_one_file_are_duplicates(transport: Transport, tmp_path: Path) -> None:
    line = (SAMPLES / "app.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "app.jsonl"
    path.write_text("\n".join([line, line, line]) + "\n", encoding="utf-8")
    report = transport.ingest("app", path)
    assert report.counts == {transport.handed: 1, "duplicate": 2}
    transport.settle()
    assert transport.received_ids() == [case_id_for("app", "6b0f7f0e-4c1e-4a3b-9a55-2f1c8a1d0001")]


def test_unreadable_records_are_dead_letters_with_position_reason_and_bytes(
    transport: Transport, tmp_path: Path
) -> None:
    good = json.dumps(
        {"order_no": "OK1", "received_at": "2021-07-16 09:30", "content": "路灯坏了"}, ensure_ascii=False
    )
    bad = [
        b"this is not json",
        json.dumps({"order_no": "NOCONTENT", "received_at": "2021-07-16 09:30"}).encode(),
        json.dumps({"order_no": "BADTIME", "received_at": "someday", "content": "x"}).encode(),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([bad[0], good.encode(), bad[1], bad[2]]) + b"\n")
    report = transport.ingest("hotline", path)
    assert report.counts == {transport.handed: 1, "dead_lettered": 3}
    transport.settle()
    rows = {r["position"]: r for r in dead_letter_store(transport.runtime).list()}
    assert set(rows) == {f"{path}:1", f"{path}:3", f"{path}:4"}
    assert [rows[f"{path}:{n}"]["raw"] for n in (1, 3, 4)] == bad
    assert "JSON" in rows[f"{path}:1"]["reason"]
    assert "content" in rows[f"{path}:3"]["reason"]
    assert "received_at" in rows[f"{path}:4"]["reason"]
    assert all(r["channel"] == "hotline" for r in rows.values())
    assert transport.received_ids() == [case_id_for("hotline", "OK1")]


def test_submit_one_record_as_http_does(transport: Transport) -> None:
    record: dict[str, Any] = {
        "submission_id": "sub-http-1",
        "phone": "13877900001",
        "content": "门窗纱网破了",
        "concern": "anguish",
    }
    first = submit(transport.runtime, "app", record)
    again = submit(transport.runtime, "app", record)
    expected = case_id_for("app", "sub-http-1")
    assert first.status == transport.handed and first.case_id == expected
    if transport.name == "in_process":
        assert again.status == "duplicate" and again.case_id == expected
        assert first.case_status is not None
    else:
        assert again.status == "queued"  # the worker finds it is a duplicate
    theft = submit(
        transport.runtime,
        "police",
        {"incident_no": "JQ9", "received_at": "2021-06-16 10:05", "summary": "家中被盗", "police_category": "刑事"},
    )
    assert theft.status == "filtered" and theft.case_id is None
    broken = submit(transport.runtime, "app", b'{"submission_id": "sub-http-2", "content": ')
    assert broken.status == "dead_lettered" and "JSON" in broken.reason
    transport.settle()
    assert transport.received_ids() == [expected]
    (letter,) = dead_letter_store(transport.runtime).list()
    assert letter["position"] == "http" and letter["source"] == "http"
    assert letter["raw"] == b'{"submission_id": "sub-http-2", "content": '
    case = transport.runtime.app.get_case(expected)
    assert case.urgent and case.concern == "anguish"


def test_every_record_is_counted_once(transport: Transport, tmp_path: Path) -> None:
    lines = [
        json.dumps({"incident_no": f"JQ{i}", "received_at": "2021-06-16 08:00", "caller_phone": "15150001234",
                    "caller_name": "孔祥东", "summary": f"邻里纠纷第{i}起", "police_category": cat},
                   ensure_ascii=False)
        for i, cat in enumerate(["纠纷", "刑事", "求助", "交通", "咨询", "纠纷"])
    ]
    lines += ["{oops", lines[0], lines[1]]
    path = tmp_path / "police.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = transport.ingest("police", path)
    assert report.records == 9
    assert report.counts == {transport.handed: 4, "filtered": 3, "dead_lettered": 1, "duplicate": 1}
    transport.settle()
    assert len(transport.received_ids()) == 4
    assert dead_letter_store(transport.runtime).count() == 1


# ---- each channel's own records: once each, and its own dead letters ------------------------
# channel → a good record, and bad records with a word their dead letter's reason must hold.
CHANNEL_RECORDS: dict[str, tuple[dict[str, Any], list[tuple[dict[str, Any], str]]]] = {
    "grid": (
        {"report_no": "GRC1", "grid_worker_id": "gw017", "grid_id": "茶亭路社区第三网格",
         "received_at": "2021-07-16 10:40", "content": "独居老人家中水管漏水，请求帮助维修。",
         "on_behalf": "是", "resident_name": "梁崇玉", "resident_phone": "13977905555",
         "consent": "是", "consent_method": "签字", "consent_at": "2021-07-16 10:35"},
        [
            ({"report_no": "GRC2", "grid_worker_id": "gw017", "grid_id": "3", "received_at": "2021-07-16 11:00",
              "content": "楼道灯坏了", "on_behalf": "是", "resident_name": "庞秀英",
              "resident_phone": "13977906666"}, "未记录居民是否同意"),
            ({"report_no": "GRC3", "grid_worker_id": "gw017", "grid_id": "3", "received_at": "2021-07-16 11:00",
              "content": "楼道灯坏了", "on_behalf": "是", "resident_name": "庞秀英",
              "resident_phone": "13977906666", "consent": "否"}, "居民未同意"),
        ],
    ),
    "enterprise": (
        {"request_no": "QHC1", "received_at": "2021-07-16 09:00", "enterprise_name": "北海海韵食品有限公司",
         "credit_code": "９１４５０５００ ＭＡ５Ｋ ２Ｂ７Ｃ ３Ｃ", "contact_name": "覃志刚",
         "contact_phone": "13977911111", "content": "冷库申请用电增容两个月未接电。"},
        [
            ({"request_no": "QHC2", "received_at": "2021-07-16 09:00", "enterprise_name": "北海海韵食品有限公司",
              "credit_code": "91450500MA5K2B7C3D", "contact_name": "覃志刚",
              "contact_phone": "13977911111", "content": "冷库申请用电增容两个月未接电。"}, "校验位"),
            ({"request_no": "QHC3", "received_at": "2021-07-16 09:00", "enterprise_name": "",
              "credit_code": "91450500MA5K2B7C3C", "contact_name": "覃志刚",
              "contact_phone": "13977911111", "content": "冷库申请用电增容两个月未接电。"}, "企业名称"),
        ],
    ),
}


# ---- the channels 媒体监督, 诉前调解, 镇呼市应 -----------------------------------------------

# channel → (a good record, [(a bad record, a word its reason must hold)])
NEW_CHANNEL_RECORDS: dict[str, tuple[dict[str, Any], list[tuple[Any, str]]]] = {
    "media": (
        {"outlet": "北海日报", "title": "路灯不亮", "url": "https://news.example.cn/1",
         "published_at": "2026-09-07 08:00", "passage": "茶亭路路灯坏了一个月"},
        [
            ({"outlet": "北海日报", "title": "路灯不亮", "url": "ftp://news.example.cn/1",
              "published_at": "2026-09-07 08:00", "passage": "路灯"}, "url"),
            ({"outlet": "北海日报", "title": "路灯不亮", "url": "https://news.example.cn/2",
              "passage": "路灯"}, "published_at"),
        ],
    ),
    "court": (
        {"case_no": "（2026）桂0502民诉前调7001号", "received_at": "2026-09-07 10:00",
         "dispute_type": "相邻关系纠纷", "summary": "楼上漏水", "address": "茶亭路26号"},
        [
            ({"case_no": "桂0502第7002号", "received_at": "2026-09-07 10:00",
              "dispute_type": "相邻关系纠纷", "summary": "楼上漏水"}, "案号"),
            ({"case_no": "（2026）桂0502民诉前调7003号", "received_at": "2026-09-07 10:00",
              "summary": "楼上漏水"}, "dispute_type"),
        ],
    ),
    "town": (
        {"request_no": "T1", "street": "zhongjie", "received_at": "2026-09-07 09:00",
         "content": "珠海路积水，请求住建局改造管网"},
        [
            ({"request_no": "T2", "street": "chatinglu", "received_at": "2026-09-07 09:00",
              "content": "社区不是街道"}, "街道"),
            ({"request_no": "T3", "street": "月球街道", "received_at": "2026-09-07 09:00",
              "content": "不存在的街道"}, "街道"),
        ],
    ),
}


@pytest.mark.parametrize("channel", list(CHANNEL_RECORDS))
def test_a_channels_records_land_once_and_its_bad_ones_are_dead_letters_with_reasons(
    transport: Transport, tmp_path: Path, channel: str
) -> None:
    good, bad = CHANNEL_RECORDS[channel]
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in [good, good, *(b for b, _ in bad)]]
    path = tmp_path / f"{channel}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    first = transport.ingest(channel, path)
    assert first.counts == {transport.handed: 1, "duplicate": 1, "dead_lettered": len(bad)}
    transport.settle()
    again = transport.ingest(channel, path)  # the whole file again: nothing new
    assert again.records == len(lines) == sum(again.counts.values())
    if transport.name == "in_process":
        assert again.counts == {"duplicate": 2, "dead_lettered": len(bad)}
    transport.settle()
    ref = next(str(v) for k, v in good.items() if k in ("report_no", "request_no"))
    assert transport.received_ids() == [case_id_for(channel, ref)]
    rows = {r["position"]: r for r in dead_letter_store(transport.runtime).list()}
    assert set(rows) == {f"{path}:{n}" for n in range(3, 3 + len(bad))}
    for n, (_record, word) in enumerate(bad, start=3):
        letter = rows[f"{path}:{n}"]
        assert letter["channel"] == channel and word in letter["reason"]
        # the bytes are kept, the caller's name and number in them masked
        assert letter["raw"].startswith(b"{") and len(letter["raw"]) > 50
        for secret in ("庞秀英", "13977906666", "覃志刚", "13977911111"):
            assert secret.encode() not in letter["raw"]


@pytest.mark.parametrize("channel", sorted(NEW_CHANNEL_RECORDS))
def test_new_channels_dead_letters_have_position_reason_and_bytes(
    transport: Transport, tmp_path: Path, channel: str
) -> None:
    good, bad = NEW_CHANNEL_RECORDS[channel]
    lines = [json.dumps(good, ensure_ascii=False).encode()]
    lines += [json.dumps(record, ensure_ascii=False).encode() for record, _ in bad]
    lines.append(b"{not json")
    path = tmp_path / f"{channel}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = transport.ingest(channel, path)
    assert report.counts == {transport.handed: 1, "dead_lettered": len(bad) + 1}
    again = transport.ingest(channel, path)  # the same file again: no second case, no second letter
    transport.settle()
    if transport.name == "in_process":
        assert again.counts == {"duplicate": 1, "dead_lettered": len(bad) + 1}
    rows = {r["position"]: r for r in dead_letter_store(transport.runtime).list()}
    assert set(rows) == {f"{path}:{n}" for n in range(2, len(bad) + 3)}
    for n, (_, word) in enumerate(bad, start=2):
        row = rows[f"{path}:{n}"]
        assert word in row["reason"] and row["channel"] == channel
        if channel != "court":  # a court record's bytes are kept with the case number hashed
            assert row["raw"] == lines[n - 1]
    assert "JSON" in rows[f"{path}:{len(bad) + 2}"]["reason"]
    assert rows[f"{path}:{len(bad) + 2}"]["raw"] == b"{not json"
    ref = {"media": good.get("url"), "court": good.get("case_no"), "town": f"zhongjie/{good.get('request_no')}"}
    assert transport.received_ids() == [case_id_for(channel, source_ref_for(channel, str(ref[channel])))]


def test_court_case_numbers_are_never_stored(transport: Transport, tmp_path: Path) -> None:
    """The raw bytes of the database (log, views, dead letters): no court case number in any
    spelling, whether it came as the record's number, in its text, or in a dead letter. The
    applicant, kept as a hotline caller is (no cipher key here), is the scan's control."""
    numbers = ["（2026）桂0502民诉前调8001号", "(2026)桂0502民诉前调8002号", "〔2026〕桂0502民诉前调8003号"]
    records = [
        {"case_no": numbers[0], "received_at": "2026-09-07 10:00", "dispute_type": "邻里纠纷",
         "summary": f"本案（{numbers[0][1:]}）系楼上漏水，另见 {numbers[1]}", "applicant_name": "黄丽华",
         "applicant_phone": "13977912001", "address": "茶亭路26号"},
        {"case_no": numbers[1].replace("(", "( ").replace("民", " 民 "), "received_at": "2026-09-07 11:00",
         "dispute_type": "借贷纠纷", "summary": "借款未还", "身份证号": "450502199001011234"},
        {"case_no": numbers[2], "received_at": "下周三", "dispute_type": "邻里纠纷",  # a dead letter
         "summary": f"见{numbers[2]}"},
    ]
    path = tmp_path / "court.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    report = transport.ingest("court", path)
    assert report.counts == {transport.handed: 2, "dead_lettered": 1}
    transport.settle()
    assert len(transport.received_ids()) == 2
    case = transport.runtime.app.get_case(case_id_for("court", source_ref_for("court", numbers[0])))
    assert case.assigned_unit == "zhongjie-sfs"  # 诉前调解 → the street's judicial office
    assert case.source_ref.startswith("ah-h") and case.caller_name == "黄丽华"
    stored = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("sanshi.db*")))
    assert case.source_ref.encode() in stored and "黄丽华".encode() in stored  # the scan sees
    for number in numbers:
        serial = number[number.index("诉前调") :]  # 诉前调8001号: no other text holds it
        for spelled in (number, normal_case_no(number), serial, serial.rstrip("号")):
            for encoded in (spelled.encode(), json.dumps(spelled)[1:-1].encode(), spelled.encode("gb18030")):
                assert encoded not in stored, spelled
    assert b"450502199001011234" not in stored
