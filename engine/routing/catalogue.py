"""The catalogue centres use: the path of a case in the category tree, and the unit the dispatch
catalogue (派单目录) gives it.

**Path.** The classifier chooses the top level (one of the district's categories); within it the
level-2 item, and within that the level-3 item where there is one, are chosen here, from the
catalogue's own words: an item's keywords (its children's count for it too) and the character
pairs its name, description and keywords share with the text, weighted by how rare a pair is in
the catalogue. Each level says how sure it is (the share of its score among its siblings, after
a softmax), conditional on the level above. Where nothing of the text speaks for any item the
path stops at the level above: a guess would only look precise. It is a few dozen substring
tests and one set intersection per item, whatever the number of open cases.

**Unit.** The most specific dispatch catalogue entry on the path that has a unit at the case's
place chooses the unit: ``to`` is ``locality``, ``judicial_office``, a unit id, or a unit kind
(``community`` / ``street``: the one at the case's place; another kind: the unit of that kind
whose ``categories`` list an item of the path, the most specific first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.config import CatalogueItem, SanshiConfig, UnitKind
from engine.routing.rules import TO_JUDICIAL_OFFICE, TO_LOCALITY, Locality, judicial_office_of

# A keyword's weight is its length up to this (a longer keyword is more specific).
_KEYWORD_CAP = 4
_REPEATS = 2  # occurrences of a keyword that count
# How much the shared character pairs count against the keywords, and the softmax's sharpness:
# chosen on the train split of the real-text corpus (bench/routing/real_texts.py).
SIMILARITY_WEIGHT = 2.0
SHARPNESS = 1.0


def _pairs(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1) if not text[i : i + 2].isspace()}


@dataclass
class _Node:
    code: str
    name: str
    words: tuple[str, ...]  # its keywords and name, and its children's
    pairs: frozenset[str]
    children: list[_Node] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    norm: float = 1.0


@dataclass(frozen=True)
class PathStep:
    """One level of a case's path: the item chosen, how sure (given the level above) and why."""

    level: int
    code: str
    name: str
    confidence: float
    why: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "code": self.code,
            "name": self.name,
            "confidence": round(self.confidence, 3),
            "why": self.why,
        }


class PathReader:
    """Chooses the items below a top-level category (see the module's docstring)."""

    def __init__(self, config: SanshiConfig) -> None:
        self._config = config
        self._tops: dict[str, list[_Node]] = {
            top: [self._node(item) for item in items] for top, items in config.catalogue.items()
        }
        nodes = [n for top in self._tops.values() for n in _all(top)]
        df: dict[str, int] = {}
        for n in nodes:
            for p in n.pairs:
                df[p] = df.get(p, 0) + 1
        for n in nodes:
            n.weights = {p: math.log(1.0 + len(nodes) / df[p]) for p in n.pairs}
            n.norm = math.sqrt(sum(w * w for w in n.weights.values())) or 1.0

    def _node(self, item: CatalogueItem) -> _Node:
        children = [self._node(c) for c in item.items]
        words = [*item.keywords, item.name]
        for c in children:
            words.extend(c.words)
        words = list(dict.fromkeys(w for w in words if w))
        pairs = _pairs(item.name + " " + item.description + " " + " ".join(item.keywords))
        for c in children:
            pairs |= c.pairs
        return _Node(item.code, item.name, tuple(words), frozenset(pairs), children)

    def has_items(self, top: str) -> bool:
        return bool(self._tops.get(top))

    def read(self, text: str, top: str) -> list[PathStep]:
        """The steps below ``top`` (level 2, then level 3), as far as the text supports them."""
        steps: list[PathStep] = []
        siblings = self._tops.get(top) or []
        pairs = _pairs(text)
        level = 2
        while siblings:
            scored = [(self._score(n, text, pairs), n) for n in siblings]
            best_score, best = max(scored, key=lambda s: s[0][0])
            if best_score[0] <= 0:
                break
            top_score = best_score[0]
            exps = [math.exp(SHARPNESS * (s[0] - top_score)) for s, _ in scored]
            confidence = 1.0 / sum(exps)
            runner = sorted(scored, key=lambda s: -s[0][0])
            why: dict[str, Any] = {
                "keywords": best_score[1],
                "shared": best_score[2],
                "score": round(top_score, 3),
            }
            if len(runner) > 1 and runner[1][0][0] > 0:
                why["runner_up"] = {"code": runner[1][1].code, "score": round(runner[1][0][0], 3)}
            steps.append(PathStep(level, best.code, best.name, confidence, why))
            siblings = best.children
            level += 1
        return steps

    def best_top(self, text: str) -> tuple[str | None, float]:
        """The top level whose level-2 items the text supports most (its best item's score), or
        ``(None, 0.0)`` when no item of any top level has evidence: a second reading of the
        category, from the catalogue's own words, independent of the classifier."""
        pairs = _pairs(text)
        best: tuple[str | None, float] = (None, 0.0)
        for top, items in self._tops.items():
            for node in items:
                score = self._score(node, text, pairs)[0]
                if score > best[1]:
                    best = (top, score)
        return best

    @staticmethod
    def _score(node: _Node, text: str, pairs: set[str]) -> tuple[float, list[str], list[str]]:
        hits = [w for w in node.words if w in text]
        # A hit inside a longer hit is the same evidence once (路灯 inside 路灯不亮).
        hits = [w for w in hits if not any(w != o and w in o for o in hits)]
        # A word the text repeats is its subject more than a word said once (电梯…电梯又坏了).
        keyword = float(
            sum(min(len(w), _KEYWORD_CAP) * min(text.count(w), _REPEATS) for w in hits)
        )
        shared = [p for p in pairs if p in node.weights]
        similarity = sum(node.weights[p] for p in shared) / node.norm
        shared.sort(key=lambda p: -node.weights[p])
        return keyword + SIMILARITY_WEIGHT * similarity, hits, shared[:5]


def _all(nodes: list[_Node]) -> list[_Node]:
    out: list[_Node] = []
    for n in nodes:
        out.append(n)
        out.extend(_all(n.children))
    return out


def leaf_of(path: list[PathStep]) -> str | None:
    """The deepest catalogue item of a path, or None when it stops at the top level (the
    14 codes are categories, not catalogue items)."""
    return path[-1].code if len(path) > 1 else None


def top_step(config: SanshiConfig, category: str, confidence: float, why: dict[str, Any]) -> PathStep:
    """Level 1 of the path: the classifier's category, with its (calibrated) confidence."""
    return PathStep(1, category, config.category(category).name, confidence, why)


def unit_by_catalogue(
    config: SanshiConfig,
    path: Sequence[str],
    locality: Locality,
    exclude: frozenset[str] = frozenset(),
) -> tuple[str | None, dict[str, Any] | None]:
    """The unit of the most specific dispatch catalogue entry on ``path`` (codes, top level
    first) that has one at this place, skipping units in ``exclude``. ``(None, None)``: no entry
    on the path names a unit; ``(None, why)``: entries did, none could take the case here."""
    inactive = config.inactive_units()  # 停用 units get no new cases
    exclude = exclude | inactive
    tried: list[dict[str, Any]] = []
    for code in reversed(path):
        entry = config.dispatch_entry(code)
        if entry is None or entry.to is None:
            continue
        for unit in _candidates(config, entry.to, path, locality):
            if unit in exclude:
                tried.append({"item": code, "unit": unit, "skipped": "inactive" if unit in inactive else "returned"})
                continue
            return unit, {"rule": "catalogue", "item": code, "to": entry.to, "skipped": tried}
        tried.append({"item": code, "to": entry.to, "no_candidate": True})
    return None, ({"rule": None, "catalogue_skipped": tried} if tried else None)


def _candidates(
    config: SanshiConfig, to: str, path: Sequence[str], locality: Locality
) -> list[str]:
    if to == TO_LOCALITY:
        return [u for u in (locality.community, locality.street) if u]
    if to == TO_JUDICIAL_OFFICE:
        office = judicial_office_of(config, locality.street)
        return [office] if office else []
    if config.has_unit(to):
        return [to]
    kind = UnitKind(to)
    if kind == UnitKind.COMMUNITY:
        return [locality.community] if locality.community else []
    if kind == UnitKind.STREET:
        return [locality.street] if locality.street else []
    if kind == UnitKind.CENTRE:
        return [config.centre.id]
    of_kind = config.units_of_kind(kind)
    return [u.id for code in reversed(path) for u in of_kind if code in u.categories]
