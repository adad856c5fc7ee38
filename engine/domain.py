"""The Case aggregate (工单): the whole lifecycle of docs/lifecycle.md as events.

Pure domain code. It imports no infrastructure: deadlines, routing and time are computed by
the application service and handed in, so that replaying the log never depends on a clock,
a calendar package or a model. Every event carries who acted (``principal``), for which unit
(``unit``) and when in business time (``at``, timezone-aware; the simulator runs weeks in
seconds, so the recording time of the event store is not business time).

The shape follows pyeventsourcing's examples: a public command method checks the transition
against one table (:data:`ALLOWED`) and then triggers a private ``@event`` method that only
mutates state. Replaying the log runs the private methods alone, so a command that is refused
writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

# The codes (and their Chinese labels) live in the one vocabulary; re-exported here because
# they are the domain's words.
from engine.vocabulary import ACTIONS, PART_STATUSES, STATUSES
from engine.vocabulary import Action as Action
from engine.vocabulary import DeadlineKind as DeadlineKind
from engine.vocabulary import PartStatus as PartStatus
from engine.vocabulary import Rating as Rating
from engine.vocabulary import Status as Status

# docs/channels.md: case id = uuid5(SANSHI_NAMESPACE, f"{channel}:{source_ref}").
SANSHI_NAMESPACE = UUID("5a7d3f1e-2c4b-5e6f-8a9b-0c1d2e3f4a5b")

MAX_RETURNS_BEFORE_MANUAL = 3
# The district centre's id is the configured one (config.centre.id), passed into the commands
# that name it. Events written before that named it with this literal; whoever reads the log
# (the aggregate, the folds) takes it for the configured centre.
LEGACY_CENTRE = "centre"


def case_id_for(channel: str, source_ref: str) -> UUID:
    """The deterministic case id: the same record sent twice lands once."""
    return uuid5(SANSHI_NAMESPACE, f"{channel}:{source_ref}")


OPEN_STATUSES = frozenset(
    {
        Status.RECEIVED,
        Status.DISPATCHED,
        Status.CLAIMED,
        Status.MEDIATING,
        Status.RETURNED,
        Status.REOPENED,
        Status.ON_HOLD,
    }
)
# ``merged`` is not terminal: the centre may unmerge the case (it becomes its own case again),
# and a merged caller is called back when the original is resolved, then closed.
TERMINAL_STATUSES = frozenset({Status.CLOSED, Status.REJECTED, Status.TRANSFERRED_OUT})


_AT_CENTRE = frozenset({Status.RECEIVED, Status.RETURNED, Status.REOPENED})
_WITH_UNIT = frozenset({Status.DISPATCHED, Status.CLAIMED, Status.MEDIATING})
# 挂起中: the unit still holds the case, but its clocks do not run (no 督办, no urge).
_HELD_BY_UNIT = _WITH_UNIT | {Status.ON_HOLD}

# The one table of legal transitions: action -> states it may be taken from.
ALLOWED: dict[Action, frozenset[Status]] = {
    Action.CLASSIFY: _AT_CENTRE,
    Action.DISPATCH: _AT_CENTRE,
    Action.CLAIM: frozenset({Status.DISPATCHED}),
    Action.RETURN: frozenset({Status.DISPATCHED, Status.CLAIMED}),
    Action.REQUEST_EXTENSION: frozenset({Status.CLAIMED, Status.MEDIATING}),
    Action.DECIDE_EXTENSION: frozenset({Status.CLAIMED, Status.MEDIATING}),
    Action.START_MEDIATION: frozenset({Status.CLAIMED}),
    Action.CONCLUDE_MEDIATION: frozenset({Status.MEDIATING}),
    Action.RESOLVE: frozenset({Status.CLAIMED}),
    # A merged caller is called back too, once the original is resolved (OriginalResolved).
    Action.FOLLOW_UP: frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY, Status.MERGED}),
    Action.ANSWER_DIRECTLY: frozenset({Status.RECEIVED}),
    Action.REJECT: frozenset({Status.RECEIVED}),
    Action.MERGE: _AT_CENTRE,
    Action.ESCALATE: _WITH_UNIT,
    Action.URGE: _WITH_UNIT,
    Action.SEND_TO_MANUAL: _AT_CENTRE,
    Action.LINK_DUPLICATE: OPEN_STATUSES | {Status.RESOLVED},
    Action.CLOSE: frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY}),
    # Only the unit that has claimed the case and is handling it may call the resident.
    Action.REVEAL_CONTACT: frozenset({Status.CLAIMED, Status.MEDIATING}),
    # 挂起: asked by the unit handling the case, decided by the centre, ended by either.
    Action.REQUEST_HOLD: frozenset({Status.CLAIMED}),
    Action.DECIDE_HOLD: frozenset({Status.CLAIMED}),
    Action.RESUME: frozenset({Status.ON_HOLD}),
    # 领导批示: on a case a unit holds (suspended too), answered by that unit.
    Action.INSTRUCT: _HELD_BY_UNIT,
    Action.ANSWER_INSTRUCTION: _HELD_BY_UNIT,
    # 主办/协办: parts live while a lead unit holds the case; the lead whistles once it has
    # signed for the case; the clock escalates a part only while the lead's clocks run too.
    Action.ADD_ASSIST: _HELD_BY_UNIT,
    Action.WHISTLE: frozenset({Status.CLAIMED, Status.MEDIATING}),
    Action.CLAIM_PART: _HELD_BY_UNIT,
    Action.REPORT_PART: _HELD_BY_UNIT,
    Action.RETURN_PART: _HELD_BY_UNIT,
    Action.CLOSE_PART: _HELD_BY_UNIT,
    Action.ESCALATE_PART: _WITH_UNIT,
    # Merges under the centre's hand: a merged case is taken out again (then routed as its own
    # case), and is told when its original is resolved (a callback is then due).
    Action.UNMERGE: frozenset({Status.MERGED}),
    Action.ORIGINAL_RESOLVED: frozenset({Status.MERGED}),
    # 退单审核: a return waiting at the centre; 转办: the centre moves a case a unit holds.
    Action.REVIEW_RETURN: frozenset({Status.RETURNED}),
    Action.TRANSFER: _WITH_UNIT,
    # 回访未接通 / 未接通结案: the follow-up call nobody answers.
    Action.CALLBACK_UNANSWERED: frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY}),
    Action.CLOSE_UNREACHABLE: frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY}),
    # 认领大厅 (the open shelf): a case waiting at the centre is put on the shelf instead of
    # being dispatched; units apply to claim it; the centre accepts one (a dispatch to it) or
    # refuses, or takes the case off the shelf (下架).
    Action.SHELVE: _AT_CENTRE,
    Action.UNSHELVE: _AT_CENTRE,
    Action.APPLY_CLAIM: _AT_CENTRE,
    Action.DECIDE_CLAIM: _AT_CENTRE,
    # 实事项目 (engine/projects.py): an open case is taken into a project; the project's
    # completion resolves it (as the owner unit) wherever it waits, at the centre or a unit.
    Action.LINK_PROJECT: OPEN_STATUSES,
    Action.PROJECT_RESOLVE: OPEN_STATUSES,
    # 跨区转办 (docs/city.md): a case waiting at the centre (received, returned, reopened) that
    # belongs to another district of the city leaves this one as 已转出.
    Action.TRANSFER_OUT: _AT_CENTRE,
}
# What the centre does with a case at the centre other than through the shelf: refused while
# the case is on the shelf (take it off first, or decide a claim), so that a claimant is never
# overtaken by a dispatch it does not know of.
_OFF_SHELF_FIRST = frozenset(
    {
        Action.DISPATCH,
        Action.ANSWER_DIRECTLY,
        Action.REJECT,
        Action.MERGE,
        Action.SEND_TO_MANUAL,
        Action.REVIEW_RETURN,
        Action.TRANSFER_OUT,
    }
)


class DomainError(Exception):
    """A command the case refuses. Carries a machine code and a Chinese message."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IllegalTransition(DomainError):
    code = "illegal_transition"

    def __init__(self, status: Status, action: Action) -> None:
        super().__init__(
            f"工单当前状态为「{STATUSES.label(status)}」({status.value})，"
            f"不能执行「{ACTIONS.label(action)}」({action.value})"
        )
        self.status = status
        self.action = action


class NotAssignedUnit(DomainError):
    code = "not_assigned_unit"

    def __init__(self, unit: str, assigned: str | None) -> None:
        super().__init__(f"该工单当前由「{assigned or '中心'}」承办，单位「{unit}」无权操作")
        self.unit = unit
        self.assigned = assigned


class InvalidCommand(DomainError):
    code = "invalid_command"


class PartConflict(DomainError):
    """主办/协办: the action conflicts with the state of the parts (a part not yet in when the
    lead resolves, a part already signed for, already in, a unit already assisting): HTTP 409."""

    code = "part_conflict"


class MergeRefused(IllegalTransition):
    """A merge the centre may not make (into itself, into a case that is closed or itself
    merged, a case that others are merged into): 409 like every illegal transition."""

    code = "merge_refused"

    def __init__(self, status: Status, message: str) -> None:
        DomainError.__init__(self, message)
        self.status = status
        self.action = Action.MERGE


class NothingPending(IllegalTransition):
    """The status allows the action but what it answers is not there (no return waiting for
    review, fewer unanswered calls than the district requires): refused as an illegal
    transition (HTTP 409), with a message that says what is missing."""

    def __init__(self, status: Status, action: Action, message: str) -> None:
        super().__init__(status, action)
        self.message = message
        self.args = (message,)


class AttachmentRefused(IllegalTransition):
    """An attachment the case does not take now (a unit that does not hold the case, a closed
    case, one attachment too many, a publicity change for an attachment it does not have):
    409 like every illegal transition, nothing written."""

    code = "attachment_refused"

    def __init__(self, status: Status, message: str, action: Action = Action.RESOLVE) -> None:
        DomainError.__init__(self, message)
        self.status = status
        self.action = action


class ShelfConflict(IllegalTransition):
    """认领大厅: the shelf's state does not allow it (not on the shelf, already there, a claim
    already made or already decided): HTTP 409 with the reason."""

    code = "shelf_conflict"

    def __init__(self, status: Status, action: Action, message: str) -> None:
        DomainError.__init__(self, message)
        self.status = status
        self.action = action


class ProjectRefused(IllegalTransition):
    """实事项目: a case the project may not take (closed, merged, already in a project) or a
    project command its state refuses (linking to or completing a completed project): 409 like
    every illegal transition, nothing written."""

    code = "project_refused"

    def __init__(self, status: Status, message: str, action: Action = Action.LINK_PROJECT) -> None:
        DomainError.__init__(self, message)
        self.status = status
        self.action = action


class ConfidentialCase(DomainError):
    """保密件: the caller asked that no unit learn who they are; the centre relays."""

    code = "confidential"

    def __init__(self) -> None:
        super().__init__("保密件，请联系中心转达")


@dataclass(frozen=True)
class Dispatch:
    """One assignment to a unit and its two clocks (签收 / 办理)."""

    number: int
    unit: str
    at: datetime
    claim_deadline: datetime
    handle_deadline: datetime
    claimed_at: datetime | None = None
    extension_requested_to: datetime | None = None
    note: str = ""  # the centre's dispatch note (派单说明), shown to the unit


# A part of a co-handled case is "in" (the lead may resolve) when reported or closed.
PART_OPEN = frozenset({PartStatus.ASSIGNED, PartStatus.CLAIMED})
PART_IN = frozenset({PartStatus.REPORTED, PartStatus.CLOSED})


@dataclass(frozen=True)
class Part:
    """协办: one assisting unit's part of a case, with its own two clocks (签收 / 办理); for a
    whistled department (吹哨报到) the claim deadline is the deadline to report in (报到)."""

    number: int
    unit: str
    at: datetime
    claim_deadline: datetime
    handle_deadline: datetime
    whistle: int | None = None  # the number of the whistle that called it in, if any
    state: PartStatus = PartStatus.ASSIGNED
    claimed_at: datetime | None = None
    reported_at: datetime | None = None
    feedback: str | None = None
    note: str | None = None  # the reason it was returned, or the centre's note closing it
    escalated: tuple[str, ...] = ()


class Case(Aggregate):
    """工单: one grievance, from intake to close."""

    @staticmethod
    def create_id(channel: str, source_ref: str) -> UUID:
        return case_id_for(channel, source_ref)

    @event("Received")
    def __init__(
        self,
        *,
        channel: str,
        source_ref: str,
        received_at: datetime,
        content: str,
        address: str,
        caller_name: str,
        caller_phone: str,
        appeal_type: str,
        urgent: bool,
        category_hint: str,
        concern: str,
        extra: dict[str, Any],
        principal: str,
        at: datetime,
    ) -> None:
        self.channel = channel
        self.source_ref = source_ref
        self.received_at = received_at
        self.content = content
        self.address = address
        self.caller_name = caller_name
        self.caller_phone = caller_phone
        self.appeal_type = appeal_type
        self.urgent = urgent
        self.category_hint = category_hint
        self.concern = concern
        self.extra = dict(extra)
        # 保密件: set by its own event (MarkedConfidential, recorded with Received when the
        # caller asks at intake), so that Received keeps its shape and the log replays as is.
        self.confidential = False
        self.status = Status.RECEIVED
        self.category: str | None = None
        self.locality: str | None = None
        self.street: str | None = None
        self.leaf: str | None = None  # the catalogue item below the category (诉求分类目录)
        self.dispatch: Dispatch | None = None
        self.dispatch_count = 0
        self.units_ever: list[str] = []  # every unit this case was dispatched to (who may see it)
        self.returned_by: list[str] = []
        self.return_count = 0
        self.escalation_level = 0
        self.escalated_keys: list[str] = []
        self.manual_reason: str | None = None
        self.merged_into: UUID | None = None
        self.duplicates: list[UUID] = []
        self.resolved_at: datetime | None = None
        self.resolved_unit: str | None = None
        self.rating: Rating | None = None
        self.solved: bool | None = None
        self.mediation_agreement: bool | None = None
        # 挂起: the pending request (reason, expected resume, who, when), the start of the
        # current suspension, the last refusal's note (for the unit), the paused working days.
        self.hold_request: dict[str, Any] | None = None
        self.held_since: datetime | None = None
        self.resume_expected: datetime | None = None  # the clock resumes the case then
        self.hold_refusal: str | None = None
        self.paused_workdays = 0
        # 领导批示, in order: number, text, by, at, due, unit, reply, answered_at, on_time.
        self.instructions: list[dict[str, Any]] = []
        # 主办/协办: the assisting units' parts, in order; 吹哨报到: each whistle blown.
        self.parts: list[Part] = []
        self.whistles: list[dict[str, Any]] = []
        # Merges under the centre's hand: a callback is due once the original is resolved
        # (with the original's result, told to the merged caller). 一表通: the parent form.
        self.callback_due = False
        self.original_result: str | None = None
        self.form: dict[str, Any] | None = None
        # 实事项目 (engine/projects.py): the project this case was taken into (id, title).
        self.project: dict[str, Any] | None = None
        # 退单审核: the return waiting for the centre (unit, reason, suggested unit, the status
        # it left), and the centre's note when it refused the last one (the unit sees it).
        self.return_review: dict[str, Any] | None = None
        self.return_refusal: str | None = None
        # What the centre wrote to the unit (dispatch and transfer notes, 催办, the decisions on
        # its requests and returns), in order: kind (an Action code), text, by, at, unit.
        self.centre_notes: list[dict[str, Any]] = []
        # 回访: every call answered (solved, rating, the resident's comment), and the calls
        # nobody answered since the case was last resolved, with the district's limit then.
        self.callbacks: list[dict[str, Any]] = []
        self.callbacks_unanswered = 0
        self.max_unanswered: int | None = None
        # 附件 (engine.attachments): what AttachmentAdded recorded (digest, kind, mime, size,
        # name, stage, public, preview, source_url, unit, by, at), in order.
        self.attachments: list[dict[str, Any]] = []
        # 认领大厅: the listing while the case is on the shelf (number, service, summary, by, at),
        # how many times it was listed, and every claim made (number, listing, unit, note, by,
        # at, state pending/accepted/refused/lapsed, reason, decided_at), in order.
        self.shelf: dict[str, Any] | None = None
        self.shelf_listings = 0
        self.shelf_claims: list[dict[str, Any]] = []
        # 跨区转办 (docs/city.md): the district it was handed to, and why, once transferred out.
        self.transferred_to: dict[str, Any] | None = None
        # Netflix Dispatch keeps a timestamp per status; so do we.
        self.status_times: dict[str, datetime] = {Status.RECEIVED.value: at}

    # ---- helpers -------------------------------------------------------------------------

    @property
    def pending_instruction(self) -> dict[str, Any] | None:
        """The 批示 waiting for the unit's reply (one at a time)."""
        return next((i for i in self.instructions if i["answered_at"] is None), None)

    def resume_due(self, now: datetime) -> bool:
        """Suspended with an expected resume time that has come: the clock resumes it."""
        return (
            self.status == Status.ON_HOLD
            and self.resume_expected is not None
            and now >= self.resume_expected
        )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def assigned_unit(self) -> str | None:
        if self.status in _HELD_BY_UNIT and self.dispatch is not None:
            return self.dispatch.unit
        return None

    def offers(self, action: Action) -> bool:
        """Whether the action can be taken now: the table allows it from this status and what
        it answers is there (a request to decide, an instruction to reply to) or what it starts
        is not pending already. The commands refuse the rest; the UI offers exactly these."""
        if self.status not in ALLOWED[action]:
            return False
        if self.shelf is not None and action in _OFF_SHELF_FIRST:
            return False
        extension_asked = self.dispatch is not None and self.dispatch.extension_requested_to is not None
        pending = {
            Action.DECIDE_HOLD: self.hold_request is None,
            Action.REQUEST_HOLD: self.hold_request is not None,
            Action.ANSWER_INSTRUCTION: self.pending_instruction is None,
            Action.INSTRUCT: self.pending_instruction is not None,
            Action.DECIDE_EXTENSION: not extension_asked,
            Action.REQUEST_EXTENSION: extension_asked,
            # 主办/协办: the lead resolves when every part is in; a part action needs a part.
            Action.RESOLVE: bool(self.outstanding_parts),
            Action.CLAIM_PART: not self._parts_in(PartStatus.ASSIGNED),
            Action.REPORT_PART: not self._parts_in(PartStatus.CLAIMED),
            Action.RETURN_PART: not self._parts_in(*PART_OPEN),
            Action.CLOSE_PART: not self.outstanding_parts,
            # A merged caller is called back once the original is resolved, not before.
            Action.FOLLOW_UP: self.status == Status.MERGED and not self.callback_due,
            Action.REVIEW_RETURN: self.return_review is None,
            Action.CLOSE_UNREACHABLE: not self.unreachable,
            Action.SHELVE: self.shelf is not None or self.return_review is not None,
            Action.UNSHELVE: self.shelf is None,
            Action.APPLY_CLAIM: self.shelf is None,
            Action.DECIDE_CLAIM: not self.pending_claims,
        }
        return not pending.get(action, False)

    @property
    def unreachable(self) -> bool:
        """回访 unanswered as often as the district requires before 未接通结案."""
        return self.max_unanswered is not None and self.callbacks_unanswered >= self.max_unanswered

    def _note(self, kind: Action, text: str, principal: str, at: datetime, unit: str | None) -> None:
        """A note of the centre to the unit (kept only when there is text)."""
        if text and text.strip():
            self.centre_notes.append(
                {"kind": kind.value, "text": text, "by": principal, "at": at, "unit": unit}
            )

    def _require(self, action: Action, unit: str | None = None) -> None:
        if self.status not in ALLOWED[action]:
            raise IllegalTransition(self.status, action)
        if self.shelf is not None and action in _OFF_SHELF_FIRST:
            raise ShelfConflict(
                self.status, action, "工单在认领大厅中：请先下架，或审核认领申请"
            )
        if unit is not None and self.assigned_unit != unit:
            raise NotAssignedUnit(unit, self.assigned_unit)

    def _enter(self, status: Status, at: datetime) -> None:
        if status not in (Status.CLAIMED, Status.ON_HOLD):
            # A request to suspend lapses when the case leaves the unit's handling.
            self.hold_request = None
        if status != Status.RETURNED:
            # A return waits for review only while the case is back at the centre.
            self.return_review = None
        self.status = status
        self.status_times[status.value] = at

    # ---- commands ------------------------------------------------------------------------

    def classify(
        self,
        *,
        category: str,
        urgent: bool,
        locality: str | None,
        street: str | None,
        reason: dict[str, Any],
        override: bool,
        principal: str,
        at: datetime,
        leaf: str | None = None,
    ) -> None:
        """Router decision (分类/定属地) or an operator's re-categorisation; ``leaf``: the item of
        the category tree below ``category`` (a code starting with it), when known."""
        self._require(Action.CLASSIFY)
        if leaf is not None and not leaf.startswith(category + "."):
            raise InvalidCommand(f"分类目录事项「{leaf}」不属于分类「{category}」")
        self._classified(
            category=category,
            urgent=urgent,
            locality=locality,
            street=street,
            reason=reason,
            override=override,
            principal=principal,
            at=at,
            leaf=leaf,
        )

    @event("Classified")
    def _classified(
        self,
        *,
        category: str,
        urgent: bool,
        locality: str | None,
        street: str | None,
        reason: dict[str, Any],
        override: bool,
        principal: str,
        at: datetime,
        leaf: str | None = None,
    ) -> None:
        # ``leaf``: events written before the category tree have none.
        self.category = category
        self.leaf = leaf
        self.urgent = urgent
        self.locality = locality
        self.street = street

    def dispatch_to(
        self,
        *,
        unit: str,
        claim_deadline: datetime,
        handle_deadline: datetime,
        reason: dict[str, Any],
        principal: str,
        at: datetime,
    ) -> None:
        """派单 / 转派. Never back to a unit that returned this case."""
        self._require(Action.DISPATCH)
        if unit in self.returned_by:
            raise InvalidCommand(f"单位「{unit}」已退回过此工单，不能再次派给它")
        if not (claim_deadline > at and handle_deadline > at):
            raise InvalidCommand("时限必须晚于派单时间")
        if self.return_review is not None:
            # The centre dispatching a case whose return waits for review approves the return.
            note = reason.get("note") if isinstance(reason, dict) else ""
            self._approve_pending_return(unit, str(note or ""), principal, at)
        self._dispatched(
            unit=unit,
            number=self.dispatch_count + 1,
            claim_deadline=claim_deadline,
            handle_deadline=handle_deadline,
            reason=reason,
            principal=principal,
            at=at,
        )

    @event("Dispatched")
    def _dispatched(
        self,
        *,
        unit: str,
        number: int,
        claim_deadline: datetime,
        handle_deadline: datetime,
        reason: dict[str, Any],
        principal: str,
        at: datetime,
    ) -> None:
        self.dispatch_count = number
        why = reason if isinstance(reason, dict) else {}
        note = str(why.get("note") or "")
        self.dispatch = Dispatch(number, unit, at, claim_deadline, handle_deadline, note=note)
        kind = (
            Action.TRANSFER
            if why.get("transfer")
            else Action.REVIEW_RETURN
            if why.get("review")
            else Action.DISPATCH
        )
        self._note(kind, note, principal, at, unit)
        if unit not in self.units_ever:
            self.units_ever.append(unit)
        self.manual_reason = None
        self._enter(Status.DISPATCHED, at)

    def claim(self, *, unit: str, principal: str, at: datetime) -> None:
        self._require(Action.CLAIM, unit)
        self._claimed(unit=unit, principal=principal, at=at)

    @event("Claimed")
    def _claimed(self, *, unit: str, principal: str, at: datetime) -> None:
        assert self.dispatch is not None
        self.dispatch = _replace(self.dispatch, claimed_at=at)
        self._enter(Status.CLAIMED, at)

    def return_case(
        self,
        *,
        unit: str,
        reason: str,
        principal: str,
        at: datetime,
        suggested_unit: str | None = None,
        review: bool = False,
    ) -> None:
        """退单 with its reason and, when the unit knows, the unit it belongs to (建议承办单位):
        both are lessons for the router (engine.routing.learning.corrections). ``review``: the
        return waits for the centre's review (退单审核) instead of being re-routed at once."""
        self._require(Action.RETURN, unit)
        if not reason.strip():
            raise InvalidCommand("退单必须说明理由")
        if suggested_unit == unit:
            raise InvalidCommand("建议承办单位不能是退单单位自己")
        self._returned(
            unit=unit,
            reason=reason,
            principal=principal,
            at=at,
            suggested_unit=suggested_unit or None,
            review=review,
        )
        if self.return_count >= MAX_RETURNS_BEFORE_MANUAL:
            self._sent_to_manual(
                reason=f"已退单{self.return_count}次，转中心人工派单",
                principal="system:router",
                at=at,
            )

    @event("Returned")
    def _returned(
        self,
        *,
        unit: str,
        reason: str,
        principal: str,
        at: datetime,
        suggested_unit: str | None = None,
        review: bool = False,
    ) -> None:
        # ``suggested_unit``, ``review``: events written before they were recorded have none
        # (those returns were re-routed at once).
        self.returned_by.append(unit)
        self.return_count += 1
        if review:
            self.return_review = {
                "number": self.return_count,
                "unit": unit,
                "reason": reason,
                "suggested_unit": suggested_unit,
                "status_before": self.status.value,
                "principal": principal,
                "at": at,
            }
        self._enter(Status.RETURNED, at)

    def request_extension(
        self,
        *,
        unit: str,
        until: datetime,
        reason: str,
        principal: str,
        at: datetime,
        max_extension: timedelta | None = None,
    ) -> None:
        """``max_extension``: the deadline policy's cap (延期上限) on how far past the current
        handling deadline ``until`` may be; the application service always passes it."""
        self._require(Action.REQUEST_EXTENSION, unit)
        assert self.dispatch is not None
        if self.dispatch.extension_requested_to is not None:
            raise InvalidCommand("已有待审批的延期申请")
        if until.tzinfo is None or until.utcoffset() is None:
            raise InvalidCommand("延期时限 until 须带时区")
        if until <= self.dispatch.handle_deadline:
            raise InvalidCommand("延期后的时限必须晚于当前办理时限")
        if max_extension is not None and until - self.dispatch.handle_deadline > max_extension:
            raise InvalidCommand(
                f"延期时限 until 超出上限：最多在当前办理时限后 {max_extension.days} 天"
            )
        self._extension_requested(unit=unit, until=until, reason=reason, principal=principal, at=at)

    @event("ExtensionRequested")
    def _extension_requested(
        self, *, unit: str, until: datetime, reason: str, principal: str, at: datetime
    ) -> None:
        assert self.dispatch is not None
        self.dispatch = _replace(self.dispatch, extension_requested_to=until)

    def decide_extension(self, *, granted: bool, note: str, principal: str, at: datetime) -> None:
        self._require(Action.DECIDE_EXTENSION)
        assert self.dispatch is not None
        until = self.dispatch.extension_requested_to
        if until is None:
            raise InvalidCommand("没有待审批的延期申请")
        self._extension_decided(
            unit=self.dispatch.unit,
            granted=granted,
            until=until,
            note=note,
            principal=principal,
            at=at,
        )

    @event("ExtensionDecided")
    def _extension_decided(
        self,
        *,
        unit: str,
        granted: bool,
        until: datetime,
        note: str,
        principal: str,
        at: datetime,
    ) -> None:
        assert self.dispatch is not None
        self._note(Action.DECIDE_EXTENSION, note, principal, at, unit)
        deadline = until if granted else self.dispatch.handle_deadline
        self.dispatch = _replace(
            self.dispatch, handle_deadline=deadline, extension_requested_to=None
        )

    def start_mediation(self, *, unit: str, principal: str, at: datetime) -> None:
        self._require(Action.START_MEDIATION, unit)
        self._mediation_started(unit=unit, principal=principal, at=at)

    @event("MediationStarted")
    def _mediation_started(self, *, unit: str, principal: str, at: datetime) -> None:
        self._enter(Status.MEDIATING, at)

    def conclude_mediation(
        self, *, unit: str, agreement: bool, summary: str, principal: str, at: datetime
    ) -> None:
        """调解结束. With agreement the dispute is resolved; without, the unit goes on
        handling it (claimed) and may resolve it another way (e.g. 引导诉讼)."""
        self._require(Action.CONCLUDE_MEDIATION, unit)
        self._mediation_concluded(
            unit=unit, agreement=agreement, summary=summary, principal=principal, at=at
        )

    @event("MediationConcluded")
    def _mediation_concluded(
        self, *, unit: str, agreement: bool, summary: str, principal: str, at: datetime
    ) -> None:
        self.mediation_agreement = agreement
        self._enter(Status.CLAIMED, at)

    def resolve(self, *, unit: str, result: str, principal: str, at: datetime) -> None:
        self._require(Action.RESOLVE, unit)
        if not result.strip():
            raise InvalidCommand("办结必须填写办理结果")
        self._require_parts_in()
        assert self.dispatch is not None
        self._resolved(
            unit=unit,
            result=result,
            on_time=at <= self.dispatch.handle_deadline,
            principal=principal,
            at=at,
        )

    @event("Resolved")
    def _resolved(
        self, *, unit: str, result: str, on_time: bool, principal: str, at: datetime
    ) -> None:
        self.resolved_at = at
        self.resolved_unit = unit
        self.callbacks_unanswered = 0  # a new resolution waits for its own follow-up calls
        self._enter(Status.RESOLVED, at)

    def answer_directly(
        self,
        *,
        answer: str,
        centre: str,
        principal: str,
        at: datetime,
        entry: str | None = None,
    ) -> None:
        """直办: the centre (its configured id) answers the case itself; ``entry``: the
        knowledge-base entry (答复口径, ``engine.knowledge``) it answered from, if any."""
        self._require(Action.ANSWER_DIRECTLY)
        self._answered_directly(
            answer=answer, unit=centre, principal=principal, at=at, entry=entry or None
        )

    @event("AnsweredDirectly")
    def _answered_directly(
        self,
        *,
        answer: str,
        principal: str,
        at: datetime,
        unit: str = LEGACY_CENTRE,
        entry: str | None = None,
    ) -> None:
        # ``unit``: the centre that answered; events written before it was recorded have none.
        # ``entry``: the knowledge-base entry answered from (None: the operator's own words);
        # events written before it was recorded have none.
        self.answered_from = entry
        self.resolved_at = at
        self.resolved_unit = unit
        self.callbacks_unanswered = 0
        self._enter(Status.ANSWERED_DIRECTLY, at)

    def reject(self, *, reason: str, principal: str, at: datetime) -> None:
        self._require(Action.REJECT)
        if not reason.strip():
            raise InvalidCommand("不予受理必须说明理由")
        self._rejected(reason=reason, principal=principal, at=at)

    @event("Rejected")
    def _rejected(self, *, reason: str, principal: str, at: datetime) -> None:
        self._enter(Status.REJECTED, at)

    def follow_up(
        self,
        *,
        solved: bool,
        rating: Rating | None,
        comment: str,
        centre: str,
        principal: str,
        at: datetime,
    ) -> bool:
        """回访 of the unit that resolved the case, or of the centre (``centre``: its configured
        id) for 直办. Returns True when the answer reopens the case (重办)."""
        self._require(Action.FOLLOW_UP)
        if self.status == Status.MERGED:
            return self._follow_up_merged(
                solved=solved, rating=rating, comment=comment, centre=centre,
                principal=principal, at=at,
            )
        resolved = self.resolved_unit
        unit = centre if resolved is None or resolved == LEGACY_CENTRE else resolved
        self._followed_up(
            unit=unit,
            solved=solved,
            rating=rating.value if rating else None,
            comment=comment,
            principal=principal,
            at=at,
        )
        if not solved or rating == Rating.DISSATISFIED:
            self._reopened(
                unit=unit,
                reason="回访不满意" if rating == Rating.DISSATISFIED else "回访未解决",
                principal=principal,
                at=at,
            )
            return True
        self._closed(reason="回访完成", principal=principal, at=at)
        return False

    @event("FollowedUp")
    def _followed_up(
        self,
        *,
        unit: str,
        solved: bool,
        rating: str | None,
        comment: str,
        principal: str,
        at: datetime,
    ) -> None:
        self.solved = solved
        self.rating = Rating(rating) if rating else None
        self.callbacks.append(
            {"at": at, "unit": unit, "solved": solved, "rating": rating, "comment": comment}
        )

    @event("Reopened")
    def _reopened(self, *, unit: str, reason: str, principal: str, at: datetime) -> None:
        self._enter(Status.REOPENED, at)

    def close(self, *, reason: str, principal: str, at: datetime) -> None:
        self._require(Action.CLOSE)
        self._closed(reason=reason, principal=principal, at=at)

    @event("Closed")
    def _closed(self, *, reason: str, principal: str, at: datetime) -> None:
        self._enter(Status.CLOSED, at)

    def overdue_deadlines(self, now: datetime) -> list[DeadlineKind]:
        """Deadlines of the current dispatch that have passed and not yet been escalated."""
        if self.status not in _WITH_UNIT or self.dispatch is None:
            return []
        kinds: list[DeadlineKind] = []
        d = self.dispatch
        if d.claimed_at is None and now > d.claim_deadline:
            kinds.append(DeadlineKind.CLAIM)
        if now > d.handle_deadline:
            kinds.append(DeadlineKind.HANDLE)
        return [k for k in kinds if self._escalation_key(k) not in self.escalated_keys]

    def _escalation_key(self, kind: DeadlineKind) -> str:
        assert self.dispatch is not None
        # A granted extension moves the handling deadline, which is a new deadline.
        deadline = (
            self.dispatch.claim_deadline
            if kind == DeadlineKind.CLAIM
            else self.dispatch.handle_deadline
        )
        return f"{self.dispatch.number}:{kind.value}:{deadline.isoformat()}"

    def escalate(
        self,
        *,
        kind: DeadlineKind,
        supervisor: str | None,
        principal: str,
        at: datetime,
    ) -> None:
        """督办: a deadline passed. Exactly once per deadline; raises the level."""
        self._require(Action.ESCALATE)
        assert self.dispatch is not None
        key = self._escalation_key(kind)
        if key in self.escalated_keys:
            raise InvalidCommand("该时限已督办")
        self._escalated(
            unit=self.dispatch.unit,
            kind=kind.value,
            key=key,
            level=self.escalation_level + 1,
            supervisor=supervisor,
            principal=principal,
            at=at,
        )

    @event("Escalated")
    def _escalated(
        self,
        *,
        unit: str,
        kind: str,
        key: str,
        level: int,
        supervisor: str | None,
        principal: str,
        at: datetime,
    ) -> None:
        self.escalated_keys.append(key)
        self.escalation_level = level

    def urge(self, *, note: str, principal: str, at: datetime) -> None:
        """催办: the centre pushes the unit; recorded, no change of state."""
        self._require(Action.URGE)
        assert self.dispatch is not None
        self._urged(unit=self.dispatch.unit, note=note, principal=principal, at=at)

    @event("Urged")
    def _urged(self, *, unit: str, note: str, principal: str, at: datetime) -> None:
        self._note(Action.URGE, note, principal, at, unit)

    def merge_into(
        self, *, target: UUID, similarity: float, reason: dict[str, Any], principal: str, at: datetime
    ) -> None:
        """合并: a duplicate of an open case; linked, not dispatched again."""
        self._require(Action.MERGE)
        if target == self.id:
            raise InvalidCommand("不能与自身合并")
        self._merged(target=target, similarity=similarity, reason=reason, principal=principal, at=at)

    @event("Merged")
    def _merged(
        self,
        *,
        target: UUID,
        similarity: float,
        reason: dict[str, Any],
        principal: str,
        at: datetime,
    ) -> None:
        self.merged_into = target
        self._enter(Status.MERGED, at)

    def link_duplicate(self, *, duplicate: UUID, principal: str, at: datetime) -> None:
        self._require(Action.LINK_DUPLICATE)
        if duplicate not in self.duplicates:
            self._duplicate_linked(duplicate=duplicate, principal=principal, at=at)

    @event("DuplicateLinked")
    def _duplicate_linked(self, *, duplicate: UUID, principal: str, at: datetime) -> None:
        self.duplicates.append(duplicate)

    def transfer_out(
        self, *, to_district: str, to_district_name: str, reason: str, principal: str, at: datetime
    ) -> None:
        """跨区转办: the case belongs to another district of the city; it leaves this district
        as 已转出 (terminal) and the city hands it over (docs/city.md)."""
        self._require(Action.TRANSFER_OUT)
        if not reason.strip():
            raise InvalidCommand("跨区转办必须说明理由")
        if not to_district.strip():
            raise InvalidCommand("跨区转办必须指定转入的区")
        self._transferred_out(
            to_district=to_district,
            to_district_name=to_district_name,
            reason=reason,
            principal=principal,
            at=at,
        )

    @event("TransferredOut")
    def _transferred_out(
        self, *, to_district: str, to_district_name: str, reason: str, principal: str, at: datetime
    ) -> None:
        self.transferred_to = {
            "district": to_district,
            "name": to_district_name,
            "reason": reason,
            "by": principal,
            "at": at,
        }
        self._enter(Status.TRANSFERRED_OUT, at)

    def send_to_manual(self, *, reason: str, principal: str, at: datetime) -> None:
        """转中心人工派单队列 (low router confidence, three returns, no unit found)."""
        self._require(Action.SEND_TO_MANUAL)
        self._sent_to_manual(reason=reason, principal=principal, at=at)

    @event("SentToManual")
    def _sent_to_manual(self, *, reason: str, principal: str, at: datetime) -> None:
        self.manual_reason = reason


    def mark_confidential(self, *, principal: str, at: datetime) -> None:
        """保密件: the caller asked that no unit learn who they are (at intake, or later)."""
        if not self.confidential:
            self._marked_confidential(principal=principal, at=at)

    @event("MarkedConfidential")
    def _marked_confidential(self, *, principal: str, at: datetime) -> None:
        self.confidential = True

    # 工单编号 and the predicted 诉求类型 (engine.order_numbers): recorded by their own event at
    # intake; a case from before it has neither.
    order_no: str | None = None
    appeal_type_predicted: str = ""

    @property
    def appeal(self) -> str:
        """The appeal type the figures use: the operator's, else the predicted one."""
        return self.appeal_type or self.appeal_type_predicted

    @event("Numbered")
    def numbered(
        self, *, order_no: str, appeal_type_predicted: str, principal: str, at: datetime
    ) -> None:
        self.order_no = order_no
        self.appeal_type_predicted = appeal_type_predicted

    def reveal_contact(self, *, unit: str, principal: str, at: datetime) -> str:
        """查看联系方式: the unit holding the case reads the caller's number, and the log says
        who did and when. Refused (nothing written) for another unit, an unclaimed case and a
        保密件; the confidentiality check comes last so that another unit does not learn it."""
        self._require(Action.REVEAL_CONTACT, unit)
        if self.confidential:
            raise ConfidentialCase()
        self._contact_revealed(unit=unit, principal=principal, at=at)
        return self.caller_phone

    @event("ContactRevealed")
    def _contact_revealed(self, *, unit: str, principal: str, at: datetime) -> None:
        pass

    # ---- 附件 (attachments): engine/attachments.py, docs/attachments.md -------------------------

    def attachment(self, digest: str) -> dict[str, Any] | None:
        return next((a for a in self.attachments if a["digest"] == digest), None)

    def add_attachment(
        self,
        *,
        digest: str,
        kind: str,
        mime: str,
        size: int,
        name: str,
        stage: str,
        public: bool,
        preview: str | None,
        source_url: str | None,
        unit: str | None,
        max_per_case: int,
        principal: str,
        at: datetime,
    ) -> bool:
        """A photo, recording or document on the case: the centre's at any time before the case
        is closed, a unit's (办结凭证) only while it holds the case. The same bytes twice are
        recorded once (False: nothing written)."""
        if self.status in TERMINAL_STATUSES:
            raise AttachmentRefused(self.status, "工单已结案，不能再添加附件")
        if unit is not None and (self.assigned_unit != unit or self.status not in _HELD_BY_UNIT):
            raise AttachmentRefused(self.status, "只有正在承办该工单的单位可以上传办理凭证")
        if self.attachment(digest) is not None:
            return False
        if len(self.attachments) >= max_per_case:
            raise AttachmentRefused(self.status, f"每件工单最多 {max_per_case} 个附件")
        self._attachment_added(
            digest=digest, kind=kind, mime=mime, size=size, name=name, stage=stage,
            public=public, preview=preview, source_url=source_url, unit=unit,
            principal=principal, at=at,
        )
        return True

    @event("AttachmentAdded")
    def _attachment_added(
        self,
        *,
        digest: str,
        kind: str,
        mime: str,
        size: int,
        name: str,
        stage: str,
        public: bool,
        preview: str | None,
        source_url: str | None,
        unit: str | None,
        principal: str,
        at: datetime,
    ) -> None:
        self.attachments.append(
            {"digest": digest, "kind": kind, "mime": mime, "size": size, "name": name,
             "stage": stage, "public": public, "preview": preview, "source_url": source_url,
             "unit": unit, "by": principal, "at": at}
        )

    def set_attachment_public(
        self, *, digest: str, public: bool, principal: str, at: datetime
    ) -> None:
        """公开 / 取消公开 (the centre's choice): a public image shows through Open311's
        ``media_url`` when the case's category is about public space."""
        found = self.attachment(digest)
        if found is None:
            raise AttachmentRefused(self.status, "该工单没有这个附件")
        if found["public"] != public:
            self._attachment_publicity(digest=digest, public=public, principal=principal, at=at)

    @event("AttachmentPublicity")
    def _attachment_publicity(self, *, digest: str, public: bool, principal: str, at: datetime) -> None:
        for a in self.attachments:
            if a["digest"] == digest:
                a["public"] = public

    # ---- 挂起 (suspension): docs/lifecycle.md ------------------------------------------------

    def request_hold(
        self,
        *,
        unit: str,
        reason: str,
        principal: str,
        at: datetime,
        expected_resume: datetime | None = None,
    ) -> None:
        """申请挂起: the unit handling the case asks the centre to stop the handling clock, for
        a stated reason (awaiting a court date, the resident away)."""
        self._require(Action.REQUEST_HOLD, unit)
        if self.hold_request is not None:
            raise InvalidCommand("已有待审批的挂起申请")
        if not reason.strip():
            raise InvalidCommand("申请挂起必须说明理由")
        if expected_resume is not None:
            if expected_resume.tzinfo is None or expected_resume.utcoffset() is None:
                raise InvalidCommand("预计恢复时间 expected_resume 须带时区")
            if expected_resume <= at:
                raise InvalidCommand("预计恢复时间必须晚于申请时间")
        self._hold_requested(
            unit=unit,
            reason=reason,
            expected_resume=expected_resume,
            principal=principal,
            at=at,
        )

    @event("HoldRequested")
    def _hold_requested(
        self,
        *,
        unit: str,
        reason: str,
        expected_resume: datetime | None,
        principal: str,
        at: datetime,
    ) -> None:
        self.hold_request = {
            "unit": unit,
            "reason": reason,
            "expected_resume": expected_resume,
            "principal": principal,
            "at": at,
        }

    def decide_hold(self, *, granted: bool, note: str, principal: str, at: datetime) -> None:
        """审批挂起 by the centre: granted, the case is 挂起中 and its handling clock stops;
        refused, the unit goes on handling it and sees the centre's note."""
        self._require(Action.DECIDE_HOLD)
        assert self.dispatch is not None
        if self.hold_request is None:
            raise InvalidCommand("没有待审批的挂起申请")
        if not granted and not note.strip():
            raise InvalidCommand("不同意挂起须写明意见")
        self._hold_decided(
            unit=self.dispatch.unit,
            granted=granted,
            note=note,
            expected_resume=self.hold_request["expected_resume"] if granted else None,
            principal=principal,
            at=at,
        )

    @event("HoldDecided")
    def _hold_decided(
        self,
        *,
        unit: str,
        granted: bool,
        note: str,
        expected_resume: datetime | None,
        principal: str,
        at: datetime,
    ) -> None:
        # ``expected_resume``: when granted, the time the deadline clock resumes the case.
        self.hold_request = None
        self._note(Action.DECIDE_HOLD, note, principal, at, unit)
        if granted:
            self.held_since = at
            self.resume_expected = expected_resume
            self.hold_refusal = None
            self._enter(Status.ON_HOLD, at)
        else:
            self.hold_refusal = note

    def resume(
        self,
        *,
        unit: str | None,
        handle_deadline: datetime,
        paused_workdays: int,
        principal: str,
        at: datetime,
    ) -> None:
        """恢复办理, by the unit (``unit``) or the centre (None). ``handle_deadline``: the
        handling deadline moved later by the paused time, computed by the application service
        on the working-day calendar (``engine.deadlines.deadline_after_pause``)."""
        self._require(Action.RESUME, unit)
        assert self.dispatch is not None and self.held_since is not None
        if handle_deadline < self.dispatch.handle_deadline:
            raise InvalidCommand("恢复后的办理时限不能早于原时限")
        self._resumed(
            unit=self.dispatch.unit,
            held_since=self.held_since,
            handle_deadline=handle_deadline,
            paused_workdays=paused_workdays,
            principal=principal,
            at=at,
        )

    @event("Resumed")
    def _resumed(
        self,
        *,
        unit: str,
        held_since: datetime,
        handle_deadline: datetime,
        paused_workdays: int,
        principal: str,
        at: datetime,
    ) -> None:
        assert self.dispatch is not None
        self.dispatch = _replace(self.dispatch, handle_deadline=handle_deadline)
        self.held_since = None
        self.resume_expected = None
        self.paused_workdays += paused_workdays
        self._enter(Status.CLAIMED, at)

    # ---- 领导批示 (a leader's instruction) --------------------------------------------------

    def instruct(self, *, text: str, due: datetime, principal: str, at: datetime) -> None:
        """领导批示 on a case a unit holds; the unit answers by ``due`` (批示回复时限, computed
        by the application service). One instruction waits for its reply at a time."""
        self._require(Action.INSTRUCT)
        assert self.dispatch is not None
        if not text.strip():
            raise InvalidCommand("批示内容不能为空")
        if self.pending_instruction is not None:
            raise InvalidCommand("上一条批示尚未回复")
        if due <= at:
            raise InvalidCommand("回复时限必须晚于批示时间")
        self._instructed(
            unit=self.dispatch.unit,
            number=len(self.instructions) + 1,
            text=text,
            due=due,
            principal=principal,
            at=at,
        )

    @event("Instructed")
    def _instructed(
        self, *, unit: str, number: int, text: str, due: datetime, principal: str, at: datetime
    ) -> None:
        self.instructions.append(
            {
                "number": number,
                "unit": unit,
                "text": text,
                "by": principal,
                "at": at,
                "due": due,
                "reply": None,
                "answered_by": None,
                "answered_at": None,
                "on_time": None,
            }
        )

    def answer_instruction(self, *, unit: str, reply: str, principal: str, at: datetime) -> None:
        """批示回复 by the unit holding the case; on time if at or before the reply deadline."""
        self._require(Action.ANSWER_INSTRUCTION, unit)
        pending = self.pending_instruction
        if pending is None:
            raise InvalidCommand("没有待回复的批示")
        if not reply.strip():
            raise InvalidCommand("批示回复不能为空")
        self._instruction_answered(
            unit=unit,
            number=pending["number"],
            reply=reply,
            on_time=at <= pending["due"],
            principal=principal,
            at=at,
        )

    @event("InstructionAnswered")
    def _instruction_answered(
        self, *, unit: str, number: int, reply: str, on_time: bool, principal: str, at: datetime
    ) -> None:
        for i in self.instructions:
            if i["number"] == number:
                i.update(reply=reply, answered_by=unit, answered_at=at, on_time=on_time)

    # ---- 退单审核 and 转办 (return review, transfer): docs/lifecycle.md, Returns -------------------

    def approve_return(
        self,
        *,
        to_unit: str,
        note: str,
        claim_deadline: datetime,
        handle_deadline: datetime,
        principal: str,
        at: datetime,
    ) -> None:
        """退单审核 通过: the centre agrees the case is not the returning unit's and dispatches it
        to the unit the return named or another one (转派), with fresh deadlines."""
        self._require_review()
        self.dispatch_to(
            unit=to_unit,
            claim_deadline=claim_deadline,
            handle_deadline=handle_deadline,
            reason={"by": "operator", "review": "approved", "note": note},
            principal=principal,
            at=at,
        )

    def refuse_return(self, *, note: str, principal: str, at: datetime) -> None:
        """退单审核 不通过: the case goes back to the unit that returned it, in the status it
        left (dispatched or claimed) with its deadlines as they were, and the unit sees the
        centre's note. The return still counts as a return (退单率), refused."""
        review = self._require_review()
        if not note.strip():
            raise InvalidCommand("不同意退单须写明意见")
        self._return_reviewed(
            unit=review["unit"],
            number=review["number"],
            approved=False,
            to_unit=review["unit"],
            suggested_unit=review["suggested_unit"],
            restored=review["status_before"],
            reason=review["reason"],
            note=note,
            principal=principal,
            at=at,
        )

    def _require_review(self) -> dict[str, Any]:
        self._require(Action.REVIEW_RETURN)
        if self.return_review is None:
            raise NothingPending(self.status, Action.REVIEW_RETURN, "没有待审核的退单")
        return self.return_review

    def _approve_pending_return(self, to_unit: str, note: str, principal: str, at: datetime) -> None:
        review = self.return_review
        assert review is not None
        self._return_reviewed(
            unit=review["unit"],
            number=review["number"],
            approved=True,
            to_unit=to_unit,
            suggested_unit=review["suggested_unit"],
            restored=None,
            reason=review["reason"],
            note=note,
            principal=principal,
            at=at,
        )

    @event("ReturnReviewed")
    def _return_reviewed(
        self,
        *,
        unit: str,
        number: int,
        approved: bool,
        to_unit: str,
        suggested_unit: str | None,
        restored: str | None,
        reason: str,
        note: str,
        principal: str,
        at: datetime,
    ) -> None:
        # ``reason``: the return's (a lesson for the router when approved). ``unit``: the unit
        # that returned the case; ``to_unit``: where it goes (approved: the
        # Dispatched that follows; refused: back to ``unit``, in status ``restored``).
        self.return_review = None
        if approved:
            self.return_refusal = None
            return
        self.return_refusal = note
        self._note(Action.REVIEW_RETURN, note, principal, at, unit)
        if unit in self.returned_by:
            self.returned_by.remove(unit)
        self.manual_reason = None
        self._enter(Status(restored or Status.DISPATCHED.value), at)

    def transfer(
        self,
        *,
        to_unit: str,
        note: str,
        claim_deadline: datetime,
        handle_deadline: datetime,
        principal: str,
        at: datetime,
    ) -> None:
        """转办: the centre moves a case a unit holds (dispatched, claimed, mediating) to another
        unit, with a note the new unit reads; fresh deadlines start. Never to the unit holding
        it, nor to one that returned it."""
        self._require(Action.TRANSFER)
        assert self.dispatch is not None
        if not note.strip():
            raise InvalidCommand("转办须写明说明")
        if to_unit == self.dispatch.unit:
            raise InvalidCommand("转办的单位不能是当前承办单位")
        if to_unit in self.returned_by:
            raise InvalidCommand(f"单位「{to_unit}」已退回过此工单，不能再次派给它")
        if not (claim_deadline > at and handle_deadline > at):
            raise InvalidCommand("时限必须晚于派单时间")
        self._transferred(unit=self.dispatch.unit, to_unit=to_unit, note=note, principal=principal, at=at)
        self._dispatched(
            unit=to_unit,
            number=self.dispatch_count + 1,
            claim_deadline=claim_deadline,
            handle_deadline=handle_deadline,
            reason={"by": "operator", "transfer": True, "from": self.dispatch.unit, "note": note},
            principal=principal,
            at=at,
        )

    @event("Transferred")
    def _transferred(
        self, *, unit: str, to_unit: str, note: str, principal: str, at: datetime
    ) -> None:
        # The Dispatched that follows carries the note to the new unit (centre_notes).
        pass

    # ---- 回访未接通 and 未接通结案 (follow-up calls nobody answers) ---------------------------------

    def _callback_unit(self, centre: str) -> str:
        resolved = self.resolved_unit
        return centre if resolved is None or resolved == LEGACY_CENTRE else resolved

    def callback_unanswered(
        self, *, max_unanswered: int, centre: str, note: str, principal: str, at: datetime
    ) -> None:
        """回访未接通: one follow-up call nobody answered. ``max_unanswered``: the district's
        number of such calls after which the case may be closed (recorded with the call)."""
        self._require(Action.CALLBACK_UNANSWERED)
        if max_unanswered < 1:
            raise InvalidCommand("未接通次数上限须为正数")
        self._callback_unanswered(
            unit=self._callback_unit(centre),
            attempt=self.callbacks_unanswered + 1,
            max_unanswered=max_unanswered,
            note=note,
            principal=principal,
            at=at,
        )

    @event("CallbackUnanswered")
    def _callback_unanswered(
        self,
        *,
        unit: str,
        attempt: int,
        max_unanswered: int,
        note: str,
        principal: str,
        at: datetime,
    ) -> None:
        self.callbacks_unanswered = attempt
        self.max_unanswered = max_unanswered

    def close_unreachable(self, *, centre: str, note: str, principal: str, at: datetime) -> None:
        """未接通结案: the resident could not be reached after the district's number of calls;
        the case is closed without a rating (docs/rates.md counts it apart)."""
        self._require(Action.CLOSE_UNREACHABLE)
        if not self.unreachable:
            need = self.max_unanswered
            raise NothingPending(
                self.status,
                Action.CLOSE_UNREACHABLE,
                f"回访未接通 {self.callbacks_unanswered} 次"
                + (f"，满 {need} 次方可未接通结案" if need else "，须先记录未接通的回访"),
            )
        self._closed_unreachable(
            unit=self._callback_unit(centre),
            attempts=self.callbacks_unanswered,
            note=note,
            principal=principal,
            at=at,
        )

    @event("ClosedUnreachable")
    def _closed_unreachable(
        self, *, unit: str, attempts: int, note: str, principal: str, at: datetime
    ) -> None:
        self._enter(Status.CLOSED, at)

    # ---- merges under the centre's hand (docs/lifecycle.md, Merges) -------------------------

    def unmerge(self, *, note: str, principal: str, at: datetime) -> UUID:
        """撤销合并: the centre takes a merged case out of its original; it is at the centre
        again (``received``) and the application service routes it as its own case. Returns
        the original it was merged into (which unlinks it)."""
        self._require(Action.UNMERGE)
        assert self.merged_into is not None
        original = self.merged_into
        self._unmerged(original=original, note=note, principal=principal, at=at)
        return original

    @event("Unmerged")
    def _unmerged(self, *, original: UUID, note: str, principal: str, at: datetime) -> None:
        self.merged_into = None
        self.callback_due = False
        self.original_result = None
        self.resolved_unit = None
        self._enter(Status.RECEIVED, at)

    def unlink_duplicate(self, *, duplicate: UUID, principal: str, at: datetime) -> None:
        """The original forgets a merged case that was unmerged (any status: the original may
        be resolved or closed by then). Not in the table: it changes no status."""
        if duplicate in self.duplicates:
            self._duplicate_unlinked(duplicate=duplicate, principal=principal, at=at)

    @event("DuplicateUnlinked")
    def _duplicate_unlinked(self, *, duplicate: UUID, principal: str, at: datetime) -> None:
        self.duplicates.remove(duplicate)

    def original_resolved(
        self, *, original: UUID, unit: str, result: str, principal: str, at: datetime
    ) -> None:
        """原件办结: the case this one is merged into was resolved by ``unit``; the merged caller
        is now due a callback (待回访), told ``result``, and their rating counts for ``unit``."""
        self._require(Action.ORIGINAL_RESOLVED)
        if original != self.merged_into:
            raise InvalidCommand("该工单未并入此原件")
        self._original_resolved(
            original=original, unit=unit, result=result, principal=principal, at=at
        )

    @event("OriginalResolved")
    def _original_resolved(
        self, *, original: UUID, unit: str, result: str, principal: str, at: datetime
    ) -> None:
        self.callback_due = True
        self.original_result = result
        self.resolved_unit = unit

    def _follow_up_merged(
        self,
        *,
        solved: bool,
        rating: Rating | None,
        comment: str,
        centre: str,
        principal: str,
        at: datetime,
    ) -> bool:
        """回访 of a merged caller: counted for the unit that resolved the original. Satisfied,
        the merged case is closed; unsolved or dissatisfied, it is unmerged and (by the
        application service) routed as its own case. Returns True when it was unmerged."""
        if not self.callback_due:
            raise InvalidCommand("原件尚未办结，合并件暂不回访")
        assert self.merged_into is not None
        unit = self.resolved_unit or centre
        self._followed_up(
            unit=unit,
            solved=solved,
            rating=rating.value if rating else None,
            comment=comment,
            principal=principal,
            at=at,
        )
        if not solved or rating == Rating.DISSATISFIED:
            note = "回访不满意，单独立案" if rating == Rating.DISSATISFIED else "回访未解决，单独立案"
            self._unmerged(original=self.merged_into, note=note, principal=principal, at=at)
            return True
        self._closed(reason="回访完成（合并件）", principal=principal, at=at)
        return False

    def decline_merge(
        self, *, target: UUID, similarity: float, principal: str, at: datetime
    ) -> None:
        """不合并: at intake the operator kept the case separate from the open case the router
        would have merged it into; recorded, the case is routed as its own."""
        self._merge_declined(target=target, similarity=similarity, principal=principal, at=at)

    @event("MergeDeclined")
    def _merge_declined(
        self, *, target: UUID, similarity: float, principal: str, at: datetime
    ) -> None:
        pass

    # ---- 一表通 (one form, several cases) ---------------------------------------------------

    def link_to_form(
        self, *, form_id: UUID, item: int, kind: str, title: str, principal: str, at: datetime
    ) -> None:
        """This case is item ``item`` of a 一表通 form (recorded once, at the form's intake)."""
        if self.form is not None:
            raise InvalidCommand("该工单已属于一表通")
        self._linked_to_form(
            form_id=form_id, item=item, kind=kind, title=title, principal=principal, at=at
        )

    @event("LinkedToForm")
    def _linked_to_form(
        self, *, form_id: UUID, item: int, kind: str, title: str, principal: str, at: datetime
    ) -> None:
        self.form = {"form_id": form_id, "item": item, "kind": kind, "title": title}


    # ---- 主办/协办 and 吹哨报到 (docs/lifecycle.md) ---------------------------------------------

    @property
    def outstanding_parts(self) -> list[Part]:
        """Parts not yet in (waiting, being handled, or returned and not yet closed)."""
        return [p for p in self.parts if p.state not in PART_IN]

    def _parts_in(self, *states: PartStatus) -> list[Part]:
        return [p for p in self.parts if p.state in states]

    def part_of(self, unit: str) -> Part | None:
        """The unit's open part (one at a time), or None."""
        return next((p for p in self.parts if p.unit == unit and p.state in PART_OPEN), None)

    def offers_part(self, action: Action, unit: str) -> bool:
        """Whether ``unit`` can take this part action now (the UI's buttons for a co-unit)."""
        if self.status not in ALLOWED[action]:
            return False
        part = self.part_of(unit)
        if part is None:
            return False
        if action == Action.CLAIM_PART:
            return part.state == PartStatus.ASSIGNED
        if action == Action.REPORT_PART:
            return part.state == PartStatus.CLAIMED
        return action == Action.RETURN_PART

    def _require_parts_in(self) -> None:
        waiting = self.outstanding_parts
        if waiting:
            names = "、".join(p.unit for p in waiting)
            raise PartConflict(f"协办单位尚未全部反馈（{names}），主办单位暂不能办结")

    def _check_new_part(self, unit: str, claim_deadline: datetime, at: datetime) -> None:
        assert self.dispatch is not None
        if unit == self.dispatch.unit:
            raise InvalidCommand(f"单位「{unit}」是主办单位，不能同时协办")
        if self.part_of(unit) is not None:
            raise PartConflict(f"单位「{unit}」已有未完成的协办任务")
        if claim_deadline <= at:
            raise InvalidCommand("时限必须晚于派单时间")

    def add_assist(
        self,
        *,
        unit: str,
        claim_deadline: datetime,
        handle_deadline: datetime,
        note: str,
        principal: str,
        at: datetime,
    ) -> None:
        """增派协办 by the centre (at dispatch, or later while a lead holds the case): the unit
        gets a part with its own claim and handling clocks."""
        self._require(Action.ADD_ASSIST)
        self._check_new_part(unit, claim_deadline, at)
        if handle_deadline <= at:
            raise InvalidCommand("时限必须晚于派单时间")
        self._assist_added(
            unit=unit,
            number=len(self.parts) + 1,
            claim_deadline=claim_deadline,
            handle_deadline=handle_deadline,
            whistle=None,
            note=note,
            principal=principal,
            at=at,
        )

    @event("AssistAdded")
    def _assist_added(
        self,
        *,
        unit: str,
        number: int,
        claim_deadline: datetime,
        handle_deadline: datetime,
        whistle: int | None,
        note: str,
        principal: str,
        at: datetime,
    ) -> None:
        self.parts.append(Part(number, unit, at, claim_deadline, handle_deadline, whistle))
        if unit not in self.units_ever:
            self.units_ever.append(unit)  # an assisting unit reads the case

    def whistle(
        self,
        *,
        unit: str,
        departments: list[str],
        due: datetime,
        handle_deadline: datetime,
        reason: str,
        principal: str,
        at: datetime,
    ) -> None:
        """吹哨: the street or community leading the case (``unit``; the application service
        checks its kind) calls departments in; each must report in (报到) by ``due`` and gets
        a part (协办) with ``handle_deadline`` for its feedback."""
        self._require(Action.WHISTLE, unit)
        if not reason.strip():
            raise InvalidCommand("吹哨须说明事由")
        if not departments:
            raise InvalidCommand("吹哨须至少点名一个部门")
        if len(set(departments)) != len(departments):
            raise InvalidCommand("同一部门不能重复点名")
        for d in departments:
            self._check_new_part(d, due, at)
        if handle_deadline < due:
            raise InvalidCommand("办理时限不能早于报到时限")
        number = len(self.whistles) + 1
        self._whistled(
            unit=unit,
            number=number,
            departments=list(departments),
            due=due,
            reason=reason,
            principal=principal,
            at=at,
        )
        for d in departments:
            self._assist_added(
                unit=d,
                number=len(self.parts) + 1,
                claim_deadline=due,
                handle_deadline=handle_deadline,
                whistle=number,
                note=reason,
                principal=principal,
                at=at,
            )

    @event("Whistled")
    def _whistled(
        self,
        *,
        unit: str,
        number: int,
        departments: list[str],
        due: datetime,
        reason: str,
        principal: str,
        at: datetime,
    ) -> None:
        self.whistles.append(
            {"number": number, "unit": unit, "departments": list(departments), "due": due,
             "reason": reason, "by": principal, "at": at}
        )

    def _part_for(self, action: Action, unit: str, *states: PartStatus) -> Part:
        self._require(action)
        part = self.part_of(unit)
        if part is None:
            raise NotAssignedUnit(unit, self.assigned_unit)
        if part.state not in states:
            raise PartConflict(
                f"协办任务当前为「{PART_STATUSES.label(part.state)}」，"
                f"不能执行「{ACTIONS.label(action)}」({action.value})"
            )
        return part

    def _set_part(self, number: int, **changes: Any) -> None:
        from dataclasses import replace

        self.parts = [replace(p, **changes) if p.number == number else p for p in self.parts]

    def claim_part(self, *, unit: str, principal: str, at: datetime) -> None:
        """协办签收 (a whistled department: 报到)."""
        part = self._part_for(Action.CLAIM_PART, unit, PartStatus.ASSIGNED)
        self._part_claimed(
            unit=unit, number=part.number, on_time=at <= part.claim_deadline,
            principal=principal, at=at,
        )

    @event("PartClaimed")
    def _part_claimed(
        self, *, unit: str, number: int, on_time: bool, principal: str, at: datetime
    ) -> None:
        self._set_part(number, state=PartStatus.CLAIMED, claimed_at=at)

    def report_part(self, *, unit: str, feedback: str, principal: str, at: datetime) -> None:
        """协办反馈: the assisting unit reports its part done, with what it did."""
        part = self._part_for(Action.REPORT_PART, unit, PartStatus.CLAIMED)
        if not feedback.strip():
            raise InvalidCommand("协办反馈不能为空")
        self._part_reported(
            unit=unit, number=part.number, feedback=feedback,
            on_time=at <= part.handle_deadline, principal=principal, at=at,
        )

    @event("PartReported")
    def _part_reported(
        self, *, unit: str, number: int, feedback: str, on_time: bool, principal: str, at: datetime
    ) -> None:
        self._set_part(number, state=PartStatus.REPORTED, reported_at=at, feedback=feedback)

    def return_part(self, *, unit: str, reason: str, principal: str, at: datetime) -> None:
        """协办退回: the assisting unit gives its part back, saying why; the centre closes it
        (or names another unit) before the lead can resolve."""
        part = self._part_for(Action.RETURN_PART, unit, *PART_OPEN)
        if not reason.strip():
            raise InvalidCommand("协办退回必须说明理由")
        self._part_returned(unit=unit, number=part.number, reason=reason, principal=principal, at=at)

    @event("PartReturned")
    def _part_returned(
        self, *, unit: str, number: int, reason: str, principal: str, at: datetime
    ) -> None:
        self._set_part(number, state=PartStatus.RETURNED, note=reason)

    def close_part(self, *, number: int, note: str, principal: str, at: datetime) -> None:
        """关闭协办 by the centre: the part counts as in (not as reported)."""
        self._require(Action.CLOSE_PART)
        part = next((p for p in self.parts if p.number == number), None)
        if part is None:
            raise InvalidCommand(f"没有第 {number} 项协办任务")
        if part.state in PART_IN:
            raise PartConflict("该协办任务已完成")
        if not note.strip():
            raise InvalidCommand("关闭协办须写明意见")
        self._part_closed(unit=part.unit, number=number, note=note, principal=principal, at=at)

    @event("PartClosed")
    def _part_closed(self, *, unit: str, number: int, note: str, principal: str, at: datetime) -> None:
        self._set_part(number, state=PartStatus.CLOSED, note=note)

    def _part_key(self, part: Part, kind: DeadlineKind) -> str:
        deadline = part.claim_deadline if kind == DeadlineKind.CLAIM else part.handle_deadline
        return f"part{part.number}:{kind.value}:{deadline.isoformat()}"

    def overdue_parts(self, now: datetime) -> list[tuple[int, DeadlineKind]]:
        """Open parts' passed deadlines not yet escalated (a part waiting for its claim or
        report-in, a part not yet reported). None while the lead's clocks stop (挂起)."""
        if self.status not in _WITH_UNIT:
            return []
        out: list[tuple[int, DeadlineKind]] = []
        for p in self.parts:
            if p.state not in PART_OPEN:
                continue
            kinds = []
            if p.claimed_at is None and now > p.claim_deadline:
                kinds.append(DeadlineKind.CLAIM)
            if now > p.handle_deadline:
                kinds.append(DeadlineKind.HANDLE)
            out += [(p.number, k) for k in kinds if self._part_key(p, k) not in p.escalated]
        return out

    def escalate_part(
        self,
        *,
        number: int,
        kind: DeadlineKind,
        supervisor: str | None,
        principal: str,
        at: datetime,
    ) -> None:
        """协办督办: a part's deadline passed; exactly once per deadline. The lead's
        escalation level is the lead's own and does not move."""
        self._require(Action.ESCALATE_PART)
        part = next((p for p in self.parts if p.number == number), None)
        if part is None or part.state not in PART_OPEN:
            raise InvalidCommand(f"没有未完成的第 {number} 项协办任务")
        key = self._part_key(part, kind)
        if key in part.escalated:
            raise InvalidCommand("该时限已督办")
        self._part_escalated(
            unit=part.unit, number=number, kind=kind.value, key=key, supervisor=supervisor,
            principal=principal, at=at,
        )

    @event("PartEscalated")
    def _part_escalated(
        self,
        *,
        unit: str,
        number: int,
        kind: str,
        key: str,
        supervisor: str | None,
        principal: str,
        at: datetime,
    ) -> None:
        part = next(p for p in self.parts if p.number == number)
        self._set_part(number, escalated=(*part.escalated, key))

    # ---- 认领大厅 (the open shelf, docs/lifecycle.md) ------------------------------------------

    @property
    def pending_claims(self) -> list[dict[str, Any]]:
        """The claims waiting for the centre (认领申请 待审核), in order."""
        return [c for c in self.shelf_claims if c["state"] == "pending"]

    def claim_of(self, number: int) -> dict[str, Any] | None:
        return next((c for c in self.shelf_claims if c["number"] == number), None)

    def shelve(self, *, service: str, summary: str, principal: str, at: datetime) -> None:
        """上架: the centre puts the case on the shelf instead of dispatching it; ``summary``:
        what the helpers read of it (the centre's words: no caller's name or number)."""
        self._require(Action.SHELVE)
        if self.shelf is not None:
            raise ShelfConflict(self.status, Action.SHELVE, "工单已在认领大厅中")
        if self.return_review is not None:
            raise ShelfConflict(self.status, Action.SHELVE, "退单待审核：请先审核退单，再上架认领")
        if not summary.strip():
            raise InvalidCommand("上架须写明需求说明")
        self._shelf_listed(
            number=self.shelf_listings + 1,
            service=service,
            summary=summary.strip(),
            principal=principal,
            at=at,
        )

    @event("ShelfListed")
    def _shelf_listed(
        self, *, number: int, service: str, summary: str, principal: str, at: datetime
    ) -> None:
        self.shelf_listings = number
        self.shelf = {
            "number": number,
            "service": service,
            "summary": summary,
            "by": principal,
            "at": at,
        }

    def unshelve(self, *, note: str, principal: str, at: datetime) -> None:
        """下架: the centre takes the case off the shelf; claims still waiting lapse."""
        self._require(Action.UNSHELVE)
        if self.shelf is None:
            raise ShelfConflict(self.status, Action.UNSHELVE, "工单不在认领大厅中")
        self._shelf_withdrawn(
            number=int(self.shelf["number"]), note=note, principal=principal, at=at
        )

    @event("ShelfWithdrawn")
    def _shelf_withdrawn(self, *, number: int, note: str, principal: str, at: datetime) -> None:
        self._lapse_claims(at)
        self.shelf = None

    def _lapse_claims(self, at: datetime) -> None:
        for i, claim in enumerate(self.shelf_claims):
            if claim["state"] == "pending":
                self.shelf_claims[i] = {**claim, "state": "lapsed", "decided_at": at}

    def apply_claim(self, *, unit: str, note: str, principal: str, at: datetime) -> None:
        """认领申请: a unit asks to take the case on the shelf, with a note (how it will help)."""
        self._require(Action.APPLY_CLAIM)
        if self.shelf is None:
            raise ShelfConflict(self.status, Action.APPLY_CLAIM, "工单不在认领大厅中，不能认领")
        if unit in self.returned_by:
            raise ShelfConflict(
                self.status, Action.APPLY_CLAIM, "本单位已退回过此工单，不能认领"
            )
        listing = int(self.shelf["number"])
        for claim in self.shelf_claims:
            if claim["unit"] != unit or claim["listing"] != listing:
                continue
            if claim["state"] == "pending":
                raise ShelfConflict(
                    self.status, Action.APPLY_CLAIM, "本单位已申请认领，请等待中心审核"
                )
            if claim["state"] == "refused":
                raise ShelfConflict(
                    self.status,
                    Action.APPLY_CLAIM,
                    f"中心已拒绝本单位的认领申请：{claim['reason']}",
                )
        if not note.strip():
            raise InvalidCommand("认领申请须写明说明（如何办理、何时到场）")
        self._claim_applied(
            number=len(self.shelf_claims) + 1,
            listing=listing,
            unit=unit,
            note=note.strip(),
            principal=principal,
            at=at,
        )

    @event("ClaimApplied")
    def _claim_applied(
        self, *, number: int, listing: int, unit: str, note: str, principal: str, at: datetime
    ) -> None:
        self.shelf_claims.append(
            {
                "number": number,
                "listing": listing,
                "unit": unit,
                "note": note,
                "by": principal,
                "at": at,
                "state": "pending",
                "reason": "",
                "decided_at": None,
            }
        )

    def _pending_claim(self, number: int) -> dict[str, Any]:
        self._require(Action.DECIDE_CLAIM)
        claim = self.claim_of(number)
        if claim is None:
            raise ShelfConflict(self.status, Action.DECIDE_CLAIM, f"没有第 {number} 号认领申请")
        if claim["state"] != "pending":
            raise ShelfConflict(
                self.status, Action.DECIDE_CLAIM, f"第 {number} 号认领申请已处理，不能再审核"
            )
        return claim

    def accept_claim(self, *, number: int, note: str, principal: str, at: datetime) -> str:
        """同意认领: the case leaves the shelf; the other claims lapse. The caller (the
        application) then dispatches the case to the claimant (a Dispatched with its clocks),
        so the claimant handles it as any unit handles a dispatched case. Returns the unit."""
        claim = self._pending_claim(number)
        self._claim_decided(
            number=number,
            unit=str(claim["unit"]),
            accepted=True,
            reason=note,
            principal=principal,
            at=at,
        )
        return str(claim["unit"])

    def refuse_claim(self, *, number: int, reason: str, principal: str, at: datetime) -> None:
        """拒绝认领: with a reason the unit reads; the case stays on the shelf."""
        claim = self._pending_claim(number)
        if not reason.strip():
            raise InvalidCommand("拒绝认领须写明理由")
        self._claim_decided(
            number=number,
            unit=str(claim["unit"]),
            accepted=False,
            reason=reason.strip(),
            principal=principal,
            at=at,
        )

    @event("ClaimDecided")
    def _claim_decided(
        self,
        *,
        number: int,
        unit: str,
        accepted: bool,
        reason: str,
        principal: str,
        at: datetime,
    ) -> None:
        for i, claim in enumerate(self.shelf_claims):
            if claim["number"] == number:
                state = "accepted" if accepted else "refused"
                self.shelf_claims[i] = {**claim, "state": state, "reason": reason, "decided_at": at}
        if accepted:
            self._lapse_claims(at)
            self.shelf = None

    # ---- 实事项目 (engine/projects.py) ----------------------------------------------------------

    def link_to_project(self, *, project_id: UUID, title: str, principal: str, at: datetime) -> bool:
        """Take the case into a practical project. A case belongs to at most one project; only
        an open case may be taken (a closed, rejected, merged or already resolved case: 409).
        Returns False (nothing to write) when it is already in this project."""
        if self.project is not None:
            if self.project["id"] == str(project_id):
                return False
            raise ProjectRefused(
                self.status, f"工单已纳入实事项目「{self.project['title']}」，一件工单只能属于一个项目"
            )
        if self.status not in ALLOWED[Action.LINK_PROJECT]:
            raise ProjectRefused(
                self.status,
                f"工单当前状态为「{STATUSES.label(self.status)}」({self.status.value})，已结束或已合并的工单"
                f"不能「{ACTIONS.label(Action.LINK_PROJECT)}」({Action.LINK_PROJECT.value})",
            )
        self._linked_to_project(project_id=str(project_id), title=title, principal=principal, at=at)
        return True

    @event("LinkedToProject")
    def _linked_to_project(self, *, project_id: str, title: str, principal: str, at: datetime) -> None:
        self.project = {"id": project_id, "title": title}

    def resolve_by_project(
        self, *, project_id: UUID, unit: str, result: str, deadline: datetime, principal: str, at: datetime
    ) -> bool:
        """项目办结: the project's completion resolves the case with the project's result, as
        the owner unit (a ``Resolved`` like any other, so 回访 and 满意率 follow as for any
        resolved case). A case no longer open (resolved on its own meanwhile) is refused as the
        transition table says; the application leaves such cases with their own outcome."""
        self._require(Action.PROJECT_RESOLVE)
        if self.project is None or self.project["id"] != str(project_id):
            raise ProjectRefused(self.status, "工单不属于该实事项目", Action.PROJECT_RESOLVE)
        if not result.strip():
            raise InvalidCommand("项目完成必须填写办理结果")
        self._resolved(
            unit=unit, result=result, on_time=at <= deadline, principal=principal, at=at
        )
        return True


def check_hand_merge(case: Case, target: Case) -> None:
    """What a merge by hand must not do; each refusal is 409 and writes nothing: into itself,
    from a status the table does not allow, into a case that is not open (closed, resolved,
    rejected), into a case that is itself merged (no chains A → B → C), and a case that others
    are merged into (their callers would be left on a merged case)."""
    if case.id == target.id:
        raise MergeRefused(case.status, "不能与自身合并")
    if case.status not in ALLOWED[Action.MERGE]:
        raise IllegalTransition(case.status, Action.MERGE)
    if target.status == Status.MERGED:
        raise MergeRefused(
            case.status, f"目标工单已并入工单 {target.merged_into}，请并入其原件"
        )
    if not target.is_open:
        raise MergeRefused(
            case.status, f"目标工单状态为「{STATUSES.label(target.status)}」，只能并入未办结的工单"
        )
    if case.duplicates:
        raise MergeRefused(
            case.status, f"该工单已有 {len(case.duplicates)} 件合并件，请先撤销其合并"
        )


def _replace(d: Dispatch, **changes: Any) -> Dispatch:
    from dataclasses import replace

    return replace(d, **changes)
