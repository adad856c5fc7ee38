"""A second, small month of the published-figures scenario (July 2026), counted by hand: one
matter in many hands (docs/rates.md, "Co-handled cases"; docs/lifecycle.md).

Fifteen cases, every one driven through the application service, each with a short name used
in the hand counts of ``tests/integration/test_projections_scenario.py``:

- C1  co-handled (主办/协办): dispatched by the centre to 茶亭路社区 (lead) with 城管 and 住建
      assisting; 城管 signs for its part on time and reports (协办反馈) a day late, 住建 returns
      its part and the centre closes it; the lead can only resolve once both parts are in, a
      day late. Satisfied.
- C2  whistled (吹哨报到): 茶亭路社区 calls 城管 and 生态环境 in; 城管 reports in after 45 min,
      生态环境 does not, the deadline clock escalates it (协办督办) and it reports in two days
      after the whistle. Resolved on time, basically satisfied.
- C3  suspended (挂起) with the centre's approval for three working days, then resumed: the
      handling deadline moves from Mon 13 to Thu 16 July; resolved on Wed 15 July, on time.
      住建 assists on it and reports on Tue 14 July: late against its part's own deadline (Mon
      13), which the lead's suspension does not move.
- C4  a 挂起 the centre refused; a 领导批示 answered the same day; resolved a day late (a refused
      hold moves no deadline).
- C5  a lamp reported twice: M, the second caller, is merged into C5 and called back once C5 is
      resolved. Both satisfied.
- C6  returned by 茶亭路社区 (退单) to 中街街道 (approved); the caller is not satisfied, it is
      handled again by 中街街道 and resolved again.
- F1-F3  one 一表通 form of three items, to 茶亭路社区, 城管 and 生态环境; 生态环境 signs for its
      item late and has not resolved it by the end of the month.
- J1  a 110 dispute mediated by a 司法所 with agreement.
- Q1-Q3 answered on the call (直办); R1 out of scope (不予受理).

And two censures of 生态环境 in July (a 通报 and a 追责), one 通报 of 城管 made on 3 August about a
July case (it counts in August: a censure counts on the day it was made).

The month is worked with the projection following live (every command), as a district runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from uuid import UUID

from adapters.bootstrap import Runtime
from engine.deadlines import SHANGHAI
from engine.domain import Rating
from engine.intake import Channel, IntakeCommand
from projections.coop_queries import CoopViews

JULY, AUGUST, SEPTEMBER = dt.date(2026, 7, 1), dt.date(2026, 8, 1), dt.date(2026, 9, 1)
OP = "operator:july"
LEADER = "leader:july"
LEAD, ASSIST, ASSIST_2, CALLED_LATE = "chatinglu", "chengguan", "zhujian", "huanjing"
STREET = "zhongjie"
MEDIATOR = "zhongjie-sfs"  # 中街司法所: 珠海路 is in 中街街道


def at(day: int, hour: int, minute: int = 0, month: int = 7) -> dt.datetime:
    """A time in July 2026 (Beijing). 6 July is a Monday; July has no public holiday."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def _cmd(ref: str, content: str, address: str, when: dt.datetime,
         channel: Channel = Channel.HOTLINE, hint: str = "") -> IntakeCommand:
    return IntakeCommand(
        channel=channel, source_ref=ref, received_at=when, content=content, address=address,
        category_hint=hint,
    )


@dataclass
class JulyCases:
    ids: dict[str, UUID] = field(default_factory=dict)
    mediator: str = ""  # the 司法所 that mediated J1
    form: UUID | None = None
    escalated: int = 0  # deadlines the clock escalated on 8 July
    clock_candidates: list[UUID] = field(default_factory=list)


def _received(rt: Runtime, name: str, cmd: IntakeCommand, status: str, unit: str | None,
              cases: JulyCases, route: bool = True) -> None:
    r = rt.app.receive(cmd, route=route)
    assert (r.status, r.unit) == (status, unit), (name, r)
    cases.ids[name] = r.case_id


def july_month(rt: Runtime) -> JulyCases:
    app = rt.app
    # Follow live, every command (the March month turns this off to work in batches).
    app.on_saved = rt.projector.catch_up_quietly
    rt.projector.catch_up()
    out = JulyCases()
    ids = out.ids

    # ---- intake ------------------------------------------------------------------------------
    # C1 waits at the centre (not routed) until the centre names the lead and the assistants.
    _received(rt, "C1", _cmd("JUL-C1", "茶亭路与东一巷路口灯杆倾斜，旁边还堆着施工建材挡路", "海城区茶亭路88号",
                                 at(6, 9)), "received", None, out, route=False)
    _received(rt, "J1", _cmd("JUL-J1", "邻里纠纷：两户因楼道堆放杂物发生争执，民警已到场，请求调解",
                                 "珠海路7号", at(6, 9, 10), Channel.POLICE, "dispute"),
              "dispatched", MEDIATOR, out)
    j1 = out.mediator = MEDIATOR
    _received(rt, "C2", _cmd("JUL-C2", "茶亭路61号门口的路灯不亮，晚上很黑", "茶亭路61号", at(6, 10)),
              "dispatched", LEAD, out)
    _received(rt, "C3", _cmd("JUL-C3", "茶亭路62号门口的路灯不亮，晚上很黑", "茶亭路62号", at(6, 14)),
              "dispatched", LEAD, out)
    _received(rt, "Q1", _cmd("JUL-Q1", "咨询：想了解一下公积金提取要带哪些材料（七月一）", "", at(6, 15)),
              "received", None, out)
    _received(rt, "C4", _cmd("JUL-C4", "茶亭路63号门口的路灯不亮，晚上很黑", "茶亭路63号", at(7, 9)),
              "dispatched", LEAD, out)
    _received(rt, "R1", _cmd("JUL-R1", "七月来电：对方情绪激动，反映的事项与本平台无关", "", at(7, 9, 30)),
              "received", None, out)
    _received(rt, "Q2", _cmd("JUL-Q2", "咨询：想了解一下公积金提取要带哪些材料（七月二）", "", at(7, 16)),
              "received", None, out)
    # 一表通: three items from one grid inspection, each routed on its own.
    items = [
        {"content": "茶亭路64号门口的路灯不亮，晚上很黑", "address": "茶亭路64号"},
        {"content": "人民路口有人占道经营第七处，摊贩把路都堵了", "address": "海城区"},
        {"content": "楼下饭店油烟直排第七天，熏得没法开窗", "address": "海城区"},
    ]
    form, sent_before = app.submit_form("WG-2026-07", "inspection", "七月网格巡查", items, OP, at=at(8, 9))
    assert not sent_before and len(form.case_ids) == 3
    out.form = form.id
    for name, cid, unit in zip(("F1", "F2", "F3"), form.case_ids, (LEAD, ASSIST, CALLED_LATE), strict=True):
        assert app.get_case(cid).assigned_unit == unit, (name, app.get_case(cid).assigned_unit)
        ids[name] = cid
    _received(rt, "C5", _cmd("JUL-C5", "茶亭路65号门口的路灯不亮，晚上很黑", "茶亭路65号", at(8, 10)),
              "dispatched", LEAD, out)
    # The same lamp on the app, that afternoon: merged into C5 at intake.
    r = app.receive(_cmd("JUL-M", "茶亭路65号门口的路灯不亮，晚上很黑", "茶亭路65号", at(8, 16), Channel.APP))
    assert r.status == "merged" and r.merged_into == ids["C5"], r
    ids["M"] = r.case_id
    _received(rt, "Q3", _cmd("JUL-Q3", "咨询：想了解一下公积金提取要带哪些材料（七月三）", "", at(8, 17)),
              "received", None, out)
    _received(rt, "C6", _cmd("JUL-C6", "茶亭路66号门口的路灯不亮，晚上很黑", "茶亭路66号", at(9, 9)),
              "dispatched", LEAD, out)

    # ---- the centre's direct work -------------------------------------------------------------
    for q in ("Q1", "Q2", "Q3"):
        app.answer_directly(ids[q], "已当场告知所需材料", OP, at=app.get_case(ids[q]).received_at + dt.timedelta(minutes=5))
    app.reject(ids["R1"], "与本平台受理范围无关", OP, at=at(7, 9, 35))

    # ---- J1: mediation ------------------------------------------------------------------------
    app.claim(ids["J1"], j1, "u", at=at(6, 10))
    app.start_mediation(ids["J1"], j1, "u", at=at(6, 11))
    app.conclude_mediation(ids["J1"], j1, True, "双方达成协议", "u", at=at(7, 9))
    app.resolve(ids["J1"], j1, "调解成功，已告知当事人", "u", at=at(7, 10))

    # ---- C1: a lead and two assisting units ---------------------------------------------------
    c1 = ids["C1"]
    app.dispatch_with_assist(c1, LEAD, [ASSIST, ASSIST_2], OP, at=at(6, 9, 30), note="联合处置")
    app.claim(c1, LEAD, "u", at=at(6, 10))
    app.claim_part(c1, ASSIST, "u", at=at(6, 11))
    app.claim_part(c1, ASSIST_2, "u", at=at(6, 14))
    app.return_part(c1, ASSIST_2, "建材堆放不属住建职责", "u", at=at(7, 10))
    app.close_part(c1, 2, "同意退回，由城管处置", OP, at=at(7, 11))
    app.report_part(c1, ASSIST, "已清理占道建材", "u", at=at(14, 9))  # part due Mon 13 July
    app.resolve(c1, LEAD, "灯杆已扶正加固，建材已清走", "u", at=at(14, 10))  # lead due Mon 13 July

    # ---- C2: 吹哨报到 ---------------------------------------------------------------------------
    c2 = ids["C2"]
    app.claim(c2, LEAD, "u", at=at(6, 10, 30))
    app.whistle(c2, LEAD, [ASSIST, CALLED_LATE], "路灯下饭店油烟和占道同时反映，需部门到场", "u", at=at(6, 11))
    app.claim_part(c2, ASSIST, "u", at=at(6, 11, 45))  # reported in after 45 minutes
    app.report_part(c2, ASSIST, "已到场劝离占道摊点", "u", at=at(7, 10))
    # Report-in due by the end of Tue 7 July; the deadline clock runs just after midnight.
    midnight = at(8, 0, 0) + dt.timedelta(seconds=30)
    out.clock_candidates = CoopViews(rt.read_model).due_parts(midnight)
    out.escalated = app.tick(out.clock_candidates, midnight)
    app.claim_part(c2, CALLED_LATE, "u", at=at(8, 9))  # 46 hours after the whistle
    app.report_part(c2, CALLED_LATE, "已责令饭店安装油烟净化器", "u", at=at(8, 15))
    app.resolve(c2, LEAD, "路灯已修复，部门已处置", "u", at=at(9, 10))

    # ---- C3: 挂起 approved, then resumed -----------------------------------------------------
    c3 = ids["C3"]
    app.claim(c3, LEAD, "u", at=at(6, 15))
    # 住建 assists from Monday afternoon: its part's clocks are its own (claim by the end of
    # Tue 7, report by the end of Mon 13 July) and the lead's suspension does not move them.
    app.add_assist(c3, [ASSIST_2], OP, note="请核查灯杆基础", at=at(6, 16))
    app.claim_part(c3, ASSIST_2, "u", at=at(7, 9))
    app.request_hold(c3, LEAD, "灯杆需供电局停电配合，等待停电计划", "u", at=at(7, 10))
    app.decide_hold(c3, True, OP, note="同意挂起", at=at(7, 11))
    app.resume(c3, "u", unit=LEAD, at=at(10, 11))
    app.report_part(c3, ASSIST_2, "灯杆基础完好", "u", at=at(14, 9))  # a day past its own deadline
    app.resolve(c3, LEAD, "已更换灯具", "u", at=at(15, 10))

    # ---- C4: 挂起 refused, 领导批示 answered ---------------------------------------------------
    c4 = ids["C4"]
    app.claim(c4, LEAD, "u", at=at(7, 9, 30))
    app.request_hold(c4, LEAD, "等待厂家配件", "u", at=at(7, 10))
    app.decide_hold(c4, False, OP, note="配件可就近采购，请继续办理", at=at(7, 11))
    app.instruct(c4, "请尽快修复，注意夜间安全", LEADER, at=at(8, 9))
    app.answer_instruction(c4, LEAD, "已安排今晚抢修", "u", at=at(8, 15))
    app.resolve(c4, LEAD, "已修复", "u", at=at(15, 9))  # due Tue 14 July

    # ---- F1-F3: the form's items ------------------------------------------------------------
    app.claim(ids["F1"], LEAD, "u", at=at(8, 10))
    app.resolve(ids["F1"], LEAD, "已修复", "u", at=at(9, 16))
    app.claim(ids["F2"], ASSIST, "u", at=at(8, 10))
    app.resolve(ids["F2"], ASSIST, "已清理", "u", at=at(10, 10))
    app.claim(ids["F3"], CALLED_LATE, "u", at=at(10, 9))  # due by the end of Thu 9 July

    # ---- C5 and its merged caller M -----------------------------------------------------------
    app.claim(ids["C5"], LEAD, "u", at=at(8, 11))
    app.resolve(ids["C5"], LEAD, "已更换灯泡", "u", at=at(9, 10))

    # ---- C6: returned, approved to the street; reopened and resolved again -----------------
    c6 = ids["C6"]
    app.return_case(c6, LEAD, "主干道路灯属街道管理", "u", at=at(9, 10), suggested_unit=STREET)
    app.review_return(c6, True, OP, note="同意，转中街街道", at=at(9, 11))
    app.claim(c6, STREET, "u", at=at(9, 14))
    app.resolve(c6, STREET, "已报修", "u", at=at(10, 10))

    # ---- follow-up calls (回访) ---------------------------------------------------------------
    app.follow_up(c1, True, Rating.SATISFIED, OP, at=at(14, 16))
    app.follow_up(c2, True, Rating.BASICALLY_SATISFIED, OP, at=at(10, 9))
    app.follow_up(ids["C5"], True, Rating.SATISFIED, OP, at=at(10, 9, 30))
    app.follow_up(ids["M"], True, Rating.SATISFIED, OP, at=at(10, 9, 40))
    app.follow_up(c6, False, Rating.DISSATISFIED, OP, at=at(13, 10))  # 重办: back to 中街街道
    assert app.get_case(c6).assigned_unit == STREET
    app.claim(c6, STREET, "u", at=at(13, 11))
    app.resolve(c6, STREET, "已督促修复", "u", at=at(14, 10))

    # ---- 通报 / 追责 ----------------------------------------------------------------------------
    app.censure("notice", CALLED_LATE, "吹哨后未按时报到", OP, case_id=c2, at=at(10, 10))
    app.censure("accountability", CALLED_LATE, "一表通事项逾期签收", OP, case_id=ids["F3"], at=at(20, 10))
    app.censure("notice", ASSIST, "协办反馈逾期", OP, case_id=c1, at=at(3, 10, month=8))
    return out
