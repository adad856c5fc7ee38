"""The catalogue centres use: a category tree below the 14 top-level codes and a dispatch
catalogue (派单目录) in the district config; the router predicts the path, top level first, the
most specific catalogue item chooses the unit and its deadlines, and explain shows it all."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.application import SanshiApplication
from engine.config import ConfigError, load_config, parse_config
from engine.deadlines import SHANGHAI
from engine.intake import IntakeCommand
from engine.routing.keyword import KeywordRouter
from engine.routing.learning import LearningRouter

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)  # a Monday
_refs = itertools.count(1)

BASE = """\
district: {id: t, name: 测试区}
units:
- {id: centre, name: 测试中心, kind: centre}
- {id: zhujian, name: 住建局, kind: department, categories: [municipal]}
- {id: ludeng, name: 路灯所, kind: department}
- {id: jie, name: 一街道, kind: street, areas: [一路]}
- {id: she, name: 一社区, kind: community, parent: jie, areas: [一路]}
routing:
- {category: municipal, to: zhujian}
"""

TREE = """\
catalogue:
  municipal:
  - code: municipal.streetlight
    name: 路灯
    keywords: [路灯]
    items:
    - {code: municipal.streetlight.out, name: 路灯不亮, keywords: [不亮, 坏了]}
  - {code: municipal.manhole, name: 井盖, keywords: [井盖]}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "d.yaml")
    return exc.value.problems


# ---- configuration ------------------------------------------------------------------------------


def test_the_demo_catalogue_has_many_leaves_under_the_14_top_levels() -> None:
    for config in (load_config(), load_config(DATA / "second_district.yaml")):
        leaves = [c for c, item in config._items.items() if not item.items]
        assert len(leaves) >= 60
        tops = {c.split(".")[0] for c in leaves}
        assert set(config.category_codes()) - {"veterans"} == tops


def test_a_config_without_a_tree_still_loads() -> None:
    config = parse_config(BASE)
    assert not config.has_catalogue() and config.dispatch_catalogue == []


def test_a_leaf_under_an_unknown_top_level_is_reported_at_its_line() -> None:
    problems = _problems(BASE + "catalogue:\n  municipl:\n  - {code: municipl.lamp, name: 灯}\n")
    assert len(problems) == 1
    assert problems[0].startswith("d.yaml:12: catalogue.municipl:")  # the leaf's line
    assert "一级类别「municipl」未定义" in problems[0]


def test_duplicate_and_misplaced_codes_are_reported_at_their_lines() -> None:
    text = BASE + TREE + "  - {code: municipal.manhole, name: 又一个井盖}\n  - {code: housing.lift, name: 电梯}\n"
    problems = _problems(text)
    assert any(p.startswith("d.yaml:18:") and "目录代码「municipal.manhole」重复" in p for p in problems)
    assert any(p.startswith("d.yaml:19:") and "须以「municipal.」开头" in p for p in problems)


def test_dispatch_catalogue_with_an_unknown_unit_or_item_is_reported() -> None:
    text = BASE + TREE + (
        "dispatch_catalogue:\n"
        "- {item: municipal.streetlight, to: lamp_office}\n"
        "- {item: municipal.bridge, to: zhujian}\n"
    )
    problems = _problems(text)
    assert any(p.startswith("d.yaml:19: dispatch_catalogue.0.to:") and "「lamp_office」" in p for p in problems)
    assert any(p.startswith("d.yaml:20: dispatch_catalogue.1.item:") and "「municipal.bridge」" in p for p in problems)


def test_deadlines_come_from_the_most_specific_catalogue_item() -> None:
    config = parse_config(
        BASE
        + TREE
        + "dispatch_catalogue:\n"
        "- {item: municipal, deadlines: {normal: {claim_workdays: 1, handle_workdays: 7}}}\n"
        "- {item: municipal.streetlight.out, deadlines: {normal: {claim_workdays: 1, handle_workdays: 2}}}\n"
    )
    assert config.deadline_policy("municipal", "municipal.streetlight.out").normal.handle_workdays == 2
    assert config.deadline_policy("municipal", "municipal.manhole").normal.handle_workdays == 7
    assert config.deadline_policy("municipal", None).normal.handle_workdays == 7


# ---- decisions ----------------------------------------------------------------------------------


def _receive(app: SanshiApplication, content: str, address: str) -> Any:
    return app.receive(
        IntakeCommand(
            channel="hotline",
            source_ref=f"C{next(_refs):05d}",
            received_at=T0,
            content=content,
            address=address,
        )
    )


def _classified(app: SanshiApplication, case_id: Any) -> Any:
    return next(e for e in app.events.get(case_id) if type(e).__name__ == "Classified")


@pytest.fixture(scope="module")
def demo_router() -> LearningRouter:
    return LearningRouter(load_config()).wait_ready()


@pytest.fixture
def demo(demo_router: LearningRouter) -> Iterator[SanshiApplication]:
    # A fresh duplicate index per test: the module's router keeps its open cases.
    router = LearningRouter(demo_router.config, bundle=demo_router.bundle)
    app = SanshiApplication(router.config, router, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


def test_the_decision_carries_the_path_top_level_first(demo: SanshiApplication) -> None:
    r = _receive(demo, "楼上邻居家卫生间漏水，渗到我家天花板，协商几次都吵起来", "北海市海城区贵州路12号")
    path = _classified(demo, r.case_id).reason["path"]
    assert [s["level"] for s in path] == [1, 2, 3]
    assert [s["code"] for s in path] == ["dispute", "dispute.neighbour", "dispute.neighbour.leak"]
    assert all(0 < s["confidence"] <= 1 for s in path)
    assert "漏水" in path[2]["why"]["keywords"]
    case = demo.get_case(r.case_id)
    assert case.leaf == "dispute.neighbour.leak"
    assert r.unit == "dongjie-sfs"  # no catalogue entry: the rule


def test_the_catalogue_item_overrides_the_rule_for_its_leaf(demo: SanshiApplication) -> None:
    # The rule sends transport to the transport bureau; the catalogue sends signal lights to the police.
    lights = _receive(demo, "四川路路口的红绿灯坏了好几天，车辆乱成一团", "北海市海城区四川路15号")
    assert demo.get_case(lights.case_id).leaf == "transport.signal"
    assert lights.unit == "gongan"
    why = _classified(demo, lights.case_id).reason["unit"]
    assert why["rule"] == "catalogue" and why["item"] == "transport.signal"
    bus = _receive(demo, "12路公交车司机开车急刹，态度恶劣，经常甩站", "北海市海城区四川路15号")
    assert demo.get_case(bus.case_id).category == "transport"
    assert bus.unit == "jiaotong"


def test_a_unit_kind_in_the_catalogue_is_the_one_at_the_place(demo: SanshiApplication) -> None:
    r = _receive(demo, "我家申请低保材料交上去半年了，一直没有结果", "北海市海城区贵州路12号")
    assert demo.get_case(r.case_id).leaf == "civil_affairs.dibao"
    assert r.unit == "dongjie"  # to: street → the street of 贵州路


def test_the_catalogue_items_deadlines_set_the_clocks(demo: SanshiApplication) -> None:
    r = _receive(demo, "公司拖欠我们三个月工资一直不发，老板躲着不见", "北海市海城区贵州路12号")
    case = demo.get_case(r.case_id)
    assert case.leaf == "labour.wages" and r.unit == "renshe" and not case.urgent
    assert case.dispatch is not None
    # labour.wages: 3 working days (the default is 5): Mon 21 Sep + 3 → end of Thu 24 Sep.
    assert case.dispatch.handle_deadline == dt.datetime(2026, 9, 24, 23, 59, 59, tzinfo=SHANGHAI)


def test_a_returned_case_goes_by_the_next_catalogue_item_then_the_rule() -> None:
    base = BASE.replace("kind: department}", "kind: department, categories: [municipal.streetlight]}")
    # What the router proposes after a return: a district that re-routes returns by itself.
    config = parse_config(
        base
        + TREE
        + "dispatch_catalogue:\n- {item: municipal.streetlight, to: department}\n"
        + "returns: {auto_reroute: true}\n"
    )
    app = SanshiApplication(config, KeywordRouter(config), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    r = _receive(app, "一路3号门口路灯坏了，晚上很黑", "一路3号")
    case = app.get_case(r.case_id)
    assert case.leaf == "municipal.streetlight.out"
    assert r.unit == "ludeng"  # to: department → the department listing municipal.streetlight
    case = app.return_case(r.case_id, "ludeng", "不归我们", "unit:ludeng", at=T0)
    assert case.assigned_unit == "zhujian"  # the rule, once the catalogue's unit returned it


@pytest.mark.parametrize(("category", "leaf"), [("municipal", "municipal.streetlight.out"), ("city_management", None)])
def test_an_operator_recategorisation_keeps_only_a_leaf_of_the_new_category(category: str, leaf: str | None) -> None:
    config = parse_config(BASE + TREE + "router: {confidence_threshold: 1.0}\n")
    app = SanshiApplication(config, KeywordRouter(config), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    # Two categories' keywords: below the threshold, the case waits for the operator.
    r = _receive(app, "一路3号路灯坏了，旁边垃圾也没人清", "一路3号")
    assert r.unit is None and app.get_case(r.case_id).leaf == "municipal.streetlight.out"
    case = app.reclassify(r.case_id, category, "operator:t", at=T0)
    assert case.category == category and case.leaf == leaf


# ---- explain ------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'catalogue.db'}"
    monkeypatch.setenv("SANSHI_DB", url)
    monkeypatch.delenv("SANSHI_KAFKA", raising=False)
    monkeypatch.delenv("SANSHI_CONFIG", raising=False)
    return url


def test_explain_shows_the_path_and_the_catalogue_item_that_chose_the_unit(db: str) -> None:
    from adapters.bootstrap import bootstrap
    from adapters.cli import main
    from engine.settings import Settings

    runtime = bootstrap(Settings.from_env({"SANSHI_DB": db}))
    try:
        r = _receive(runtime.app, "四川路路口的红绿灯坏了好几天，车辆乱成一团", "北海市海城区四川路15号")
    finally:
        runtime.close()
    out = CliRunner().invoke(main, ["explain", str(r.case_id)])
    assert out.exit_code == 0, out.output
    assert "分类路径：交通运输" in out.output and "交通信号灯" in out.output
    assert "一级 交通运输（transport）置信度" in out.output
    assert "二级 交通信号灯（transport.signal）置信度" in out.output and "关键词「红绿灯」" in out.output
    assert "派单目录事项 交通运输 › 交通信号灯（transport.signal）" in out.output
    assert "北海市公安局海城分局" in out.output
