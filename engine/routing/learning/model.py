"""The category model: three readers of the complaint, combined.

- ``keywords``: the district's own words per category (config), the part a person can edit;
- ``linear``: TF-IDF over character 1–2-grams and a multinomial logistic regression, fit with
  scikit-learn on the labelled examples and then run here in numpy (no scikit-learn import on
  the routing path, and the weights can be nudged by operators' corrections);
- ``prototypes``: sentence embeddings (USE multilingual) compared with each category's
  description and examples — zero-shot for a category with no examples yet, and the reader that
  understands paraphrases.

The three score vectors are blended in log space with fixed weights (chosen by cross-validation
on the training set, see bench/routing) and a softmax gives the confidence.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from engine.config import Category
from engine.routing.learning.lexicon import STRONG, claimed_words, words_for
from engine.routing.learning.text import char_ngrams, for_model

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Example:
    text: str
    category: str
    # How much the example counts in the linear model's fit: a resident's real words (真实诉求)
    # count more than a generated line, so where the two disagree the real convention wins.
    weight: float = 1.0


def softmax(x: Floats) -> Floats:
    z = x - np.max(x)
    e = np.exp(z)
    out: Floats = (e / e.sum()).astype(np.float32)
    return out


# ---- linear model ------------------------------------------------------------------------

# Character 1–2-grams measured better than 1–3 with a few hundred examples (cross-validation on
# the training set, bench/routing): 3-grams are mostly unseen at prediction time.
NGRAM_HIGH = 2


def analyze(text: str, lexicon: Sequence[str], ngram_high: int = NGRAM_HIGH) -> list[str]:
    """Features of a text: character n-grams plus one ``L:word`` feature per issue word found
    (the lexicon words generalise from few examples where n-grams cannot)."""
    plain = text.lower()
    grams = char_ngrams(for_model(text), 1, ngram_high)
    grams.extend(f"L:{w}" for w in lexicon if w in plain)
    return grams


@dataclass
class LinearText:
    """TF-IDF (char 1–``ngram_high``-grams, sublinear tf, l2) → multinomial logistic
    regression."""

    vocab: dict[str, int]
    idf: Floats  # (n_features,)
    weights: Floats  # (n_features, n_classes)
    bias: Floats  # (n_classes,)
    default_idf: float = 0.0  # idf given to n-grams first seen after training
    lexicon: tuple[str, ...] = ()
    ngram_high: int = NGRAM_HIGH
    _gram_names: list[str] = field(default_factory=list, repr=False)

    def features(self, text: str, grow: bool = False) -> tuple[Ints, Floats]:
        counts = Counter(analyze(text, self.lexicon, self.ngram_high))
        idx: list[int] = []
        tf: list[float] = []
        for gram, n in counts.items():
            j = self.vocab.get(gram)
            if j is None:
                if not grow:
                    continue
                j = self._add(gram)
            idx.append(j)
            tf.append(1.0 + math.log(n))
        index = np.asarray(idx, dtype=np.int64)
        values = np.asarray(tf, dtype=np.float32) * self.idf[index]
        norm = float(np.linalg.norm(values))
        if norm > 0:
            values /= norm
        return index, values

    def _add(self, gram: str) -> int:
        j = len(self.vocab)
        self.vocab[gram] = j
        self.idf = np.append(self.idf, np.float32(self.default_idf))
        self.weights = np.vstack([self.weights, np.zeros((1, self.weights.shape[1]), np.float32)])
        return j

    def logits(self, index: Ints, values: Floats) -> Floats:
        out: Floats = values @ self.weights[index] + self.bias
        return out

    def top_grams(
        self, text: str, cls: int, k: int = 5, features: tuple[Ints, Floats] | None = None
    ) -> list[tuple[str, float]]:
        """The n-grams that pushed the text towards class ``cls`` most (for the reason)."""
        index, values = features if features is not None else self.features(text)
        if index.size == 0:
            return []
        contrib = values * self.weights[index, cls]
        order = np.argsort(-contrib)[:k]
        names = self._names()
        return [
            (names[int(index[o])], round(float(contrib[o]), 3)) for o in order if contrib[o] > 0
        ]

    def _names(self) -> list[str]:
        if len(self._gram_names) != len(self.vocab):
            names = [""] * len(self.vocab)
            for gram, j in self.vocab.items():
                names[j] = gram
            self._gram_names = names
        return self._gram_names

    def learn(self, text: str, cls: int, rate: float = 2.0, steps: int = 30) -> None:
        """Gradient steps of the softmax loss on one corrected example, until the model agrees
        with the operator (p ≥ 0.7), so the next similar complaint goes where they said."""
        index, values = self.features(text, grow=True)
        if index.size == 0:
            return
        for _ in range(steps):
            p = softmax(self.logits(index, values))
            if p[cls] >= 0.7:
                break
            grad = p.copy()
            grad[cls] -= 1.0
            self.weights[index] -= rate * np.outer(values, grad).astype(np.float32)
            self.bias -= np.float32(rate * 0.1) * grad


def fit_linear(
    examples: Sequence[Example],
    classes: list[str],
    lexicon: Sequence[str] = (),
    c: float = 20.0,
) -> LinearText:
    """Fit with scikit-learn (imported here only: training happens once, then it is cached)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    words = tuple(lexicon)
    vectorizer = TfidfVectorizer(
        analyzer=lambda t: analyze(t, words), sublinear_tf=True, min_df=1, dtype=np.float32
    )
    x = vectorizer.fit_transform([e.text for e in examples])
    y = np.asarray([classes.index(e.category) for e in examples])
    weight = np.asarray([e.weight for e in examples], dtype=np.float64)
    present = sorted(set(y.tolist()))
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x, y, sample_weight=weight)
    n_features = x.shape[1]
    weights = np.zeros((n_features, len(classes)), dtype=np.float32)
    # A category with no examples gets a very low bias: only keywords and prototypes speak
    # for it (and operators' corrections, which grow its weights).
    bias = np.full(len(classes), -8.0, dtype=np.float32)
    if len(present) == 2:  # scikit-learn keeps one row for a binary problem
        weights[:, present[1]] = model.coef_[0]
        weights[:, present[0]] = -model.coef_[0]
        bias[present[1]] = model.intercept_[0]
        bias[present[0]] = -model.intercept_[0]
    else:
        for row, cls in enumerate(model.classes_):
            weights[:, int(cls)] = model.coef_[row]
            bias[int(cls)] = model.intercept_[row]
    vocab = {str(g): int(j) for g, j in vectorizer.vocabulary_.items()}
    idf = np.asarray(vectorizer.idf_, dtype=np.float32)
    return LinearText(vocab, idf, weights, bias, default_idf=float(idf.max()), lexicon=words)


# ---- prototypes ----------------------------------------------------------------------------


@dataclass
class Prototypes:
    """Per-category description vectors and a memory of example vectors (training examples and
    operators' corrections); a text scores by its nearest examples and its description."""

    descriptions: Floats  # (n_classes, dim)
    examples: Floats  # (n, dim)
    labels: Ints  # (n,)
    k: int = 7
    _by_class: list[Ints] = field(default_factory=list, repr=False)
    _indexed: int = field(default=-1, repr=False)

    def scores(self, vector: Floats) -> Floats:
        """Per-class similarity in [−1, 1]: mean of the class's k nearest examples (or its
        description when it has none)."""
        n_classes = self.descriptions.shape[0]
        out = (self.descriptions @ vector).astype(np.float32)
        if self.examples.shape[0] == 0:
            return out
        sims = self.examples @ vector
        best = out.copy()
        for c, rows in enumerate(self._rows_by_class(n_classes)):
            if rows.size == 0:
                continue
            mine = sims[rows]
            if mine.size > self.k:
                mine = np.partition(mine, mine.size - self.k)[-self.k :]
            # Blend with the description: it anchors classes with few examples.
            best[c] = 0.8 * float(mine.mean()) + 0.2 * float(out[c])
        return best

    def _rows_by_class(self, n_classes: int) -> list[Ints]:
        if len(self._by_class) != n_classes or self._indexed != self.labels.shape[0]:
            self._by_class = [np.flatnonzero(self.labels == c) for c in range(n_classes)]
            self._indexed = int(self.labels.shape[0])
        return self._by_class

    def nearest(self, vector: Floats) -> tuple[int, float]:
        if self.examples.shape[0] == 0:
            return -1, 0.0
        sims = self.examples @ vector
        j = int(np.argmax(sims))
        return j, float(sims[j])

    def learn(self, vector: Floats, cls: int) -> None:
        self.examples = np.vstack([self.examples, vector[None, :].astype(np.float32)])
        self.labels = np.append(self.labels, np.int64(cls))


def description_text(category: Category) -> str:
    """What the zero-shot reader compares against: name, description and keywords."""
    parts = [category.name]
    if category.description:
        parts.append(category.description)
    if category.keywords:
        parts.append("、".join(category.keywords))
    return "：".join(parts)


# ---- keywords -----------------------------------------------------------------------------


@dataclass
class KeywordHits:
    by_category: dict[str, list[str]] = field(default_factory=dict)

    def vector(self, classes: list[str]) -> Floats:
        return np.asarray(
            [sum(STRONG.get(w, 1) for w in self.by_category.get(c, [])) for c in classes],
            dtype=np.float32,
        )


class _Keywords(NamedTuple):
    code: str
    keywords: tuple[str, ...]


def category_words(categories: Sequence[Category]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each category's keywords: the config's, then the lexicon's for a default code, less the
    lexicon words a category the district added claims as its own. Read on every decision
    (keyword_hits), so built once per set of categories, not each time."""
    return _category_words(tuple(_Keywords(c.code, tuple(c.keywords)) for c in categories))


@functools.lru_cache(maxsize=32)
def _category_words(spec: tuple[_Keywords, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    claimed = frozenset(claimed_words(spec))
    return tuple((c.code, tuple(words_for(c.code, c.keywords, claimed))) for c in spec)


def all_keywords(categories: Sequence[Category]) -> list[str]:
    """Every keyword of every category (config's and the lexicon's), longest first."""
    words = {w for _, ws in category_words(categories) for w in ws}
    return sorted(words, key=lambda w: (-len(w), w))


def keyword_hits(text: str, categories: Sequence[Category]) -> KeywordHits:
    """Keywords (config's, then the router's lexicon for default codes) found in the text. A
    keyword inside a longer matched one is not counted again, across categories too: 占用人行道
    is city management, and its 人行道 does not also vote for municipal facilities."""
    plain = text.lower()
    found = sorted(
        {(k, code) for code, words in category_words(categories) for k in words if k in plain},
        key=lambda kc: (-len(kc[0]), kc[0]),
    )
    kept: list[str] = []
    hits: dict[str, list[str]] = {}
    for word, code in found:
        if any(word in longer and word != longer for longer in kept):
            continue
        kept.append(word)
        hits.setdefault(code, []).append(word)
    return KeywordHits(hits)


# ---- combination --------------------------------------------------------------------------


@dataclass(frozen=True)
class Blend:
    """Weights of the log-space blend and the calibration temperature, chosen by
    cross-validation on the real-texts corpus's train split (``python -m bench.routing.real_texts
    --cv``), never on its held-out rows. (The confidence needed to dispatch without a person is
    the district's ``router.dispatch``.) Real
    residents name many things beside the problem (the 物业 they already called, the school
    next to the noise), so the district's keywords count less than the fitted model."""

    linear: float = 2.0  # per unit of log-probability
    prototypes: float = 6.0  # per unit of cosine similarity
    keywords: float = 1.0  # per keyword hit
    # Temperature scaling (calibration): the one that minimises the log-loss on cross-validation
    # (1.2 on 767 real train texts; 1.4 on the 1,819 of the ninth release).
    temperature: float = 1.4
    # Keywords + linear model this sure: the sentence model is not consulted (see read()).
    sure: float = 0.8


def blend(
    linear: Floats, prototypes: Floats, keywords: Floats, weights: Blend
) -> Floats:
    logits = (
        weights.linear * np.log(np.clip(linear, 1e-6, 1.0))
        + weights.prototypes * prototypes
        + weights.keywords * keywords
    )
    return softmax((logits / weights.temperature).astype(np.float32))


def describe_top(classes: list[str], p: Floats, k: int = 3) -> list[dict[str, Any]]:
    order = np.argsort(-p)[:k]
    return [{"category": classes[int(i)], "score": round(float(p[int(i)]), 3)} for i in order]
