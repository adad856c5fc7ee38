"""渠道规则 (routing rules that name ``channels``, docs/configuration.md): the demo district sends
every 企呼市应 (enterprise) request to its 营商环境办公室 and every 诉前调解 (court) referral to
the judicial office of its street, as the lead unit, whatever the category and however sure the
router is of it, with the unit the category would give recorded beside it; both routers do; a
return from the lead unit, or a 停用 lead, leaves the case to the category and says so; a rule
naming a category as well waits for a reading sure enough to dispatch; a district without the
rule routes enterprise cases as any other; ``sanshi explain`` says which rule chose the unit; a
district file that still has the former ``channel_routing`` is refused with the rule to write."""

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
from engine.routing.learning.router import CONSULTATION_REASON, LearningRouter
from engine.routing.port import CaseFacts, Router

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
TEXT = "公司门口的路灯坏了一个月，晚上员工下班看不清路，希望尽快修好。"
ADDRESS = "北海市海城区茶亭路28号"
VAGUE = "你好"


@pytest.fixture(scope="module")
def haicheng() -> SanshiConfig:
    return load_config(None)


def make(kind: str, config: SanshiConfig) -> Router:
    return KeywordRouter(config) if kind == "keyword" else LearningRouter(config)


@pytest.fixture(scope="module", params=["keyword", "learning"])
def router(request: pytest.FixtureRequest, haicheng: SanshiConfig) -> Router:
    return make(request.param, haicheng)


def facts(channel: str, text: str = TEXT, **more: Any) -> CaseFacts:
    return CaseFacts(uuid4(), channel, text, ADDRESS, "", False, "worry", T0, **more)


def with_data(config: SanshiConfig, **changes: Any) -> SanshiConfig:
    return SanshiConfig.model_validate({**config.model_dump(mode="json"), **changes})


def test_the_demo_district_names_the_office_in_a_channel_rule(haicheng: SanshiConfig) -> None:
    assert haicheng.unit("business_environment").name == "营商环境办公室"
    channel_rules = [(r.channels, r.category, r.to) for r in haicheng.routing if r.channels]
    assert channel_rules == [(["court"], "", "judicial_office"), (["enterprise"], "", "business_environment")]


def test_an_enterprise_request_goes_to_the_office_with_the_category_unit_beside_it(router: Router) -> None:
    other = router.decide(facts("hotline"))
    assert other.unit == "chatinglu"  # a streetlight at 茶亭路28号: the community
    decision = router.decide(facts("enterprise"))
    assert decision.unit == "business_environment" and decision.manual_reason is None
    why = decision.reason["unit"]
    assert why["channel"] == "enterprise" and why["rule"] == 1 and why["unit"] == "business_environment"
    assert why["departments"] == ["chatinglu"]  # for the office to call in (协办)
    assert why["by_category"]["rule"] != why["rule"]
    assert decision.category == other.category  # the category is still read from the text


def test_a_court_referral_keeps_the_category_unit_beside_the_judicial_office(router: Router) -> None:
    decision = router.decide(facts("court"))
    assert decision.unit == "zhongjie-sfs"  # 茶亭路 is in 中街街道
    assert decision.reason["unit"]["departments"] == ["chatinglu"]


@pytest.mark.parametrize("channel, lead", [("enterprise", "business_environment"), ("court", "zhongjie-sfs")])
def test_an_unclear_request_still_goes_to_the_lead_unit(router: Router, channel: str, lead: str) -> None:
    hotline = router.decide(facts("hotline", VAGUE))
    assert hotline.unit is None and hotline.manual_reason  # too unsure: the centre's queue
    decision = router.decide(facts(channel, VAGUE))
    assert decision.unit == lead and decision.manual_reason is None
    assert decision.reason["unit"]["departments"] == []  # no reading sure enough to name one


def test_an_enterprise_question_goes_to_the_office_not_the_centre(haicheng: SanshiConfig) -> None:
    router = LearningRouter(haicheng)
    question = "请问新开一家餐饮店办理营业执照需要准备哪些材料？"
    asked = router.decide(facts("hotline", question))
    assert asked.manual_reason == CONSULTATION_REASON  # a 咨询 is answered, not dispatched
    decision = router.decide(facts("enterprise", question))
    assert decision.unit == "business_environment" and decision.manual_reason is None


@pytest.mark.parametrize("kind", ["keyword", "learning"])
def test_a_channel_rule_naming_a_category_waits_for_a_sure_reading(haicheng: SanshiConfig, kind: str) -> None:
    rules = [r.model_dump() for r in haicheng.routing if not r.channels]
    narrow = with_data(
        haicheng,
        routing=[{"channels": ["enterprise"], "category": "municipal", "to": "business_environment"}, *rules],
    )
    router = make(kind, narrow)
    assert router.decide(facts("enterprise")).unit == "business_environment"  # a streetlight: municipal
    vague = router.decide(facts("enterprise", VAGUE))
    assert vague.unit is None and vague.manual_reason  # the category is a guess: the operator decides
    water = router.decide(facts("enterprise", "公司所在楼栋已经停水两天了，影响生产，请尽快恢复供水。"))
    assert water.unit not in (None, "business_environment")  # another category: routed as usual


def test_other_channels_are_not_led_by_the_office(router: Router) -> None:
    for channel in ("hotline", "app", "walkin", "grid"):
        assert router.decide(facts(channel)).unit != "business_environment"


def test_after_the_office_returns_the_case_the_category_decides(router: Router) -> None:
    returned = facts("enterprise", returned_by=("business_environment",), last_unit="business_environment",
                     category="municipal")
    unit, _why = router.next_unit(returned)
    assert unit not in (None, "business_environment")
    decision = router.decide(returned)  # decided again: the office is skipped, and says so
    assert decision.unit == "chatinglu"
    skipped = decision.reason["unit"]["channel_skipped"]["skipped"]
    assert skipped[0] == {"unit": "business_environment", "skipped": "returned"}


@pytest.mark.parametrize("kind", ["keyword", "learning"])
def test_a_deactivated_lead_unit_leaves_the_case_to_the_category(haicheng: SanshiConfig, kind: str) -> None:
    units = [
        {**u.model_dump(mode="json"), "active": u.id != "business_environment"} for u in haicheng.units
    ]
    decision = make(kind, with_data(haicheng, units=units)).decide(facts("enterprise"))
    assert decision.unit == "chatinglu"
    assert decision.reason["unit"]["channel_skipped"]["skipped"][0]["skipped"] == "inactive"


def test_a_district_without_the_rule_routes_enterprise_requests_by_category() -> None:
    second = load_config(DATA / "second_district.yaml")
    assert not any("enterprise" in r.channels for r in second.routing)
    router = KeywordRouter(second)
    why = router.decide(facts("enterprise")).reason["unit"]
    assert "channel" not in why and "channel_skipped" not in why


@pytest.mark.parametrize(
    ("rule", "word"),
    [({"channels": ["fax"], "to": "business_environment"}, "渠道「fax」不存在"),
     ({"channels": ["enterprise"], "to": "nobody"}, "「nobody」既不是单位编号")],
)
def test_a_rule_naming_an_unknown_channel_or_unit_is_refused(
    haicheng: SanshiConfig, rule: dict[str, Any], word: str
) -> None:
    with pytest.raises(ValidationError, match=word):
        with_data(haicheng, routing=[rule])


def test_the_former_channel_routing_is_refused_naming_the_rule_to_write(haicheng: SanshiConfig) -> None:
    with pytest.raises(ValidationError, match=r"channel_routing 已并入 routing.*\{channels: \[enterprise\], to: business_environment\}"):
        with_data(haicheng, channel_routing=[{"channel": "enterprise", "to": "business_environment"}])


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
        "派单规则：第2条（渠道「企呼市应」）：营商环境办公室（business_environment） 牵头；"
        "按分类应办单位 茶亭路社区（chatinglu），可召集协办"
    ) in out.output
    assert "派单  [system:router]\n      第1次派单 → 营商环境办公室" in out.output
