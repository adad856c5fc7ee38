"""Simulated time: office hours of units, day shifts of the centre, in business time.

Units work 8:30-12:00 and 14:30-18:00 on working days (the statutory calendar, 调休 included);
the centre's operators take calls round the clock but dispatch by hand, decide extensions and
make follow-up calls in the day shift (8:00-22:00, every day).
"""

from __future__ import annotations

import datetime as dt

from engine.deadlines import SHANGHAI, WorkCalendar

OFFICE = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(14, 30), dt.time(18, 0)))
SHIFT = (dt.time(8, 0), dt.time(22, 0))


class FastCalendar:
    """The work calendar with every answer remembered (the clock asks about the same few
    hundred days many thousand times)."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self._known: dict[dt.date, bool] = {}

    def is_workday(self, day: dt.date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self.calendar.is_workday(day)
        return known

    def add_workdays(self, day: dt.date, n: int) -> dt.date:
        return self.calendar.add_workdays(day, n)


Calendar = WorkCalendar | FastCalendar


def _at(day: dt.date, t: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, t, tzinfo=SHANGHAI)


def office_time_after(start: dt.datetime, hours: float, calendar: Calendar) -> dt.datetime:
    """The moment ``hours`` of office time after ``start`` (which may be outside office)."""
    left = dt.timedelta(hours=max(hours, 0.0))
    t = start.astimezone(SHANGHAI)
    for _ in range(400):  # at most a year and a bit of days
        day = t.date()
        if calendar.is_workday(day):
            for open_, close in OFFICE:
                a, b = _at(day, open_), _at(day, close)
                if t >= b:
                    continue
                begin = max(t, a)
                if begin + left <= b:
                    return begin + left
                left -= b - begin
                t = b
        t = _at(day + dt.timedelta(days=1), dt.time(0, 0))
    return t


def office_hours_between(a: dt.datetime, b: dt.datetime, calendar: Calendar) -> float:
    """Office hours in [a, b)."""
    if b <= a:
        return 0.0
    total = dt.timedelta()
    day = a.astimezone(SHANGHAI).date()
    last = b.astimezone(SHANGHAI).date()
    while day <= last:
        if calendar.is_workday(day):
            for open_, close in OFFICE:
                lo, hi = max(a, _at(day, open_)), min(b, _at(day, close))
                if hi > lo:
                    total += hi - lo
        day += dt.timedelta(days=1)
    return total.total_seconds() / 3600


def shift_time_after(start: dt.datetime, hours: float) -> dt.datetime:
    """``hours`` of the centre's day shift after ``start``."""
    left = dt.timedelta(hours=max(hours, 0.0))
    t = start.astimezone(SHANGHAI)
    for _ in range(400):
        day = t.date()
        a, b = _at(day, SHIFT[0]), _at(day, SHIFT[1])
        if t < b:
            begin = max(t, a)
            if begin + left <= b:
                return begin + left
            left -= b - begin
        t = _at(day + dt.timedelta(days=1), dt.time(0, 0))
    return t
