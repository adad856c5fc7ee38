"""The two clocks of every dispatch (签收 claim / 办理 handle) on China's working-day calendar.

Working days follow the statutory calendar, holidays and make-up workdays (调休) included, from
the maintained ``chinese-calendar`` package. Each November the State Council publishes the next
year's schedule, often before the package has a release with it, so the district config may add
a year (``calendar: {2027: {holidays: [...], workdays: [...]}}``); a year neither knows falls back
to Monday–Friday and is reported by :meth:`WorkCalendar.known_year`.

Rule used (docs/lifecycle.md, as 12345 centres count it): a deadline of N working days ends at the end
(23:59:59 Asia/Shanghai) of the N-th working day after the day of dispatch. Urgent cases run on
natural time: claim in minutes, handle in hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import chinese_calendar

from engine.config import DeadlinePolicy, HolidayNotice

SHANGHAI = ZoneInfo("Asia/Shanghai")


class WorkCalendar:
    def __init__(self, extra_years: dict[int, HolidayNotice] | None = None) -> None:
        self._extra = extra_years or {}
        self._holidays = {d for n in self._extra.values() for d in n.holidays}
        self._workdays = {d for n in self._extra.values() for d in n.workdays}
        # chinese_calendar's lookup costs ~20 us; every dispatch asks about up to ~10 days.
        self._is_workday: dict[dt.date, bool] = {}

    def known_year(self, year: int) -> bool:
        if year in self._extra:
            return True
        try:
            chinese_calendar.is_workday(dt.date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: dt.date) -> bool:
        known = self._is_workday.get(day)
        if known is None:
            known = self._is_workday[day] = self._lookup_workday(day)
        return known

    def _lookup_workday(self, day: dt.date) -> bool:
        if day.year in self._extra:
            if day in self._workdays:
                return True
            if day in self._holidays:
                return False
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    def add_workdays(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day strictly after ``day``."""
        count = 0
        d = day
        while count < n:
            d += dt.timedelta(days=1)
            if self.is_workday(d):
                count += 1
        return d


@dataclass(frozen=True)
class Clocks:
    claim_deadline: dt.datetime
    handle_deadline: dt.datetime


def _end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=SHANGHAI)


def compute_clocks(
    policy: DeadlinePolicy, urgent: bool, at: dt.datetime, calendar: WorkCalendar
) -> Clocks:
    if at.tzinfo is None:
        raise ValueError("dispatch time must be timezone-aware")
    if urgent:
        return Clocks(
            claim_deadline=at + dt.timedelta(minutes=policy.urgent.claim_minutes),
            handle_deadline=at + dt.timedelta(hours=policy.urgent.handle_hours),
        )
    local_day = at.astimezone(SHANGHAI).date()
    return Clocks(
        claim_deadline=_end_of_day(calendar.add_workdays(local_day, policy.normal.claim_workdays)),
        handle_deadline=_end_of_day(
            calendar.add_workdays(local_day, policy.normal.handle_workdays)
        ),
    )


def workdays_deadline(at: dt.datetime, workdays: int, calendar: WorkCalendar) -> dt.datetime:
    """The end of the ``workdays``-th working day after the day of ``at`` (the rule of the
    handling clock, used for the reply to a leader's instruction, 批示回复时限)."""
    if at.tzinfo is None:
        raise ValueError("time must be timezone-aware")
    return _end_of_day(calendar.add_workdays(at.astimezone(SHANGHAI).date(), workdays))


def paused_workdays(held_at: dt.datetime, resumed_at: dt.datetime, calendar: WorkCalendar) -> int:
    """Working days a suspension (挂起) took from the handling clock: the working days after the
    day it began, up to and including the day it ended (docs/lifecycle.md). A suspension that
    begins and ends on one day takes none: the clock counts whole working days."""
    start = held_at.astimezone(SHANGHAI).date()
    end = resumed_at.astimezone(SHANGHAI).date()
    n = 0
    d = start
    while d < end:
        d += dt.timedelta(days=1)
        if calendar.is_workday(d):
            n += 1
    return n


def deadline_after_pause(
    deadline: dt.datetime,
    held_at: dt.datetime,
    resumed_at: dt.datetime,
    urgent: bool,
    calendar: WorkCalendar,
) -> dt.datetime:
    """The handling deadline once a suspension ends, moved later by the paused time as the
    deadline was counted: natural time for an urgent case (its clock runs in hours), working
    days on the calendar otherwise (the time of day of the deadline kept)."""
    if resumed_at <= held_at:
        return deadline
    if urgent:
        return deadline + (resumed_at - held_at)
    n = paused_workdays(held_at, resumed_at, calendar)
    if n == 0:
        return deadline
    local = deadline.astimezone(SHANGHAI)
    day = calendar.add_workdays(local.date(), n)
    return dt.datetime.combine(day, local.timetz())
