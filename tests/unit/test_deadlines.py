"""The two clocks (签收 / 办理) on China's statutory calendar, holidays and 调休 included."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.application import SanshiApplication
from engine.config import DeadlinePolicy, HolidayNotice, load_config
from engine.deadlines import (
    SHANGHAI,
    WorkCalendar,
    compute_clocks,
    deadline_after_pause,
    paused_workdays,
    workdays_deadline,
)
from engine.intake import IntakeCommand
from engine.routing.keyword import KeywordRouter

NORMAL = DeadlinePolicy()  # claim 1 working day, handle 5 working days; urgent 30 min / 24 h


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=SHANGHAI)


def end_of(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, 23, 59, 59, tzinfo=SHANGHAI)


def test_friday_before_national_day_counts_the_make_up_days() -> None:
    # 2025: National Day + Mid-Autumn Oct 1–8; make-up workdays Sun Sep 28 and Sat Oct 11.
    clocks = compute_clocks(NORMAL, False, at(2025, 9, 26), WorkCalendar())
    assert clocks.claim_deadline == end_of(2025, 9, 28)  # the make-up Sunday is a working day
    # Sep 28, 29, 30, then the holiday, then Oct 9, 10.
    assert clocks.handle_deadline == end_of(2025, 10, 10)


def test_last_day_before_the_holiday_runs_into_the_make_up_saturday() -> None:
    clocks = compute_clocks(NORMAL, False, at(2025, 9, 30), WorkCalendar())
    assert clocks.claim_deadline == end_of(2025, 10, 9)  # after eight days of holiday
    # Oct 9, 10, 11 (Saturday, 调休上班), 13, 14.
    assert clocks.handle_deadline == end_of(2025, 10, 14)


def test_spring_festival_holiday_is_not_a_working_day() -> None:
    cal = WorkCalendar()
    assert not cal.is_workday(dt.date(2026, 2, 17))  # 春节
    assert cal.is_workday(dt.date(2026, 2, 14))  # Saturday, 调休上班


def test_urgent_cases_run_on_natural_time_through_holidays() -> None:
    start = at(2025, 10, 1, 9)
    clocks = compute_clocks(NORMAL, True, start, WorkCalendar())
    assert clocks.claim_deadline == start + dt.timedelta(minutes=30)
    assert clocks.handle_deadline == start + dt.timedelta(hours=24)


def test_config_adds_a_year_the_package_does_not_know() -> None:
    year = 2031
    assert not WorkCalendar().known_year(year)
    notice = HolidayNotice(
        holidays=[dt.date(year, 10, d) for d in range(1, 8)],
        workdays=[dt.date(year, 9, 28), dt.date(year, 10, 11)],
    )
    cal = WorkCalendar({year: notice})
    assert cal.known_year(year)
    assert cal.is_workday(dt.date(year, 9, 28))  # a Sunday made a workday by the notice
    assert not cal.is_workday(dt.date(year, 10, 2))  # a Thursday made a holiday
    clocks = compute_clocks(NORMAL, False, at(year, 9, 30), cal)
    assert clocks.claim_deadline == end_of(year, 10, 8)


def test_unknown_year_without_notice_falls_back_to_weekdays() -> None:
    cal = WorkCalendar()
    assert cal.is_workday(dt.date(2032, 10, 4))  # a Monday, no notice: counted as working
    assert not cal.is_workday(dt.date(2032, 10, 3))  # a Sunday


def test_naive_dispatch_time_is_refused() -> None:
    with pytest.raises(ValueError):
        compute_clocks(NORMAL, False, dt.datetime(2025, 9, 26, 10), WorkCalendar())


@pytest.mark.parametrize("urgent_by", ["flag", "concern", "words"])
def test_application_sets_urgent_clock_on_dispatch(urgent_by: str) -> None:
    config = load_config()
    app = SanshiApplication(config, KeywordRouter(config), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    start = at(2025, 10, 2, 21)  # in the middle of the National Day holiday, at night
    cmd = IntakeCommand(
        channel="app",
        source_ref=f"urgent-{urgent_by}",
        received_at=start,
        content="茶亭路12号楼道里燃气泄漏，味道很大" if urgent_by == "words" else "茶亭路12号楼道路灯坏了",
        address="茶亭路12号",
        urgent=urgent_by == "flag",
        concern="anguish" if urgent_by == "concern" else "worry",
    )
    case = app.get_case(app.receive(cmd).case_id)
    assert case.urgent and case.dispatch is not None
    assert case.dispatch.claim_deadline == start + dt.timedelta(minutes=30)
    assert case.dispatch.handle_deadline == start + dt.timedelta(hours=24)


def test_missed_deadline_escalates_once_and_climbs_to_the_supervisor() -> None:
    config = load_config()
    app = SanshiApplication(config, KeywordRouter(config), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    cmd = IntakeCommand(
        channel="hotline", source_ref="late-1", received_at=at(2025, 9, 26),
        content="茶亭路32号路灯不亮好几天了", address="茶亭路32号",
    )
    cid = app.receive(cmd).case_id
    assert app.get_case(cid).assigned_unit == "chatinglu"
    # The claim deadline (end of Sunday Sep 28, a make-up workday) passes unclaimed.
    now = at(2025, 9, 29, 9)
    assert [k.value for k in app.escalate_overdue(cid, now)] == ["claim"]
    assert app.escalate_overdue(cid, now) == []  # once per deadline
    assert app.tick([cid, cid], now + dt.timedelta(hours=1)) == 0
    events = list(app.events.get(cid))
    escalations = [e for e in events if type(e).__name__ == "Escalated"]
    assert len(escalations) == 1
    assert escalations[0].supervisor == "zhongjie"  # community → its street
    # Later the handling deadline passes too: one more escalation, level 2.
    assert [k.value for k in app.escalate_overdue(cid, at(2025, 10, 13))] == ["handle"]
    assert app.get_case(cid).escalation_level == 2


# ---- 挂起: the paused time, counted as the deadline is (docs/lifecycle.md) ------------------------


def _sh(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=SHANGHAI)


def test_paused_working_days_are_the_working_days_after_the_first_day_up_to_the_last() -> None:
    cal = WorkCalendar()
    # Tuesday 2026-09-22 → Monday 2026-09-28: Wed, Thu (Fri 25 is 中秋节; a weekend) and Mon.
    assert paused_workdays(_sh(2026, 9, 22), _sh(2026, 9, 28), cal) == 3
    assert paused_workdays(_sh(2026, 9, 22, 9), _sh(2026, 9, 22, 17), cal) == 0  # one day
    # Friday → Monday over an ordinary weekend: one working day (Monday).
    assert paused_workdays(_sh(2026, 11, 6), _sh(2026, 11, 9), cal) == 1


def test_the_deadline_moves_on_the_calendar_and_urgent_cases_in_natural_time() -> None:
    cal = WorkCalendar()
    deadline = dt.datetime(2026, 11, 13, 23, 59, 59, tzinfo=SHANGHAI)  # a Friday
    moved = deadline_after_pause(deadline, _sh(2026, 11, 9), _sh(2026, 11, 11), False, cal)
    # Two working days (Tue, Wed) later than Friday: Tuesday 2026-11-17, same time of day.
    assert moved == dt.datetime(2026, 11, 17, 23, 59, 59, tzinfo=SHANGHAI)
    assert deadline_after_pause(deadline, _sh(2026, 11, 9, 9), _sh(2026, 11, 9, 17), False, cal) == deadline
    urgent = deadline_after_pause(deadline, _sh(2026, 11, 9, 9), _sh(2026, 11, 9, 17), True, cal)
    assert urgent == deadline + dt.timedelta(hours=8)


def test_an_instructions_reply_is_due_at_the_end_of_the_third_working_day() -> None:
    due = workdays_deadline(_sh(2026, 9, 30), 3, WorkCalendar())
    # After Wednesday 2026-09-30: the National Day holiday, then Thu 8, Fri 9, Sat 10 (调休).
    assert due == dt.datetime(2026, 10, 10, 23, 59, 59, tzinfo=SHANGHAI)
