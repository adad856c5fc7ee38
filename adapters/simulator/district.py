"""The simulated district: its places, its rhythm and how each of its units behaves.

Everything is read from the :class:`SanshiConfig`, so any district file works: addresses come
from the areas of its communities and streets, and each unit gets a temperament (prompt or
slow, careful or careless) drawn from the seed and its id, so the same seed gives the same
district and some units end at the top of the ranking and some at the bottom.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from engine.config import SanshiConfig, UnitKind

# Share of the day's intake per hour (0-23): quiet nights, a morning peak, an afternoon one.
HOUR_PROFILE = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.15, 0.45, 1.10, 2.60, 3.30, 3.10, 2.50,
    1.30, 1.40, 2.30, 2.50, 2.30, 1.80, 1.20, 1.15, 1.00, 0.80, 0.55, 0.35,
)
NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4, 5})
WEEKDAY_FACTOR = (1.35, 1.12, 1.02, 1.0, 0.95, 0.68, 0.62)  # Monday .. Sunday
MONDAY_MORNING_BOOST = 1.35  # what piled up over the weekend comes in on Monday 8-12

# Channel shares (what passes into the engine) and when each channel is open.
CHANNEL_SHARE = {"hotline": 0.58, "app": 0.21, "walkin": 0.13, "police": 0.08}

# A counter (解忧超市) opens 8:30-12:00 and 14:30-17:30 on working days, mornings on Saturdays.
WALKIN_HOURS = frozenset({8, 9, 10, 11, 14, 15, 16, 17})


def hour_weight(channel: str, hour: int, weekday: int, workday: bool) -> float:
    """Relative intake of one channel in one hour of one day."""
    w = HOUR_PROFILE[hour]
    if channel == "walkin":
        if hour not in WALKIN_HOURS:
            return 0.0
        if not workday and not (weekday == 5 and hour < 12):
            return 0.0
        return w * 1.6
    if channel == "app":
        # Residents write in the evening after work.
        return w * (1.8 if 19 <= hour <= 22 else 1.0)
    if channel == "police":
        # 110 hands disputes over round the clock, more in the evening.
        return 0.6 + (1.2 if 18 <= hour <= 23 else 0.4 * w)
    return w


@dataclass(frozen=True)
class Place:
    """A place name of the district and the locality that owns it."""

    name: str  # road, 小区 area, village
    unit: str  # community (or street) whose areas name it


def places_of(config: SanshiConfig) -> list[Place]:
    """Every area name of every community, then streets' own areas not already covered."""
    out: list[Place] = []
    seen: set[str] = set()
    for kind in (UnitKind.COMMUNITY, UnitKind.STREET):
        for u in config.units_of_kind(kind):
            for area in u.areas:
                if area not in seen:
                    seen.add(area)
                    out.append(Place(area, u.id))
    if not out:
        # A district without areas: its streets' and communities' names are the places.
        for u in config.units:
            if u.kind in (UnitKind.COMMUNITY, UnitKind.STREET):
                out.append(Place(u.name, u.id))
    if not out:
        out.append(Place(config.district.name, config.centre.id))
    return out


def address_of(config: SanshiConfig, road: str, slots: dict[str, str], rng: random.Random) -> str:
    prefix = f"{config.district.city}{config.district.name}"
    form = rng.random()
    if form < 0.45:
        return f"{prefix}{road}{slots['n']}号"
    if form < 0.8:
        return f"{prefix}{road}{slots['xiaoqu']}小区"
    if form < 0.92:
        return f"{road}{slots['landmark']}附近"
    return f"{prefix}{road}"


@dataclass(frozen=True)
class Temperament:
    """How one unit works. Probabilities per dispatch; delays in working hours."""

    tier: str  # "good" | "fair" | "poor"
    claim_late_p: float  # misses the claim deadline (签收超时)
    late_p: float  # misses the handling deadline without asking for more time
    extension_p: float  # asks for an extension (延期)
    spurious_return_p: float  # returns a case that was theirs after all (推诿)
    misroute_return_p: float  # returns a case that really is not theirs
    quality: float  # chance the resident is satisfied with the result
    mediation_success: float  # 调解成功 (judicial offices)
    claim_hours: float  # typical working hours from dispatch to claim
    handle_share: float  # typical share of the handling window used


TIERS = {
    "good": Temperament("good", 0.01, 0.03, 0.04, 0.01, 0.90, 0.95, 0.85, 0.6, 0.35),
    "fair": Temperament("fair", 0.05, 0.10, 0.07, 0.03, 0.85, 0.89, 0.72, 1.5, 0.55),
    "poor": Temperament("poor", 0.22, 0.30, 0.12, 0.08, 0.75, 0.78, 0.55, 3.5, 0.80),
}


def temperaments(config: SanshiConfig, seed: int) -> dict[str, Temperament]:
    """A temperament per unit, from the seed and the unit id (stable when units are added)."""
    out: dict[str, Temperament] = {}
    for u in config.units:
        r = random.Random(f"{seed}:temperament:{u.id}").random()
        if u.kind == UnitKind.CENTRE:
            tier = "good"
        elif u.kind == UnitKind.ENTERPRISE:
            tier = "fair" if r < 0.6 else "poor"  # utilities: many cases, slow on the small ones
        else:
            tier = "good" if r < 0.3 else "fair" if r < 0.8 else "poor"
        out[u.id] = TIERS[tier]
    return out


@dataclass(frozen=True)
class Surge:
    """A storm day (台风): many 停电 / 积水 / 树倒 reports within a few hours."""

    day: dt.date
    name: str = "台风"
    extra_share: float = 1.6  # extra intake on the day, relative to an ordinary day
