"""The application service: the only write path into the log.

HTTP routes, the Kafka worker, the CLI, the simulator and the deadline clock all call these
methods; nothing else saves events. Each command loads the case, asks the domain to act (which
refuses illegal transitions before anything is written), and saves in one transaction. Two
writers acting on one case at once both load version N and both try to write N+1: the event
store's unique (id, version) key lets exactly one win and the other gets
:class:`ConcurrencyConflict` (HTTP 409).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording
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
from engine.postgres_recorder import RECORDER_TOPIC, SanshiPostgresRecorder
from engine.routing import CaseFacts, DuplicateCandidate, Router, RoutingDecision

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
        caller_phone=case.caller_phone,
        caller_name=case.caller_name,
        appeal_type=case.appeal_type,
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
        if env is not None and env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            env = {"APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC, **env}
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

    def get_cases(self, ids: Collection[UUID]) -> dict[UUID, Case]:
        """Several cases at once (one query on PostgreSQL); ids with no events are left out."""
        return self._read_cases(ids)

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

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """``Application.save``; for Cases alone, its steps without the two runtime Protocol
        checks ``ProcessingEvent.collect_events`` makes per object (on Python 3.11 each walks
        the protocol's attributes: 6% of the intake worker). eventsourcing is pinned (9.5.6)."""
        if kwargs or not all(type(obj) is Case for obj in objs):
            return super().save(*objs, **kwargs)
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for case in objs:
            processing_event.events.extend(case.collect_events())
            processing_event.aggregates[case.id] = case
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated in eventsourcing, kept as save does
        return recordings

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
        case = Case(
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
        if cmd.confidential:
            case.mark_confidential(principal=principal, at=cmd.received_at)
        return case

    def _classify_new(self, case: Case, facts: CaseFacts) -> RoutingDecision:
        """The router's decision on a new case, recorded as its Classified event."""
        decision = self.router.decide(facts)
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
            at=case.received_at,
        )
        return decision

    def _merge(self, case: Case, target: Case, merge: DuplicateCandidate) -> None:
        at = case.received_at
        case.merge_into(
            target=target.id,
            similarity=merge.similarity,
            reason=dict(merge.why),
            principal=SYSTEM,
            at=at,
        )
        target.link_duplicate(duplicate=case.id, principal=SYSTEM, at=at)

    def _dispatch_or_queue(self, case: Case, decision: RoutingDecision) -> None:
        if decision.unit is not None:
            self._dispatch(case, decision.unit, {"by": "router"}, SYSTEM, case.received_at)
        else:
            case.send_to_manual(
                reason=decision.manual_reason or "待人工派单", principal=SYSTEM, at=case.received_at
            )

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
        ids = [c.case_id for c in cmds]  # uuid5 each: computed once
        recent = self._recent_ids
        known: set[UUID] = {cid for cid in ids if cid in recent}
        for _ in range(5):
            fresh, touched = self._prepare_batch(cmds, ids, known, principal, route)
            if not fresh:
                return self._results(ids, known, fresh)
            try:
                self.save(*fresh.values(), *touched.values())
            except IntegrityError:
                known = self._existing(ids)
                # Take back from the router only what was not saved: a record that exists
                # already (a re-send) keeps its place in the duplicate index.
                for cid in fresh:
                    if cid not in known:
                        self.router.case_closed(cid)
                continue
            self._remember_saved(fresh)
            if self.on_saved is not None:
                self.on_saved()
            return self._results(ids, known, fresh)
        raise ConcurrencyConflict(cmds[0].case_id)

    @staticmethod
    def _results(
        ids: Sequence[UUID], known: set[UUID], fresh: dict[UUID, Case]
    ) -> list[IntakeResult]:
        results: list[IntakeResult] = []
        seen: set[UUID] = set()
        for cid in ids:
            if cid in seen or cid in known:
                results.append(IntakeResult(cid, True, "duplicate"))
                continue
            seen.add(cid)
            case = fresh[cid]
            results.append(
                IntakeResult(
                    cid,
                    False,
                    case.status.value,
                    merged_into=case.merged_into,
                    unit=case.assigned_unit,
                )
            )
        return results

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
        ids: Sequence[UUID],
        known: set[UUID],
        principal: str,
        route: bool,
    ) -> tuple[dict[UUID, Case], dict[UUID, Case]]:
        """The new cases of a batch, routed, and the older open cases they merge into.

        A merge into a case outside the batch is only known once the router has decided, and
        each decision depends on the cases before it being in the router's index. So: decide
        every record in order, merging at once into cases of the batch and noting merges into
        older cases; then read all those older cases in one query and merge. A target that
        turns out closed or missing (the router's index is behind another process's writes) is
        taken out of the index and the batch is decided again from the start, with merges into
        it refused (→ dispatched, as the router would have decided had it known)."""
        targets: dict[UUID, Case] = {}  # older open cases read for this batch
        refused: set[UUID] = set()  # merge targets found closed or missing
        while True:
            fresh, intents = self._decide_batch(cmds, ids, known, principal, route, refused)
            unread = {m.case_id for _, m in intents if m.case_id not in targets}
            if unread:
                targets.update(self._read_cases(unread))
            stale = {t for t in unread if t not in targets or not targets[t].is_open}
            if not stale:
                break
            for tid in stale:
                self.router.case_closed(tid)
                targets.pop(tid, None)
            refused |= stale
            for cid in fresh:  # undo this pass's index entries; the next pass makes them again
                self.router.case_closed(cid)
        touched: dict[UUID, Case] = {}
        for case, merge in intents:
            target = targets[merge.case_id]
            self._merge(case, target, merge)
            touched[target.id] = target
        return fresh, touched

    def _decide_batch(
        self,
        cmds: Sequence[IntakeCommand],
        ids: Sequence[UUID],
        known: set[UUID],
        principal: str,
        route: bool,
        refused: set[UUID],
    ) -> tuple[dict[UUID, Case], list[tuple[Case, DuplicateCandidate]]]:
        """One pass over the batch: the new cases, classified, merged into each other,
        dispatched or queued; and the merges into cases outside the batch, not yet applied."""
        fresh: dict[UUID, Case] = {}
        for cmd, cid in zip(cmds, ids, strict=True):
            if cid not in fresh and cid not in known:
                fresh[cid] = self._new_case(cmd, principal)
        intents: list[tuple[Case, DuplicateCandidate]] = []
        if not route or not fresh:
            return fresh, intents
        router = self.router
        received = [facts_of(case) for case in fresh.values()]  # as decide sees them too
        router.prepare(received)
        for case, facts in zip(fresh.values(), received, strict=True):
            decision = self._classify_new(case, facts)
            merge = decision.merge_into
            if merge is not None and merge.case_id not in refused:
                inside = fresh.get(merge.case_id)
                if inside is None:
                    intents.append((case, merge))  # not indexed: a merged case is not open
                    continue
                if inside.is_open:
                    self._merge(case, inside, merge)
                    continue
            self._dispatch_or_queue(case, decision)
            if case.is_open and case.category:
                router.case_opened(facts_of(case), case.category, case.locality)
        return fresh, intents

    def _read_cases(self, ids: Collection[UUID]) -> dict[UUID, Case]:
        """The current state of several cases, in one query on PostgreSQL (one per case on the
        other stores); ids with no events are left out."""
        recorder = self.recorder
        if not isinstance(recorder, SanshiPostgresRecorder):
            found: dict[UUID, Case] = {}
            for cid in ids:
                with contextlib.suppress(CaseNotFound):
                    found[cid] = self.get_case(cid)
            return found
        to_domain_event = self.mapper.to_domain_event
        out: dict[UUID, Case] = {}
        aggregate: Any = None
        last: Any = None
        for stored in recorder.select_many(ids):  # by case, then version
            if stored.originator_id != last:
                if isinstance(aggregate, Case):
                    out[UUID(str(last))] = aggregate
                aggregate, last = None, stored.originator_id
            # What project_aggregate does, without its runtime Protocol check per event.
            aggregate = to_domain_event(stored).mutate(aggregate)  # type: ignore[attr-defined]
        if isinstance(aggregate, Case):
            out[UUID(str(last))] = aggregate
        return out

    def _existing(self, ids: Collection[UUID]) -> set[UUID]:
        """Which of these cases are in the store (one query on PostgreSQL)."""
        recorder = self.recorder
        if not isinstance(recorder, SanshiPostgresRecorder):
            return {cid for cid in ids if self.exists(cid)}
        return recorder.existing(ids)

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

        def act(case: Case) -> None:
            policy = self.config.deadlines.for_category(case.category)
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

    def reveal_contact(
        self, case_id: UUID, unit: str, principal: str, at: dt.datetime | None = None
    ) -> tuple[Case, str]:
        """查看联系方式: records who (``principal``, ``unit``) read the caller's number of
        which case and when (a ContactRevealed event), then returns the number."""
        at = at or now_shanghai()
        case = self.get_case(case_id)
        phone = case.reveal_contact(unit=unit, principal=principal, at=at)
        self._save(case)
        return case, phone

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
