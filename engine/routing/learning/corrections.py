"""Place lessons (属地经验): what the centre's corrections teach the router about who handles a
category at a place.

A unit that returns a case (退单) says "not ours" about that place and category, and may say
whose it is (建议承办单位); the unit the centre finally dispatches to by hand (人工派单 / 转派)
says whose it was. Each is a :class:`engine.routing.port.Lesson` kept per place — the place key
of the router's place parser (:mod:`engine.routing.learning.places`: road+number,
estate+building, a crossing; ``l:<locality>`` when the complaint names none) — and consulted
before the routing rules: "this road's lamps belong to the street lighting office, not the
community".

Where a lesson applies: at its own place always. A lesson naming a department or enterprise
(职能部门 / 公共服务企业) also applies along the whole road or estate around it (their remit
follows the object, the road's lamps, not the door); one naming a 属地 unit (community, street,
judicial office) stays at its door, because the next door on the same road may well lie in the
next community. The finer place is consulted first; a later lesson replaces an earlier one of
the same place and category (a unit chosen again after it was returned is preferred again).

Re-categorisations (``kind == "category"``) are not kept here: they teach the classifier
(``LearningRouter.learn``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from engine.config import SanshiConfig
from engine.routing.learning.places import Place, PlaceReader
from engine.routing.learning.text import simplified
from engine.routing.port import Lesson
from engine.vocabulary import UnitKind

PLACE_KINDS = frozenset({"unit", "not_unit"})
# Units whose lessons hold for the whole road / estate (see the module's docstring).
AREA_WIDE = frozenset({UnitKind.DEPARTMENT, UnitKind.ENTERPRISE})


def place_keys(
    places: PlaceReader, address: str, content: str, locality: str | None
) -> tuple[str | None, str | None]:
    """The place key a lesson is kept under, and the road or estate around it (None when it is
    the same): what the router reads from a complaint, so that the lessons view and a decision
    agree on the key."""
    return keys_of(places.read(simplified(address), simplified(content)), locality)


def keys_of(place: Place, locality: str | None) -> tuple[str | None, str | None]:
    """:func:`place_keys` of a place already read."""
    key = place.key or (f"l:{locality}" if locality else None)
    area = place.area if place.area and place.area != key else None
    return key, area


@dataclass(frozen=True)
class Advice:
    """What the place lessons say for one case: the unit to send it to (None: the rules
    decide), the units to avoid, and every lesson that applied (for the decision's reason)."""

    unit: str | None
    avoid: frozenset[str]
    applied: list[dict[str, Any]]


@dataclass
class _AtPlace:
    prefer: tuple[Lesson, str] | None = None  # (lesson, key it was filed under)
    avoid: dict[str, tuple[Lesson, str]] = field(default_factory=dict)


class PlaceLessons:
    """The router's memory of place lessons: (place key, category) → the unit to prefer and the
    units to avoid."""

    def __init__(self, config: SanshiConfig) -> None:
        self.config = config
        self._at: dict[tuple[str, str], _AtPlace] = {}
        self._lock = threading.Lock()
        self.count = 0

    def _area_wide(self, unit: str) -> bool:
        return self.config.has_unit(unit) and self.config.unit(unit).kind in AREA_WIDE

    def add(self, lesson: Lesson) -> bool:
        """File a lesson (in log order); False if it is not a place lesson."""
        if lesson.kind not in PLACE_KINDS or not lesson.unit or not lesson.place:
            return False
        keys = [lesson.place]
        if lesson.area and lesson.area != lesson.place and self._area_wide(lesson.unit):
            keys.append(lesson.area)
        with self._lock:
            for key in keys:
                at = self._at.setdefault((key, lesson.category), _AtPlace())
                if lesson.kind == "unit":
                    at.prefer = (lesson, key)
                    at.avoid.pop(lesson.unit, None)
                else:
                    at.avoid[lesson.unit] = (lesson, key)
                    if at.prefer is not None and at.prefer[0].unit == lesson.unit:
                        at.prefer = None
            self.count += 1
        return True

    def advise(
        self,
        place: str | None,
        area: str | None,
        category: str,
        exclude: frozenset[str] = frozenset(),
    ) -> Advice:
        """The place first, then the road or estate around it. ``exclude``: units that returned
        this very case (never dispatched to again)."""
        applied: list[dict[str, Any]] = []
        avoid: set[str] = set()
        centre = self.config.centre.id
        with self._lock:
            for level, key in (("place", place), ("area", area)):
                if not key or (level == "area" and key == place):
                    continue
                at = self._at.get((key, category))
                if at is None:
                    continue
                for avoided, (lesson, filed) in at.avoid.items():
                    if avoided not in avoid:
                        avoid.add(avoided)
                        applied.append(_describe(lesson, level, filed, "avoid"))
                if at.prefer is None:
                    continue
                lesson, filed = at.prefer
                unit = lesson.unit
                if (
                    unit
                    and unit not in exclude
                    and unit not in avoid
                    and unit != centre
                    and self.config.has_unit(unit)
                ):
                    applied.append(_describe(lesson, level, filed, "prefer"))
                    return Advice(unit, frozenset(avoid), applied)
        return Advice(None, frozenset(avoid), applied)


def _describe(lesson: Lesson, level: str, key: str, effect: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "effect": effect,  # prefer: sent there · avoid: not sent there
        "level": level,  # place: the same door/building · area: the same road/estate
        "place": key,
        "category": lesson.category,
        "unit": lesson.unit,
        "source": lesson.source,
        "position": lesson.position,
    }
    if lesson.case_id:
        out["case_id"] = lesson.case_id
    if lesson.note:
        out["note"] = lesson.note
    return out
