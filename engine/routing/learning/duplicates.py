"""合并: is a new complaint the same issue, at the same place, as a case that is still open?

Open cases are indexed by (category, locality) — a duplicate is never looked for in another
community or another category — and inside that by place area (road, 小区, crossing), so a new
case is compared with the few open cases at its own road or 小区, not with all open cases.

Decision for one candidate (same category and locality, inside the window):

- the places differ (茶亭路28号 vs 茶亭路90号, 3栋 vs 5栋): never merged, not even flagged;
- re-typed text (rapidfuzz ratio ≥ ``merge_similarity``): merged;
- the same exact place (door number, building, crossing) and the same issue (a shared issue
  word such as 路灯, or sentence vectors that agree): merged — the lamp at 茶亭路28号 reported
  on the hotline and in the app is one case;
- otherwise similar (ratio ≥ ``possible_duplicate_similarity`` or close sentence vectors):
  flagged as a possible duplicate for the operator, not merged.
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

from engine.routing.learning.places import Match, Place, compare

Vector = npt.NDArray[np.float32]
# Never compare with more than this many open cases of one area (most recent first): keeps a
# decision fast with 100k open cases; older look-alikes are far outside any real window anyway.
SCAN_LIMIT = 120
# Sentence-vector thresholds (cosine of USE embeddings), calibrated on complaint pairs:
# paraphrases of one issue ≳ 0.75, different issues of one category at one place ≲ 0.6.
COSINE_SAME_ISSUE = 0.6
EMBED_LIMIT = 16  # open cases embedded on demand during one decision, at most
COSINE_POSSIBLE = 0.75


# The things complaints are about, beyond the config's category keywords: two reports that name
# different things (路灯 vs 井盖) are different issues even at the same door.
ISSUE_OBJECTS: tuple[str, ...] = (
    "路灯", "灯", "井盖", "窨井", "红绿灯", "信号灯", "电梯", "水管", "下水道", "化粪池", "管道",
    "垃圾", "树", "路面", "坑", "积水", "噪音", "噪声", "油烟", "广告牌", "违建", "停车", "摊",
    "狗", "漏水", "渗水", "停水", "停电", "燃气", "煤气", "围墙", "护栏", "公厕", "厕所", "屋顶",
    "外墙", "楼道", "门禁", "监控", "充电", "电动车", "施工", "工地", "鸡", "鸽", "蚊", "老鼠",
    "臭", "水压", "水质", "暖气", "供热", "网络", "信号", "公交", "站牌", "斑马线", "桥",
)


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
        return _outermost(found)


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


def areas_of(place: Place) -> list[str | None]:
    """Every area key under which a place is filed (a 小区 on a road is found by both)."""
    keys: list[str | None] = []
    if place.estate:
        keys.append(f"e:{place.estate}")
    if place.road:
        keys.append(f"r:{place.road}")
    if place.crossing:
        keys.extend(f"r:{r}" for r in place.crossing.split("|"))
    return list(dict.fromkeys(keys)) or [None]


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

    def add(self, category: str, locality: str, case: OpenCase) -> None:
        self.remove(case.case_id)
        key = (category, locality)
        bucket = self._buckets.setdefault(key, _Bucket())
        bucket.cases[case.case_id] = case
        for area in areas_of(case.place):
            bucket.by_area.setdefault(area, {})[case.case_id] = None
        self._where[case.case_id] = key
        if case.vector is None:
            self._unembedded.append(case.case_id)
        # _where keeps filing order (a re-filed case moved to the end above): the first entry
        # is the open case filed longest ago.
        while len(self._where) > self.max_cases:
            self.remove(next(iter(self._where)))
            self.evicted += 1

    def remove(self, case_id: UUID) -> None:
        key = self._where.pop(case_id, None)
        if key is None:
            return
        bucket = self._buckets[key]
        case = bucket.cases.pop(case_id)
        for area in areas_of(case.place):
            group = bucket.by_area.get(area)
            if group is not None:
                group.pop(case_id, None)
                if not group:
                    del bucket.by_area[area]
        if not bucket.cases:
            del self._buckets[key]

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

    def _candidates(self, bucket: _Bucket, place: Place) -> Iterable[OpenCase]:
        groups = [bucket.by_area.get(a) for a in areas_of(place)]
        if place.empty:
            # No place to narrow by: the most recent cases of the whole locality.
            ids: Iterable[UUID] = reversed(bucket.cases)
            groups = []
        else:
            groups.append(bucket.by_area.get(None))
            ids = ()
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
    ) -> list[Verdict]:
        """Verdicts on open cases that may be the same issue, best first; at most one merge
        (the first verdict) is meant to be acted on."""
        if locality is None:
            return []  # no place, no merge: two different places are never merged
        bucket = self._buckets.get((category, locality))
        if bucket is None:
            return []
        pool: list[tuple[OpenCase, Match]] = []
        now, window = received_at.timestamp(), self.window.total_seconds()
        for oc in self._candidates(bucket, place):
            if abs(now - oc.ts) > window or oc.case_id == case_id:
                continue
            match = compare(place, oc.place)
            if match != Match.DIFFERENT:
                pool.append((oc, match))
        if not pool:
            return []
        # Score the whole pool at once: rapidfuzz in C over the texts, one matrix product over
        # the sentence vectors; only the few that pass a threshold get a Python verdict.
        ratios = process.cdist([text], [oc.text for oc, _ in pool], scorer=fuzz.ratio)[0] / 100.0
        cosines = np.full(len(pool), np.nan, dtype=np.float32)
        if embed is not None:
            # Cosine only matters at the same road/小区 or door; an open case there that has
            # no vector yet (filed moments ago, or warmed at start-up) gets one now, so the
            # verdict never depends on how far a background thread has got.
            missing = [oc for oc, m in pool if oc.vector is None and m >= Match.AREA][:EMBED_LIMIT]
            if missing:
                for oc, v in zip(missing, embed([oc.text for oc in missing]), strict=True):
                    oc.vector = v.astype(np.float16)
        rows = [i for i, (oc, _) in enumerate(pool) if oc.vector is not None]
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
            oc, match = pool[int(i)]
            cosine = None if np.isnan(cosines[i]) else float(cosines[i])
            verdict = self._judge(float(ratios[i]), cosine, match, issues, oc)
            if verdict is not None:
                verdicts.append(verdict)
        verdicts.sort(key=lambda v: (not v.merge, -v.similarity))
        return verdicts[:limit]

    def _judge(
        self,
        ratio: float,
        cosine: float | None,
        match: Match,
        issues: frozenset[str],
        oc: OpenCase,
    ) -> Verdict | None:
        shared = sorted(issues & oc.issues)
        same_issue = bool(shared) or (cosine is not None and cosine >= COSINE_POSSIBLE)
        # Both name their issue and the names differ (路灯 vs 井盖): not the same issue,
        # however alike the sentences are (long boilerplate around a short difference).
        different_issue = not shared and bool(issues) and bool(oc.issues)
        if different_issue:
            same_issue = False
        why: dict[str, Any] = {
            "place": match.name.lower(),
            "place_key": oc.place.key,
            "text_ratio": round(ratio, 3),
            "cosine": None if cosine is None else round(cosine, 3),
            "shared_issue_words": shared,
            "channel": oc.channel,
        }
        similarity = max(ratio, cosine or 0.0)
        if ratio >= self.merge_similarity and not different_issue:
            why["rule"] = "retyped"  # 重复录入: the same words again
            return Verdict(oc.case_id, ratio, True, why)
        if (
            match == Match.EXACT
            and same_issue
            and (ratio >= self.possible_similarity or (cosine or 0.0) >= COSINE_SAME_ISSUE)
        ):
            why["rule"] = "same_issue_same_place"
            return Verdict(oc.case_id, similarity, True, why)
        if ratio >= self.possible_similarity or (
            cosine is not None and cosine >= COSINE_POSSIBLE and match != Match.UNKNOWN
        ):
            why["rule"] = "similar"
            return Verdict(oc.case_id, similarity, False, why)
        return None
