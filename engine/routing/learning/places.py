"""The exact place a complaint is about (门牌号, 小区+楼栋+单元+室, 路口, 地标, 编号), finer than
the locality.

Duplicates are only merged at the same place: "the lamp at 茶亭路28号" twice is one case,
"the lamps at 茶亭路28号 and 茶亭路90号" are two, and so are "咸田107号" and "咸田75号" or
"和谐新村8栋" and "沈场路231号". A :class:`Place` is read from the address and completed from
the text where the text talks about the same road or 小区.

Names are found by scanning back from a marker (路/街/巷…号, 小区/花园…, 栋/号楼) to a stop
character, not by a greedy regular expression, because complaint text runs place names into the
words before them ("我家在茶亭路28号"). Numbers are read in any spelling residents use: 3栋,
三栋, 三号楼, ３栋, 3幢; 28号, 28號, 二十八号; 3-2-502 (栋-单元-室).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Any

from engine.config import SanshiConfig, UnitKind
from engine.routing.learning.text import chinese_number, simplified

_NUM = r"(\d+|[零〇一二两三四五六七八九十百]+)"
_ROAD_SUFFIX = ("大道", "大街", "路", "街", "巷", "弄", "胡同")
_ESTATE_SUFFIX = (
    "小区", "花园", "公寓", "大厦", "新村", "家园", "苑", "宿舍", "大院", "公馆", "华府",
    "广场", "商城", "市场", "村",
)
_ESTATE_MARK = re.compile("|".join(sorted(_ESTATE_SUFFIX, key=len, reverse=True)))
# A door number: 28号, 28-1号, 二十八号; not 3号楼 (a building; but 28号楼下 is the door),
# 5号线, 3号院, 2号房/室.
_DOOR = re.compile(_NUM + r"(?:-(\d+))?号(?!楼(?![下上顶道])|线|院|房|室|床|窗)")
_BUILDING = re.compile(_NUM + r"(?:栋|幢|号楼(?![下上顶道])|座|号院)")
_UNIT = re.compile(_NUM + r"单元")
_ROOM = re.compile(r"(\d{3,4})(?:室|房|号房)")
_TRIPLE = re.compile(r"^(\d+)-(\d+)-(\d{3,4})")  # 3-2-502 right after the 小区: 栋-单元-室
_AFTER_BUILDING_ROOM = re.compile(r"^(\d{3,4})(?!\d)")  # 8栋502
_CROSSING = re.compile(r"(与|和|、|交)(.{2,8}?(?:大道|大街|路|街))(?:的)?(?:交叉口|交汇处|交界处|十字路口|路口|交口)")
_TAG = re.compile(r"编号[为是:：]?\s*([A-Za-z0-9][A-Za-z0-9-]*)")
_LANDMARKS = (
    "菜市场", "农贸市场", "菜场", "公交站", "公交车站", "车站", "地铁站", "幼儿园", "小学",
    "中学", "学校", "医院", "卫生院", "卫生服务站", "诊所", "超市", "银行", "加油站", "公园",
    "停车场", "天桥", "邮局", "派出所", "体育馆", "图书馆", "码头", "转盘", "环岛",
)
_WHERE = ("旁边", "附近", "门口", "对面", "边上", "旁", "边", "前", "后面", "后门", "门前", "一带", "那段", "这段", "路段", "里面", "内")
_LANDMARK = re.compile("|".join(sorted(_LANDMARKS, key=len, reverse=True)))
# An unconfigured street (街道) named in an address is an administrative name, not a road.
_ADMIN = re.compile(r"[\u4e00-\u9fff]{2,4}(?:街道办事处|街道办|街道|镇|乡|居委会|村委会)")
# What precedes a number that is a date or a count, not a door: 5月3号, 编号, 第3号.
_NOT_A_DOOR_NAME = ("月", "编", "第", "期", "年", "日", "天", "周", "星期", "班", "线", "层", "楼", "号")
# Characters that end a place name when scanning backwards from its marker.
_STOP = set("在住于的和与及近靠到从往对是有了我家门口旁边附近前后市县镇乡区、，。,.;；：:！!？? ")
_MAX_NAME = 7
# What callers say before a place name runs into it when no punctuation separates them
# ("住户称海珠新村小区", "昨天晚上幸福里小区门口"): a name starts after the last of these.
_LEAD = (
    "称", "反映", "发现", "开始", "晚上", "早上", "中午", "下午", "最近", "这几天", "这段时间",
    "现在", "就是", "就在", "位于",
)
_LEAD_RE = re.compile("|".join(sorted(_LEAD, key=len, reverse=True)))
# Words before 路/街 that make no road name: 过马路, 这条路, 走路, 公路, 上下班路上.
_NOT_A_ROAD_END = ("马", "条", "走", "公", "铁", "道", "过", "班", "出")
_NOT_A_ROAD_NEXT = set("上灯面过费")
# Words before 小区 that name no 小区: 这个小区, 我们小区, 老旧小区.
_NOT_AN_ESTATE_START = ("这", "那", "该", "本", "整", "各", "同", "每", "们", "老旧", "隔壁", "附近", "周边", "旁边", "对面")


class Match(IntEnum):
    DIFFERENT = -1  # both name a place and they differ somewhere: never the same issue
    UNKNOWN = 0  # nothing to compare: one of them names no place, or other kinds of place
    AREA = 1  # same road / 小区, no door, building, crossing, landmark or tag to compare
    EXACT = 2  # same door number, building, crossing, landmark or tag, and nothing differs


@dataclass(frozen=True)
class Place:
    road: str | None = None
    number: str | None = None  # door number on the road: "28", "28-1"
    estate: str | None = None
    building: int | None = None
    crossing: str | None = None
    unit: int | None = None  # 单元
    room: int | None = None  # 室
    landmark: str | None = None  # 菜市场, 中山公园
    tag: str | None = None  # 编号 of a lamp, a pole, a manhole
    # The address names another spot than the text (another door, 小区 or road): the case
    # may be about either, so it is never the same exact place as another case.
    doubt: bool = False

    @property
    def key(self) -> str | None:
        """The finest key: 茶亭路#28, 幸福里小区#3, 北部湾中路|四川路; else the road or 小区."""
        if self.crossing:
            return f"x:{self.crossing}"
        if self.estate and self.building is not None:
            return f"e:{self.estate}#{self.building}"
        if self.road and self.number is not None:
            return f"r:{self.road}#{self.number}"
        if self.tag:
            return f"t:{self.tag}"
        if self.area and self.landmark:
            return f"{self.area}@{self.landmark}"
        return self.area

    @property
    def area(self) -> str | None:
        if self.estate:
            return f"e:{self.estate}"
        if self.road:
            return f"r:{self.road}"
        return None

    @property
    def spot(self) -> bool:
        """Names something finer than a road: a door, a 小区 (and building), a crossing, a
        landmark or a lamp number."""
        return bool(
            self.number is not None
            or self.estate
            or self.building is not None
            or self.crossing
            or self.landmark
            or self.tag
        )

    @property
    def empty(self) -> bool:
        return not (self.road or self.estate or self.crossing or self.tag)

    def as_dict(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value is not False:
                out[f.name] = value
        return out


def _named(landmark: str) -> bool:
    word = _LANDMARK.search(landmark)
    return word is not None and word.start() >= 2


def _same_landmark(a: str, b: str) -> bool:
    # 老邮局 and 邮局 are one landmark told shorter; 菜市场 and 公交站 are two.
    return a == b or a.endswith(b) or b.endswith(a)


def compare(a: Place, b: Place) -> Match:
    """How sure we are that two places are the same spot: DIFFERENT as soon as anything both
    name differs (road, door, 小区, building, 单元, 室, crossing, landmark, tag); EXACT when
    they share a spot finer than a road or 小区 and nothing differs."""
    fine = False
    area = False
    if a.tag and b.tag:
        if a.tag != b.tag:
            return Match.DIFFERENT
        fine = True
    if a.crossing and b.crossing:
        if a.crossing != b.crossing:
            return Match.DIFFERENT
        fine = True
    elif a.crossing or b.crossing:
        road = a.road or b.road
        crossing = a.crossing or b.crossing or ""
        if road and road in crossing.split("|"):
            area = True
        elif road:
            return Match.DIFFERENT  # a crossing of other roads
    estates = bool(a.estate and b.estate)
    if estates:
        if a.estate != b.estate:
            return Match.DIFFERENT
        area = True
    if a.road and b.road:
        if a.road != b.road:
            # Two roads: two places, even with one 小区 name (names repeat across a city).
            return Match.DIFFERENT
        else:
            area = True
            if a.number is not None and b.number is not None:
                if a.number != b.number:
                    return Match.DIFFERENT
                fine = True
    elif (a.road and b.estate and not a.estate) or (b.road and a.estate and not b.estate):
        # One names a road only, the other a 小区 only: not comparable.
        pass
    for name in ("building", "unit", "room"):
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and y is not None:
            if x != y:
                return Match.DIFFERENT
            if name == "building" and (estates or (area and a.road and b.road)):
                fine = True
    if a.landmark and b.landmark:
        if not _same_landmark(a.landmark, b.landmark):
            return Match.DIFFERENT
        if area and _named(a.landmark) and _named(b.landmark):
            # The same named landmark (中山公园, 北海二中) on the same road or at the same 小区;
            # a road has several 公交站, 菜市场 and 加油站, so those only tell places apart.
            fine = True
    if fine and not (a.doubt or b.doubt):
        return Match.EXACT
    return Match.AREA if area or fine else Match.UNKNOWN


def _scan_back(text: str, end: int, known: list[str]) -> str:
    """The name that ends at ``end`` (exclusive): a configured area if one ends there, else the
    run of characters back to a stop character."""
    for name in known:
        if text.endswith(name, 0, end):
            return name
    start = end
    while start > 0 and end - start < _MAX_NAME:
        ch = text[start - 1]
        if not ("\u4e00" <= ch <= "\u9fff"):
            break
        # 和 ends a name ("茶亭路和珠海路") unless the name would be one character (和谐新村).
        if ch in _STOP and not (ch == "和" and end - start == 1):
            break
        start -= 1
    name = text[start:end]
    leads = [m.end() for m in _LEAD_RE.finditer(name)]
    if leads and leads[-1] < len(name):
        name = name[leads[-1] :]
    # "茶亭路幸福里" is the 小区 幸福里 on 茶亭路: cut after the last road marker.
    for i in range(len(name) - 2, -1, -1):  # 口 stops the scan: 港口路滨海 → 路滨海
        if name[i] in "路街巷道":
            return name[i + 1 :]
    return name


def _complete(found: Place, said: Place) -> Place:
    merged = {f.name: getattr(found, f.name) for f in fields(found)}
    for name, value in merged.items():
        if value is None:
            merged[name] = getattr(said, name)
    return replace(found, **merged)


def _conflict(found: Place, said: Place) -> bool:
    """The address and the text name two spots of one kind: two roads, two doors on a road,
    two 小区, two crossings, two lamp numbers."""
    pairs = (
        (found.road, said.road),
        (found.estate, said.estate),
        (found.crossing, said.crossing),
        (found.tag, said.tag),
    )
    if any(a is not None and b is not None and a != b for a, b in pairs):
        return True
    return (
        found.road == said.road
        and found.number is not None
        and said.number is not None
        and found.number != said.number
    )


def _normal(raw: str) -> str:
    text = simplified(raw)
    # Dashes in every width and shape read as one: 3－2－502, 28—1号.
    return re.sub(r"[‐‑‒–—―−－~～]", "-", text)


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
        # Every configured name a door number may follow (驿马96号, 咸田107号): the name is
        # the configured one, not the words run into it ("昨天晚上驿马96号").
        self._named = sorted(areas, key=len, reverse=True)
        # Coarse area names (高德, 外沙岛) are localities, not places; only named estates count.
        self._estates = sorted(
            (a for a in areas if a.endswith(_ESTATE_SUFFIX)), key=len, reverse=True
        )

    def _strip_admin(self, text: str) -> str:
        for name in self._admin:
            text = text.replace(name, "，")
        return _ADMIN.sub("，", text)

    def read(self, address: str, text: str = "") -> Place:
        """The place a case is about. When the text names a spot of its own (a door, a 小区
        or building, a crossing, a landmark, a lamp number), that spot is the place: the
        address field often holds the caller's or the operator's door ("广东路146号") while
        the text says "南珠广场小区物业…" or "湛江路和驿马路交叉口的井盖…". The address then
        only adds the road, and the building of the same 小区; it completes the text with its
        door number only when the text names no more than the road."""
        found = self._read_one(address, is_address=True)
        said = self._read_one(text)
        if said.empty and not said.landmark:
            return found
        if found.empty and not found.landmark:
            return said
        if not said.spot:
            if compare(found, said) == Match.DIFFERENT:
                # The text names another road in passing (where the caller lives, a road
                # passed on the way): the address is what the case is about.
                return found
            # The text names the road only: the address's door or 小区 completes it.
            return _complete(found, said)
        extra: dict[str, Any] = {}
        if said.road is None and said.crossing is None and found.road is not None:
            extra["road"] = found.road
        if said.estate is not None and said.estate == found.estate:
            for name in ("building", "unit", "room"):
                if getattr(said, name) is None and getattr(found, name) is not None:
                    extra[name] = getattr(found, name)
        place = replace(said, **extra) if extra else said
        if _conflict(found, said):
            # The address names another spot of the same kind (another door on the road,
            # another 小区, another road): which one the case is about is uncertain.
            place = replace(place, doubt=True)
        return place

    def _read_one(self, raw: str, is_address: bool = False) -> Place:
        if not raw:
            return Place()
        text = self._strip_admin(_normal(raw))
        crossing = self._crossing(text)
        road, number, estate_doors = self._doors(text)
        if road is None and crossing is None:  # a crossing's roads are in the crossing
            road = self._road_name(text, is_address)
        estate = self._estate(text)
        building = unit = room = None
        after = ""
        if estate is not None:
            after = text[text.find(estate) + len(estate) :]
            after = after[2:] if after.startswith("小区") else after
            triple = _TRIPLE.match(after)
            if triple:
                building, unit, room = (int(g) for g in triple.groups())
            else:
                m = _BUILDING.search(after[:8])
                if m:
                    building = chinese_number(m.group(1))
                    r = _AFTER_BUILDING_ROOM.match(after[m.end() :])
                    if r:
                        room = int(r.group(1))
                elif estate in estate_doors:
                    building = estate_doors[estate]  # 和谐新村8号: the 小区's 8号 (楼)
        if building is None:
            m = _BUILDING.search(text)
            if m:
                building = chinese_number(m.group(1))
        if unit is None:
            m = _UNIT.search(text)
            if m:
                unit = chinese_number(m.group(1))
        if room is None:
            m = _ROOM.search(text)
            if m:
                room = int(m.group(1))
        tag_match = _TAG.search(text)
        return Place(
            road=road,
            number=number,
            estate=estate,
            building=building,
            crossing=crossing,
            unit=unit,
            room=room,
            landmark=self._landmark(text),
            tag=tag_match.group(1).upper() if tag_match else None,
        )

    def _doors(self, text: str) -> tuple[str | None, str | None, dict[str, int]]:
        """The first road (or village, 咸田107号) with a door number, and the door numbers
        that follow a 小区's name (和谐新村8号)."""
        road: str | None = None
        number: str | None = None
        estate_doors: dict[str, int] = {}
        for m in _DOOR.finditer(text):
            known = next((r for r in self._named if text.endswith(r, 0, m.start())), None)
            name = known or _scan_back(text, m.start(), [])
            if len(name) < 2 or name.endswith(_NOT_A_DOOR_NAME):
                continue
            value = chinese_number(m.group(1))
            if value is None:
                continue
            village = name.endswith("村") and not name.endswith("新村")
            if name.endswith(_ESTATE_SUFFIX) and not village:
                estate_doors.setdefault(name, value)
                continue
            if road is None:
                road = name
                number = str(value) + (f"-{int(m.group(2))}" if m.group(2) else "")
        return road, number, estate_doors

    def _road_name(self, text: str, is_address: bool) -> str | None:
        for road in self._roads:
            if road in text:
                return road
        if not is_address:
            return None
        # An address names its road even when the district did not configure it (马场湖路).
        for m in re.finditer("|".join(_ROAD_SUFFIX), text):
            name = _scan_back(text, m.start(), [])
            following = text[m.end() : m.end() + 1]
            if len(name) >= 2 and not name.endswith(_NOT_A_ROAD_END) and following not in _NOT_A_ROAD_NEXT:
                return name + m.group(0)
        return None

    def _estate(self, text: str) -> str | None:
        for name in self._estates:
            if name in text:
                # A configured name followed by its marker (幸福里 + 小区) is the same estate.
                m = _ESTATE_MARK.match(text, text.find(name) + len(name))
                return name + m.group(0) if m else name
        for m in _ESTATE_MARK.finditer(text):
            name = _scan_back(text, m.start(), [])
            if any((name + m.group(0)).endswith(w) for w in _LANDMARKS):
                continue  # 农贸市场, 驿马菜市场: a landmark, not a 小区
            # "驿马东方丽景小区" is 东方丽景小区 in 驿马: the locality is not part of the name.
            prefix = next((a for a in self._named if name.startswith(a)), "")
            if prefix and len(name) - len(prefix) >= 2:
                name = name[len(prefix) :]
            if (
                len(name) >= 2
                and not name.endswith(_ROAD_SUFFIX)
                and not name.startswith(_NOT_AN_ESTATE_START)
            ):
                # 和谐家园小区 is read as 和谐家园 (the first marker ends the name), so the
                # two spellings are one 小区.
                return name + m.group(0)
        return None

    def _landmark(self, text: str) -> str | None:
        # Only a landmark that says where (菜市场旁边, 中山公园门口), not one that is part of
        # the story (在医院看病, 孩子上小学).
        for m in _LANDMARK.finditer(text):
            if not text.startswith(_WHERE, m.end()):
                continue
            prefix = _scan_back(text, m.start(), [])[-4:]
            if prefix.endswith(_ROAD_SUFFIX) or any(prefix.endswith(a) for a in self._named):
                # 茶亭路菜市场: the road is read on its own; 高德停车场 is a 停车场 somewhere
                # in 高德, not a name (高德 has several), as 中山公园 or 北海二中 are.
                prefix = ""
            return prefix + m.group(0)
        # A 小区's 门口 is not a spot of its own: a 小区 has several gates, and "the lamp at
        # the gate" from two callers may be two lamps.
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
