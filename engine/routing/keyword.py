"""A router that reads only the config: category keywords, locality by address, rules.

It is the fallback when no trained model is wanted (tests, a district on its first day). It
shares the port and the rules (:mod:`engine.routing.rules`) with the learning router, and its
merge rules (:mod:`engine.routing.learning.duplicates`): duplicates are the same category and
locality, open, within the window, with text similarity (rapidfuzz) above the configured
threshold, and merged only for the same caller, or the same exact place for a matter that is
not personal. The rest is suggested to the operator.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from rapidfuzz import fuzz, process

from engine.config import SanshiConfig, UnitKind
from engine.routing.callers import CallerKeys
from engine.routing.catalogue import PathReader, leaf_of, top_step, unit_by_catalogue
from engine.routing.learning.duplicates import (
    ISSUE_OBJECTS,
    IssueReader,
    PersonalReader,
    estate_wide,
    issues_agree,
    merge_held,
    same_caller,
)
from engine.routing.learning.places import Match, Place, PlaceReader, compare
from engine.routing.learning.text import simplified
from engine.routing.port import CaseFacts, CategoryGuess, DuplicateCandidate, RoutingDecision
from engine.routing.rules import (
    Locality,
    Locator,
    led_by_channel,
    unit_by_channel_rules,
    unit_by_rules,
)

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _norm(text: str) -> str:
    return _PUNCT.sub("", text)


@dataclass
class _OpenCase:
    case_id: UUID
    text: str
    received_at: dt.datetime
    place: Place = field(default_factory=Place)
    caller: str = ""
    caller_name: str = ""
    personal: bool = False
    issues: frozenset[str] = frozenset()


class KeywordRouter:
    def __init__(self, config: SanshiConfig) -> None:
        self.config = config
        self.locator = Locator(config)
        self.places = PlaceReader(config)
        self.personal = PersonalReader(config)
        self.callers = CallerKeys.default()  # keyed like the open-cases view's (key_callers)
        self.issues = IssueReader(
            [*ISSUE_OBJECTS, *(k for c in config.categories for k in c.keywords)]
        )
        self.paths = PathReader(config)
        self._open: dict[tuple[str, str | None], dict[UUID, _OpenCase]] = {}
        self._where: dict[UUID, tuple[str, str | None]] = {}
        # The same buckets as id -> normalised text, the form rapidfuzz scores in one call.
        self._texts: dict[tuple[str, str | None], dict[UUID, str]] = {}
        # Hint (code or Chinese name) → code, and (code, keywords) in config order: made once
        # (the config is frozen) instead of once per text, which showed in the worker's profile
        # (bench/RESULTS.md, "Routing: figures behind the router's design").
        categories = config.categories
        self._hints = {c.name: c.code for c in categories} | {c.code: c.code for c in categories}
        self._keywords = [(c.code, list(c.keywords)) for c in categories if c.keywords]

    # ---- category ------------------------------------------------------------------------

    def classify(self, text: str, hint: str) -> CategoryGuess:
        hint_code = self._hints.get(hint, "") if hint else ""
        scores: dict[str, int] = {}
        matched: dict[str, list[str]] = {}
        for code, words in self._keywords:
            hits = [k for k in words if k in text]
            if hits:
                scores[code] = len(hits)
                matched[code] = hits
        if hint_code:
            return CategoryGuess(hint_code, 1.0, {"hint": hint, "keywords": matched})
        if not scores:
            return CategoryGuess("other", 0.0, {"keywords": {}})
        best = max(scores, key=lambda k: scores[k])
        total = sum(scores.values())
        return CategoryGuess(best, scores[best] / total, {"keywords": matched})

    def is_urgent(self, facts: CaseFacts) -> tuple[bool, list[str]]:
        words = [w for w in self.config.router.urgent_words if w in facts.content]
        return facts.urgent or facts.concern == "anguish" or bool(words), words

    # ---- decisions -----------------------------------------------------------------------

    def prepare(self, batch: Sequence[CaseFacts]) -> None:
        """Nothing to share across a batch: every reader here is per text and cheap."""

    def decide(self, facts: CaseFacts) -> RoutingDecision:
        guess = self.classify(facts.content, facts.category_hint)
        urgent, urgent_words = self.is_urgent(facts)
        loc = self.locator.locate(facts.address, facts.content, facts.point)
        path = [
            top_step(self.config, guess.category, guess.confidence, {"by": "keywords"}),
            *self.paths.read(facts.content, guess.category),
        ]
        reason: dict[str, Any] = {
            "router": "keyword",
            "category": guess.why,
            "confidence": guess.confidence,
            "path": [step.as_dict() for step in path],
            "locality": {"matched": loc.matched, "community": loc.community, "street": loc.street},
            "urgent_words": urgent_words,
        }
        dupes = self.find_duplicates(facts, guess.category, loc)
        reason["duplicates"] = [
            {"case_id": str(d.case_id), "similarity": round(d.similarity, 3), **d.why}
            for d in dupes
        ]
        merge = next(
            (
                d
                for d in dupes
                if d.similarity >= self.config.router.merge_similarity and d.why.get("merge")
            ),
            None,
        )
        possible = tuple(d for d in dupes if d is not merge)
        unit: str | None = None
        manual: str | None = None
        why: dict[str, Any] = {}
        returned = frozenset(facts.returned_by)
        sure = guess.confidence >= self.config.router.confidence_threshold
        if not sure:
            manual = f"分类置信度{guess.confidence:.2f}低于阈值，转人工"
        else:
            # The most specific dispatch catalogue entry on the path (派单目录), then the rules.
            unit, by_item = unit_by_catalogue(self.config, [s.code for s in path], loc, returned)
            if unit is not None and by_item is not None:
                why = by_item
            else:
                unit, why = unit_by_rules(self.config, guess.category, facts.content, loc, returned)
                if by_item is not None:
                    why["catalogue_skipped"] = by_item["catalogue_skipped"]
        # 渠道规则: the district's standing decision for the channel leads, the unit above kept
        # beside it; one naming no category whatever the confidence (engine.routing.rules).
        lead, lead_why = unit_by_channel_rules(
            self.config, facts.channel, guess.category, facts.content, loc, returned, sure
        )
        unit, why = led_by_channel(lead, lead_why, unit, why)
        if why:
            reason["unit"] = why
        if unit is not None:
            manual = None
        elif sure:
            manual = "未找到承办单位，转人工"
        return RoutingDecision(
            category=guess.category,
            confidence=guess.confidence,
            urgent=urgent,
            locality=loc.unit,
            street=loc.street,
            unit=unit,
            manual_reason=manual,
            merge_into=merge,
            possible_duplicates=possible,
            reason=reason,
            leaf=leaf_of(path),
        )

    def next_unit(self, facts: CaseFacts) -> tuple[str | None, dict[str, Any]]:
        exclude = frozenset(facts.returned_by)
        # 小事不出格、大事不出区: a returning community or office hands up to its street.
        if facts.last_unit and self.config.has_unit(facts.last_unit):
            parent = self.config.unit(facts.last_unit).parent
            if parent and parent not in exclude:
                return parent, {"escalated_from": facts.last_unit, "to": parent}
        loc = Locality(None, facts.street, None)
        if (
            facts.locality
            and self.config.has_unit(facts.locality)
            and self.config.unit(facts.locality).kind == UnitKind.COMMUNITY
        ):
            loc = Locality(facts.locality, facts.street, None)
        category = facts.category or self.classify(facts.content, facts.category_hint).category
        unit, why = unit_by_rules(self.config, category, facts.content, loc, exclude)
        return unit, why

    # ---- duplicates ----------------------------------------------------------------------

    def find_duplicates(
        self, facts: CaseFacts, category: str, loc: Locality
    ) -> list[DuplicateCandidate]:
        if loc.unit is None:
            return []  # no place, no merge: two different places are never merged
        bucket = self._open.get((category, loc.unit))
        if not bucket:
            return []
        window = dt.timedelta(days=self.config.router.duplicate_window_days)
        threshold = self.config.router.possible_duplicate_similarity
        text = _norm(facts.content)
        place = self._place(facts)
        caller, name = self.callers.phone(facts.caller_phone), self.callers.name(facts.caller_name)
        personal = self._personal(facts, category)
        issues = self.issues.read(text)
        # Scored in rapidfuzz's C++ loop (a bucket holds thousands of open cases on a peak
        # day); hits come back best first, ties in bucket order, as the Python loop gave them.
        hits = process.extract(
            text,
            self._texts[(category, loc.unit)],
            scorer=fuzz.ratio,
            score_cutoff=threshold * 100 - 1e-6,
            limit=None,
        )
        out: list[DuplicateCandidate] = []
        for _, ratio, cid in hits:
            oc = bucket[cid]
            score = ratio / 100.0
            if (
                score < threshold
                or oc.case_id == facts.case_id
                or abs(facts.received_at - oc.received_at) > window
            ):
                continue
            match = compare(place, oc.place)
            if match == Match.DIFFERENT:
                continue  # two places: never the same case, not even suggested
            if match == Match.AREA and estate_wide(place, oc.place, issues, oc.issues):
                match = Match.EXACT  # an outage of the whole 小区: the 小区 is the place
            same = same_caller(caller, name, oc.caller, oc.caller_name)
            held = merge_held(match, same, personal or oc.personal)
            if held is None and issues_agree(issues, oc.issues) is False:
                held = "different_issue"  # 停水 and 停电 at one door: two problems
            why: dict[str, Any] = {
                "method": "fuzz.ratio",
                "place": match.name.lower(),
                "place_key": oc.place.key,
                "same_caller": same,
                "merge": held is None,
            }
            if held is not None:
                why["held"] = held
            out.append(DuplicateCandidate(oc.case_id, score, why))
            if len(out) == 5:
                break
        return out

    def key_callers(self, key: bytes) -> None:
        self.callers = CallerKeys(key)

    def case_opened(self, facts: CaseFacts, category: str, locality: str | None) -> None:
        if locality is None:
            return
        key = (category, locality)
        self.case_closed(facts.case_id)
        text = _norm(facts.content)
        self._open.setdefault(key, {})[facts.case_id] = _OpenCase(
            facts.case_id,
            text,
            facts.received_at,
            self._place(facts),
            self.callers.phone(facts.caller_phone),
            self.callers.name(facts.caller_name),
            self._personal(facts, category),
            self.issues.read(text),
        )
        self._texts.setdefault(key, {})[facts.case_id] = text
        self._where[facts.case_id] = key
        # Bounded like the learning router's index: the open case filed longest ago goes first.
        while len(self._where) > self.config.router.duplicate_index_size:
            self.case_closed(next(iter(self._where)))

    def _place(self, facts: CaseFacts) -> Place:
        return self.places.read(simplified(facts.address), simplified(facts.content))

    def _personal(self, facts: CaseFacts, category: str) -> bool:
        return bool(self.personal.read(category, simplified(facts.content), facts.appeal_type))

    def case_closed(self, case_id: UUID) -> None:
        key = self._where.pop(case_id, None)
        if key is not None:
            self._open.get(key, {}).pop(case_id, None)
            self._texts.get(key, {}).pop(case_id, None)

    def learn(self, text: str, category: str) -> None:
        return None
