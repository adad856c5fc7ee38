"""The district's less frequent work: 主办/协办, 吹哨报到, 一表通, 转办, 挂起, 领导批示, 通报/追责.

Actors beside :class:`adapters.simulator.run.Simulation`'s: the same agenda, the same simulated
clock, every write a call on the application service. Its decisions draw from a random
generator of their own (``{seed}:coop``) so that adding them leaves the intake stream and most
of the units' behaviour as they were; the rates are modest (a few percent of cases each).

Part actions (an assisting unit's 签收/反馈/退回, the centre's 关闭协办) and 批示 are carried out
whatever the lead unit does in the meantime (their agenda items never go stale), so they never
re-plan the lead's work; they look at the case first and wait while it is back at the centre.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import Counter
from typing import TYPE_CHECKING
from uuid import UUID

from adapters.simulator.clock import office_time_after
from adapters.simulator.principals import GRID_WORKER, LEADER, OPERATOR, unit_principal
from engine.application import CaseNotFound
from engine.config import UnitKind
from engine.deadlines import SHANGHAI
from engine.domain import PART_OPEN, Case, DomainError, Status
from engine.forms import MAX_FORM_ITEMS

if TYPE_CHECKING:
    from adapters.simulator.run import CaseBook, Simulation, _Item
    from adapters.simulator.stream import IntakeStream

# A lead unit holds the case in these (parts and 批示 can be acted on).
HELD = frozenset({Status.DISPATCHED, Status.CLAIMED, Status.MEDIATING, Status.ON_HOLD})
ENDED = frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY, Status.CLOSED, Status.REJECTED,
                   Status.MERGED})

# The rates (shares of the cases that could have it).
P_ASSIST_BY_HAND = 0.08  # a dispatch by hand names assisting units
P_ASSIST_LATER = 0.02  # the centre adds an assisting unit to a case a unit has claimed
P_WHISTLE = 0.08  # a street or community leading a case of its own whistles departments in
P_TRANSFER = 0.2  # the centre sees a case went to the wrong unit and transfers it (转办)
P_HOLD = 0.015  # a unit asks to suspend a case it is handling (挂起)
P_INSTRUCT = 0.12  # a leader writes an instruction on a case the clock escalated (领导批示)
P_PART_LATE = 0.15  # an assisting or whistled unit signs for (报到) its part late
P_PART_RETURN = 0.08  # ... or gives its part back (协办退回)
P_ACCOUNTABLE = 0.5  # a whistled department escalated for not reporting in is held to account
NOTICE_MIN_ESCALATIONS = 2  # a unit escalated this often in a day is named (通报) next morning
FORMS_PER_WORKDAY = 1.2

HOLD_REASONS = (
    "需等待产权单位确认维修责任，暂无法继续办理",
    "诉求人外出，需待其返回后现场核实",
    "涉及司法程序，需等待法院判决结果",
)
PART_FEEDBACK = (
    "已派员到现场配合处置，本单位职责范围内的事项已办理完毕。",
    "已按分工完成现场核查，相关情况已反馈主办单位。",
    "已联合主办单位开展整治，本单位负责部分已整改到位。",
)
PART_RETURN_REASONS = (
    "经核实，该事项不涉及本单位职责，无需协办",
    "该问题已由主办单位处理完毕，本单位无需另行办理",
)
INSTRUCTIONS = (
    "请相关单位高度重视，尽快办理，及时向群众反馈。",
    "此件群众反映强烈，请主办单位加快办理并报告进展。",
    "请督促落实，限期解决，办理结果报中心。",
)
INSTRUCTION_REPLIES = (
    "已按批示要求组织人员现场处置，目前正在加快办理，将及时反馈结果。",
    "收到批示，已明确专人负责，预计近日办结。",
)
FORM_KINDS = (("inspection", "巡查", 0.6), ("visit", "入户走访", 0.3), ("meeting", "会议议定", 0.1))


class Deferred(Exception):
    """An agenda item that did nothing yet (it was put back on the agenda, or dropped)."""


class CoopActors:
    """The actors of the rarer commands, acting on the simulation's agenda and clock."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.coop_rng = random.Random(f"{self.sim.seed}:coop")
        self.coop = self.sim.report.coop
        self._part_deadlines: list[tuple[dt.datetime, UUID]] = []
        self._form_stream: IntakeStream | None = None
        self._escalated_today: Counter[str] = Counter()
        self._escalated_case: dict[str, UUID] = {}
        self._accountable: set[tuple[UUID, int]] = set()
        self._noticed: dict[str, dt.datetime] = {}  # unit → when it was last named (通报)
        self._held_to_account: set[str] = set()
        self._with_parts: set[UUID] = set()  # cases given parts: their lead waits for them

    # ---- deciding ------------------------------------------------------------------------

    def on_claimed(self, case: Case, book: CaseBook, now: dt.datetime) -> bool:
        """Once per case, when its unit holds it and it is the unit's own: 吹哨 (a street or
        community), 增派协办 (the centre) or 挂起 (the unit). True when something was put on
        the agenda (the unit's work is planned again once it is done)."""
        if book.coop_decided:
            return False
        book.coop_decided = True
        d = case.dispatch
        assert d is not None
        unit = d.unit
        if unit == self.sim.config.centre.id or not self.sim._is_theirs(case, unit):
            return False
        soon = office_time_after(now, self.coop_rng.uniform(0.3, 4), self.sim.calendar)
        if case.urgent:
            soon = now + dt.timedelta(minutes=self.coop_rng.uniform(5, 40))
        r = self.coop_rng.random()
        kind = self.sim.config.unit(unit).kind if self.sim.config.has_unit(unit) else None
        if kind in (UnitKind.STREET, UnitKind.COMMUNITY) and r < P_WHISTLE:
            departments = self._departments_for(case, book, unit)
            if departments:
                self.sim._schedule(soon, "whistle", case.id, unit=unit, departments=departments)
                return True
        r = self.coop_rng.random()
        if not case.parts and r < P_ASSIST_LATER:
            assisting = self._assisting_for(case, unit)
            if assisting:
                self.sim._schedule(soon, "add_assist", case.id, units=assisting)
                return True
        if not case.urgent and self.coop_rng.random() < P_HOLD:
            self.sim._schedule(soon, "request_hold", case.id, unit=unit)
            return True
        return False

    def _assisting_for(self, case: Case, lead: str) -> list[str]:
        """协办: the other units the case concerns (by its true category), else its street."""
        taken = {lead, self.sim.config.centre.id, *case.returned_by, *(p.unit for p in case.parts)}
        out = [u for u in self.sim._right_units(case) if u not in taken]
        if case.street and case.street not in taken and case.street not in out:
            out.append(case.street)
        if not out:
            return []
        return out[: 1 + (self.coop_rng.random() < 0.3)]

    def _departments_for(self, case: Case, book: CaseBook, lead: str) -> list[str]:
        """吹哨: the departments (and public-service companies) of the case's true category,
        else one department drawn for the street to call in."""
        kinds = (UnitKind.DEPARTMENT, UnitKind.ENTERPRISE)
        taken = {lead, *(p.unit for p in case.parts if p.state in PART_OPEN)}
        units = [u for u in self.sim.config.units if u.kind in kinds and u.id not in taken]
        if not units:
            return []
        truth = book.incident.category
        own = [u.id for u in units if truth and truth in u.categories]
        out = own[:2] if own else [self.coop_rng.choice(units).id]
        if self.coop_rng.random() < 0.25:
            other = [u.id for u in units if u.id not in out]
            if other:
                out.append(self.coop_rng.choice(other))
        return out

    def maybe_transfer(self, case: Case, book: CaseBook, now: dt.datetime) -> bool:
        """转办: the centre notices a case went to a unit it is not for, before the unit acts."""
        d = case.dispatch
        assert d is not None
        if d.number in book.transfer_looked or self.sim._is_theirs(case, d.unit):
            return False
        book.transfer_looked.add(d.number)
        if self.coop_rng.random() >= P_TRANSFER:
            return False
        right = [u for u in self.sim._right_units(case)
                 if u not in case.returned_by and u not in (d.unit, self.sim.config.centre.id)]
        if not right:
            return False
        t = now + dt.timedelta(minutes=self.coop_rng.uniform(10, 40)) if case.urgent else \
            office_time_after(now, self.coop_rng.uniform(0.2, 1.5), self.sim.calendar)
        self.sim._schedule(t, "transfer", case.id, unit=right[0])
        return True

    # ---- the parts of a case (主办/协办, 吹哨报到) -------------------------------------------

    def _schedule_part(self, at: dt.datetime, kind: str, case_id: UUID, **args: object) -> None:
        self.sim._schedule(at, kind, case_id, always=True, **args)

    def _parts_added(self, case: Case, before: int, now: dt.datetime, whistled: bool) -> None:
        """Each new part's unit signs for it (报到), on time mostly; the clock watches."""
        self._with_parts.add(case.id)
        for part in case.parts[before:]:
            self.coop["parts"] += 1
            if whistled:
                self.coop["called"] += 1
            late = self.coop_rng.random() < P_PART_LATE
            due = part.claim_deadline
            if late:
                t = due + dt.timedelta(minutes=self.coop_rng.uniform(20, 120)) if case.urgent else \
                    office_time_after(due, self.coop_rng.uniform(0.5, 8), self.sim.calendar)
            else:
                t = now + (due - now) * self.coop_rng.uniform(0.1, 0.8) if case.urgent else \
                    min(office_time_after(now, self.coop_rng.uniform(0.2, 5), self.sim.calendar),
                        due - dt.timedelta(minutes=2))
            t = max(t, now + dt.timedelta(minutes=1))
            self._schedule_part(t, "claim_part", case.id, unit=part.unit)
            heapq.heappush(self._part_deadlines, (part.claim_deadline, case.id))
            heapq.heappush(self._part_deadlines, (part.handle_deadline, case.id))

    def _part_case(self, item: _Item, retry: str) -> Case:
        """The case for a part action; while it is at the centre (returned, reopened) the
        action waits; once it ended, it is dropped."""
        case = self.sim.app.get_case(item.case_id)
        if case.status in HELD:
            return case
        tries = int(item.args.get("tries", 0))
        if case.status not in ENDED and tries < 20:
            t = office_time_after(item.at, self.coop_rng.uniform(2, 8), self.sim.calendar)
            args = {k: v for k, v in item.args.items() if k != "tries"}
            self._schedule_part(t, retry, item.case_id, tries=tries + 1, **args)
        raise Deferred

    def do_whistle(self, item: _Item, book: CaseBook) -> Case:
        unit = item.args["unit"]
        case = self.sim.app.get_case(item.case_id)
        before = len(case.parts)
        name = self.sim.config.category(book.incident.category).name if book.incident.category else "该"
        case = self.sim.app.whistle(
            item.case_id, unit, item.args["departments"],
            f"{name}问题涉及多个部门职责，请相关部门到场共同处置", unit_principal(unit), at=item.at,
        )
        self.coop["whistles"] += 1
        self.coop["assist_cases"] += before == 0
        self._parts_added(case, before, item.at, whistled=True)
        return case

    def do_add_assist(self, item: _Item, book: CaseBook) -> Case:
        case = self.sim.app.get_case(item.case_id)
        before = len(case.parts)
        case = self.sim.app.add_assist(item.case_id, item.args["units"], OPERATOR,
                                   note="需相关单位协同办理", at=item.at)
        self.coop["assist_cases"] += before == 0
        self._parts_added(case, before, item.at, whistled=False)
        return case

    def dispatch_with_assist(self, case: Case, target: str, at: dt.datetime) -> Case | None:
        """人工派单 naming assisting units too, now and then (None: a plain dispatch)."""
        if target == self.sim.config.centre.id or self.coop_rng.random() >= P_ASSIST_BY_HAND:
            return None
        assisting = self._assisting_for(case, target)
        if not assisting:
            return None
        before = len(case.parts)
        after = self.sim.app.dispatch_with_assist(case.id, target, assisting, OPERATOR, at=at,
                                              note="人工派单，主办并协办")
        self.coop["assist_cases"] += before == 0
        self._parts_added(after, before, at, whistled=False)
        return after

    def do_claim_part(self, item: _Item, book: CaseBook) -> None:
        unit = item.args["unit"]
        case = self._part_case(item, "claim_part")
        case = self.sim.app.claim_part(item.case_id, unit, unit_principal(unit), at=item.at)
        part = next(p for p in reversed(case.parts) if p.unit == unit)
        self.coop["parts_claimed"] += 1
        if part.whistle is not None:
            self.coop["reported_in_on_time" if item.at <= part.claim_deadline else "reported_in_late"] += 1
        if self.coop_rng.random() < P_PART_RETURN:
            t = office_time_after(item.at, self.coop_rng.uniform(0.5, 6), self.sim.calendar)
            self._schedule_part(t, "return_part", case.id, unit=unit)
        else:
            room = max((part.handle_deadline - item.at).total_seconds() / 3600, 1.0)
            hours = self.coop_rng.uniform(0.1, 0.6) * min(room, 40.0)
            t = item.at + dt.timedelta(hours=hours) if case.urgent else \
                office_time_after(item.at, min(hours, 30.0), self.sim.calendar)
            self._schedule_part(t, "report_part", case.id, unit=unit)
        raise Deferred  # counted here, not as a unit's own action

    def do_report_part(self, item: _Item, book: CaseBook) -> None:
        unit = item.args["unit"]
        self._part_case(item, "report_part")
        self.sim.app.report_part(item.case_id, unit, self.coop_rng.choice(PART_FEEDBACK),
                             unit_principal(unit), at=item.at)
        self.coop["parts_reported"] += 1
        raise Deferred

    def do_return_part(self, item: _Item, book: CaseBook) -> None:
        unit = item.args["unit"]
        self._part_case(item, "return_part")
        case = self.sim.app.return_part(item.case_id, unit, self.coop_rng.choice(PART_RETURN_REASONS),
                                    unit_principal(unit), at=item.at)
        self.coop["parts_returned"] += 1
        part = next(p for p in reversed(case.parts) if p.unit == unit)
        t = office_time_after(item.at, self.coop_rng.uniform(0.2, 3), self.sim.calendar)
        self._schedule_part(t, "close_part", case.id, number=part.number)
        raise Deferred

    def do_close_part(self, item: _Item, book: CaseBook) -> None:
        self._part_case(item, "close_part")
        self.sim.app.close_part(item.case_id, item.args["number"], "经核实协办单位理由成立，关闭协办任务",
                            OPERATOR, at=item.at)
        self.coop["parts_closed"] += 1
        raise Deferred

    def parts_outstanding(self, item: _Item, book: CaseBook) -> None:
        """The lead cannot resolve before every part is in: it waits a few office hours."""
        if item.case_id not in self._with_parts:
            return
        case = self.sim.app.get_case(item.case_id)
        if case.outstanding_parts and case.status == Status.CLAIMED:
            t = office_time_after(item.at, self.sim.rng.uniform(2, 8), self.sim.calendar)
            self.sim._schedule(t, "resolve", item.case_id, **item.args)
            raise Deferred

    def clock_parts(self, now: dt.datetime) -> None:
        """协办督办: the parts' passed deadlines, and 追责 of a whistled department that did
        not report in."""
        seen: set[UUID] = set()
        while self._part_deadlines and self._part_deadlines[0][0] < now:
            _, cid = heapq.heappop(self._part_deadlines)
            if cid in seen:
                continue
            seen.add(cid)
            try:
                due = self.sim.app.escalate_overdue_parts(cid, now)
            except (CaseNotFound, DomainError):
                continue
            if not due:
                continue
            self.coop["part_escalations"] += len(due)
            case = self.sim.app.get_case(cid)
            for number, kind in due:
                part = next(p for p in case.parts if p.number == number)
                key = (cid, number)
                if (kind.value == "claim" and part.whistle is not None and key not in self._accountable
                        and self.coop_rng.random() < P_ACCOUNTABLE):
                    self._accountable.add(key)
                    self._censure("accountability", part.unit, "吹哨后未按时到场报到", cid, now)

    # ---- 挂起 -------------------------------------------------------------------------------

    def do_request_hold(self, item: _Item, book: CaseBook) -> None:
        unit = item.args["unit"]
        days = self.coop_rng.randint(2, 5)
        resume = dt.datetime.combine(self.sim.calendar.add_workdays(item.at.astimezone(SHANGHAI).date(), days),
                                     dt.time(9, 0), tzinfo=SHANGHAI)
        self.sim.app.request_hold(item.case_id, unit, self.coop_rng.choice(HOLD_REASONS),
                              unit_principal(unit), expected_resume=resume, at=item.at)
        self.coop["holds_requested"] += 1
        book.token += 1  # the unit waits for the centre's decision
        t = office_time_after(item.at, self.coop_rng.uniform(0.3, 4), self.sim.calendar)
        self.sim._schedule(t, "decide_hold", item.case_id, unit=unit)
        raise Deferred

    def do_decide_hold(self, item: _Item, book: CaseBook) -> Case:
        granted = self.coop_rng.random() < 0.8
        note = "同意挂起，到期恢复办理" if granted else "理由不充分，不同意挂起，请继续办理"
        case = self.sim.app.decide_hold(item.case_id, granted, LEADER, note=note, at=item.at)
        self.coop["holds_granted" if granted else "holds_denied"] += 1
        return case

    def plan_resume(self, case: Case, book: CaseBook, now: dt.datetime) -> None:
        """挂起中: the unit resumes when it can (most often), else the clock at the expected time."""
        expected = case.resume_expected
        d = case.dispatch
        assert d is not None
        if expected is None:
            expected = office_time_after(now, 16, self.sim.calendar)
        if self.coop_rng.random() < 0.6:
            t = now + (expected - now) * self.coop_rng.uniform(0.3, 0.9)
            self.sim._schedule(t, "resume", case.id, unit=d.unit)
        else:
            self.sim._schedule(expected + dt.timedelta(minutes=1), "resume", case.id, unit=None)

    def do_resume(self, item: _Item, book: CaseBook) -> Case:
        unit = item.args["unit"]
        if unit is None:
            if not self.sim.app.resume_if_due(item.case_id, item.at):
                raise Deferred
            self.coop["resumed"] += 1
            return self.sim.app.get_case(item.case_id)
        case = self.sim.app.resume(item.case_id, unit_principal(unit), unit=unit, at=item.at)
        self.coop["resumed"] += 1
        return case

    # ---- 转办 ---------------------------------------------------------------------------------

    def do_transfer(self, item: _Item, book: CaseBook) -> Case:
        unit = item.args["unit"]
        case = self.sim.app.transfer(
            item.case_id, unit, f"经核实属{self.sim.config.unit(unit).name}职责，转办", OPERATOR, at=item.at
        )
        self.coop["transfers"] += 1
        return case

    # ---- 领导批示 -----------------------------------------------------------------------------

    def maybe_instruct(self, cid: UUID, now: dt.datetime) -> None:
        book = self.sim.books.get(cid)
        if book is None or book.instructed or self.coop_rng.random() >= P_INSTRUCT:
            return
        book.instructed = True
        t = office_time_after(now, self.coop_rng.uniform(0.5, 6), self.sim.calendar)
        self._schedule_part(t, "instruct", cid)

    def do_instruct(self, item: _Item, book: CaseBook) -> None:
        case = self.sim.app.get_case(item.case_id)
        if case.status not in HELD or case.pending_instruction is not None:
            raise Deferred
        case = self.sim.app.instruct(item.case_id, self.coop_rng.choice(INSTRUCTIONS), LEADER, at=item.at)
        self.coop["instructions"] += 1
        pending = case.pending_instruction
        assert pending is not None
        if self.coop_rng.random() < 0.15:
            t = office_time_after(pending["due"], self.coop_rng.uniform(1, 8), self.sim.calendar)
        else:
            t = min(office_time_after(item.at, self.coop_rng.uniform(0.5, 12), self.sim.calendar),
                    pending["due"] - dt.timedelta(minutes=5))
        self._schedule_part(max(t, item.at + dt.timedelta(minutes=5)), "answer_instruction", item.case_id)
        raise Deferred

    def do_answer_instruction(self, item: _Item, book: CaseBook) -> None:
        case = self._part_case(item, "answer_instruction")
        pending = case.pending_instruction
        if pending is None or case.assigned_unit is None:
            raise Deferred
        unit = case.assigned_unit
        self.sim.app.answer_instruction(item.case_id, unit, self.coop_rng.choice(INSTRUCTION_REPLIES),
                                    unit_principal(unit), at=item.at)
        self.coop["instructions_answered"] += 1
        self.coop["instructions_on_time"] += item.at <= pending["due"]
        raise Deferred

    # ---- 通报 / 追责 -------------------------------------------------------------------------

    def note_escalation(self, cid: UUID) -> None:
        latest = self.sim._latest.get(cid)
        if latest is not None and latest.dispatch is not None:
            unit = latest.dispatch.unit
            if unit != self.sim.config.centre.id:
                self._escalated_today[unit] += 1
                self._escalated_case[unit] = cid

    def morning_notices(self, now: dt.datetime) -> None:
        """Each working morning the centre names (通报) the unit escalated most the day before,
        when it was escalated often enough; a unit named twice within a week is also held to
        account (追责), once."""
        counts, self._escalated_today = self._escalated_today, Counter()
        if not counts or not self.sim.calendar.is_workday(now.date()):
            return
        unit, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if n < NOTICE_MIN_ESCALATIONS:
            return
        case = self._escalated_case.get(unit)
        self._censure("notice", unit, f"前一日超时被督办 {n} 次，予以通报", case, now)
        last = self._noticed.get(unit)
        self._noticed[unit] = now
        if last is not None and now - last <= dt.timedelta(days=7) and unit not in self._held_to_account:
            self._held_to_account.add(unit)
            self._censure("accountability", unit, "一周内再次因超时被通报，予以追责", case, now)

    def _censure(self, kind: str, unit: str, reason: str, cid: UUID | None, at: dt.datetime) -> None:
        self.sim.app.censure(kind, unit, reason, OPERATOR, case_id=cid, at=at)
        self.coop["notices" if kind == "notice" else "accountabilities"] += 1

    # ---- 一表通 --------------------------------------------------------------------------------

    def forms(self, t: dt.datetime) -> None:
        """An afternoon's 一表通 forms from the grid (网格巡查, 入户走访, 会议议定): each item a
        case of its own, routed and handled like any other."""
        from adapters.simulator.run import CaseBook
        from adapters.simulator.stream import IntakeStream
        from adapters.simulator.texts import tell

        local = t.astimezone(SHANGHAI)
        if local.hour != 16 or not self.sim.calendar.is_workday(local.date()):
            return
        if self._form_stream is None:
            self._form_stream = IntakeStream(self.sim.config, self.sim.seed, self.sim.start, self.sim.days,
                                             calendar=self.sim.app.calendar)
            self._form_stream.rng = random.Random(f"{self.sim.seed}:forms")
        fs = self._form_stream
        rng = fs.rng
        n = int(FORMS_PER_WORKDAY * self.sim.stream.scale) + (rng.random() < (FORMS_PER_WORKDAY * self.sim.stream.scale) % 1)
        for _ in range(n):
            at = t + dt.timedelta(minutes=rng.randrange(60))
            incidents = [fs._new_incident("walkin", at) for _ in range(min(rng.randint(2, 4), MAX_FORM_ITEMS))]
            incidents = [i for i in incidents if i.problem.category]  # no emergencies on a form
            if len(incidents) < 2:
                continue  # one matter is a walk-in report, not a form
            kind, word, _ = _pick_kind(rng)
            self.coop["forms"] += 1
            ref = f"YBT{local:%Y%m%d}{self.coop['forms']:04d}"
            road = incidents[0].slots["road"]
            title = f"{road}网格{local.month}月{local.day}日{word}"
            items = [{"content": tell(i, "walkin", rng, True), "address": i.address} for i in incidents]
            form, _dup = self.sim.app.submit_form(ref, kind, title, items, GRID_WORKER, at=at)
            for cid, incident in zip(form.case_ids, incidents, strict=True):
                self.sim.books[cid] = CaseBook(incident, "walkin")
                self.sim.report.form_items += 1
                try:
                    case = self.sim.app.get_case(cid)
                except CaseNotFound:
                    continue
                self.sim._plan(case, at)


def _pick_kind(rng: random.Random) -> tuple[str, str, float]:
    x = rng.random()
    for k in FORM_KINDS:
        x -= k[2]
        if x < 0:
            return k
    return FORM_KINDS[-1]

