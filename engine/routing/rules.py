"""Routing rules: the config-driven parts every router shares.

属地 (locality) is read from the address by the areas each community and street lists. The
district's routing rules are data in the config (``routing:``), applied in order: a rule names a
category, optional keywords (the rule applies only when one is in the text), and where the case
goes, ``to``: ``locality`` (the community, else the street, where it happened),
``judicial_office`` (the 司法所 of that street) or a unit id. No rule: a department that lists
the category.

A rule that names ``channels`` applies only to cases from those channels, whatever their
category when it names none, and comes first (:func:`unit_by_channel_rules`): before the place
lessons and the dispatch catalogue (a court referral goes to the judicial office of its street
even where the neighbours' leaks usually go to the community).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.config import SanshiConfig, UnitKind
from engine.places import GeoPoint, PlaceFinder

# The two place-bound targets of a rule's ``to``; anything else is a unit id.
TO_LOCALITY = "locality"
TO_JUDICIAL_OFFICE = "judicial_office"
BY_PLACE = frozenset({TO_LOCALITY, TO_JUDICIAL_OFFICE})


@dataclass(frozen=True)
class Locality:
    community: str | None
    street: str | None
    matched: str | None

    @property
    def unit(self) -> str | None:
        return self.community or self.street


_RANGED_AREA = re.compile(r"^(?P<road>.+?)(?P<low>\d+)-(?P<high>\d+)号$")


class Locator:
    """属地: the community or street whose configured areas appear in the address or text.

    The address is read before the complaint text because residents mention other places in
    passing; the text only refines an address that named the street alone. Within one source
    the longest area name wins (``北部湾中路`` before ``北部湾``) and a community beats a street,
    so "中街街道茶亭路28号" is the 茶亭路 community, not just its street.

    An area may be a door-number range, ``茶亭路1-99号``, for a road shared by two communities:
    it matches only when the number after the road is in the range.
    """

    def __init__(self, config: SanshiConfig) -> None:
        self._config = config
        self._finder: PlaceFinder | None = None  # built on the first point (engine.places)
        # (area, unit, rank): on equal length a community beats its street.
        pairs: list[tuple[str, str, int]] = []
        self._ranged: list[tuple[str, int, int, str, int]] = []
        for u in config.units:
            if u.kind not in (UnitKind.COMMUNITY, UnitKind.STREET):
                continue
            rank = 0 if u.kind == UnitKind.COMMUNITY else 1
            for a in [*u.areas, u.name]:
                m = _RANGED_AREA.match(a)
                if m:
                    road = m.group("road")
                    self._ranged.append(
                        (road, int(m.group("low")), int(m.group("high")), u.id, rank)
                    )
                else:
                    pairs.append((a, u.id, rank))
        self._areas = [(a, uid) for a, uid, _ in sorted(pairs, key=lambda p: (-len(p[0]), p[2]))]
        self._ranged.sort(key=lambda r: (-len(r[0]), r[4]))
        # One alternation, longest name first, so a source is scanned once, not once per area;
        # an area listed by a community and its street belongs to the community (sorted first).
        self._unit_of: dict[str, str] = {}
        for area, unit_id in self._areas:
            self._unit_of.setdefault(area, unit_id)
        names = sorted(self._unit_of, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(a) for a in names)) if names else None

    def locate(self, address: str, text: str = "", point: GeoPoint | None = None) -> Locality:
        found = self._located(address, text)
        if found is None and point is not None:
            # No known place in the words: the coordinates the channel sent, on the config's
            # area polygons (engine.places), if the district drew any.
            found = self._by_point(point)
        return found or Locality(None, None, None)

    def _by_point(self, point: GeoPoint) -> Locality | None:
        if self._finder is None:
            if self._config.places is None:
                return None
            self._finder = PlaceFinder.from_config(self._config)
        hit = self._finder.locate(point) if self._finder is not None else None
        if hit is None:
            return None
        return Locality(hit.community, hit.street, f"坐标 {point.lat:.5f},{point.lng:.5f}")

    def _located(self, address: str, text: str) -> Locality | None:
        found = self._in(address) if address else None
        if found is not None and found.community is None and text:
            # The address named the street only: the text may name one of its communities.
            refined = self._in(text)
            if refined is not None and refined.community and refined.street == found.street:
                return refined
        if found is None and text:
            found = self._in(text)
        return found

    def _in(self, source: str) -> Locality | None:
        hits: list[tuple[int, int, str, str]] = []  # (-length, position, area, unit)
        for road, low, high, unit_id, _ in self._ranged:
            for m in re.finditer(re.escape(road) + r"(\d+)号", source):
                if low <= int(m.group(1)) <= high:
                    # A door-number match is more specific than any bare name.
                    hits.append((-(len(m.group(0)) + 100), m.start(), m.group(0), unit_id))
        seen: set[str] = set()
        for m in self._pattern.finditer(source) if self._pattern else ():
            area = m.group(0)
            if area not in seen:
                seen.add(area)
                hits.append((-len(area), m.start(), area, self._unit_of[area]))
        if not hits:
            return None
        hits.sort()
        streets = {h[3] for h in hits if self._config.unit(h[3]).kind == UnitKind.STREET}
        communities = [h for h in hits if self._config.unit(h[3]).kind == UnitKind.COMMUNITY]
        if communities:
            # A community inside a street the source also names beats one that is not.
            def consistent(h: tuple[int, int, str, str]) -> int:
                street = self._config.street_of(h[3])
                return 0 if not streets or (street and street.id in streets) else 1

            best = min(communities, key=lambda h: (consistent(h), h[0], h[1]))
            street = self._config.street_of(best[3])
            return Locality(best[3], street.id if street else None, best[2])
        best = hits[0]
        return Locality(None, best[3], best[2])


def judicial_office_of(config: SanshiConfig, street: str | None) -> str | None:
    if street is None:
        return None
    for u in config.children(street):
        if u.kind == UnitKind.JUDICIAL_OFFICE:
            return u.id
    return None


def _applies(rule_channels: list[str], rule_category: str, channel: str, category: str) -> bool:
    if rule_channels and channel not in rule_channels:
        return False
    return rule_category == category or (not rule_category and bool(rule_channels))


def unit_by_channel_rules(
    config: SanshiConfig,
    channel: str,
    category: str,
    text: str,
    locality: Locality,
    exclude: frozenset[str] = frozenset(),
) -> tuple[str | None, dict[str, Any] | None]:
    """The rules that name the case's channel, in order, before anything else decides;
    ``(None, None)`` when none names it."""
    if not channel or not any(channel in r.channels for r in config.routing):
        return None, None
    return unit_by_rules(config, category, text, locality, exclude, channel, channel_rules_only=True)


def unit_by_rules(
    config: SanshiConfig,
    category: str,
    text: str,
    locality: Locality,
    exclude: frozenset[str] = frozenset(),
    channel: str = "",
    channel_rules_only: bool = False,
) -> tuple[str | None, dict[str, Any]]:
    """Apply the routing rules of the config in order; skip units in ``exclude``. A rule that
    names channels applies only to a case from one of them (``channel``)."""
    inactive = config.inactive_units()  # 停用 units get no new cases
    exclude = exclude | inactive
    tried: list[dict[str, Any]] = []
    for index, rule in enumerate(config.routing):
        if channel_rules_only and not rule.channels:
            continue
        if not _applies(rule.channels, rule.category, channel, category):
            continue
        hit = [k for k in rule.keywords if k in text]
        if rule.keywords and not hit:
            continue
        if rule.to == TO_LOCALITY:
            candidates = [u for u in (locality.community, locality.street) if u]
        elif rule.to == TO_JUDICIAL_OFFICE:
            office = judicial_office_of(config, locality.street)
            candidates = [office] if office else []
        else:
            candidates = [rule.to]
        for unit in candidates:
            if unit in exclude:
                tried.append({"unit": unit, "skipped": "inactive" if unit in inactive else "returned"})
                continue
            why: dict[str, Any] = {"rule": index, "to": rule.to, "keywords": hit, "skipped": tried}
            if rule.channels:
                why["channel"] = channel
            return unit, why
        tried.append({"rule": index, "to": rule.to, "no_candidate": True})
    if channel_rules_only:
        return None, {"rule": None, "skipped": tried}
    # No rule: a department that lists the category.
    for u in config.units:
        if category in u.categories and u.id not in exclude:
            return u.id, {"rule": None, "by_unit_categories": True, "skipped": tried}
    return None, {"rule": None, "skipped": tried}


def unit_by_channel(
    config: SanshiConfig, channel: str, exclude: frozenset[str] = frozenset()
) -> tuple[str | None, dict[str, Any]]:
    """渠道牵头单位 (``channel_routing``): the lead unit for every case of ``channel``, before
    the catalogue and the rules; None when the district names none, or it returned the case
    or is 停用 (then the case is routed as any other)."""
    for index, rule in enumerate(config.channel_routing):
        if rule.channel != channel:
            continue
        if rule.to in exclude or rule.to in config.inactive_units():
            skipped = "returned" if rule.to in exclude else "inactive"
            return None, {"channel_rule": index, "unit": rule.to, "skipped": skipped}
        return rule.to, {"rule": "channel", "channel_rule": index, "channel": channel, "to": rule.to}
    return None, {}


def lead_by_channel(
    config: SanshiConfig,
    channel: str,
    unit: str | None,
    why: dict[str, Any],
    exclude: frozenset[str] = frozenset(),
) -> tuple[str | None, dict[str, Any]]:
    """The unit a router chose (``unit``, ``why``), unless the channel has a lead unit: then
    the lead, with the unit the category would have given kept as ``departments`` (the units
    the lead calls in, 协办), so ``sanshi explain`` shows both."""
    lead, lead_why = unit_by_channel(config, channel, exclude)
    if lead is None:
        if lead_why:
            why = {**why, "channel_skipped": lead_why}
        return unit, why
    departments = [unit] if unit is not None and unit != lead else []
    return lead, {**lead_why, "departments": departments, "by_category": why}
