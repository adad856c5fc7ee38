"""`sanshi demo`: a district's days in one command, the seven rates printed in Chinese, the data
left where `--keep --serve` and `sanshi serve` find it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main

RATE_NAMES = ("办结率", "按时办结率", "响应率", "退单率", "调解成功率", "解决率", "满意率")
RATE_FIELDS = ("handling_rate", "on_time_rate", "response_rate", "return_rate",
               "mediation_success_rate", "solved_rate", "satisfaction_rate")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SANSHI_DB", "SANSHI_KAFKA", "SANSHI_CONFIG", "SANSHI_CIPHER_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def stored_events(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM stored_events").fetchone()[0])
    finally:
        con.close()


def test_demo_prints_what_happened_the_seven_rates_and_how_to_open_the_ui(in_tmp: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--days", "2", "--start", "2026-09-07"])
    assert result.exit_code == 0, result.output
    out = result.output
    for name in RATE_NAMES:
        assert name in out, name
    for words in ("12345热线", "解忧超市APP", "窗口到点反映", "110警情", "承办单位排名", "sanshi demo --keep --serve",
                  "demo-operator-token", "demo-leader-token"):
        assert words in out, words
    db = in_tmp / "sanshi-data" / "demo.db"
    assert db.exists() and stored_events(db) > 100
    # 知识库: the demo entries are loaded, each marked as demo content by its source.
    con = sqlite3.connect(db)
    try:
        sources = [r[0] for r in con.execute("SELECT source FROM view_knowledge WHERE NOT retired")]
    finally:
        con.close()
    assert len(sources) >= 20 and all("演示内容" in s for s in sources)
    # 演示账号: one named person per role, for the login screen's buttons in demo mode.
    assert "演示账号" in out
    from sqlalchemy import create_engine

    from adapters.http.demo_login import DEMO_PEOPLE
    from adapters.http.people import People
    from engine.config import load_config

    engine = create_engine(f"sqlite:///{db}")
    try:
        people = People(engine, load_config(None))
        made = {p.login: p.role for p in DEMO_PEOPLE if people.view.by_login(p.login) is not None}
    finally:
        engine.dispose()
    assert made == {p.login: p.role for p in DEMO_PEOPLE}
    # The scratch copy is gone; only the demo file (no half-written .partial) remains.
    assert sorted(p.name for p in db.parent.iterdir()) == ["demo.db"]


def test_demo_json_is_machine_readable_and_deterministic(in_tmp: Path) -> None:
    args = ["demo", "--days", "2", "--start", "2026-09-07", "--seed", "11", "--format", "json",
            "--db", "first.db"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert set(data["rates"]) == set(RATE_FIELDS)
    for field in ("handling_rate", "response_rate", "return_rate"):
        r = data["rates"][field]
        assert r["denominator"] > 0
        assert r["value"] == pytest.approx(r["numerator"] / r["denominator"])
    sim = data["simulation"]
    assert sim["accepted"] == data["total"]["received"]
    assert {row["channel"] for row in sim["channels"]} == {"hotline", "app", "walkin", "police"}
    second = CliRunner().invoke(main, [*args[:-1], "second.db"])
    assert json.loads(second.output)["rates"] == data["rates"]


def test_demo_keep_reuses_the_data_and_a_new_run_starts_fresh(in_tmp: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["demo", "--days", "1", "--start", "2026-09-07"]).exit_code == 0
    db = in_tmp / "sanshi-data" / "demo.db"
    before = stored_events(db)
    kept = runner.invoke(main, ["demo", "--keep", "--days", "1"])
    assert kept.exit_code == 0
    assert "不重新模拟" in kept.output
    assert stored_events(db) == before
    # Without --keep the file is made again from scratch: the same run again gives the same
    # log, not twice the log.
    again = runner.invoke(main, ["demo", "--days", "1", "--start", "2026-09-07"])
    assert again.exit_code == 0
    assert stored_events(db) == before


def test_demo_rejects_nonsense_options(in_tmp: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--days", "0"])
    assert result.exit_code == 2
    assert not (in_tmp / "sanshi-data").exists()
