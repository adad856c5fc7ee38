"""管理设置 (engine.admin): the rules of admin changes to units, category leaves and routing
rules, what the overlay makes of them, and that a refused change writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from uuid import uuid4

import pytest

from adapters.bootstrap import Runtime, bootstrap
from engine.admin import AdminConflict, AdminNotFound, AdminOverlay, AdminService, effective_config
from engine.config import load_config
from engine.domain import InvalidCommand
from engine.routing.keyword import KeywordRouter
from engine.routing.port import CaseFacts
from engine.settings import Settings

AT = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
WHO = "admin:test"


@pytest.fixture()
def runtime() -> Iterator[Runtime]:
    config = load_config()
    rt = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}), config, KeywordRouter(config))
    try:
        yield rt
    finally:
        rt.close()


def _service(rt: Runtime) -> AdminService:
    assert rt.admin is not None
    return AdminService(rt.app, rt.admin)


def _facts(text: str) -> CaseFacts:
    return CaseFacts(
        case_id=uuid4(), channel="hotline", content=text, address="海城区北部湾中路",
        category_hint="", urgent=False, concern="", received_at=AT,
    )


def _refused(rt: Runtime, error: type[Exception], call: object, *args: object) -> str:
    """The command is refused with ``error`` and the admin log is unchanged."""
    assert rt.admin is not None
    before = rt.admin.version
    with pytest.raises(error) as raised:
        call(*args)  # type: ignore[operator]
    assert rt.admin.version == before
    assert _service(rt).current() is None or _service(rt).current().version == before  # type: ignore[union-attr]
    return str(raised.value)


def test_a_rule_is_checked_and_applies_before_the_file_rules(runtime: Runtime) -> None:
    svc = _service(runtime)
    text = "烧烤店油烟扰民严重，熏得没法开窗"
    assert runtime.router.decide(_facts(text)).unit == "huanjing"
    _refused(runtime, InvalidCommand, svc.add_rule, {"category": "environment", "keywords": [], "to": "chengguan"}, WHO)
    _refused(runtime, InvalidCommand, svc.add_rule, {"category": "nope", "keywords": ["油烟"], "to": "chengguan"}, WHO)
    _refused(runtime, InvalidCommand, svc.add_rule, {"category": "environment", "keywords": ["油烟"], "to": "chengguan", "priority": 0}, WHO)
    _refused(runtime, AdminNotFound, svc.add_rule, {"category": "environment", "keywords": ["油烟"], "to": "nobody"}, WHO)
    assert "中心" in _refused(runtime, AdminConflict, svc.add_rule, {"category": "environment", "keywords": ["油烟"], "to": "centre"}, WHO)

    low = svc.add_rule({"category": "environment", "keywords": ["油烟"], "to": "chengguan", "priority": 10}, WHO, AT)
    assert runtime.router.decide(_facts(text)).unit == "chengguan"
    # A higher priority applies first, whatever the order they were added in.
    high = svc.add_rule({"category": "environment", "keywords": ["烧烤"], "to": "shijian", "priority": 500}, WHO, AT)
    assert runtime.router.decide(_facts(text)).unit == "shijian"
    svc.change_rule(high, {"priority": 5}, WHO, AT)
    assert runtime.router.decide(_facts(text)).unit == "chengguan"
    _refused(runtime, InvalidCommand, svc.change_rule, high, {"priority": 5}, WHO)  # nothing changed
    _refused(runtime, AdminNotFound, svc.change_rule, "r99", {"priority": 5}, WHO)
    svc.remove_rule(low, WHO, AT)
    svc.remove_rule(high, WHO, AT)
    assert runtime.router.decide(_facts(text)).unit == "huanjing"
    _refused(runtime, AdminNotFound, svc.remove_rule, low, WHO)


def test_units_are_added_renamed_and_deactivated_under_the_rules(runtime: Runtime) -> None:
    svc = _service(runtime)
    assert "中心" in _refused(runtime, AdminConflict, svc.deactivate_unit, "centre", "", WHO)
    _refused(runtime, AdminNotFound, svc.deactivate_unit, "nobody", "", WHO)
    _refused(runtime, InvalidCommand, svc.add_unit, {"id": "Bad Id", "name": "某局", "kind": "department"}, WHO)
    _refused(runtime, AdminConflict, svc.add_unit, {"id": "chengguan", "name": "另一个局", "kind": "department"}, WHO)
    _refused(runtime, AdminConflict, svc.add_unit, {"id": "centre2", "name": "第二中心", "kind": "centre"}, WHO)
    _refused(runtime, AdminNotFound, svc.add_unit, {"id": "x1", "name": "某社区", "kind": "community", "parent": "nowhere"}, WHO)

    svc.add_unit({"id": "wenlv", "name": "区文化广电旅游体育局", "kind": "department"}, WHO, AT)
    assert runtime.config.unit("wenlv").name == "区文化广电旅游体育局"  # the process's config, now
    svc.rename_unit("wenlv", "区文旅局", WHO, AT)
    assert runtime.config.unit("wenlv").name == "区文旅局"
    rule = svc.add_rule({"category": "market", "keywords": ["景区"], "to": "wenlv"}, WHO, AT)
    assert runtime.router.decide(_facts("景区商店价格乱收费")).unit == "wenlv"
    assert "r1" in _refused(runtime, AdminConflict, svc.deactivate_unit, "wenlv", "", WHO)
    svc.remove_rule(rule, WHO, AT)
    svc.deactivate_unit("wenlv", "机构改革", WHO, AT)
    assert not runtime.config.unit("wenlv").active
    _refused(runtime, AdminConflict, svc.deactivate_unit, "wenlv", "", WHO)
    _refused(runtime, AdminConflict, svc.add_rule, {"category": "market", "keywords": ["景区"], "to": "wenlv"}, WHO)
    # A file unit deactivated: the file's rule to it is skipped.
    svc.deactivate_unit("huanjing", "职责调整", WHO, AT)
    assert runtime.router.decide(_facts("烧烤店油烟扰民严重")).unit != "huanjing"


def test_category_leaves_are_added_relabelled_and_retired(runtime: Runtime) -> None:
    svc = _service(runtime)
    _refused(runtime, AdminNotFound, svc.add_category, {"parent": "nowhere", "code": "x", "name": "某类"}, WHO)
    _refused(runtime, InvalidCommand, svc.add_category, {"parent": "environment", "code": "Bad-Code", "name": "某类"}, WHO)
    _refused(runtime, InvalidCommand, svc.add_category, {"parent": "environment", "code": "x", "name": ""}, WHO)
    _refused(runtime, AdminConflict, svc.add_category, {"parent": "municipal.streetlight.out", "code": "x", "name": "四级"}, WHO)
    _refused(runtime, AdminConflict, svc.add_category, {"parent": "municipal", "code": "streetlight", "name": "重复"}, WHO)
    _refused(runtime, InvalidCommand, svc.add_category, {"parent": "environment", "code": "x", "name": "某类", "handle_workdays": 0}, WHO)

    code = svc.add_category(
        {"parent": "environment", "code": "smoke", "name": "餐饮油烟", "keywords": ["油烟", "烧烤"],
         "unit": "chengguan", "handle_workdays": 3},
        WHO, AT,
    )
    assert code == "environment.smoke"
    config = runtime.config
    assert config.item_name(code) == "餐饮油烟"
    assert config.deadline_policy("environment", code).normal.handle_workdays == 3
    decision = runtime.router.decide(_facts("楼下烧烤店油烟太大"))
    assert (decision.leaf, decision.unit) == ("environment.smoke", "chengguan")
    svc.relabel_category(code, "餐饮油烟扰民", WHO, AT)
    assert config.item_name(code) == "餐饮油烟扰民"
    assert "一级" in _refused(runtime, AdminConflict, svc.retire_category, "environment", "合并", WHO)
    _refused(runtime, InvalidCommand, svc.retire_category, code, "", WHO)
    svc.retire_category(code, "并入大气污染", WHO, AT)
    assert config.dispatch_entry(code) is None
    with pytest.raises(KeyError):
        config.catalogue_item(code)
    _refused(runtime, AdminNotFound, svc.relabel_category, code, "再改", WHO)
    _refused(runtime, AdminConflict, svc.add_category, {"parent": "environment", "code": "smoke", "name": "重用"}, WHO)
    # A file item retired takes its children with it.
    svc.retire_category("municipal.streetlight", "改由路灯所管理", WHO, AT)
    with pytest.raises(KeyError):
        config.catalogue_item("municipal.streetlight.out")


def test_history_and_the_overlay_are_a_fold_of_the_events(runtime: Runtime) -> None:
    svc = _service(runtime)
    svc.add_unit({"id": "wenlv", "name": "区文旅局", "kind": "department"}, WHO, AT)
    rule = svc.add_rule({"category": "other", "keywords": ["景区"], "to": "wenlv", "priority": 150}, WHO, AT)
    svc.change_rule(rule, {"keywords": ["景区", "门票"]}, "admin:second", AT + dt.timedelta(minutes=5))
    history = svc.history()
    assert [h["event"] for h in history] == ["RoutingRuleChanged", "RoutingRuleAdded", "UnitAdded"]
    assert history[0] == {
        "version": 4, "event": "RoutingRuleChanged", "target": rule,
        "change": {"keywords": [["景区"], ["景区", "门票"]]},
        "principal": "admin:second", "at": AT + dt.timedelta(minutes=5),
    }
    # A fresh process over the same log (its overlay starts from the file) gets the same
    # config as the one that made the changes, and recomputing from the file changes nothing.
    assert runtime.admin is not None
    fresh = AdminOverlay(runtime.app, load_config(), interval=0)
    assert fresh.refresh() is True
    for name in ("units", "catalogue", "dispatch_catalogue", "routing"):
        assert getattr(fresh.live, name) == getattr(runtime.config, name)
        assert getattr(effective_config(runtime.admin.base, svc.current()), name) == getattr(runtime.config, name)
    assert fresh.refresh() is False  # nothing new


def test_two_admins_at_once_the_second_is_refused_and_other_processes_poll(runtime: Runtime) -> None:
    svc = _service(runtime)
    svc.add_unit({"id": "wenlv", "name": "区文旅局", "kind": "department"}, WHO, AT)
    # Both read the same state; the first saves, the second's save is refused (409).
    stale = svc.current()
    assert stale is not None
    svc.rename_unit("wenlv", "区文化和旅游局", WHO, AT)
    stale.unit_renamed(unit="wenlv", change={"name": ["区文旅局", "别的名字"]}, principal=WHO, at=AT)
    with pytest.raises(AdminConflict, match="其他管理员"):
        svc._save(stale)
    assert runtime.config.unit("wenlv").name == "区文化和旅游局"

    # Another process polls the log at most every ``interval`` seconds (its own clock).
    now = [100.0]
    other = AdminOverlay(runtime.app, load_config(), interval=2.0, clock=lambda: now[0])
    assert other.refresh() is True and other.live.unit("wenlv").name == "区文化和旅游局"
    svc.rename_unit("wenlv", "区文旅体局", WHO, AT)
    now[0] += 1.0
    assert other.refresh() is False  # too soon: the last overlay stands
    now[0] += 1.5
    assert other.refresh() is True and other.live.unit("wenlv").name == "区文旅体局"
