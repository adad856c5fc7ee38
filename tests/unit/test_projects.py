"""实事项目, the pure domain (engine/projects.py): what a plan must say, and what a project refuses
(the HTTP test, tests/integration/test_api_projects.py, runs the whole story)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.domain import InvalidCommand, ProjectRefused
from engine.projects import NotProjectOwner, Project, new_project

OPENED = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def plan(**changes: Any) -> Project:
    args: dict[str, Any] = {
        "title": "茶亭路路灯整体改造", "owner_unit": "chatinglu", "deadline": dt.date(2026, 4, 30),
        "budget": "区财政 80 万元", "milestones": [{"title": "勘察", "due": "2026-03-25"}, {"title": "施工", "due": dt.date(2026, 4, 20)}],
        "opened_on": OPENED.date(), "principal": "leader:t", "at": OPENED,
    }
    args.update(changes)
    return new_project(**args)


@pytest.mark.parametrize(("changes", "message"), [
    ({"title": " "}, "须填写名称"),
    ({"deadline": dt.date(2026, 3, 15)}, "不能早于立项日期"),
    ({"milestones": []}, "1 至 20 个节点"),
    ({"milestones": [{"title": "施工", "due": "2026-05-01"}]}, "晚于项目完成时限"),
    ({"milestones": [{"title": "", "due": "2026-04-01"}]}, "第 1 个节点须填写名称"),
])
def test_a_plan_the_domain_refuses_says_why_in_chinese(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        plan(**changes)


def test_milestones_and_completion_are_on_time_by_the_shanghai_day() -> None:
    project = plan()
    # 23:30 UTC on 24 March is 07:30 on 25 March in Shanghai: the due day itself, on time.
    late_evening_utc = dt.datetime(2026, 3, 24, 23, 30, tzinfo=dt.UTC)
    project.report_progress(unit="chatinglu", milestone=1, note="勘察完成", done=True, principal="u", at=late_evening_utc)
    assert project.milestones[0]["on_time"] is True
    with pytest.raises(ProjectRefused, match="已完成"):
        project.report_progress(unit="chatinglu", milestone=1, note="再报", done=True, principal="u", at=late_evening_utc)
    with pytest.raises(NotProjectOwner, match="牵头实施"):
        project.report_progress(unit="chengguan", milestone=2, note="x", done=False, principal="u", at=OPENED)
    with pytest.raises(InvalidCommand, match="没有第 3 个节点"):
        project.report_progress(unit="chatinglu", milestone=3, note="x", done=False, principal="u", at=OPENED)
    # Completed the day after the deadline (Shanghai): late.
    project.complete(result="已全部更换", unit=None, principal="operator:t", at=dt.datetime(2026, 4, 30, 16, 30, tzinfo=dt.UTC))
    assert project.on_time is False and project.completed
    with pytest.raises(ProjectRefused, match="已完成"):
        project.link_cases(case_ids=[], principal="leader:t", at=OPENED)


def test_the_same_project_at_the_same_instant_has_the_same_id() -> None:
    assert plan().id == plan().id != plan(title="另一个项目").id
