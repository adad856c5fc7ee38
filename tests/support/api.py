"""Shared set-up for the HTTP tests: an app over a fresh runtime, tokens, and cases in a given
state made through the application service (the only write path)."""

from __future__ import annotations

import datetime as dt
import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from adapters.bootstrap import Runtime, bootstrap
from adapters.http import create_app
from engine.application import now_shanghai
from engine.domain import Status
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings

OPERATOR = "demo-operator-token"
LEADER = "demo-leader-token"
ADMIN = "demo-admin-token"
# The lamp below is routed to 茶亭路社区 (a community of 中街街道).
ASSIGNED_UNIT = "chatinglu"
ASSIGNED = f"demo-unit-{ASSIGNED_UNIT}"
OTHER_UNIT = "demo-unit-chengguan"
# A helper outside government (认领大厅): 海城红马甲志愿服务队 offers 助老, 维修, 环境清洁.
HELPER_UNIT = "hongmajia-vt"
HELPER = f"demo-unit-{HELPER_UNIT}"
BAD = "not-a-real-token-123"

LAMP = "茶亭路{n}号门口的路灯不亮了，晚上黑乎乎的，老人走路容易摔"
LAMP_ADDRESS = "海城区茶亭路{n}号"
VAGUE = "我想反映一个情况，麻烦你们记一下（{n}）"

_seq = itertools.count(1)


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def api_client(db: str = "memory://") -> Iterator[tuple[TestClient, Runtime]]:
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": db}))
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            yield client, runtime
    finally:
        runtime.close()


def intake(content: str, address: str = "", at: dt.datetime | None = None) -> IntakeCommand:
    return IntakeCommand(
        channel=Channel.HOTLINE,
        source_ref=f"API{next(_seq):06d}",
        received_at=at or now_shanghai() - dt.timedelta(minutes=5),
        content=content,
        address=address,
        caller_name="张伟",
        caller_phone="13812345678",
    )


def case_in(runtime: Runtime, status: Status) -> UUID:
    """A fresh case in ``status`` (lamp cases are with 茶亭路社区)."""
    app = runtime.app
    n = next(_seq)
    if status == Status.RECEIVED:
        # Not routed: waiting at the centre whatever the router would have said.
        r = app.receive(intake(VAGUE.format(n=n)), route=False)
        assert r.status == "received", r
        return r.case_id
    # A unique tail keeps the duplicate detector from merging one test case into another.
    text = LAMP.format(n=n) + f"（灯杆编号 {uuid4().hex}）"
    r = app.receive(intake(text, LAMP_ADDRESS.format(n=n)))
    assert r.status == "dispatched" and r.unit == ASSIGNED_UNIT, r
    cid = r.case_id
    if status == Status.DISPATCHED:
        return cid
    app.claim(cid, ASSIGNED_UNIT, "unit:test")
    if status == Status.CLAIMED:
        return cid
    if status == Status.MEDIATING:
        app.start_mediation(cid, ASSIGNED_UNIT, "unit:test")
        return cid
    if status == Status.RESOLVED:
        app.resolve(cid, ASSIGNED_UNIT, "已更换灯泡", "unit:test")
        return cid
    if status == Status.ON_HOLD:
        app.request_hold(cid, ASSIGNED_UNIT, "等待供电部门停电检修", "unit:test")
        app.decide_hold(cid, True, "operator:test")
        return cid
    raise ValueError(status)


def case_with_extension_request(runtime: Runtime) -> UUID:
    cid = case_in(runtime, Status.CLAIMED)
    case = runtime.app.get_case(cid)
    assert case.dispatch is not None
    until = case.dispatch.handle_deadline + dt.timedelta(days=5)
    runtime.app.request_extension(cid, ASSIGNED_UNIT, until, "需要协调供电部门", "unit:test")
    return cid


def case_with_hold_request(runtime: Runtime) -> UUID:
    """A claimed case whose unit asked to suspend it (申请挂起), waiting for the centre."""
    cid = case_in(runtime, Status.CLAIMED)
    runtime.app.request_hold(cid, ASSIGNED_UNIT, "当事人外出务工，下月返回", "unit:test")
    return cid


def case_with_instruction(runtime: Runtime) -> UUID:
    """A claimed case with a leader's instruction (领导批示) waiting for the unit's reply."""
    cid = case_in(runtime, Status.CLAIMED)
    runtime.app.instruct(cid, "请核实情况，三日内回复", "leader:test")
    return cid


# 主办/协办: 城管 (the "other unit" of the matrix) assists on the lamp case 茶亭路社区 leads.
ASSISTING_UNIT = "chengguan"


def case_with_part(runtime: Runtime, stage: str = "added") -> UUID:
    """A claimed lamp case with 城管 as its assisting unit (协办): its part ``added``,
    ``claimed`` (signed for) or ``reported`` (协办反馈: every part in)."""
    cid = case_in(runtime, Status.CLAIMED)
    app = runtime.app
    app.add_assist(cid, [ASSISTING_UNIT], "operator:test", note="请排查线路")
    if stage in ("claimed", "reported"):
        app.claim_part(cid, ASSISTING_UNIT, "unit:assist")
    if stage == "reported":
        app.report_part(cid, ASSISTING_UNIT, "线路已排查", "unit:assist")
    return cid


def case_with_return_review(runtime: Runtime, suggested: str | None = "zhongjie") -> UUID:
    """A claimed case its unit returned (退单), naming ``suggested``, waiting for 退单审核."""
    cid = case_in(runtime, Status.CLAIMED)
    runtime.app.return_case(
        cid, ASSIGNED_UNIT, "路灯属街道管理的主干道", "unit:test", suggested_unit=suggested
    )
    return cid


def case_unreachable(runtime: Runtime) -> UUID:
    """A resolved case whose follow-up calls went unanswered the district's number of times."""
    cid = case_in(runtime, Status.RESOLVED)
    for _ in range(runtime.config.callback.max_unanswered):
        runtime.app.callback_unanswered(cid, "operator:test", note="无人接听")
    return cid


def shelved_case(runtime: Runtime, service: str = "elderly_care", claimed_by: str | None = None) -> UUID:
    """A case waiting at the centre put on the open shelf (认领大厅) needing ``service``; with
    ``claimed_by``, that unit's claim (number 1) waits for the centre."""
    cid = case_in(runtime, Status.RECEIVED)
    runtime.app.shelve(cid, service, "独居老人需要每周上门探访", "operator:test")
    if claimed_by is not None:
        runtime.app.apply_claim(cid, claimed_by, "周三上午上门", "unit:test")
    return cid


def open_project(runtime: Runtime, case_ids: list[UUID] | None = None, title: str = "茶亭路路灯改造") -> UUID:
    """A fresh 实事项目 carried out by the assigned unit (茶亭路社区), with these cases."""
    project = runtime.app.open_project(
        title,
        ASSIGNED_UNIT,
        dt.date(2099, 12, 31),
        "区财政 20 万元",
        [{"title": "勘察", "due": dt.date(2099, 6, 1)}, {"title": "施工", "due": dt.date(2099, 12, 1)}],
        "operator:test",
        case_ids=case_ids or [],
    )
    return project.id
