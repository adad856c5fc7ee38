"""Property: for random legal case histories driven through the application service, the live
projection, a rebuild from the log and an independent fold over the events all agree.

Histories are sequences of choices; at each step the driver lists the commands the case's
current state allows (from the service's point of view: which unit holds it, what is pending)
and picks one by the drawn number, with business time moving on by a drawn number of hours
(so some claims and resolutions are late). Cases are advanced round-robin so their events
interleave in the log like they do in a district.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from adapters.bootstrap import Runtime
from engine.application import CaseNotFound
from engine.domain import Action, Case, DomainError, Rating, Status
from engine.intake import Channel
from projections.coop_queries import CoopViews
from projections.projector import Projector
from projections.queries import ReadModel
from projections.search import view_search
from projections.tables import (
    COUNT_FIELDS,
    make_engine,
    view_cases,
    view_counts,
    view_counts_month,
    view_knowledge,
    view_knowledge_proposals,
    view_open_cases,
    view_parts,
    view_returns,
    view_whistles,
)
from tests.support.fold_oracle import (
    OP,
    T0,
    assert_stats_match,
    coop_as_counts,
    events_of,
    expected_coop,
    expected_return_pairs,
    expected_stats,
    intake,
    make_runtime,
)

EXAMPLES = int(os.environ.get("SANSHI_PROPERTY_EXAMPLES", "30"))

# (content, address): categories and places the keyword router routes differently.
TEMPLATES = [
    ("茶亭路{n}号的路灯不亮，晚上很黑", "茶亭路{n}号"),  # municipal → community
    ("东一巷菜场门口占道经营第{n}摊，堵住了路", "东一巷"),  # city_management → 城管
    ("珠海路小区邻里纠纷第{n}次，楼上漏水不赔", "珠海路{n}号"),  # dispute → 司法所 (mediation)
    ("公司拖欠工资{n}个月了，请帮忙讨薪", "云南路"),  # labour → 人社
    ("我想反映一个情况{n}，麻烦你们记一下", ""),  # nothing recognised → manual queue
    ("小区电梯坏了{n}天没人修，物业不管", "四川路{n}号"),  # housing → 住建
]
UNITS = ["chengguan", "zhujian", "chatinglu", "zhongjie", "zhongjie-sfs", "renshe", "minzheng"]
FOLLOW_UPS = [
    (True, Rating.SATISFIED),
    (True, Rating.BASICALLY_SATISFIED),
    (True, None),
    (False, Rating.DISSATISFIED),
    (True, Rating.DISSATISFIED),
    (False, None),
    (False, Rating.SATISFIED),
]

Command = Callable[[], Any]


class Driver:
    def __init__(self, rt: Runtime, coop: bool = False) -> None:
        self.rt = rt
        # 主办/协办 and 吹哨报到 commands are offered only when drawn, so that the fixed
        # examples below keep the histories they were written for.
        self.coop = coop
        self.app = rt.app
        self.clock: dict[UUID, dt.datetime] = {}

    def receive(self, i: int, template: int, day: int, channel: int) -> UUID:
        content, address = TEMPLATES[template]
        at = T0 + dt.timedelta(days=day, hours=i % 9)
        r = self.app.receive(
            intake(content.format(n=i), address.format(n=i), at=at, channel=list(Channel)[channel])
        )
        self.clock[r.case_id] = at
        return r.case_id

    def commands(self, cid: UUID, others: list[UUID], pick: int) -> list[Command]:
        app, case = self.app, self.app.get_case(cid)
        now = self.clock[cid]
        unit = case.assigned_unit
        s = case.status
        out: list[Command] = []
        if case.return_review is not None:
            # 退单审核: approved to the unit named or another, or refused back to the unit.
            free = [u for u in UNITS if u not in case.returned_by]
            out.append(lambda: app.review_return(cid, False, OP, note="经核实属你单位", at=now))
            if free:
                out.append(
                    lambda: app.review_return(cid, True, OP, unit=free[pick % len(free)], at=now)
                )
            if case.return_review["suggested_unit"]:
                out.append(lambda: app.review_return(cid, True, OP, note="同意", at=now))
        if s in (Status.RECEIVED, Status.RETURNED, Status.REOPENED):
            free = [u for u in UNITS if u not in case.returned_by]
            if free:
                out.append(lambda: app.dispatch(cid, free[pick % len(free)], OP, at=now))
            out.append(lambda: app.reclassify(cid, ["housing", "dispute", "other"][pick % 3], OP, at=now))
            open_others = [o for o in others if o != cid and app.get_case(o).is_open]
            if open_others:
                out.append(lambda: app.merge(cid, open_others[pick % len(open_others)], OP, at=now))
            if s == Status.RECEIVED:
                out.append(lambda: app.answer_directly(cid, "已当场答复", OP, at=now))
                out.append(lambda: app.reject(cid, "属于紧急警情，已转110", OP, at=now))
        elif unit is not None:
            assert case.dispatch is not None
            pending = case.dispatch.extension_requested_to is not None
            out.append(lambda: app.tick([cid], now))
            out.append(lambda: app.urge(cid, "请尽快办理", OP, at=now))
            kind = ("notice", "accountability")[pick % 2]  # 通报/追责, about this case or not
            about = cid if pick % 3 else None
            out.append(lambda: app.censure(kind, unit, "推诿扯皮", OP, case_id=about, at=now))
            if s != Status.ON_HOLD:  # 转办 to another unit that has not returned it
                others_free = [u for u in UNITS if u != unit and u not in case.returned_by]
                if others_free:
                    to = others_free[pick % len(others_free)]
                    out.append(lambda: app.transfer(cid, to, "转办", OP, at=now))
            if pending:
                out.append(lambda: app.decide_extension(cid, pick % 2 == 0, OP, at=now))
            # 领导批示 and its reply; 挂起 asked, decided, resumed (by the unit or the centre).
            if case.pending_instruction is None:
                out.append(lambda: app.instruct(cid, "请核实回复", "leader:l", at=now))
            else:
                out.append(lambda: app.answer_instruction(cid, unit, "已落实", "u", at=now))
            if case.hold_request is not None:  # offered thrice: otherwise rarely drawn
                out += [lambda: app.decide_hold(cid, pick % 2 == 0, OP, note="继续办理", at=now)] * 3
            if s == Status.ON_HOLD:
                by_unit = pick % 2 == 0
                out.append(
                    lambda: app.resume(cid, "u" if by_unit else OP, unit=unit if by_unit else None, at=now)
                )
            if self.coop:
                out += self.coop_commands(cid, pick)
            if s == Status.DISPATCHED:
                out.append(lambda: app.claim(cid, unit, "u", at=now))
                out.append(lambda: app.return_case(cid, unit, "不属于本单位职责", "u", at=now))
                suggest = UNITS[pick % len(UNITS)]
                if suggest != unit:
                    out.append(
                        lambda: app.return_case(
                            cid, unit, "属其他单位", "u", suggested_unit=suggest, at=now
                        )
                    )
            elif s == Status.CLAIMED:
                out.append(lambda: app.resolve(cid, unit, "已办结", "u", at=now))
                out.append(lambda: app.start_mediation(cid, unit, "u", at=now))
                out.append(lambda: app.return_case(cid, unit, "不属于本单位职责", "u", at=now))
                if case.hold_request is None:
                    back = now + dt.timedelta(hours=[24, 72, 200][pick % 3]) if pick % 2 else None
                    out.append(
                        lambda: app.request_hold(
                            cid, unit, "等待开庭", "u", expected_resume=back, at=now
                        )
                    )
                if not pending:
                    until = case.dispatch.handle_deadline + dt.timedelta(days=3)
                    out.append(
                        lambda: app.request_extension(cid, unit, until, "需要协调", "u", at=now)
                    )
            elif s == Status.MEDIATING:
                out.append(
                    lambda: app.conclude_mediation(cid, unit, pick % 3 != 0, "调解", "u", at=now)
                )
        elif s == Status.MERGED:
            # Under the centre's hand: unmerged, or called back once the original is resolved.
            out.append(lambda: app.unmerge(cid, OP, note="不是同一件事", at=now))
            if case.callback_due:
                solved, rating = FOLLOW_UPS[pick % len(FOLLOW_UPS)]
                out += [lambda: app.follow_up(cid, solved, rating, OP, at=now)] * 2
        elif s in (Status.RESOLVED, Status.ANSWERED_DIRECTLY):
            solved, rating = FOLLOW_UPS[pick % len(FOLLOW_UPS)]
            follow_up: Command = lambda: app.follow_up(cid, solved, rating, OP, at=now)  # noqa: E731
            out += [follow_up, follow_up, lambda: app.close_case(cid, "已结案", OP, at=now)]
            # 回访未接通, and 未接通结案 once the district's number of calls went unanswered.
            unanswered: Command = lambda: app.callback_unanswered(cid, OP, at=now)  # noqa: E731
            out += [unanswered, unanswered]
            if case.unreachable:
                out += [lambda: app.close_unreachable(cid, OP, at=now)] * 3
        return out

    def coop_commands(self, cid: UUID, pick: int) -> list[Command]:
        """主办/协办: the centre adds an assisting unit or closes a part; a street or community
        lead whistles two departments in; each open part is signed for, reported or returned.
        Offered twice where they move a part on, so that histories reach them."""
        app, case = self.app, self.app.get_case(cid)
        now = self.clock[cid]
        lead = case.assigned_unit
        out: list[Command] = []
        if case.offers(Action.ADD_ASSIST):
            helper = UNITS[pick % len(UNITS)]
            out.append(lambda: app.add_assist(cid, [helper], OP, at=now))
        if lead is not None and case.offers(Action.WHISTLE):
            called = [UNITS[pick % len(UNITS)], UNITS[(pick + 3) % len(UNITS)]]
            out += [lambda: app.whistle(cid, lead, called, "多部门到场", "u", at=now)] * 2
        for p in case.parts:
            unit = p.unit
            if case.offers_part(Action.CLAIM_PART, unit):
                out += [lambda u=unit: app.claim_part(cid, u, "u", at=now)] * 2
            if case.offers_part(Action.REPORT_PART, unit):
                out += [lambda u=unit: app.report_part(cid, u, "已反馈", "u", at=now)] * 2
            if case.offers_part(Action.RETURN_PART, unit):
                out.append(lambda u=unit: app.return_part(cid, u, "不属本单位", "u", at=now))
        if case.offers(Action.CLOSE_PART):
            number = case.outstanding_parts[0].number
            out.append(lambda: app.close_part(cid, number, "中心协调", OP, at=now))
        return out

    def step(self, cid: UUID, others: list[UUID], choice: int, variant: int, hours: int) -> None:
        self.clock[cid] += dt.timedelta(hours=hours)
        options = self.commands(cid, others, variant)
        if options:
            # A refused command (e.g. dispatch to a unit that returned it) writes nothing.
            with contextlib.suppress(DomainError):
                options[choice % len(options)]()


case_plan = st.tuples(
    st.integers(0, len(TEMPLATES) - 1),  # template
    st.integers(0, 45),  # received day offset
    st.integers(0, len(Channel) - 1),  # channel
    st.lists(  # steps: (which command, which variant, hours later)
        st.tuples(st.integers(0, 59), st.integers(0, 59), st.sampled_from([0, 1, 3, 10, 30, 80, 200])),
        max_size=14,
    ),
)


Plan = tuple[int, int, int, list[tuple[int, int, int]]]


def drive(rt: Runtime, plans: list[Plan], coop: bool = False, form: bool = False) -> None:
    d = Driver(rt, coop)
    ids = [d.receive(i, t, day, ch) for i, (t, day, ch, _) in enumerate(plans)]
    if form:  # 一表通: two items, each driven as the first plan's case is
        t, day, _, _ = plans[0]
        at = T0 + dt.timedelta(days=day)
        items = [
            {"content": c.format(n=90 + k), "address": a.format(n=90 + k)}
            for k, (c, a) in enumerate([TEMPLATES[t], TEMPLATES[(t + 1) % len(TEMPLATES)]])
        ]
        f, _ = d.app.submit_form(f"F-{day}-{t}", "inspection", "网格巡查", items, OP, at=at)
        for item in f.case_ids:
            d.clock[item] = at
            ids.append(item)
            plans = [*plans, plans[0]]
    longest = max((len(p[3]) for p in plans), default=0)
    for j in range(longest):
        for cid, plan in zip(ids, plans, strict=True):
            if j < len(plan[3]):
                d.step(cid, ids, *plan[3][j])


def table_rows(engine: Any, table: Any) -> list[tuple[Any, ...]]:
    key = list(table.primary_key.columns)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(table).order_by(*key))]
    if table in (view_counts, view_counts_month):  # counts that all moved away = no row
        rows = [r for r in rows if any(r[-len(COUNT_FIELDS):])]
    return rows


PAIR_COUNTS = ("returns", "pending", "approved", "refused", "auto", "lapsed", "approved_to_suggested")

WINDOWS = [  # whole months (monthly rows), partial months (daily rows), and both
    (None, None),
    (dt.date(2026, 3, 10), dt.date(2026, 4, 1)),
    (dt.date(2026, 4, 1), None),
    (dt.date(2026, 3, 1), dt.date(2026, 4, 9)),
    (dt.date(2026, 2, 20), dt.date(2026, 3, 25)),
    (dt.date(2026, 3, 5), dt.date(2026, 3, 12)),
]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(case_plan, min_size=1, max_size=8), st.integers(1, 7), st.booleans())
# Always: a history with 批示 answered, 挂起 granted and resumed (the draws reach them rarely).
@example(
    [
        (0, 27, 0, [(46, 44, 200), (32, 8, 30), (48, 32, 30), (53, 52, 200), (1, 52, 80),
                    (37, 51, 80), (43, 44, 80), (14, 5, 0), (2, 8, 80), (23, 6, 10),
                    (53, 28, 30), (3, 40, 0), (40, 34, 80), (15, 31, 3)]),
    ],
    2,
    False,
)
# Always: co-handled histories with a whistle, parts added, signed for, reported and returned,
# an overdue part escalated by the clock, and a resolution (found by a search over drawn steps).
@example(
    [
        (0, 3, 0, [(52, 31, 1), (59, 31, 1), (0, 51, 80), (19, 52, 80), (49, 9, 30),
                   (15, 20, 200), (20, 29, 3), (50, 50, 30), (5, 32, 1), (25, 48, 1),
                   (15, 26, 0), (41, 2, 10), (35, 34, 3), (10, 27, 0)]),
        (1, 4, 1, [(4, 16, 30), (5, 13, 0), (26, 31, 80), (28, 11, 1), (8, 26, 10),
                   (39, 57, 80), (15, 47, 30), (54, 49, 80), (48, 7, 200), (53, 18, 3)]),
    ],
    3,
    True,
)
def test_live_rebuilt_and_independent_fold_agree(
    plans: list[Plan], rebuild_batch: int, coop: bool
) -> None:
    rt = make_runtime()
    try:
        drive(rt, plans, coop, form=rebuild_batch % 2 == 1)
        for name in sorted({type(e).__name__ for e in events_of(rt)}):
            event(name)  # coverage of event kinds: pytest --hypothesis-show-statistics
        assert_views_agree(rt, rebuild_batch)
    finally:
        rt.close()


def _case_or_none(rt: Runtime) -> Callable[[UUID], Case | None]:
    """A case of the log, or None for the other aggregates (一表通 forms, 通报/追责)."""

    def get(cid: UUID) -> Case | None:
        try:
            return rt.app.get_case(cid)
        except CaseNotFound:
            return None

    return get


def fts_rows(engine: Any) -> list[tuple[Any, ...]]:
    """The search words per case as FTS5 holds them (its vocabulary table: word, row)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_vocab USING fts5vocab(main, view_search_fts, instance)"
        )
        rows = conn.exec_driver_sql(
            "SELECT v.term, s.case_id FROM temp.search_vocab v JOIN view_search s ON s.seq = v.doc "
            "ORDER BY 1, 2"
        ).fetchall()
    return [tuple(r) for r in rows]


def assert_views_agree(rt: Runtime, rebuild_batch: int) -> None:
    """Live views = views rebuilt from the log in small batches = the independent fold."""
    live: ReadModel = rt.read_model
    events = events_of(rt)

    # A rebuild from the log, in small batches, into a separate database.
    engine = make_engine("sqlite://")
    rebuilt_projector = Projector(rt.app, engine, batch_size=rebuild_batch)
    rebuilt_projector.ensure_schema()
    rebuilt_projector.catch_up()
    rebuilt = ReadModel(engine, rt.config)

    for by in (None, "unit", "channel", "category", "street", "month"):
        for start, end in WINDOWS:
            expected = expected_stats(events, by, start, end)
            live_stats = live.stats(by, start, end)
            assert_stats_match(live_stats, expected)
            assert rebuilt.stats(by, start, end) == live_stats

    total = live.stats(None)["total"]
    units = live.stats("unit")["rows"]
    for field in ("received", "resolved", "dispatched", "returned", "followups", "rated"):
        assert sum(r[field] for r in units) == total[field]
    for row in [*units, total]:
        v = row["handling_rate"]["value"]
        assert v is None or 0.0 <= v <= 1.0

    # 主办/协办: the parts' figures as the independent fold has them, live = rebuilt.
    live_coop = CoopViews(live).figures()
    assert coop_as_counts(live_coop) == expected_coop(events)
    assert CoopViews(rebuilt).figures() == live_coop

    # Every view, row for row (the cache and batch size change nothing).
    for table in (
        view_cases, view_open_cases, view_counts, view_counts_month, view_parts, view_whistles,
        view_returns,
        view_knowledge,
        view_knowledge_proposals,
        view_search,
    ):
        assert table_rows(rt.views_engine, table) == table_rows(engine, table)
    # Disputed returns per unit pair (退单审核), against the independent statement.
    for start, end in WINDOWS:
        pairs = live.return_pairs(start, end)
        got = {
            (r["unit"], r["suggested_unit"]): {k: r[k] for k in PAIR_COUNTS} for r in pairs["rows"]
        }
        assert got == expected_return_pairs(events, start, end)
        assert rebuilt.return_pairs(start, end) == pairs
    # The work queues hold exactly the cases the aggregates say, oldest first.
    cases = [c for c in map(_case_or_none(rt), dict.fromkeys(e.originator_id for e in events)) if c]
    queue = live.return_review_queue(limit=500)
    waiting = {c.id for c in cases if c.return_review is not None}
    assert queue["total"] == len(waiting) and {r["case_id"] for r in queue["rows"]} == waiting
    times = [r["return_pending_at"] for r in queue["rows"]]
    assert times == sorted(times)
    calls = live.callback_queue(limit=500)
    due = {
        c.id
        for c in cases
        if c.status in (Status.RESOLVED, Status.ANSWERED_DIRECTLY)
        or (c.status == Status.MERGED and c.callback_due)  # 合并件回访
    }
    assert calls["total"] == len(due) and {r["case_id"] for r in calls["rows"]} == due
    assert calls["closable"] == sum(1 for c in cases if c.id in due and c.unreachable)
    # The search view's words (SQLite FTS5) and 诉求类型 figures: live = rebuilt.
    live_words = fts_rows(rt.views_engine)
    assert live_words and live_words == fts_rows(engine)
    for start, end in WINDOWS:
        assert rebuilt.stats("appeal_type", start, end) == live.stats("appeal_type", start, end)
    now = T0 + dt.timedelta(days=30)
    assert live.due_for_escalation(now) == rebuilt.due_for_escalation(now)
    assert [c["case_id"] for c in live.manual_queue()] == [
        c["case_id"] for c in rebuilt.manual_queue()
    ]
    engine.dispose()


def test_hand_merges_callbacks_forms_and_censures_agree() -> None:
    """A history with every event of merges under the centre's hand, 一表通 and 通报/追责, written
    out (the draws reach some of them rarely): live = rebuilt = fold."""
    rt = make_runtime()
    try:
        app = rt.app
        d = Driver(rt)
        original = d.receive(0, 0, 3, 0)
        dup, dup2, dup3, kept = (d.receive(i, 1, 3 + i, 0) for i in (1, 2, 3, 4))
        for cid in (original, dup, dup2, dup3, kept):
            case = app.get_case(cid)
            if case.status == Status.MERGED:
                app.unmerge(cid, OP, at=d.clock[cid])
            case = app.get_case(cid)
            if case.assigned_unit is not None:
                app.return_case(cid, case.assigned_unit, "不属于本单位职责", "u", at=d.clock[cid])
        at = d.clock[original] + dt.timedelta(days=5)
        orig = app.get_case(original)
        unit = UNITS[0] if UNITS[0] not in orig.returned_by else UNITS[1]
        if orig.status != Status.DISPATCHED:
            app.dispatch(original, unit, OP, at=at)
        unit = app.get_case(original).assigned_unit
        assert unit is not None
        for cid in (dup, dup2, dup3):
            app.merge(cid, original, OP, note="同一件事", at=at)
        app.unmerge(dup3, OP, note="另一件事", at=at)
        app.claim(original, unit, "u", at=at)
        app.resolve(original, unit, "已办结", "u", at=at)
        app.follow_up(dup, True, Rating.SATISFIED, OP, at=at)
        app.follow_up(dup2, False, Rating.DISSATISFIED, OP, at=at)
        app.censure("notice", unit, "超期", OP, case_id=original, at=at)
        app.censure("accountability", unit, "推诿", OP, at=at + dt.timedelta(days=40))
        items = [{"content": c.format(n=70), "address": a.format(n=70)} for c, a in TEMPLATES[:3]]
        app.submit_form("F-fixed", "visit", "入户走访", items, OP, at=at)
        names = {type(e).__name__ for e in events_of(rt)}
        assert {
            "Merged", "Unmerged", "DuplicateUnlinked", "OriginalResolved", "FollowedUp",
            "UnitCensured", "FormSubmitted", "LinkedToForm",
        } <= names
        assert_views_agree(rt, 3)
        followups = rt.read_model.stats("unit")["rows"]
        row = next(r for r in followups if r["key"] == unit)
        assert (row["rated"], row["satisfied"], row["dissatisfied"]) == (2, 1, 1)
        assert (row["notices"], row["accountabilities"]) == (1, 1)
    finally:
        rt.close()


def test_knowledge_entries_proposals_and_answers_agree() -> None:
    """知识库 events between the cases' (entries created, edited, proposed, accepted, rejected,
    retired; 咨询 answered from an entry, or not): live = rebuilt in small batches = fold, and
    the answers per entry are the AnsweredDirectly events that name it."""
    from engine.knowledge import KnowledgeService

    rt = make_runtime()
    try:
        app = rt.app
        kb = KnowledgeService(app, rt.config)
        d = Driver(rt)
        entries = []
        for i in range(3):
            entry, _ = kb.create(
                {"question": f"办理居住证需要什么材料？（{i}）", "answer": f"带身份证（{i}）",
                 "category": "public_security", "valid_from": "2026-01-01"},
                OP, at=T0 + dt.timedelta(hours=i),
            )
            entries.append(entry.id)
            d.receive(i, i % len(TEMPLATES), 3 + i, 0)
        at = T0 + dt.timedelta(days=1)
        kb.edit(entries[0], {"source": "派出所窗口"}, OP, at=at)
        _, n1 = kb.propose(entries[1], "chatinglu", {"answer": "另带户口簿"}, "新要求", "unit:t", at=at)
        _, n2 = kb.propose(entries[1], "chatinglu", {"unit": "gongan"}, "", "unit:t", at=at)
        kb.decide(entries[1], n1, True, "", OP, at=at)
        kb.decide(entries[1], n2, False, "不属于", OP, at=at)
        answered = []
        for k in range(4):
            cid = app.receive(intake(f"请问办理居住证需要带什么材料？{k}", "", at=at)).case_id
            if app.get_case(cid).status == Status.RECEIVED:
                entry = entries[k % 2] if k < 3 else None
                app.answer_directly(cid, "", OP, at=at, entry=entry)
                answered.append(entry)
        kb.retire(entries[2], "作废", OP, at=at + dt.timedelta(days=1))
        assert {type(e).__name__ for e in events_of(rt)} >= {
            "KnowledgeEntryCreated", "KnowledgeEntryEdited", "KnowledgeChangeProposed",
            "KnowledgeProposalAccepted", "KnowledgeProposalRejected", "KnowledgeEntryRetired",
            "AnsweredDirectly",
        }
        assert_views_agree(rt, 2)
        with rt.views_engine.connect() as conn:
            counted = dict(
                conn.execute(select(view_knowledge.c.entry_id, view_knowledge.c.answers)).all()
            )
        expected = {
            e: sum(
                1
                for ev in events_of(rt)
                if type(ev).__name__ == "AnsweredDirectly" and getattr(ev, "entry", None) == str(e)
            )
            for e in entries
        }
        assert counted == expected and sum(expected.values()) == len([a for a in answered if a])
        assert sum(expected.values()) >= 2
    finally:
        rt.close()
