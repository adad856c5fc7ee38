"""Merges never lose a complaint (issue 16): a merged case is never dispatched, so a merge needs
the same problem and either the same caller or the same exact place; a personal matter is
merged only into the same caller's case; an uncertain place is suggested, not merged."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest

from bench.routing.merges import judge_pair, read_pairs, score_pairs
from engine.application import SanshiApplication
from engine.config import SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.domain import Status
from engine.intake import Channel, IntakeCommand
from engine.routing.keyword import KeywordRouter
from engine.routing.learning import LearningRouter
from engine.routing.learning.places import Match, PlaceReader, compare

T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)
_refs = itertools.count(1)


@pytest.fixture(scope="module")
def haicheng() -> SanshiConfig:
    return load_config()


@pytest.fixture(scope="module")
def learning(haicheng: SanshiConfig) -> LearningRouter:
    return LearningRouter(haicheng).wait_ready()


@pytest.fixture
def app(haicheng: SanshiConfig) -> Iterator[SanshiApplication]:
    a = SanshiApplication(
        haicheng, LearningRouter(haicheng).wait_ready(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"}
    )
    yield a
    a.close()


def receive(
    app: SanshiApplication,
    content: str,
    address: str = "",
    phone: str = "",
    name: str = "",
    hours: float = 0,
    appeal_type: str = "",
    channel: Channel = Channel.HOTLINE,
):  # type: ignore[no-untyped-def]
    return app.receive(
        IntakeCommand(
            channel=channel,
            source_ref=f"M{next(_refs):06d}",
            received_at=T0 + dt.timedelta(hours=hours),
            content=content,
            address=address,
            caller_phone=phone,
            caller_name=name,
            appeal_type=appeal_type,
        )
    )


def classified_reason(app: SanshiApplication, case_id):  # type: ignore[no-untyped-def]
    events = list(app.repository.event_store.get(case_id))
    return next(e for e in events if type(e).__name__ == "Classified").reason


PERSONAL = [
    ("环城街道马场湖路和谐新村8栋低保申请没有结果", "中街街道马场湖路和谐新村8栋",
     "环城街道沈场路231号低保申请没有结果", "中街街道沈场路231号"),
    ("家里老人七十多岁没人照顾，想申请低保，一直没有结果", "云南路8号",
     "家里老人七十多岁没人照顾，想申请低保，一直没有结果", "云南路8号"),
    ("和楼上邻居因为漏水的事吵架，协商不成，希望调解", "茶亭路幸福里小区3栋",
     "和楼上邻居因为漏水的事吵架，协商不成，希望调解", "茶亭路幸福里小区3栋"),
    ("在长青路20号的工地干活，老板欠了三个月工资不给", "长青路20号",
     "在长青路20号的工地干活，老板欠了三个月工资不给", "长青路20号"),
    ("想咨询社保怎么转移到北海", "海城区贵州路",
     "想咨询社保怎么转移到北海", "海城区贵州路"),
]


@pytest.mark.parametrize(("first", "first_address", "second", "second_address"), PERSONAL)
def test_personal_matters_of_two_callers_are_never_merged(
    app: SanshiApplication, first: str, first_address: str, second: str, second_address: str
) -> None:
    # 低保, a neighbours' dispute, unpaid wages, a question: the same words from two residents
    # are two residents' matters, each to be handled; at most linked for the operator.
    a = receive(app, first, first_address, phone="13907790001", name="李建国")
    b = receive(app, second, second_address, phone="13907790002", name="王秀英", hours=1)
    assert b.merged_into is None
    assert b.status != Status.MERGED.value
    c = receive(app, second, second_address, phone="", name="", hours=2)  # no caller known
    assert c.merged_into is None
    assert a.case_id not in {b.merged_into, c.merged_into}


def test_the_same_callers_personal_matter_again_is_merged(app: SanshiApplication) -> None:
    a = receive(app, "想申请低保，家里老人七十多岁没人照顾，申请一直没有结果", "北海市海城区云南路",
                phone="13907790003", name="黄建国")
    b = receive(app, "我之前反映过申请低保的事，到现在还没有结果", "云南路",
                phone="139 0779 0003", name="黄建国", hours=5)
    assert b.merged_into == a.case_id
    # The same number with another name (a family's landline) is another caller.
    c = receive(app, "申请低保的事到现在还没有结果，家里老人没人照顾", "云南路",
                phone="13907790003", name="黄秀英", hours=6)
    assert c.merged_into is None


DOORS = [
    ("茶亭路28号", "茶亭路90号"),
    ("东街街道咸田107号", "东街街道咸田75号"),
    ("珠海路１０２号", "珠海路１２号"),
    ("解放路十五号", "解放路五十号"),
    ("广东路9号", "广东路9-1号"),
    ("茶亭路幸福里小区3栋", "茶亭路幸福里小区五栋"),
    ("茶亭路幸福里小区三号楼", "茶亭路幸福里小区4号楼"),
    ("茶亭路幸福里小区3-2-502", "茶亭路幸福里小区3-1-502"),
    ("茶亭路幸福里小区3栋2单元502室", "茶亭路幸福里小区3栋2单元602室"),
    ("中街街道马场湖路和谐新村8栋", "中街街道沈场路231号"),
]


@pytest.mark.parametrize(("first", "second"), DOORS)
def test_different_house_or_building_numbers_are_never_merged(
    app: SanshiApplication, first: str, second: str
) -> None:
    text = "{}楼上漏水，下雨天家里全湿了，物业一直不管"
    a = receive(app, text.format(first), first, phone="13907790010")
    b = receive(app, text.format(second), second, phone="13907790011", hours=1)
    assert b.merged_into is None
    assert a.case_id != b.merged_into


@pytest.mark.parametrize(("first", "second"), DOORS)
def test_the_keyword_router_never_merges_different_numbers_either(
    haicheng: SanshiConfig, first: str, second: str
) -> None:
    from bench.routing.merges import _facts

    router = KeywordRouter(haicheng)
    text = "{}门口的路灯不亮了，晚上很黑"
    a = _facts({"content": text.format(first), "address": first, "caller_phone": "13907790012"}, T0)
    decided = router.decide(a)
    router.case_opened(a, decided.category, decided.locality)
    b = _facts({"content": text.format(second), "address": second, "caller_phone": "13907790013"}, T0)
    assert router.decide(b).merge_into is None


@pytest.mark.parametrize(
    ("first", "first_address", "second", "second_address"),
    [
        ("茶亭路２８号门前路灯坏了", "茶亭路２８号", "茶亭路28號門口路燈不亮，晚上很危險", "茶亭路二十八號"),
        ("幸福里小区3栋电梯又坏了，物业一直不来修", "茶亭路幸福里小区3栋",
         "幸福里小区三号楼的电梯停运两天了，老人上不了楼", "茶亭路幸福里小区"),
        ("云南路和上海路交叉口的红绿灯坏了", "海城区云南路和上海路交叉口",
         "云南路与上海路路口信号灯不亮，车辆乱行", "云南路上海路路口"),
    ],
)
def test_a_true_repeat_at_the_same_place_is_still_merged(
    app: SanshiApplication, first: str, first_address: str, second: str, second_address: str
) -> None:
    a = receive(app, first, first_address, phone="13907790020", name="李先生")
    b = receive(app, second, second_address, phone="13907790021", name="王女士", hours=3,
                channel=Channel.APP)
    assert b.merged_into == a.case_id


def test_uncertain_place_is_suggested_and_dispatched_not_merged(app: SanshiApplication) -> None:
    text = "茶亭路的路灯坏了好几天了，晚上很黑"
    a = receive(app, text, "北海市海城区茶亭路", phone="13907790030")
    b = receive(app, text, "北海市海城区茶亭路", phone="13907790031", hours=1)
    assert b.merged_into is None
    assert b.status == Status.DISPATCHED.value
    why_b = classified_reason(app, b.case_id)
    assert [d["case_id"] for d in why_b["possible_duplicates"]] == [str(a.case_id)]
    why = why_b["duplicates"][0]
    assert why["held"] == "place_uncertain" and not why["merge"]


def test_same_door_different_problem_is_not_merged(haicheng: SanshiConfig) -> None:
    router = KeywordRouter(haicheng)
    from bench.routing.merges import _facts

    a = _facts({"content": "湖北路36号停水了", "address": "湖北路36号", "caller_phone": "13907790040"}, T0)
    decided = router.decide(a)
    router.case_opened(a, decided.category, decided.locality)
    b = _facts({"content": "湖北路36号停电了", "address": "湖北路36号", "caller_phone": "13907790041"}, T0)
    assert router.decide(b).merge_into is None


def test_places_in_every_spelling(haicheng: SanshiConfig) -> None:
    read = PlaceReader(haicheng).read
    same = [
        ("茶亭路28号", "茶亭路二十八號"),
        ("茶亭路２８号", "茶亭路28号门口"),
        ("幸福里小区3栋", "幸福里小区三号楼"),
        ("幸福里小区3栋", "幸福里小区三栋"),
        ("幸福里小区3-2-502", "幸福里小区3栋2单元502室"),
        ("幸福里小区3－2－502", "幸福里小区３栋２单元５０２室"),
    ]
    for a, b in same:
        assert compare(read(a), read(b)) == Match.EXACT, (a, b)
    different = [
        ("茶亭路28号", "茶亭路29号"),
        ("咸田107号", "咸田75号"),
        ("幸福里小区3栋", "幸福里小区三十栋"),
        ("幸福里小区3-2-502", "幸福里小区3-2-602"),
        ("马场湖路和谐新村8栋", "沈场路231号"),
        ("茶亭路幸福里小区", "贵州路幸福里小区"),
    ]
    for a, b in different:
        assert compare(read(a), read(b)) == Match.DIFFERENT, (a, b)
    # Only the road or the 小区: not the same place, whatever the words.
    assert compare(read("茶亭路"), read("茶亭路")) == Match.AREA
    assert compare(read("幸福里小区"), read("幸福里小区门口")) == Match.AREA


def test_labelled_pairs_merge_precision(learning: LearningRouter, haicheng: SanshiConfig) -> None:
    # The hand-written set of bench/routing/merges.py: no wrong merge on either router.
    pairs = read_pairs()
    for router in (learning, KeywordRouter(haicheng)):
        results = [judge_pair(router, p, T0 + dt.timedelta(days=i)) for i, p in enumerate(pairs)]
        score = score_pairs(results)
        assert score["wrong"] == [], score
    assert score_pairs(
        [judge_pair(learning, p, T0 + dt.timedelta(days=i)) for i, p in enumerate(pairs)]
    )["recall"] >= 0.8


# The location field (地址) holds one door; the text names another spot. The text's spot is what
# the case is about, so two reports with one location field and two spots in their texts are
# two cases (issue 16: the crowded stream merged each of these).
TEXT_PLACES = [
    # a crossing on the road vs a door on it
    ("湛江路和驿马路交叉口有个井盖塌下去了一块，小孩放学都从那里走", "北海市海城区湛江路78号",
     "湛江路78号门前人行道上的井盖松动了，小孩放学都从那里走", "北海市海城区湛江路78号"),
    # a 小区 named in the text vs the door of the location field
    ("海珠新村小区有人在绿化带上违建铁皮房，影响采光", "北海市海城区港口路150号",
     "港口路150号一楼住户私自扩建院子，属于违建，影响采光", "北海市海城区港口路150号"),
    # two 小区 named in the texts, one location field
    ("南珠广场小区物业乱收费，涨价也不公示", "北海市海城区广东路146号",
     "世纪名城小区物业乱收费，交了物业费却没人服务", "北海市海城区广东路146号"),
    # a landmark vs a 小区's gate
    ("港口路公交站门口摆摊的占了整条人行道", "北海市海城区港口路173号",
     "港口路滨海嘉园小区门口每天有小摊贩占道经营，行人只能走到马路上", "北海市海城区港口路173号"),
    # a numbered lamp at a door vs an unnumbered lamp at a 小区's gate
    ("贵州新村小区门口那段路，路灯一到晚上就不亮", "北海市海城区港口路78号",
     "港口路78号附近编号10-043的路灯一闪一闪的", "港口路公园附近"),
    # another door in the text than in the location field
    ("茶亭路90号门口的路灯不亮了，晚上很黑", "茶亭路28号",
     "茶亭路28号门口的路灯不亮了，晚上很黑", "茶亭路28号"),
]


@pytest.mark.parametrize(("first", "first_address", "second", "second_address"), TEXT_PLACES)
def test_the_place_the_text_names_is_compared_not_the_location_field(
    app: SanshiApplication, first: str, first_address: str, second: str, second_address: str
) -> None:
    a = receive(app, first, first_address, phone="13907790050", name="李建国")
    b = receive(app, second, second_address, phone="13907790051", name="王秀英", hours=2)
    assert b.merged_into is None
    assert b.status != Status.MERGED.value
    assert a.case_id != b.merged_into


def test_the_same_spot_in_the_text_is_merged_whatever_the_location_fields(
    app: SanshiApplication,
) -> None:
    a = receive(app, "最近港口路108号门口有个井盖松动了，车一压就哐当响", "北海市海城区港口路翠湖居小区",
                phone="13907790060", name="李建国")
    b = receive(app, "港口路108号门前人行道上的井盖松动了，车一压就哐当响，晚上吵得睡不着",
                "北海市海城区港口路108号", phone="13907790061", name="王秀英", hours=2)
    assert b.merged_into == a.case_id


def test_different_problems_at_one_address_are_not_merged(app: SanshiApplication) -> None:
    # 物业 is who should act, not what is wrong: service, fees and an illegal extension are
    # three problems even where each text names the 物业.
    a = receive(app, "广东路146号的物业服务太差，保安经常不在岗，物业费照收", "广东路146号",
                phone="13907790070", name="李建国")
    b = receive(app, "广东路146号一楼住户私自扩建院子，属于违建，物业管不了，说要找执法部门",
                "广东路146号", phone="13907790071", name="王秀英", hours=1)
    c = receive(app, "广东路146号的物业乱收费，涨价也不公示，物业管不了", "广东路146号",
                phone="13907790072", name="张伟", hours=2)
    assert b.merged_into is None and c.merged_into is None
    assert a.case_id not in {b.merged_into, c.merged_into}


def test_place_names_read_without_the_words_run_into_them(haicheng: SanshiConfig) -> None:
    read = PlaceReader(haicheng).read
    # Who said it and when, with no punctuation before the name, are not part of the name.
    assert read("", "商户称海珠新村小区有人违建").estate == "海珠新村"
    assert read("", "昨天晚上幸福里小区门口那段路，路灯不亮").estate == "幸福里小区"
    # A door after a configured locality is that locality's door, not "昨天晚上驿马".
    place = read("", "昨天晚上驿马96号附近编号32-058的路灯一闪一闪的")
    assert (place.road, place.number, place.tag) == ("驿马", "96", "32-058")
    # 驿马菜市场 is a landmark, not a 小区; 驿马东方丽景小区 is 东方丽景小区 in 驿马.
    assert read("驿马菜市场附近").estate is None
    assert read("", "驿马东方丽景小区门口的路灯坏了").estate == "东方丽景小区"
    # The location field adds the road to the text's 小区, not its door number.
    place = read("广东路146号", "南珠广场小区物业服务太差")
    assert (place.road, place.number, place.estate) == ("广东路", None, "南珠广场")
    # The text names the road only: the location field's door completes it.
    assert read("茶亭路28号", "茶亭路的路灯坏了").number == "28"
    # A 停车场 in 高德 is one of several: not a named landmark like 中山公园.
    assert compare(read("高德52号", "高德停车场门口摆摊的占了人行道"),
                   read("高德110号", "高德停车场旁边每天有小摊贩占道经营")) != Match.EXACT
    assert compare(read("北部湾中路", "中山公园门口的路灯坏了"),
                   read("北部湾中路", "中山公园门口的路灯不亮")) == Match.EXACT
    # A crossing and a door on one of its roads are not one spot.
    assert compare(read("湛江路78号", "湛江路和驿马路交叉口的井盖坏了"), read("湛江路78号")) != Match.EXACT


def test_a_crowded_stream_never_starts_two_incidents_of_one_problem_at_one_spot(
    haicheng: SanshiConfig,
) -> None:
    # At ~12 times the district's rate every door of a busy road has had a lamp out this month;
    # a resident reporting a lamp out there reports that lamp (one incident), which is how the
    # merge bench must count it.
    from adapters.simulator.stream import ESTATE_WIDE, SPOT_MEMORY, IntakeStream, _spots

    start = dt.datetime(2026, 9, 7, tzinfo=SHANGHAI)
    stream = IntakeStream(haicheng, 16, start, 12, scale=12.0, surge=None)
    began: dict[tuple[str, ...], list[tuple[dt.datetime, int]]] = {}
    seen: set[int] = set()
    for hour in stream.hours():
        for rec in stream.records_between(hour, hour + dt.timedelta(hours=1)):
            inc = rec.incident
            if inc is None or inc.number in seen:
                continue
            seen.add(inc.number)
            crossing = any("{road2}" in c for c in inc.problem.cores) or "交叉口" in inc.slots["spot"]
            for spot in _spots(inc.problem.key, inc.slots, crossing, inc.problem.key in ESTATE_WIDE):
                for at, other in began.get(spot, []):
                    assert rec.received_at - at > SPOT_MEMORY, (inc.number, other, spot)
                began.setdefault(spot, []).append((rec.received_at, inc.number))
    assert stream.saturated > 0


def test_an_outage_of_one_xiaoqu_is_one_case_a_lamp_at_its_gate_is_not(app: SanshiApplication) -> None:
    # For the water, power or gas of a whole 小区 the 小区 is the place the problem is about;
    # "the lamp at the 小区's gate" from two callers may be two lamps at two gates.
    a = receive(app, "幸福里小区从昨天开始停水，没有任何通知，做饭洗澡都成问题", "北海市海城区茶亭路幸福里小区",
                phone="13907790080", name="李建国")
    b = receive(app, "住户称幸福里小区从昨天开始停水，也不知道什么时候来水", "北海市海城区茶亭路28号",
                phone="13907790081", name="王秀英", hours=2)
    assert b.merged_into == a.case_id
    c = receive(app, "幸福里小区停电好几个小时了，冰箱里的东西都坏了", "北海市海城区茶亭路幸福里小区",
                phone="13907790082", name="张伟", hours=3)
    assert c.merged_into is None  # the same 小区, another outage
    d = receive(app, "金海湾小区从昨天开始停水，没有任何通知", "北海市海城区贵州路金海湾小区",
                phone="13907790083", name="刘芳", hours=3)
    assert d.merged_into is None  # another 小区
    # One name, no road to tell which 小区 of that name: suggested, not merged.
    g = receive(app, "住户称幸福里小区从昨天开始停水，没有任何通知", "北海市海城区茶亭路社区",
                phone="13907790086", name="刘芳", hours=3)
    assert g.merged_into is None
    assert str(a.case_id) in [d["case_id"] for d in classified_reason(app, g.case_id)["possible_duplicates"]]
    e = receive(app, "幸福里小区门口的路灯坏了好几天了", "北海市海城区茶亭路幸福里小区", phone="13907790084",
                hours=4)
    f = receive(app, "幸福里小区门口的路灯坏了好几天了，晚上很黑", "北海市海城区茶亭路幸福里小区",
                phone="13907790085", hours=5)
    assert f.merged_into is None and e.case_id != f.merged_into
