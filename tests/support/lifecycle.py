"""Builds a case in any reachable status through the application service, for table tests."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from uuid import UUID

from engine.application import SanshiApplication
from engine.deadlines import SHANGHAI
from engine.domain import Rating, Status
from engine.intake import Channel, IntakeCommand

T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)  # a Monday
OP = "operator:test"
_seq = itertools.count(1)

# A lamp at a place the demo district knows: routed to 茶亭路社区 (community), municipal.
LAMP = "茶亭路32号门口的路灯不亮了，晚上黑乎乎的，老人走路容易摔"
LAMP_ADDRESS = "海城区茶亭路32号"
# Nothing the keyword router recognises: confidence 0 → the centre's manual queue (received).
VAGUE = "我想反映一个情况，麻烦你们记一下"


def intake(content: str, address: str = "", ref: str | None = None, at: dt.datetime = T0) -> IntakeCommand:
    return IntakeCommand(
        channel=Channel.HOTLINE,
        source_ref=ref or f"T{next(_seq):06d}",
        received_at=at,
        content=content,
        address=address,
        caller_name="张伟",
        caller_phone="13812345678",
    )


def _dispatched(app: SanshiApplication) -> UUID:
    r = app.receive(intake(LAMP + f"（{next(_seq)}号灯杆）", LAMP_ADDRESS + f"{next(_seq)}栋"))
    assert r.status == "dispatched", r
    return r.case_id


def _unit(app: SanshiApplication, cid: UUID) -> str:
    unit = app.get_case(cid).assigned_unit
    assert unit is not None
    return unit


def _claimed(app: SanshiApplication) -> UUID:
    cid = _dispatched(app)
    app.claim(cid, _unit(app, cid), "unit:clerk", at=T0)
    return cid


def build(app: SanshiApplication, status: Status) -> UUID:
    """A fresh case in ``status``, reached only through the application service."""
    if status == Status.RECEIVED:
        r = app.receive(intake(VAGUE))
        assert r.status == "received", r
        return r.case_id
    if status == Status.DISPATCHED:
        return _dispatched(app)
    if status == Status.CLAIMED:
        return _claimed(app)
    if status == Status.MEDIATING:
        cid = _claimed(app)
        app.start_mediation(cid, _unit(app, cid), "unit:clerk", at=T0)
        return cid
    if status == Status.ON_HOLD:
        cid = _claimed(app)
        app.request_hold(cid, _unit(app, cid), "等待法院开庭", "unit:clerk", at=T0)
        app.decide_hold(cid, True, OP, at=T0)
        return cid
    if status == Status.RESOLVED:
        cid = _claimed(app)
        app.resolve(cid, _unit(app, cid), "已更换灯泡", "unit:clerk", at=T0)
        return cid
    if status == Status.CLOSED:
        cid = build(app, Status.RESOLVED)
        app.follow_up(cid, True, Rating.SATISFIED, OP, at=T0)
        return cid
    if status == Status.RETURNED:
        # A return waits at the centre for its review (退单审核; returns.auto_reroute is off).
        cid = _dispatched(app)
        app.return_case(
            cid, _unit(app, cid), "不属于本单位职责", "unit:clerk", at=T0, suggested_unit="zhongjie"
        )
        return cid
    if status == Status.ANSWERED_DIRECTLY:
        cid = build(app, Status.RECEIVED)
        app.answer_directly(cid, "已当场解答政策", OP, at=T0)
        return cid
    if status == Status.REJECTED:
        cid = build(app, Status.RECEIVED)
        app.reject(cid, "属于110紧急警情，已转公安", OP, at=T0)
        return cid
    if status == Status.TRANSFERRED_OUT:
        cid = build(app, Status.RECEIVED)
        app.transfer_out(cid, "yinhai", "银海区", "地址属银海区（跨区转办）", OP, at=T0)
        return cid
    if status == Status.MERGED:
        first = _dispatched(app)
        original = app.get_case(first)
        r = app.receive(
            IntakeCommand(
                channel=Channel.APP,
                source_ref=f"A{next(_seq):06d}",
                received_at=T0,
                content=original.content,
                address=original.address,
            )
        )
        assert r.status == "merged", r
        return r.case_id
    raise ValueError(f"{status} is not reachable through the service alone")


# 主办/协办: the unit that assists on the lamp cases (a department), and another one to whistle.
ASSISTING = "chengguan"
WHISTLED = "zhujian"


def with_assist(app: SanshiApplication, cid: UUID, unit: str = ASSISTING) -> UUID:
    """The centre adds ``unit`` as an assisting unit (协办) to a case a lead holds."""
    app.add_assist(cid, [unit], OP, note="请配合排查线路", at=T0)
    return cid


def with_claimed_part(app: SanshiApplication, cid: UUID, unit: str = ASSISTING) -> UUID:
    with_assist(app, cid, unit)
    app.claim_part(cid, unit, "unit:assist", at=T0)
    return cid


REACHABLE = [s for s in Status if s != Status.REOPENED]  # reopened is re-dispatched at once

ServiceAction = Callable[[SanshiApplication, UUID], object]
