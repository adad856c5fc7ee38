"""The practical-project view (实事项目, ``view_projects``, ``view_project_milestones``,
``view_project_cases``): each project as it stands, its plan, its linked cases, and what their
residents said when called back after the project's completion.

Written by the projector in the transaction of the batch the events are in (rebuilt with the
other views, tracked by the same position), from the project's own events
(``engine.projects.PROJECT_EVENTS``) and from a case's ``FollowedUp`` (a no-op for a case in no
project, or before its project was completed: the residents' verdict on the project is what
they say once it is done).

The figures of a project (:func:`project_figures`), stated once (docs/lifecycle.md, 实事项目):
- ``cases``: linked cases; ``called_back``: linked cases with at least one answered 回访 after the
  completion (“every linked resident called back” is ``called_back == cases``);
- ``rated`` / ``satisfied``: 回访 calls with a rating after the completion / of them 满意 or 基本满意,
  and ``satisfaction_rate`` = satisfied ÷ rated, counted per call as the district's 满意率
  (docs/rates.md);
- ``milestones`` / ``milestones_done`` / ``milestones_on_time``: the plan's milestones, those
  reached, those reached on or before their due day; ``on_time``: completed by the deadline day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, case, func, select, update

from engine.projects import PROJECT_EVENTS
from engine.vocabulary import PROJECT_STATUSES, RATINGS, STATUSES
from projections.queries import rate
from projections.tables import (
    view_cases,
    view_project_cases,
    view_project_milestones,
    view_projects,
)

FOLLOWED_UP = "FollowedUp"
SATISFIED = frozenset({"satisfied", "basically_satisfied"})


@dataclass(frozen=True)
class ProjectPending:
    position: int
    aggregate_id: UUID
    name: str
    event: dict[str, Any]


def wanted(name: str) -> bool:
    """Whether the project view applies this event."""
    return name in PROJECT_EVENTS or name == FOLLOWED_UP


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class ProjectFold:
    """Applies a batch's project events (and 回访 of linked cases) to the three tables."""

    def write(self, conn: Connection, pending: Sequence[ProjectPending]) -> None:
        for p in pending:
            getattr(self, f"_on_{p.name}")(conn, p)

    def _on_ProjectOpened(self, conn: Connection, p: ProjectPending) -> None:
        e = p.event
        conn.execute(
            view_projects.insert().values(
                project_id=p.aggregate_id,
                title=str(e["title"]),
                owner_unit=str(e["owner_unit"]),
                deadline=_day(e["deadline"]),
                budget=str(e.get("budget") or ""),
                status="open",
                opened_by=str(e["principal"]),
                opened_at=e["at"],
                result="",
                progress_reports=0,
                position=p.position,
            )
        )
        rows = [
            {"project_id": p.aggregate_id, "number": int(m["number"]), "title": str(m["title"]),
             "due": _day(m["due"]), "reports": 0, "last_note": ""}
            for m in e["milestones"]
        ]
        if rows:
            conn.execute(view_project_milestones.insert(), rows)

    def _on_ProjectCasesLinked(self, conn: Connection, p: ProjectPending) -> None:
        rows = [
            {"case_id": UUID(str(c)), "project_id": p.aggregate_id, "linked_at": p.event["at"],
             "project_done": False, "followups": 0, "rated": 0, "satisfied": 0, "last_rating": ""}
            for c in p.event["case_ids"]
        ]
        if rows:
            conn.execute(view_project_cases.insert(), rows)
        conn.execute(
            update(view_projects).where(view_projects.c.project_id == p.aggregate_id)
            .values(position=p.position)
        )

    def _on_ProjectProgressReported(self, conn: Connection, p: ProjectPending) -> None:
        e = p.event
        m = view_project_milestones
        more: dict[str, Any] = {"done_at": e["at"], "on_time": bool(e["on_time"])} if e["done"] else {}
        conn.execute(
            update(m)
            .where(and_(m.c.project_id == p.aggregate_id, m.c.number == int(e["milestone"])))
            .values(reports=m.c.reports + 1, last_note=str(e["note"]), **more)
        )
        t = view_projects
        conn.execute(
            update(t).where(t.c.project_id == p.aggregate_id).values(
                progress_reports=t.c.progress_reports + 1, last_progress_at=e["at"],
                position=p.position,
            )
        )

    def _on_ProjectCompleted(self, conn: Connection, p: ProjectPending) -> None:
        e = p.event
        conn.execute(
            update(view_projects).where(view_projects.c.project_id == p.aggregate_id).values(
                status="completed", completed_at=e["at"], result=str(e["result"]),
                on_time=bool(e["on_time"]), position=p.position,
            )
        )
        conn.execute(
            update(view_project_cases)
            .where(view_project_cases.c.project_id == p.aggregate_id)
            .values(project_done=True)
        )

    def _on_FollowedUp(self, conn: Connection, p: ProjectPending) -> None:
        rating = str(p.event.get("rating") or "")
        t = view_project_cases
        conn.execute(
            update(t)
            .where(and_(t.c.case_id == p.aggregate_id, t.c.project_done.is_(True)))
            .values(
                followups=t.c.followups + 1,
                rated=t.c.rated + int(bool(rating)),
                satisfied=t.c.satisfied + int(rating in SATISFIED),
                last_rating=rating,
            )
        )


# ---- reads -------------------------------------------------------------------------------------


def _figures_select() -> Any:
    t = view_project_cases
    return select(
        t.c.project_id,
        func.count().label("cases"),
        func.sum(case((t.c.followups > 0, 1), else_=0)).label("called_back"),
        func.sum(t.c.rated).label("rated"),
        func.sum(t.c.satisfied).label("satisfied"),
    ).group_by(t.c.project_id)


def _milestones_select() -> Any:
    m = view_project_milestones
    return select(
        m.c.project_id,
        func.count().label("milestones"),
        func.sum(case((m.c.done_at.is_not(None), 1), else_=0)).label("milestones_done"),
        func.sum(case((m.c.on_time.is_(True), 1), else_=0)).label("milestones_on_time"),
    ).group_by(m.c.project_id)


def project_figures(cases: dict[str, int], plan: dict[str, int], on_time: bool | None) -> dict[str, Any]:
    satisfied, rated = int(cases.get("satisfied") or 0), int(cases.get("rated") or 0)
    return {
        "cases": int(cases.get("cases") or 0),
        "called_back": int(cases.get("called_back") or 0),
        "rated": rated,
        "satisfied": satisfied,
        "satisfaction_rate": rate(satisfied, rated),
        "milestones": int(plan.get("milestones") or 0),
        "milestones_done": int(plan.get("milestones_done") or 0),
        "milestones_on_time": int(plan.get("milestones_on_time") or 0),
        "on_time": on_time,
    }


class ProjectViews:
    """What the 实事项目 screens read."""

    def __init__(self, rm: Any) -> None:
        self.rm = rm  # projections.queries.ReadModel: the engine, names, catch-up

    def _row(self, r: Any, figures: dict[str, Any]) -> dict[str, Any]:
        row = dict(r._mapping)
        row["status_name"] = PROJECT_STATUSES.label(row["status"])
        row["owner_unit_name"] = self.rm.name_of("unit", row["owner_unit"])
        row["figures"] = figures
        return row

    def list(self, owner_unit: str | None = None) -> list[dict[str, Any]]:
        """Every project (a unit: those it carries out), open ones first, newest first."""
        self.rm._fresh()
        t = view_projects
        stmt = select(t)
        if owner_unit is not None:
            stmt = stmt.where(t.c.owner_unit == owner_unit)
        stmt = stmt.order_by(case((t.c.status == "open", 0), else_=1), t.c.opened_at.desc())
        with self.rm.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            cases = {r.project_id: dict(r._mapping) for r in conn.execute(_figures_select())}
            plans = {r.project_id: dict(r._mapping) for r in conn.execute(_milestones_select())}
        return [
            self._row(r, project_figures(cases.get(r.project_id, {}), plans.get(r.project_id, {}), r.on_time))
            for r in rows
        ]

    def detail(self, project_id: UUID) -> dict[str, Any] | None:
        """One project: its row and figures, its milestones, its linked cases (as the case
        lists show them, with the last 回访 rating after the completion)."""
        self.rm._fresh()
        t, m, pc, c = view_projects, view_project_milestones, view_project_cases, view_cases
        with self.rm.engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.project_id == project_id)).first()
            if r is None:
                return None
            figures = conn.execute(_figures_select().where(pc.c.project_id == project_id)).first()
            plan = conn.execute(_milestones_select().where(m.c.project_id == project_id)).first()
            milestones = [
                dict(x._mapping)
                for x in conn.execute(select(m).where(m.c.project_id == project_id).order_by(m.c.number))
            ]
            linked = conn.execute(
                select(
                    c.c.case_id, c.c.received_at, c.c.status, c.c.category, c.c.street,
                    c.c.locality, c.c.address, c.c.snippet, pc.c.linked_at, pc.c.followups,
                    pc.c.last_rating,
                )
                .select_from(pc.join(c, c.c.case_id == pc.c.case_id))
                .where(pc.c.project_id == project_id)
                .order_by(c.c.received_at, c.c.case_id)
            ).all()
        row = self._row(
            r,
            project_figures(
                dict(figures._mapping) if figures else {}, dict(plan._mapping) if plan else {}, r.on_time
            ),
        )
        row["milestones"] = milestones
        cases = []
        for x in linked:
            d = self.rm._opened(dict(x._mapping))
            d["category_name"] = self.rm.name_of("category", d["category"])
            d["street_name"] = self.rm.name_of("street", d["street"])
            d["status_name"] = STATUSES.label(d["status"])
            d["last_rating_name"] = RATINGS.label(d["last_rating"]) if d["last_rating"] else ""
            cases.append(d)
        row["cases"] = cases
        return row

    def project_of(self, case_ids: Sequence[UUID]) -> dict[UUID, UUID]:
        """Which of these cases are in a project already (case id → project id)."""
        self.rm._fresh()
        pc = view_project_cases
        with self.rm.engine.connect() as conn:
            return {
                r.case_id: r.project_id
                for r in conn.execute(select(pc.c.case_id, pc.c.project_id).where(pc.c.case_id.in_(list(case_ids))))
            }
