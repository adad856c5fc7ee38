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
from engine.application import CaseNotFound, SanshiApplication
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
from tests.support.lifecycle import (
    ASSISTING,
    OP,
    REACHABLE,
    T0,
    build,
    with_assist,
    with_claimed_part,
)

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


def domain_case(status: Status, review: bool = True) -> Case:
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
    if status == Status.TRANSFERRED_OUT:
        c.transfer_out(to_district="yinhai", to_district_name="银海区", reason="地址属银海区", principal=OP, at=T0)
        return c
    _dispatch(c)
    if status == Status.DISPATCHED:
        return c
    if status == Status.RETURNED:
        # Waiting for the centre's review (退单审核), as returns do unless re-routed at once.
        c.return_case(unit="u1", reason="非本单位", principal=OP, at=T0, suggested_unit="u2", review=review)
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
        if case.status == Status.MERGED:  # a merged caller: once the original is resolved
            assert case.merged_into is not None
            case.original_resolved(original=case.merged_into, unit="u1", result="已处理", **kw)
        case.follow_up(solved=True, rating=Rating.SATISFIED, comment="", centre="centre", **kw)
    elif action == Action.ANSWER_DIRECTLY:
        case.answer_directly(answer="已解答", centre="centre", **kw)
    elif action == Action.REJECT:
        case.reject(reason="不属于受理范围", **kw)
    elif action == Action.TRANSFER_OUT:
        case.transfer_out(to_district="yinhai", to_district_name="银海区", reason="地址属银海区", **kw)
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
    elif action in COOP_DOMAIN_ACTIONS:
        _domain_coop(case, action)
    elif action in SHELF_DOMAIN_ACTIONS:
        _domain_shelf(case, action)
    elif action == Action.LINK_PROJECT:
        case.link_to_project(project_id=PROJECT, title="路灯整治", **kw)
    elif action == Action.PROJECT_RESOLVE:
        if case.status in ALLOWED[action]:
            case.link_to_project(project_id=PROJECT, title="路灯整治", **kw)
        case.resolve_by_project(project_id=PROJECT, unit="u1", result="已集中整治", deadline=LATER, **kw)
    elif action == Action.UNMERGE:
        case.unmerge(note="不是同一件事", **kw)
    elif action == Action.ORIGINAL_RESOLVED:
        case.original_resolved(original=case.merged_into or uuid4(), unit="u1", result="已处理", **kw)
    elif action == Action.REVIEW_RETURN:
        case.refuse_return(note="经核实属你单位", **kw)
    elif action == Action.TRANSFER:
        case.transfer(
            to_unit="u2",
            note="属城管职责，转办",
            claim_deadline=T0 + dt.timedelta(days=1),
            handle_deadline=T0 + dt.timedelta(days=5),
            **kw,
        )
    elif action == Action.CALLBACK_UNANSWERED:
        case.callback_unanswered(max_unanswered=3, centre="centre", note="无人接听", **kw)
    elif action == Action.CLOSE_UNREACHABLE:
        if case.status in ALLOWED[Action.CLOSE_UNREACHABLE]:
            case.callback_unanswered(max_unanswered=1, centre="centre", note="无人接听", **kw)
        case.close_unreachable(centre="centre", note="多次未接通", **kw)
    else:  # pragma: no cover - the table below covers every action
        raise AssertionError(action)


COOP_DOMAIN_ACTIONS = frozenset(
    {
        Action.ADD_ASSIST,
        Action.WHISTLE,
        Action.CLAIM_PART,
        Action.REPORT_PART,
        Action.RETURN_PART,
        Action.CLOSE_PART,
        Action.ESCALATE_PART,
    }
)


SHELF_DOMAIN_ACTIONS = frozenset({Action.SHELVE, Action.UNSHELVE, Action.APPLY_CLAIM, Action.DECIDE_CLAIM})
PROJECT = uuid4()


def _domain_shelf(case: Case, action: Action) -> None:
    """认领大厅: an action on the shelf from a status the table allows first puts the case on
    the shelf (and a claim on it) so that only the status can refuse it."""
    kw: dict[str, Any] = {"principal": OP, "at": T0}
    allowed = case.status in ALLOWED[action]
    if action == Action.SHELVE:
        case.shelve(service="elderly_care", summary="独居老人需要上门探访", **kw)
        return
    if allowed:
        case.shelve(service="elderly_care", summary="独居老人需要上门探访", **kw)
        if action == Action.DECIDE_CLAIM:
            case.apply_claim(unit="v1", note="周三上门", **kw)
    if action == Action.UNSHELVE:
        case.unshelve(note="改为派单", **kw)
    elif action == Action.APPLY_CLAIM:
        case.apply_claim(unit="v1", note="周三上门", **kw)
    else:
        case.refuse_claim(number=1, reason="服务范围不符", **kw)


def _add_part(case: Case, unit: str = "a1") -> None:
    case.add_assist(
        unit=unit,
        claim_deadline=T0 + dt.timedelta(days=1),
        handle_deadline=T0 + dt.timedelta(days=5),
        note="",
        principal=OP,
        at=T0,
    )


def _domain_coop(case: Case, action: Action) -> None:
    """主办/协办: a part action from a status the table allows first gets the part it acts on
    (added while the status allows adding one), so that only the status can refuse it."""
    unit = case.assigned_unit or "u1"
    kw: dict[str, Any] = {"principal": OP, "at": T0}
    allowed = case.status in ALLOWED[action]
    if action == Action.ADD_ASSIST:
        _add_part(case)
    elif action == Action.WHISTLE:
        case.whistle(
            unit=unit, departments=["d1", "d2"], due=T0 + dt.timedelta(hours=1),
            handle_deadline=T0 + dt.timedelta(days=5), reason="多部门到场", **kw,
        )
    elif action == Action.ESCALATE_PART:
        if allowed:
            _add_part(case)
        case.escalate_part(
            number=1, kind=DeadlineKind.CLAIM, supervisor="s", principal=OP, at=LATER
        )
    else:
        if allowed:
            _add_part(case)
            if action == Action.REPORT_PART:
                case.claim_part(unit="a1", **kw)
        if action == Action.CLAIM_PART:
            case.claim_part(unit="a1", **kw)
        elif action == Action.REPORT_PART:
            case.report_part(unit="a1", feedback="已排查", **kw)
        elif action == Action.RETURN_PART:
            case.return_part(unit="a1", reason="不属本部门", **kw)
        else:
            case.close_part(number=1, note="中心协调解决", **kw)


def test_every_action_names_its_allowed_states() -> None:
    assert set(ALLOWED) == set(Action)


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.value)
@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_domain_transition_table(status: Status, action: Action) -> None:
    # A return waiting for its review is not put on the shelf (the review comes first): the
    # shelf's actions start from a return the centre took back without one.
    case = domain_case(status, review=action not in SHELF_DOMAIN_ACTIONS)
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
    Action.TRANSFER_OUT: lambda a, c: a.transfer_out(c, "yinhai", "银海区", "地址属银海区", OP, at=T0),
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
    # 主办/协办 and 吹哨报到 (the lamp's lead is 茶亭路社区, a community: it may whistle)
    Action.ADD_ASSIST: lambda a, c: with_assist(a, c),
    Action.WHISTLE: lambda a, c: a.whistle(
        c, _unit_of(a, c), ["zhujian", "huanjing"], "施工噪音，多部门到场", "unit:clerk", at=T0
    ),
    Action.CLAIM_PART: lambda a, c: a.claim_part(c, ASSISTING, "unit:assist", at=T0),
    Action.REPORT_PART: lambda a, c: a.report_part(c, ASSISTING, "已排查线路", "unit:assist", at=T0),
    Action.RETURN_PART: lambda a, c: a.return_part(c, ASSISTING, "不属本部门", "unit:assist", at=T0),
    Action.CLOSE_PART: lambda a, c: a.close_part(c, 1, "中心协调解决", OP, at=T0),
    Action.UNMERGE: lambda a, c: a.unmerge(c, OP, note="不是同一件事", at=T0),
    Action.REVIEW_RETURN: lambda a, c: a.review_return(c, False, OP, note="经核实属你单位", at=T0),
    Action.TRANSFER: lambda a, c: a.transfer(c, "chengguan", "属城管职责，转办", OP, at=T0),
    Action.CALLBACK_UNANSWERED: lambda a, c: a.callback_unanswered(c, OP, note="无人接听", at=T0),
    Action.CLOSE_UNREACHABLE: lambda a, c: a.close_unreachable(c, OP, note="三次未接通", at=T0),
}


def _resolve_original(app: SanshiApplication, cid: UUID) -> None:
    """A merged case's callback is due once its original is resolved (OriginalResolved)."""
    original = app.get_case(cid).merged_into
    assert original is not None
    unit = _unit_of(app, original)
    app.claim(original, unit, "unit:clerk", at=T0)
    app.resolve(original, unit, "已更换灯泡", "unit:clerk", at=T0)
    assert app.get_case(cid).callback_due
# What must be pending before an action the status allows can be taken (and how many times:
# 未接通结案 needs the district's three unanswered calls).
PRECONDITION: dict[Action, Action] = {
    Action.DECIDE_EXTENSION: Action.REQUEST_EXTENSION,
    Action.DECIDE_HOLD: Action.REQUEST_HOLD,
    Action.ANSWER_INSTRUCTION: Action.INSTRUCT,
    Action.CLAIM_PART: Action.ADD_ASSIST,
    Action.RETURN_PART: Action.ADD_ASSIST,
    Action.CLOSE_PART: Action.ADD_ASSIST,
    Action.REPORT_PART: Action.CLAIM_PART,
    Action.CLOSE_UNREACHABLE: Action.CALLBACK_UNANSWERED,
}
PRECONDITION_TIMES = {Action.CLOSE_UNREACHABLE: 3}


def _take_precondition(app: SanshiApplication, cid: UUID, action: Action) -> None:
    """What must be pending before ``action`` (and before that, recursively)."""
    pre = PRECONDITION.get(action)
    if pre is not None:
        _take_precondition(app, cid, pre)
        for _ in range(PRECONDITION_TIMES.get(action, 1)):
            SERVICE_ACTIONS[pre](app, cid)


def _log_length(app: SanshiApplication) -> int:
    return app.recorder.max_notification_id() or 0


@pytest.mark.parametrize("status", REACHABLE, ids=lambda s: s.value)
def test_service_transition_table(app: SanshiApplication, status: Status) -> None:
    target = _merge_target(app)
    for action, act in [
        *SERVICE_ACTIONS.items(),
        (Action.MERGE, None),
        (Action.ESCALATE, None),
        (Action.ESCALATE_PART, None),
    ]:
        cid = build(app, status)
        assert app.get_case(cid).status == status
        allowed = status in ALLOWED[action]
        if allowed:
            _take_precondition(app, cid, action)
        if action == Action.ESCALATE_PART and status in ALLOWED[Action.ADD_ASSIST]:
            with_assist(app, cid)  # a part whose clock the status may or may not let run
        if action == Action.FOLLOW_UP and status == Status.MERGED:
            _resolve_original(app, cid)
        before = _log_length(app)
        if action == Action.ESCALATE:
            kinds = app.escalate_overdue(cid, LATER)
            assert bool(kinds) == allowed, (status, action)
        elif action == Action.ESCALATE_PART:
            due = app.escalate_overdue_parts(cid, LATER)
            assert bool(due) == allowed, (status, action)
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


def _auto_rerouting(app: SanshiApplication) -> None:
    """The district re-routes returns by itself (returns.auto_reroute: true)."""
    app.config = app.config.model_copy(
        update={"returns": app.config.returns.model_copy(update={"auto_reroute": True})}
    )


def test_third_return_goes_to_manual_queue(app: SanshiApplication) -> None:
    # Automatic re-routing only: under review (the default) the centre decides every return.
    _auto_rerouting(app)
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


# ---------------------------------------------------------------------------------------------
# 主办/协办 and 吹哨报到 through the service
# ---------------------------------------------------------------------------------------------


def test_the_lead_resolves_only_when_every_part_is_in(app: SanshiApplication) -> None:
    from engine.domain import PartConflict, PartStatus

    cid = build(app, Status.CLAIMED)
    lead = _unit_of(app, cid)
    with_claimed_part(app, cid)  # 城管 signs for its part
    with_assist(app, cid, "zhujian")  # 住建 has not yet
    case = app.get_case(cid)
    assert not case.offers(Action.RESOLVE)
    n = _log_length(app)
    with pytest.raises(PartConflict):
        app.resolve(cid, lead, "已处理", "unit:clerk", at=T0)
    assert _log_length(app) == n
    # An assisting unit reads the case but is not its lead: it cannot resolve it.
    with pytest.raises(NotAssignedUnit):
        app.resolve(cid, ASSISTING, "已处理", "unit:assist", at=T0)
    assert ASSISTING in case.units_ever
    app.report_part(cid, ASSISTING, "线路已排查，无故障", "unit:assist", at=T0)
    # 住建 returns its part; a returned part is not in until the centre closes it.
    app.return_part(cid, "zhujian", "路灯不属住建管理", "unit:assist", at=T0)
    with pytest.raises(PartConflict):
        app.resolve(cid, lead, "已处理", "unit:clerk", at=T0)
    with pytest.raises(InvalidCommand):  # closing says why
        app.close_part(cid, 2, "", OP, at=T0)
    case = app.close_part(cid, 2, "退回理由成立，不需住建协办", OP, at=T0)
    assert [p.state for p in case.parts] == [PartStatus.REPORTED, PartStatus.CLOSED]
    with pytest.raises(PartConflict):  # already in
        app.close_part(cid, 1, "重复关闭", OP, at=T0)
    case = app.resolve(cid, lead, "已更换灯泡", "unit:clerk", at=T0)
    assert case.status == Status.RESOLVED


def test_part_refusals_write_nothing(app: SanshiApplication) -> None:
    from engine.domain import PartConflict

    cid = build(app, Status.CLAIMED)
    lead = _unit_of(app, cid)
    with_assist(app, cid)
    n = _log_length(app)
    with pytest.raises(PartConflict):  # report before signing for the part
        app.report_part(cid, ASSISTING, "已办", "unit:assist", at=T0)
    with pytest.raises(NotAssignedUnit):  # a unit without a part
        app.claim_part(cid, "zhujian", "unit:x", at=T0)
    with pytest.raises(PartConflict):  # one open part per unit
        app.add_assist(cid, [ASSISTING], OP, at=T0)
    with pytest.raises(InvalidCommand):  # the lead is not its own assistant
        app.add_assist(cid, [lead], OP, at=T0)
    with pytest.raises(InvalidCommand):  # an unknown unit
        app.add_assist(cid, ["no-such-unit"], OP, at=T0)
    with pytest.raises(InvalidCommand):  # a return says why
        app.return_part(cid, ASSISTING, "  ", "unit:assist", at=T0)
    app.claim_part(cid, ASSISTING, "unit:assist", at=T0)
    m = _log_length(app)
    with pytest.raises(PartConflict):
        app.claim_part(cid, ASSISTING, "unit:assist", at=T0)
    with pytest.raises(InvalidCommand):
        app.report_part(cid, ASSISTING, "", "unit:assist", at=T0)
    assert (_log_length(app), n + 1) == (m, m)


def test_a_part_has_its_own_clocks_from_the_case_policy(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    later = T0 + dt.timedelta(days=1)  # Tuesday 2026-09-22 10:00
    case = app.add_assist(cid, [ASSISTING], OP, at=later)
    part = case.parts[0]
    # The municipal policy: claim by the end of the next working day, handle in 5 working days.
    assert part.claim_deadline == dt.datetime(2026, 9, 23, 23, 59, 59, tzinfo=part.at.tzinfo)
    assert part.handle_deadline.date() == app.calendar.add_workdays(later.date(), 5)
    assert case.dispatch is not None and part.handle_deadline != case.dispatch.handle_deadline


def test_dispatch_names_a_lead_and_assisting_units_at_once(app: SanshiApplication) -> None:
    cid = build(app, Status.RECEIVED)
    case = app.dispatch_with_assist(cid, "chatinglu", [ASSISTING, "zhujian"], OP, at=T0)
    assert case.status == Status.DISPATCHED and case.assigned_unit == "chatinglu"
    assert [p.unit for p in case.parts] == [ASSISTING, "zhujian"]
    assert set(case.units_ever) == {"chatinglu", ASSISTING, "zhujian"}
    other = build(app, Status.RECEIVED)
    n = _log_length(app)
    with pytest.raises(InvalidCommand):  # one bad assisting unit: nothing dispatched
        app.dispatch_with_assist(other, "chatinglu", ["no-such-unit"], OP, at=T0)
    assert _log_length(app) == n and app.get_case(other).status == Status.RECEIVED


def test_a_whistle_calls_departments_in_by_the_configured_deadline(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    lead = _unit_of(app, cid)
    assert app.config.deadlines.whistle_report_workdays == 1
    case = app.whistle(cid, lead, ["zhujian", "huanjing"], "施工噪音扰民", "unit:clerk", at=T0)
    assert case.whistles[0]["departments"] == ["zhujian", "huanjing"]
    # Normal case: report in by the end of the next working day (Tuesday 2026-09-22).
    due = dt.datetime(2026, 9, 22, 23, 59, 59, tzinfo=case.parts[0].claim_deadline.tzinfo)
    assert [(p.unit, p.whistle, p.claim_deadline) for p in case.parts] == [
        ("zhujian", 1, due),
        ("huanjing", 1, due),
    ]
    n = _log_length(app)
    with pytest.raises(InvalidCommand):  # a department, not a unit that does not exist
        app.whistle(cid, lead, ["nobody"], "再次吹哨", "unit:clerk", at=T0)
    with pytest.raises(InvalidCommand):  # says why
        app.whistle(cid, lead, ["chengguan"], " ", "unit:clerk", at=T0)
    with pytest.raises(NotAssignedUnit):  # only the lead whistles
        app.whistle(cid, "zhuhailu", ["chengguan"], "吹哨", "unit:x", at=T0)
    assert _log_length(app) == n


def test_an_urgent_whistle_gives_the_configured_minutes(app: SanshiApplication) -> None:
    cid = build(app, Status.RECEIVED)
    case = app.get_case(cid)
    # 揪心事: classified urgent at the centre (as the router does for urgent words).
    case.classify(category="municipal", urgent=True, locality="chatinglu", street="zhongjie",
                  reason={}, override=False, principal=OP, at=T0)
    app._save(case)
    app.dispatch(cid, "chatinglu", OP, at=T0)
    app.claim(cid, "chatinglu", "unit:clerk", at=T0)
    assert app.config.deadlines.whistle_report_minutes_urgent == 30
    case = app.whistle(cid, "chatinglu", ["zhujian"], "燃气泄漏，多部门到场", "unit:clerk", at=T0)
    assert case.parts[0].claim_deadline == T0 + dt.timedelta(minutes=30)


def test_only_a_street_or_community_whistles(app: SanshiApplication) -> None:
    cid = build(app, Status.RECEIVED)
    app.dispatch(cid, "chengguan", OP, at=T0)
    app.claim(cid, "chengguan", "unit:cg", at=T0)
    n = _log_length(app)
    with pytest.raises(InvalidCommand):
        app.whistle(cid, "chengguan", ["zhujian"], "多部门", "unit:cg", at=T0)
    assert _log_length(app) == n


def test_the_clock_escalates_a_department_that_does_not_report_in(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    lead = _unit_of(app, cid)
    case = app.whistle(cid, lead, ["zhujian", "huanjing"], "施工噪音扰民", "unit:clerk", at=T0)
    due = case.parts[0].claim_deadline
    app.claim_part(cid, "zhujian", "unit:zj", at=T0 + dt.timedelta(minutes=40))
    assert app.escalate_overdue_parts(cid, due) == []  # not yet past
    after = due + dt.timedelta(minutes=1)
    app.tick([cid], after)
    case = app.get_case(cid)
    escalated = [e for e in app.events.get(cid) if type(e).__name__ == "PartEscalated"]
    assert [(e.unit, e.kind) for e in escalated] == [("huanjing", "claim")]  # type: ignore[attr-defined]
    assert escalated[0].supervisor == app.config.supervisor_of("huanjing")  # type: ignore[attr-defined]
    assert case.escalation_level == 0  # the lead's own level does not move
    app.tick([cid], after + dt.timedelta(minutes=5))  # once per deadline
    assert len([e for e in app.events.get(cid) if type(e).__name__ == "PartEscalated"]) == 1


# Merges under the centre's hand and 一表通 through the service
# ---------------------------------------------------------------------------------------------


def test_hand_merge_refusals_write_nothing(app: SanshiApplication) -> None:
    from engine.domain import MergeRefused

    original = build(app, Status.DISPATCHED)
    merged = build(app, Status.MERGED)  # merged into an original of its own
    case = build(app, Status.RECEIVED)
    closed = build(app, Status.CLOSED)
    hub = build(app, Status.RECEIVED)
    app.merge(build(app, Status.RECEIVED), hub, OP, at=T0)  # hub has a merged caller now
    for cid, into in [(case, case), (case, merged), (case, closed), (hub, original)]:
        n = _log_length(app)
        with pytest.raises(MergeRefused):
            app.merge(cid, into, OP, note="重复", at=T0)
        assert _log_length(app) == n
    n = _log_length(app)
    with pytest.raises(IllegalTransition):  # with a unit: not the centre's to merge
        app.merge(original, case, OP, at=T0)
    with pytest.raises(IllegalTransition):  # unmerge a case that is not merged
        app.unmerge(case, OP, at=T0)
    assert _log_length(app) == n
    done = app.merge(case, original, OP, note="同一盏路灯", at=T0)
    assert done.status == Status.MERGED and app.get_case(original).duplicates == [case]


def test_unmerge_routes_the_case_as_its_own_and_the_original_forgets_it(
    app: SanshiApplication,
) -> None:
    cid = build(app, Status.MERGED)
    original = app.get_case(cid).merged_into
    assert original is not None and cid in app.get_case(original).duplicates
    case = app.unmerge(cid, OP, note="不是同一件事", at=T0)
    # The lamp text routes to a unit again; not merged into its original again.
    assert case.status == Status.DISPATCHED and case.merged_into is None
    assert cid not in app.get_case(original).duplicates
    names = [type(e).__name__ for e in app.events.get(cid)]
    assert names[-2:] == ["Unmerged", "Dispatched"]


def test_merged_callers_are_called_back_when_the_original_is_resolved(
    app: SanshiApplication,
) -> None:
    cid = build(app, Status.MERGED)
    original = app.get_case(cid).merged_into
    assert original is not None
    with pytest.raises(InvalidCommand):  # not before the original is resolved
        app.follow_up(cid, True, Rating.SATISFIED, OP, at=T0)
    _resolve_original(app, cid)
    told = app.get_case(cid)
    assert told.original_result == "已更换灯泡" and told.callback_due
    assert told.resolved_unit == app.get_case(original).resolved_unit
    case = app.follow_up(cid, True, Rating.SATISFIED, OP, at=T0)
    assert case.status == Status.CLOSED
    followed = [e for e in app.events.get(cid) if type(e).__name__ == "FollowedUp"]
    assert followed[-1].unit == app.get_case(original).resolved_unit  # type: ignore[attr-defined]


def test_a_dissatisfied_merged_caller_becomes_its_own_case(app: SanshiApplication) -> None:
    cid = build(app, Status.MERGED)
    _resolve_original(app, cid)
    case = app.follow_up(cid, False, Rating.DISSATISFIED, OP, at=T0)
    assert case.merged_into is None and case.status == Status.DISPATCHED


def test_kept_separate_at_intake_is_routed_and_records_the_proposal(
    app: SanshiApplication,
) -> None:
    from engine.domain import Status as S
    from tests.support.lifecycle import intake

    original = app.get_case(build(app, Status.DISPATCHED))
    cmd = intake(original.content, original.address).model_copy(update={"keep_separate": True})
    r = app.receive(cmd)
    assert r.status == S.DISPATCHED.value and r.merged_into is None
    declined = [e for e in app.events.get(r.case_id) if type(e).__name__ == "MergeDeclined"]
    assert declined and declined[0].target == original.id  # type: ignore[attr-defined]


def test_a_form_links_its_items_and_is_complete_when_they_all_are(app: SanshiApplication) -> None:
    items = [
        {"content": "茶亭路12号门口的路灯不亮了，晚上很黑", "address": "海城区茶亭路12号"},
        {"content": "东一巷菜场门口小商贩占道摆摊经营，把人行道都堵住了", "address": "海城区东一巷"},
    ]
    form, dup = app.submit_form("WG-1", "inspection", "网格巡查", items, OP, at=T0)
    assert not dup and len(form.case_ids) == 2
    again, dup = app.submit_form("WG-1", "inspection", "网格巡查", items, OP, at=T0)
    assert dup and again.id == form.id
    _, cases = app.get_form(form.id)
    assert [c.form["item"] for c in cases if c.form] == [1, 2]
    assert all(c.status == Status.DISPATCHED for c in cases)
    n = _log_length(app)
    with pytest.raises(InvalidCommand):
        app.submit_form("WG-2", "party", "x", items, OP, at=T0)
    with pytest.raises(InvalidCommand):
        app.submit_form("WG-3", "visit", "x", [], OP, at=T0)
    assert _log_length(app) == n
    with pytest.raises(CaseNotFound):  # a form is not a case
        app.get_case(form.id)
# 退单审核 and 转办, 回访未接通 and 未接通结案 through the service
# ---------------------------------------------------------------------------------------------


def _events(app: SanshiApplication, cid: UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(cid)]


def test_a_return_waits_for_review_and_approved_goes_to_the_suggested_unit(
    app: SanshiApplication,
) -> None:
    cid = build(app, Status.DISPATCHED)
    unit = _unit_of(app, cid)
    case = app.return_case(
        cid, unit, "属中街街道管辖的主干道路灯", "unit:clerk", at=T0, suggested_unit="zhongjie"
    )
    # Not re-routed: at the centre, waiting for its review, with what the unit said.
    assert case.status == Status.RETURNED and case.assigned_unit is None
    assert case.return_review is not None and case.return_review["suggested_unit"] == "zhongjie"
    assert case.offers(Action.REVIEW_RETURN) and _events(app, cid)[-1] == "Returned"
    # Approved without naming a unit: the unit the return suggested.
    case = app.review_return(cid, True, OP, note="同意，转中街街道", at=T0 + dt.timedelta(hours=1))
    assert case.status == Status.DISPATCHED and case.assigned_unit == "zhongjie"
    assert case.dispatch is not None and case.dispatch.note == "同意，转中街街道"
    assert case.return_review is None and not case.offers(Action.REVIEW_RETURN)
    assert _events(app, cid)[-2:] == ["ReturnReviewed", "Dispatched"]
    # Fresh clocks from the approval, never back to the unit that returned it.
    assert case.dispatch.at == T0 + dt.timedelta(hours=1)
    assert unit in case.returned_by


def test_approved_to_another_unit_than_suggested(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    unit = _unit_of(app, cid)
    app.return_case(cid, unit, "不归社区管", "unit:clerk", at=T0, suggested_unit="zhongjie")
    with pytest.raises(InvalidCommand):  # not back to the unit that returned it
        app.review_return(cid, True, OP, unit=unit, at=T0)
    case = app.review_return(cid, True, OP, unit="chengguan", note="属城管", at=T0)
    assert case.assigned_unit == "chengguan"
    reviewed = [e for e in app.events.get(cid) if type(e).__name__ == "ReturnReviewed"][-1]
    assert reviewed.to_unit == "chengguan" and reviewed.suggested_unit == "zhongjie"  # type: ignore[attr-defined]


def test_a_return_without_a_suggestion_needs_the_centre_to_name_a_unit(app: SanshiApplication) -> None:
    cid = build(app, Status.DISPATCHED)
    app.return_case(cid, _unit_of(app, cid), "不归社区管", "unit:clerk", at=T0)
    n = _log_length(app)
    with pytest.raises(InvalidCommand):
        app.review_return(cid, True, OP, at=T0)
    assert _log_length(app) == n


def test_a_refused_return_goes_back_to_the_unit_with_the_note(app: SanshiApplication) -> None:
    cid = build(app, Status.CLAIMED)
    unit = _unit_of(app, cid)
    before = app.get_case(cid).dispatch
    app.return_case(cid, unit, "不归社区管", "unit:clerk", at=T0, suggested_unit="zhongjie")
    n = _log_length(app)
    with pytest.raises(InvalidCommand):  # a refusal says why
        app.review_return(cid, False, OP, at=T0)
    assert _log_length(app) == n
    case = app.review_return(cid, False, OP, note="经核实属茶亭路社区，请继续办理", at=T0)
    # Back in the status it left, with the same dispatch and deadlines, and the note.
    assert case.status == Status.CLAIMED and case.assigned_unit == unit
    assert case.dispatch == before and unit not in case.returned_by
    assert case.return_refusal == "经核实属茶亭路社区，请继续办理"
    assert case.centre_notes[-1]["kind"] == "review_return"
    # Nothing to review any more: refused, 409, nothing written.
    n = _log_length(app)
    with pytest.raises(IllegalTransition):
        app.review_return(cid, False, OP, note="x", at=T0)
    assert _log_length(app) == n
    # The unit holds it again and may return it once more (a new review).
    again = app.return_case(cid, unit, "确实不归社区", "unit:clerk", at=T0)
    assert again.return_review is not None and again.return_count == 2


def test_dispatching_a_returned_case_by_hand_approves_its_return(app: SanshiApplication) -> None:
    cid = build(app, Status.RETURNED)
    case = app.dispatch(cid, "chengguan", OP, at=T0, note="人工派单")
    assert case.assigned_unit == "chengguan" and case.return_review is None
    assert _events(app, cid)[-2:] == ["ReturnReviewed", "Dispatched"]


def test_with_auto_reroute_a_return_is_dispatched_at_once_and_not_reviewed(
    app: SanshiApplication,
) -> None:
    _auto_rerouting(app)
    cid = build(app, Status.DISPATCHED)
    case = app.return_case(cid, "chatinglu", "不归社区", "unit:clerk", at=T0, suggested_unit="zhongjie")
    assert case.status == Status.DISPATCHED and case.assigned_unit == "zhongjie"
    assert case.return_review is None
    for _ in range(2):
        unit = _unit_of(app, cid)
        app.return_case(cid, unit, "不归本单位", "unit:clerk", at=T0)
    case = app.get_case(cid)
    assert case.status == Status.RETURNED and case.manual_reason  # the third: manual queue
    n = _log_length(app)
    with pytest.raises(IllegalTransition):  # returned, but no return waits for review
        app.review_return(cid, True, OP, unit="chengguan", at=T0)
    assert _log_length(app) == n


def test_transfer_moves_a_held_case_with_its_note_and_fresh_deadlines(app: SanshiApplication) -> None:
    cid = build(app, Status.MEDIATING)
    unit = _unit_of(app, cid)
    n = _log_length(app)
    for to, note in ((unit, "转办"), ("chengguan", "  ")):
        with pytest.raises(InvalidCommand):  # not to itself; a note is required
            app.transfer(cid, to, note, OP, at=T0)
    with pytest.raises(InvalidCommand):
        app.transfer(cid, "nowhere", "转办", OP, at=T0)
    assert _log_length(app) == n
    later = T0 + dt.timedelta(days=1)
    case = app.transfer(cid, "chengguan", "属占道经营，转城管办理", OP, at=later)
    assert case.status == Status.DISPATCHED and case.assigned_unit == "chengguan"
    assert case.dispatch is not None and case.dispatch.at == later
    assert case.dispatch.note == "属占道经营，转城管办理" and case.dispatch_count == 2
    assert unit not in case.returned_by  # a transfer is not a return
    assert _events(app, cid)[-2:] == ["Transferred", "Dispatched"]
    with pytest.raises(NotAssignedUnit):  # the old unit acts on it no more
        app.claim(cid, unit, "unit:clerk", at=later)


def test_closing_without_contact_after_the_configured_unanswered_calls(app: SanshiApplication) -> None:
    cid = build(app, Status.RESOLVED)
    assert app.config.callback.max_unanswered == 3
    for attempt in (1, 2):
        case = app.callback_unanswered(cid, OP, note="无人接听", at=T0)
        assert case.callbacks_unanswered == attempt and not case.offers(Action.CLOSE_UNREACHABLE)
        n = _log_length(app)
        with pytest.raises(IllegalTransition):  # too early: 409, nothing written
            app.close_unreachable(cid, OP, at=T0)
        assert _log_length(app) == n
    case = app.callback_unanswered(cid, OP, note="第三次无人接听", at=T0)
    assert case.unreachable and case.offers(Action.CLOSE_UNREACHABLE)
    case = app.close_unreachable(cid, OP, note="三次回访未接通", at=T0)
    assert case.status == Status.CLOSED and case.rating is None and case.solved is None
    assert _events(app, cid)[-1] == "ClosedUnreachable"


def test_an_answered_call_after_unanswered_ones_is_a_normal_follow_up(app: SanshiApplication) -> None:
    cid = build(app, Status.RESOLVED)
    app.callback_unanswered(cid, OP, at=T0)
    case = app.follow_up(cid, False, Rating.DISSATISFIED, OP, comment="路灯还是不亮", at=T0)
    assert case.status == Status.DISPATCHED  # 重办
    unit = _unit_of(app, cid)
    app.claim(cid, unit, "unit:clerk", at=T0)
    case = app.resolve(cid, unit, "已更换灯具", "unit:clerk", at=T0)
    assert case.callbacks_unanswered == 0  # a new resolution waits for its own calls
    assert case.callbacks[-1]["comment"] == "路灯还是不亮"
