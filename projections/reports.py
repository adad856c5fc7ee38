"""Reports (日报 / 周报 / 月报 and a custom range, docs/reports.md): the figures of a period put
together from the read model's views — the seven rates, the tables by street / category /
channel / unit, the trend, the problems that rose most (高频诉求, 每月一题 candidates), the
overdue cases and the leaders' instructions (批示件).

Pure assembly: every number comes from :class:`projections.queries.ReadModel` as the API
serves it (``stats``, ``overdue``, ``instruction_tracking``), so a report always equals
``GET /api/stats`` for the same period and filters. Rendering (Excel, the print page) is the
adapters' (adapters/reports/).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.contract import BUSINESS_FROM, BUSINESS_TO
from engine.deadlines import SHANGHAI
from engine.vocabulary import REPORT_KINDS, STATS_DIMENSIONS
from projections.queries import ReadModel, StatsQueryError

# The tables of a report, in order: 分街道, 分类, 分渠道, 分单位.
TABLE_DIMENSIONS = ("street", "category", "channel", "unit")
REPORT_FILTERS = ("street", "category", "channel")
# A trend is drawn per day up to this many days; a longer range per month.
DAILY_TREND_DAYS = 62
# A day report's trend: the week up to and including the day.
DAY_TREND_DAYS = 7
TOP_RISES = 10
# 每月一题 candidates: the top rises of each kind that did rise.
MONTHLY_TOPIC_CANDIDATES = 3
# Beyond this many days a report would sum years of counters per call; refused.
MAX_RANGE_DAYS = 3 * 366


class PeriodError(ValueError):
    """A period the reports cannot read (bad form, end before start); HTTP 422, CLI exit 2."""


@dataclass(frozen=True)
class Period:
    """[start, end) in Beijing days; ``key`` as written (2026-11, 2026-W48, 2026-11-30, or
    2026-11-01~2026-11-15 for a range whose end is exclusive)."""

    kind: str  # REPORT_KINDS: day / week / month / range
    start: dt.date
    end: dt.date
    key: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def kind_label(self) -> str:
        return REPORT_KINDS.label(self.kind)

    @property
    def label(self) -> str:
        """How a reader says it: 2026年11月, 2026年第48周（11月23日—11月29日）, 2026年11月30日."""
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}年第{week}周（{_md(self.start)}—{_md(self.last_day)}）"
        if self.kind == "day":
            return f"{self.start.year}年{self.start.month}月{self.start.day}日"
        return f"{_ymd(self.start)}—{_ymd(self.last_day)}"

    @property
    def file_key(self) -> str:
        """The period in a file name: 2026-11, 2026-W48, 2026-11-30, 2026-11-01至2026-11-14."""
        if self.kind == "range":
            return f"{self.start.isoformat()}至{self.last_day.isoformat()}"
        return self.key

    def previous(self) -> Period:
        """The period before, of the same kind and length (for the rises)."""
        if self.kind == "month":
            start = (self.start - dt.timedelta(days=1)).replace(day=1)
            return month_period(start.year, start.month)
        if self.kind == "week":
            return period_of_dates("week", self.start - dt.timedelta(days=7))
        if self.kind == "day":
            return period_of_dates("day", self.start - dt.timedelta(days=1))
        start = self.start - dt.timedelta(days=self.days)
        return range_period(start, self.start)


def _md(d: dt.date) -> str:
    return f"{d.month}月{d.day}日"


def _ymd(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def month_period(year: int, month: int) -> Period:
    start = dt.date(year, month, 1)
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    return Period("month", start, end, f"{year:04d}-{month:02d}")


def range_period(start: dt.date, end: dt.date) -> Period:
    if end <= start:
        raise PeriodError(f"结束日期 {end.isoformat()} 应晚于开始日期 {start.isoformat()}（结束日期不含）")
    if (end - start).days > MAX_RANGE_DAYS:
        raise PeriodError(f"报表区间最长 {MAX_RANGE_DAYS} 天")
    return Period("range", start, end, f"{start.isoformat()}~{end.isoformat()}")


def period_of_dates(kind: str, day: dt.date) -> Period:
    """The day, or the ISO week holding ``day``."""
    if kind == "day":
        return Period("day", day, day + dt.timedelta(days=1), day.isoformat())
    monday = day - dt.timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return Period("week", monday, monday + dt.timedelta(days=7), f"{year:04d}-W{week:02d}")


_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_WEEK = re.compile(r"(\d{4})-[Ww](\d{1,2})")
_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# The contract's business years (engine.contract: 2000-2099), less a year at the start so that
# the previous period of any period is inside them too.
EARLIEST = dt.date(BUSINESS_FROM.year, 12, 31)
LATEST = BUSINESS_TO.date()
PERIOD_HELP = "2026-11（月报）、2026-W48（周报，ISO 周）、2026-11-30（日报）"


def parse_period(
    period: str | None = None,
    from_: dt.date | str | None = None,
    to: dt.date | str | None = None,
) -> Period:
    """``period``: 2026-11 (月报), 2026-W48 (周报, ISO week), 2026-11-30 (日报); or ``from_`` and
    ``to`` (a custom range, ``to`` exclusive as in ``sanshi stats``). Beijing days, within the
    input contract's business years (engine.contract), the previous period too."""
    try:
        p = _parse_period(period, from_, to)
    except OverflowError:  # the day after 9999-12-31, the week after 9999-W52: not a period
        p = None
    if p is None or not (p.start > EARLIEST and p.end <= LATEST):
        raise PeriodError(f"报表周期应在 {EARLIEST.year + 1} 年至 {LATEST.year - 1} 年之间")
    return p


def _parse_period(
    period: str | None,
    from_: dt.date | str | None,
    to: dt.date | str | None,
) -> Period:
    text = (period or "").strip()
    if text and (from_ or to):
        raise PeriodError("--period 与 --from/--to 只能二选一")
    if not text:
        if not from_ or not to:
            raise PeriodError(f"请给出报表周期：{PERIOD_HELP}；或同时给出开始和结束日期")
        return range_period(_day(from_, "开始日期"), _day(to, "结束日期"))
    try:
        if m := _DAY.fullmatch(text):
            return period_of_dates("day", dt.date(int(m[1]), int(m[2]), int(m[3])))
        if m := _WEEK.fullmatch(text):
            year, week = int(m[1]), int(m[2])
            return period_of_dates("week", dt.date.fromisocalendar(year, week, 1))
        if m := _MONTH.fullmatch(text):
            year, month = int(m[1]), int(m[2])
            if not 1 <= month <= 12:
                raise ValueError
            if year < 1:
                raise ValueError
            return month_period(year, month)
    except ValueError:
        raise PeriodError(f"没有这个日期或周：{text[:40]}（{PERIOD_HELP}）") from None
    raise PeriodError(f"报表周期格式不对：{text[:40]}（应为 {PERIOD_HELP}）")


def _day(value: dt.date | str, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(SHANGHAI).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise PeriodError(f"{what}格式应为 YYYY-MM-DD：{str(value)[:40]}") from None


# ---- the report ----------------------------------------------------------------------------------


@dataclass
class ReportTable:
    """One breakdown (``by``): the rows and the total exactly as ``ReadModel.stats`` gives
    them; ``note`` says why a table is empty when the filters do not allow it."""

    by: str
    title: str
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None
    note: str = ""


@dataclass
class Rise:
    """A street or category whose volume (受理量) changed against the previous period."""

    kind: str  # street / category
    key: str
    name: str
    received: int
    previous: int
    candidate: bool = False  # 每月一题 candidate

    @property
    def change(self) -> int:
        return self.received - self.previous

    @property
    def change_ratio(self) -> float | None:
        return (self.change / self.previous) if self.previous else None


@dataclass
class Report:
    period: Period
    previous: Period
    filters: dict[str, str]  # code → key (street/category/channel)
    filter_names: dict[str, str]  # code → name (中街街道)
    generated_at: dt.datetime  # the instant the overdue and 批示 lists are as of
    district: str
    total: dict[str, Any]  # ReadModel.stats(...)["total"] of the period
    previous_total: dict[str, Any]
    tables: list[ReportTable]
    trend_unit: str  # day / month
    trend: list[dict[str, Any]]  # one stats total row per day (key = the day) or month
    rises: list[Rise]
    overdue: list[dict[str, Any]]
    instructions: list[dict[str, Any]]
    instruction_counts: dict[str, int] = field(default_factory=dict)

    @property
    def title(self) -> str:
        scope = "、".join(self.filter_names.values())
        return f"{self.district}三事{self.period.kind_label} · {self.period.label}" + (
            f" · {scope}" if scope else ""
        )

    def file_stem(self) -> str:
        """三事月报_2026-11_街道-中街街道: the period and the filters, in Chinese."""
        parts = [f"三事{self.period.kind_label}", self.period.file_key]
        for code, name in self.filter_names.items():
            parts.append(f"{STATS_DIMENSIONS.label(code)}-{_safe(name)}")
        return "_".join(parts)

    def ascii_stem(self) -> str:
        """sanshi-month-2026-11-street-zhongjie: for clients that cannot read filename*."""
        key = self.period.key.replace("~", "_")
        parts = ["sanshi", self.period.kind, key]
        for code, value in self.filters.items():
            parts += [code, value]
        return _ascii("-".join(parts))


def _safe(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "-", name).strip("-") or "-"


def _ascii(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "sanshi-report"


def build_report(
    rm: ReadModel,
    period: Period,
    now: dt.datetime,
    filters: Mapping[str, str | None] | None = None,
) -> Report:
    """The report of ``period`` (filters: street / category / channel) as of ``now``."""
    active = {k: str(v) for k, v in (filters or {}).items() if v}
    for k in active:
        if k not in REPORT_FILTERS:
            raise StatsQueryError(f"报表不支持按 {k!r} 筛选（可用：{'/'.join(REPORT_FILTERS)}）")
    start, end = period.start, period.end
    previous = period.previous()
    summary = rm.stats(None, start, end, active)
    previous_summary = rm.stats(None, previous.start, previous.end, active)

    tables = [_table(rm, by, start, end, active) for by in TABLE_DIMENSIONS]
    trend_unit, trend = _trend(rm, period, active)
    rises = _rises(rm, period, previous, active)

    overdue = [_named(rm, r) for r in rm.overdue(now) if _matches(r, active)]
    tracking = rm.instruction_tracking(now, limit=100_000)
    instructions = [
        _named(rm, r)
        for r in tracking["rows"]
        if _matches(r, active)
        and (start <= _beijing_day(r["received_at"]) < end or r.get("instruction_due") is not None)
    ]
    counts = {
        "cases": len(instructions),
        "instructions": sum(int(r.get("instructions") or 0) for r in instructions),
        "answered": sum(int(r.get("instructions_answered") or 0) for r in instructions),
        "answered_on_time": sum(int(r.get("instructions_on_time") or 0) for r in instructions),
        "pending": sum(1 for r in instructions if r.get("instruction_due") is not None),
        "pending_overdue": sum(1 for r in instructions if r.get("instruction_overdue")),
    }
    return Report(
        period=period,
        previous=previous,
        filters=active,
        filter_names={k: rm.name_of(k, v) for k, v in active.items()},
        generated_at=now,
        district=rm.name_of(None, ""),
        total=summary["total"],
        previous_total=previous_summary["total"],
        tables=tables,
        trend_unit=trend_unit,
        trend=trend,
        rises=rises,
        overdue=overdue,
        instructions=instructions,
        instruction_counts=counts,
    )


def _table(
    rm: ReadModel, by: str, start: dt.date, end: dt.date, active: Mapping[str, str]
) -> ReportTable:
    title = f"分{STATS_DIMENSIONS.label(by)}"
    try:
        data = rm.stats(by, start, end, active)
    except StatsQueryError:
        # A unit's counts are not a property of the case alone (ReadModel.stats).
        return ReportTable(by, title, [], None, "按街道、分类或渠道筛选时不能按承办单位统计")
    return ReportTable(by, title, data["rows"], data["total"])


def _trend(
    rm: ReadModel, period: Period, active: Mapping[str, str]
) -> tuple[str, list[dict[str, Any]]]:
    if period.kind == "day":
        first = period.start - dt.timedelta(days=DAY_TREND_DAYS - 1)
        days = [first + dt.timedelta(days=i) for i in range(DAY_TREND_DAYS)]
    elif period.days <= DAILY_TREND_DAYS:
        days = [period.start + dt.timedelta(days=i) for i in range(period.days)]
    else:
        rows = rm.stats("month", period.start, period.end, active)["rows"]
        return "month", rows
    out = []
    for day in days:
        total = dict(rm.stats(None, day, day + dt.timedelta(days=1), active)["total"])
        total["key"], total["name"] = day.isoformat(), f"{day.month}月{day.day}日"
        out.append(total)
    return "day", out


def _rises(
    rm: ReadModel, period: Period, previous: Period, active: Mapping[str, str]
) -> list[Rise]:
    out: list[Rise] = []
    for kind in ("category", "street"):
        if kind in active:  # one street (or category) only: nothing to compare it with
            continue
        now = {r["key"]: r for r in rm.stats(kind, period.start, period.end, active)["rows"]}
        before = {
            r["key"]: r["received"]
            for r in rm.stats(kind, previous.start, previous.end, active)["rows"]
        }
        rises = [
            Rise(kind, key, row["name"], row["received"], before.get(key, 0))
            for key, row in now.items()
            if row["received"] > 0
        ]
        rises.sort(key=lambda r: (-r.change, -r.received, r.key))
        rises = rises[:TOP_RISES]
        # Cases without a category or a place are no topic of their own.
        named = [r for r in rises if r.key and r.change > 0]
        for r in named[:MONTHLY_TOPIC_CANDIDATES]:
            r.candidate = True
        out += rises
    return out


def _named(rm: ReadModel, row: Mapping[str, Any]) -> dict[str, Any]:
    """A case row with its category's and street's names beside the codes."""
    out = dict(row)
    out["category_name"] = rm.name_of("category", str(row.get("category") or ""))
    out["street_name"] = rm.name_of("street", str(row.get("street") or ""))
    return out


def _matches(row: Mapping[str, Any], active: Mapping[str, str]) -> bool:
    return all(str(row.get(k) or "") == v for k, v in active.items())


def _beijing_day(value: Any) -> dt.date:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(SHANGHAI).date()
    assert isinstance(value, dt.date)
    return value


__all__ = [
    "Period",
    "PeriodError",
    "Report",
    "ReportTable",
    "Rise",
    "build_report",
    "parse_period",
]
