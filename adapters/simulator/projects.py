"""实事项目 in the simulated district: the day after the storm (or two thirds into a period with
none), the centre turns the largest cluster of similar open cases (one kind of problem in one
street: the typhoon's fallen trees, say) into one practical project carried out by the unit
most of them are with; the owner unit reports progress on its plan and completes it a few days
later, which resolves every linked case; the follow-up desk then calls each resident back on the
simulation's agenda (the one 回访 flow). Every write goes through the application service."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any
from uuid import UUID

from adapters.simulator.clock import shift_time_after
from adapters.simulator.principals import OPERATOR, unit_principal
from engine.domain import LEGACY_CENTRE, OPEN_STATUSES, Case, DomainError

if TYPE_CHECKING:
    from adapters.simulator.run import Simulation

MIN_CLUSTER = 4
MIN_WORK = dt.timedelta(hours=12)  # a shorter period gets no project
MAX_CASES = 30
# What the storm's (and the commonest) clusters are called in a project's title.
PROBLEM_NAMES = {
    "fallen_tree": "倒伏树木", "flooding": "积水", "power_outage": "停电", "water_outage": "停水",
    "streetlight": "路灯", "drain": "排水", "road": "道路破损", "manhole": "井盖",
}


class ProjectActor:
    """Opens, advances and completes the period's one project on the simulated clock."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        start, end = sim.start, sim.end
        # The evening of the storm (its reports are in), else two thirds into the period.
        base = sim.surge.day if sim.surge else (start + (end - start) * 2 / 3).date()
        self.open_at = dt.datetime.combine(base, dt.time(18, 0), tzinfo=start.tzinfo)
        # Four days' work, or less in a short period: the residents get a day and more to be
        # called back before the end.
        self.complete_at = min(
            dt.datetime.combine(base + dt.timedelta(days=4), dt.time(16, 0), tzinfo=start.tzinfo),
            end - dt.timedelta(hours=30),
        )
        self.progress_at = self.open_at + (self.complete_at - self.open_at) / 3
        self.project_id: UUID | None = None
        self.owner: str | None = None
        self.steps: list[str] = []

    def hour(self, t: dt.datetime) -> None:
        """What falls due in the hour starting at ``t``."""
        if self.complete_at - self.open_at < MIN_WORK or self.open_at < self.sim.start:
            return  # a period too short for a project
        end = t + dt.timedelta(hours=1)
        try:
            if self.project_id is None and t <= self.open_at < end:
                self._open()
            elif self.project_id is not None and "progress" not in self.steps and t <= self.progress_at < end:
                self._progress()
            elif self.project_id is not None and "completed" not in self.steps and t <= self.complete_at < end:
                self._complete()
        except DomainError as exc:  # the engine refused: note it, the demo goes on
            self.sim.report.refused[f"project:{exc.code}"] += 1

    # ---- the steps -----------------------------------------------------------------------------

    def _cluster(self) -> tuple[str, str, list[Case]]:
        sim = self.sim
        since = sim.surge.day if sim.surge else sim.start.date()
        groups: dict[tuple[str, str], list[UUID]] = defaultdict(list)
        for cid, case in sim._latest.items():
            book = sim.books.get(cid)
            if book is None or case.status not in OPEN_STATUSES or not case.street:
                continue
            if case.received_at.date() < since:
                continue
            groups[(book.incident.problem.key, case.street)].append(cid)
        for (problem, street), ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            found = sim.app.get_cases(ids)
            fresh = [c for c in found.values() if c.status in OPEN_STATUSES and c.project is None]
            if len(fresh) >= MIN_CLUSTER:
                fresh.sort(key=lambda c: (c.received_at, str(c.id)))
                return problem, street, fresh[:MAX_CASES]
        return "", "", []

    def _owner(self, cases: list[Case], street: str) -> str:
        cfg = self.sim.config
        units = Counter(c.assigned_unit for c in cases if c.assigned_unit)
        for unit, _ in units.most_common():
            if cfg.has_unit(unit) and unit not in (cfg.centre.id, LEGACY_CENTRE):
                return unit
        return street

    def _open(self) -> None:
        problem, street, cases = self._cluster()
        if not cases:
            return
        cfg = self.sim.config
        owner = self._owner(cases, street)
        place = cfg.unit(street).name if cfg.has_unit(street) else street
        what = PROBLEM_NAMES.get(problem, cfg.category(cases[0].category).name if cases[0].category else "集中诉求")
        day = self.open_at.date()
        project = self.sim.app.open_project(
            f"{place}{what}集中整治",
            owner,
            self.complete_at.date() + dt.timedelta(days=1),
            "区财政民生实事专项（演示）",
            [
                {"title": "现场排查、制定方案", "due": self.progress_at.date()},
                {"title": "集中整治完成", "due": self.complete_at.date()},
            ],
            OPERATOR,
            case_ids=[c.id for c in cases],
            at=self.open_at,
        )
        assert day <= project.deadline
        self.project_id, self.owner = project.id, owner
        self.steps.append("opened")
        self.sim.report.project = {"title": project.title, "owner": owner, "cases": len(cases)}

    def _progress(self) -> None:
        assert self.project_id is not None and self.owner is not None
        self.sim.app.report_project_progress(
            self.project_id, self.owner, 1, "已完成现场排查，整治方案已报批", True,
            unit_principal(self.owner), at=self.progress_at,
        )
        self.steps.append("progress")

    def _complete(self) -> None:
        assert self.project_id is not None and self.owner is not None
        at = self.complete_at - dt.timedelta(hours=2)
        self.sim.app.report_project_progress(
            self.project_id, self.owner, 2, "集中整治全部完成", True, unit_principal(self.owner), at=at,
        )
        _, resolved = self.sim.app.complete_project(
            self.project_id, "已集中整治完毕，现场恢复正常，感谢您的反映。",
            unit_principal(self.owner), unit=self.owner, at=self.complete_at,
        )
        self.steps.append("completed")
        self.sim.report.actions["project_resolve"] += len(resolved)  # each a Resolved in the log
        # The follow-up desk calls each resident back within the next day's shift (sooner
        # than an ordinary case: the project's residents are called as one batch).
        sim = self.sim
        for case in resolved:
            book = sim.books.get(case.id)
            if book is None:
                continue
            book.token += 1  # what the unit had planned for the case is stale now
            sim._latest[case.id] = case
            sim._schedule(shift_time_after(self.complete_at, sim.rng.uniform(0.5, 8)), "follow_up", case.id)
        summary: dict[str, Any] = self.sim.report.project or {}
        summary["resolved"] = len(resolved)
        self.sim.report.project = summary
