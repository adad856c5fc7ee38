"""How each event changes a case's row and the counters of docs/rates.md. Pure Python, no database.

The rules, stated once (they are also the documentation of what the numbers mean):

Attribution in time. Every count of a case lands on the case's RECEIVED day (docs/rates.md: "all over
cases received in [from, to)"), whenever the event that caused it happened.

Case-level scopes (district total, channel, category, street). Each case carries its own counter
vector; the scopes add up the vectors of their cases.
- received 1; merged / rejected 1 if the case ended so; accepted = received − merged − rejected.
- resolved / resolved_on_time: 1 while the case STANDS resolved (办结 or 直办, also after it is
  closed). A reopen (重办) takes the resolution back; resolving it again counts it again. So a
  case resolved, reopened and resolved again is one resolved case, a reopened case still being
  handled is not resolved, and 办结率 can never pass 100%. 直办 counts as on time (answered on
  the call, before any deadline).
- dispatched / returned: one per dispatch / return event; claimed_on_time: one per claim made at
  or before that dispatch's claim deadline.
- mediations_concluded / _succeeded: one per MediationConcluded (with agreement).
- followups / solved / rated / satisfied / basically_satisfied / dissatisfied: one per
  follow-up call (回访), so a case followed up twice counts twice.
- closed_unreachable: one per 未接通结案 (closed after the district's number of unanswered
  follow-up calls); such a case stays resolved and is in no follow-up count.
- category and street are the case's LATEST classification: a re-categorisation moves the whole
  vector of the case from the old category to the new one. Unclassified cases sit under "".

Unit scope. "Per-unit rates count what that unit was given and did":
- dispatched / claimed_on_time / returned / mediations_* go to the unit named by the event;
  follow-ups and 未接通结案 go to the unit that resolved the case (FollowedUp.unit,
  ClosedUnreachable.unit; 直办 → the centre).
- received / merged / rejected / resolved / resolved_on_time go to the unit RESPONSIBLE for the
  case now: the unit it is dispatched to, the unit that resolved it, or the centre while it waits
  there (intake, manual queue, after a return or reopen, 直办, merged, rejected). A unit that
  returns a case is no longer responsible for it (the return shows in its 退单率), so its 办结率
  is resolved / cases it holds. The unit rows therefore add up to the district total, count by
  count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from uuid import UUID

from engine.admin import ADMIN_EVENTS
from engine.deadlines import SHANGHAI
from engine.domain import LEGACY_CENTRE, TERMINAL_STATUSES
from engine.knowledge import KNOWLEDGE_EVENTS
from engine.notices import NOTICE_EVENTS
from engine.projects import PROJECT_EVENTS
from engine.routing.callers import CallerKeys
from projections.coop import CoopCaseRules
from projections.memo import Memo
from projections.shelf import ShelfCaseRules
from projections.tables import COUNT_FIELDS, SNIPPET_CHARS, utc_naive

N_COUNTS = len(COUNT_FIELDS)
INDEX = {f: i for i, f in enumerate(COUNT_FIELDS)}
# Case-level counts that follow the responsible unit (the others follow the event's unit).
RESPONSIBLE_FIELDS = ("received", "merged", "rejected", "resolved", "resolved_on_time")

ZERO_COUNTS = dict.fromkeys(COUNT_FIELDS, 0)
_COUNT_ITEMS = tuple(enumerate(COUNT_FIELDS))
# Instants remembered (then forgotten all at once): an intake's events and a day's deadlines
# come close together in the log, so a few thousand are enough; this bounds the memory.
STAMP_MEMORY = 20_000

WITH_UNIT = frozenset({"dispatched", "claimed", "mediating"})
# The domain's terminal statuses (no action leaves them), as the views store them: the
# projector drops a terminal case's open row and forgets its cached row.
TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)
# The events name the configured centre (AnsweredDirectly.unit, FollowedUp.unit); those written
# before the domain carried its id say LEGACY_CENTRE, or nothing: both fold onto the centre.

# Attributes the fold never reads, by event class: the log reader may leave them unparsed. The
# router's explanation, a hundred JSON objects in every Classified event, is most of the JSON a
# rebuild would parse (bench/RESULTS.md, "Projections: re-measured…", what is left).
UNREAD = {"Classified": "reason"}

# Events of a case that the fold applies without a rule of their own: they change no counter of
# docs/rates.md and no column of the views (only the row's ``updated_at``), by design. Every other
# event needs a handler (``_on_<name>``): an event whose name the fold does not know is an error
# (``UnknownEvent``), so that a renamed or new event cannot stop being counted without a sound.
IGNORED: dict[str, str] = {
    "Urged": "催办 pushes the unit that holds the case: no status, deadline or unit changes, "
    "and no rate counts it",
    "DuplicateLinked": "the target's list of duplicates lives on the aggregate (the case page "
    "reads it there); the views record a merge on the merged case (Merged)",
    "MarkedConfidential": "保密件 hides the caller's name and number, which the views never hold; "
    "who may see them is decided from the aggregate",
    "ContactRevealed": "查看联系方式 is an audit record in the case's history; it changes nothing "
    "about the case",
    "DuplicateUnlinked": "the original's list of merged callers lives on the aggregate (the case "
    "page reads it there); the views record the unmerge on the merged case (Unmerged)",
    "MergeDeclined": "不合并 at intake records the router's proposal the operator set aside; the "
    "case is routed as its own (its Dispatched or SentToManual follows)",
    "AttachmentAdded": "附件 live on the aggregate (the case page reads them there) and their bytes "
    "in the attachment store; no rate counts them",
    "AttachmentPublicity": "公开 / 取消公开 of an attachment changes what Open311 shows, read from "
    "the aggregate; no view column",
    "Numbered": "工单编号 and the predicted 诉求类型: the search view keeps them "
    "(projections.search), beside the case rows",
    "LinkedToForm": "一表通: the form's page reads the form and its items' cases from the log; "
    "each item is a case counted as any other",
    "LinkedToProject": "实事项目: the project view keeps the link (projections.projects, from the "
    "project's ProjectCasesLinked); the case's list (四张清单) is read from it there",
    "Transferred": "转办 is followed by the Dispatched that moves the case to the new unit (its "
    "counts and deadlines); the transfer itself changes no counter",
}

# Events of the log's aggregates other than cases (engine.forms): they have no case row.
OTHER_EVENTS: dict[str, str] = {
    "FormSubmitted": "the 一表通 parent is an aggregate of its own, not a case: no row and no "
    "count (its items are cases, counted as any other)",
    "OrderBookOpened": "a day's order book (engine.order_numbers): numbers cases, is none",
    "OrderNumbersIssued": "a day's order book gave out numbers; each case records its own "
    "(Numbered)",
    "UnitCensured": "通报 / 追责 of a unit: counted for the unit and the district total on the "
    "day it was made (notices, accountabilities)",
    # 实事项目 (engine.projects): the project view keeps them (projections.projects).
    **{
        name: "a practical project (实事项目) is an aggregate of its own: no case row and no "
        "count; view_projects keeps it (projections.projects)"
        for name in sorted(PROJECT_EVENTS)
    },
    # 知识库 (engine.knowledge): the knowledge view keeps them (projections.knowledge).
    **{
        name: "a knowledge-base entry (知识库) is an aggregate of its own: no case row and no "
        "count; view_knowledge keeps it (projections.knowledge)"
        for name in sorted(KNOWLEDGE_EVENTS)
    },
    # 通知 (engine.notices): one record per notice delivered or given up; the notifier's
    # outbox follows them (adapters.notify.outbox), the views count none.
    **{
        name: "the outcome of a notice (通知) is an aggregate of its own: no case row and no count"
        for name in sorted(NOTICE_EVENTS)
    },
    # 管理设置 (engine.admin): the district's own changes, read from the log by the overlay.
    **{
        name: "an admin change to units, categories or routing rules (管理设置): the overlay "
        "reads it from the log (engine.admin); no case row and no count"
        for name in sorted(ADMIN_EVENTS)
    },
}
CENSURE_FIELDS = {"notice": "notices", "accountability": "accountabilities"}

CaseRow = dict[str, Any]
CounterKey = tuple[str, str, dt.date]


class UnknownEvent(ValueError):
    """An event the fold has neither a rule for nor lists in ``IGNORED``. The projector sets it
    aside (隔离事件, ``view_quarantine``) with this message instead of dropping it."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the views have no rule for event {name!r}: give CaseFold an _on_{name} handler, "
            "or list it in projections.fold.IGNORED with why it changes no view"
        )
        self.name = name


def shanghai_day(at: dt.datetime) -> dt.date:
    # The day of the instant the views store (clamped far from year 1 and 9999: utc_naive).
    return utc_naive(at).replace(tzinfo=dt.UTC).astimezone(SHANGHAI).date()


def _month_text(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


_months = Memo(_month_text, 4096)
month_of: Callable[[dt.date], str] = _months.__getitem__
"""``YYYY-MM`` of a day."""


class Deltas:
    """Counter changes of one batch, summed per (kind, key, day) before they are written."""

    def __init__(self) -> None:
        self.rows: dict[CounterKey, list[int]] = {}

    def add(self, kind: str, key: str, day: dt.date, field: str, n: int) -> None:
        if n == 0:
            return
        k = (kind, key, day)
        v = self.rows.get(k)
        if v is None:
            v = self.rows[k] = [0] * N_COUNTS
        v[INDEX[field]] += n

    def add_to(self, keys: Iterable[CounterKey], index: int, n: int) -> None:
        """``n`` to counter ``index`` of each of these (kind, key, day)."""
        rows = self.rows
        for k in keys:
            v = rows.get(k)
            if v is None:
                v = rows[k] = [0] * N_COUNTS
            v[index] += n

    def move(self, old: CounterKey, new: CounterKey, values: list[tuple[int, int]]) -> None:
        """Counters (index, value) taken from ``old`` and added to ``new``."""
        if not values:
            return
        rows = self.rows
        taken = rows.get(old)
        if taken is None:
            taken = rows[old] = [0] * N_COUNTS
        given = rows.get(new)
        if given is None:
            given = rows[new] = [0] * N_COUNTS
        for i, v in values:
            taken[i] -= v
            given[i] += v

    def nonzero(self) -> Iterator[tuple[CounterKey, list[int]]]:
        for k, v in self.rows.items():
            if any(v):
                yield k, v


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _iso_stamp(value: dt.datetime) -> Any:
    return value


class CaseFold(CoopCaseRules, ShelfCaseRules):
    """Applies one decoded event to a case row (a dict of view_cases columns) and records the
    counter changes in ``deltas``. A case received in this batch also carries ``content`` (its
    full text, for the open-cases row). ``stamp`` turns the events' aware datetimes into the
    database's representation once (see ``driver_sql``); it must preserve order."""

    def __init__(
        self,
        centre: str = LEGACY_CENTRE,
        stamp: Callable[[dt.datetime], Any] = _iso_stamp,
        callers: CallerKeys | None = None,
    ) -> None:
        self.centre = centre
        # The caller as the router's duplicate index keys it (open-cases row only).
        self.callers = callers or CallerKeys.default()
        # The same instants come again and again (an intake's events share their time, many
        # cases share a deadline): each is converted once (bench/RESULTS.md, "Numbers moved
        # from comments"). A hit is a dict lookup without a Python frame around it
        # (``__getitem__`` of a dict subclass).
        self._stamps = Memo(stamp, STAMP_MEMORY)
        self._days = Memo(shanghai_day, STAMP_MEMORY)  # received time → Shanghai day
        self._new_row: CaseRow = {
            "units": "",
            "merged_into": None,
            "resolved_unit": None,
            "resolved_at": None,
            "result": None,
            "lat": None,
            "lng": None,
            "status": "received",
            "category": "",
            "locality": "",
            "street": "",
            "unit": None,
            "resp_unit": centre,
            "escalation_level": 0,
            "manual_reason": None,
            "return_count": 0,
            "dispatch_number": 0,
            "dispatched_at": None,
            "claim_deadline": None,
            "handle_deadline": None,
            "claimed_at": None,
            "extension_requested_to": None,
            "extension_requested_at": None,
            "claim_escalated": False,
            "handle_escalated": False,
            "hold_requested_at": None,
            "held_since": None,
            "resume_expected": None,
            "instructions": 0,
            "instructions_answered": 0,
            "instructions_on_time": 0,
            "instruction_at": None,
            "instruction_due": None,
            "callback_due": False,
            "return_pending_at": None,
            "return_from": None,
            "return_suggested": None,
            "return_reason": None,
            "callback_since": None,
            "callbacks_unanswered": 0,
            "callback_closable": False,
            **ZERO_COUNTS,
        }
        # Without a conversion the datetimes stay as the events have them (an equal instant
        # in another zone is not the same value then).
        self.stamp: Callable[[dt.datetime], Any] = (
            stamp if stamp is _iso_stamp else self._stamps.__getitem__
        )
        prefix = "_on_"
        self._handlers: dict[str, Callable[[CaseRow, dict[str, Any], Deltas], None]] = {
            name.removeprefix(prefix): getattr(self, name)
            for name in dir(self)
            if name.startswith(prefix)
        }
        # The events with a rule of their own (``Received`` builds the row).
        self.handled_events = frozenset({"Received", *self._handlers})

    def _unit(self, unit: str | None) -> str:
        return self.centre if unit in (None, LEGACY_CENTRE) else str(unit)

    # ---- counting ------------------------------------------------------------------------

    def _bump(
        self, row: CaseRow, field: str, n: int, deltas: Deltas, unit: str | None = None
    ) -> None:
        if n == 0:
            return
        row[field] += n
        day = row["received_day"]
        target = row["resp_unit"] if field in RESPONSIBLE_FIELDS else self._unit(unit)
        # The case-level scopes (district total, channel, category, street), then the unit,
        # spelled out: these are the hottest lines of a rebuild.
        keys = (
            ("total", "", day),
            ("channel", str(row["channel"] or ""), day),
            ("category", str(row["category"] or ""), day),
            ("street", str(row["street"] or ""), day),
            ("unit", target, day),
        )
        deltas.add_to(keys, INDEX[field], n)

    def _move_scope(
        self,
        row: CaseRow,
        kind: str,
        new_key: str,
        deltas: Deltas,
        values: list[tuple[int, int]] | None = None,
    ) -> list[tuple[int, int]] | None:
        """Moves the case's counters from its old ``kind`` key to ``new_key``; returns the
        (index, value) pairs it moved (or was given), for the next move of the same event."""
        old_key = row[kind] or ""
        if old_key == new_key:
            return values
        if values is None:
            values = [(i, v) for i, f in _COUNT_ITEMS if (v := row[f])]
        day = row["received_day"]
        deltas.move((kind, old_key, day), (kind, new_key, day), values)
        row[kind] = new_key
        return values

    def _move_responsible(self, row: CaseRow, unit: str, deltas: Deltas) -> None:
        old = row["resp_unit"]
        if old == unit:
            return
        day = row["received_day"]
        values = [(INDEX[f], v) for f in RESPONSIBLE_FIELDS if (v := row[f])]
        deltas.move(("unit", old, day), ("unit", unit, day), values)
        row["resp_unit"] = unit

    # ---- events --------------------------------------------------------------------------

    def apply(
        self,
        row: CaseRow | None,
        case_id: UUID,
        name: str,
        e: dict[str, Any],
        deltas: Deltas,
    ) -> CaseRow | None:
        """One event of case ``case_id``: its class name (``Received``, ``Dispatched``, …) and
        its attributes as eventsourcing decodes them (``projections.log_reader``). Raises
        ``UnknownEvent`` for a name that has no handler and is not in ``IGNORED``."""
        if name == "Received":
            if row is not None:  # cannot happen (version 1), but never count a case twice
                return row
            return self._received(case_id, e, deltas)
        if name in OTHER_EVENTS:
            if name == "UnitCensured":
                self._censured(e, deltas)
            return row
        handler = self._handlers.get(name)
        if handler is None and name not in IGNORED:
            raise UnknownEvent(name)
        if row is None:
            # An event of a case whose Received this projection never saw: only possible if
            # the views were built from a truncated log. Nothing to attribute it to.
            return None
        if handler is not None:
            handler(row, e, deltas)
        row["updated_at"] = self.stamp(e["at"])
        return row

    def _received(self, case_id: UUID, e: dict[str, Any], deltas: Deltas) -> CaseRow:
        received_at = e["received_at"]
        day = self._days[received_at]
        extra = e["extra"] if isinstance(e["extra"], dict) else {}
        content = e["content"]
        row = self._new_row.copy()  # what every case starts with, then what this one brings
        row["case_id"] = case_id
        row["channel"] = e["channel"]
        row["source_ref"] = e["source_ref"]
        row["received_at"] = self.stamp(received_at)
        row["received_day"] = day
        row["received_month"] = month_of(day)
        row["updated_at"] = self.stamp(e["at"])
        row["concern"] = e["concern"]
        row["address"] = e["address"][:500]
        row["snippet"] = content[:SNIPPET_CHARS]
        if extra:  # most channels bring no coordinates (the new row's are None)
            row["lat"] = _float_or_none(extra.get("lat"))
            row["lng"] = _float_or_none(extra.get("lng"))
        row["urgent"] = bool(e["urgent"])
        row["content"] = content
        callers = self.callers
        row["caller_key"] = callers.phone(str(e.get("caller_phone") or ""))
        row["caller_name_key"] = callers.name(str(e.get("caller_name") or ""))
        row["appeal_type"] = str(e.get("appeal_type") or "")
        self._bump(row, "received", 1, deltas)
        return row

    def _on_Classified(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        # One look at the case's counters for both moves (no event between changes them).
        moved = self._move_scope(row, "category", e["category"] or "", deltas)
        self._move_scope(row, "street", e["street"] or "", deltas, moved)
        row["locality"] = e["locality"] or ""
        row["urgent"] = bool(e["urgent"])

    def _on_Dispatched(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        unit = str(e["unit"])
        row["status"] = "dispatched"
        row["hold_requested_at"] = None
        row["unit"] = unit
        units = row["units"] or "|"
        if f"|{unit}|" not in units:
            row["units"] = f"{units}{unit}|"
        row["dispatch_number"] = e["number"]
        row["dispatched_at"] = self.stamp(e["at"])
        row["claim_deadline"] = self.stamp(e["claim_deadline"])
        row["handle_deadline"] = self.stamp(e["handle_deadline"])
        row["claimed_at"] = None
        row["extension_requested_to"] = None
        row["extension_requested_at"] = None
        row["claim_escalated"] = False
        row["handle_escalated"] = False
        row["manual_reason"] = None
        self._move_responsible(row, unit, deltas)
        self._bump(row, "dispatched", 1, deltas, unit)

    def _on_Claimed(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "claimed"
        at = self.stamp(e["at"])
        row["claimed_at"] = at
        deadline = row["claim_deadline"]
        on_time = deadline is not None and at <= deadline
        self._bump(row, "claimed_on_time", int(on_time), deltas, e["unit"])

    def _on_Returned(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "returned"
        row["hold_requested_at"] = None
        row["unit"] = None
        row["return_count"] += 1
        if e.get("review"):  # 待审退单 (events before review existed have none)
            row["return_pending_at"] = self.stamp(e["at"])
            row["return_from"] = str(e["unit"])
            row["return_suggested"] = e.get("suggested_unit") or None
            row["return_reason"] = str(e["reason"])[:500]
        self._bump(row, "returned", 1, deltas, e["unit"])
        self._move_responsible(row, self.centre, deltas)

    def _on_ExtensionRequested(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["extension_requested_to"] = self.stamp(e["until"])
        row["extension_requested_at"] = self.stamp(e["at"])

    def _on_ExtensionDecided(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["extension_requested_to"] = None
        row["extension_requested_at"] = None
        if e["granted"]:
            row["handle_deadline"] = self.stamp(e["until"])
            row["handle_escalated"] = False  # a new deadline, escalated again if missed

    def _on_MediationStarted(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "mediating"
        row["hold_requested_at"] = None

    def _on_MediationConcluded(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "claimed"
        self._bump(row, "mediations_concluded", 1, deltas, e["unit"])
        self._bump(row, "mediations_succeeded", int(bool(e["agreement"])), deltas, e["unit"])

    def _on_Resolved(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        unit = str(e["unit"])
        row["status"] = "resolved"
        row["hold_requested_at"] = None
        row["unit"] = None
        row["resolved_unit"] = unit
        row["resolved_at"] = self.stamp(e["at"])
        row["result"] = str(e["result"])[:500]
        self._waits_for_callback(row, e)
        self._move_responsible(row, unit, deltas)
        self._bump(row, "resolved", 1, deltas)
        self._bump(row, "resolved_on_time", int(bool(e["on_time"])), deltas)

    def _on_AnsweredDirectly(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        centre = self._unit(e.get("unit"))
        row["status"] = "answered_directly"
        row["unit"] = None
        row["resolved_unit"] = centre
        row["resolved_at"] = self.stamp(e["at"])
        row["result"] = str(e["answer"])[:500]
        self._waits_for_callback(row, e)
        self._move_responsible(row, centre, deltas)
        self._bump(row, "resolved", 1, deltas)
        self._bump(row, "resolved_on_time", 1, deltas)

    def _on_Rejected(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "rejected"
        row["unit"] = None
        row["result"] = str(e["reason"])[:500]
        self._move_responsible(row, self.centre, deltas)
        self._bump(row, "rejected", 1, deltas)

    def _on_TransferredOut(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        # 跨区转办 (docs/city.md): this district did not take the case on (不予受理 in the sense
        # of 有效受理: it is another district's), so it leaves this district's accepted cases and
        # its 办结率 and is counted in ``rejected``; the status tells it apart (已转出). A return
        # waiting for review lapses with it (projections.returns), as on a merge.
        row["status"] = "transferred_out"
        row["unit"] = None
        row["result"] = str(e["reason"])[:500]
        self._move_responsible(row, self.centre, deltas)
        self._bump(row, "rejected", 1, deltas)

    def _on_FollowedUp(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        unit = self._unit(e["unit"])
        self._bump(row, "followups", 1, deltas, unit)
        self._bump(row, "solved", int(bool(e["solved"])), deltas, unit)
        if e["rating"]:
            self._bump(row, "rated", 1, deltas, unit)
            if e["rating"] in ("satisfied", "basically_satisfied", "dissatisfied"):
                self._bump(row, str(e["rating"]), 1, deltas, unit)

    def _on_Reopened(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "reopened"
        row["unit"] = None
        self._bump(row, "resolved", -row["resolved"], deltas)
        self._bump(row, "resolved_on_time", -row["resolved_on_time"], deltas)
        self._move_responsible(row, self.centre, deltas)

    def _on_Closed(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "closed"
        row["unit"] = None
        row["callback_due"] = False

    def _on_Escalated(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["escalation_level"] = e["level"]
        if e["kind"] == "claim":
            row["claim_escalated"] = True
        elif e["kind"] == "handle":
            row["handle_escalated"] = True

    def _on_Merged(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "merged"
        row["unit"] = None
        row["merged_into"] = e["target"]
        self._move_responsible(row, self.centre, deltas)
        self._bump(row, "merged", 1, deltas)

    def _on_SentToManual(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["manual_reason"] = str(e["reason"])

    # ---- 挂起 (docs/lifecycle.md): the handling clock stops; no rate counts the request ---------

    def _on_HoldRequested(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["hold_requested_at"] = self.stamp(e["at"])

    def _on_HoldDecided(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["hold_requested_at"] = None
        if e["granted"]:
            row["status"] = "on_hold"
            row["held_since"] = self.stamp(e["at"])
            expected = e.get("expected_resume")
            row["resume_expected"] = self.stamp(expected) if expected is not None else None

    def _on_Resumed(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        # The handling deadline moved later by the paused time: a new deadline, escalated
        # again if missed; 按时办结 compares the resolution with it.
        row["status"] = "claimed"
        row["held_since"] = None
        row["resume_expected"] = None
        row["handle_deadline"] = self.stamp(e["handle_deadline"])
        row["handle_escalated"] = False

    # ---- 领导批示: tracked on the case's row (批示跟踪) ------------------------------------------

    def _on_Instructed(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["instructions"] += 1
        row["instruction_at"] = self.stamp(e["at"])
        row["instruction_due"] = self.stamp(e["due"])

    def _on_InstructionAnswered(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["instructions_answered"] += 1
        row["instructions_on_time"] += int(bool(e["on_time"]))
        row["instruction_at"] = None
        row["instruction_due"] = None

    # ---- merges under the centre's hand (docs/lifecycle.md, Merges) ---------------------------

    def _on_Unmerged(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        # The case is its own again: no longer counted as merged (so it is accepted), at the
        # centre until the router's Dispatched (or SentToManual) that follows.
        row["status"] = "received"
        row["merged_into"] = None
        row["resolved_unit"] = None
        row["callback_due"] = False
        # A return that waited when the case was merged lapsed with the merge (view_returns
        # counts it so); the merged row kept its fields until now, the 待审退单 queue skips it.
        self._return_settled(row)
        self._bump(row, "merged", -row["merged"], deltas)

    def _on_OriginalResolved(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        # The merged caller waits for a callback (待回访); its rating counts for this unit.
        row["callback_due"] = True
        self._waits_for_callback(row, e)
        row["resolved_unit"] = self._unit(e["unit"])
        row["result"] = str(e["result"])[:500]

    # ---- 通报 / 追责: counted for the unit and the district on the day they were made ----------

    def _censured(self, e: dict[str, Any], deltas: Deltas) -> None:
        field = CENSURE_FIELDS.get(str(e["kind"]))
        if field is None:
            raise ValueError(f"unknown censure kind {e['kind']!r}")
        day = self._days[e["at"]]
        deltas.add("total", "", day, field, 1)
        deltas.add("unit", self._unit(e["unit"]), day, field, 1)

    # ---- 退单审核 and 回访未接通 (docs/lifecycle.md, docs/rates.md) -----------------------------------

    @staticmethod
    def _return_settled(row: CaseRow) -> None:
        """No return waits for review any more (decided, or lapsed as the case left)."""
        row["return_pending_at"] = None
        row["return_from"] = None
        row["return_suggested"] = None
        row["return_reason"] = None

    def _on_ReturnReviewed(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        self._return_settled(row)
        if e["approved"]:
            return  # the Dispatched that follows moves the case
        # Refused: back to the unit that returned it, in the status it left; the deadlines of
        # that dispatch stand (the row kept them). The return still counts (退单率).
        unit = str(e["unit"])
        row["status"] = str(e["restored"] or "dispatched")
        row["unit"] = unit
        row["manual_reason"] = None
        self._move_responsible(row, unit, deltas)

    def _waits_for_callback(self, row: CaseRow, e: dict[str, Any]) -> None:
        row["callback_since"] = self.stamp(e["at"])
        row["callbacks_unanswered"] = 0
        row["callback_closable"] = False

    def _on_CallbackUnanswered(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["callbacks_unanswered"] = int(e["attempt"])
        row["callback_closable"] = int(e["attempt"]) >= int(e["max_unanswered"])

    def _on_ClosedUnreachable(self, row: CaseRow, e: dict[str, Any], deltas: Deltas) -> None:
        row["status"] = "closed"
        row["unit"] = None
        self._bump(row, "closed_unreachable", 1, deltas, self._unit(e["unit"]))
