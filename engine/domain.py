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
from engine.vocabulary import ACTIONS, STATUSES
from engine.vocabulary import Action as Action
from engine.vocabulary import DeadlineKind as DeadlineKind
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
TERMINAL_STATUSES = frozenset({Status.CLOSED, Status.REJECTED, Status.MERGED})


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
    Action.FOLLOW_UP: frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY}),
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
    # 退单审核: a return waiting at the centre; 转办: the centre moves a case a unit holds.
    Action.REVIEW_RETURN: frozenset({Status.RETURNED}),
    Action.TRANSFER: _WITH_UNIT,
    # 回访未接通 / 未接通结案: the follow-up call nobody answers.
    Action.CALLBACK_UNANSWERED: frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY}),
    Action.CLOSE_UNREACHABLE: frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY}),
}


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


class NothingPending(IllegalTransition):
    """The status allows the action but what it answers is not there (no return waiting for
    review, fewer unanswered calls than the district requires): refused as an illegal
    transition (HTTP 409), with a message that says what is missing."""

    def __init__(self, status: Status, action: Action, message: str) -> None:
        super().__init__(status, action)
        self.message = message
        self.args = (message,)


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
        extension_asked = self.dispatch is not None and self.dispatch.extension_requested_to is not None
        pending = {
            Action.DECIDE_HOLD: self.hold_request is None,
            Action.REQUEST_HOLD: self.hold_request is not None,
            Action.ANSWER_INSTRUCTION: self.pending_instruction is None,
            Action.INSTRUCT: self.pending_instruction is not None,
            Action.DECIDE_EXTENSION: not extension_asked,
            Action.REQUEST_EXTENSION: extension_asked,
            Action.REVIEW_RETURN: self.return_review is None,
            Action.CLOSE_UNREACHABLE: not self.unreachable,
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

    def answer_directly(self, *, answer: str, centre: str, principal: str, at: datetime) -> None:
        """直办: the centre (its configured id) answers the case itself."""
        self._require(Action.ANSWER_DIRECTLY)
        self._answered_directly(answer=answer, unit=centre, principal=principal, at=at)

    @event("AnsweredDirectly")
    def _answered_directly(
        self, *, answer: str, principal: str, at: datetime, unit: str = LEGACY_CENTRE
    ) -> None:
        # ``unit``: the centre that answered; events written before it was recorded have none.
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


def _replace(d: Dispatch, **changes: Any) -> Dispatch:
    from dataclasses import replace

    return replace(d, **changes)
