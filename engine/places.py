"""属地 by coordinates: the district's area polygons (GeoJSON) and the point-in-polygon lookup.

The district config names a GeoJSON FeatureCollection (``places: {geojson: file}``, relative to
the config file, or inline): one feature per community (社区) or street (街道), its
``properties.unit`` the unit's id. A street without a feature of its own is the union of its
communities. The router reads the place from the address first (``engine.routing.rules``); only
when the address and text name no known place does a case's coordinates choose it, through
:meth:`PlaceFinder.locate`.

Coordinates come in the formats residents' apps and GeoReport clients send: numbers, ``"lat,
lng"`` or ``"lng,lat"`` strings (高德 writes longitude first; in China the two ranges do not
overlap, so the order is read from the values), degrees-minutes-seconds (``21°28'48"N``) and
GeoJSON points. Chinese maps use GCJ-02 (国测局坐标), Baidu BD-09, GPS and Open311 WGS-84: a
point is converted to the polygons' datum (``places.datum``, GCJ-02 by default) before the test.

Geometry is shapely's (GEOS): a maintained library, exact on boundaries (``covers``: a point on
the line between two communities belongs to the first that lists it, never to none).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.prepared import prep

from engine.vocabulary import UnitKind

if TYPE_CHECKING:
    from engine.config import SanshiConfig


class Datum(StrEnum):
    WGS84 = "wgs84"  # GPS, Open311 (GeoReport v2 says WGS-84)
    GCJ02 = "gcj02"  # 国测局坐标: 高德, 腾讯, 微信
    BD09 = "bd09"  # 百度


class PlacesSettings(BaseModel):
    """``places:`` in the district config (docs/configuration.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A path (relative to the config file) or the FeatureCollection itself.
    geojson: str | dict[str, Any]
    # The polygons' datum. A case's coordinates are in the datum its record names
    # (``coord_system`` / ``coordsys``), else WGS-84 for Open311 (its standard says so), else
    # GCJ-02 (what 高德, 腾讯 and 微信 give the residents' app): :func:`point_of`.
    datum: Datum = Datum.GCJ02


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lng: float
    datum: Datum = Datum.GCJ02


class CoordinateError(ValueError):
    pass


# ---- reading coordinates ------------------------------------------------------------------------

_DMS = re.compile(
    r"(?P<pre>[NSEW北南东西]|北纬|南纬|东经|西经)?\s*"
    r"(?P<deg>\d+(?:\.\d+)?)\s*[°度]\s*"
    r"(?:(?P<min>\d+(?:\.\d+)?)\s*['′分]\s*)?"
    r"(?:(?P<sec>\d+(?:\.\d+)?)\s*(?:\"|″|''|秒)\s*)?"
    r"(?P<post>[NSEW])?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_LAT_WORDS = {"N": 1, "S": -1, "北": 1, "南": -1, "北纬": 1, "南纬": -1}
_LNG_WORDS = {"E": 1, "W": -1, "东": 1, "西": -1, "东经": 1, "西经": -1}


def _dms(text: str) -> tuple[float, float] | None:
    values: dict[str, float] = {}
    for m in _DMS.finditer(text):
        word = (m.group("pre") or m.group("post") or "").upper()
        value = float(m.group("deg")) + float(m.group("min") or 0) / 60 + float(m.group("sec") or 0) / 3600
        if word in _LAT_WORDS:
            values["lat"] = value * _LAT_WORDS[word]
        elif word in _LNG_WORDS:
            values["lng"] = value * _LNG_WORDS[word]
    if "lat" in values and "lng" in values:
        return values["lat"], values["lng"]
    return None


def _ordered(a: float, b: float) -> tuple[float, float]:
    """(lat, lng) from two numbers in either order: a value beyond ±90 is a longitude, and in
    China (lat 3–54, lng 73–136) the ranges never overlap."""
    if abs(a) > 90 >= abs(b):
        return b, a
    if 73 <= a <= 136 and 3 <= b <= 54:
        return b, a
    return a, b


def _check(lat: float, lng: float) -> tuple[float, float]:
    if not (math.isfinite(lat) and math.isfinite(lng)) or abs(lat) > 90 or abs(lng) > 180:
        raise CoordinateError("坐标超出范围")
    return lat, lng


def parse_point(value: Any, datum: Datum = Datum.GCJ02) -> GeoPoint:
    """A point from a ``(lat, lng)`` pair, a GeoJSON point, or a string: ``"21.48,109.12"``,
    ``"109.12，21.48"``, ``21°28'48"N 109°07'12"E``, ``北纬21°28′48″ 东经109°7′12″``."""
    if isinstance(value, Mapping):
        if value.get("type") == "Point":
            coords = value.get("coordinates")
            if isinstance(coords, list | tuple) and len(coords) >= 2:
                lng, lat = float(coords[0]), float(coords[1])  # GeoJSON: longitude first
                return GeoPoint(*_check(lat, lng), datum)
        raise CoordinateError("不是 GeoJSON 点")
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            a, b = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            raise CoordinateError("坐标应为数字") from None
        return GeoPoint(*_check(*_ordered(a, b)), datum)
    if isinstance(value, str):
        text = value.strip()
        found = _dms(text) if re.search(r"[°度]", text) else None
        if found is not None:
            return GeoPoint(*_check(*found), datum)
        numbers = _NUMBER.findall(text.replace("，", ","))
        if len(numbers) == 2:
            return GeoPoint(*_check(*_ordered(float(numbers[0]), float(numbers[1]))), datum)
    raise CoordinateError(f"无法识别的坐标：{str(value)[:60]}")


def point_of(extra: Mapping[str, Any], channel: str) -> GeoPoint | None:
    """The coordinates a case's channel extras carry (``lat``/``lng``, Open311's ``lat``/
    ``long``, a ``location`` string or GeoJSON point), in the datum they were sent in; None
    when there are none or they do not read."""
    nested = extra.get("open311")
    sources: list[Mapping[str, Any]] = [extra]
    if isinstance(nested, Mapping):
        sources.append(nested)
    named = str(extra.get("coord_system") or extra.get("coordsys") or "").lower()
    datum = _datum_named(named)
    if datum is None:
        datum = Datum.WGS84 if channel == "open311" else Datum.GCJ02
    for src in sources:
        lat = src.get("lat")
        lng = src.get("lng", src.get("long", src.get("lon")))
        try:
            if lat not in (None, "") and lng not in (None, ""):
                return parse_point((lat, lng), datum)
            if src.get("location") not in (None, ""):
                return parse_point(src["location"], datum)
        except (CoordinateError, TypeError, ValueError):
            return None
    return None


def _datum_named(name: str) -> Datum | None:
    aliases = {"wgs84": Datum.WGS84, "gps": Datum.WGS84, "wgs-84": Datum.WGS84,
               "gcj02": Datum.GCJ02, "gcj-02": Datum.GCJ02, "autonavi": Datum.GCJ02, "amap": Datum.GCJ02,
               "bd09": Datum.BD09, "bd-09": Datum.BD09, "baidu": Datum.BD09, "bd09ll": Datum.BD09}
    return aliases.get(name)


# ---- datums (the published GCJ-02 / BD-09 transforms) --------------------------------------------

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _outside_china(lat: float, lng: float) -> bool:
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _t_lat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _t_lng(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if _outside_china(lat, lng):
        return lat, lng
    d_lat = _t_lat(lng - 105.0, lat - 35.0)
    d_lng = _t_lng(lng - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """The inverse by iteration (the forward transform is smooth: three steps reach < 1 cm)."""
    w_lat, w_lng = lat, lng
    for _ in range(4):
        g_lat, g_lng = wgs84_to_gcj02(w_lat, w_lng)
        w_lat, w_lng = w_lat - (g_lat - lat), w_lng - (g_lng - lng)
    return w_lat, w_lng


def bd09_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.sin(theta), z * math.cos(theta)


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def to_datum(point: GeoPoint, datum: Datum) -> GeoPoint:
    if point.datum == datum:
        return point
    lat, lng = point.lat, point.lng
    if point.datum == Datum.WGS84:
        lat, lng = wgs84_to_gcj02(lat, lng)
    elif point.datum == Datum.BD09:
        lat, lng = bd09_to_gcj02(lat, lng)
    # now GCJ-02
    if datum == Datum.WGS84:
        lat, lng = gcj02_to_wgs84(lat, lng)
    elif datum == Datum.BD09:
        lat, lng = gcj02_to_bd09(lat, lng)
    return GeoPoint(lat, lng, datum)


# ---- the polygons --------------------------------------------------------------------------------


class PlacesError(ValueError):
    """A GeoJSON the district config cannot use (reported like every config problem)."""


@dataclass(frozen=True)
class Area:
    unit: str
    kind: UnitKind
    street: str | None
    geometry: BaseGeometry


@dataclass(frozen=True)
class Found:
    community: str | None
    street: str | None


def read_geojson(source: str | Mapping[str, Any], base: Path | None) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise PlacesError(f"places.geojson: 无法读取 {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PlacesError(f"places.geojson: {path} 不是 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PlacesError("places.geojson: 应为 FeatureCollection")
    return data


class PlaceFinder:
    """Point → (community, street) over the configured polygons."""

    def __init__(self, config: SanshiConfig, geojson: Mapping[str, Any], datum: Datum) -> None:
        self.datum = datum
        if geojson.get("type") != "FeatureCollection" or not isinstance(geojson.get("features"), list):
            raise PlacesError("places.geojson: 应为 FeatureCollection")
        shapes: dict[str, BaseGeometry] = {}
        for i, feature in enumerate(geojson["features"]):
            props = feature.get("properties") or {} if isinstance(feature, Mapping) else {}
            unit = str(props.get("unit") or "")
            if not config.has_unit(unit):
                raise PlacesError(f"places.geojson: features[{i}]: unit {unit!r} 不是配置中的单位")
            kind = config.unit(unit).kind
            if kind not in (UnitKind.COMMUNITY, UnitKind.STREET):
                raise PlacesError(f"places.geojson: features[{i}]: {unit} 不是社区或街道")
            try:
                geometry = shape(feature["geometry"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise PlacesError(f"places.geojson: features[{i}] ({unit}): 几何无效: {exc}") from None
            if geometry.geom_type not in ("Polygon", "MultiPolygon") or not geometry.is_valid:
                raise PlacesError(f"places.geojson: features[{i}] ({unit}): 须为有效的 Polygon/MultiPolygon")
            shapes[unit] = unary_union([shapes[unit], geometry]) if unit in shapes else geometry
        # A street without its own feature: the union of its communities.
        for street in config.units_of_kind(UnitKind.STREET):
            if street.id not in shapes:
                parts = [shapes[c.id] for c in config.children(street.id) if c.id in shapes]
                if parts:
                    shapes[street.id] = unary_union(parts)
        self.areas: list[Area] = []
        for unit_id, geometry in shapes.items():
            kind = config.unit(unit_id).kind
            parent = config.street_of(unit_id)
            street_id = unit_id if kind == UnitKind.STREET else (parent.id if parent else None)
            self.areas.append(Area(unit_id, kind, street_id, geometry))
        # Communities first (the finer answer), in the file's order.
        self.areas.sort(key=lambda a: 0 if a.kind == UnitKind.COMMUNITY else 1)
        self._prepared = [(a, prep(a.geometry)) for a in self.areas]

    @classmethod
    def from_config(cls, config: SanshiConfig) -> PlaceFinder | None:
        settings = config.places
        if settings is None:
            return None
        return cls(config, read_geojson(settings.geojson, config.source_dir), settings.datum)

    def locate(self, point: GeoPoint) -> Found | None:
        p = to_datum(point, self.datum)
        shapely_point = Point(p.lng, p.lat)  # GeoJSON order: x = longitude
        for area, prepared in self._prepared:
            if prepared.covers(shapely_point):
                if area.kind == UnitKind.COMMUNITY:
                    return Found(area.unit, area.street)
                return Found(None, area.unit)
        return None

    def feature_collection(self) -> dict[str, Any]:
        """The polygons as GeoJSON (for the web UI's maps), communities and streets."""
        from shapely.geometry import mapping

        return {
            "type": "FeatureCollection",
            "datum": self.datum.value,
            "features": [
                {
                    "type": "Feature",
                    "properties": {"unit": a.unit, "kind": a.kind.value, "street": a.street},
                    "geometry": mapping(a.geometry),
                }
                for a in self.areas
            ],
        }
