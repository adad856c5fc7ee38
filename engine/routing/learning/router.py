"""The learning router: category, locality, unit, urgency and duplicates for one complaint, and
the reason for each, in a form the application records as the ``Classified`` event's reason.

Everything slow happens off the request path: the models are loaded (or fitted once and cached,
see :mod:`engine.routing.learning.bundle`) in a background thread started by the constructor,
and the first decision waits for them only if they are not ready yet.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import numpy as np

from engine.config import SanshiConfig, UnitKind
from engine.deadlines import SHANGHAI
from engine.routing.callers import CallerKeys
from engine.routing.catalogue import PathReader, PathStep, leaf_of, top_step, unit_by_catalogue
from engine.routing.learning.bundle import Bundle, load_bundle
from engine.routing.learning.consultation import read_consultation, read_vague
from engine.routing.learning.corrections import Advice, PlaceLessons, keys_of
from engine.routing.learning.duplicates import (
    ISSUE_OBJECTS,
    DuplicateIndex,
    IssueReader,
    OpenCase,
    PersonalReader,
)
from engine.routing.learning.encoder import MAX_CHARS, Encoder, Vectors, shared_encoder
from engine.routing.learning.gate import judge, rule_reason
from engine.routing.learning.model import (
    Floats,
    blend,
    describe_top,
    keyword_hits,
    softmax,
)
from engine.routing.learning.places import Place, PlaceReader
from engine.routing.learning.text import for_compare, simplified
from engine.routing.learning.urgency import UrgencyReader
from engine.routing.port import (
    CaseFacts,
    DuplicateCandidate,
    FollowsLessons,
    HoldsLocalities,
    Lesson,
    LessonSource,
    RoutingDecision,
    WarmsFromOpenCases,
)
from engine.routing.rules import (
    BY_PLACE,
    Locality,
    Locator,
    led_by_channel,
    unit_by_channel_rules,
    unit_by_rules,
)

log = logging.getLogger(__name__)

# After a department returns a case ("not ours"), the next most likely category is tried only if
# the model gives it at least this much; otherwise the centre decides.
NEXT_CATEGORY_MIN = 0.1
_RECENT = 2048  # decisions whose vectors are kept for the case_opened that follows
CONSULTATION_REASON = "咨询类，建议直办或知识库答复"


@dataclass(frozen=True)
class Reading:
    """What the router read from one complaint (before any unit is chosen)."""

    category: str
    confidence: float
    probabilities: dict[str, float]
    why: dict[str, Any]
    vector: Vectors | None  # None: the sentence model was not needed
    # Each reader's own first choice (读法): the linear model's, the keywords' (None: no keyword
    # found; a tie gives every tied code), the sentence model's (None: not consulted).
    readers: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    margin: float = 1.0  # the blend's first probability minus its second


class LearningRouter(FollowsLessons, WarmsFromOpenCases, HoldsLocalities):
    """Implements :class:`engine.routing.port.Router` and both optional abilities of the port."""

    name = "learning"

    def __init__(
        self,
        config: SanshiConfig,
        bundle: Future[Bundle] | Bundle | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        self.config = config
        self.encoder = encoder or shared_encoder()
        self.locator = Locator(config)
        self.places = PlaceReader(config)
        self.urgency = UrgencyReader(config.router.urgent_words)
        self.paths = PathReader(config)  # the levels below the top one (诉求分类目录)
        self.classes = config.category_codes()
        self._by_name = {c.name: c.code for c in config.categories}
        self.issues = IssueReader(
            [*ISSUE_OBJECTS, *(k for c in config.categories for k in c.keywords)]
        )
        self.personal = PersonalReader(config)
        # Callers as keyed hashes, the same as the open-cases view's (``key_callers``).
        self.callers = CallerKeys.default()
        self.index = DuplicateIndex(
            window=dt.timedelta(days=config.router.duplicate_window_days),
            merge_similarity=config.router.merge_similarity,
            possible_similarity=config.router.possible_duplicate_similarity,
            max_cases=config.router.duplicate_index_size,
        )
        if bundle is None:
            bundle = load_bundle_async(config, self.encoder)
        self._bundle_future: Future[Bundle] | None = None
        self._bundle: Bundle | None = None
        if isinstance(bundle, Bundle):
            self._bundle = bundle
        else:
            self._bundle_future = bundle
        self._lock = threading.RLock()
        self._recent: OrderedDict[UUID, tuple[Vectors]] = OrderedDict()
        self._embedder: threading.Thread | None = None
        self._embedding = False
        self._lessons: LessonSource | None = None
        self._lessons_lock = threading.Lock()
        self._pending_lessons: list[Lesson] = []  # read at follow_lessons, not yet learnt
        self._learned: set[tuple[str, str]] = set()
        self.learned = 0
        self.place_lessons = PlaceLessons(config)  # returns and the centre's choices, per place
        self._prepared: set[UUID] = set()  # cases of a prepared batch not decided yet

    # ---- readiness -----------------------------------------------------------------------

    @property
    def bundle(self) -> Bundle:
        if self._bundle is None:
            assert self._bundle_future is not None
            self._bundle = self._bundle_future.result()
        return self._bundle

    def wait_ready(self) -> LearningRouter:
        """Block until the models are loaded (they load in the background)."""
        _ = self.bundle
        self.encoder.wait()
        return self

    # ---- reading -------------------------------------------------------------------------

    def hint_code(self, hint: str) -> str | None:
        hint = hint.strip()
        if not hint:
            return None
        if hint in self.classes:
            return hint
        return self._by_name.get(hint) or self._by_name.get(simplified(hint))

    # ---- lessons from the log -------------------------------------------------------------

    def follow_lessons(self, feed: LessonSource) -> None:
        """Learn every correction (``feed.since()`` gives the ones not seen yet, from the
        lessons view): re-categorisations teach the classifier, returns and the centre's
        choices of unit the place lessons (``corrections``). The past ones are read now, in the
        caller's thread, and learnt in a background thread once the models are loaded (a
        decision learns whatever is still pending first); new ones before each decision.

        The feed is only ever read in the threads that call the router, never in the
        background: on an in-memory store the views share one SQLite connection, and a read
        from another thread would end (roll back) whatever that connection was doing."""
        with self._lessons_lock:
            self._lessons = feed
            try:
                self._pending_lessons = list(feed.since())
            except Exception:  # a view not there yet: the next decision reads again
                log.debug("operators' lessons not read", exc_info=True)
                self._pending_lessons = []
        threading.Thread(
            target=self._first_lessons, name="router-lessons", daemon=True
        ).start()

    def _first_lessons(self) -> None:
        try:
            self.wait_ready()
            with self._lessons_lock:
                if self._lessons is not None:
                    self._apply_lessons(self._take_pending())
        except Exception:  # e.g. the runtime closed first; the next decision tries again
            log.debug("operators' lessons not learnt", exc_info=True)

    def stop_following_lessons(self) -> None:
        """Detach the log before the runtime closes it: a catch-up in progress finishes first,
        and none starts afterwards (a background read of a closed SQLite connection crashes
        the process)."""
        with self._lessons_lock:
            self._lessons = None
            self._pending_lessons = []

    def catch_up_lessons(self) -> int:
        # One reader at a time, learning included: a decision never sees half a catch-up.
        with self._lessons_lock:
            feed = self._lessons
            if feed is None:
                return 0
            lessons = [*self._take_pending(), *feed.since()]
            self._apply_lessons(lessons)
        return len(lessons)

    def _take_pending(self) -> list[Lesson]:
        pending, self._pending_lessons = self._pending_lessons, []
        return pending

    def _apply_lessons(self, lessons: list[Lesson]) -> None:
        for lesson in lessons:
            if lesson.kind == "category":
                self.learn(lesson.text, lesson.category)
                # Another process's 改类 re-files its case, as the service does in-process
                # (SanshiApplication._after_change): later reports of the same matter are
                # compared with it under its new category, whichever process receives them.
                if lesson.case_id:
                    with self._lock:
                        self.index.move(UUID(lesson.case_id), lesson.category)
            else:
                self.place_lessons.add(lesson)

    def read(self, content: str, address: str = "", need_vector: bool = True) -> Reading:
        """Category probabilities for a complaint, with the evidence of each reader.

        The sentence model is the slow reader (a forward pass per complaint); when keywords and
        the linear model alone are already sure (``Blend.sure``) and the caller does not need
        the vector, it is skipped: on cross-validation that changes no answer and saves many
        forward passes (bench/RESULTS.md, "Routing: figures behind the router's design").
        """
        bundle = self.bundle
        text = simplified(content)
        hits = keyword_hits(text, self.config.categories)
        keywords = hits.vector(self.classes)
        with self._lock:
            features = bundle.linear.features(text)
            p_linear = softmax(bundle.linear.logits(*features))
        n_classes = len(self.classes)
        p = blend(p_linear, np.zeros(n_classes, np.float32), keywords, bundle.blend)
        vector: Vectors | None = None
        p_proto: Floats | None = None
        why_proto: dict[str, Any] = {"skipped": "文本模型与关键词已足够确定"}
        if need_vector or float(p.max()) < bundle.blend.sure:
            vector = self.encoder.encode_one(sentence_of(content, address))
            with self._lock:
                p_proto = bundle.prototypes.scores(vector)
                nearest, nearest_sim = bundle.prototypes.nearest(vector)
            p = blend(p_linear, p_proto, keywords, bundle.blend)
            why_proto = {"top": describe_top(self.classes, p_proto)}
            if nearest >= 0:
                why_proto["nearest_example"] = {
                    "category": self.classes[int(bundle.prototypes.labels[nearest])],
                    "cosine": round(nearest_sim, 3),
                    "learned": bool(nearest >= bundle.trained_examples),
                }
        best = int(np.argmax(p))
        second = float(np.partition(p, -2)[-2]) if n_classes > 1 else 0.0
        readers: dict[str, tuple[str, ...] | None] = {
            "linear": (self.classes[int(np.argmax(p_linear))],),
            "keywords": (
                tuple(self.classes[i] for i in np.flatnonzero(keywords == keywords.max()))
                if float(keywords.max()) > 0
                else None
            ),
            "prototypes": (
                (self.classes[int(np.argmax(p_proto))],) if p_proto is not None else None
            ),
        }
        with self._lock:
            grams = bundle.linear.top_grams(text, best, features=features)
        why: dict[str, Any] = {
            "top": describe_top(self.classes, p),
            "keywords": hits.by_category,
            "linear": {
                "top": describe_top(self.classes, p_linear),
                "ngrams": [{"ngram": g, "weight": w} for g, w in grams],
            },
            "prototypes": why_proto,
        }
        return Reading(
            category=self.classes[best],
            confidence=float(p[best]),
            probabilities={c: float(p[i]) for i, c in enumerate(self.classes)},
            why=why,
            vector=vector,
            readers=readers,
            margin=float(p[best]) - second,
        )

    def vector_of(self, reading: Reading, content: str, address: str = "") -> Vectors:
        if reading.vector is not None:
            return reading.vector
        return self.encoder.encode_one(sentence_of(content, address))

    def classify(self, content: str, hint: str = "", address: str = "") -> tuple[str, float]:
        self.catch_up_lessons()
        code = self.hint_code(hint)
        if code:
            return code, 1.0
        r = self.read(content, address)
        return r.category, r.confidence

    def is_urgent(self, facts: CaseFacts) -> tuple[bool, dict[str, Any]]:
        words = self.urgency.read(simplified(facts.content))
        why: dict[str, Any] = {"words": words}
        if facts.urgent:
            why["flag"] = "intake"  # the channel said 紧急
        if facts.concern == "anguish":
            why["concern"] = "anguish"  # 揪心事
        return bool(facts.urgent or facts.concern == "anguish" or words), why

    # ---- decisions -----------------------------------------------------------------------

    def prepare(self, batch: Sequence[CaseFacts]) -> None:
        """Before a batch of new cases (one Kafka poll, one uploaded file): the operators'
        lessons are read from the log once for the batch instead of once per case (a query
        each), and the sentence model encodes every text in one pass. At intake rates nearly
        every case needs its vector (the duplicate check compares it with open cases at the
        same place), and one pass over many texts is cheaper a text than one call each (the
        figures: bench/RESULTS.md, "Routing: figures behind the router's design"). A lone case
        is left to ``decide``, which skips the model when it can."""
        self.catch_up_lessons()
        with self._lock:  # a new batch replaces the last one: the set stays small
            self._prepared = {f.case_id for f in batch}
        if len(batch) > 1:
            self.encoder.remember_many(
                [sentence_of(f.content, f.address) for f in batch]
            )

    def decide(self, facts: CaseFacts) -> RoutingDecision:
        with self._lock:
            prepared = facts.case_id in self._prepared
            self._prepared.discard(facts.case_id)
        if not prepared:
            self.catch_up_lessons()
        address = simplified(facts.address)
        text = simplified(facts.content)
        reading = self.read(facts.content, facts.address, need_vector=False)
        hint = self.hint_code(facts.category_hint)
        if hint:
            category, confidence = hint, 1.0
            category_why = {"by": "hint", "hint": facts.category_hint, **reading.why}
        else:
            category, confidence = reading.category, reading.confidence
            category_why = {"by": "model", **reading.why}
        path = self.read_path(text, category, confidence, "hint" if hint else "model")
        urgent, urgent_why = self.is_urgent(facts)
        loc = self.locator.locate(address, text, facts.point)
        place = self.places.read(address, text)
        compare_text = for_compare(facts.content)
        issues = self.issues.read(compare_text)
        personal = self.personal.read(category, text, facts.appeal_type)
        caller = self.callers.phone(facts.caller_phone)
        computed: list[Vectors] = []

        def vector() -> Vectors:
            # Only when an open case is close enough in place and time to need comparing.
            if not computed:
                computed.append(self.vector_of(reading, facts.content, facts.address))
            return computed[0]

        with self._lock:
            verdicts = self.index.find(
                facts.case_id,
                category,
                loc.unit,
                compare_text,
                place,
                issues,
                facts.received_at,
                vector,
                embed=self._embed_texts,
                caller=caller,
                caller_name=self.callers.name(facts.caller_name),
                personal=bool(personal),
            )
        if computed or reading.vector is not None:
            with self._lock:
                self._remember(facts.case_id, vector())
        merge_verdict = next((v for v in verdicts if v.merge), None)
        merge = (
            DuplicateCandidate(merge_verdict.case_id, merge_verdict.similarity, merge_verdict.why)
            if merge_verdict
            else None
        )
        possible = tuple(
            DuplicateCandidate(v.case_id, v.similarity, v.why)
            for v in verdicts
            if v is not merge_verdict
        )
        reason: dict[str, Any] = {
            "router": self.name,
            "category": category_why,
            "confidence": round(confidence, 3),
            "path": [step.as_dict() for step in path],
            "locality": {
                "matched": loc.matched,
                "community": loc.community,
                "street": loc.street,
                "from": "address" if loc.matched and loc.matched in address else "text",
            },
            "place": {"key": place.key, **place.as_dict()},
            "urgent": urgent_why,
            "urgent_words": urgent_why["words"],
            "issue_words": sorted(issues),
            # 个人事项: merged only into the same caller's case (why it is personal).
            "personal": personal,
            "duplicates": [
                {
                    "case_id": str(v.case_id),
                    "similarity": round(v.similarity, 3),
                    "merge": v.merge,
                    **v.why,
                }
                for v in verdicts
            ],
        }
        consultation = read_consultation(text) if not hint else None
        reason["consultation"] = bool(consultation and consultation.consultation)
        threshold = self.dispatch_threshold
        reason["dispatch_threshold"] = round(threshold, 3)
        vague = read_vague(text, bool(reading.why["keywords"])) if not hint else ()
        verdict = judge(
            self.config, category, confidence, threshold, reading.readers, vague, bool(hint)
        )
        reason["dispatch_rule"] = rule_reason(self.config, threshold, reading.readers, verdict)
        manual: str | None = None
        returned = frozenset(facts.returned_by)
        # What the operator may pick (the top three categories), each with the unit a dispatch
        # would choose for it: the place's lessons, the catalogue, the rules (with the text).
        reason["candidates"] = [
            {
                "category": item["category"],
                "score": item["score"],
                "unit": self._unit_for(
                    [s.code for s in path] if item["category"] == category else [item["category"]],
                    text, loc, place, returned, facts.channel,
                )[0],
            }
            for item in reading.why["top"]
        ]
        if consultation is not None and consultation.consultation:
            # 咨询: answered by the centre (直办) or from the knowledge base, not dispatched.
            reason["consultation_words"] = list(consultation.words)
            manual = CONSULTATION_REASON
        elif not verdict.dispatch:
            # The dispatch rule (自动派单规则): every check that failed, for the operator.
            manual = verdict.manual_reason()
        sure = manual is None
        # 渠道规则 first (a rule naming no category even for a 咨询 or an unsure reading: the
        # business-environment office answers an enterprise's question itself), then the place
        # lessons, the catalogue and the rules.
        unit, unit_why, advice = self._unit_for(
            [s.code for s in path], text, loc, place, returned, facts.channel, sure
        )
        if advice.applied:
            reason["lessons"] = advice.applied
        if unit_why:
            reason["unit"] = unit_why
        if unit is not None:
            manual = None
        elif sure:
            manual = self._no_unit_reason(category, loc)
            if advice.avoid:
                manual += f"（此处曾被{'、'.join(sorted(advice.avoid))}退回）"
        if merge is not None:
            reason["merge_into"] = str(merge.case_id)
        return RoutingDecision(
            category=category,
            confidence=confidence,
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

    def read_path(
        self, text: str, category: str, confidence: float, by: str = "model"
    ) -> list[PathStep]:
        """The case's path in the category tree, top level first: the classifier's category
        (its calibrated confidence), then the items below it that the text supports, each with
        its confidence given the level above (:mod:`engine.routing.catalogue`)."""
        return [
            top_step(self.config, category, confidence, {"by": by}),
            *self.paths.read(text, category),
        ]

    def _unit_of_path(
        self, path: list[str], text: str, loc: Locality, exclude: frozenset[str]
    ) -> tuple[str | None, dict[str, Any]]:
        """The most specific dispatch catalogue entry on the path (派单目录), then the rules."""
        unit, why = unit_by_catalogue(self.config, path, loc, exclude)
        if unit is not None and why is not None:
            return unit, why
        unit, rule_why = unit_by_rules(self.config, path[0], text, loc, exclude)
        if why is not None:
            rule_why["catalogue_skipped"] = why["catalogue_skipped"]
        return unit, rule_why

    @property
    def dispatch_threshold(self) -> float:
        """Calibrated confidence a case needs to go out without an operator: the district's
        ``router.dispatch.confidence`` (chosen on cross-validation, see engine/config.py), or
        its older ``router.confidence_threshold`` if that is stricter."""
        router = self.config.router
        return max(router.confidence_threshold, router.dispatch.confidence)

    def _no_unit_reason(self, category: str, loc: Locality) -> str:
        name = self.config.category(category).name
        rules = [r for r in self.config.routing if r.category == category]
        if any(r.to in BY_PLACE for r in rules) and loc.unit is None:
            return f"「{name}」按属地派单，但未能从地址和内容中确定属地，转人工派单"
        return f"「{name}」没有可派的承办单位，转人工派单"

    def _unit_for(
        self,
        path: list[str],
        text: str,
        loc: Locality,
        place: Place,
        returned: frozenset[str],
        channel: str = "",
        sure: bool = True,
    ) -> tuple[str | None, dict[str, Any], Advice]:
        """The unit a case on ``path`` goes to, with the lessons' advice: the rules that name
        the case's channel lead (渠道规则, the district's standing decision for it,
        engine.routing.rules), with the unit of the place lessons (corrections of the centre at
        this place), the catalogue and the rules beside it; without a channel rule that unit.
        ``sure`` False (no dispatch on the reading): only a channel rule naming no category."""
        unit: str | None = None
        why: dict[str, Any] = {}
        advice = Advice(None, frozenset(), [])
        if sure:
            advice = self.place_lessons.advise(*keys_of(place, loc.unit), path[0], returned)
            if advice.unit is not None:
                unit, why = advice.unit, {"rule": "lesson", "to": advice.unit}
            else:
                unit, why = self._unit_of_path(path, text, loc, returned | advice.avoid)
        lead, lead_why = unit_by_channel_rules(
            self.config, channel, path[0], text, loc, returned, sure
        )
        unit, why = led_by_channel(lead, lead_why, unit, why)
        return unit, why, advice

    def next_unit(self, facts: CaseFacts) -> tuple[str | None, dict[str, Any]]:
        """After a return (退单): never a unit that returned the case.

        小事不出格、大事不出区: a community or judicial office hands it up to its street, a street
        to the district centre (manual queue). A department or enterprise saying "not ours"
        means the category was probably wrong: the next most likely category's unit, if the
        model gives it some weight; otherwise the centre decides.
        """
        self.catch_up_lessons()
        exclude = frozenset(facts.returned_by)
        if facts.category:
            place = self.places.read(simplified(facts.address), simplified(facts.content))
            advice = self.place_lessons.advise(
                *keys_of(place, facts.locality), facts.category, exclude
            )
            if advice.unit is not None:
                return advice.unit, {
                    "rule": "lesson",
                    "to": advice.unit,
                    "returned_by": list(exclude),
                    "lessons": advice.applied,
                }
            exclude |= advice.avoid
        last = facts.last_unit
        if last and self.config.has_unit(last):
            unit = self.config.unit(last)
            if unit.kind in (UnitKind.COMMUNITY, UnitKind.JUDICIAL_OFFICE):
                parent = unit.parent or self.config.centre.id
                if parent not in exclude and parent != self.config.centre.id:
                    return parent, {"escalated_from": last, "to": parent, "rule": "climb"}
                return None, {"escalated_from": last, "to": self.config.centre.id, "rule": "climb"}
            if unit.kind == UnitKind.STREET:
                return None, {"escalated_from": last, "to": self.config.centre.id, "rule": "climb"}
        loc = Locality(None, facts.street, None)
        if (
            facts.locality
            and self.config.has_unit(facts.locality)
            and self.config.unit(facts.locality).kind == UnitKind.COMMUNITY
        ):
            loc = Locality(facts.locality, facts.street, None)
        reading = self.read(facts.content, facts.address, need_vector=False)
        ranked = sorted(reading.probabilities.items(), key=lambda kv: -kv[1])
        order = [facts.category] if facts.category else []
        order += [c for c, p in ranked if c != facts.category and p >= NEXT_CATEGORY_MIN]
        tried: list[dict[str, Any]] = []
        for category in order:
            # The case's own item of the catalogue for its category; the top level for another.
            path = (
                self.config.catalogue_path(facts.leaf)
                if category == facts.category and facts.leaf
                else [category]
            )
            unit_id, why = self._unit_of_path(path, simplified(facts.content), loc, exclude)
            if unit_id is not None and unit_id != self.config.centre.id:
                return unit_id, {
                    "rule": "next_category" if category != facts.category else "same_category",
                    "category": category,
                    "score": round(reading.probabilities.get(category, 0.0), 3),
                    "returned_by": list(exclude),
                    "tried": tried,
                    **why,
                }
            tried.append({"category": category, "unit": None})
        return None, {"rule": "manual", "returned_by": list(exclude), "tried": tried}

    # ---- the open-case index -------------------------------------------------------------

    def _remember(self, case_id: UUID, vector: Vectors) -> None:
        self._recent[case_id] = (vector,)
        self._recent.move_to_end(case_id)
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    def key_callers(self, key: bytes) -> None:
        """The district secret that keys callers' hashes (the projection of the open cases
        keys them with the same one: ``Settings.district_key``). Before any case is filed."""
        with self._lock:
            self.callers = CallerKeys(key)

    def case_opened(self, facts: CaseFacts, category: str, locality: str | None) -> None:
        self._case_opened(facts, category, locality)

    def _case_opened(
        self,
        facts: CaseFacts,
        category: str,
        locality: str | None,
        callers: tuple[str, str] | None = None,
        embed_later: bool = True,
    ) -> None:
        if locality is None:
            self.case_closed(facts.case_id)
            return
        with self._lock:
            if self.index.key_of(facts.case_id) == (category, locality):
                return  # already filed there: the common case (every action on an open case)
            remembered = self._recent.pop(facts.case_id, None)
        vector = remembered[0] if remembered is not None else None
        self.file_open_case(
            facts, category, locality, vector, callers=callers, embed_later=embed_later
        )

    def file_open_case(
        self,
        facts: CaseFacts,
        category: str,
        locality: str,
        vector: Vectors | None = None,
        *,
        callers: tuple[str, str] | None = None,
        embed_later: bool = True,
    ) -> None:
        """Put an open case in the duplicate index. Without a sentence vector it gets one
        when a decision needs it, and (``embed_later``) from a background thread before that.
        ``callers``: the keyed hashes of its phone and name as the read model keeps them
        (instead of the facts' own)."""
        place = self.places.read(simplified(facts.address), simplified(facts.content))
        text = for_compare(facts.content)
        if callers is None:
            callers = (
                self.callers.phone(facts.caller_phone),
                self.callers.name(facts.caller_name),
            )
        entry = OpenCase(
            facts.case_id,
            text,
            facts.received_at,
            place,
            self.issues.read(text),
            channel=facts.channel,
            vector=None if vector is None else vector.astype(np.float16),
            caller=callers[0],
            caller_name=callers[1],
            personal=bool(
                self.personal.read(category, simplified(facts.content), facts.appeal_type)
            ),
            gist=sentence_of(facts.content, facts.address)[:MAX_CHARS],
        )
        with self._lock:
            self.index.add(category, locality, entry, embed_later)
        if vector is None and embed_later:
            self._embed_later()

    def case_closed(self, case_id: UUID) -> None:
        with self._lock:
            self.index.remove(case_id)
            self._recent.pop(case_id, None)

    def warm(self, open_cases: Iterable[Any], *, embed_later: bool = True) -> int:
        """File the open cases of the read model (at startup): records or mappings with
        case_id, content, address, category, locality, received_at (channel, appeal_type and
        the keyed hashes caller_key / caller_name_key optional; without the hashes, from
        caller_phone / caller_name if given). ``embed_later``: give them sentence vectors in
        the background too (else only the ones a decision compares, when it does)."""

        def getter(row: Any) -> Any:
            if isinstance(row, Mapping):
                return row.get
            return lambda k: getattr(row, k, None)

        # Oldest first, and only as many as the index keeps: the most recent open cases.
        rows = sorted(
            open_cases,
            key=lambda r: _aware(getter(r)("received_at")) or _EARLIEST,
        )[-self.index.max_cases :]
        n = 0
        for row in rows:
            get = getter(row)
            category, locality = get("category"), get("locality")
            received_at = _aware(get("received_at"))
            if not category or not locality or received_at is None:
                continue
            case_id = get("case_id")
            facts = CaseFacts(
                case_id=case_id if isinstance(case_id, UUID) else UUID(str(case_id)),
                channel=str(get("channel") or ""),
                content=str(get("content") or ""),
                address=str(get("address") or ""),
                category_hint="",
                urgent=False,
                concern="",
                received_at=received_at,
                caller_phone=str(get("caller_phone") or ""),
                caller_name=str(get("caller_name") or ""),
                appeal_type=str(get("appeal_type") or ""),
            )
            # The open-cases view keeps the caller as the same keyed hashes the index keeps
            # (engine.routing.callers): a caller's repeat merges as if this worker had seen
            # the first call itself.
            phone_key, name_key = get("caller_key"), get("caller_name_key")
            callers = (
                (str(phone_key or ""), str(name_key or ""))
                if phone_key is not None or name_key is not None
                else None
            )
            self._case_opened(facts, str(category), str(locality), callers, embed_later)
            n += 1
        return n

    def drop_localities(self, keep: Callable[[str], bool]) -> int:
        with self._lock:
            return self.index.drop_localities(keep)

    def refile_localities(
        self, localities: Collection[str], open_cases: Iterable[Any]
    ) -> int:
        """The read model's open cases at ``localities`` replace the ones held there (another
        worker may have opened, merged or closed cases at those places).

        They get sentence vectors only when a decision compares them (``DuplicateIndex.find``
        embeds those), not from the background pass a start-up gets: a worker takes places
        over at every rebalance, and a pass over all of them (tens of thousands of open cases
        at a busy time) was started again at each one: with a worker killed every ~10 s those
        passes took the CPU the stream needed (bench/RESULTS.md, workers killed)."""
        places = set(localities)
        self.drop_localities(lambda loc: loc not in places)
        return self.warm(open_cases, embed_later=False)

    def _embed_texts(self, texts: list[str]) -> Vectors:
        return self.encoder.encode_many([t or "空" for t in texts])

    def _embed_later(self) -> None:
        """Sentence vectors for cases filed without one (warmed from the read model), in a
        background thread, a few at a time so that a decision never waits long."""
        with self._lock:
            if self._embedding:
                return
            self._embedding = True
            self._embedder = threading.Thread(
                target=self._embed_missing, name="router-embed", daemon=True
            )
        self._embedder.start()

    def _embed_missing(self) -> None:
        try:
            while True:
                with self._lock:
                    batch = self.index.without_vector(8)
                    if not batch:
                        self._embedding = False  # under the lock: a new filing restarts us
                        return
                vectors = self.encoder.encode_many([oc.gist or oc.text or "空" for oc in batch])
                with self._lock:
                    for oc, v in zip(batch, vectors, strict=True):
                        oc.vector = v.astype(np.float16)
        except Exception:  # the index still works on text similarity alone
            with self._lock:
                self._embedding = False
            log.exception("embedding open cases failed")

    def wait_embedded(self, timeout: float | None = None) -> None:
        if self._embedder is not None:
            self._embedder.join(timeout)

    # ---- learning ------------------------------------------------------------------------

    def learn(self, text: str, category: str) -> None:
        """An operator's re-categorisation: the example joins the prototypes' memory and the
        linear model takes gradient steps on it, so the next similar complaint is read the
        operator's way without a restart."""
        if category not in self.classes:
            return
        with self._lock:
            if (text, category) in self._learned:
                return  # taught directly, then seen again in the log
            self._learned.add((text, category))
        cls = self.classes.index(category)
        vector = self.encoder.encode_one(simplified(text) or "空")
        with self._lock:
            bundle = self.bundle
            bundle.linear.learn(simplified(text), cls)
            bundle.prototypes.learn(vector, cls)
            self.learned += 1


_EARLIEST = dt.datetime.min.replace(tzinfo=SHANGHAI)


def sentence_of(content: str, address: str = "") -> str:
    """What a case's sentence vector reads: the decision's and the duplicate index's alike."""
    return simplified(content) or simplified(address) or "空"


def _aware(value: Any) -> dt.datetime | None:
    """A read model may hand back datetimes as ISO strings or without zone (SQLite)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


def load_bundle_async(config: SanshiConfig, encoder: Encoder) -> Future[Bundle]:
    future: Future[Bundle] = Future()

    def run() -> None:
        try:
            future.set_result(load_bundle(config, encoder))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="router-load", daemon=True).start()
    return future
