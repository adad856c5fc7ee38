"""The exact place a complaint is about (门牌号, 小区+楼栋, 路口), finer than the locality.

Duplicates are only merged at the same place: "the lamp at 茶亭路28号" twice is one case,
"the lamps at 茶亭路28号 and 茶亭路90号" are two. A :class:`Place` is read from the address
first and from the text when the address has none of it.

Names are found by scanning back from a marker (路/街/巷…号, 小区/花园…, 栋/号楼) to a stop
character, not by a greedy regular expression, because complaint text runs place names into the
words before them ("我家在茶亭路28号").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from engine.config import SanshiConfig, UnitKind
from engine.routing.learning.text import chinese_number, simplified

_NUM = r"(\d+|[零〇一二两三四五六七八九十百]+)"
_ROAD_SUFFIX = ("大道", "大街", "路", "街", "巷", "弄", "胡同")
_ESTATE_SUFFIX = (
    "小区", "花园", "公寓", "大厦", "新村", "家园", "苑", "宿舍", "大院", "公馆", "华府",
    "广场", "商城", "市场", "村",
)
_ROAD_NUMBER = re.compile(r"(大道|大街|路|街|巷|弄|胡同)" + _NUM + r"号(?!楼)")
_ESTATE_MARK = re.compile("|".join(sorted(_ESTATE_SUFFIX, key=len, reverse=True)))
_BUILDING = re.compile(_NUM + r"(?:栋|幢|号楼|座|号院)")
_CROSSING = re.compile(r"(与|和|、|交)(.{2,8}?(?:大道|大街|路|街))(?:的)?(?:交叉口|交汇处|交界处|十字路口|路口|交口)")
# Characters that end a place name when scanning backwards from its marker.
_STOP = set("在住于的和与及近靠到从往对是有了我家门口旁边附近前后市县镇乡区、，。,.;；：:！!？? ")
_MAX_NAME = 7


class Match(IntEnum):
    DIFFERENT = -1  # both name a place and they differ: never the same issue
    UNKNOWN = 0  # one of them names no place
    AREA = 1  # same road / 小区, no door or building to compare
    EXACT = 2  # same door number, building, or crossing


@dataclass(frozen=True)
class Place:
    road: str | None = None
    number: int | None = None
    estate: str | None = None
    building: int | None = None
    crossing: str | None = None

    @property
    def key(self) -> str | None:
        """The finest key: 茶亭路#28, 幸福里小区#3, 北部湾中路|四川路; else the road or 小区."""
        if self.crossing:
            return f"x:{self.crossing}"
        if self.estate and self.building is not None:
            return f"e:{self.estate}#{self.building}"
        if self.road and self.number is not None:
            return f"r:{self.road}#{self.number}"
        return self.area

    @property
    def area(self) -> str | None:
        if self.estate:
            return f"e:{self.estate}"
        if self.road:
            return f"r:{self.road}"
        return None

    @property
    def empty(self) -> bool:
        return not (self.road or self.estate or self.crossing)

    def as_dict(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {}
        for name in ("road", "number", "estate", "building", "crossing"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def compare(a: Place, b: Place) -> Match:
    """How sure we are that two places are the same spot."""
    if a.crossing or b.crossing:
        if a.crossing and b.crossing:
            return Match.EXACT if a.crossing == b.crossing else Match.DIFFERENT
        road = a.road or b.road
        crossing = a.crossing or b.crossing or ""
        return Match.AREA if road and road in crossing.split("|") else Match.UNKNOWN
    if a.estate and b.estate:
        if a.estate != b.estate:
            return Match.DIFFERENT
        if a.building is not None and b.building is not None:
            return Match.EXACT if a.building == b.building else Match.DIFFERENT
        return Match.AREA
    if a.road and b.road:
        if a.road != b.road:
            # The same 小区 reached from two roads is still told apart by the estate above.
            return Match.UNKNOWN if (a.estate or b.estate) else Match.DIFFERENT
        if a.number is not None and b.number is not None:
            return Match.EXACT if a.number == b.number else Match.DIFFERENT
        return Match.AREA
    return Match.UNKNOWN


def _scan_back(text: str, end: int, known: list[str]) -> str:
    """The name that ends at ``end`` (exclusive): a configured area if one ends there, else the
    run of characters back to a stop character."""
    for name in known:
        if text.endswith(name, 0, end):
            return name
    start = end
    while start > 0 and end - start < _MAX_NAME and text[start - 1] not in _STOP:
        if not ("\u4e00" <= text[start - 1] <= "\u9fff"):
            break
        start -= 1
    name = text[start:end]
    # "茶亭路幸福里" is the 小区 幸福里 on 茶亭路: cut after the last road marker.
    for i in range(len(name) - 2, 0, -1):
        if name[i] in "路街巷道":
            return name[i + 1 :]
    return name


class PlaceReader:
    """Reads a :class:`Place` from an address or complaint text, with the district's own area
    names (from the config) taking precedence over guessed ones."""

    def __init__(self, config: SanshiConfig) -> None:
        admin = [config.district.name, config.district.city]
        areas: set[str] = set()
        for u in config.units:
            if u.kind in (UnitKind.STREET, UnitKind.COMMUNITY):
                admin.append(u.name)
                areas.update(re.sub(_NUM + r"-" + _NUM + "号$", "", a) for a in u.areas)
        # Longest first, so 北部湾中路 is preferred to 中路.
        self._admin = sorted({a for a in admin if a}, key=len, reverse=True)
        self._roads = sorted(
            (a for a in areas if a.endswith(_ROAD_SUFFIX)), key=len, reverse=True
        )
        # Coarse area names (高德, 外沙岛) are localities, not places; only named estates count.
        self._estates = sorted(
            (a for a in areas if a.endswith(_ESTATE_SUFFIX)), key=len, reverse=True
        )

    def _strip_admin(self, text: str) -> str:
        for name in self._admin:
            text = text.replace(name, "，")
        return text

    def read(self, address: str, text: str = "") -> Place:
        found = self._read_one(address)
        if found.key and found.key != found.area:
            return found
        from_text = self._read_one(text)
        if found.empty:
            return from_text
        # The address named the road or 小区 only: take the door or building from the text
        # when the text talks about the same road or 小区.
        if compare(found, from_text) == Match.AREA and from_text.key != from_text.area:
            return from_text
        return found

    def _read_one(self, raw: str) -> Place:
        if not raw:
            return Place()
        text = self._strip_admin(simplified(raw))
        crossing = self._crossing(text)
        road, number = self._road(text)
        estate = self._estate(text)
        building = None
        if estate is not None:
            after = text[text.find(estate) + len(estate) :][:8]
            m = _BUILDING.search(after)
            if m:
                building = chinese_number(m.group(1))
        return Place(road=road, number=number, estate=estate, building=building, crossing=crossing)

    def _road(self, text: str) -> tuple[str | None, int | None]:
        m = _ROAD_NUMBER.search(text)
        if m:
            name = _scan_back(text, m.start(1), self._roads) if not any(
                text.endswith(r, 0, m.end(1)) for r in self._roads
            ) else next(r for r in self._roads if text.endswith(r, 0, m.end(1)))
            if not name.endswith(_ROAD_SUFFIX):
                name = name + m.group(1)
            return name, chinese_number(m.group(2))
        for road in self._roads:
            if road in text:
                return road, None
        return None, None

    def _estate(self, text: str) -> str | None:
        for name in self._estates:
            if name in text:
                # A configured name followed by its marker (幸福里 + 小区) is the same estate.
                m = _ESTATE_MARK.match(text, text.find(name) + len(name))
                return name + m.group(0) if m else name
        for m in _ESTATE_MARK.finditer(text):
            name = _scan_back(text, m.start(), [])
            if len(name) >= 2 and not name.endswith(_ROAD_SUFFIX):
                return name + m.group(0)
        return None

    def _crossing(self, text: str) -> str | None:
        m = _CROSSING.search(text)
        if not m:
            return None
        first = _scan_back(text, m.start(1), self._roads)
        second = m.group(2)
        for r in self._roads:
            if second.startswith(r):
                second = r
                break
        if not first:
            return None
        return "|".join(sorted((first, second)))
