"""In-process intake as an operator uses it: ``sanshi ingest``, ``sanshi dlq list``, and what
ends up in the database file (no raw police identifiers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.bootstrap import bootstrap
from adapters.channels import source_ref_for
from adapters.cli import main
from adapters.transport import dead_letter_store, submit
from engine.domain import case_id_for
from engine.settings import Settings

# Reads today's date: CI runs it again on moved clocks (tests/support/moved_clock.py).
pytestmark = pytest.mark.date_sensitive

SAMPLES = Path(__file__).parent.parent / "data" / "intake_samples"

# Raw police identifiers that must never be stored (names, numbers in several spellings).
POLICE_SECRETS = ["欧阳娜娜", "孔祥东", "15150001234", "13952001234", "320302198001011239", "0516-83801234"]
POLICE_LINES = [
    {
        "incident_no": "JQ1",
        "received_at": "2021-06-16 08:12",
        "caller_phone": "15150001234",
        "caller_name": "欧阳娜娜",
        "location": "徐州市鼓楼区丰财街道",
        "summary": "报警人欧阳娜娜称与物业争执，回电151 5000 1234，身份证320302198001011239",
        "police_category": "纠纷",
        "sub_category": "物业纠纷",
    },
    {
        "incident_no": "JQ2",
        "received_at": "2021-06-16 09:30",
        "caller_phone": "+86 139-5200-1234",
        "caller_name": "孔祥东",
        "summary": "求助：孔祥东称老人走失，座机0516-83801234",
        "police_category": "求助",
    },
    {  # a theft: stays with the police, never stored
        "incident_no": "JQ3",
        "received_at": "2021-06-16 10:05",
        "caller_phone": "13952001234",
        "caller_name": "孔祥东",
        "summary": "孔祥东家中被盗",
        "police_category": "刑事",
    },
    {  # unreadable: a dead letter, stored desensitised
        "incident_no": "JQ4",
        "received_at": "昨天夜里",
        "caller_phone": "15150001234",
        "caller_name": "欧阳娜娜",
        "summary": "欧阳娜娜称 320302198001011239",
        "police_category": "纠纷",
    },
]


def spellings(secret: str) -> list[bytes]:
    """How a string can sit in a database file: UTF-8, JSON \\u escapes, GB18030."""
    escaped = json.dumps(secret)[1:-1].encode()
    return sorted({secret.encode("utf-8"), escaped, secret.encode("gb18030")})


def database_bytes(db_file: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db_file.parent.glob(db_file.name + "*")))


@pytest.fixture
def db_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db_file = tmp_path / "sanshi.db"
    monkeypatch.setenv("SANSHI_DB", f"sqlite:///{db_file}")
    monkeypatch.delenv("SANSHI_KAFKA", raising=False)
    monkeypatch.delenv("SANSHI_CIPHER_KEY", raising=False)  # encrypted state would hide leaks
    yield db_file


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_ingest_prints_chinese_counts_and_json(db_env: Path) -> None:
    code, out = cli("ingest", "police", str(SAMPLES / "police.jsonl"))
    assert code == 0
    assert "已受理" in out and "留公安" in out and "死信" in out
    code, out = cli("ingest", "police", str(SAMPLES / "police.jsonl"), "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["mode"] == "embedded"
    assert (report["accepted"], report["duplicate"], report["filtered"], report["dead_lettered"]) == (0, 4, 2, 0)
    assert report["records"] == 6


def test_ingest_of_several_files_counts_each(db_env: Path) -> None:
    code, out = cli(
        "ingest", "hotline", str(SAMPLES / "hotline.jsonl"), str(SAMPLES / "hotline_gb18030.csv"), "--format", "json"
    )
    assert code == 0
    report = json.loads(out)
    assert report["accepted"] == 8
    assert report["sources"][str(SAMPLES / "hotline_gb18030.csv")]["accepted"] == 3


def test_ingest_cannot_run_without_a_file_or_with_an_unknown_channel(db_env: Path, tmp_path: Path) -> None:
    code, out = cli("ingest", "hotline", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "不存在" in out
    code, _ = cli("ingest", "fax", str(SAMPLES / "hotline.jsonl"))
    assert code == 2


def test_dead_letters_are_exit_one_and_listed_with_raw_bytes(
    db_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide enough that the table never wraps the positions, however long tmp_path is (a
    # pytest-xdist worker's is longer): whether they are listed is what is checked here.
    monkeypatch.setenv("COLUMNS", "240")
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"not json\n" + "{\"order_no\": \"X\", \"content\": \"路灯\"}".encode("gb18030") + b"\n")
    code, out = cli("ingest", "hotline", str(path))
    assert code == 1  # records were dead-lettered (adapters/cli/exits.py)
    assert f"{path}:1" in out and f"{path}:2" in out
    code, out = cli("dlq", "list", "--format", "json")
    assert code == 0
    listed = json.loads(out)
    assert listed["total"] == 2
    by_position = {d["position"]: d for d in listed["dead_letters"]}
    assert by_position[f"{path}:1"]["raw_text"] == "not json"
    assert "received_at" in by_position[f"{path}:2"]["reason"]
    assert by_position[f"{path}:2"]["raw_text"] == '{"order_no": "X", "content": "路灯"}'
    code, out = cli("dlq", "list", "--raw")
    assert code == 0 and "not json" in out and "hotline" in out


def test_no_raw_police_identifier_reaches_the_database_file(db_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "police.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in POLICE_LINES) + "\n", encoding="utf-8")
    code, out = cli("ingest", "police", str(path), "--format", "json")
    assert code == 1  # one record dead-lettered
    report = json.loads(out)
    assert (report["accepted"], report["filtered"], report["dead_lettered"]) == (2, 1, 1)
    # Through the HTTP path too, and a hotline record as the positive control: the scan
    # must be able to find a name and a number that are allowed to be there.
    runtime = bootstrap(Settings.from_env())
    try:
        assert submit(runtime, "police", {**POLICE_LINES[0], "incident_no": "JQ5"}).status == "accepted"
        assert submit(runtime, "police", {**POLICE_LINES[3], "incident_no": "JQ6"}).status == "dead_lettered"
        hotline = {"order_no": "H1", "received_at": "2021-07-16 09:30", "caller_name": "梁崇玉",
                   "caller_phone": "13977905555", "content": "路灯坏了"}
        assert submit(runtime, "hotline", hotline).status == "accepted"
        assert dead_letter_store(runtime).count() == 2
        case = runtime.app.get_case(case_id_for("police", source_ref_for("police", "JQ1")))
        assert case.caller_name == "欧阳某" and case.caller_phone == "*******1234"
    finally:
        runtime.close()
    stored = database_bytes(db_env)
    for allowed in ("梁崇玉", "13977905555"):
        assert any(s in stored for s in spellings(allowed)), f"scan cannot see {allowed}"
    for secret in POLICE_SECRETS:
        for spelled in spellings(secret):
            assert spelled not in stored, f"{secret} stored as {spelled!r}"


def test_without_a_reachable_broker_nothing_is_reported_as_queued(
    db_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SANSHI_KAFKA", f"127.0.0.1:{port}")
    monkeypatch.setenv("SANSHI_KAFKA_TIMEOUT_MS", "1500")
    runtime = bootstrap(Settings.from_env())
    try:
        outcome = submit(runtime, "app", {"submission_id": "s1", "content": "纱网破了"})
    finally:
        runtime.close()
    assert outcome.status == "failed" and "Kafka" in outcome.reason
    code, out = cli("ingest", "app", str(SAMPLES / "app.jsonl"), "--format", "json")
    assert code == 4  # not finished: nothing was handed over, run it again
    report = json.loads(out)
    assert report["failed"] == 3 and report["queued"] == 0
