"""`sanshi explain CASE_ID`: an operator reads, in Chinese, why a case went where it went."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.bootstrap import bootstrap
from adapters.cli import main
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings

T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'explain.db'}"
    monkeypatch.setenv("SANSHI_DB", url)
    monkeypatch.delenv("SANSHI_KAFKA", raising=False)
    monkeypatch.delenv("SANSHI_CONFIG", raising=False)
    return url


def _cases(db: str) -> tuple[str, str]:
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": db}))
    try:
        first = runtime.app.receive(
            IntakeCommand(
                channel=Channel.HOTLINE,
                source_ref="BH001",
                received_at=T0,
                content="茶亭路28号门口的路灯不亮了，晚上很黑",
                address="北海市海城区茶亭路28号",
                caller_name="庞女士",
                caller_phone="13877912345",
            )
        )
        second = runtime.app.receive(
            IntakeCommand(
                channel=Channel.APP,
                source_ref="APP001",
                received_at=T0 + dt.timedelta(hours=1),
                content="我家楼下那盏路灯坏了好几天，晚上出门黑漆漆的",
                address="海城区茶亭路28号",
            )
        )
        runtime.app.return_case(first.case_id, "chatinglu", "不属于本社区", "unit:chatinglu", at=T0)
        # 退单审核 (the default): the centre approves and sends it up to the street.
        runtime.app.review_return(
            first.case_id, True, "operator:test", unit="zhongjie", note="属街道", at=T0
        )
    finally:
        runtime.close()
    return str(first.case_id), str(second.case_id)


def test_explain_prints_the_decisions_in_chinese(db: str) -> None:
    first, second = _cases(db)
    runner = CliRunner()
    out = runner.invoke(main, ["explain", second])
    assert out.exit_code == 0, out.output
    assert "市政设施" in out.output and "置信度" in out.output
    assert "命中关键词" in out.output and "路灯" in out.output
    assert "茶亭路社区" in out.output
    assert f"并入工单 {first}" in out.output
    assert "工单编号 HC20260921000002，诉求类型（系统预测）：求助" in out.output
    assert "order_no" not in out.output  # not the raw field names

    out = runner.invoke(main, ["explain", "hotline:BH001"])  # channel:source_ref works too
    assert out.exit_code == 0, out.output
    assert "退单，理由：不属于本社区（待中心审核）" in out.output
    assert "退单审核：同意 茶亭路社区（chatinglu） 退单，转派 中街街道（zhongjie），意见：属街道" in out.output
    assert "13877912345" not in out.output and "庞女士" not in out.output


def test_explain_json_and_unknown_case(db: str) -> None:
    _, second = _cases(db)
    runner = CliRunner()
    out = runner.invoke(main, ["explain", second, "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    # 工单编号 is given once the batch's cases are decided (a case the pass refuses gets none),
    # so Numbered follows the merge.
    assert [e["type"] for e in data["events"]] == ["Received", "Classified", "Merged", "Numbered"]
    assert data["events"][3]["order_no"] == "HC20260921000002"  # the day's second case
    assert data["events"][1]["reason"]["category"]["top"][0]["category"] == "municipal"
    missing = runner.invoke(main, ["explain", "hotline:NOPE"])
    assert missing.exit_code != 0 and "不存在" in missing.output
    # The 工单编号 on the screens and the printed sheet reads the same case.
    by_number = runner.invoke(main, ["explain", "HC20260921000002", "--format", "json"])
    assert by_number.exit_code == 0, by_number.output
    assert json.loads(by_number.output)["case_id"] == second
    unknown = runner.invoke(main, ["explain", "HC20260921999999"])
    assert unknown.exit_code == 1 and "工单编号 HC20260921999999 不存在" in unknown.output


def test_explain_reads_the_channel_rules_of_decisions_logged_before_they_merged() -> None:
    # The log keeps decisions of the former channel_routing (渠道牵头单位); explain still reads them.
    from adapters.cli.explain import Namer, _rule
    from engine.config import load_config

    names = Namer(load_config(None))
    led = {"rule": "channel", "channel_rule": 0, "channel": "enterprise", "to": "business_environment",
           "departments": ["chatinglu"], "by_category": {"rule": 1, "to": "locality"}}
    assert _rule(led, names) == (
        "渠道牵头规则第1条：企呼市应诉求由 营商环境办公室（business_environment） 牵头；"
        "按分类应办单位 茶亭路社区（chatinglu）"
    )
    skipped: dict[str, Any] = {"rule": None, "by_unit_categories": True, "skipped": [],
               "channel_skipped": {"channel_rule": 0, "unit": "business_environment", "skipped": "returned"}}
    assert _rule(skipped, names) == (
        "无匹配规则，派给负责该分类的单位；渠道牵头规则第1条未适用（营商环境办公室（business_environment） 已退单）"
    )
