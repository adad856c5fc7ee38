"""实事项目 (practical projects): the centre or a leader turns many cases into one project.

A project has a title, an owner unit (牵头单位) that carries it out, a deadline, a budget line
(text, as the budget document words it) and a plan of milestones (each a title and a due date).
Cases are linked to it, many at once; a case belongs to at most one project (the case records
its project: ``Case.link_to_project``). The owner unit reports progress against a milestone;
when the project is completed with a result, each linked case still open is resolved with that
result as the owner unit (``Case.resolve_by_project``: a ``Resolved`` like any other), so the
residents are called back and rate it through the one 回访 flow (docs/lifecycle.md).

Pure domain code, as ``engine.domain``: the application service (``engine.application``) loads
the project and its cases, asks them to act and saves them in one transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from engine.contract import BUSINESS_TO
from engine.domain import DomainError, InvalidCommand, NotAssignedUnit, ProjectRefused, Status
from engine.vocabulary import Action


class NotProjectOwner(NotAssignedUnit):
    """Only the owner unit (牵头单位) reports on its project: 403."""

    def __init__(self, unit: str, owner: str) -> None:
        DomainError.__init__(self, f"该实事项目由「{owner}」牵头实施，单位「{unit}」无权操作")
        self.unit = unit
        self.assigned = owner


# A due day ends at midnight in the district's time (as engine.deadlines has it); read here
# without the calendar package, the domain's clocks being handed in.
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_MILESTONES = 20
MAX_LINK_AT_ONCE = 500  # cases linked in one command (one transaction)


def _day_of(at: datetime) -> date:
    """The Shanghai day of an instant (a due day ends at midnight there)."""
    return at.astimezone(SHANGHAI).date()


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


# A project's id is uuid5(PROJECT_NAMESPACE, title|owner|opening instant): replaying a
# simulation gives the same ids (the demo is deterministic), and the same project sent twice at
# the same instant lands once.
PROJECT_NAMESPACE = UUID("7c1d2e3f-4a5b-5c6d-8e9f-0a1b2c3d4e5f")


class Project(Aggregate):
    """实事项目: a plan, its linked cases, its progress and its result."""

    @staticmethod
    def create_id(title: str, owner_unit: str, at: datetime, **_: Any) -> UUID:
        return uuid5(PROJECT_NAMESPACE, f"project:{title}|{owner_unit}|{at.isoformat()}")

    @event("ProjectOpened")
    def __init__(
        self,
        *,
        title: str,
        owner_unit: str,
        deadline: str,
        budget: str,
        milestones: list[dict[str, Any]],
        principal: str,
        at: datetime,
    ) -> None:
        # Days travel as ISO text (``2026-12-31``): the log's JSON has no date type.
        # ``milestones``: [{"number": 1, "title": "…", "due": "2026-12-01"}, ...] in order.
        self.title = title
        self.owner_unit = owner_unit
        self.deadline = _day(deadline)
        self.budget = budget
        self.milestones = [
            {"number": int(m["number"]), "title": str(m["title"]), "due": _day(m["due"]),
             "done_at": None, "on_time": None}
            for m in milestones
        ]
        self.opened_by = principal
        self.opened_at = at
        self.case_ids: list[UUID] = []
        self.progress: list[dict[str, Any]] = []  # every report: milestone, note, done, unit, by, at
        self.completed_at: datetime | None = None
        self.result: str | None = None
        self.on_time: bool | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    def milestone(self, number: int) -> dict[str, Any]:
        for m in self.milestones:
            if m["number"] == number:
                return m
        raise InvalidCommand(f"实事项目没有第 {number} 个节点")

    def _require_open(self, action: Action) -> None:
        if self.completed:
            raise ProjectRefused(Status.CLOSED, f"实事项目「{self.title}」已完成，不能再修改", action)

    # ---- linking ----------------------------------------------------------------------------

    def link_cases(self, *, case_ids: list[UUID], principal: str, at: datetime) -> None:
        """Record cases newly taken in (each case records its project on its own stream)."""
        self._require_open(Action.LINK_PROJECT)
        new = [c for c in dict.fromkeys(case_ids) if c not in self.case_ids]
        if new:
            self._cases_linked(case_ids=[str(c) for c in new], principal=principal, at=at)

    @event("ProjectCasesLinked")
    def _cases_linked(self, *, case_ids: list[str], principal: str, at: datetime) -> None:
        self.case_ids.extend(UUID(c) for c in case_ids)

    # ---- progress ---------------------------------------------------------------------------

    def report_progress(
        self, *, unit: str, milestone: int, note: str, done: bool, principal: str, at: datetime
    ) -> None:
        """The owner unit reports on a milestone (进度); ``done``: the milestone is reached
        (on time when reached on or before its due day, Shanghai time as ``at`` carries it)."""
        self._require_open(Action.LINK_PROJECT)
        if unit != self.owner_unit:
            raise NotProjectOwner(unit, self.owner_unit)
        m = self.milestone(milestone)
        if not note.strip():
            raise InvalidCommand("进度须填写说明")
        if done and m["done_at"] is not None:
            raise ProjectRefused(Status.CLAIMED, f"节点「{m['title']}」已完成", Action.LINK_PROJECT)
        self._progress_reported(
            unit=unit, milestone=milestone, note=note, done=done,
            on_time=(_day_of(at) <= m["due"]) if done else None, principal=principal, at=at,
        )

    @event("ProjectProgressReported")
    def _progress_reported(
        self, *, unit: str, milestone: int, note: str, done: bool, on_time: bool | None,
        principal: str, at: datetime,
    ) -> None:
        self.progress.append(
            {"milestone": milestone, "note": note, "done": done, "on_time": on_time,
             "unit": unit, "by": principal, "at": at}
        )
        if done:
            for m in self.milestones:
                if m["number"] == milestone:
                    m["done_at"] = at
                    m["on_time"] = on_time

    # ---- completion -------------------------------------------------------------------------

    def complete(self, *, result: str, unit: str | None, principal: str, at: datetime) -> None:
        """完成, by the owner unit or the centre (``unit`` None): on time when completed on or
        before the deadline day. The application service then resolves the linked cases with
        ``result`` (``Case.resolve_by_project``)."""
        self._require_open(Action.PROJECT_RESOLVE)
        if unit is not None and unit != self.owner_unit:
            raise NotProjectOwner(unit, self.owner_unit)
        if not result.strip():
            raise InvalidCommand("项目完成必须填写办理结果")
        self._completed(result=result, on_time=_day_of(at) <= self.deadline, principal=principal, at=at)

    @event("ProjectCompleted")
    def _completed(self, *, result: str, on_time: bool, principal: str, at: datetime) -> None:
        self.completed_at = at
        self.result = result
        self.on_time = on_time


PROJECT_EVENTS = frozenset(
    {"ProjectOpened", "ProjectCasesLinked", "ProjectProgressReported", "ProjectCompleted"}
)


def new_project(
    *,
    title: str,
    owner_unit: str,
    deadline: date,
    budget: str,
    milestones: list[dict[str, Any]],
    opened_on: date,
    principal: str,
    at: datetime,
) -> Project:
    """A project, checked: a title, a plan of 1–20 milestones each due by the deadline, a
    deadline not before the day it is opened."""
    if not title.strip():
        raise InvalidCommand("实事项目须填写名称")
    if deadline < opened_on:
        raise InvalidCommand("项目完成时限不能早于立项日期")
    if deadline >= BUSINESS_TO.date():  # any door, not only the API's typed body
        raise InvalidCommand("项目完成时限须在 2099-12-31 之前")
    if not 1 <= len(milestones) <= MAX_MILESTONES:
        raise InvalidCommand(f"实施计划须有 1 至 {MAX_MILESTONES} 个节点")
    plan = []
    for n, m in enumerate(milestones, start=1):
        if not str(m.get("title", "")).strip():
            raise InvalidCommand(f"第 {n} 个节点须填写名称")
        due = _day(m["due"])
        if due > deadline:
            raise InvalidCommand(f"节点「{m['title']}」的完成日期晚于项目完成时限")
        plan.append({"number": n, "title": str(m["title"]), "due": due.isoformat()})
    return Project(
        title=title, owner_unit=owner_unit, deadline=deadline.isoformat(), budget=budget,
        milestones=plan, principal=principal, at=at,
    )
