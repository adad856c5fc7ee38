"""State × action: every allowed transition works, every other one is refused and writes nothing.

Two tables: the pure domain over every status and every action, and the application
service (the only write path) over every status it can reach, on the in-memory store, SQLite
and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.bootstrap import bootstrap
from engine.application import SanshiApplication
from engine.config import load_config
from engine.domain import (
    ALLOWED,
    Action,
    Case,
    DeadlineKind,
    IllegalTransition,
    InvalidCommand,
    NotAssignedUnit,
    Rating,
    Status,
)
from engine.routing.keyword import KeywordRouter
from engine.settings import Settings
from tests.support.lifecycle import OP, REACHABLE, T0, build

LATER = T0 + dt.timedelta(days=60)
LEADER = "leader:test"

# ---------------------------------------------------------------------------------------------
# The pure domain
# ---------------------------------------------------------------------------------------------


def _new_case() -> Case:
    return Case(
        channel="hotline",
        source_ref=str(uuid4()),
        received_at=T0,
        content="路灯不亮",
        address="茶亭路",
        caller_name="",
        caller_phone="",
        appeal_type="",
        urgent=False,
        category_hint="",
        concern="worry",
        extra={},
        principal=OP,
        at=T0,
    )


def _dispatch(case: Case, unit: str = "u1") -> None:
    case.dispatch_to(
        unit=unit,
        claim_deadline=T0 + dt.timedelta(days=1),
        handle_deadline=T0 + dt.timedelta(days=5),
        reason={},
        principal=OP,
        at=T0,
    )


def domain_case(status: Status) -> Case:
    c = _new_case()
    if status == Status.RECEIVED:
        return c
    if status == Status.REJECTED:
        c.reject(reason="越权", principal=OP, at=T0)
        return c
    if status == Status.ANSWERED_DIRECTLY:
        c.answer_directly(answer="已解答", centre="centre", principal=OP, at=T0)
        return c
    if status == Status.MERGED:
        c.merge_into(target=uuid4(), similarity=0.9, reason={}, principal=OP, at=T0)
        return c
    _dispatch(c)
    if status == Status.DISPATCHED:
        return c
    if status == Status.RETURNED:
        c.return_case(unit="u1", reason="非本单位", principal=OP, at=T0)
        return c
    c.claim(unit="u1", principal=OP, at=T0)
    if status == Status.CLAIMED:
        return c
    if status == Status.ON_HOLD:
        c.request_hold(unit="u1", reason="等待法院开庭", principal=OP, at=T0)
        c.decide_hold(granted=True, note="同意", principal=OP, at=T0)
        return c
    if status == Status.MEDIATING:
        c.start_mediation(unit="u1", principal=OP, at=T0)
        return c
    c.resolve(unit="u1", result="已处理", principal=OP, at=T0)
    if status == Status.RESOLVED:
        return c
    if status == Status.CLOSED:
        c.follow_up(solved=True, rating=Rating.SATISFIED, comment="", centre="centre", principal=OP, at=T0)
        return c
    if status == Status.REOPENED:
        c.follow_up(solved=False, rating=Rating.DISSATISFIED, comment="", centre="centre", principal=OP, at=T0)
        return c
    raise AssertionError(status)


def domain_act(case: Case, action: Action) -> None:
    unit = case.assigned_unit or "u1"
    kw: dict[str, Any] = {"principal": OP, "at": T0}
    if action == Action.CLASSIFY:
        case.classify(category="municipal", urgent=False, locality=None, street=None, reason={}, override=True, **kw)
    elif action == Action.DISPATCH:
        _dispatch(case, "u2")
    elif action == Action.CLAIM:
        case.claim(unit=unit, **kw)
    elif action == Action.RETURN:
        case.return_case(unit=unit, reason="非本单位", **kw)
    elif action == Action.REQUEST_EXTENSION:
        case.request_extension(unit=unit, until=LATER, reason="需要协调", **kw)
    elif action == Action.DECIDE_EXTENSION:
        if case.status in ALLOWED[Action.DECIDE_EXTENSION]:
            case.request_extension(unit=unit, until=LATER, reason="需要协调", **kw)
        case.decide_extension(granted=True, note="同意", **kw)
    elif action == Action.START_MEDIATION:
        case.start_mediation(unit=unit, **kw)
    elif action == Action.CONCLUDE_MEDIATION:
        case.conclude_mediation(unit=unit, agreement=True, summary="达成协议", **kw)
    elif action == Action.RESOLVE:
        case.resolve(unit=unit, result="已处理", **kw)
    elif action == Action.FOLLOW_UP:
        case.follow_up(solved=True, rating=Rating.SATISFIED, comment="", centre="centre", **kw)
    elif action == Action.ANSWER_DIRECTLY:
        case.answer_directly(answer="已解答", centre="centre", **kw)
    elif action == Action.REJECT:
        case.reject(reason="不属于受理范围", **kw)
    elif action == Action.MERGE:
        case.merge_into(target=uuid4(), similarity=0.9, reason={}, **kw)
    elif action == Action.ESCALATE:
        case.escalate(kind=DeadlineKind.HANDLE, supervisor="s", principal=OP, at=LATER)
    elif action == Action.URGE:
        case.urge(note="请尽快办理", **kw)
    elif action == Action.SEND_TO_MANUAL:
        case.send_to_manual(reason="人工复核", **kw)
    elif action == Action.LINK_DUPLICATE:
        case.link_duplicate(duplicate=uuid4(), **kw)
    elif action == Action.CLOSE:
        case.close(reason="结案", **kw)
    elif action == Action.REVEAL_CONTACT:
        case.reveal_contact(unit=unit, **kw)
    elif action == Action.REQUEST_HOLD:
        case.request_hold(unit=unit, reason="当事人外出", **kw)
    elif action == Action.DECIDE_HOLD:
        if case.status in ALLOWED[Action.DECIDE_HOLD]:
            case.request_hold(unit=unit, reason="当事人外出", **kw)
        case.decide_hold(granted=True, note="同意", **kw)
    elif action == Action.RESUME:
        case.resume(unit=unit, handle_deadline=LATER, paused_workdays=3, **kw)
    elif action == Action.INSTRUCT:
        case.instruct(text="请尽快办理并回复", due=LATER, principal="leader:l", at=T0)
    elif action == Action.ANSWER_INSTRUCTION:
        if case.status in ALLOWED[Action.ANSWER_INSTRUCTION]:
            case.instruct(text="请尽快办理并回复", due=LATER, principal="leader:l", at=T0)
        case.answer_instruction(unit=unit, reply="已落实", **kw)
    else:  # pragma: no cover - the table below covers every action
        raise AssertionError(action)


def test_every_action_names_its_allowed_states() -> None:
    assert set(ALLOWED) == set(Action)


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.value)
@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_domain_transition_table(status: Status, action: Action) -> None:
    case = domain_case(status)
    assert case.status == status
    before = len(case.pending_events)
    if status in ALLOWED[action]:
        domain_act(case, action)
        assert len(case.pending_events) > before
    else:
        with pytest.raises(IllegalTransition) as refused:
            domain_act(case, action)
        assert refused.value.status == status and refused.value.action == action
        # The message names the state and the action, in Chinese and in code.
        assert status.value in refused.value.message and action.value in refused.value.message
        assert len(case.pending_events) == before, "a refused command must write nothing"
        assert case.status == status


def test_replay_rebuilds_the_same_state() -> None:
    case = domain_case(Status.CLOSED)
    events = case.collect_events()
    copy: Any = None
    for e in events:
        copy = e.mutate(copy)
    assert copy.status == Status.CLOSED
    assert copy.units_ever == ["u1"] and copy.rating == Rating.SATISFIED


def test_other_unit_cannot_act_on_a_case() -> None:
    case = domain_case(Status.DISPATCHED)
    with pytest.raises(NotAssignedUnit):
        case.claim(unit="someone-else", principal=OP, at=T0)


def test_never_dispatched_back_to_a_unit_that_returned_it() -> None:
    case = domain_case(Status.RETURNED)
    with pytest.raises(InvalidCommand):
        _dispatch(case, "u1")


def test_escalation_once_per_deadline_and_again_after_extension() -> None:
    case = domain_case(Status.CLAIMED)
    assert case.overdue_deadlines(LATER) == [DeadlineKind.HANDLE]
    case.escalate(kind=DeadlineKind.HANDLE, supervisor="s", principal=OP, at=LATER)
    assert case.overdue_deadlines(LATER) == []
    with pytest.raises(InvalidCommand):
        case.escalate(kind=DeadlineKind.HANDLE, supervisor="s", principal=OP, at=LATER)
    # A granted extension sets a new handling deadline: missing that one escalates again.
    case.request_extension(unit="u1", until=LATER, reason="需协调", principal=OP, at=T0)
    case.decide_extension(granted=True, note="", principal=OP, at=T0)
    assert case.dispatch is not None and case.dispatch.handle_deadline == LATER
    assert case.overdue_deadlines(LATER + dt.timedelta(days=1)) == [DeadlineKind.HANDLE]


# ---------------------------------------------------------------------------------------------
# The application service on every store
# ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SanshiApplication]:
    if request.param == "memory":
        db = "memory://"
    elif request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'events.db'}"
    else:
        db = request.getfixturevalue("fresh_postgres_url")
    base = load_config()
    # Only word-for-word re-sends merge here, so that each built case stays its own case.
    config = base.model_copy(
        update={"router": base.router.model_copy(update={"merge_similarity": 1.0})}
    )
    settings = Settings(db=db, kafka=None, config_path=None, cipher_key=None)
    runtime = bootstrap(settings=settings, config=config, router=KeywordRouter(config))
    yield runtime.app
    runtime.close()


def _unit_of(app: SanshiApplication, cid: UUID) -> str:
    return app.get_case(cid).assigned_unit or "chatinglu"


def _merge_target(app: SanshiApplication) -> UUID:
    return build(app, Status.DISPATCHED)


SERVICE_ACTIONS: dict[Action, Callable[[SanshiApplication, UUID], object]] = {
    Action.CLASSIFY: lambda a, c: a.reclassify(c, "city_management", OP, at=T0),
    Action.DISPATCH: lambda a, c: a.dispatch(c, "chengguan", OP, at=T0),
    Action.CLAIM: lambda a, c: a.claim(c, _unit_of(a, c), "unit:clerk", at=T0),
    Action.RETURN: lambda a, c: a.return_case(c, _unit_of(a, c), "不归本单位", "unit:clerk", at=T0),
    Action.REQUEST_EXTENSION: lambda a, c: a.request_extension(
        # Within the deadline policy's cap (延期上限, 30 days past the 5-working-day deadline).
        c, _unit_of(a, c), T0 + dt.timedelta(days=20), "需要协调", "unit:clerk", at=T0
    ),
    Action.DECIDE_EXTENSION: lambda a, c: a.decide_extension(c, True, OP, at=T0),
    Action.START_MEDIATION: lambda a, c: a.start_mediation(c, _unit_of(a, c), "unit:clerk", at=T0),
    Action.CONCLUDE_MEDIATION: lambda a, c: a.conclude_mediation(
        c, _unit_of(a, c), True, "双方达成协议", "unit:clerk", at=T0
    ),
    Action.RESOLVE: lambda a, c: a.resolve(c, _unit_of(a, c), "已处理", "unit:clerk", at=T0),
    Action.FOLLOW_UP: lambda a, c: a.follow_up(c, True, Rating.SATISFIED, OP, at=T0),
    Action.ANSWER_DIRECTLY: lambda a, c: a.answer_directly(c, "已解答", OP, at=T0),
    Action.REJECT: lambda a, c: a.reject(c, "不属于受理范围", OP, at=T0),
    Action.URGE: lambda a, c: a.urge(c, "请加快办理", OP, at=T0),
    Action.CLOSE: lambda a, c: a.close_case(c, "结案", OP, at=T0),
    Action.REQUEST_HOLD: lambda a, c: a.request_hold(
        c, _unit_of(a, c), "等待法院开庭", "unit:clerk", at=T0
    ),
    Action.DECIDE_HOLD: lambda a, c: a.decide_hold(c, True, OP, at=T0),
    Action.RESUME: lambda a, c: a.resume(c, "unit:clerk", unit=_unit_of(a, c), at=T0 + dt.timedelta(days=2)),
    Action.INSTRUCT: lambda a, c: a.instruct(c, "请尽快办理并回复", LEADER, at=T0),
    Action.ANSWER_INSTRUCTION: lambda a, c: a.answer_instruction(
        c, _unit_of(a, c), "已落实", "unit:clerk", at=T0
    ),
}
# What must be pending before an action the status allows can be taken.
PRECONDITION: dict[Action, Action] = {
    Action.DECIDE_EXTENSION: Action.REQUEST_EXTENSION,
    Action.DECIDE_HOLD: Action.REQUEST_HOLD,
    Action.ANSWER_INSTRUCTION: Action.INSTRUCT,
}


def _log_length(app: SanshiApplication) -> int:
    return app.recorder.max_notification_id() or 0


@pytest.mark.parametrize("status", REACHABLE, ids=lambda s: s.value)
def test_service_transition_table(app: SanshiApplication, status: Status) -> None:
    target = _merge_target(app)
    for action, act in [*SERVICE_ACTIONS.items(), (Action.MERGE, None), (Action.ESCALATE, None)]:
        cid = build(app, status)
        assert app.get_case(cid).status == status
        allowed = status in ALLOWED[action]
        if action in PRECONDITION and allowed:
            SERVICE_ACTIONS[PRECONDITION[action]](app, cid)
        before = _log_length(app)
        if action == Action.ESCALATE:
            kinds = app.escalate_overdue(cid, LATER)
            assert bool(kinds) == allowed, (status, action)
        elif action == Action.MERGE:
            if allowed:
                assert app.merge(cid, target, OP, at=T0).status == Status.MERGED
            else:
                with pytest.raises(IllegalTransition):
                    app.merge(cid, target, OP, at=T0)
        elif allowed:
            assert act is not None
            act(app, cid)
        else:
            assert act is not None
            with pytest.raises(IllegalTransition):
                act(app, cid)
        after = _log_length(app)
        if allowed:
            assert after > before, f"{action} from {status} wrote nothing"
        else:
            assert after == before, f"refused {action} from {status} wrote events"
            assert app.get_case(cid).status == status


def test_same_record_twice_lands_once(app: SanshiApplication) -> None:
    from tests.support.lifecycle import LAMP, LAMP_ADDRESS, intake

    cmd = intake(LAMP, LAMP_ADDRESS, ref="12345-2026-000001")
    first = app.receive(cmd)
    again = app.receive(cmd)
    both = app.receive_batch([cmd, cmd])
    assert not first.duplicate and again.duplicate and all(r.duplicate for r in both)
    assert again.case_id == first.case_id
    received = [
        n for n in app.recorder.select_notifications(1, 10_000) if n.topic.endswith("Case.Received")
    ]
    assert len(received) == 1


def test_follow_up_dissatisfied_reopens_and_dispatches_again(app: SanshiApplication) -> None:
    cid = build(app, Status.RESOLVED)
    unit = app.get_case(cid).resolved_unit
    case = app.follow_up(cid, True, Rating.DISSATISFIED, OP, at=T0)
    assert case.status == Status.DISPATCHED and case.assigned_unit == unit
    assert Status.REOPENED.value in case.status_times


def test_third_return_goes_to_manual_queue(app: SanshiApplication) -> None:
    cid = build(app, Status.DISPATCHED)
    seen = []
    for _ in range(3):
        unit = app.get_case(cid).assigned_unit
        assert unit is not None and unit not in seen  # never back to a unit that returned it
        seen.append(unit)
        app.return_case(cid, unit, "不归本单位", "unit:clerk", at=T0)
    case = app.get_case(cid)
    assert case.status == Status.RETURNED and case.manual_reason
    assert seen[0] == "chatinglu" and seen[1] == "zhongjie"  # community → street


# ---------------------------------------------------------------------------------------------
# 挂起 (suspension) and 领导批示 (instructions) through the service
# ---------------------------------------------------------------------------------------------


def test_suspension_stops_the_clock_and_moves_the_deadline_by_the_paused_working_days(
    app: SanshiApplication,
) -> None:
    cid = build(app, Status.CLAIMED)
    unit = _unit_of(app, cid)
    before = app.get_case(cid).dispatch
    assert before is not None
    app.request_hold(cid, unit, "等待法院开庭", "unit:clerk", at=T0)
    # T0 is Monday 2026-09-21; held from Tuesday to the next Monday.
    held_at = T0 + dt.timedelta(days=1)
    case = app.decide_hold(cid, True, OP, at=held_at)
    assert case.status == Status.ON_HOLD and case.assigned_unit == unit
    # Long past the handling deadline: nothing is overdue and the clock escalates nothing.
    assert app.escalate_overdue(cid, LATER) == []
    assert app.tick([cid], LATER) == 0
    resumed_at = T0 + dt.timedelta(days=7)  # Monday 2026-09-28
    case = app.resume(cid, OP, at=resumed_at)
    assert case.status == Status.CLAIMED
    # Working days after Tuesday up to and including Monday: Wed, Thu, Mon = 3 (Friday
    # 2026-09-25 is 中秋节, a holiday: never working time, so it moves nothing).
    assert case.paused_workdays == 3
    assert case.dispatch is not None
    moved = case.dispatch.handle_deadline
    assert moved.date() == app.calendar.add_workdays(before.handle_deadline.date(), 3) and moved.date() > (
        before.handle_deadline.date()
    )
    assert moved.time() == before.handle_deadline.time()
    # Resolved after the old deadline but before the moved one: on time.
    late_for_old = before.handle_deadline + dt.timedelta(hours=1)
    assert late_for_old < moved
    app.resolve(cid, unit, "已处理", "unit:clerk", at=late_for_old)
    resolved = [e for e in app.events.get(cid) if type(e).__name__ == "Resolved"]
    assert resolved[-1].on_time is True  # type: ignore[attr-defined]


def test_a_refused_suspension_goes_back_to_the_unit_with_the_note(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    unit = _unit_of(app, cid)
    app.request_hold(cid, unit, "当事人外出", "unit:clerk", at=T0)
    with pytest.raises(InvalidCommand):  # a second request while one waits
        app.request_hold(cid, unit, "当事人外出", "unit:clerk", at=T0)
    with pytest.raises(InvalidCommand):  # a refusal says why
        app.decide_hold(cid, False, OP, at=T0)
    case = app.decide_hold(cid, False, OP, note="理由不充分，请继续办理", at=T0)
    assert case.status == Status.CLAIMED and case.hold_request is None
    assert case.hold_refusal == "理由不充分，请继续办理"
    with pytest.raises(InvalidCommand):  # nothing to decide any more
        app.decide_hold(cid, True, OP, at=T0)


def test_an_instruction_is_answered_on_time_or_late(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    unit = _unit_of(app, cid)
    case = app.instruct(cid, "请三日内回复办理情况", LEADER, at=T0)
    due = case.instructions[0]["due"]
    # Three working days after Monday 2026-09-21: Thursday 2026-09-24, end of the day.
    assert due == dt.datetime(2026, 9, 24, 23, 59, 59, tzinfo=due.tzinfo)
    with pytest.raises(InvalidCommand):  # one instruction waits at a time
        app.instruct(cid, "再次批示", LEADER, at=T0)
    case = app.answer_instruction(cid, unit, "已联系当事人", "unit:clerk", at=due)
    assert case.instructions[0]["on_time"] is True and case.pending_instruction is None
    with pytest.raises(InvalidCommand):  # nothing waiting
        app.answer_instruction(cid, unit, "已联系当事人", "unit:clerk", at=due)
    app.instruct(cid, "请加快", LEADER, at=due)
    case = app.answer_instruction(cid, unit, "已办", "unit:clerk", at=due + dt.timedelta(days=10))
    assert [i["on_time"] for i in case.instructions] == [True, False]
    app.instruct(cid, "第三次", LEADER, at=due)
    with pytest.raises(NotAssignedUnit):  # only the unit holding the case answers
        app.answer_instruction(cid, "someone-else", "x", "unit:clerk", at=due)


def test_the_clock_resumes_a_suspension_at_its_expected_time(app: SanshiApplication) -> None:
    from engine.application import CLOCK

    cid = build(app, Status.CLAIMED)
    unit = _unit_of(app, cid)
    expected = T0 + dt.timedelta(days=2)  # Wednesday 2026-09-23 10:00
    app.request_hold(cid, unit, "当事人外出", "unit:clerk", expected_resume=expected, at=T0)
    case = app.decide_hold(cid, True, OP, at=T0)
    assert case.resume_expected == expected
    assert not app.resume_if_due(cid, expected - dt.timedelta(minutes=1))
    app.tick([cid], expected - dt.timedelta(minutes=1))
    assert app.get_case(cid).status == Status.ON_HOLD
    app.tick([cid], expected)
    case = app.get_case(cid)
    assert case.status == Status.CLAIMED and case.resume_expected is None
    assert case.paused_workdays == 2  # Tuesday and Wednesday
    resumed = [e for e in app.events.get(cid) if type(e).__name__ == "Resumed"]
    assert resumed[-1].principal == CLOCK  # type: ignore[attr-defined]
    assert not app.resume_if_due(cid, LATER)  # not suspended any more: nothing to do


def test_a_past_expected_resume_time_is_refused(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    n = _log_length(app)
    with pytest.raises(InvalidCommand):
        app.request_hold(
            cid, _unit_of(app, cid), "当事人外出", "unit:clerk", expected_resume=T0, at=T0
        )
    assert _log_length(app) == n
