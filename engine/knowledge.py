"""The knowledge base (知识库 / 答复口径): the centre's standard answers to what residents ask.

An entry is an aggregate of its own beside the Case (``KnowledgeEntry``): a question, its
answer, the category it belongs to (分类代码), the unit that owns the answer (责任单位), where it
comes from (来源) and the days it is valid (``valid_from`` … ``valid_until``, Beijing days,
both inclusive, either open). Every change is an event with who and when, and the edit says
what changed (field → [before, after]). A retired entry (停用) is never changed again.

A unit may propose a change to an entry (``KnowledgeChangeProposed``, numbered per entry); the
centre accepts it (the change is applied, the acceptance records what changed) or rejects it
with a reason. Answering a 咨询 from an entry is 直办 (``SanshiApplication.answer_directly`` with
``entry``): the case's AnsweredDirectly records the entry, so the figures count answers per
entry (``projections.knowledge``).

``rank_entries`` ranks entries for a text (the intake form's suggestions): TF-IDF over
character 1–3-grams (scikit-learn's ``TfidfVectorizer``), cosine similarity against the
question (counted twice) and the answer. Character n-grams need no word list: "居住证" and
"需要什么材料" match whatever a caller puts between them, and no segmenter's dictionary has to
know the district's names. Pure domain code: no infrastructure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from engine.config import read_yaml
from engine.deadlines import SHANGHAI
from engine.domain import DomainError, IllegalTransition, InvalidCommand

KNOWLEDGE_NAMESPACE = UUID("6b0f4c2e-7d1a-5e3b-9c8d-1a2b3c4d5e6f")
# The fields an edit or a proposal may change (the question and answer are never blank).
FIELDS = ("question", "answer", "category", "unit", "source", "valid_from", "valid_until")
MAX_QUESTION = 500
MAX_ANSWER = 4000


def entry_id_for(ref: str) -> UUID:
    """A seeded entry's id (``sanshi demo`` loads the same entries once)."""
    return uuid5(KNOWLEDGE_NAMESPACE, f"knowledge:{ref}")


class EntryNotFound(DomainError):
    code = "not_found"

    def __init__(self, entry_id: UUID) -> None:
        super().__init__(f"知识库条目 {entry_id} 不存在")
        self.entry_id = entry_id


class EntryRetired(IllegalTransition):
    """An action on a retired entry (409, nothing written)."""

    def __init__(self, what: str) -> None:
        DomainError.__init__(self, f"该知识库条目已停用，不能{what}")


class ProposalNotPending(IllegalTransition):
    def __init__(self, number: int) -> None:
        DomainError.__init__(self, f"第 {number} 号修改建议已处理或不存在")


class EntryNotOffered(IllegalTransition):
    """Answering from an entry that is retired or outside its validity (409)."""

    def __init__(self, why: str) -> None:
        DomainError.__init__(self, f"该答复口径{why}，不能用于答复")


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def shanghai_day(at: dt.datetime) -> dt.date:
    return at.astimezone(SHANGHAI).date() if at.tzinfo else at.date()


def check_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's fields as the events keep them (dates as ISO days), checked: question and
    answer not blank, validity not ending before it starts (422)."""
    out: dict[str, Any] = {}
    for name in FIELDS:
        if name not in values:
            continue
        value = values[name]
        if name in ("valid_from", "valid_until"):
            if isinstance(value, dt.datetime):
                value = value.date()
            if isinstance(value, dt.date):
                value = value.isoformat()
            if value in ("", None):
                value = None
            else:
                try:
                    dt.date.fromisoformat(str(value))
                except ValueError:
                    raise InvalidCommand(f"{name} 不是有效日期（YYYY-MM-DD）") from None
                value = str(value)
        else:
            value = "" if value is None else str(value).strip()
        out[name] = value
    if "question" in out and not out["question"]:
        raise InvalidCommand("知识库条目须填写问题")
    if "answer" in out and not out["answer"]:
        raise InvalidCommand("知识库条目须填写答复口径")
    if len(out.get("question", "")) > MAX_QUESTION:
        raise InvalidCommand(f"问题最多 {MAX_QUESTION} 字")
    if len(out.get("answer", "")) > MAX_ANSWER:
        raise InvalidCommand(f"答复口径最多 {MAX_ANSWER} 字")
    return out


def _check_validity(valid_from: str | None, valid_until: str | None) -> None:
    if valid_from and valid_until and valid_until < valid_from:
        raise InvalidCommand("有效期截止日期不能早于开始日期 (valid_until < valid_from)")


class KnowledgeEntry(Aggregate):
    """知识库条目: one question and its standard answer."""

    @staticmethod
    def create_id(ref: str) -> UUID:
        return entry_id_for(ref)

    @event("KnowledgeEntryCreated")
    def __init__(
        self,
        *,
        ref: str,
        question: str,
        answer: str,
        category: str,
        unit: str,
        source: str,
        valid_from: str | None,
        valid_until: str | None,
        principal: str,
        at: dt.datetime,
    ) -> None:
        self.ref = ref
        self.question = question
        self.answer = answer
        self.category = category
        self.unit = unit
        self.source = source
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.retired = False
        self.retired_reason = ""
        self.created_by = principal
        self.created_at = at
        self.updated_at = at
        # Proposals by number: unit, changes, note, state (pending/accepted/rejected).
        self.proposals: list[dict[str, Any]] = []

    # ---- reading ---------------------------------------------------------------------------

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def offered_on(self, day: dt.date) -> bool:
        """Not retired and valid that day: an entry the operator may be offered."""
        start, end = _day(self.valid_from), _day(self.valid_until)
        return (
            not self.retired
            and (start is None or start <= day)
            and (end is None or day <= end)
        )

    def check_answerable(self, at: dt.datetime) -> None:
        if self.retired:
            raise EntryNotOffered("已停用")
        day = shanghai_day(at)
        if not self.offered_on(day):
            raise EntryNotOffered("不在有效期内")

    def _changes(self, values: Mapping[str, Any]) -> dict[str, list[Any]]:
        """field → [before, after] for the values that differ, the validity checked as it
        would stand after them."""
        checked = check_fields(values)
        changes = {k: [getattr(self, k), v] for k, v in checked.items() if getattr(self, k) != v}
        if not changes:
            raise InvalidCommand("没有修改任何内容")
        after = {**self.fields(), **{k: v[1] for k, v in changes.items()}}
        _check_validity(after["valid_from"], after["valid_until"])
        return changes

    def _proposal(self, number: int) -> dict[str, Any]:
        if not 1 <= number <= len(self.proposals):
            raise ProposalNotPending(number)
        proposal = self.proposals[number - 1]
        if proposal["state"] != "pending":
            raise ProposalNotPending(number)
        return proposal

    # ---- commands --------------------------------------------------------------------------

    def edit(self, *, values: Mapping[str, Any], principal: str, at: dt.datetime) -> None:
        if self.retired:
            raise EntryRetired("修改")
        self._edited(changes=self._changes(values), principal=principal, at=at)

    @event("KnowledgeEntryEdited")
    def _edited(self, *, changes: dict[str, list[Any]], principal: str, at: dt.datetime) -> None:
        for name, (_, after) in changes.items():
            setattr(self, name, after)
        self.updated_at = at

    def retire(self, *, reason: str, principal: str, at: dt.datetime) -> None:
        if self.retired:
            raise EntryRetired("再次停用")
        if not reason.strip():
            raise InvalidCommand("停用须说明理由")
        self._retired(reason=reason.strip(), principal=principal, at=at)

    @event("KnowledgeEntryRetired")
    def _retired(self, *, reason: str, principal: str, at: dt.datetime) -> None:
        self.retired = True
        self.retired_reason = reason
        self.updated_at = at

    def propose(
        self, *, unit: str, values: Mapping[str, Any], note: str, principal: str, at: dt.datetime
    ) -> int:
        """A unit's proposed change (建议修改); returns its number."""
        if self.retired:
            raise EntryRetired("提出修改建议")
        changes = self._changes(values)
        number = len(self.proposals) + 1
        self._proposed(
            number=number, unit=unit, changes=changes, note=note.strip(),
            principal=principal, at=at,
        )
        return number

    @event("KnowledgeChangeProposed")
    def _proposed(
        self,
        *,
        number: int,
        unit: str,
        changes: dict[str, list[Any]],
        note: str,
        principal: str,
        at: dt.datetime,
    ) -> None:
        self.proposals.append(
            {
                "number": number,
                "unit": unit,
                "changes": changes,
                "note": note,
                "state": "pending",
                "by": principal,
                "at": at,
                "decided_by": None,
                "decided_at": None,
                "decision_note": "",
            }
        )

    def accept(self, *, number: int, note: str, principal: str, at: dt.datetime) -> None:
        """The centre accepts a proposal: the proposed values as they stand now (a value the
        entry already has is left out; nothing left to change is a 422)."""
        if self.retired:
            raise EntryRetired("采纳修改建议")
        proposal = self._proposal(number)
        changes = self._changes({k: v[1] for k, v in proposal["changes"].items()})
        self._accepted(number=number, changes=changes, note=note.strip(), principal=principal, at=at)

    @event("KnowledgeProposalAccepted")
    def _accepted(
        self,
        *,
        number: int,
        changes: dict[str, list[Any]],
        note: str,
        principal: str,
        at: dt.datetime,
    ) -> None:
        for name, (_, after) in changes.items():
            setattr(self, name, after)
        p = self.proposals[number - 1]
        p.update(state="accepted", decided_by=principal, decided_at=at, decision_note=note)
        self.updated_at = at

    def reject(self, *, number: int, reason: str, principal: str, at: dt.datetime) -> None:
        self._proposal(number)
        if not reason.strip():
            raise InvalidCommand("不采纳须说明理由")
        self._rejected(number=number, reason=reason.strip(), principal=principal, at=at)

    @event("KnowledgeProposalRejected")
    def _rejected(self, *, number: int, reason: str, principal: str, at: dt.datetime) -> None:
        p = self.proposals[number - 1]
        p.update(state="rejected", decided_by=principal, decided_at=at, decision_note=reason)


# The names of the entry's events (the views' fold knows them: projections.fold.OTHER_EVENTS).
KNOWLEDGE_EVENTS = frozenset(
    {
        "KnowledgeEntryCreated",
        "KnowledgeEntryEdited",
        "KnowledgeEntryRetired",
        "KnowledgeChangeProposed",
        "KnowledgeProposalAccepted",
        "KnowledgeProposalRejected",
    }
)


# ---- application commands ---------------------------------------------------------------------


class _App(Protocol):
    """What the commands need of ``engine.application.SanshiApplication``."""

    @property
    def repository(self) -> Any: ...

    clock: Callable[[], dt.datetime]

    def _save_any(self, *aggregates: Any) -> None: ...

    def exists(self, case_id: UUID) -> bool: ...


class Units(Protocol):
    def has_unit(self, unit: str) -> bool: ...

    def category_codes(self) -> Any: ...


class KnowledgeService:
    """The knowledge base's commands, through the application's store (one transaction each;
    a refused command writes nothing)."""

    def __init__(self, app: _App, config: Units) -> None:
        self.app = app
        self.config = config

    def get(self, entry_id: UUID) -> KnowledgeEntry:
        try:
            entry: Any = self.app.repository.get(entry_id)
        except AggregateNotFoundError:
            raise EntryNotFound(entry_id) from None
        if not isinstance(entry, KnowledgeEntry):
            raise EntryNotFound(entry_id)
        return entry

    def _check_refs(self, values: Mapping[str, Any]) -> None:
        category = values.get("category")
        if category and category not in self.config.category_codes():
            raise InvalidCommand(f"分类「{category}」不存在")
        unit = values.get("unit")
        if unit and not self.config.has_unit(unit):
            raise InvalidCommand(f"单位「{unit}」不存在")

    def create(
        self,
        values: Mapping[str, Any],
        principal: str,
        ref: str | None = None,
        at: dt.datetime | None = None,
    ) -> tuple[KnowledgeEntry, bool]:
        """A new entry; with ``ref`` (a seed's key) the same ref lands once. Returns the entry
        and whether it was there before (then nothing is written)."""
        at = at or self.app.clock()
        ref = ref or uuid4().hex
        entry_id = entry_id_for(ref)
        if self.app.exists(entry_id):
            return self.get(entry_id), True
        checked = check_fields(values)
        for required in ("question", "answer"):
            if required not in checked:
                check_fields({required: ""})  # the same refusal as a blank one
        self._check_refs(checked)
        full: dict[str, Any] = {
            name: checked.get(name, None if name.startswith("valid_") else "") for name in FIELDS
        }
        _check_validity(full["valid_from"], full["valid_until"])
        entry = KnowledgeEntry(ref=ref, principal=principal, at=at, **full)
        self.app._save_any(entry)
        return entry, False

    def edit(
        self, entry_id: UUID, values: Mapping[str, Any], principal: str,
        at: dt.datetime | None = None,
    ) -> KnowledgeEntry:
        entry = self.get(entry_id)
        self._check_refs(values)
        entry.edit(values=values, principal=principal, at=at or self.app.clock())
        self.app._save_any(entry)
        return entry

    def retire(
        self, entry_id: UUID, reason: str, principal: str, at: dt.datetime | None = None
    ) -> KnowledgeEntry:
        entry = self.get(entry_id)
        entry.retire(reason=reason, principal=principal, at=at or self.app.clock())
        self.app._save_any(entry)
        return entry

    def propose(
        self,
        entry_id: UUID,
        unit: str,
        values: Mapping[str, Any],
        note: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> tuple[KnowledgeEntry, int]:
        entry = self.get(entry_id)
        self._check_refs(values)
        number = entry.propose(
            unit=unit, values=values, note=note, principal=principal, at=at or self.app.clock()
        )
        self.app._save_any(entry)
        return entry, number

    def decide(
        self,
        entry_id: UUID,
        number: int,
        accept: bool,
        note: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> KnowledgeEntry:
        entry = self.get(entry_id)
        at = at or self.app.clock()
        if accept:
            entry.accept(number=number, note=note, principal=principal, at=at)
        else:
            entry.reject(number=number, reason=note, principal=principal, at=at)
        self.app._save_any(entry)
        return entry

    def seed(
        self, rows: Iterable[Mapping[str, Any]], principal: str, at: dt.datetime | None = None
    ) -> int:
        """Load entries by their ``ref`` (demo content); returns how many were new."""
        new = 0
        for row in rows:
            values = {k: row.get(k) for k in FIELDS if k in row}
            _, existed = self.create(values, principal, ref=str(row["ref"]), at=at)
            new += not existed
        return new


# ---- ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    entry_id: str
    score: float


def _normalise(text: str) -> str:
    import zhconv

    return str(zhconv.convert(text, "zh-cn")).lower()


class EntryRanker:
    """Ranks entries for a text: TF-IDF over character 1–3-grams (scikit-learn), cosine
    similarity with the question counted twice beside the answer. Built once per set of
    entries (the caller keeps it while the entries do not change)."""

    def __init__(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """``entries``: (id, question, answer)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.ids = [e[0] for e in entries]
        self._vectorizer: Any = None
        self._matrix: Any = None
        if not entries:
            return
        docs = [_normalise(f"{q} {q} {a}") for _, q, a in entries]
        self._vectorizer = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1
        )
        self._matrix = self._vectorizer.fit_transform(docs)
        # The question alone, too: a caller's words are the question's far more than the
        # answer's, so the better of the two similarities counts.
        self._questions = self._vectorizer.transform([_normalise(q) for _, q, _ in entries])

    def rank(self, text: str, limit: int = 5, minimum: float = 0.12) -> list[Ranked]:
        if self._vectorizer is None or not text.strip():
            return []
        query = self._vectorizer.transform([_normalise(text)])
        whole = (self._matrix @ query.T).toarray().ravel()
        asked = (self._questions @ query.T).toarray().ravel()
        scores = [max(float(w), float(q)) for w, q in zip(whole, asked, strict=True)]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], self.ids[i]))
        return [
            Ranked(self.ids[i], round(scores[i], 4)) for i in order[:limit] if scores[i] >= minimum
        ]


# ---- the demo district's entries --------------------------------------------------------------

DEMO_ENTRIES = Path(__file__).resolve().parent / "data" / "knowledge_demo.yaml"
DEMO_PRINCIPAL = "system:demo"


def demo_entries(path: Path = DEMO_ENTRIES) -> list[dict[str, Any]]:
    """The demo entries (``engine/data/knowledge_demo.yaml``), each with its source (the file's
    own ``source`` where an entry names none: they are demo content)."""
    data = read_yaml(path.read_text(encoding="utf-8")) or {}
    default_source = str(data.get("source") or "演示内容")
    out = []
    for row in data.get("entries") or []:
        out.append({**row, "source": row.get("source") or default_source})
    return out


def seed_demo(app: _App, config: Units, at: dt.datetime | None = None) -> int:
    """Load the demo entries (once: by their ref); returns how many were new. They were written
    for the bundled district: in another one an entry keeps its answer but not a unit or a
    category that district does not have (the demo of a district's own file must run)."""
    codes = config.category_codes()
    rows = [
        {
            k: v
            for k, v in row.items()
            if not (k == "unit" and v and not config.has_unit(v))
            and not (k == "category" and v and v not in codes)
        }
        for row in demo_entries()
    ]
    return KnowledgeService(app, config).seed(rows, DEMO_PRINCIPAL, at=at)
