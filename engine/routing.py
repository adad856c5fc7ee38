"""Routing port: what the application service asks of a router, and the config-driven parts
every router shares (locality by address, unit by rule, escalation ladder).

The classifier and duplicate index behind :class:`Router` are replaceable; the decision it
returns always says why (matched rule/keywords, scores, candidates), because the application
records it as an event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from engine.config import SanshiConfig, UnitKind


@dataclass(frozen=True)
class CaseFacts:
    """What a router may read about a case."""

    case_id: UUID
    channel: str
    content: str
    address: str
    category_hint: str
    urgent: bool
    concern: str
    received_at: dt.datetime
    returned_by: tuple[str, ...] = ()
    last_unit: str | None = None
    category: str | None = None  # already decided (re-routing after a return)
    locality: str | None = None
    street: str | None = None


@dataclass(frozen=True)
class CategoryGuess:
    category: str
    confidence: float
    why: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DuplicateCandidate:
    case_id: UUID
    similarity: float
    why: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingDecision:
    category: str
    confidence: float
    urgent: bool
    locality: str | None
    street: str | None
    unit: str | None  # None: the centre's manual queue
    manual_reason: str | None
    merge_into: DuplicateCandidate | None
    possible_duplicates: tuple[DuplicateCandidate, ...]
    reason: dict[str, Any]


class Router(Protocol):
    def decide(self, facts: CaseFacts) -> RoutingDecision: ...

    def next_unit(self, facts: CaseFacts) -> tuple[str | None, dict[str, Any]]:
        """After a return: the next unit (never one that returned it), or None → manual."""
        ...

    def case_opened(self, facts: CaseFacts, category: str, locality: str | None) -> None:
        """A case is open at a place: index it for duplicate detection."""
        ...

    def case_closed(self, case_id: UUID) -> None: ...

    def learn(self, text: str, category: str) -> None:
        """An operator's re-categorisation: a labelled example."""
        ...


@dataclass(frozen=True)
class Locality:
    community: str | None
    street: str | None
    matched: str | None

    @property
    def unit(self) -> str | None:
        return self.community or self.street


class Locator:
    """属地: the community or street whose configured areas appear in the address or text.

    Longest area name wins (``北部湾中路`` before ``北部湾``); the address is read before the
    complaint text because residents mention other places in passing.
    """

    def __init__(self, config: SanshiConfig) -> None:
        self._config = config
        # (area, unit, rank): on equal length a community beats its street.
        pairs: list[tuple[str, str, int]] = []
        for u in config.units:
            if u.kind == UnitKind.COMMUNITY:
                pairs.extend((a, u.id, 0) for a in [*u.areas, u.name])
            elif u.kind == UnitKind.STREET:
                pairs.extend((a, u.id, 1) for a in [*u.areas, u.name])
        self._areas = [(a, uid) for a, uid, _ in sorted(pairs, key=lambda p: (-len(p[0]), p[2]))]

    def locate(self, address: str, text: str = "") -> Locality:
        for source in (address, text):
            if not source:
                continue
            for area, unit_id in self._areas:
                if area in source:
                    unit = self._config.unit(unit_id)
                    if unit.kind == UnitKind.COMMUNITY:
                        street = self._config.street_of(unit_id)
                        return Locality(unit_id, street.id if street else None, area)
                    return Locality(None, unit_id, area)
        return Locality(None, None, None)


def judicial_office_of(config: SanshiConfig, street: str | None) -> str | None:
    if street is None:
        return None
    for u in config.children(street):
        if u.kind == UnitKind.JUDICIAL_OFFICE:
            return u.id
    return None


def unit_by_rules(
    config: SanshiConfig,
    category: str,
    text: str,
    locality: Locality,
    exclude: frozenset[str] = frozenset(),
) -> tuple[str | None, dict[str, Any]]:
    """Apply the routing rules of the config in order; skip units in ``exclude``."""
    tried: list[dict[str, Any]] = []
    for index, rule in enumerate(config.routing):
        if rule.category != category:
            continue
        hit = [k for k in rule.keywords if k in text]
        if rule.keywords and not hit:
            continue
        if rule.to == "locality":
            candidates = [u for u in (locality.community, locality.street) if u]
        elif rule.to == "judicial_office":
            office = judicial_office_of(config, locality.street)
            candidates = [office] if office else []
        else:
            candidates = [rule.to]
        for unit in candidates:
            if unit in exclude:
                tried.append({"unit": unit, "skipped": "returned"})
                continue
            return unit, {"rule": index, "to": rule.to, "keywords": hit, "skipped": tried}
        tried.append({"rule": index, "to": rule.to, "no_candidate": True})
    # No rule: a department that lists the category.
    for u in config.units:
        if category in u.categories and u.id not in exclude:
            return u.id, {"rule": None, "by_unit_categories": True, "skipped": tried}
    return None, {"rule": None, "skipped": tried}
