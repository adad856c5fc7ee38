"""The learning router as an operator sees it: where a complaint goes, how fast, whether it is
merged, and why — on the demo district and on a second, different district (徐州鼓楼区)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from engine.application import SanshiApplication
from engine.config import SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.domain import Status
from engine.intake import Channel, Concern, IntakeCommand
from engine.routing.learning import LearningRouter
from engine.routing.port import CaseFacts

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)  # a Monday
OP = "operator:test"
_refs = itertools.count(1)


@pytest.fixture(scope="module")
def haicheng() -> SanshiConfig:
    return load_config()


@pytest.fixture(scope="module")
def gulou() -> SanshiConfig:
    return load_config(DATA / "second_district.yaml")


@pytest.fixture(scope="module")
def haicheng_router(haicheng: SanshiConfig) -> LearningRouter:
    return LearningRouter(haicheng).wait_ready()


def _app(config: SanshiConfig) -> SanshiApplication:
    router = LearningRouter(config).wait_ready()
    return SanshiApplication(config, router, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app(haicheng: SanshiConfig) -> Iterator[SanshiApplication]:
    a = _app(haicheng)
    yield a
    a.close()


@pytest.fixture
def rerouting_app(haicheng: SanshiConfig) -> Iterator[SanshiApplication]:
    """The district re-routes returns by itself (returns.auto_reroute: true): what the router
    proposes after a return. Under review (the default) the centre decides instead."""
    returns = haicheng.returns.model_copy(update={"auto_reroute": True})
    a = _app(haicheng.model_copy(update={"returns": returns}))
    yield a
    a.close()


@pytest.fixture
def gulou_app(gulou: SanshiConfig) -> Iterator[SanshiApplication]:
    a = _app(gulou)
    yield a
    a.close()


def receive(
    app: SanshiApplication,
    content: str,
    address: str = "",
    channel: Channel = Channel.HOTLINE,
    at: dt.datetime = T0,
    concern: Concern = Concern.WORRY,
    hint: str = "",
):  # type: ignore[no-untyped-def]
    result = app.receive(
        IntakeCommand(
            channel=channel,
            source_ref=f"R{next(_refs):06d}",
            received_at=at,
            content=content,
            address=address,
            concern=concern,
            category_hint=hint,
        )
    )
    return result, app.get_case(result.case_id)


def classified_reason(app: SanshiApplication, case_id):  # type: ignore[no-untyped-def]
    events = list(app.repository.event_store.get(case_id))
    return next(e for e in events if type(e).__name__ == "Classified").reason


# ---- where it goes ------------------------------------------------------------------------


def test_lamp_goes_to_the_community_of_the_address(app: SanshiApplication) -> None:
    r, case = receive(app, "路灯坏了好几天，晚上很黑，老人出门不方便", "北海市海城区中街街道茶亭路28号")
    assert case.category == "municipal"
    assert r.unit == "chatinglu"  # the community, not just its street
    assert case.street == "zhongjie"


def test_address_is_read_before_the_text(app: SanshiApplication) -> None:
    # The text mentions 贵州路 in passing; the address says where the problem is.
    _, case = receive(
        app, "从贵州路过来的路上看到，我家门口的路灯不亮", "北海市海城区四川路15号"
    )
    assert case.locality == "sichuanlu"


def test_text_locates_when_the_address_names_only_the_street(app: SanshiApplication) -> None:
    _, case = receive(app, "和平路那边的井盖松动了，车一过就响", "北海市海城区中街街道")
    assert case.locality == "beibuwan"  # 和平路 is in 北部湾中路社区, inside 中街街道


def test_dispute_goes_to_the_judicial_office_of_its_street(app: SanshiApplication) -> None:
    r, case = receive(
        app,
        "楼上邻居装修把我家天花板弄漏水了，找他协商几次都吵起来，希望有人出面调解",
        "北海市海城区贵州路12号",
    )
    assert case.category == "dispute"
    assert r.unit == "dongjie-sfs"


def test_department_by_rule_keywords(app: SanshiApplication) -> None:
    r, _ = receive(app, "我们这栋楼从昨晚开始停电，冰箱里的东西都坏了", "北海市海城区云南路8号")
    assert r.unit == "gongdian"


def test_vague_complaint_goes_to_the_manual_queue(app: SanshiApplication) -> None:
    r, case = receive(app, "我想反映一个情况，麻烦你们记一下")
    assert r.status == Status.RECEIVED.value and r.unit is None
    assert case.manual_reason and "转人工" in case.manual_reason


def test_traditional_characters_route_like_simplified(haicheng_router: LearningRouter) -> None:
    simplified = haicheng_router.read("小区电梯又坏了，物业一直不来修，老人上下楼很困难")
    traditional = haicheng_router.read("小區電梯又壞了，物業一直不來修，老人上下樓很困難")
    assert simplified.category == traditional.category == "housing"
    assert abs(simplified.confidence - traditional.confidence) < 0.05


# ---- the clock ----------------------------------------------------------------------------


def test_danger_words_make_the_case_urgent_with_the_short_clock(app: SanshiApplication) -> None:
    r, case = receive(
        app, "小区地下室燃气管道有泄漏的味道，请马上派人来看看", "北海市海城区茶亭路幸福里小区"
    )
    assert case.urgent
    # Gas goes to the gas company, not the water company its category's default would name:
    # the dispatch or, when the dispatch rule leaves it to the operator, the first suggestion.
    first = classified_reason(app, r.case_id)["candidates"][0]["unit"]
    assert first == "ranqi"
    assert r.unit in ("ranqi", None)
    if r.unit is None:
        case = app.dispatch(r.case_id, first, OP, at=T0)
    assert case.dispatch is not None
    assert case.dispatch.claim_deadline == T0 + dt.timedelta(minutes=30)
    assert case.dispatch.handle_deadline == T0 + dt.timedelta(hours=24)
    assert "燃气/煤气泄漏" in classified_reason(app, r.case_id)["urgent_words"]


def test_ordinary_case_gets_working_days(app: SanshiApplication) -> None:
    _, case = receive(app, "小区门口的垃圾桶好几天没人清运了", "北海市海城区四川路15号")
    assert not case.urgent
    assert case.dispatch is not None
    assert case.dispatch.claim_deadline > T0 + dt.timedelta(hours=12)


def test_negated_danger_is_not_urgent(haicheng_router: LearningRouter) -> None:
    assert haicheng_router.urgency.read("楼道里没有着火，只是有人在烧纸，烟有点大") == []


def test_anguish_from_the_app_is_urgent(app: SanshiApplication) -> None:
    _, case = receive(
        app, "孩子的入学手续一直办不下来", "北海市海城区四川路15号", concern=Concern.ANGUISH
    )
    assert case.urgent


# ---- returns and escalation ---------------------------------------------------------------


def test_returned_case_climbs_and_never_goes_back(rerouting_app: SanshiApplication) -> None:
    app = rerouting_app
    r, _ = receive(app, "路灯坏了好几天，晚上很黑", "北海市海城区茶亭路40号")
    assert r.unit == "chatinglu"
    case = app.return_case(r.case_id, "chatinglu", "不属于本社区管理", "unit:chatinglu", at=T0)
    assert case.assigned_unit == "zhongjie"  # community → its street
    case = app.return_case(r.case_id, "zhongjie", "应由住建局处理", "unit:zhongjie", at=T0)
    # street → the district centre's manual queue, never back to a unit that returned it
    assert case.status == Status.RETURNED and case.assigned_unit is None
    assert case.manual_reason


def test_department_return_tries_the_next_category_never_the_same_unit(
    rerouting_app: SanshiApplication,
) -> None:
    app = rerouting_app
    r, _ = receive(app, "物业把小区绿化带挖了改成停车位，还收停车费", "北海市海城区四川路15号")
    first = r.unit or classified_reason(app, r.case_id)["candidates"][0]["unit"]
    assert first is not None
    if r.unit is None:  # below the dispatch rule: the operator sends it to the first suggestion
        app.dispatch(r.case_id, first, OP, at=T0)
    case = app.return_case(r.case_id, first, "不属于我单位职责", f"unit:{first}", at=T0)
    assert case.assigned_unit != first
    # Re-routed to another unit, or (no unit of a likely category left) the manual queue.
    assert case.status == Status.DISPATCHED or case.manual_reason
    assert first not in (case.assigned_unit or "")


def test_three_returns_send_the_case_to_the_manual_queue(rerouting_app: SanshiApplication) -> None:
    app = rerouting_app
    r, _ = receive(app, "公司拖欠工资三个月，老板一直推脱", "北海市海城区四川路15号")
    case = app.get_case(r.case_id)
    units = []
    for _ in range(3):
        unit = case.assigned_unit
        if unit is None:  # the router ran out of units before three returns: also manual
            break
        units.append(unit)
        case = app.return_case(r.case_id, unit, "不归我们管", f"unit:{unit}", at=T0)
    assert case.assigned_unit is None and case.manual_reason
    assert len(units) == len(set(units))  # never dispatched twice to the same unit


def test_router_never_proposes_a_unit_that_returned(haicheng_router: LearningRouter) -> None:
    facts = CaseFacts(
        case_id=uuid4(),
        channel="hotline",
        content="我们这栋楼停电了",
        address="北海市海城区云南路8号",
        category_hint="",
        urgent=False,
        concern="worry",
        received_at=T0,
        returned_by=("gongdian",),
        last_unit="gongdian",
        category="utilities",
        locality="yunnanlu",
        street="xijie",
    )
    unit, _ = haicheng_router.next_unit(facts)
    assert unit != "gongdian"
    decision = haicheng_router.decide(facts)
    assert decision.unit != "gongdian"


# ---- duplicates ---------------------------------------------------------------------------


def test_same_lamp_from_hotline_and_app_is_merged(app: SanshiApplication) -> None:
    first, _ = receive(app, "茶亭路28号门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路28号")
    second, case = receive(
        app,
        "我家楼下那盏路灯坏了好几天，晚上出门黑漆漆的",
        "海城区茶亭路28号",
        channel=Channel.APP,
        at=T0 + dt.timedelta(hours=3),
    )
    assert second.status == Status.MERGED.value
    assert second.merged_into == first.case_id
    assert first.case_id == case.merged_into
    assert second.case_id in app.get_case(first.case_id).duplicates
    dup = classified_reason(app, second.case_id)["duplicates"][0]
    assert dup["merge"] and dup["similarity"] > 0 and dup["place_key"] == "r:茶亭路#28"


def test_retyped_complaint_is_merged(app: SanshiApplication) -> None:
    text = "幸福里小区3栋电梯又坏了，物业一直不来修，老人上下楼很困难"
    first, _ = receive(app, text, "北海市海城区茶亭路幸福里小区3栋")
    second, _ = receive(app, text.replace("，", " "), "茶亭路幸福里小区", channel=Channel.WALKIN)
    assert second.merged_into == first.case_id


def test_same_text_at_two_addresses_is_not_merged(app: SanshiApplication) -> None:
    text = "门口的路灯不亮了，晚上很黑，请尽快修理"
    first, _ = receive(app, text, "北海市海城区茶亭路28号")
    second, _ = receive(app, text, "北海市海城区茶亭路90号", channel=Channel.APP)
    third, _ = receive(app, text, "北海市海城区贵州路28号", channel=Channel.APP)
    assert second.status == third.status == Status.DISPATCHED.value
    assert first.case_id not in {second.merged_into, third.merged_into}


def test_different_issue_at_the_same_door_is_not_merged(app: SanshiApplication) -> None:
    receive(app, "茶亭路28号门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路28号")
    second, _ = receive(app, "茶亭路28号门口的井盖松动了，踩上去会翻", "北海市海城区茶亭路28号")
    assert second.merged_into is None


def test_boilerplate_around_a_different_issue_is_not_merged(app: SanshiApplication) -> None:
    frame = "市民来电反映：茶亭路28号门口的{}坏了好几天了，晚上出行很不安全，请相关部门尽快处理。"
    receive(app, frame.format("路灯"), "北海市海城区茶亭路28号")
    second, _ = receive(app, frame.format("井盖"), "北海市海城区茶亭路28号", channel=Channel.APP)
    assert second.merged_into is None


def test_near_miss_is_flagged_not_merged(app: SanshiApplication) -> None:
    first, _ = receive(app, "幸福里小区门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路幸福里小区")
    second, _ = receive(
        app, "幸福里小区门口的路灯不亮了，有一段时间了", "北海市海城区茶亭路幸福里小区"
    )
    # Same 小区 and issue, no door or building to tell: the operator decides.
    assert second.merged_into is None
    flagged = classified_reason(app, second.case_id)["possible_duplicates"]
    assert [d["case_id"] for d in flagged] == [str(first.case_id)]


def test_closed_case_is_not_a_merge_target(app: SanshiApplication) -> None:
    first, _ = receive(app, "茶亭路28号门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路28号")
    unit = app.get_case(first.case_id).assigned_unit
    assert unit
    app.claim(first.case_id, unit, f"unit:{unit}", at=T0)
    app.resolve(first.case_id, unit, "已更换灯泡", f"unit:{unit}", at=T0)
    second, _ = receive(app, "茶亭路28号门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路28号")
    assert second.merged_into is None


def test_outside_the_window_is_not_merged(app: SanshiApplication) -> None:
    text = "茶亭路28号门口的路灯不亮了，晚上很黑"
    receive(app, text, "北海市海城区茶亭路28号")
    later = T0 + dt.timedelta(days=app.config.router.duplicate_window_days + 1)
    second, _ = receive(app, text, "北海市海城区茶亭路28号", at=later)
    assert second.merged_into is None


def test_index_is_warmed_from_open_cases(haicheng: SanshiConfig) -> None:
    router = LearningRouter(haicheng).wait_ready()
    open_id = uuid4()
    router.warm(
        [
            {
                "case_id": str(open_id),
                "content": "茶亭路28号门口的路灯不亮了，晚上很黑",
                "address": "北海市海城区茶亭路28号",
                "category": "municipal",
                "locality": "chatinglu",
                "received_at": "2026-09-21T09:00:00",  # SQLite gives naive times
                "channel": "hotline",
            }
        ]
    )
    router.wait_embedded()  # warmed cases get their sentence vectors in the background
    facts = CaseFacts(
        case_id=uuid4(),
        channel="app",
        content="茶亭路28号的路灯坏了，晚上一片漆黑",
        address="北海市海城区茶亭路28号",
        category_hint="",
        urgent=False,
        concern="worry",
        received_at=T0,
    )
    decision = router.decide(facts)
    assert decision.merge_into is not None and decision.merge_into.case_id == open_id


def test_duplicate_index_keeps_the_most_recent_open_cases(haicheng: SanshiConfig) -> None:
    # A worker's memory is bounded: beyond router.duplicate_index_size open cases, the one
    # filed longest ago stops being a merge target; the recent ones still merge.
    small = haicheng.model_copy(
        update={"router": haicheng.router.model_copy(update={"duplicate_index_size": 3})}
    )
    app = _app(small)
    try:
        doors = [11, 22, 33, 44]
        first = [
            receive(app, f"茶亭路{d}号门口的路灯不亮了，晚上很黑", f"北海市海城区茶亭路{d}号")[0]
            for d in doors
        ]
        assert len(app.router.index) == 3  # type: ignore[attr-defined]
        again = [
            receive(
                app,
                f"茶亭路{d}号的路灯坏了，晚上一片漆黑",
                f"海城区茶亭路{d}号",
                channel=Channel.APP,
                at=T0 + dt.timedelta(hours=1),
            )[0]
            for d in (44, 11)
        ]
        assert again[0].merged_into == first[3].case_id  # the newest lamp: merged
        assert again[1].merged_into is None  # the oldest lamp fell out of the index
    finally:
        app.close()


def test_keyword_router_index_is_bounded_too(haicheng: SanshiConfig) -> None:
    from engine.routing.keyword import KeywordRouter

    small = haicheng.model_copy(
        update={"router": haicheng.router.model_copy(update={"duplicate_index_size": 2})}
    )
    router = KeywordRouter(small)
    text = "茶亭路28号门口的路灯不亮了，晚上很黑"
    opened = []
    for hours in range(3):
        facts = CaseFacts(uuid4(), "hotline", text, "北海市海城区茶亭路28号", "", False, "worry",
                          T0 + dt.timedelta(hours=hours))
        router.case_opened(facts, "municipal", "chatinglu")
        opened.append(facts.case_id)
    probe = CaseFacts(uuid4(), "app", text, "北海市海城区茶亭路28号", "", False, "worry", T0)
    loc = router.locator.locate(probe.address, probe.content)
    found = {d.case_id for d in router.find_duplicates(probe, "municipal", loc)}
    assert found == set(opened[1:])


def test_warming_keeps_the_newest_open_cases(haicheng: SanshiConfig) -> None:
    small = haicheng.model_copy(
        update={"router": haicheng.router.model_copy(update={"duplicate_index_size": 2})}
    )
    router = LearningRouter(small).wait_ready()
    rows = [
        {
            "case_id": str(uuid4()),
            "content": f"茶亭路{d}号门口的路灯不亮了",
            "address": f"北海市海城区茶亭路{d}号",
            "category": "municipal",
            "locality": "chatinglu",
            "received_at": f"2026-09-{day:02d}T09:00:00",
        }
        for d, day in ((11, 20), (22, 5), (33, 18))  # read back in no particular order
    ]
    assert router.warm(rows) == 2
    kept = {str(cid) for cid in router.index._where}
    assert kept == {rows[0]["case_id"], rows[2]["case_id"]}  # the 20th and the 18th


# ---- why ----------------------------------------------------------------------------------


def test_reason_says_why(app: SanshiApplication) -> None:
    r, _ = receive(app, "楼下饭店油烟太大，熏得家里没法开窗", "北海市海城区四川路15号")
    reason = classified_reason(app, r.case_id)
    json.dumps(reason)  # recorded as an event: plain JSON only
    top = reason["category"]["top"]
    assert len(top) == 3 and top[0]["category"] == "environment"
    assert top[0]["score"] >= top[1]["score"] >= top[2]["score"]
    assert "油烟" in reason["category"]["keywords"]["environment"]
    assert reason["locality"]["community"] == "sichuanlu"
    assert [c["category"] for c in reason["candidates"]] == [t["category"] for t in top]
    assert reason["unit"]["to"] == "huanjing"


# ---- learning -----------------------------------------------------------------------------


def test_operator_correction_is_learned_without_restart(app: SanshiApplication) -> None:
    text = "小区门口新开了一家电玩城，未成年人整夜在里面打游戏"
    r, case = receive(app, text, "北海市海城区四川路15号")
    before = case.category
    target = "public_security" if before != "public_security" else "education"
    app.reclassify(r.case_id, target, OP, at=T0)
    _, again = receive(
        app, "小区门口那家电玩城，未成年人整夜在里面玩游戏", "北海市海城区贵州路3号"
    )
    assert again.category == target


# ---- a second district --------------------------------------------------------------------


def test_second_district_by_door_number_range(gulou_app: SanshiApplication) -> None:
    _, near = receive(gulou_app, "门口的垃圾堆了一个星期没人清运", "徐州市鼓楼区中山北路88号")
    _, far = receive(gulou_app, "门口的垃圾堆了一个星期没人清运", "徐州市鼓楼区中山北路288号")
    assert near.category == far.category == "city_management"
    assert near.assigned_unit == "zhongshanbeilu"
    assert far.assigned_unit == "minzhubeilu"


def test_second_district_dispute_and_rules(gulou_app: SanshiApplication) -> None:
    r, _ = receive(
        gulou_app, "和邻居因为楼道堆放杂物吵了好几次，希望社区调解", "徐州市鼓楼区丰财街道下淀路12号"
    )
    assert r.unit == "fengcai-sfs"
    lamp, _ = receive(gulou_app, "路灯坏了好几天，晚上很黑", "徐州市鼓楼区下淀路30号")
    assert lamp.unit == "chengguan"  # this district sends municipal to one department


def test_second_district_category_without_examples(gulou_app: SanshiApplication) -> None:
    # A category the district added without one labelled example is recognised from its name
    # and description, and its unit is the operator's first suggestion. (Issue 16: the case goes
    # out without a person only at the calibrated confidence, and a 咨询 such as "在哪里办理" is
    # not dispatched at all, so this complaint waits in the manual queue with the suggestion.)
    r, case = receive(
        gulou_app, "我是退伍老兵，退役军人优待证申请了三个月还没办下来", "徐州市鼓楼区牌楼街道"
    )
    assert case.category == "veterans"
    classified = next(e for e in gulou_app.events.get(r.case_id) if type(e).__name__ == "Classified")
    assert classified.reason["candidates"][0]["unit"] == "tuiyi"
    assert r.unit in (None, "tuiyi")


def test_a_category_the_district_added_takes_its_words_from_the_catch_all(
    haicheng: SanshiConfig, gulou: SanshiConfig
) -> None:
    """The packaged examples, seed lines and lexicon were written for the default codes, where a
    veteran's matter is 其他. The second district adds 退役军人事务 (keywords 退役军人, 优待证 …):
    there, a 其他 example naming its words (or their head, 退役 of 退役军人) is a veterans
    example, a text filed under a default category stays where it was, the 其他 lexicon loses
    those words, and the demo district, which adds nothing, reads its examples unchanged."""
    from engine.routing.learning.bundle import carved_out, seed_examples
    from engine.routing.learning.lexicon import claimed_words
    from engine.routing.learning.model import Example, category_words

    claimed = claimed_words(gulou.categories)
    assert claimed["退役军人"] == claimed["退役"] == claimed["优待"] == "veterans"
    assert claimed_words(haicheng.categories) == {}
    examples = [
        Example("退役士兵失业补助金怎样申请？", "other", 3.0),
        Example("有人冒充军人订餐骗走了定金", "public_security", 3.0),
        Example("景区门票太贵了", "other", 3.0),
    ]
    assert [e.category for e in carved_out(examples, gulou)] == ["veterans", "public_security", "other"]
    assert carved_out(examples, haicheng) == examples
    words = dict(category_words(gulou.categories))
    assert "退役军人" in words["veterans"] and "退役军人" not in words["other"]
    assert "退役" not in words["other"] and "退役" in dict(category_words(haicheng.categories))["other"]
    assert not any("退役军人" in e.text for e in seed_examples(gulou) if e.category == "other")


def test_second_district_urgent_clock(gulou_app: SanshiApplication) -> None:
    _, case = receive(gulou_app, "下淀路上窨井盖缺失，已经有电动车掉进去了", "徐州市鼓楼区下淀路5号")
    assert case.urgent
    assert case.dispatch is not None
    assert case.dispatch.claim_deadline == T0 + dt.timedelta(minutes=20)


# ---- accuracy floor -----------------------------------------------------------------------


def test_accuracy_on_the_held_out_set(haicheng_router: LearningRouter) -> None:
    rows = [json.loads(line) for line in (DATA / "routing_eval.jsonl").read_text("utf-8").splitlines() if line.strip()]
    assert len(rows) >= 500
    correct = sum(
        haicheng_router.read(r["text"], r["address"], need_vector=False).category == r["category"]
        for r in rows
    )
    accuracy = correct / len(rows)
    # Generated texts share the simulator's assumptions (issue 16): the router is tuned on real
    # complaints (tests/data/real_texts, floor in tests/unit/test_router_real_texts.py), where
    # some conventions differ from the simulator's (违停 → the traffic police, public_security).
    # This floor only guards against a collapse on the simulator's own phrasing; it leaves room
    # below the measured figure because each real-text release shifts a few of the simulator's
    # boundary texts to the corpus's conventions (圈占公共绿地 → city management, not a dispute;
    # an animal loose in a compound → the police).
    assert accuracy >= 0.87, f"accuracy {accuracy:.3f} on {len(rows)} held-out complaints"
