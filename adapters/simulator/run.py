"""The district's month: intake hour by hour, units and the centre acting, the deadline clock.

Every write goes through the application service (``runtime.app``) with the simulated business
time as ``at=``, under a principal that says who acted (``unit:<id>#sim``, ``operator:…#sim``);
the simulator never touches the event store. It keeps an agenda of what each actor will do next
(a unit claims at 10:20, the centre calls the resident back on Thursday) and advances a
simulated clock an hour at a time:

1. the hour's raw records go through the intake port (one ``receive_batch`` per hour);
2. every agenda item due in the hour is carried out, in time order, and its actor decides what
   comes next from the case the application service returns;
3. at the end of the hour the deadline clock escalates every case whose deadline passed
   (``app.escalate_overdue``): the deadlines the simulator saw set, cross-checked once a
   simulated day against the read model's overdue list (``due_for_escalation``).
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from adapters.bootstrap import Runtime
from adapters.simulator.clock import (
    FastCalendar,
    office_hours_between,
    office_time_after,
    shift_time_after,
)
from adapters.simulator.coop import CoopActors, Deferred
from adapters.simulator.district import Surge, Temperament, temperaments
from adapters.simulator.intake import ChannelIntake, IntakePort, Outcome
from adapters.simulator.principals import FOLLOW_UP_DESK, LEADER, OPERATOR, unit_principal
from adapters.simulator.projects import ProjectActor
from adapters.simulator.shelf import ShelfActors
from adapters.simulator.stream import IntakeStream, SimRecord
from adapters.simulator.texts import Incident
from engine.application import CaseNotFound, ConcurrencyConflict
from engine.config import UnitKind
from engine.deadlines import SHANGHAI
from engine.domain import Case, DomainError, Rating, Status
from engine.routing.rules import Locator, unit_by_channel_rules, unit_by_rules
from engine.vocabulary import Channel

log = logging.getLogger("sanshi.simulator")


SPURIOUS_REASONS = (
    "经核实，该地址不在本单位辖区",
    "该事项不属于本单位职责范围",
    "诉求内容不清，无法联系到诉求人",
    "该问题应由属地街道牵头处理",
)
EXTENSION_REASONS = (
    "需协调多个部门共同处理",
    "维修需要采购材料，工期较长",
    "需等待施工单位进场",
    "涉及历史遗留问题，需进一步调查核实",
)
RESULTS = (
    "已安排人员到现场处理，问题已解决，已电话告知诉求人。",
    "经现场核实，已整改完毕，诉求人表示认可。",
    "已联系相关责任方限期整改，后续将持续跟踪。",
    "已向诉求人解释相关政策并协助办理。",
)


@dataclass
class CaseBook:
    """What the simulator remembers about one case it caused."""

    incident: Incident
    channel: str
    token: int = 0  # bumps with every plan; a stale agenda item is skipped
    mediated: set[int] = field(default_factory=set)  # dispatch numbers already mediated
    extension: dict[int, str] = field(default_factory=dict)  # dispatch → asked|granted|denied
    mediation_failed: bool = False
    follow_ups: int = 0
    right_units: list[str] | None = None  # who should handle it (from the true category)
    # 回访: None until the first call; True: nobody ever answers (未接通结案 after the district's
    # number of calls); False: answered (perhaps after an unanswered first call).
    unreachable: bool | None = None
    # adapters.simulator.coop: 吹哨/协办/挂起 considered (once a case), 转办 considered (per
    # dispatch), a leader's instruction written.
    coop_decided: bool = False
    transfer_looked: set[int] = field(default_factory=set)
    instructed: bool = False


@dataclass
class SimulationReport:
    district: str
    start: dt.datetime
    end: dt.datetime
    seed: int
    scale: float
    surge: dt.date | None
    records: Counter[str] = field(default_factory=Counter)  # per channel
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, status)
    routed: Counter[str] = field(default_factory=Counter)  # dispatched | merged | manual
    merges_true: int = 0  # merged into a case of the same incident
    merges_false: int = 0  # merged into a case of another incident
    repeat_reports: int = 0  # accepted reports of an incident already reported
    surge_records: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    outcomes_of_actions: Counter[str] = field(default_factory=Counter)  # granted, reopened …
    refused: Counter[str] = field(default_factory=Counter)  # commands the engine refused
    escalations: int = 0
    # 主办/协办, 吹哨报到, 一表通, 转办, 挂起, 批示, 通报/追责 (adapters.simulator.coop)
    coop: Counter[str] = field(default_factory=Counter)
    form_items: int = 0  # cases received as items of 一表通 forms (not channel records)
    # 认领大厅: needs listed, claims made, accepted, refused (adapters.simulator.shelf)
    shelf: Counter[str] = field(default_factory=Counter)
    project: dict[str, Any] | None = None  # 实事项目 (adapters.simulator.projects)
    wall_seconds: float = 0.0
    hours: int = 0
    # 网格员上报 / 企呼市应 (adapters.simulator.partner_channels): consents, lead-unit dispatches
    partners: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        # 认领大厅's needs are received by the application service directly (not a channel record).
        accepted = sum(n for (_, s), n in self.outcomes.items() if s == "accepted")
        return accepted + self.form_items + self.shelf["received"]

    def channel_rows(self) -> list[dict[str, Any]]:
        rows = []
        # The four residents' channels always; any other (媒体监督 诉前调解 镇呼市应 …) that sent.
        base = ("hotline", "app", "walkin", "police")
        for ch in (*base, *(c.value for c in Channel if c.value not in base and self.records[c.value])):
            rows.append(
                {
                    "channel": ch,
                    "records": self.records[ch],
                    "accepted": self.outcomes[(ch, "accepted")],
                    "duplicate": self.outcomes[(ch, "duplicate")],
                    "filtered": self.outcomes[(ch, "filtered")],
                    "dead_lettered": self.outcomes[(ch, "dead_lettered")],
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "district": self.district,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "seed": self.seed,
            "scale": self.scale,
            "surge_day": self.surge.isoformat() if self.surge else None,
            "surge_records": self.surge_records,
            "channels": self.channel_rows(),
            "accepted": self.accepted,
            "routed": dict(self.routed),
            "merged": self.routed["merged"],
            "merges_same_incident": self.merges_true,
            "merges_other_incident": self.merges_false,
            "repeat_reports": self.repeat_reports,
            "escalations": self.escalations,
            "coop": dict(sorted(self.coop.items())),
            "form_items": self.form_items,
            "shelf": dict(sorted(self.shelf.items())),
            "project": self.project,
            "actions": dict(sorted(self.actions.items())),
            "action_outcomes": dict(sorted(self.outcomes_of_actions.items())),
            "refused": dict(sorted(self.refused.items())),
            "wall_seconds": round(self.wall_seconds, 2),
            "cases_per_second": round(self.accepted / self.wall_seconds, 1)
            if self.wall_seconds
            else None,
        }


@dataclass(order=True)
class _Item:
    at: dt.datetime
    seq: int
    kind: str = field(compare=False)
    case_id: UUID = field(compare=False)
    token: int = field(compare=False)
    args: dict[str, Any] = field(compare=False, default_factory=dict)


Progress = Callable[[int, int], None]  # (day done, days)
ANY_TOKEN = -1  # an agenda item that stays due whatever the case's actor plans meanwhile


class Simulation:
    def __init__(
        self,
        runtime: Runtime,
        *,
        days: int,
        start: dt.datetime,
        seed: int = 7,
        scale: float = 1.0,
        surge: Surge | bool | None = True,
        port: IntakePort | None = None,
        progress: Progress | None = None,
        wait_timeout: float = 120.0,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.runtime = runtime
        self.app = runtime.app
        self.config = runtime.config
        self.calendar = FastCalendar(self.app.calendar)
        self.start = start.astimezone(SHANGHAI)
        self.days = days
        self.end = self.start + dt.timedelta(days=days)
        self.seed = seed
        if surge is True:
            # A storm two thirds into the period (when it is at least three days long).
            surge = Surge((self.start + dt.timedelta(days=days * 2 // 3)).date()) if days >= 3 else None
        self.surge = surge or None
        self.stream = IntakeStream(
            self.config, seed, self.start, days, scale, self.surge, self.app.calendar
        )
        self.port = port or ChannelIntake(runtime)
        self.progress = progress
        self.wait_timeout = wait_timeout
        self.rng = random.Random(f"{seed}:world")
        self.temper = temperaments(self.config, seed)
        self.locator = Locator(self.config)
        self.books: dict[UUID, CaseBook] = {}
        self._latest: dict[UUID, Case] = {}  # the case as the simulator last saw it
        self._first_case: dict[int, UUID] = {}  # incident number → the case of its first report
        self.agenda: list[_Item] = []
        self._seq = 0
        # The deadline clock's candidates: (deadline, case) for every deadline the simulator saw.
        self._deadlines: list[tuple[dt.datetime, UUID]] = []
        self.report = SimulationReport(
            self.config.district.name, self.start, self.end, seed, scale,
            self.surge.day if self.surge else None,
        )
        self.actors = CoopActors(self)
        self.shelf = ShelfActors(self)  # 认领大厅
        self.projects = ProjectActor(self)

    # ---- the loop ------------------------------------------------------------------------

    def run(self) -> SimulationReport:
        t_wall = time.perf_counter()
        hour = dt.timedelta(hours=1)
        # Embedded mode catches the projections up after every save; the simulator reads them
        # once a simulated day (the deadline clock's cross-check), so it lets them catch up
        # then, in one batch, instead of once per command. Restored, and caught up, at the end.
        projector = self.runtime.projector
        saved_hook = self.app.on_saved
        if saved_hook is not None:
            self.app.on_saved = None
        try:
            for t in self.stream.hours():
                records = self.stream.records_between(t, t + hour)
                if records:
                    self._intake(records)
                self.actors.forms(t)
                self.shelf.hour(t)
                self.projects.hour(t)
                self._carry_out_until(t + hour)
                self._clock(t + hour)
                self.report.hours += 1
                done = t + hour - self.start
                if self.progress is not None and done % dt.timedelta(days=1) == dt.timedelta(0):
                    self.progress(done.days, self.days)
        finally:
            self.app.on_saved = saved_hook
            if saved_hook is not None:
                projector.catch_up()
        self.report.wall_seconds = time.perf_counter() - t_wall
        self.report.partners.update(self.stream.partners.counts)
        return self.report

    # ---- intake --------------------------------------------------------------------------

    def _intake(self, records: list[SimRecord]) -> None:
        for r in records:
            self.report.records[r.channel] += 1
            if self.surge and r.received_at.date() == self.surge.day:
                self.report.surge_records += 1
        outcomes = self.port.submit(records)
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            raise RuntimeError(f"{len(failed)} 条记录未能交给受理端口：{failed[0].reason}")
        if self.port.asynchronous:
            outcomes = self._await_cases(outcomes)
        for o in outcomes:
            self.report.outcomes[(o.record.channel, o.status)] += 1
            if o.status != "accepted" or o.case_id is None or o.record.incident is None:
                continue
            incident = o.record.incident
            self.books[o.case_id] = CaseBook(incident, o.record.channel)
            if incident.number in self._first_case:
                self.report.repeat_reports += 1
            else:
                self._first_case[incident.number] = o.case_id
        # Now read each new case (what did the router decide?) and let its actor plan.
        for o in outcomes:
            if o.status != "accepted" or o.case_id is None or o.case_id not in self.books:
                continue
            try:
                case = self.app.get_case(o.case_id)
            except CaseNotFound:
                continue
            if case.status == Status.MERGED:
                self.report.routed["merged"] += 1
                target = self.books.get(case.merged_into) if case.merged_into else None
                if target is not None and target.incident is self.books[o.case_id].incident:
                    self.report.merges_true += 1
                else:
                    self.report.merges_false += 1
            elif case.manual_reason is not None:
                self.report.routed["manual"] += 1
            else:
                self.report.routed["dispatched"] += 1
            if case.assigned_unit is not None and case.assigned_unit == self._channel_lead(case):
                self.report.partners[f"{case.channel}_led"] += 1
            self._plan(case, o.record.received_at)

    def _channel_lead(self, case: Case, category: str | None = None) -> str | None:
        """The unit a channel rule of the district (渠道规则) gives the case, if one does."""
        loc = self.locator.locate(case.address, case.content)
        return unit_by_channel_rules(
            self.config, case.channel, category or case.category or "", case.content, loc
        )[0]

    def _await_cases(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Kafka: the worker writes the cases; wait until every queued one is in the log."""
        deadline = time.monotonic() + self.wait_timeout
        pending = {o.case_id for o in outcomes if o.status == "queued" and o.case_id}
        while pending and time.monotonic() < deadline:
            pending = {cid for cid in pending if not self.app.exists(cid)}
            if pending:
                time.sleep(0.02)
        if pending:
            raise TimeoutError(f"{len(pending)} 条记录在 {self.wait_timeout:.0f} 秒内未入库（worker 是否在运行？）")
        out: list[Outcome] = []
        seen: set[UUID] = set()
        for o in outcomes:
            if o.status != "queued" or o.case_id is None:
                out.append(o)
                continue
            # A re-sent record is the same case: the worker reports it as a duplicate.
            status = "duplicate" if o.record.resend or o.case_id in seen else "accepted"
            seen.add(o.case_id)
            out.append(Outcome(o.record, status, o.case_id))
        return out

    # ---- the agenda ----------------------------------------------------------------------

    def _schedule(
        self, at: dt.datetime, kind: str, case_id: UUID, *, always: bool = False, **args: Any
    ) -> None:
        """Put an action on the agenda; it goes stale when the case's actor plans again,
        unless ``always`` (a part's unit, a leader: they act whatever the lead unit does)."""
        token = ANY_TOKEN if always else self.books[case_id].token
        self._seq += 1
        heapq.heappush(self.agenda, _Item(at, self._seq, kind, case_id, token, args))

    def _carry_out_until(self, until: dt.datetime) -> None:
        while self.agenda and self.agenda[0].at < until:
            item = heapq.heappop(self.agenda)
            book = self.books.get(item.case_id)
            if book is None or item.token not in (book.token, ANY_TOKEN):
                continue
            self._carry_out(item, book)

    def _carry_out(self, item: _Item, book: CaseBook) -> None:
        handler = (
            getattr(self, f"_do_{item.kind}", None)
            or getattr(self.shelf, f"do_{item.kind}", None)
            or getattr(self.actors, f"do_{item.kind}")
        )
        for attempt in range(3):
            try:
                case = handler(item, book)
            except ConcurrencyConflict:
                if attempt == 2:
                    raise
                continue
            except Deferred:
                return  # put back on the agenda (or dropped) by the handler
            except DomainError as exc:
                # The engine refused (e.g. a deadline or rule the simulator misjudged): note it
                # and let the actor look at the case again.
                self.report.refused[f"{item.kind}:{exc.code}"] += 1
                log.debug("refused %s on %s: %s", item.kind, item.case_id, exc.message)
                case = self.app.get_case(item.case_id)
                book.token += 1
                self._plan(case, item.at, after_refusal=True)
                return
            self.report.actions[item.kind] += 1
            if case is not None:
                self._plan(case, item.at)
            return

    # ---- actors decide what comes next ---------------------------------------------------

    def _plan(self, case: Case, now: dt.datetime, after_refusal: bool = False) -> None:
        book = self.books.get(case.id)
        if book is None:
            return
        book.token += 1
        self._latest[case.id] = case
        status = case.status
        if status in (Status.DISPATCHED, Status.CLAIMED, Status.MEDIATING):
            self._track_deadlines(case)
        if status == Status.DISPATCHED:
            self._plan_claim(case, book, now)
        elif status == Status.CLAIMED:
            self._plan_work(case, book, now)
        elif status == Status.MEDIATING:
            assert case.dispatch is not None
            t = office_time_after(now, self.rng.uniform(4, 30), self.calendar)
            self._schedule(t, "conclude_mediation", case.id, unit=case.dispatch.unit)
        elif status == Status.ON_HOLD:
            self.actors.plan_resume(case, book, now)
        elif status in (Status.RESOLVED, Status.ANSWERED_DIRECTLY):
            t = shift_time_after(now + dt.timedelta(hours=self.rng.uniform(18, 60)), self.rng.uniform(0, 6))
            self._schedule(t, "follow_up", case.id)
        elif status == Status.RETURNED and case.return_review is not None and not after_refusal:
            # 待审退单: the centre reviews the return within a few office hours.
            t = office_time_after(now, self.rng.uniform(0.2, 4), self.calendar)
            self._schedule(t, "review_return", case.id)
        elif status in (Status.RECEIVED, Status.RETURNED, Status.REOPENED):
            if after_refusal and status == Status.RECEIVED and case.manual_reason is None:
                return
            t = shift_time_after(now, self.rng.uniform(0.2, 2.5))
            self._schedule(t, "manual", case.id)
        # closed, merged, rejected: nothing more to do

    def _temper(self, unit: str) -> Temperament:
        return self.temper.get(unit) or self.temper[self.config.centre.id]

    def _plan_claim(self, case: Case, book: CaseBook, now: dt.datetime) -> None:
        d = case.dispatch
        assert d is not None
        tm = self._temper(d.unit)
        late = self.rng.random() < tm.claim_late_p
        if case.urgent:
            minutes = self.rng.uniform(35, 150) if late else self.rng.uniform(3, 26)
            t = now + dt.timedelta(minutes=minutes)
        elif late:
            t = office_time_after(d.claim_deadline, self.rng.uniform(0.5, 12), self.calendar)
        else:
            room = office_hours_between(now, d.claim_deadline, self.calendar)
            hours = min(self.rng.expovariate(1 / tm.claim_hours), max(room - 0.1, 0.05))
            t = office_time_after(now, hours, self.calendar)
            if t > d.claim_deadline:
                t = d.claim_deadline - dt.timedelta(minutes=5)
        t = max(t, now + dt.timedelta(minutes=1))
        if self.actors.maybe_transfer(case, book, now):
            return
        # A unit that sees at once the case is not theirs may return it without claiming.
        if not self._is_theirs(case, d.unit) and self.rng.random() < self._return_p(d.unit, tm) * 0.5:
            self._schedule(t, "return", case.id, unit=d.unit, reason=self._misroute_reason(case, book))
            return
        self._schedule(t, "claim", case.id, unit=d.unit)

    def _plan_work(self, case: Case, book: CaseBook, now: dt.datetime) -> None:
        d = case.dispatch
        assert d is not None
        unit = d.unit
        tm = self._temper(unit)
        soon = office_time_after(now, self.rng.uniform(0.3, 6), self.calendar)
        if case.urgent:
            soon = now + dt.timedelta(minutes=self.rng.uniform(10, 90))
        # Not ours? Return it (most units do), with a reason.
        if d.number not in book.mediated and book.extension.get(d.number) is None:
            if not self._is_theirs(case, unit):
                if self.rng.random() < self._return_p(unit, tm):
                    self._schedule(soon, "return", case.id, unit=unit,
                                   reason=self._misroute_reason(case, book))
                    return
            elif case.return_count < 2 and unit != self.config.centre.id and self.rng.random() < tm.spurious_return_p:
                self._schedule(soon, "return", case.id, unit=unit,
                               reason=self.rng.choice(SPURIOUS_REASONS))
                return
        if (not self._mediates(case, unit) and book.extension.get(d.number) is None
                and self.actors.on_claimed(case, book, now)):
            return
        # Disputes go to mediation first (调解), once per dispatch; once it is concluded (with
        # an agreement, or with the parties pointed to the courts) the case is written up soon.
        if self._mediates(case, unit):
            if d.number not in book.mediated:
                book.mediated.add(d.number)
                self._schedule(soon, "start_mediation", case.id, unit=unit)
                return
            if book.extension.get(d.number) is None:
                t = office_time_after(now, self.rng.uniform(1, 12), self.calendar)
                if self.rng.random() < tm.late_p:
                    t = office_time_after(max(t, d.handle_deadline), self.rng.uniform(1, 16), self.calendar)
                self._schedule(t, "resolve", case.id, unit=unit)
                return
        state = book.extension.get(d.number)
        if state == "asked":
            return  # the centre decides; its decision re-plans this case
        deadline = d.handle_deadline
        r = self.rng.random()
        if state is None and not case.urgent and r < tm.extension_p:
            ask = self._between(now, deadline, 0.4, 0.9)
            until = dt.datetime.combine(
                self.calendar.add_workdays(deadline.date(), self.rng.randint(3, 10)),
                dt.time(23, 59, 59), tzinfo=SHANGHAI,
            )
            self._schedule(ask, "request_extension", case.id, unit=unit, until=until,
                           reason=self.rng.choice(EXTENSION_REASONS))
            return
        late_p = tm.late_p
        if state == "granted":
            late_p = tm.late_p / 3
        elif state == "denied":
            late_p = 0.5
        # r below extension_p was spent on asking for an extension (when one could be asked).
        late = r < tm.extension_p + late_p if state is None and not case.urgent else r < late_p
        if late:
            t = office_time_after(deadline, self.rng.uniform(1, 24), self.calendar)
            if case.urgent:
                t = deadline + dt.timedelta(hours=self.rng.uniform(1, 20))
        else:
            share = min(max(self.rng.gauss(tm.handle_share, 0.2), 0.05), 0.95)
            t = self._between(now, deadline, share, share)
        self._schedule(max(t, now + dt.timedelta(minutes=5)), "resolve", case.id, unit=unit)

    def _return_p(self, unit: str, tm: Temperament) -> float:
        """How likely a unit returns a case that is not its own. A street (属地) mostly takes
        on what its communities could not handle and coordinates it (统筹) instead."""
        if self.config.has_unit(unit) and self.config.unit(unit).kind == UnitKind.STREET:
            return tm.misroute_return_p * 0.3
        return tm.misroute_return_p

    def _between(self, now: dt.datetime, deadline: dt.datetime, lo: float, hi: float) -> dt.datetime:
        """A moment in office time between now and the deadline (before the deadline)."""
        room = office_hours_between(now, deadline, self.calendar)
        if room <= 0.1:
            span = (deadline - now) * self.rng.uniform(lo, hi)
            return now + max(span, dt.timedelta(minutes=2))
        t = office_time_after(now, room * self.rng.uniform(lo, hi), self.calendar)
        return min(t, deadline - dt.timedelta(minutes=1))

    def _mediates(self, case: Case, unit: str) -> bool:
        kind = self.config.unit(unit).kind if self.config.has_unit(unit) else None
        if kind == UnitKind.JUDICIAL_OFFICE:
            return True
        try:
            return bool(case.category and self.config.category(case.category).mediation)
        except KeyError:
            return False

    # ---- who is right: the simulator knows the true category ---------------------------

    def _right_units(self, case: Case) -> list[str]:
        book = self.books[case.id]
        if book.right_units is None:
            book.right_units = self._find_right_units(case, book)
        return book.right_units

    def _find_right_units(self, case: Case, book: CaseBook) -> list[str]:
        truth = book.incident.category
        if not truth:
            return []  # an emergency: nobody's but the police's
        loc = self.locator.locate(case.address, case.content)
        unit, _ = unit_by_rules(self.config, truth, case.content, loc)
        right = [unit] if unit else []
        lead = self._channel_lead(case, truth)  # 营商环境办 leads 企呼市应
        if lead is not None:
            right.insert(0, lead)
        for u in (loc.community, loc.street):
            rule = next((r for r in self.config.routing if r.category == truth), None)
            if u and rule is not None and rule.to == "locality" and u not in right:
                right.append(u)
        right += [u.id for u in self.config.units if truth in u.categories and u.id not in right]
        return right

    def _is_theirs(self, case: Case, unit: str) -> bool:
        if unit == self.config.centre.id:
            return True
        return unit in self._right_units(case)

    def _misroute_reason(self, case: Case, book: CaseBook) -> str:
        truth = book.incident.category
        if not truth:
            return "属紧急警情，应由公安110处置"
        name = self.config.category(truth).name
        right = [u for u in self._right_units(case) if u not in case.returned_by]
        if right:
            return f"该诉求属于{name}，非本单位职责，建议转{self.config.unit(right[0]).name}"
        return f"该诉求属于{name}，非本单位职责"

    # ---- deadlines -----------------------------------------------------------------------

    def _track_deadlines(self, case: Case) -> None:
        d = case.dispatch
        assert d is not None
        if d.claimed_at is None:
            heapq.heappush(self._deadlines, (d.claim_deadline, case.id))
        heapq.heappush(self._deadlines, (d.handle_deadline, case.id))

    def _clock(self, now: dt.datetime) -> None:
        """督办: every case whose deadline passed before ``now``."""
        candidates: list[UUID] = []
        seen: set[UUID] = set()
        while self._deadlines and self._deadlines[0][0] < now:
            _, cid = heapq.heappop(self._deadlines)
            latest = self._latest.get(cid)
            if cid not in seen and latest is not None and latest.overdue_deadlines(now):
                seen.add(cid)
                candidates.append(cid)
        # The read model's overdue list (督办 candidates) as a daily cross-check: the agenda
        # knows every deadline it set, and asking the views every simulated hour would make
        # the projections catch up 24 times a day in small batches (a noticeable share of the
        # run time: bench/RESULTS.md, "Numbers moved from comments").
        if now.astimezone(SHANGHAI).hour == 0:
            due = self.runtime.read_model.due_for_escalation(now)
            candidates = list(dict.fromkeys([*candidates, *_ids(due)]))
        for cid in candidates:
            try:
                kinds = self.app.escalate_overdue(cid, now)
            except (CaseNotFound, DomainError):
                continue
            self.report.escalations += len(kinds)
            if kinds:
                self.actors.note_escalation(cid)
                self.actors.maybe_instruct(cid, now)
        self.actors.clock_parts(now)
        if now.astimezone(SHANGHAI).hour == 9:
            self.actors.morning_notices(now)

    # ---- actions: every one a call on the application service -----------------------------

    def _do_claim(self, item: _Item, book: CaseBook) -> Case:
        return self.app.claim(item.case_id, item.args["unit"], unit_principal(item.args["unit"]), at=item.at)

    def _do_return(self, item: _Item, book: CaseBook) -> Case:
        unit = item.args["unit"]
        reason = item.args["reason"]
        case = self._latest.get(item.case_id) or self.app.get_case(item.case_id)
        # A unit that knows whose it is names that unit (建议承办单位), most of the time.
        suggested = None
        if reason not in SPURIOUS_REASONS and self.rng.random() < 0.7:
            suggested = next(
                (u for u in self._right_units(case) if u != unit and u not in case.returned_by
                 and u != self.config.centre.id),
                None,
            )
        return self.app.return_case(
            item.case_id, unit, reason, unit_principal(unit), at=item.at, suggested_unit=suggested
        )

    def _do_review_return(self, item: _Item, book: CaseBook) -> Case | None:
        """退单审核: the centre checks the return. A unit that returned its own case gets it
        back with a note; otherwise the case goes to the unit named (if right) or to the right
        unit the centre finds; when it finds none, the manual queue decides (派单 approves)."""
        case = self.app.get_case(item.case_id)
        review = case.return_review
        if review is None:
            return case
        unit, named = review["unit"], review["suggested_unit"]
        if self._is_theirs(case, unit) and self.rng.random() < 0.9:
            self.report.outcomes_of_actions["return_refused"] += 1
            return self.app.review_return(
                case.id, False, OPERATOR, note="经核实属你单位职责，请继续办理", at=item.at
            )
        right = [u for u in self._right_units(case) if u not in case.returned_by]
        target = named if named and (named in right or not right) else (right[0] if right else None)
        if target is None or target == self.config.centre.id:
            self._schedule(item.at + dt.timedelta(minutes=5), "manual", case.id)
            return None
        self.report.outcomes_of_actions["return_approved"] += 1
        if target == named:
            self.report.outcomes_of_actions["return_to_suggested"] += 1
        return self.app.review_return(
            case.id, True, OPERATOR, unit=target, note="同意退单，转派", at=item.at
        )

    def _do_request_extension(self, item: _Item, book: CaseBook) -> Case | None:
        unit = item.args["unit"]
        case = self.app.request_extension(
            item.case_id, unit, item.args["until"], item.args["reason"], unit_principal(unit), at=item.at
        )
        assert case.dispatch is not None
        book.extension[case.dispatch.number] = "asked"
        book.token += 1
        granted = self.rng.random() < 0.75
        t = shift_time_after(item.at, self.rng.uniform(0.5, 8))
        self._schedule(t, "decide_extension", case.id, granted=granted)
        return None  # the centre's decision re-plans the case

    def _do_decide_extension(self, item: _Item, book: CaseBook) -> Case:
        granted = item.args["granted"]
        note = "同意延期" if granted else "理由不充分，不同意延期，请按期办结"
        case = self.app.decide_extension(item.case_id, granted, LEADER, note=note, at=item.at)
        assert case.dispatch is not None
        book.extension[case.dispatch.number] = "granted" if granted else "denied"
        self.report.outcomes_of_actions["extension_granted" if granted else "extension_denied"] += 1
        return case

    def _do_start_mediation(self, item: _Item, book: CaseBook) -> Case:
        unit = item.args["unit"]
        return self.app.start_mediation(item.case_id, unit, unit_principal(unit), at=item.at)

    def _do_conclude_mediation(self, item: _Item, book: CaseBook) -> Case:
        unit = item.args["unit"]
        agreement = self.rng.random() < self._temper(unit).mediation_success
        book.mediation_failed = not agreement
        self.report.outcomes_of_actions["mediation_agreed" if agreement else "mediation_failed"] += 1
        summary = (
            "经调解，双方达成一致意见，签订调解协议。"
            if agreement
            else "经多次调解，双方分歧较大，未能达成协议，已告知可通过诉讼途径解决。"
        )
        return self.app.conclude_mediation(
            item.case_id, unit, agreement, summary, unit_principal(unit), at=item.at
        )

    def _do_resolve(self, item: _Item, book: CaseBook) -> Case:
        unit = item.args["unit"]
        self.actors.parts_outstanding(item, book)
        result = self.rng.choice(RESULTS)
        if book.mediation_failed:
            result = "调解未成功，已引导当事人通过诉讼途径解决，并做好解释工作。"
        return self.app.resolve(item.case_id, unit, result, unit_principal(unit), at=item.at)

    def _do_follow_up(self, item: _Item, book: CaseBook) -> Case | None:
        case = self._latest.get(item.case_id) or self.app.get_case(item.case_id)
        book.follow_ups += 1
        if book.unreachable is None:
            book.unreachable = self.rng.random() < 0.06
            if not book.unreachable and self.rng.random() < 0.08:
                # Not answered the first time, answered the next day.
                self.report.outcomes_of_actions["follow_up_unanswered_once"] += 1
                book.follow_ups -= 1  # not a conversation with the resident
                self.report.outcomes_of_actions["callback_unanswered"] += 1
                self.app.callback_unanswered(item.case_id, FOLLOW_UP_DESK, note="无人接听", at=item.at)
                self._schedule(shift_time_after(item.at + dt.timedelta(hours=20), 2), "follow_up", item.case_id)
                return None
        if book.unreachable:
            # Nobody answers: each call is recorded (回访未接通); after the district's number of
            # them the desk closes the case (未接通结案), counted apart in the figures.
            book.follow_ups -= 1
            self.report.outcomes_of_actions["callback_unanswered"] += 1
            case = self.app.callback_unanswered(item.case_id, FOLLOW_UP_DESK, note="无人接听", at=item.at)
            if not case.unreachable:
                t = shift_time_after(item.at + dt.timedelta(hours=self.rng.uniform(4, 28)), 1)
                self._schedule(t, "follow_up", item.case_id)
                return None
            self.report.outcomes_of_actions["follow_up_unreachable"] += 1
            return self.app.close_unreachable(
                item.case_id, FOLLOW_UP_DESK, note="多次回访均未接通，按规定结案", at=item.at
            )
        solved, rating = self._resident_verdict(case, book)
        comment = {
            Rating.DISSATISFIED: "群众表示不满意",
            Rating.BASICALLY_SATISFIED: "群众表示基本满意",
            Rating.SATISFIED: "群众表示满意",
        }.get(rating, "群众未评价") if rating else "群众未评价"
        after = self.app.follow_up(
            item.case_id, solved, rating, FOLLOW_UP_DESK, comment=comment, at=item.at
        )
        self.report.outcomes_of_actions["reopened" if after.status != Status.CLOSED else "closed"] += 1
        return after

    def _resident_verdict(self, case: Case, book: CaseBook) -> tuple[bool, Rating | None]:
        """回访: what the resident says, given how the case went."""
        unit = case.resolved_unit or self.config.centre.id
        q = self._temper(unit).quality
        d = case.dispatch
        if (
            case.status == Status.RESOLVED
            and d is not None
            and case.resolved_at is not None
            and case.resolved_at > d.handle_deadline
        ):
            q -= 0.12
        q -= 0.04 * case.return_count
        if book.mediation_failed:
            q -= 0.35
        if case.status == Status.ANSWERED_DIRECTLY:
            q = 0.93
        if book.follow_ups > 1:
            q = max(q, 0.9) + 0.04 * (book.follow_ups - 1)  # second time round it usually works
        solved = self.rng.random() < q + 0.03
        r = self.rng.random()
        if not solved:
            rating: Rating | None = Rating.DISSATISFIED if r < 0.65 else Rating.BASICALLY_SATISFIED
        elif r < 0.05:
            rating = None  # answered, declined to rate
        elif r < 0.05 + (1 - q) * 0.35:
            rating = Rating.DISSATISFIED
        elif r < 0.72:
            rating = Rating.SATISFIED
        else:
            rating = Rating.BASICALLY_SATISFIED
        return solved, rating

    def _do_manual(self, item: _Item, book: CaseBook) -> Case:
        """The centre's manual queue (转人工): reject, answer on the phone, or dispatch by hand
        (correcting the category first when the router got it wrong: the router learns)."""
        case = self.app.get_case(item.case_id)
        truth = book.incident.category
        if case.status == Status.RECEIVED and not truth:
            self.report.outcomes_of_actions["rejected"] += 1
            return self.app.reject(case.id, "属紧急警情，已告知拨打110并转公安处置", OPERATOR, at=item.at)
        if case.status == Status.RECEIVED and case.appeal_type == "咨询" and self.rng.random() < 0.7:
            self.report.outcomes_of_actions["answered_directly"] += 1
            return self.app.answer_directly(case.id, "已按政策规定向市民解答，市民表示清楚。", OPERATOR, at=item.at)
        if truth and case.category != truth and self.rng.random() < 0.9:
            case = self.app.reclassify(case.id, truth, OPERATOR, at=item.at)
            self.report.outcomes_of_actions["reclassified"] += 1
        target = next((u for u in self._right_units(case) if u not in case.returned_by), None)
        if target is None and case.street and case.street not in case.returned_by:
            target = case.street
        if target is None and case.status == Status.RECEIVED:
            self.report.outcomes_of_actions["answered_directly"] += 1
            return self.app.answer_directly(case.id, "中心协调处理，已答复市民。", OPERATOR, at=item.at)
        # Nobody left who has not returned it: the centre handles it itself (中心兜底).
        target = target or self.config.centre.id
        self.report.outcomes_of_actions["dispatched_by_hand"] += 1
        with_assist = self.actors.dispatch_with_assist(case, target, item.at)
        if with_assist is not None:
            return with_assist
        return self.app.dispatch(case.id, target, OPERATOR, at=item.at, note="人工派单")


def _ids(rows: Iterable[Any]) -> list[UUID]:
    out = []
    for r in rows:
        if isinstance(r, UUID):
            out.append(r)
        else:
            cid = getattr(r, "case_id", None) or (r.get("case_id") if isinstance(r, dict) else None)
            if cid is not None:
                out.append(cid if isinstance(cid, UUID) else UUID(str(cid)))
    return out


def simulate(
    runtime: Runtime,
    *,
    days: int = 21,
    start: dt.datetime,
    seed: int = 7,
    scale: float = 1.0,
    surge: Surge | bool | None = True,
    port: IntakePort | None = None,
    progress: Progress | None = None,
) -> SimulationReport:
    """Run ``days`` of the runtime's district from ``start``; see :class:`Simulation`."""
    return Simulation(
        runtime, days=days, start=start, seed=seed, scale=scale, surge=surge, port=port,
        progress=progress,
    ).run()
