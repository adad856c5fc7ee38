"""`sanshi demo` shows a 实事项目 (issue 20): the evening of the storm the centre turns the largest
cluster of similar open cases into one project; the owner unit reports progress and completes it
within the week; the residents are called back; the summary prints a line with its figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from adapters.cli.demo import project_lines


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SANSHI_DB", "SANSHI_KAFKA", "SANSHI_CONFIG", "SANSHI_CIPHER_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_demo_week_opens_advances_and_completes_one_project_from_the_storm(in_tmp: Path) -> None:
    args = ["demo", "--days", "7", "--start", "2026-09-07", "--scale", "0.5", "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (project,) = data["projects"]
    figures = project["figures"]
    assert project["status"] == "completed" and project["title"].endswith("集中整治")
    assert figures["cases"] >= 4 and 0 < data["simulation"]["project"]["resolved"] <= figures["cases"]
    assert (figures["milestones"], figures["milestones_done"]) == (2, 2)
    assert 0 < figures["called_back"] <= figures["cases"]
    assert figures["rated"] == figures["satisfaction_rate"]["denominator"] > 0
    assert not any(k.startswith("project:") for k in data["simulation"]["refused"])
    (line,) = project_lines(data["projects"])
    assert line.startswith(f"实事项目「{project['title']}」") and f"关联工单 {figures['cases']} 件" in line
    assert f"回访群众 {figures['called_back']}/{figures['cases']} 人" in line and "满意率" in line
