"""认领大厅 in the simulation: residents' needs (需求) the centre puts on the open shelf, the
helpers (社会企业, 社会组织, 志愿服务队) who claim them, the centre's decisions.

A few needs arrive over the first two thirds of the period (through the application service,
as the 解忧超市 app's records, not routed: the centre shelves them instead). The centre lists
each at once with the service it needs; one or two of the units offering that service apply
within hours; a few office hours later the centre decides: it accepts one claim per need and,
once in the run, first refuses a claim with a reason (the item stays on the shelf and the next
claim is accepted). The accepted helper then works the case as any unit does, through the same
commands (签收, 办结; the centre's 回访). Every decision here, the helper's timing included,
draws from a random generator of its own (``{seed}:shelf``) and the handlers re-plan nothing of
the simulation's, so adding the shelf leaves the intake stream and the other actors' draws, and
so the rest of the demo, as they were.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.simulator.clock import office_time_after
from adapters.simulator.principals import FOLLOW_UP_DESK, OPERATOR, unit_principal
from adapters.simulator.texts import PROBLEMS, Incident
from engine.domain import Case, Rating, Status
from engine.intake import Channel, IntakeCommand
from engine.vocabulary import HELPER_KINDS

if TYPE_CHECKING:
    from adapters.simulator.run import CaseBook, Simulation, _Item


@dataclass(frozen=True)
class Need:
    """One resident's need (需求) and what the centre writes on the shelf."""

    content: str
    address: str
    service: str
    summary: str


NEEDS: tuple[Need, ...] = (
    Need("我家老人八十多岁独居，子女在外地，想找人每周上门看看、帮忙买点菜。", "海城区四川路社区", "elderly_care",
         "四川路社区一位八旬独居老人，需每周上门探访、代购生活用品"),
    Need("家里水龙头和下水管漏水好几天了，我一个人腿脚不便，请不到师傅。", "海城区湖北路", "repair",
         "湖北路一户行动不便居民家中水龙头、下水管漏水，需上门维修"),
    Need("孩子放学后没人照看，双职工家庭，想问有没有课后托管。", "海城区贵州路", "childcare",
         "贵州路一双职工家庭，需课后托管、作业辅导"),
    Need("楼道里堆了很多杂物和垃圾，老人多，想找人帮忙清理一下。", "海城区珠海路", "cleaning",
         "珠海路一老旧小区楼道杂物堆积，需组织清理"),
    Need("和房东因为押金的事闹得不愉快，想咨询一下法律上怎么处理。", "海城区北部湾中路", "legal_aid",
         "北部湾中路一租户与房东押金纠纷，需法律咨询"),
    Need("母亲最近情绪低落，不爱说话，想找人上门陪她聊聊。", "海城区云南路", "counselling",
         "云南路一位老人情绪低落，需心理疏导、陪伴"),
    Need("独居老人家里的灯坏了好几盏，晚上看不清，希望有人帮忙换一下。", "海城区茶亭路", "repair",
         "茶亭路一独居老人家中多盏灯损坏，需上门更换"),
    Need("我爸刚出院，行动不便，想找人帮忙推轮椅去复诊。", "海城区海角路", "elderly_care",
         "海角路一位刚出院老人，需陪同复诊"),
)
CLAIM_NOTES = (
    "本单位可于明日上午派两名人员上门",
    "已有熟悉该片区的队员，可在两个工作日内到场",
    "可安排专业人员上门，并持续跟进",
)
REFUSAL = "该单位本周人手已满，改由其他单位认领"
RESULTS = (
    "已安排人员上门服务，服务对象表示满意，将定期回访。",
    "已上门完成服务，并留下联系方式，后续有需要随时联系。",
)


class ShelfActors:
    """The centre's shelf and the helpers' claims, on the simulation's agenda."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.app = sim.app
        self.config = sim.config
        self.rng = random.Random(f"{sim.seed}:shelf")
        self.counts: Counter[str] = sim.report.shelf
        self.refused_once = False
        # Needs arrive in the first two thirds of the period, spread over office hours.
        span = max(1, sim.days * 2 // 3)
        self.due: list[tuple[dt.datetime, int, Need]] = sorted(
            (
                sim.start + dt.timedelta(days=self.rng.randrange(span), hours=self.rng.uniform(8.5, 17)),
                i,
                need,
            )
            for i, need in enumerate(NEEDS[: max(2, min(len(NEEDS), sim.days // 2))])
        )
        self.helpers = [u for u in self.config.units if u.kind.value in HELPER_KINDS and u.active]

    def hour(self, t: dt.datetime) -> None:
        """Receive and shelve the needs arriving in [t, t + 1 h)."""
        end = t + dt.timedelta(hours=1)
        while self.due and self.due[0][0] < end:
            at, i, need = self.due.pop(0)
            self._list(at, i, need)

    def _list(self, at: dt.datetime, i: int, need: Need) -> None:
        from adapters.simulator.run import CaseBook

        offering = [u.id for u in self.helpers if need.service in u.services]
        if not offering:  # a district without helpers for this service: nothing to shelve
            return
        result = self.app.receive(
            IntakeCommand(
                channel=Channel.APP,
                source_ref=f"shelf-{self.sim.seed}-{i}",
                received_at=at,
                content=need.content,
                address=need.address,
                caller_name="",
                caller_phone="",
                appeal_type="求助",
            ),
            route=False,
        )
        if result.duplicate or result.status != Status.RECEIVED.value:
            return
        self.counts["received"] += 1
        problem = next(p for p in PROBLEMS if p.category == "civil_affairs")
        incident = Incident(-(i + 1), problem, {}, need.address, 0, False)
        self.sim.books[result.case_id] = CaseBook(incident, Channel.APP.value)
        listed = at + dt.timedelta(minutes=self.rng.uniform(10, 40))
        self.app.shelve(result.case_id, need.service, need.summary, OPERATOR, at=listed)
        self.counts["listed"] += 1
        applicants = self.rng.sample(offering, k=min(len(offering), self.rng.choice((1, 2, 2))))
        last = listed
        for unit in applicants:
            last = listed + dt.timedelta(hours=self.rng.uniform(0.5, 5))
            self.sim._schedule(last, "shelf_apply", result.case_id, always=True, unit=unit)
        decide = office_time_after(last, self.rng.uniform(0.5, 3), self.sim.calendar)
        self.sim._schedule(decide, "shelf_decide", result.case_id, always=True)

    def do_shelf_apply(self, item: _Item, book: CaseBook) -> Case | None:
        unit = str(item.args["unit"])
        self.app.apply_claim(
            item.case_id, unit, self.rng.choice(CLAIM_NOTES), unit_principal(unit), at=item.at
        )
        self.counts["claims"] += 1
        return None  # the case waits at the centre: nothing for its actors to plan

    def _next(self, at: dt.datetime, kind: str, item: _Item, hours: tuple[float, float], **args: str) -> None:
        t = office_time_after(at, self.rng.uniform(*hours), self.sim.calendar)
        self.sim._schedule(t, kind, item.case_id, always=True, **args)

    def do_shelf_claim(self, item: _Item, book: CaseBook) -> Case | None:
        """The accepted helper signs for the case (签收), then serves and resolves it."""
        unit = str(item.args["unit"])
        self.app.claim(item.case_id, unit, unit_principal(unit), at=item.at)
        self.sim.report.actions["claim"] += 1  # the summary counts every unit's 签收 alike
        self._next(item.at, "shelf_resolve", item, (2, 16), unit=unit)
        return None

    def do_shelf_resolve(self, item: _Item, book: CaseBook) -> Case | None:
        unit = str(item.args["unit"])
        self.app.resolve(item.case_id, unit, self.rng.choice(RESULTS), unit_principal(unit), at=item.at)
        self.counts["resolved"] += 1
        self.sim.report.actions["resolve"] += 1
        self._next(item.at, "shelf_follow_up", item, (4, 20))
        return None

    def do_shelf_follow_up(self, item: _Item, book: CaseBook) -> Case | None:
        """回访: the residents a helper served are mostly satisfied (no reopen here)."""
        rating = Rating.SATISFIED if self.rng.random() < 0.8 else Rating.BASICALLY_SATISFIED
        after = self.app.follow_up(item.case_id, True, rating, FOLLOW_UP_DESK, comment="群众表示满意", at=item.at)
        self.sim.report.actions["follow_up"] += 1
        self.sim.report.outcomes_of_actions["closed" if after.status == Status.CLOSED else "reopened"] += 1
        return None

    def do_shelf_decide(self, item: _Item, book: CaseBook) -> Case | None:
        """The centre accepts the first claim, or (once in the run, where there are two) first
        refuses one, then accepts the next."""
        case = self.app.get_case(item.case_id)
        pending = case.pending_claims
        if not pending:
            return None
        if len(pending) > 1 and not self.refused_once:
            self.refused_once = True
            self.app.decide_claim(
                item.case_id, int(pending[0]["number"]), False, OPERATOR, note=REFUSAL, at=item.at
            )
            self.counts["refused"] += 1
            pending = pending[1:]
        claim = pending[0]
        unit = str(claim["unit"])
        self.app.decide_claim(
            item.case_id, int(claim["number"]), True, OPERATOR, note="同意认领", at=item.at
        )
        self.counts["accepted"] += 1
        # Dispatched to the helper, who signs for it within a few office hours.
        self._next(item.at, "shelf_claim", item, (0.3, 3), unit=unit)
        return None


__all__ = ["NEEDS", "Need", "ShelfActors"]
