"""Issue 14, finding 9: the real ``sanshi`` CLI on files and services a new user gets wrong.

Exit codes (adapters/cli/exits.py): 0 all taken, 1 records dead-lettered, 2 usage or a file
refused, 3 a service unreachable."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import zhconv

from tests.faults.support import CLI, REPO, cli_env

HEADER = "工单编号,来电时间,来电号码,来电人,诉求内容,诉求地址"
ROWS = [
    "HL-{n}1,2026-11-02 09:00,13800000000,张三,小区门口路灯坏了三天没人修,海城区茶亭路12号",
    "HL-{n}2,2026-11-02 09:30,13900000000,李四,楼上邻居装修噪音太大晚上十点还在施工,海城区茶亭路13号",
]


def _csv(header: str = HEADER, n: int = 0) -> str:
    return "\n".join([header, *(r.format(n=n) for r in ROWS)]) + "\n"


def _run(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=cli_env(f"sqlite:///{tmp / 'cli.db'}", **env),
    )


def _dead_letters(tmp: Path) -> int:
    out = _run(tmp, "dlq", "list", "--format", "json")
    assert out.returncode == 0, out.stderr
    total: int = json.loads(out.stdout)["total"]
    return total


def test_exit_codes_are_in_the_help(tmp_path: Path) -> None:
    for args in (["--help"], ["ingest", "--help"]):
        out = _run(tmp_path, *args)
        assert out.returncode == 0
        text = " ".join(out.stdout.split())
        assert "退出码" in text and "3 无法连接" in text and "4 未全部交出" in text, out.stdout


def test_a_file_whose_every_line_is_dead_lettered_exits_non_zero(tmp_path: Path) -> None:
    f = tmp_path / "dead.jsonl"
    f.write_text('{"order_no": "X1", "received_at": "上周三"}\n{"order_no": "X2"}\n', "utf-8")
    out = _run(tmp_path, "ingest", "hotline", str(f))
    assert out.returncode == 1, out.stdout + out.stderr
    good = tmp_path / "good.csv"
    good.write_text(_csv(n=1), "utf-8")
    assert _run(tmp_path, "ingest", "hotline", str(good)).returncode == 0


def test_a_renamed_column_is_refused_once_for_the_file(tmp_path: Path) -> None:
    f = tmp_path / "renamed.csv"
    f.write_text(_csv(HEADER.replace("诉求内容", "反映内容")), "utf-8")
    out = _run(tmp_path, "ingest", "hotline", str(f))
    assert out.returncode == 2, out.stdout + out.stderr
    said = " ".join(out.stderr.split())
    assert said.count("file refused") == 1
    assert "缺少必需的列：诉求内容" in said and "反映内容" in said  # expected, and found
    assert "Traceback" not in out.stderr
    assert _dead_letters(tmp_path) == 0  # nothing dead-lettered line by line


@pytest.mark.parametrize(
    ("name", "encode", "said"),
    [
        ("big5", lambda t: zhconv.convert(t, "zh-tw").encode("big5"), "Big5"),
        ("utf16", lambda t: t.encode("utf-16"), "UTF-16"),
        ("utf16le", lambda t: t.encode("utf-16-le"), "UTF-16"),
    ],
)
def test_a_file_in_another_encoding_is_refused_once_saying_so(
    tmp_path: Path, name: str, encode: object, said: str
) -> None:
    f = tmp_path / f"{name}.csv"
    f.write_bytes(encode(_csv()))  # type: ignore[operator]
    out = _run(tmp_path, "ingest", "hotline", str(f))
    assert out.returncode == 2, out.stdout + out.stderr
    text = " ".join(out.stderr.split())
    assert text.count("file refused") == 1 and said in text and "GB18030" in text
    assert "缺少工单编号" not in out.stdout + out.stderr  # not misread as a missing order number
    assert _dead_letters(tmp_path) == 0


def test_gb18030_and_traditional_characters_in_gb18030_are_still_taken(tmp_path: Path) -> None:
    text = _csv(n=7)
    for name, data in (
        ("gb.csv", text.encode("gb18030")),
        # A resident's traditional characters in the rows, the export's own header.
        ("trad.csv", (HEADER + "\n" + zhconv.convert(text.split("\n", 1)[1], "zh-tw"))
         .encode("gb18030").replace(b"HL-7", b"HL-8")),
    ):
        f = tmp_path / name
        f.write_bytes(data)
        out = _run(tmp_path, "ingest", "hotline", str(f))
        assert out.returncode == 0, out.stdout + out.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


def test_an_unreachable_postgresql_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    url = f"postgresql://sanshi:s3cret@127.0.0.1:{_closed_port()}/sanshi"
    out = subprocess.run(
        [*CLI, "stats"], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=cli_env(url),
    )
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "SANSHI_DB" in lines[0] and "127.0.0.1" in lines[0], out.stderr
    assert "s3cret" not in out.stderr


def test_an_unreachable_kafka_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    port = _closed_port()
    out = _run(tmp_path, "worker", "--router", "keyword", "--idle-exit", "1",
               SANSHI_KAFKA=f"127.0.0.1:{port}", SANSHI_KAFKA_TIMEOUT_MS="2000")
    assert out.returncode == 3, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "SANSHI_KAFKA" in lines[0] and str(port) in lines[0], out.stderr
