"""Routing port: what the application service asks of a router, the facts it hands over, the
decision it records, and the optional abilities the bootstrap wires when a router has them.

The classifier and duplicate index behind :class:`Router` are replaceable; the decision it
returns always says why (matched rule/keywords, scores, candidates), because the application
records it as an event. The config-driven parts every router shares (locality by address,
unit by rule) are in :mod:`engine.routing.rules`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from engine.places import GeoPoint


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
    # Who called (来电人): a personal matter is merged only into the same caller's case, and
    # the same caller saying the same thing again is a repeat wherever the place is unclear.
    caller_phone: str = ""
    caller_name: str = ""
    appeal_type: str = ""  # 诉求类型: 咨询 求助 投诉 举报 建议 表扬
    leaf: str | None = None  # the deepest catalogue item of the case's path (e.g. municipal.manhole)
    # The coordinates the channel sent (engine.places): the place when the address names none.
    point: GeoPoint | None = None


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
    # The deepest item of the predicted path in the district's category tree (诉求分类目录),
    # below ``category``; None when the district has no tree or the text supports no item.
    # ``reason["path"]`` has every level with its confidence.
    leaf: str | None = None


class Router(Protocol):
    def prepare(self, batch: Sequence[CaseFacts]) -> None:
        """Called before deciding a batch of new cases: work that is cheaper done once for the
        whole batch. Decisions must not depend on whether it was called."""
        ...

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


# ---- optional abilities ---------------------------------------------------------------------
# A router need not remember anything across processes (the keyword router does not); one that
# does says so by having these methods, and the bootstrap checks with isinstance.


@dataclass(frozen=True)
class Lesson:
    """One correction of the router (纠错经验), as the lessons view keeps it.

    ``kind``: ``category`` (an operator's re-categorisation: ``text`` → ``category``), ``unit``
    (at ``place`` for ``category``, ``unit`` is the one: a return's suggested unit, or the unit
    the centre chose by hand) or ``not_unit`` (at ``place`` for ``category``, ``unit`` returned
    it: not this one). ``place`` is the router's place key (road+number, estate+building, a
    crossing, or ``l:<locality>``); ``area`` the road or estate around it, when finer.
    ``position``: the log notification the lesson comes from (its order)."""

    position: int
    kind: str
    category: str
    unit: str | None = None
    place: str | None = None
    area: str | None = None
    text: str = ""
    source: str = ""  # reclassify · return · suggested · dispatch
    note: str = ""  # the return's reason
    case_id: str = ""


class LessonSource(Protocol):
    """Corrections (lessons) not handed out yet, oldest first: from the lessons view, whichever
    process made them."""

    def since(self) -> Sequence[Lesson]:
        """The lessons not handed out yet."""
        ...


@runtime_checkable
class FollowsLessons(Protocol):
    """A router that learns every correction (re-categorisation, return, the centre's choice of
    unit) from the lessons view, whichever process made it."""

    def follow_lessons(self, feed: LessonSource) -> None:
        """Start reading ``feed``: the past lessons now, new ones before each decision."""
        ...

    def stop_following_lessons(self) -> None:
        """Let go of the feed before the log it reads is closed."""
        ...


@runtime_checkable
class WarmsFromOpenCases(Protocol):
    """A router whose duplicate index can start with the open cases of the read model, so that a
    restart does not forget what is open."""

    def warm(self, open_cases: Iterable[Mapping[str, Any]]) -> int:
        """File the open cases (case_id, content, address, category, locality, received_at,
        channel); returns how many were filed."""
        ...


@runtime_checkable
class KeysCallers(Protocol):
    """A router whose duplicate index compares callers by keyed hashes (engine.routing.callers):
    given the district secret the open-cases view keys them with, before any case is filed."""

    def key_callers(self, key: bytes) -> None: ...


@runtime_checkable
class HoldsLocalities(Protocol):
    """A router whose duplicate index can hold only some localities (属地): each Kafka worker
    holds the open cases of the places its partitions carry (adapters/transport/placement.py)
    and takes them over from the read model when the group rebalances."""

    def drop_localities(self, keep: Callable[[str], bool]) -> int:
        """Forget the open cases of every locality ``keep`` refuses; returns how many."""
        ...

    def refile_localities(
        self, localities: Collection[str], open_cases: Iterable[Mapping[str, Any]]
    ) -> int:
        """Forget the open cases held at ``localities``, then file ``open_cases`` (the read
        model's at those localities); returns how many were filed."""
        ...


@runtime_checkable
class OpenCasesForRouter(Protocol):
    """What a read model offers a warming router (``localities``: only the open cases there)."""

    def open_cases_for_router(
        self, localities: Collection[str] | None = None
    ) -> Sequence[Mapping[str, Any]]: ...
