"""Routing rules: the config-driven parts every router shares.

属地 (locality) is read from the address by the areas each community and street lists. The
district's routing rules are data in the config (``routing:``), applied in order: a rule names a
category, optional keywords (the rule applies only when one is in the text), and where the case
goes, ``to``: ``locality`` (the community, else the street, where it happened),
``judicial_office`` (the 司法所 of that street) or a unit id. No rule: a department that lists
the category.

A rule that names ``channels`` (渠道规则) applies only to cases from those channels, whatever
their category when it names none, and comes first (:func:`unit_by_channel_rules`): before the
place lessons and the dispatch catalogue (a court referral goes to the judicial office of its
street even where the neighbours' leaks usually go to the community; an enterprise's request to
the business-environment office). Its unit leads (牵头); the unit the category would give is
kept beside it for the lead to call in (:func:`led_by_channel`). One that names no category
applies however unsure the router is of the category, and to a 咨询.
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


def _walk(
    config: SanshiConfig,
    category: str,
    text: str,
    locality: Locality,
    exclude: frozenset[str],
    channel: str,
    sure: bool = True,
) -> tuple[str | None, dict[str, Any], list[dict[str, Any]]]:
    """The first rule that applies and yields a unit not in ``exclude`` (nor 停用), with why and
    the candidates skipped on the way. ``channel`` "": the rules that name no channel; else
    only the rules naming ``channel`` (and, unless ``sure``, only those naming no category)."""
    inactive = config.inactive_units()  # 停用 units get no new cases
    exclude = exclude | inactive
    tried: list[dict[str, Any]] = []
    for index, rule in enumerate(config.routing):
        if bool(rule.channels) != bool(channel) or (rule.category and not sure):
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
                why["unit"] = unit
            return unit, why, tried
        tried.append({"rule": index, "to": rule.to, "no_candidate": True})
    return None, {"rule": None, "skipped": tried}, tried


def unit_by_channel_rules(
    config: SanshiConfig,
    channel: str,
    category: str,
    text: str,
    locality: Locality,
    exclude: frozenset[str] = frozenset(),
    sure: bool = True,
) -> tuple[str | None, dict[str, Any] | None]:
    """渠道规则: the rules that name the case's channel, in order, before anything else decides
    (the district's standing decision for the channel: the lead unit, 牵头单位).

    ``sure`` False (the router would not dispatch on its reading: too unsure of the category,
    or a 咨询): only the rules that name no category, which need no reading. ``(None, None)``
    when no rule applies; ``(None, why)`` when one applied but its unit returned the case, is
    停用, or the place gives none (the case is then routed as any other)."""
    if not channel or not any(channel in r.channels for r in config.routing):
        return None, None
    unit, why, tried = _walk(config, category, text, locality, exclude, channel, sure)
    if unit is None and not tried:
        return None, None
    return unit, why


def led_by_channel(
    lead: str | None,
    lead_why: dict[str, Any] | None,
    unit: str | None,
    why: dict[str, Any],
) -> tuple[str | None, dict[str, Any]]:
    """The unit a channel rule chose (``lead``, from :func:`unit_by_channel_rules`) over the one
    the category gives (``unit``, ``why``), which is kept as ``departments`` (the units the lead
    calls in, 协办) and ``by_category``; when the channel rule applied but gave no unit, the
    category's unit, with the skip recorded as ``channel_skipped``."""
    if lead_why is None:
        return unit, why
    if lead is None:
        return unit, {**why, "channel_skipped": lead_why}
    departments = [unit] if unit is not None and unit != lead else []
    return lead, {**lead_why, "departments": departments, "by_category": why}


def unit_by_rules(
    config: SanshiConfig,
    category: str,
    text: str,
    locality: Locality,
    exclude: frozenset[str] = frozenset(),
) -> tuple[str | None, dict[str, Any]]:
    """Apply the routing rules that name no channel in order (those that do come first, in
    :func:`unit_by_channel_rules`); skip units in ``exclude``."""
    unit, why, tried = _walk(config, category, text, locality, exclude, "")
    if unit is not None:
        return unit, why
    # No rule: a department that lists the category.
    inactive = config.inactive_units()
    for u in config.units:
        if category in u.categories and u.id not in exclude and u.id not in inactive:
            return u.id, {"rule": None, "by_unit_categories": True, "skipped": tried}
    return None, why
