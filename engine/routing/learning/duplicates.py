"""合并: is a new complaint the same issue, at the same place, as a case that is still open?

A merged case is never dispatched: a wrong merge means nobody handles that resident's problem.
So a merge needs all of: the same category and locality (the index is keyed by them), the
window, the same problem (similar text or sentence vectors, and no differing issue words), and
either the same caller or the same exact place. Everything else that looks alike is only
suggested to the operator (``possible_duplicates``), never merged.

Open cases are indexed by (category, locality) and inside that by place area (road, 小区,
crossing) and by caller, so a new case is compared with the few open cases at its own road or
小区 or from its own caller, not with all open cases.

Decision for one candidate (same category and locality, inside the window):

- the places differ (茶亭路28号 vs 茶亭路90号, 3栋 vs 5栋, 咸田107号 vs 咸田75号, two
  roads): never merged, not even suggested;
- a personal matter (个人事项: an application, a dispute between named people, a wage claim,
  a question; see ``SanshiConfig.is_personal``) from another caller, or from a caller not
  known: suggested, not merged — two residents' 低保 applications are two cases;
- the same problem from the same caller (the same phone, no other name): merged wherever the
  place is (the caller rang again);
- the same problem at the same exact place (door number, 小区 + building, crossing, landmark on
  the same road, lamp number; nothing the two name differs): merged — the lamp at 茶亭路28号
  reported on the hotline and in the app is one case; for an outage of a whole 小区 (停水,
  停电, 燃气) the 小区 is that place;
- the same problem where the place is not known to the needed level (only the road, 小区 or
  street, or nothing): suggested, not merged;
- otherwise similar (ratio ≥ ``possible_duplicate_similarity`` or close sentence vectors):
  suggested.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from engine.config import SanshiConfig
from engine.routing.learning.places import Match, Place, compare

Vector = npt.NDArray[np.float32]
# Never compare with more than this many open cases of one area (most recent first): keeps a
# decision fast with 100k open cases; older look-alikes are far outside any real window anyway.
SCAN_LIMIT = 120
# Sentence-vector thresholds (cosine of USE embeddings), calibrated on complaint pairs:
# paraphrases of one issue ≳ 0.75, different issues of one category at one place ≲ 0.6.
COSINE_SAME_ISSUE = 0.6
EMBED_LIMIT = 16  # open cases of the same road/小区 (not door) embedded on demand per decision
COSINE_POSSIBLE = 0.75


# The things complaints are about, beyond the config's category keywords: two reports that name
# different things (路灯 vs 井盖) are different issues even at the same door.
ISSUE_OBJECTS: tuple[str, ...] = (
    "路灯", "灯", "井盖", "窨井", "红绿灯", "信号灯", "电梯", "水管", "下水道", "化粪池", "管道",
    "垃圾", "树", "路面", "坑", "积水", "噪音", "噪声", "油烟", "广告牌", "违建", "停车", "摊",
    "狗", "漏水", "渗水", "停水", "停电", "燃气", "煤气", "围墙", "护栏", "公厕", "厕所", "屋顶",
    "外墙", "楼道", "门禁", "监控", "充电", "电动车", "施工", "工地", "鸡", "鸽", "蚊", "老鼠",
    "臭", "水压", "水质", "暖气", "供热", "网络", "信号", "公交", "站牌", "斑马线", "桥",
    "吵", "音响", "断电", "断水", "摆摊", "滴水", "排水沟", "天然气", "液化气", "漏气",
    "收费", "涨价", "保安", "楼道灯", "养老服务", "维修基金", "绿化",
    "黑灯瞎火",  # a way to say it is dark (停电), not a lamp
)
# One thing told in several words: a resident's 红绿灯 is another's 信号灯. Each word reads as
# the first word of its group, so that two reports of one thing share it.
ISSUE_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("信号灯", "红绿灯"),
    ("灯", "路灯"),
    ("燃气", "煤气", "天然气", "液化气", "漏气"),
    ("噪声", "噪音", "吵", "音响"),
    ("摊贩", "摊", "摆摊"),
    ("漏水", "渗水", "滴水"),
    ("排水", "积水", "下水道", "排水沟", "管网"),
    ("停电", "断电"),
    ("停水", "断水"),
    ("井盖", "窨井"),
)
# Problems of a whole 小区 (its water, power or gas supply): for these the 小区 is the place at
# the level the problem is about, so "幸福里小区停水了" from two callers is one outage, while
# "幸福里小区门口的路灯" from two callers may be two lamps at two gates.
ESTATE_WIDE = frozenset({"停水", "停电", "燃气", "供水", "供电", "水压"})
# Where the problem is, not what it is (a lamp on the 人行道, litter on the 道路); and who is
# expected to act, not what is wrong: 物业 is named in "物业乱收费", "物业服务太差" and
# "违建，物业管不了" alike, three problems.
NOT_AN_ISSUE = frozenset({"道路", "人行道", "马路", "物业", "黑灯瞎火"})
_CANONICAL = {w: group[0] for group in ISSUE_SYNONYMS for w in group}


class IssueReader:
    """Finds issue words with one compiled alternation (longest first), not one ``in`` per
    word: it runs for every open case filed at start-up."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        words = sorted({w for w in vocabulary if w}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(w) for w in words)) if words else None
        self._words = words

    def read(self, text: str) -> frozenset[str]:
        if self._pattern is None:
            return frozenset()
        # Overlapping words (路灯 inside 路灯杆) need a scan per start position; finditer
        # gives the longest at each non-overlapping position, which is what we keep anyway.
        found = {m.group(0) for m in self._pattern.finditer(text)}
        return frozenset(
            _CANONICAL.get(w, w) for w in _outermost(found) if w not in NOT_AN_ISSUE
        )


def issues_agree(a: frozenset[str], b: frozenset[str]) -> bool | None:
    """Do two reports name the same issue? None when one of them names none (the words cannot
    tell). Sharing one word is not enough when most words differ: 摊贩占道 (with 垃圾 scattered
    about) and 垃圾没人清运 share 垃圾 but are two problems; half the words in common are."""
    if not a or not b:
        return None
    shared = a & b
    return bool(shared) and len(shared) * 2 >= len(a | b)


def issue_words(text: str, vocabulary: Iterable[str]) -> frozenset[str]:
    """The issue words in a duplicate-check form text; a word inside a longer found one
    (灯 in 路灯) is dropped so that 路灯 and 红绿灯 do not share 灯."""
    return _outermost({w for w in vocabulary if w and w in text})


def _outermost(found: set[str]) -> frozenset[str]:
    longest = sorted(found, key=len, reverse=True)
    kept: list[str] = []
    for w in longest:
        if not any(w in k for k in kept):
            kept.append(w)
    return frozenset(kept)


class PersonalReader:
    """个人事项: is this case the caller's own business? By the category's flag, the appeal
    type (a question, 咨询) and personal words in the text (低保, 欠薪, 纠纷...). Returns the
    reasons; none: not personal."""

    def __init__(self, config: SanshiConfig) -> None:
        self._config = config
        self._categories = {c.code: config.is_personal(c.code) for c in config.categories}
        words = sorted({w for w in config.router.personal_words if w}, key=len, reverse=True)
        self._words = re.compile("|".join(re.escape(w) for w in words)) if words else None
        self._appeals = frozenset(config.router.personal_appeal_types)

    def read(self, category: str, text: str, appeal_type: str = "") -> list[str]:
        why: list[str] = []
        if self._categories.get(category, False):
            why.append(f"category:{category}")
        if appeal_type and appeal_type in self._appeals:
            why.append(f"appeal:{appeal_type}")
        if self._words is not None:
            why.extend(f"word:{w}" for w in dict.fromkeys(self._words.findall(text)))
        return why


def same_caller(phone_a: str, name_a: str, phone_b: str, name_b: str) -> bool:
    """The same phone (both known) and no two different names on it (a family's landline)."""
    if not phone_a or phone_a != phone_b:
        return False
    return not (name_a and name_b and name_a != name_b)


@dataclass
class OpenCase:
    case_id: UUID
    text: str  # duplicate-check form (text.for_compare)
    received_at: dt.datetime
    place: Place
    issues: frozenset[str]
    channel: str = ""
    vector: npt.NDArray[np.float16] | None = None
    ts: float = 0.0  # received_at as a timestamp: the window test runs for every candidate
    caller: str = ""  # keyed hash of the phone (engine.routing.callers)
    caller_name: str = ""  # keyed hash of the name
    personal: bool = False  # 个人事项: merged only into the same caller's case
    # What its sentence vector is computed from: the decision's own form of the text (the
    # router's ``sentence_of``), so a vector computed later (a case taken over from the read
    # model, or one whose decision computed none) is the vector its decision would have had.
    # Empty: ``text``.
    gist: str = ""

    def __post_init__(self) -> None:
        self.ts = self.received_at.timestamp()


@dataclass(frozen=True)
class Verdict:
    case_id: UUID
    similarity: float
    merge: bool
    why: dict[str, Any]


@dataclass
class _Bucket:
    cases: dict[UUID, OpenCase] = field(default_factory=dict)
    by_area: dict[str | None, dict[UUID, None]] = field(default_factory=dict)


def areas_of(place: Place, caller: str = "") -> list[str | None]:
    """Every area key under which a case is filed (a 小区 on a road is found by both; a case
    with a known caller also under the caller)."""
    keys: list[str | None] = []
    if caller:
        keys.append(f"c:{caller}")
    if place.estate:
        keys.append(f"e:{place.estate}")
    if place.road:
        keys.append(f"r:{place.road}")
    if place.crossing:
        keys.extend(f"r:{r}" for r in place.crossing.split("|"))
    if place.tag:
        keys.append(f"t:{place.tag}")
    if not any(k is not None and not k.startswith("c:") for k in keys):
        keys.append(None)  # no place: filed with the other cases of the locality that have none
    return list(dict.fromkeys(keys))


class DuplicateIndex:
    def __init__(
        self,
        window: dt.timedelta,
        merge_similarity: float,
        possible_similarity: float,
        max_cases: int = 100_000,
    ) -> None:
        self.window = window
        self.max_cases = max_cases
        self.evicted = 0  # open cases dropped to stay within max_cases
        self.merge_similarity = merge_similarity
        self.possible_similarity = possible_similarity
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._where: dict[UUID, tuple[str, str]] = {}
        self._unembedded: deque[UUID] = deque()  # filed without a sentence vector

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._where

    def key_of(self, case_id: UUID) -> tuple[str, str] | None:
        return self._where.get(case_id)

    # ---- maintenance ---------------------------------------------------------------------

    def add(
        self, category: str, locality: str, case: OpenCase, embed_later: bool = True
    ) -> None:
        """File an open case; without a vector it waits for the background pass
        (``without_vector``) unless not ``embed_later`` (then only a decision that compares it
        embeds it)."""
        self.remove(case.case_id)
        key = (category, locality)
        bucket = self._buckets.setdefault(key, _Bucket())
        bucket.cases[case.case_id] = case
        for area in areas_of(case.place, case.caller):
            bucket.by_area.setdefault(area, {})[case.case_id] = None
        self._where[case.case_id] = key
        if case.vector is None and embed_later:
            self._unembedded.append(case.case_id)
        # _where keeps filing order (a re-filed case moved to the end above): the first entry
        # is the open case filed longest ago.
        while len(self._where) > self.max_cases:
            self.remove(next(iter(self._where)))
            self.evicted += 1

    def move(self, case_id: UUID, category: str) -> bool:
        """File an open case under another category at the same locality (an operator's 改类
        read from the log); False when it is not filed or already there."""
        key = self._where.get(case_id)
        if key is None or key[0] == category:
            return False
        self.add(category, key[1], self._buckets[key].cases[case_id])
        return True

    def remove(self, case_id: UUID) -> None:
        key = self._where.pop(case_id, None)
        if key is None:
            return
        bucket = self._buckets[key]
        case = bucket.cases.pop(case_id)
        for area in areas_of(case.place, case.caller):
            group = bucket.by_area.get(area)
            if group is not None:
                group.pop(case_id, None)
                if not group:
                    del bucket.by_area[area]
        if not bucket.cases:
            del self._buckets[key]

    def drop_localities(self, keep: Callable[[str], bool]) -> int:
        """Forget every open case filed at a locality ``keep`` refuses (a Kafka worker gave up
        the partition that carries that place); returns how many."""
        gone = [
            cid for key in list(self._buckets) if not keep(key[1])
            for cid in self._buckets[key].cases
        ]
        for cid in gone:
            self.remove(cid)
        return len(gone)

    def get(self, case_id: UUID) -> OpenCase | None:
        key = self._where.get(case_id)
        return self._buckets[key].cases.get(case_id) if key else None

    def without_vector(self, limit: int) -> list[OpenCase]:
        """Up to ``limit`` open cases still waiting for a sentence vector (oldest filed first)."""
        out: list[OpenCase] = []
        while self._unembedded and len(out) < limit:
            case = self.get(self._unembedded.popleft())
            if case is not None and case.vector is None:
                out.append(case)
        return out

    # ---- search --------------------------------------------------------------------------

    def _candidates(self, bucket: _Bucket, place: Place, caller: str) -> Iterable[OpenCase]:
        groups = [bucket.by_area.get(f"c:{caller}")] if caller else []
        ids: Iterable[UUID] = ()
        if place.empty:
            # No place to narrow by: the most recent cases of the whole locality.
            ids = reversed(bucket.cases)
        else:
            groups.extend(bucket.by_area.get(a) for a in areas_of(place) if a is not None)
            groups.append(bucket.by_area.get(None))
        seen: set[UUID] = set()
        for group in groups:
            if not group:
                continue
            for n, cid in enumerate(reversed(group)):
                if n >= SCAN_LIMIT:
                    break
                if cid not in seen:
                    seen.add(cid)
                    yield bucket.cases[cid]
        for n, cid in enumerate(ids):
            if n >= SCAN_LIMIT:
                break
            if cid not in seen:
                yield bucket.cases[cid]

    def find(
        self,
        case_id: UUID,
        category: str,
        locality: str | None,
        text: str,
        place: Place,
        issues: frozenset[str],
        received_at: dt.datetime,
        vector: Callable[[], Vector | None] | Vector | None,
        limit: int = 5,
        embed: Callable[[list[str]], npt.NDArray[np.float32]] | None = None,
        caller: str = "",
        caller_name: str = "",
        personal: bool = False,
    ) -> list[Verdict]:
        """Verdicts on open cases that may be the same issue, best first; at most one merge
        (the first verdict) is meant to be acted on. ``caller``/``caller_name`` are
        keyed hashes of the new case's phone and name (engine.routing.callers); ``personal``: it is a personal
        matter."""
        if locality is None:
            return []  # no place, no merge: two different places are never merged
        bucket = self._buckets.get((category, locality))
        if bucket is None:
            return []
        pool: list[tuple[OpenCase, Match, bool]] = []
        now, window = received_at.timestamp(), self.window.total_seconds()
        for oc in self._candidates(bucket, place, caller):
            if abs(now - oc.ts) > window or oc.case_id == case_id:
                continue
            match = compare(place, oc.place)
            if match == Match.AREA and estate_wide(place, oc.place, issues, oc.issues):
                match = Match.EXACT
            if match != Match.DIFFERENT:
                pool.append((oc, match, same_caller(caller, caller_name, oc.caller, oc.caller_name)))
        if not pool:
            return []
        # Score the whole pool at once: rapidfuzz in C over the texts, one matrix product over
        # the sentence vectors; only the few that pass a threshold get a Python verdict.
        ratios = process.cdist([text], [oc.text for oc, _, _ in pool], scorer=fuzz.ratio)[0] / 100.0
        cosines = np.full(len(pool), np.nan, dtype=np.float32)
        if embed is not None:
            # Cosine only matters at the same road/小区 or door, or from the same caller; an
            # open case there that has no vector yet (filed moments ago, or warmed at
            # start-up) gets one now, so the verdict never depends on how far a background
            # thread has got.
            # Every one at the same door or from the same caller, whose merge can rest on the
            # cosine; of the rest of the road/小区 (never merged, only suggested) at most
            # EMBED_LIMIT. A cap on the first kind made a merge depend on how many cases
            # elsewhere on the road still lacked a vector after a take-over (bench/RESULTS.md,
            # workers killed).
            unembedded = [(oc, m, same) for oc, m, same in pool if oc.vector is None]
            missing = [oc for oc, m, same in unembedded if m == Match.EXACT or same]
            missing += [oc for oc, m, same in unembedded if m == Match.AREA and not same][
                :EMBED_LIMIT
            ]
            if missing:
                texts = [oc.gist or oc.text for oc in missing]
                for oc, v in zip(missing, embed(texts), strict=True):
                    oc.vector = v.astype(np.float16)
        rows = [i for i, (oc, _, _) in enumerate(pool) if oc.vector is not None]
        if rows and callable(vector):
            vector = vector()  # computed only now that there is something to compare with
        if rows and vector is not None and not callable(vector):
            stacked = np.stack([pool[i][0].vector for i in rows])  # type: ignore[misc]
            cosines[rows] = stacked.astype(np.float32) @ vector
        verdicts: list[Verdict] = []
        for i in np.flatnonzero(
            (ratios >= min(self.possible_similarity, self.merge_similarity))
            | (np.nan_to_num(cosines, nan=-1.0) >= COSINE_SAME_ISSUE)
        ):
            oc, match, same = pool[int(i)]
            cosine = None if np.isnan(cosines[i]) else float(cosines[i])
            verdict = self._judge(float(ratios[i]), cosine, match, issues, oc, same, personal)
            if verdict is not None:
                verdicts.append(verdict)
        # Equal similarities (the same words at several open cases) are ordered by the cases
        # themselves, newest received first, then by id: not by the order they were filed in,
        # which differs between a worker that saw them and one that loaded them from the read
        # model (the merge target and the five suggestions were then another case's).
        received = {oc.case_id: oc.ts for oc, _, _ in pool}
        verdicts.sort(
            key=lambda v: (not v.merge, -v.similarity, -received[v.case_id], v.case_id.int)
        )
        return verdicts[:limit]

    def _judge(
        self,
        ratio: float,
        cosine: float | None,
        match: Match,
        issues: frozenset[str],
        oc: OpenCase,
        same: bool = False,
        personal: bool = False,
    ) -> Verdict | None:
        shared = sorted(issues & oc.issues)
        # Both name their issue and the names differ (路灯 vs 井盖): not the same issue,
        # however alike the sentences are (long boilerplate around a short difference).
        agree = issues_agree(issues, oc.issues)
        different_issue = not shared and agree is False
        same_issue = bool(agree) or (
            agree is None and cosine is not None and cosine >= COSINE_POSSIBLE
        )
        retyped = ratio >= self.merge_similarity and not different_issue
        same_problem = retyped or (
            same_issue
            and (ratio >= self.possible_similarity or (cosine or 0.0) >= COSINE_SAME_ISSUE)
        )
        personal = personal or oc.personal
        why: dict[str, Any] = {
            "place": match.name.lower(),
            "place_key": oc.place.key,
            "text_ratio": round(ratio, 3),
            "cosine": None if cosine is None else round(cosine, 3),
            "shared_issue_words": shared,
            "channel": oc.channel,
            "same_caller": same,
            "personal": personal,
        }
        similarity = max(ratio, cosine or 0.0)
        if same_problem:
            held = merge_held(match, same, personal)
            if held is None:
                if same:
                    why["rule"] = "same_caller"  # the caller rang again about it
                elif retyped:
                    why["rule"] = "retyped"  # 重复录入: the same words again, at the same place
                else:
                    why["rule"] = "same_issue_same_place"
                return Verdict(oc.case_id, ratio if retyped and not same else similarity, True, why)
            why["rule"] = "similar"
            why["held"] = held  # why it is only suggested
            return Verdict(oc.case_id, similarity, False, why)
        if ratio >= self.possible_similarity or (
            cosine is not None and cosine >= COSINE_POSSIBLE and (match != Match.UNKNOWN or same)
        ):
            why["rule"] = "similar"
            return Verdict(oc.case_id, similarity, False, why)
        return None


def estate_wide(a: Place, b: Place, issues_a: frozenset[str], issues_b: frozenset[str]) -> bool:
    """Both tell of an outage of the whole 小区 and name that one 小区, on one road, and nothing
    finer. The road too: 小区 names repeat across a city (a 翠湖居 on 地角路 and another in
    地角), so a name without its road is not yet one 小区."""
    if not (a.estate and a.estate == b.estate) or a.doubt or b.doubt:
        return False
    if not (a.road and a.road == b.road):
        return False
    finer = ("number", "building", "unit", "room", "crossing", "landmark", "tag")
    if any(getattr(p, f) is not None for p in (a, b) for f in finer):
        return False
    return (
        bool(issues_a and issues_b)
        and issues_a <= ESTATE_WIDE
        and issues_b <= ESTATE_WIDE
        and bool(issues_agree(issues_a, issues_b))
    )


def merge_held(match: Match, same: bool, personal: bool) -> str | None:
    """Why the same problem is not merged (None: it is). A merge needs the same caller, or,
    for a matter that is not personal, the same exact place."""
    if match == Match.DIFFERENT:
        return "different_place"
    if same:
        return None
    if personal:
        return "personal"  # another caller's (or an unknown caller's) personal matter
    if match != Match.EXACT:
        return "place_uncertain"
    return None
