"""渠道牵头单位 (``channel_routing``, docs/configuration.md): the demo district sends every 企呼市应
(enterprise) request to its 营商环境办公室 as the lead unit, whatever the category, with the unit
the category would give recorded beside it; both routers do; a return from the office is
routed by the category; a district without the rule routes enterprise cases as any other;
``sanshi explain`` says which rule chose the unit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from engine.config import SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.routing.keyword import KeywordRouter
from engine.routing.learning.router import LearningRouter
from engine.routing.port import CaseFacts, Router

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
TEXT = "公司门口的路灯坏了一个月，晚上员工下班看不清路，希望尽快修好。"
ADDRESS = "北海市海城区茶亭路28号"


@pytest.fixture(scope="module")
def haicheng() -> SanshiConfig:
    return load_config(None)


@pytest.fixture(scope="module", params=["keyword", "learning"])
def router(request: pytest.FixtureRequest, haicheng: SanshiConfig) -> Router:
    return KeywordRouter(haicheng) if request.param == "keyword" else LearningRouter(haicheng)


def facts(channel: str, **more: Any) -> CaseFacts:
    return CaseFacts(uuid4(), channel, TEXT, ADDRESS, "", False, "worry", T0, **more)


def test_the_demo_district_names_the_office_and_the_rule(haicheng: SanshiConfig) -> None:
    assert haicheng.unit("business_environment").name == "营商环境办公室"
    assert [(r.channel, r.to) for r in haicheng.channel_routing] == [("enterprise", "business_environment")]


def test_an_enterprise_request_goes_to_the_office_with_the_category_unit_beside_it(router: Router) -> None:
    other = router.decide(facts("hotline"))
    assert other.unit == "chatinglu"  # a streetlight at 茶亭路28号: the community
    decision = router.decide(facts("enterprise"))
    assert decision.unit == "business_environment" and decision.manual_reason is None
    why = decision.reason["unit"]
    assert why["rule"] == "channel" and why["channel"] == "enterprise" and why["channel_rule"] == 0
    assert why["departments"] == ["chatinglu"]
    assert decision.category == other.category  # the category is still read from the text


def test_an_unclear_enterprise_request_still_goes_to_the_office(router: Router) -> None:
    vague = CaseFacts(uuid4(), "enterprise", "你好", "", "", False, "worry", T0)
    decision = router.decide(vague)
    assert decision.unit == "business_environment" and decision.manual_reason is None
    assert decision.reason["unit"]["departments"] == []


def test_other_channels_are_not_led_by_the_office(router: Router) -> None:
    for channel in ("hotline", "app", "walkin", "grid"):
        assert router.decide(facts(channel)).unit != "business_environment"


def test_after_the_office_returns_the_case_the_category_decides(router: Router) -> None:
    returned = facts("enterprise", returned_by=("business_environment",), last_unit="business_environment",
                     category="municipal")
    unit, _why = router.next_unit(returned)
    assert unit not in (None, "business_environment")
    decision = router.decide(returned)  # decided again: the office is skipped, and says so
    assert decision.unit != "business_environment"
    assert decision.reason["unit"]["channel_skipped"]["skipped"] == "returned"


def test_a_district_without_the_rule_routes_enterprise_requests_by_category() -> None:
    second = load_config(DATA / "second_district.yaml")
    assert second.channel_routing == []
    router = KeywordRouter(second)
    assert router.decide(facts("enterprise")).reason["unit"].get("rule") != "channel"


@pytest.mark.parametrize(
    ("rule", "word"),
    [({"channel": "fax", "to": "business_environment"}, "not a channel"),
     ({"channel": "enterprise", "to": "nobody"}, "not a unit")],
)
def test_a_rule_naming_an_unknown_channel_or_unit_is_refused(
    haicheng: SanshiConfig, rule: dict[str, str], word: str
) -> None:
    data = haicheng.model_dump(mode="json")
    data["channel_routing"] = [rule]
    with pytest.raises(ValidationError, match=word):
        SanshiConfig.model_validate(data)


def test_explain_says_the_channel_rule_chose_the_office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.bootstrap import bootstrap
    from adapters.cli import main
    from adapters.transport import submit
    from engine.settings import Settings

    db = f"sqlite:///{tmp_path / 'e.db'}"
    monkeypatch.setenv("SANSHI_DB", db)
    monkeypatch.delenv("SANSHI_KAFKA", raising=False)
    monkeypatch.delenv("SANSHI_CONFIG", raising=False)
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": db}))
    try:
        done = submit(runtime, "enterprise", {
            "request_no": "QH-E1", "received_at": "2026-03-02 09:00", "enterprise_name": "北海海韵食品有限公司",
            "credit_code": "91450500MA5K2B7C3C", "content": TEXT, "address": ADDRESS,
        })
        assert done.status == "accepted" and done.case_id is not None, done
        case = runtime.app.get_case(done.case_id)
        assert case.units_ever == ["business_environment"]
    finally:
        runtime.close()
    out = CliRunner().invoke(main, ["explain", str(done.case_id)])
    assert out.exit_code == 0, out.output
    assert "渠道：企呼市应" in out.output
    assert (
        "派单规则：渠道牵头规则第1条：企呼市应诉求由 营商环境办公室（business_environment） 牵头；"
        "按分类应办单位 茶亭路社区（chatinglu）"
    ) in out.output
    assert "派单  [system:router]\n      第1次派单 → 营商环境办公室" in out.output
