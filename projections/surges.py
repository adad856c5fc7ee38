"""主动治理: problems found before anyone calls (docs/proactive.md).

Two reads over the case view (``view_cases``, with the search view's keyed caller numbers):

- **surges** (激增): place × category cells (街道 or 社区 × 诉求分类) whose count of valid cases
  (有效受理: received − merged − rejected, each case's own counters, so a drill-down with
  ``field=accepted`` lists exactly the cases counted) in a day or a week is far above the cell's
  usual level. The usual level is a Poisson rate per day from the trailing ``history_weeks``,
  smoothed toward the category's district-wide rate (shared out by the place's share of all
  cases) with the weight of ``prior_days`` days, never below ``floor_per_day``, and scaled by
  the district's weekday profile. A cell is flagged when its count k ≥ ``min_count`` and
  P(X ≥ k | λ) < ``alpha`` ÷ (places × categories): Bonferroni over every cell of the window,
  so a quiet district's window raises a false flag with probability below ``alpha``.
- **repeated places** (重复投诉): one normalised address and category that
  ``repeat_min_callers`` distinct callers (distinct keyed phone numbers) reported within ``repeat_days`` days, merged
  duplicates included (they are the repeated calls).

The Poisson tail is computed here with ``math`` (:func:`poisson_sf`), not scipy: scipy is not
one of the project's declared dependencies (it arrives only as scikit-learn's), and the exact
tail is a short sum of terms in log space, accurate far below the Bonferroni thresholds.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select

from engine.config import SanshiConfig, Surges, UnitKind
from engine.deadlines import SHANGHAI
from projections.queries import ReadModel, StatsQueryError
from projections.search import view_search
from projections.tables import view_cases

WINDOWS = ("day", "week")
WINDOW_NAMES = {"day": "日", "week": "周"}
MAX_SCAN_DAYS = 400  # a scan's range, at most
MAX_CASE_IDS = 500  # case ids listed with one candidate (the drill-down pages through them all)

Cell = tuple[str, str]  # (place key, category code)


def poisson_sf(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(λ), exact to double precision at any tail.

    Below the mean the complement of the lower sum is safe (the answer is large); above it
    the upper terms are summed from k on (each the previous × λ / i, started in log space so
    nothing underflows before it should), which keeps full relative precision far out."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k <= lam:
        term = math.exp(-lam)
        below = 0.0
        for i in range(k):
            if i:
                term *= lam / i
            below += term
        return min(1.0, max(0.0, 1.0 - below))
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    if log_term < -745:  # below the smallest double: the tail is 0 to double precision
        return 0.0
    term = math.exp(log_term)
    total = term
    i = k
    while term > total * 1e-17:
        i += 1
        term *= lam / i
        total += term
    return min(1.0, total)


@dataclass(frozen=True)
class Baseline:
    """What a window is judged against: per-cell history counts over ``days`` days, the
    category and place totals, and the weekday profile of the district's daily totals."""

    days: int
    cells: Mapping[Cell, int]
    categories: Mapping[str, int]
    places: Mapping[str, int]
    total: int
    weekday_weight: Mapping[int, float]

    def rate_per_day(self, cell: Cell, s: Surges) -> float:
        """The cell's usual count per (average) day: its own history, smoothed toward the
        category's district-wide rate shared out by the place's share of all cases (a
        gamma prior worth ``prior_days`` days), at least ``floor_per_day``."""
        place, category = cell
        prior = 0.0
        if self.total > 0:
            prior = (self.categories.get(category, 0) / self.days) * (self.places.get(place, 0) / self.total)
        own = self.cells.get(cell, 0)
        smoothed = (own + s.prior_days * prior) / (self.days + s.prior_days)
        return max(smoothed, s.floor_per_day)

    def day_weights(self, days: Iterable[dt.date]) -> float:
        """The window's length in average days: each day weighted by its weekday's level."""
        return sum(self.weekday_weight.get(d.weekday(), 1.0) for d in days)


def baseline_of(
    daily: Mapping[dt.date, Mapping[Cell, int]],
    totals: Mapping[dt.date, int],
    start: dt.date,
    end: dt.date,
    weekday_adjust: bool,
) -> Baseline:
    """The baseline from the days [start, end) of ``daily`` (cell counts per day) and
    ``totals`` (every valid case of the district per day, placed and categorised or not)."""
    cells: dict[Cell, int] = defaultdict(int)
    categories: dict[str, int] = defaultdict(int)
    places: dict[str, int] = defaultdict(int)
    by_weekday: dict[int, list[int]] = defaultdict(list)
    day = start
    while day < end:
        for cell, n in daily.get(day, {}).items():
            cells[cell] += n
            categories[cell[1]] += n
            places[cell[0]] += n
        by_weekday[day.weekday()].append(totals.get(day, 0))
        day += dt.timedelta(days=1)
    n_days = (end - start).days
    all_days = sum(sum(v) for v in by_weekday.values())
    weights: dict[int, float] = {}
    # A weekday's level needs two of it in the history and some cases; else every day is 1.
    if weekday_adjust and all_days > 0 and all(len(by_weekday[w]) >= 2 for w in range(7)):
        mean = all_days / n_days
        for w in range(7):
            weights[w] = max((sum(by_weekday[w]) / len(by_weekday[w])) / mean, 0.1)
    return Baseline(
        n_days, dict(cells), dict(categories), dict(places), sum(cells.values()), weights
    )


@dataclass(frozen=True)
class Flag:
    place: str
    category: str
    start: dt.date
    end: dt.date
    count: int
    expected: float
    p_value: float


def judge(
    window: Mapping[Cell, int],
    days: Sequence[dt.date],
    base: Baseline,
    places: Sequence[str],
    categories: Sequence[str],
    s: Surges,
) -> tuple[list[Flag], float]:
    """The flagged cells of one window (its ``days`` and its counts), and the per-cell
    threshold α ÷ (places × categories)."""
    tested = max(1, len(places) * len(categories))
    threshold = s.alpha / tested
    length = base.day_weights(days)
    known_places, known_categories = set(places), set(categories)
    out: list[Flag] = []
    for cell, k in window.items():
        if k < s.min_count or cell[0] not in known_places or cell[1] not in known_categories:
            continue
        lam = base.rate_per_day(cell, s) * length
        p = poisson_sf(k, lam)
        if p < threshold:
            out.append(Flag(cell[0], cell[1], days[0], days[-1] + dt.timedelta(days=1), k, lam, p))
    out.sort(key=lambda f: (f.p_value, -f.count, f.place, f.category))
    return out, threshold


def window_days(window: str, day: dt.date, today: dt.date | None = None) -> list[dt.date]:
    """The days of the window that ``day`` names: the day itself, or its week (Monday to
    Sunday, up to ``today`` when the week is not over)."""
    if window == "day":
        return [day]
    if window != "week":
        raise StatsQueryError(f"window 只能是 {'/'.join(WINDOWS)}，不能是 {window[:20]!r}")
    monday = day - dt.timedelta(days=day.weekday())
    last = monday + dt.timedelta(days=6)
    if today is not None:
        last = min(last, today)
    return [monday + dt.timedelta(days=i) for i in range((last - monday).days + 1)]


_SPACES = re.compile(r"[\s,，。;；:：()（）\-—_/·]+")


def normalised_address(address: str, prefixes: Sequence[str]) -> str:
    """One place's key from an address as residents and operators write it: NFKC (full-width
    digits and letters), no spaces or punctuation, without the city and district prefix and
    a trailing 附近 / 门口 (the same door whoever writes it)."""
    a = _SPACES.sub("", unicodedata.normalize("NFKC", address or ""))
    changed = True
    while changed:
        changed = False
        for p in prefixes:
            if p and a.startswith(p):
                a = a[len(p):]
                changed = True
    for tail in ("附近", "门口", "门前", "旁边", "对面"):
        if a.endswith(tail):
            a = a[: -len(tail)]
    return a


class SurgeViews:
    """The 主动治理 reads over a :class:`ReadModel` and the district config."""

    def __init__(self, rm: ReadModel, config: SanshiConfig) -> None:
        self.rm = rm
        self.config = config
        self.settings = config.surges

    # ---- which places and categories ---------------------------------------------------

    def _place_kind(self) -> str:
        return "community" if self.settings.place == "community" else "street"

    def _places(self) -> list[str]:
        kind = UnitKind.COMMUNITY if self._place_kind() == "community" else UnitKind.STREET
        return [u.id for u in self.config.units_of_kind(kind)]

    def _categories(self) -> list[str]:
        return self.config.category_codes()

    # ---- reading the view --------------------------------------------------------------

    def _daily(
        self, start: dt.date, end: dt.date
    ) -> tuple[dict[dt.date, dict[Cell, int]], dict[dt.date, int]]:
        """Valid cases (有效受理) per received day and cell, and per day in all."""
        t = view_cases
        place_col = t.c.locality if self._place_kind() == "community" else t.c.street
        accepted = t.c.received - t.c.merged - t.c.rejected
        stmt = (
            select(t.c.received_day, place_col.label("place"), t.c.category, func.sum(accepted).label("n"))
            .where(and_(t.c.received_day >= start, t.c.received_day < end))
            .group_by(t.c.received_day, place_col, t.c.category)
        )
        daily: dict[dt.date, dict[Cell, int]] = defaultdict(dict)
        totals: dict[dt.date, int] = defaultdict(int)
        with self.rm.engine.connect() as conn:
            for day, place, category, n in conn.execute(stmt):
                d = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
                n = int(n or 0)
                if n <= 0:
                    continue
                totals[d] += n
                if place and category:
                    daily[d][(str(place), str(category))] = daily[d].get((str(place), str(category)), 0) + n
        return daily, totals

    def _first_day(self) -> dt.date | None:
        with self.rm.engine.connect() as conn:
            first = conn.execute(select(func.min(view_cases.c.received_day))).scalar()
        if first is None:
            return None
        return first if isinstance(first, dt.date) else dt.date.fromisoformat(str(first))

    def _case_ids(self, flag: Flag) -> list[str]:
        t = view_cases
        place_col = t.c.locality if self._place_kind() == "community" else t.c.street
        stmt = (
            select(t.c.case_id)
            .where(
                and_(
                    place_col == flag.place,
                    t.c.category == flag.category,
                    t.c.received_day >= flag.start,
                    t.c.received_day < flag.end,
                    (t.c.received - t.c.merged - t.c.rejected) > 0,
                )
            )
            .order_by(t.c.received_at, t.c.case_id)
            .limit(MAX_CASE_IDS)
        )
        with self.rm.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(stmt)]

    # ---- surges --------------------------------------------------------------------------

    def surges(
        self,
        window: str,
        start: dt.date,
        end: dt.date,
        now: dt.datetime,
        case_ids: bool = True,
    ) -> dict[str, Any]:
        """Every window of kind ``window`` that touches [start, end) (a day each day; a week
        each Monday-to-Sunday week, cut at ``end`` and at today), each judged against the
        ``history_weeks`` before it; the flagged cells, in time order, most unlikely first."""
        if window not in WINDOWS:
            raise StatsQueryError(f"window 只能是 {'/'.join(WINDOWS)}，不能是 {window[:20]!r}")
        if start >= end:
            raise StatsQueryError("起始日期必须早于截止日期")
        if (end - start).days > MAX_SCAN_DAYS:
            raise StatsQueryError(f"一次最多查看 {MAX_SCAN_DAYS} 天")
        s = self.settings
        self.rm._fresh()
        today = now.astimezone(SHANGHAI).date()
        windows: list[list[dt.date]] = []
        day = start
        while day < end and day <= today:
            # A week is cut at ``end`` (and at today): the days asked for, judged as they are.
            days = [d for d in window_days(window, day, today) if d < end]
            if not windows or windows[-1] != days:
                windows.append(days)
            day = days[-1] + dt.timedelta(days=1) if window == "week" else day + dt.timedelta(days=1)
        history = dt.timedelta(weeks=s.history_weeks)
        first = self._first_day()
        places, categories = self._places(), self._categories()
        rows: list[dict[str, Any]] = []
        judged: list[dict[str, Any]] = []
        threshold = s.alpha / max(1, len(places) * len(categories))
        if windows and first is not None:
            read_from = max(first, windows[0][0] - history)
            daily, totals = self._daily(read_from, windows[-1][-1] + dt.timedelta(days=1))
            for days in windows:
                h_start, h_end = max(first, days[0] - history), days[0]
                if (h_end - h_start).days < s.min_history_days:
                    judged.append({"from": days[0], "to": days[-1] + dt.timedelta(days=1), "tested": False})
                    continue
                base = baseline_of(daily, totals, h_start, h_end, s.weekday_adjust)
                counts: dict[Cell, int] = defaultdict(int)
                for d in days:
                    for cell, n in daily.get(d, {}).items():
                        counts[cell] += n
                flags, threshold = judge(counts, days, base, places, categories, s)
                judged.append({"from": days[0], "to": days[-1] + dt.timedelta(days=1), "tested": True,
                               "history_days": base.days, "flags": len(flags)})
                rows.extend(self._surge_row(f, window, base.days, case_ids) for f in flags)
        rows.sort(key=lambda r: (r["from"], r["p_value"]))
        place_kind = self._place_kind()
        return {
            "window": window,
            "window_name": WINDOW_NAMES[window],
            "from": start,
            "to": end,
            "now": now,
            "place_kind": place_kind,
            "method": {
                "history_weeks": s.history_weeks,
                "min_history_days": s.min_history_days,
                "alpha": s.alpha,
                "cells": len(places) * len(categories),
                "threshold": threshold,
                "min_count": s.min_count,
                "floor_per_day": s.floor_per_day,
                "prior_days": s.prior_days,
                "weekday_adjust": s.weekday_adjust,
            },
            "windows": judged,
            "rows": rows,
        }

    def _surge_row(self, f: Flag, window: str, history_days: int, case_ids: bool) -> dict[str, Any]:
        place_kind = self._place_kind()
        return {
            "window": window,
            "from": f.start,
            "to": f.end,
            "place_kind": place_kind,
            "place": f.place,
            "place_name": self.rm.name_of(place_kind, f.place),
            "category": f.category,
            "category_name": self.rm.name_of("category", f.category),
            "count": f.count,
            "baseline": round(f.expected, 2),
            "ratio": round(f.count / f.expected, 1) if f.expected > 0 else None,
            "p_value": f.p_value,
            "history_days": history_days,
            "case_ids": self._case_ids(f) if case_ids else [],
            # The same cases through the comparison table's drill-down (GET /api/stats/cases).
            "drill": {
                "field": "accepted",
                "by": "category",
                "key": f.category,
                place_kind: f.place,
                "from": f.start.isoformat(),
                "to": f.end.isoformat(),
            },
        }

    # ---- repeated places -------------------------------------------------------------------

    def repeated_places(self, day: dt.date, now: dt.datetime) -> dict[str, Any]:
        """Addresses (normalised) × category that ``repeat_min_callers`` distinct callers reported
        in the ``repeat_days`` days ending with ``day``; the most callers first. An address no more
        precise than a place name of the district (a road, a 小区, a community) is not one
        place and is left out; so is a case without a caller's number (nobody to count)."""
        s = self.settings
        self.rm._fresh()
        start = day - dt.timedelta(days=s.repeat_days - 1)
        end = day + dt.timedelta(days=1)
        cfg = self.config
        prefixes = [p for p in (cfg.district.city, cfg.district.name) if p]
        coarse = {normalised_address(a, prefixes) for u in cfg.units for a in (*u.areas, u.name)}
        coarse.add("")
        t = view_cases
        stmt = (
            select(t.c.case_id, t.c.address, t.c.category, t.c.street, t.c.locality, t.c.received_at,
                   t.c.status, view_search.c.phone_key)
            .select_from(t.join(view_search, view_search.c.case_id == t.c.case_id, isouter=True))
            .where(and_(t.c.received_day >= start, t.c.received_day < end))
            .order_by(t.c.received_at, t.c.case_id)
        )
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        with self.rm.engine.connect() as conn:
            for r in conn.execute(stmt):
                m = self.rm._opened(dict(r._mapping))
                key = normalised_address(str(m["address"] or ""), prefixes)
                if key in coarse:
                    continue
                groups[(key, str(m["category"] or ""))].append(m)
        rows = []
        for (key, category), cases in groups.items():
            callers = {c["phone_key"] for c in cases if c["phone_key"]}
            if len(callers) < s.repeat_min_callers:
                continue
            last = cases[-1]
            rows.append({
                "address": key,
                "category": category or None,
                "category_name": self.rm.name_of("category", category),
                "street": last["street"] or None,
                "street_name": self.rm.name_of("street", last["street"]) if last["street"] else None,
                "community": last["locality"] or None,
                "community_name": self.rm.name_of("community", last["locality"]) if last["locality"] else None,
                "callers": len(callers),
                "cases": len(cases),
                "first_at": cases[0]["received_at"],
                "last_at": last["received_at"],
                "case_ids": [str(c["case_id"]) for c in cases][:MAX_CASE_IDS],
            })
        rows.sort(key=lambda r: (-r["callers"], -r["cases"], r["address"]))
        return {
            "from": start,
            "to": end,
            "now": now,
            "min_callers": s.repeat_min_callers,
            "days": s.repeat_days,
            "rows": rows,
        }


__all__: Sequence[str] = (
    "WINDOWS",
    "Baseline",
    "Flag",
    "SurgeViews",
    "baseline_of",
    "judge",
    "normalised_address",
    "poisson_sf",
    "window_days",
)
