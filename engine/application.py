"""The application service: the only write path into the log.

HTTP routes, the Kafka worker, the CLI, the simulator and the deadline clock all call these
methods; nothing else saves events. Each command loads the case, asks the domain to act (which
refuses illegal transitions before anything is written), and saves in one transaction. Two
writers acting on one case at once both load version N and both try to write N+1: the event
store's unique (id, version) key lets exactly one win and the other gets
:class:`ConcurrencyConflict` (HTTP 409).

Intake in batches, the worker's throughput path, is ``engine.intake_batch``; ``receive_batch``
delegates to it. The store's faster paths (``adapters.eventstore.StoreApplication``) extend
this class; it uses only eventsourcing's public API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import EnvType
from pydantic import ValidationError

from engine.admin import AdminConflict
from engine.config import SanshiConfig
from engine.deadlines import (
    SHANGHAI,
    WorkCalendar,
    compute_clocks,
    deadline_after_pause,
    paused_workdays,
    workdays_deadline,
)
from engine.domain import (
    ALLOWED,
    LEGACY_CENTRE,
    Case,
    DeadlineKind,
    DomainError,
    InvalidCommand,
    Rating,
    Status,
    check_hand_merge,
)
from engine.forms import Censure, Form, form_id_for, form_item_ref, new_censure, new_form
from engine.intake import IntakeCommand
from engine.knowledge import KnowledgeService
from engine.places import point_of
from engine.projects import MAX_LINK_AT_ONCE, Project, new_project
from engine.routing.port import CaseFacts, Router
from engine.vocabulary import Action, Channel, UnitKind

if TYPE_CHECKING:
    from engine.intake_batch import IntakeBatch

SYSTEM = "system:router"
CLOCK = "system:clock"
NOTIFIER = "system:notifier"


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


class ProjectNotFound(CaseNotFound):
    def __init__(self, project_id: UUID) -> None:
        DomainError.__init__(self, f"实事项目 {project_id} 不存在")
        self.case_id = project_id


@dataclass(frozen=True)
class IntakeResult:
    case_id: UUID
    duplicate: bool  # the same record was received before (same channel:source_ref)
    status: str
    merged_into: UUID | None = None
    unit: str | None = None


def now_shanghai() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def _as_filed(case: Case) -> tuple[Any, ...]:
    """What the duplicate index keeps of a case (engine/routing: text, place, category, caller,
    open or not); a command that changes none of it need not file the case again."""
    return (case.is_open, case.category, case.locality, case.content, case.address,
            case.caller_phone, case.caller_name, case.appeal_type)


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
        caller_phone=case.caller_phone,
        caller_name=case.caller_name,
        appeal_type=case.appeal_type,
        leaf=case.leaf,
        point=point_of(case.extra or {}, case.channel),
    )


class SanshiApplication(Application[UUID]):
    name = "sanshi"
    # No aggregate cache: every command loads the case from the store. (eventsourcing reads
    # AGGREGATE_CACHE_MAXSIZE=0 as an UNBOUNDED cache, deep-copied on every get: it grew with
    # every case ever loaded.)
    env: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        config: SanshiConfig,
        router: Router,
        env: EnvType | None = None,
        on_saved: Callable[[], None] | None = None,
        clock: Callable[[], dt.datetime] = now_shanghai,
    ) -> None:
        super().__init__(env=env)
        self.config = config
        self.router = router
        self.calendar = WorkCalendar(config.calendar)
        # Called after every successful save (embedded mode runs projections here).
        self.on_saved = on_saved
        # The time of a command given no ``at``: read at each call (tests move the clock).
        self.clock = clock
        from engine.intake_batch import IntakeBatch  # it builds on this module's names

        self.intake_batch: IntakeBatch = IntakeBatch(self)

    def _now(self, at: dt.datetime | None) -> dt.datetime:
        return at or self.clock()

    # ---- reading -------------------------------------------------------------------------

    def get_case(self, case_id: UUID) -> Case:
        try:
            case: Any = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        if not isinstance(case, Case):  # a 一表通 form or a censure: not a case
            raise CaseNotFound(case_id)
        return case

    def get_cases(self, ids: Collection[UUID]) -> dict[UUID, Case]:
        """Several cases at once; ids with no events are left out. (The store's application,
        ``adapters.eventstore``, reads them in one query on PostgreSQL.)"""
        found: dict[UUID, Case] = {}
        for cid in ids:
            with contextlib.suppress(CaseNotFound):
                found[cid] = self.get_case(cid)
        return found

    def exists(self, case_id: UUID) -> bool:
        return bool(self.recorder.select_events(case_id, limit=1))

    def existing(self, ids: Collection[UUID]) -> set[UUID]:
        """Which of these cases are in the store (one query on PostgreSQL with the store's
        application)."""
        return {cid for cid in ids if self.exists(cid)}

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
        filed_as = _as_filed(case)
        action(case)
        self._save(case, *self._merged_callers_told(case))
        self._after_change(case, filed_as)
        return case

    def _after_change(self, case: Case, filed_as: tuple[Any, ...] | None = None) -> None:
        """Tell the router's duplicate index what changed. ``filed_as``: the case as the index
        files it before the command; a command that changed none of it (a claim, a note, a
        reminder) is not filed again: filing a case the index does not hold (an API process in
        Kafka mode routes nothing) costs a sentence vector (bench/RESULTS.md, API)."""
        if case.is_open and case.category:
            if filed_as is None or filed_as != _as_filed(case):
                self.router.case_opened(facts_of(case), case.category, case.locality)
        elif not case.is_open or case.status == Status.RESOLVED:
            self.router.case_closed(case.id)

    def dispatch_case(
        self, case: Case, unit: str, reason: dict[str, Any], principal: str, at: dt.datetime
    ) -> None:
        """派单 with the category's two clocks (签收 / 办理) on the working-day calendar."""
        if not self.config.has_unit(unit):
            raise InvalidCommand(f"单位「{unit}」不存在")
        if not self.config.unit(unit).active:  # 停用 (engine/admin.py): keeps its cases only
            raise AdminConflict(f"单位「{self.config.unit(unit).name}」已停用，不能派单")
        claim, handle = self._clocks_for(case, at)
        case.dispatch_to(
            unit=unit,
            claim_deadline=claim,
            handle_deadline=handle,
            reason=reason,
            principal=principal,
            at=at,
        )

    def _clocks_for(self, case: Case, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The two clocks (签收 / 办理) of a new dispatch, transfer or 协办 part of this case from
        ``at``: the dispatch catalogue's deadlines for the case's item, else the category's."""
        policy = self.config.deadline_policy(case.category, case.leaf)
        clocks = compute_clocks(policy, case.urgent, at, self.calendar)
        return clocks.claim_deadline, clocks.handle_deadline

    def _check_unit_named(self, unit: str | None, what: str) -> None:
        """A unit the centre names (转派, 协办, 通报): configured, and not the centre itself."""
        centre = self.config.centre.id
        if unit is not None and (
            not self.config.has_unit(unit) or unit in (centre, LEGACY_CENTRE)
        ):
            raise InvalidCommand(f"{what}「{unit}」不存在")

    # ---- intake --------------------------------------------------------------------------

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
        """Receive many records in one transaction (``engine.intake_batch``)."""
        return self.intake_batch.receive(cmds, principal, route)

    # ---- centre (operator) commands ------------------------------------------------------

    def reclassify(
        self, case_id: UUID, category: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        """An operator's override of the router's category: an event, and a lesson."""
        if category not in self.config.category_codes():
            raise InvalidCommand(f"分类「{category}」不存在")
        at = self._now(at)

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
                # The item found below the old category stays only if it is under the new one.
                leaf=case.leaf if case.leaf and case.leaf.startswith(category + ".") else None,
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
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: self.dispatch_case(c, unit, {"by": "operator", "note": note}, principal, at),
        )

    def decide_extension(
        self,
        case_id: UUID,
        granted: bool,
        principal: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Case:
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.decide_extension(granted=granted, note=note, principal=principal, at=at),
        )

    def answer_directly(
        self,
        case_id: UUID,
        answer: str,
        principal: str,
        at: dt.datetime | None = None,
        entry: UUID | None = None,
    ) -> Case:
        """直办. With ``entry``: answered from that knowledge-base entry (答复口径), which must
        be offered at ``at`` (not retired, within its validity: else 409, nothing written);
        the event records the entry, and a blank ``answer`` is the entry's own."""
        at = self._now(at)
        if entry is not None:
            found = KnowledgeService(self, self.config).get(entry)
            found.check_answerable(at)
            answer = answer if answer.strip() else found.answer
        return self._act(
            case_id,
            lambda c: c.answer_directly(
                answer=answer,
                centre=self.config.centre.id,
                principal=principal,
                at=at,
                entry=str(entry) if entry is not None else None,
            ),
        )

    def reject(
        self, case_id: UUID, reason: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
        return self._act(case_id, lambda c: c.reject(reason=reason, principal=principal, at=at))

    def urge(
        self, case_id: UUID, note: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
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
        at = self._now(at)
        if self.get_case(case_id).status == Status.MERGED:
            return self._follow_up_merged(case_id, solved, rating, principal, comment, at)

        def act(case: Case) -> None:
            reopened = case.follow_up(
                solved=solved,
                rating=rating,
                comment=comment,
                centre=self.config.centre.id,
                principal=principal,
                at=at,
            )
            if reopened:
                self._redispatch(case, at, prefer=case.resolved_unit)

        return self._act(case_id, act)

    def close_case(
        self, case_id: UUID, reason: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
        return self._act(case_id, lambda c: c.close(reason=reason, principal=principal, at=at))

    def merge(
        self,
        case_id: UUID,
        into: UUID,
        principal: str,
        at: dt.datetime | None = None,
        note: str = "",
    ) -> Case:
        """An operator merges a case into an open original (合并, with a note); refused (409,
        nothing written) into itself, a closed or merged case, or for a case that others are
        merged into (``engine.domain.check_hand_merge``)."""
        at = self._now(at)
        case = self.get_case(case_id)
        target = self.get_case(into)
        check_hand_merge(case, target)
        case.merge_into(
            target=into,
            similarity=1.0,
            reason={"by": "operator", "note": note},
            principal=principal,
            at=at,
        )
        target.link_duplicate(duplicate=case.id, principal=principal, at=at)
        self._save(case, target)
        self._after_change(case)
        return case

    # ---- unit commands -------------------------------------------------------------------

    def claim(
        self, case_id: UUID, unit: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
        return self._act(case_id, lambda c: c.claim(unit=unit, principal=principal, at=at))

    def return_case(
        self,
        case_id: UUID,
        unit: str,
        reason: str,
        principal: str,
        at: dt.datetime | None = None,
        suggested_unit: str | None = None,
    ) -> Case:
        """退单. By default (``returns.auto_reroute: false``) the case waits in the centre's
        待审退单 queue for 退单审核 (:meth:`review_return`). Where the district turns automatic
        re-routing on, the case is 转派'd at once to the unit the returning unit suggested
        (建议承办单位), if any and it has not returned the case; else the router proposes the
        next unit (never one that returned it); the third return sends it to the centre's
        manual queue instead. The return and its suggestion are lessons for every router
        (through the lessons view, ``projections.lessons``): at once when re-routed
        automatically, when the centre approves it under review."""
        at = self._now(at)
        self._check_unit_named(suggested_unit, "建议承办单位")
        review = not self.config.returns.auto_reroute

        def act(case: Case) -> None:
            case.return_case(
                unit=unit,
                reason=reason,
                principal=principal,
                at=at,
                suggested_unit=suggested_unit,
                review=review,
            )
            if not review and case.manual_reason is None:
                why = {
                    "by": "router",
                    "after_return": True,
                    "rule": "suggested",
                    "suggested_by": unit,
                    "returned_by": list(case.returned_by),
                }
                self._redispatch(case, at, prefer=suggested_unit, prefer_reason=why)

        return self._act(case_id, act)

    def _redispatch(
        self,
        case: Case,
        at: dt.datetime,
        prefer: str | None,
        prefer_reason: dict[str, Any] | None = None,
    ) -> None:
        centre = self.config.centre.id
        if prefer and prefer not in case.returned_by and prefer not in (centre, LEGACY_CENTRE):
            reason = prefer_reason or {"by": "router", "reopened": True}
            self.dispatch_case(case, prefer, reason, SYSTEM, at)
            return
        unit, why = self.router.next_unit(facts_of(case))
        if unit is None or unit == centre:
            case.send_to_manual(reason="无可转派单位，转人工派单", principal=SYSTEM, at=at)
        else:
            self.dispatch_case(case, unit, {"by": "router", "after_return": True, **why}, SYSTEM, at)

    def request_extension(
        self,
        case_id: UUID,
        unit: str,
        until: dt.datetime,
        reason: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        at = self._now(at)

        def act(case: Case) -> None:
            policy = self.config.deadline_policy(case.category, case.leaf)
            case.request_extension(
                unit=unit,
                until=until,
                reason=reason,
                principal=principal,
                at=at,
                max_extension=dt.timedelta(days=policy.max_extension_days),
            )

        return self._act(case_id, act)

    def start_mediation(
        self, case_id: UUID, unit: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
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
        at = self._now(at)
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
        at = self._now(at)
        return self._act(
            case_id, lambda c: c.resolve(unit=unit, result=result, principal=principal, at=at)
        )

    def reveal_contact(
        self, case_id: UUID, unit: str, principal: str, at: dt.datetime | None = None
    ) -> tuple[Case, str]:
        """查看联系方式: records who (``principal``, ``unit``) read the caller's number of
        which case and when (a ContactRevealed event), then returns the number."""
        at = self._now(at)
        case = self.get_case(case_id)
        phone = case.reveal_contact(unit=unit, principal=principal, at=at)
        self._save(case)
        return case, phone

    # ---- 挂起 (suspension) and 领导批示 (instructions) -----------------------------------------

    def request_hold(
        self,
        case_id: UUID,
        unit: str,
        reason: str,
        principal: str,
        expected_resume: dt.datetime | None = None,
        at: dt.datetime | None = None,
    ) -> Case:
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.request_hold(
                unit=unit,
                reason=reason,
                expected_resume=expected_resume,
                principal=principal,
                at=at,
            ),
        )

    def decide_hold(
        self,
        case_id: UUID,
        granted: bool,
        principal: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Case:
        """审批挂起 (the centre): granted, the handling clock stops until 恢复办理."""
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.decide_hold(granted=granted, note=note, principal=principal, at=at),
        )

    def resume(
        self,
        case_id: UUID,
        principal: str,
        unit: str | None = None,
        at: dt.datetime | None = None,
    ) -> Case:
        """恢复办理 by the unit (``unit``) or the centre (None): the handling deadline moves
        later by the paused time, counted as the deadline is (working days, or natural time
        for an urgent case)."""
        at = self._now(at)

        def act(case: Case) -> None:
            held = case.held_since
            if held is None or case.dispatch is None:
                case.resume(
                    unit=unit, handle_deadline=at, paused_workdays=0, principal=principal, at=at
                )  # refused by the domain (not suspended)
                return
            deadline = deadline_after_pause(
                case.dispatch.handle_deadline, held, at, case.urgent, self.calendar
            )
            paused = 0 if case.urgent else paused_workdays(held, at, self.calendar)
            case.resume(
                unit=unit,
                handle_deadline=deadline,
                paused_workdays=paused,
                principal=principal,
                at=at,
            )

        return self._act(case_id, act)

    def instruct(
        self, case_id: UUID, text: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        """领导批示: the reply is due by the end of the configured working day
        (``deadlines.instruction_reply_workdays``)."""
        at = self._now(at)
        due = workdays_deadline(
            at, self.config.deadlines.instruction_reply_workdays, self.calendar
        )
        return self._act(
            case_id, lambda c: c.instruct(text=text, due=due, principal=principal, at=at)
        )

    def answer_instruction(
        self,
        case_id: UUID,
        unit: str,
        reply: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.answer_instruction(unit=unit, reply=reply, principal=principal, at=at),
        )

    # ---- 退单审核, 转办, 回访未接通, 未接通结案 (docs/lifecycle.md) ----------------------------------

    def review_return(
        self,
        case_id: UUID,
        approved: bool,
        principal: str,
        note: str = "",
        unit: str | None = None,
        at: dt.datetime | None = None,
    ) -> Case:
        """退单审核 by the centre. Approved: dispatched (转派) to ``unit``, else to the unit the
        return suggested; refused: back to the returning unit with ``note``."""
        at = self._now(at)
        self._check_unit_named(unit, "承办单位")

        def act(case: Case) -> None:
            if not approved:
                case.refuse_return(note=note, principal=principal, at=at)
                return
            review = case.return_review
            target = unit or (review or {}).get("suggested_unit")
            if review is not None and not target:
                raise InvalidCommand("退单未建议承办单位：同意退单须选择转派单位")
            claim, handle = self._clocks_for(case, at)
            case.approve_return(
                to_unit=str(target or ""),
                note=note,
                claim_deadline=claim,
                handle_deadline=handle,
                principal=principal,
                at=at,
            )

        return self._act(case_id, act)

    def transfer(
        self,
        case_id: UUID,
        unit: str,
        note: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        """转办: the centre moves a case a unit holds to another unit, with a note."""
        at = self._now(at)
        self._check_unit_named(unit, "承办单位")

        def act(case: Case) -> None:
            claim, handle = self._clocks_for(case, at)
            case.transfer(
                to_unit=unit,
                note=note,
                claim_deadline=claim,
                handle_deadline=handle,
                principal=principal,
                at=at,
            )

        return self._act(case_id, act)

    def transfer_out(
        self,
        case_id: UUID,
        to_district: str,
        to_district_name: str,
        reason: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        """跨区转办 (docs/city.md): the case leaves this district as 已转出; the city then hands
        it to ``to_district`` (``adapters.city``, which retries without asking again once the
        case is 已转出: a second transfer of it is refused like any illegal transition)."""
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.transfer_out(
                to_district=to_district,
                to_district_name=to_district_name,
                reason=reason,
                principal=principal,
                at=at,
            ),
        )

    def callback_unanswered(
        self, case_id: UUID, principal: str, note: str = "", at: dt.datetime | None = None
    ) -> Case:
        """回访未接通: one follow-up call nobody answered (``callback.max_unanswered`` of them
        allow 未接通结案)."""
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.callback_unanswered(
                max_unanswered=self.config.callback.max_unanswered,
                centre=self.config.centre.id,
                note=note,
                principal=principal,
                at=at,
            ),
        )

    def close_unreachable(
        self, case_id: UUID, principal: str, note: str = "", at: dt.datetime | None = None
    ) -> Case:
        """未接通结案: after the configured number of unanswered follow-up calls."""
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.close_unreachable(
                centre=self.config.centre.id, note=note, principal=principal, at=at
            ),
        )

    # ---- 主办/协办 and 吹哨报到 (docs/lifecycle.md) ---------------------------------------------

    def _check_assisting(self, units: Sequence[str]) -> None:
        for u in units:
            self._check_unit_named(u, "协办单位")

    def add_assists(self, case: Case, units: Sequence[str], note: str, principal: str, at: dt.datetime) -> None:
        """Parts for ``units`` on a case a lead holds (in the caller's transaction)."""
        self._check_assisting(units)
        if len(set(units)) != len(units):
            raise InvalidCommand("同一协办单位不能重复")
        claim, handle = self._clocks_for(case, at)
        for u in units:
            case.add_assist(
                unit=u, claim_deadline=claim, handle_deadline=handle, note=note,
                principal=principal, at=at,
            )

    def dispatch_with_assist(
        self,
        case_id: UUID,
        unit: str,
        assisting: Sequence[str],
        principal: str,
        at: dt.datetime | None = None,
        note: str = "",
    ) -> Case:
        """派单 to a lead (主办) and assisting units (协办) in one transaction."""
        at = self._now(at)

        def act(case: Case) -> None:
            self.dispatch_case(case, unit, {"by": "operator", "note": note}, principal, at)
            self.add_assists(case, assisting, note, principal, at)

        return self._act(case_id, act)

    def add_assist(
        self,
        case_id: UUID,
        units: Sequence[str],
        principal: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Case:
        """增派协办 (the centre), while a lead holds the case."""
        at = self._now(at)
        return self._act(case_id, lambda c: self.add_assists(c, units, note, principal, at))

    def whistle(
        self,
        case_id: UUID,
        unit: str,
        departments: Sequence[str],
        reason: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        """吹哨报到: the street or community leading the case calls departments in. Each must
        report in (报到) within ``deadlines.whistle_report_minutes_urgent`` natural minutes
        (urgent case) or by the end of ``whistle_report_workdays`` working days; its part's
        handling deadline is the case's policy's from now."""
        at = self._now(at)
        if not self.config.has_unit(unit) or self.config.unit(unit).kind not in (
            UnitKind.STREET,
            UnitKind.COMMUNITY,
        ):
            raise InvalidCommand("只有街道、社区作为主办单位才能吹哨")
        self._check_assisting(departments)
        d = self.config.deadlines

        def act(case: Case) -> None:
            if case.urgent:
                due = at + dt.timedelta(minutes=d.whistle_report_minutes_urgent)
            else:
                due = workdays_deadline(at, d.whistle_report_workdays, self.calendar)
            _, handle = self._clocks_for(case, at)
            case.whistle(
                unit=unit,
                departments=list(departments),
                due=due,
                handle_deadline=max(handle, due),
                reason=reason,
                principal=principal,
                at=at,
            )

        return self._act(case_id, act)

    def claim_part(
        self, case_id: UUID, unit: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
        return self._act(case_id, lambda c: c.claim_part(unit=unit, principal=principal, at=at))

    def report_part(
        self, case_id: UUID, unit: str, feedback: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
        return self._act(
            case_id, lambda c: c.report_part(unit=unit, feedback=feedback, principal=principal, at=at)
        )

    def return_part(
        self, case_id: UUID, unit: str, reason: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
        return self._act(
            case_id, lambda c: c.return_part(unit=unit, reason=reason, principal=principal, at=at)
        )

    def close_part(
        self, case_id: UUID, number: int, note: str, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self._now(at)
        return self._act(
            case_id, lambda c: c.close_part(number=number, note=note, principal=principal, at=at)
        )

    def escalate_overdue_parts(
        self, case_id: UUID, now: dt.datetime
    ) -> list[tuple[int, DeadlineKind]]:
        """协办督办: every passed deadline of the case's open parts, once per deadline, to
        the assisting unit's supervisor. Safe to repeat, like ``escalate_overdue``."""
        case = self.get_case(case_id)
        due = case.overdue_parts(now)
        if not due:
            return []
        units = {p.number: p.unit for p in case.parts}
        for number, kind in due:
            supervisor = self.config.supervisor_of(units[number])
            case.escalate_part(
                number=number, kind=kind, supervisor=supervisor, principal=CLOCK, at=now
            )
        try:
            self._save(case)
        except ConcurrencyConflict:
            return []
        return due
    # ---- merges under the centre's hand (docs/lifecycle.md, Merges) ---------------------------

    def unmerge(
        self, case_id: UUID, principal: str, note: str = "", at: dt.datetime | None = None
    ) -> Case:
        """撤销合并: the merged case becomes its own case, routed and dispatched as one; its
        original forgets it. 409 (nothing written) for a case that is not merged."""
        at = self._now(at)
        case = self.get_case(case_id)
        original_id = case.unmerge(note=note, principal=principal, at=at)
        return self._own_case(case, original_id, principal, at)

    def _own_case(self, case: Case, original_id: UUID, principal: str, at: dt.datetime) -> Case:
        """An unmerged case: routed as its own (the router's unit, else the manual queue) and
        unlinked from its original, in one transaction."""
        # As the router saw it at intake (its own classification aside), so that an unmerged
        # case is placed as a case received alone would have been.
        facts = dataclasses.replace(
            facts_of(case), category=None, locality=None, street=None, leaf=None
        )
        decision = self.router.decide(facts)
        if decision.unit is None or decision.unit in case.returned_by or decision.manual_reason:
            # As at intake: what the router cannot place waits for the centre's hand.
            reason = decision.manual_reason or "撤销合并，待人工派单"
            case.send_to_manual(reason=reason, principal=SYSTEM, at=at)
        else:
            why = {"by": "router", "after_unmerge": True, "original": str(original_id)}
            self._redispatch(case, at, prefer=decision.unit, prefer_reason=why)
        original = self.get_cases([original_id]).get(original_id)
        if original is not None:
            original.unlink_duplicate(duplicate=case.id, principal=principal, at=at)
        self._save(case, *([original] if original is not None else []))
        self._after_change(case)
        return case

    def _follow_up_merged(
        self,
        case_id: UUID,
        solved: bool,
        rating: Rating | None,
        principal: str,
        comment: str,
        at: dt.datetime,
    ) -> Case:
        """回访 of a merged caller (once the original is resolved): satisfied, closed;
        unsolved or dissatisfied, unmerged and routed as its own case."""
        case = self.get_case(case_id)
        original_id = case.merged_into
        unmerged = case.follow_up(
            solved=solved,
            rating=rating,
            comment=comment,
            centre=self.config.centre.id,
            principal=principal,
            at=at,
        )
        if unmerged and original_id is not None:
            return self._own_case(case, original_id, principal, at)
        self._save(case)
        self._after_change(case)
        return case

    def _merged_callers_told(self, case: Case) -> list[Case]:
        """When this command resolved the case (办结 or 直办), every caller merged into it is
        due a callback (OriginalResolved on their case, saved with the original): they are
        told the result and their rating counts for the unit that resolved it."""
        resolution = next(
            (
                e
                for e in case.pending_events
                if type(e).__name__ in ("Resolved", "AnsweredDirectly")
            ),
            None,
        )
        if resolution is None or not case.duplicates:
            return []
        result = str(getattr(resolution, "result", getattr(resolution, "answer", "")))
        unit = case.resolved_unit or self.config.centre.id
        told: list[Case] = []
        for dup in self.get_cases(case.duplicates).values():
            if dup.status == Status.MERGED and dup.merged_into == case.id:
                dup.original_resolved(
                    original=case.id,
                    unit=unit,
                    result=result,
                    principal=SYSTEM,
                    at=case.resolved_at or self.clock(),
                )
                told.append(dup)
        return told

    def merged_callers(self, case: Case) -> list[Case]:
        """The cases merged into this one (N 人反映 = 1 + these), in the order they came."""
        found = self.get_cases(case.duplicates)
        return [found[d] for d in case.duplicates if d in found]

    # ---- 一表通 and 通报/追责 (engine.forms) ---------------------------------------------------

    def submit_form(
        self,
        ref: str,
        kind: str,
        title: str,
        items: Sequence[dict[str, str]],
        principal: str,
        at: dt.datetime | None = None,
    ) -> tuple[Form, bool]:
        """一表通: each item (``content``, ``address``) is received as a case of its own (walk-in
        channel, never merged: the form's items are distinct matters) and routed on its own;
        then the form records them and each case its form, in one transaction. Returns the
        form and whether it was sent before (then nothing is written)."""
        at = self._now(at)
        form_id = form_id_for(ref)
        if self.exists(form_id):
            form: Any = self.repository.get(form_id)
            if not isinstance(form, Form):
                raise InvalidCommand(f"一表通编号「{ref}」已被占用")
            return form, True
        try:
            cmds = self._form_items(ref, items, at)
        except ValidationError as e:  # an item the input contract refuses: nothing written
            raise InvalidCommand(f"一表通事项不符合输入约定：{e.errors()[0]['msg']}") from None
        form = new_form(
            ref=ref,
            kind=kind,
            title=title,
            case_ids=[c.case_id for c in cmds],
            principal=principal,
            at=at,
        )  # checked before any item is received
        self.receive_batch(cmds, principal=principal)
        cases = self.get_cases(form.case_ids)
        for n, cid in enumerate(form.case_ids, start=1):
            if cid in cases and cases[cid].form is None:
                cases[cid].link_to_form(
                    form_id=form.id, item=n, kind=kind, title=title, principal=principal, at=at
                )
        self._save_any(form, *cases.values())
        return form, False

    @staticmethod
    def _form_items(
        ref: str, items: Sequence[dict[str, str]], at: dt.datetime
    ) -> list[IntakeCommand]:
        return [
            IntakeCommand(
                channel=Channel.WALKIN,
                source_ref=form_item_ref(ref, n),
                received_at=at,
                content=item["content"],
                address=item.get("address", ""),
                keep_separate=True,
                extra={"form_ref": ref},
            )
            for n, item in enumerate(items, start=1)
        ]

    def get_form(self, form_id: UUID) -> tuple[Form, list[Case]]:
        """The form and its items' cases, in the form's order."""
        try:
            form: Any = self.repository.get(form_id)
        except AggregateNotFoundError:
            raise CaseNotFound(form_id) from None
        if not isinstance(form, Form):
            raise CaseNotFound(form_id)
        cases = self.get_cases(form.case_ids)
        return form, [cases[c] for c in form.case_ids if c in cases]

    def censure(
        self,
        kind: str,
        unit: str,
        reason: str,
        principal: str,
        case_id: UUID | None = None,
        at: dt.datetime | None = None,
    ) -> Censure:
        """通报 / 追责 of a unit by the centre, about a case or not; counted in the unit's
        monthly figures (docs/rates.md)."""
        self._check_unit_named(unit, "单位")
        if case_id is not None:
            self.get_case(case_id)  # 404 for a case that is not there
        record = new_censure(
            kind=kind,
            unit=unit,
            reason=reason,
            case_id=case_id,
            principal=principal,
            at=self._now(at),
        )
        self._save_any(record)
        return record

    # ---- 实事项目 (engine.projects) ---------------------------------------------------------------

    def get_project(self, project_id: UUID) -> Project:
        try:
            project: Any = self.repository.get(project_id)
        except AggregateNotFoundError:
            raise ProjectNotFound(project_id) from None
        if not isinstance(project, Project):
            raise ProjectNotFound(project_id)
        return project

    def open_project(
        self,
        title: str,
        owner_unit: str,
        deadline: dt.date,
        budget: str,
        milestones: Sequence[dict[str, Any]],
        principal: str,
        case_ids: Sequence[UUID] = (),
        at: dt.datetime | None = None,
    ) -> Project:
        """立项: a project with its plan, and (optionally) its first cases, in one transaction."""
        at = self._now(at)
        self._check_unit_named(owner_unit, "牵头单位")
        project = new_project(
            title=title, owner_unit=owner_unit, deadline=deadline, budget=budget,
            milestones=list(milestones), opened_on=at.astimezone(SHANGHAI).date(),
            principal=principal, at=at,
        )
        cases = self._take_into(project, case_ids, principal, at)
        self._save_any(project, *cases)
        return project

    def link_to_project(
        self, project_id: UUID, case_ids: Sequence[UUID], principal: str, at: dt.datetime | None = None
    ) -> Project:
        """关联工单: many cases at once; all or none (a case not found: 404; a case closed,
        merged or in another project: 409; nothing written)."""
        at = self._now(at)
        project = self.get_project(project_id)
        cases = self._take_into(project, case_ids, principal, at)
        self._save_any(project, *cases)
        return project

    def _take_into(
        self, project: Project, case_ids: Sequence[UUID], principal: str, at: dt.datetime
    ) -> list[Case]:
        ids = list(dict.fromkeys(case_ids))
        if len(ids) > MAX_LINK_AT_ONCE:
            raise InvalidCommand(f"一次最多关联 {MAX_LINK_AT_ONCE} 件工单")
        found = self.get_cases(ids)
        for cid in ids:
            if cid not in found:
                raise CaseNotFound(cid)
        changed = [
            found[cid] for cid in ids
            if found[cid].link_to_project(project_id=project.id, title=project.title, principal=principal, at=at)
        ]
        project.link_cases(case_ids=[c.id for c in changed], principal=principal, at=at)
        return changed

    def report_project_progress(
        self,
        project_id: UUID,
        unit: str,
        milestone: int,
        note: str,
        done: bool,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Project:
        at = self._now(at)
        project = self.get_project(project_id)
        project.report_progress(
            unit=unit, milestone=milestone, note=note, done=done, principal=principal, at=at
        )
        self._save_any(project)
        return project

    def complete_project(
        self,
        project_id: UUID,
        result: str,
        principal: str,
        unit: str | None = None,
        at: dt.datetime | None = None,
    ) -> tuple[Project, list[Case]]:
        """完成: the project records its result, and each linked case still open is resolved
        with it as the owner unit, in one transaction; then each waits for its 回访 as any
        resolved case. Returns the project and the cases it resolved."""
        at = self._now(at)
        project = self.get_project(project_id)
        project.complete(result=result, unit=unit, principal=principal, at=at)
        deadline_end = dt.datetime.combine(
            project.deadline + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI
        ) - dt.timedelta(microseconds=1)
        cases = self.get_cases(project.case_ids)
        # A linked case no longer open (resolved on its own meanwhile) keeps its own outcome.
        resolved = [
            c for c in (cases[cid] for cid in project.case_ids if cid in cases)
            if c.status in ALLOWED[Action.PROJECT_RESOLVE] and c.resolve_by_project(
                project_id=project.id, unit=project.owner_unit, result=result,
                deadline=deadline_end, principal=principal, at=at,
            )
        ]
        self._save_any(project, *resolved)
        for case in resolved:
            self._after_change(case)
        return project, resolved

    def _save_any(self, *aggregates: Any) -> None:
        """Save aggregates that are not all cases (a form with its items, a censure)."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise ConcurrencyConflict(aggregates[0].id) from None
        if self.on_saved is not None:
            self.on_saved()

    # ---- 认领大厅 (the open shelf, docs/lifecycle.md) ------------------------------------------

    def shelve(
        self,
        case_id: UUID,
        service: str,
        summary: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        """上架: the centre puts a case waiting at the centre on the open shelf, needing
        ``service`` (a code of the district's service menu), described by ``summary``."""
        if service not in {s.code for s in self.config.services}:
            raise InvalidCommand(f"服务「{service}」不在服务菜单中")
        at = self._now(at)
        return self._act(
            case_id,
            lambda c: c.shelve(service=service, summary=summary, principal=principal, at=at),
        )

    def unshelve(
        self, case_id: UUID, principal: str, note: str = "", at: dt.datetime | None = None
    ) -> Case:
        """下架: off the shelf, back to the centre's 待派单; claims waiting lapse."""
        at = self._now(at)
        return self._act(case_id, lambda c: c.unshelve(note=note, principal=principal, at=at))

    def shelf_visible_to(self, case: Case, unit: str) -> bool:
        """Whether ``unit`` sees the case on the shelf: it is there, and the unit offers its
        service (a unit that lists no services, a department, sees every item)."""
        if case.shelf is None or not self.config.has_unit(unit):
            return False
        offered = self.config.unit(unit).services
        return not offered or case.shelf["service"] in offered

    def apply_claim(
        self,
        case_id: UUID,
        unit: str,
        note: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> Case:
        """认领申请 by ``unit`` (an active unit other than the centre)."""
        self._check_unit_named(unit, "单位")
        if not self.config.unit(unit).active:
            raise AdminConflict(f"单位「{self.config.unit(unit).name}」已停用，不能认领")
        at = self._now(at)

        def act(case: Case) -> None:
            if case.shelf is not None and not self.shelf_visible_to(case, unit):
                service = self.config.service_name(str(case.shelf["service"]))
                raise InvalidCommand(f"本单位的服务清单不含「{service}」，不能认领此项")
            case.apply_claim(unit=unit, note=note, principal=principal, at=at)

        return self._act(case_id, act)

    def decide_claim(
        self,
        case_id: UUID,
        number: int,
        accepted: bool,
        principal: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Case:
        """认领审核: accepted, the case is dispatched to the claimant with the category's two
        clocks, and goes on as any dispatched case (签收, 办结, 回访); refused (``note``: the
        reason the unit reads), it stays on the shelf."""
        at = self._now(at)

        def act(case: Case) -> None:
            if not accepted:
                case.refuse_claim(number=number, reason=note, principal=principal, at=at)
                return
            unit = case.accept_claim(number=number, note=note, principal=principal, at=at)
            reason = {"by": "operator", "shelf": number, "note": note or "认领大厅：中心同意认领"}
            self.dispatch_case(case, unit, reason, principal, at)

        return self._act(case_id, act)

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

    def resume_if_due(self, case_id: UUID, now: dt.datetime) -> bool:
        """恢复办理 by the clock: a suspended case whose expected resume time has come
        (申请挂起's ``expected_resume``) runs again, its deadline moved by the paused time.
        False when it is not due (or another writer got there first)."""
        if not self.get_case(case_id).resume_due(now):
            return False
        try:
            self.resume(case_id, CLOCK, at=now)
        except ConcurrencyConflict:
            return False
        return True

    def tick(self, candidates: Iterable[UUID], now: dt.datetime) -> int:
        """Run the clock over candidate cases (from the open-cases view): resume suspended
        cases whose expected time has come, escalate passed deadlines; returns how many
        deadlines were escalated."""
        escalated = 0
        for cid in candidates:
            self.resume_if_due(cid, now)
            escalated += len(self.escalate_overdue(cid, now))
            escalated += len(self.escalate_overdue_parts(cid, now))
        return escalated

    # ---- 通知 (engine.notices, docs/notifications.md) ----------------------------------------

    def record_notice_sent(
        self,
        *,
        key: str,
        kind: str,
        channel: str,
        audience: str,
        target: str,
        case_id: UUID | None,
        text: str,
        receipt: str,
        attempts: int,
        principal: str = NOTIFIER,
        at: dt.datetime | None = None,
    ) -> bool:
        """已通知: the log says who was told what, when. False (nothing written) when this
        notice's outcome is in the log already (another sender, a sender restarted after it
        delivered): a notice has one outcome."""
        from engine.notices import SentNotice

        record = SentNotice(
            key=key, kind=kind, channel=channel, audience=audience, target=target,
            case_id=case_id, text=text, receipt=receipt, attempts=attempts,
            principal=principal, at=self._now(at),
        )
        return self._save_once(record)

    def record_notice_abandoned(
        self,
        *,
        key: str,
        kind: str,
        channel: str,
        audience: str,
        target: str,
        case_id: UUID | None,
        reason: str,
        attempts: int,
        principal: str = NOTIFIER,
        at: dt.datetime | None = None,
    ) -> bool:
        """通知失败: given up after its tries (dead-lettered), with the last reason."""
        from engine.notices import AbandonedNotice

        record = AbandonedNotice(
            key=key, kind=kind, channel=channel, audience=audience, target=target,
            case_id=case_id, reason=reason, attempts=attempts,
            principal=principal, at=self._now(at),
        )
        return self._save_once(record)

    def notice_outcome(self, key: str) -> Any | None:
        """The recorded outcome of a notice (``SentNotice`` or ``AbandonedNotice``), if any."""
        from engine.notices import notice_id

        try:
            return self.repository.get(notice_id(key))
        except AggregateNotFoundError:
            return None

    def _save_once(self, record: Any) -> bool:
        try:
            self._save_any(record)
        except ConcurrencyConflict:
            return False
        return True
