"""The application service: the only write path into the log.

HTTP routes, the Kafka worker, the CLI, the simulator and the deadline clock all call these
methods; nothing else saves events. Each command loads the case, asks the domain to act (which
refuses illegal transitions before anything is written), and saves in one transaction. Two
writers acting on one case at once both load version N and both try to write N+1: the event
store's unique (id, version) key lets exactly one win and the other gets
:class:`ConcurrencyConflict` (HTTP 409).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import EnvType

from engine.config import SanshiConfig
from engine.deadlines import SHANGHAI, WorkCalendar, compute_clocks
from engine.domain import (
    Case,
    DeadlineKind,
    DomainError,
    InvalidCommand,
    Rating,
    Status,
)
from engine.intake import IntakeCommand
from engine.routing import CaseFacts, Router, RoutingDecision

SYSTEM = "system:router"
CLOCK = "system:clock"


class CaseNotFound(DomainError):
    code = "not_found"

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"工单 {case_id} 不存在")
        self.case_id = case_id


class ConcurrencyConflict(DomainError):
    code = "conflict"

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"工单 {case_id} 刚被其他人修改，请刷新后重试")
        self.case_id = case_id


@dataclass(frozen=True)
class IntakeResult:
    case_id: UUID
    duplicate: bool  # the same record was received before (same channel:source_ref)
    status: str
    merged_into: UUID | None = None
    unit: str | None = None


def now_shanghai() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def facts_of(case: Case) -> CaseFacts:
    return CaseFacts(
        case_id=case.id,
        channel=case.channel,
        content=case.content,
        address=case.address,
        category_hint=case.category_hint,
        urgent=case.urgent,
        concern=case.concern,
        received_at=case.received_at,
        returned_by=tuple(case.returned_by),
        last_unit=case.dispatch.unit if case.dispatch else None,
        category=case.category,
        locality=case.locality,
        street=case.street,
    )


class SanshiApplication(Application[UUID]):
    name = "sanshi"
    # No aggregate cache: every command loads the case from the store. (eventsourcing reads
    # AGGREGATE_CACHE_MAXSIZE=0 as an UNBOUNDED cache, deep-copied on every get: it grew with
    # every case ever loaded.)
    env: ClassVar[dict[str, str]] = {}
    # Case ids this process saved lately: a re-sent record among them is known to be a
    # duplicate before the save, so the batch is not refused and routed twice (at a peak-day
    # rate ~1% of records are re-sends, i.e. nearly every 500-record batch has one).
    RECENT_IDS = 65_536

    def __init__(
        self,
        config: SanshiConfig,
        router: Router,
        env: EnvType | None = None,
        on_saved: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(env=env)
        self.config = config
        self.router = router
        self.calendar = WorkCalendar(config.calendar)
        # Called after every successful save (embedded mode runs projections here).
        self.on_saved = on_saved
        self._recent_ids: OrderedDict[UUID, None] = OrderedDict()
        self._recent_lock = threading.Lock()  # the HTTP app saves from several threads

    # ---- reading -------------------------------------------------------------------------

    def get_case(self, case_id: UUID) -> Case:
        try:
            case: Any = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        assert isinstance(case, Case)
        return case

    def exists(self, case_id: UUID) -> bool:
        return bool(self.recorder.select_events(case_id, limit=1))

    # ---- saving --------------------------------------------------------------------------

    def _save(self, *cases: Case) -> None:
        try:
            self.save(*cases)
        except IntegrityError:
            raise ConcurrencyConflict(cases[0].id) from None
        if self.on_saved is not None:
            self.on_saved()

    def _act(self, case_id: UUID, action: Callable[[Case], Any]) -> Case:
        case = self.get_case(case_id)
        action(case)
        self._save(case)
        self._after_change(case)
        return case

    def _after_change(self, case: Case) -> None:
        facts = facts_of(case)
        if case.is_open and case.category:
            self.router.case_opened(facts, case.category, case.locality)
        elif not case.is_open or case.status == Status.RESOLVED:
            self.router.case_closed(case.id)

    # ---- intake --------------------------------------------------------------------------

    def _new_case(self, cmd: IntakeCommand, principal: str) -> Case:
        return Case(
            channel=cmd.channel.value,
            source_ref=cmd.source_ref,
            received_at=cmd.received_at,
            content=cmd.content,
            address=cmd.address,
            caller_name=cmd.caller_name,
            caller_phone=cmd.caller_phone,
            appeal_type=cmd.appeal_type,
            urgent=cmd.urgent,
            category_hint=cmd.category_hint,
            concern=cmd.concern.value,
            extra=dict(cmd.extra),
            principal=principal,
            at=cmd.received_at,
        )

    def _route_new(
        self, case: Case, open_in_batch: dict[UUID, Case]
    ) -> tuple[RoutingDecision, Case | None]:
        """Classify, then merge into a duplicate, dispatch, or queue for the centre."""
        at = case.received_at
        decision = self.router.decide(facts_of(case))
        reason = dict(decision.reason)
        reason["possible_duplicates"] = [
            {"case_id": str(d.case_id), "similarity": round(d.similarity, 3)}
            for d in decision.possible_duplicates
        ]
        case.classify(
            category=decision.category,
            urgent=decision.urgent,
            locality=decision.locality,
            street=decision.street,
            reason=reason,
            override=False,
            principal=SYSTEM,
            at=at,
        )
        target: Case | None = None
        if decision.merge_into is not None:
            target_id = decision.merge_into.case_id
            target = open_in_batch.get(target_id)
            if target is None:
                try:
                    target = self.get_case(target_id)
                except CaseNotFound:
                    target = None
            if target is not None and target.is_open:
                case.merge_into(
                    target=target_id,
                    similarity=decision.merge_into.similarity,
                    reason=dict(decision.merge_into.why),
                    principal=SYSTEM,
                    at=at,
                )
                target.link_duplicate(duplicate=case.id, principal=SYSTEM, at=at)
                return decision, target
            target = None
        if decision.unit is not None:
            self._dispatch(case, decision.unit, {"by": "router"}, SYSTEM, at)
        else:
            case.send_to_manual(
                reason=decision.manual_reason or "待人工派单", principal=SYSTEM, at=at
            )
        return decision, None

    def _dispatch(
        self, case: Case, unit: str, reason: dict[str, Any], principal: str, at: dt.datetime
    ) -> None:
        if not self.config.has_unit(unit):
            raise InvalidCommand(f"单位「{unit}」不存在")
        policy = self.config.deadlines.for_category(case.category)
        clocks = compute_clocks(policy, case.urgent, at, self.calendar)
        case.dispatch_to(
            unit=unit,
            claim_deadline=clocks.claim_deadline,
            handle_deadline=clocks.handle_deadline,
            reason=reason,
            principal=principal,
            at=at,
        )

    def receive(
        self, cmd: IntakeCommand, principal: str = "system:intake", route: bool = True
    ) -> IntakeResult:
        """受理: append the case, route it, all in one transaction; a re-sent record is a
        duplicate, reported as such, never a second case."""
        return self.receive_batch([cmd], principal=principal, route=route)[0]

    def receive_batch(
        self,
        cmds: Sequence[IntakeCommand],
        principal: str = "system:intake",
        route: bool = True,
    ) -> list[IntakeResult]:
        """Receive many records in one transaction (the throughput lever: one Kafka poll → one
        save). Optimistic: no per-record existence query on the common path; if the store
        refuses the batch (a re-sent record, or another writer touched a merge target), look up
        which records already exist and try again without them."""
        recent = self._recent_ids
        known: set[UUID] = {c.case_id for c in cmds if c.case_id in recent}
        for _ in range(5):
            results, fresh, touched = self._prepare_batch(cmds, known, principal, route)
            if not fresh:
                return results
            try:
                self.save(*fresh.values(), *touched.values())
            except IntegrityError:
                known = {c.case_id for c in cmds if self.exists(c.case_id)}
                # Take back from the router only what was not saved: a record that exists
                # already (a re-send) keeps its place in the duplicate index.
                for cid in fresh:
                    if cid not in known:
                        self.router.case_closed(cid)
                continue
            self._remember_saved(fresh)
            if self.on_saved is not None:
                self.on_saved()
            return results
        raise ConcurrencyConflict(cmds[0].case_id)

    def _remember_saved(self, ids: Iterable[UUID]) -> None:
        recent = self._recent_ids
        with self._recent_lock:
            for cid in ids:
                recent[cid] = None
            while len(recent) > self.RECENT_IDS:
                recent.popitem(last=False)

    def _prepare_batch(
        self,
        cmds: Sequence[IntakeCommand],
        known: set[UUID],
        principal: str,
        route: bool,
    ) -> tuple[list[IntakeResult], dict[UUID, Case], dict[UUID, Case]]:
        fresh: dict[UUID, Case] = {}
        for cmd in cmds:
            if cmd.case_id not in fresh and cmd.case_id not in known:
                fresh[cmd.case_id] = self._new_case(cmd, principal)
        if route and fresh:
            self.router.prepare([facts_of(case) for case in fresh.values()])
        results: list[IntakeResult] = []
        touched: dict[UUID, Case] = {}  # open cases that get a duplicate linked to them
        routed: set[UUID] = set()
        for cmd in cmds:
            cid = cmd.case_id
            if cid in routed or cid in known:
                results.append(IntakeResult(cid, True, "duplicate"))
                continue
            routed.add(cid)
            case = fresh[cid]
            if route:
                _, target = self._route_new(case, fresh | touched)
                if target is not None and target.id not in fresh:
                    touched[target.id] = target
                if case.is_open and case.category:
                    self.router.case_opened(facts_of(case), case.category, case.locality)
            results.append(
                IntakeResult(
                    cid,
                    False,
                    case.status.value,
                    merged_into=case.merged_into,
                    unit=case.assigned_unit,
                )
            )
        return results, fresh, touched

    # ---- centre (operator) commands ------------------------------------------------------

    def reclassify(
        self, case_id: UUID, category: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        """An operator's override of the router's category: an event, and a lesson."""
        if category not in self.config.category_codes():
            raise InvalidCommand(f"分类「{category}」不存在")
        at = at or now_shanghai()

        def act(case: Case) -> None:
            case.classify(
                category=category,
                urgent=case.urgent,
                locality=case.locality,
                street=case.street,
                reason={"override": True, "previous": case.category},
                override=True,
                principal=principal,
                at=at,
            )

        case = self._act(case_id, act)
        self.router.learn(case.content, category)
        return case

    def dispatch(
        self,
        case_id: UUID,
        unit: str,
        principal: str,
        at: dt.datetime | None = None,
        note: str = "",
    ) -> Case:
        """派单 / 转派 by an operator (an override of the router when it differs)."""
        at = at or now_shanghai()
        return self._act(
            case_id,
            lambda c: self._dispatch(c, unit, {"by": "operator", "note": note}, principal, at),
        )

    def decide_extension(
        self,
        case_id: UUID,
        granted: bool,
        principal: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Case:
        at = at or now_shanghai()
        return self._act(
            case_id,
            lambda c: c.decide_extension(granted=granted, note=note, principal=principal, at=at),
        )

    def answer_directly(
        self, case_id: UUID, answer: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = at or now_shanghai()
        return self._act(
            case_id, lambda c: c.answer_directly(answer=answer, principal=principal, at=at)
        )

    def reject(
        self, case_id: UUID, reason: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = at or now_shanghai()
        return self._act(case_id, lambda c: c.reject(reason=reason, principal=principal, at=at))

    def urge(
        self, case_id: UUID, note: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = at or now_shanghai()
        return self._act(case_id, lambda c: c.urge(note=note, principal=principal, at=at))

    def follow_up(
        self,
        case_id: UUID,
        solved: bool,
        rating: Rating | None,
        principal: str,
        comment: str = "",
        at: dt.datetime | None = None,
    ) -> Case:
        """回访. Dissatisfied or unsolved → 重办: dispatched again, to the unit that
        resolved it unless that unit returned it before."""
        at = at or now_shanghai()

        def act(case: Case) -> None:
            reopened = case.follow_up(
                solved=solved, rating=rating, comment=comment, principal=principal, at=at
            )
            if reopened:
                self._redispatch(case, at, prefer=case.resolved_unit)

        return self._act(case_id, act)

    def close_case(
        self, case_id: UUID, reason: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = at or now_shanghai()
        return self._act(case_id, lambda c: c.close(reason=reason, principal=principal, at=at))

    def merge(
        self, case_id: UUID, into: UUID, principal: str, at: dt.datetime | None = None
    ) -> Case:
        """An operator merges a case into an open one (合并/关联)."""
        at = at or now_shanghai()
        case = self.get_case(case_id)
        target = self.get_case(into)
        if not target.is_open:
            raise InvalidCommand("只能合并到未办结的工单")
        case.merge_into(
            target=into, similarity=1.0, reason={"by": "operator"}, principal=principal, at=at
        )
        target.link_duplicate(duplicate=case.id, principal=principal, at=at)
        self._save(case, target)
        self._after_change(case)
        return case

    # ---- unit commands -------------------------------------------------------------------

    def claim(
        self, case_id: UUID, unit: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = at or now_shanghai()
        return self._act(case_id, lambda c: c.claim(unit=unit, principal=principal, at=at))

    def return_case(
        self,
        case_id: UUID,
        unit: str,
        reason: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        """退单. The router proposes the next unit (never one that returned it) and the case
        is 转派'd to it; the third return sends it to the centre's manual queue instead."""
        at = at or now_shanghai()

        def act(case: Case) -> None:
            case.return_case(unit=unit, reason=reason, principal=principal, at=at)
            if case.manual_reason is None:
                self._redispatch(case, at, prefer=None)

        return self._act(case_id, act)

    def _redispatch(self, case: Case, at: dt.datetime, prefer: str | None) -> None:
        if prefer and prefer not in case.returned_by and prefer != "centre":
            self._dispatch(case, prefer, {"by": "router", "reopened": True}, SYSTEM, at)
            return
        unit, why = self.router.next_unit(facts_of(case))
        if unit is None or unit == self.config.centre.id:
            case.send_to_manual(reason="无可转派单位，转人工派单", principal=SYSTEM, at=at)
        else:
            self._dispatch(case, unit, {"by": "router", "after_return": True, **why}, SYSTEM, at)

    def request_extension(
        self,
        case_id: UUID,
        unit: str,
        until: dt.datetime,
        reason: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        at = at or now_shanghai()
        return self._act(
            case_id,
            lambda c: c.request_extension(
                unit=unit, until=until, reason=reason, principal=principal, at=at
            ),
        )

    def start_mediation(
        self, case_id: UUID, unit: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = at or now_shanghai()
        return self._act(
            case_id, lambda c: c.start_mediation(unit=unit, principal=principal, at=at)
        )

    def conclude_mediation(
        self,
        case_id: UUID,
        unit: str,
        agreement: bool,
        summary: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        at = at or now_shanghai()
        return self._act(
            case_id,
            lambda c: c.conclude_mediation(
                unit=unit, agreement=agreement, summary=summary, principal=principal, at=at
            ),
        )

    def resolve(
        self,
        case_id: UUID,
        unit: str,
        result: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        at = at or now_shanghai()
        return self._act(
            case_id, lambda c: c.resolve(unit=unit, result=result, principal=principal, at=at)
        )

    # ---- the deadline clock --------------------------------------------------------------

    def escalate_overdue(self, case_id: UUID, now: dt.datetime) -> list[DeadlineKind]:
        """督办 every passed deadline of the case's current dispatch, once per deadline.
        Safe to call repeatedly and from several clocks: the second writer conflicts and the
        deadline is already marked."""
        case = self.get_case(case_id)
        kinds = case.overdue_deadlines(now)
        if not kinds:
            return []
        assert case.dispatch is not None
        supervisor = self.config.supervisor_of(case.dispatch.unit)
        for kind in kinds:
            case.escalate(kind=kind, supervisor=supervisor, principal=CLOCK, at=now)
        try:
            self._save(case)
        except ConcurrencyConflict:
            return []
        return kinds

    def tick(self, candidates: Iterable[UUID], now: dt.datetime) -> int:
        """Run the clock over candidate cases (from the open-cases view); returns how many
        deadlines were escalated."""
        return sum(len(self.escalate_overdue(cid, now)) for cid in candidates)
