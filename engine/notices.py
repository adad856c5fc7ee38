"""Notices (通知): who is told what, decided from the log (docs/notifications.md).

Pure domain, no infrastructure: which notices exist (:class:`NoticeKind`), the district's
recipients and Chinese templates (:class:`NotificationSettings`, the district file's
``notifications:``, checked at load: a template naming a field its notice does not have is an
error there, not at 3 a.m.), the rule that turns an event of the log into notices
(:func:`decide`), whether a resident may be told (:func:`resident_withheld`), and the record of
each outcome in the log (:class:`SentNotice` with ``NoticeSent``, or :class:`AbandonedNotice` with
``NoticeAbandoned``).

A notice's identity is its key: a digest of (where it comes from, who, which channel, which
address). The record of its outcome is an aggregate whose id is derived from the key and which
has exactly one event (version 1), so the event store's unique (id, version) lets each notice be
recorded once, whoever sends it and however often the log is replayed.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, ConfigDict, Field, model_validator

NOTICE_NAMESPACE = UUID("6e0f1c2a-7b3d-5e4f-8a9b-0c1d2e3f4a5b")


class NoticeKind(StrEnum):
    CASE_ARRIVED = "case_arrived"  # 新工单: a unit is dispatched a case
    DEADLINE_NEAR = "deadline_near"  # 即将到期: the handling deadline is near
    OVERDUE = "overdue"  # 已超期: a deadline passed (督办)
    INSTRUCTED = "instructed"  # 领导批示 on a case the unit holds
    RECEIPT = "receipt"  # 受理回执: the resident's order number
    RESULT = "result"  # 办理结果: told to the resident
    DIGEST = "digest"  # 每日摘要: the leaders' daily figures


class Audience(StrEnum):
    UNIT = "unit"
    RESIDENT = "resident"
    LEADER = "leader"


class NoticeChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


AUDIENCE: dict[NoticeKind, Audience] = {
    NoticeKind.CASE_ARRIVED: Audience.UNIT,
    NoticeKind.DEADLINE_NEAR: Audience.UNIT,
    NoticeKind.OVERDUE: Audience.UNIT,
    NoticeKind.INSTRUCTED: Audience.UNIT,
    NoticeKind.RECEIPT: Audience.RESIDENT,
    NoticeKind.RESULT: Audience.RESIDENT,
    NoticeKind.DIGEST: Audience.LEADER,
}

# The fields each notice's template may name (``${order_no}``). Every notice has ``district``.
_CASE = ("district", "order_no", "category", "unit")
FIELDS: dict[NoticeKind, tuple[str, ...]] = {
    NoticeKind.CASE_ARRIVED: (*_CASE, "claim_deadline", "deadline"),
    NoticeKind.DEADLINE_NEAR: (*_CASE, "deadline"),
    NoticeKind.OVERDUE: (*_CASE, "deadline_kind"),
    NoticeKind.INSTRUCTED: (*_CASE, "instruction", "due"),
    NoticeKind.RECEIPT: ("district", "order_no", "received_at"),
    NoticeKind.RESULT: ("district", "order_no", "result"),
    NoticeKind.DIGEST: ("district", "date", "received", "resolved", "open", "overdue"),
}


class Template(BaseModel):
    """``subject`` (e-mail only) and ``body``, with ``${field}`` placeholders
    (``string.Template``: a ``$`` of its own is written ``$$``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = ""
    body: str = Field(min_length=1)

    def render(self, fields: Mapping[str, Any]) -> tuple[str, str]:
        values = {k: "" if v is None else str(v) for k, v in fields.items()}
        return (
            string.Template(self.subject).safe_substitute(values),
            string.Template(self.body).safe_substitute(values),
        )


DEFAULT_TEMPLATES: dict[NoticeKind, Template] = {
    NoticeKind.CASE_ARRIVED: Template(
        subject="【新工单】${order_no}",
        body="${unit}：您单位有新派工单 ${order_no}（${category}），"
        "请于 ${claim_deadline} 前签收，${deadline} 前办结。",
    ),
    NoticeKind.DEADLINE_NEAR: Template(
        subject="【即将到期】${order_no}",
        body="${unit}：工单 ${order_no}（${category}）即将到期，办理时限 ${deadline}，请抓紧办理。",
    ),
    NoticeKind.OVERDUE: Template(
        subject="【已超期】${order_no}",
        body="${unit}：工单 ${order_no}（${category}）已超过${deadline_kind}，已督办，请立即处理。",
    ),
    NoticeKind.INSTRUCTED: Template(
        subject="【领导批示】${order_no}",
        body="${unit}：工单 ${order_no} 有领导批示：「${instruction}」，请于 ${due} 前回复。",
    ),
    NoticeKind.RECEIPT: Template(
        body="【${district}】您的诉求已受理，工单编号 ${order_no}，可凭编号查询办理进度。",
    ),
    NoticeKind.RESULT: Template(
        body="【${district}】您反映的诉求（工单编号 ${order_no}）已办结：${result}",
    ),
    NoticeKind.DIGEST: Template(
        subject="【每日摘要】${district} ${date}",
        body="${district} ${date}：新受理 ${received} 件，办结 ${resolved} 件；"
        "目前在办 ${open} 件，其中超期 ${overdue} 件。",
    ),
}


class Contact(BaseModel):
    """Where a unit or a leader is told: e-mail addresses, mobile numbers, and whether the
    district's webhook (SANSHI_WEBHOOK_URL) carries their notices too."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    email: list[str] = []
    sms: list[str] = []
    webhook: bool = False


class Leader(Contact):
    name: str = Field(min_length=1)


class NotificationSettings(BaseModel):
    """The district file's ``notifications:`` (docs/configuration.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    units: dict[str, Contact] = {}  # unit id → its contacts
    leaders: list[Leader] = []
    # Templates by notice kind; a kind not given keeps its default (DEFAULT_TEMPLATES).
    templates: dict[NoticeKind, Template] = {}
    # 即将到期: told once when the handling deadline is this near.
    deadline_warning_hours: float = Field(24.0, gt=0, le=24 * 30)
    # 每日摘要: sent once a day from this hour (Asia/Shanghai), with the day before's figures.
    digest_hour: int = Field(8, ge=0, le=23)
    # Residents of these channels get receipts and results by SMS (110 callers are the
    # police's); a confidential case (保密件) or a caller who declined (extra.notify_consent:
    # false) never does. A grid record on a resident's behalf carries the resident's consent,
    # an enterprise request its contact's number for the reply.
    resident_channels: list[str] = ["hotline", "app", "walkin", "grid", "enterprise"]
    # Delivery: tries per notice, and the waits between them (the last repeats).
    max_attempts: int = Field(6, ge=1, le=50)
    retry_seconds: list[float] = Field([10.0, 30.0, 120.0, 600.0, 1800.0], min_length=1)
    # A result longer than this is cut (an SMS is short); "…" marks the cut.
    result_chars: int = Field(70, ge=10, le=2000)

    @model_validator(mode="after")
    def _templates_name_known_fields(self) -> NotificationSettings:
        for kind, template in self.templates.items():
            allowed = FIELDS[kind]
            for part, text in (("subject", template.subject), ("body", template.body)):
                t = string.Template(text)
                if not t.is_valid():
                    raise ValueError(
                        f"templates.{kind.value}.{part}: 占位符写法有误（用 ${{字段}}，$ 本身写作 $$）"
                    )
                unknown = [f for f in t.get_identifiers() if f not in allowed]
                if unknown:
                    raise ValueError(
                        f"templates.{kind.value}.{part}: 未知字段 "
                        + "、".join(f"${{{f}}}" for f in unknown)
                        + f"（可用：{'、'.join(allowed)}）"
                    )
        return self

    def template(self, kind: NoticeKind) -> Template:
        return self.templates.get(kind) or DEFAULT_TEMPLATES[kind]

    def retry_after(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed try."""
        waits = self.retry_seconds
        return waits[min(attempts, len(waits)) - 1]


# ---- deciding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """A notice decided, before it is addressed: ``source`` names what it comes from (an event
    ``<case id>:<version>``, a deadline, a day) and, with the recipient, makes its key."""

    kind: NoticeKind
    source: str
    case_id: UUID | None
    target: str  # a unit id, a leader's name, or "resident"
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def audience(self) -> Audience:
        return AUDIENCE[self.kind]


# The events :func:`decide` reads (the others call for no notice, and are not even decoded).
DECIDING_EVENTS = frozenset(
    {"Dispatched", "Escalated", "Instructed", "Numbered", "Resolved", "AnsweredDirectly", "OriginalResolved"}
)


def decide(name: str, state: Mapping[str, Any], case_id: UUID, version: int) -> list[Intent]:
    """The notices an event of a case calls for (the others call for none)."""
    source = f"{case_id}:{version}"
    if name == "Dispatched":
        return [
            Intent(
                NoticeKind.CASE_ARRIVED,
                source,
                case_id,
                str(state["unit"]),
                {"claim_deadline": state["claim_deadline"], "deadline": state["handle_deadline"]},
            )
        ]
    if name == "Escalated":
        return [
            Intent(NoticeKind.OVERDUE, source, case_id, str(state["unit"]), {"deadline_kind": state["kind"]})
        ]
    if name == "Instructed":
        return [
            Intent(
                NoticeKind.INSTRUCTED,
                source,
                case_id,
                str(state["unit"]),
                {"instruction": state["text"], "due": state["due"]},
            )
        ]
    if name == "Numbered":
        return [Intent(NoticeKind.RECEIPT, source, case_id, "resident")]
    if name in ("Resolved", "AnsweredDirectly", "OriginalResolved"):
        result = state.get("result", state.get("answer", ""))
        return [Intent(NoticeKind.RESULT, source, case_id, "resident", {"result": result})]
    return []


def deadline_near(case_id: UUID, unit: str, deadline: datetime) -> Intent:
    """即将到期: once per handling deadline (an extension moves it: warned again)."""
    return Intent(
        NoticeKind.DEADLINE_NEAR,
        f"near:{case_id}:{deadline.isoformat()}",
        case_id,
        unit,
        {"deadline": deadline},
    )


def digest(day: str, leader: str, figures: Mapping[str, int]) -> Intent:
    return Intent(NoticeKind.DIGEST, f"digest:{day}", None, leader, {"date": day, **figures})


def notice_key(source: str, kind: NoticeKind, target: str, channel: str, address: str) -> str:
    """The notice's idempotency key: the same source, recipient and channel is one notice,
    however often it is decided (a replayed log, two senders)."""
    raw = "|".join((source, kind.value, target, channel, address))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def notice_id(key: str) -> UUID:
    return uuid5(NOTICE_NAMESPACE, key)


def resident_withheld(
    *, channel: str, confidential: bool, phone: str, extra: Mapping[str, Any], settings: NotificationSettings
) -> str | None:
    """Why a resident may not be told by SMS (None: they may)."""
    if confidential:
        return "保密件，不向来电人发送短信"
    if extra.get("notify_consent") is False:
        return "来电人不同意接收短信"
    if channel not in settings.resident_channels:
        return f"渠道 {channel} 不向来电人发送短信"
    if not phone.strip():
        return "无来电号码"
    return None


# ---- the record of each outcome, in the log --------------------------------------------------

NOTICE_EVENTS = frozenset({"NoticeSent", "NoticeAbandoned"})


class SentNotice(Aggregate):
    """A notice delivered: who was told what, when, through which channel, and the
    receiver's receipt. One event; its id comes from the notice's key."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return notice_id(key)

    @event("NoticeSent")
    def __init__(
        self,
        *,
        key: str,
        kind: str,
        channel: str,
        audience: str,
        target: str,
        case_id: UUID | None,
        text: str,
        receipt: str,
        attempts: int,
        principal: str,
        at: datetime,
    ) -> None:
        self.key = key
        self.kind = kind
        self.channel = channel
        self.audience = audience
        self.target = target
        self.case_id = case_id
        self.text = text
        self.receipt = receipt
        self.attempts = attempts
        self.at = at


class AbandonedNotice(Aggregate):
    """A notice given up after its tries (dead-lettered), with the last reason. It has the
    same id as its :class:`SentNotice` would: a notice has one outcome in the log."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return notice_id(key)

    @event("NoticeAbandoned")
    def __init__(
        self,
        *,
        key: str,
        kind: str,
        channel: str,
        audience: str,
        target: str,
        case_id: UUID | None,
        reason: str,
        attempts: int,
        principal: str,
        at: datetime,
    ) -> None:
        self.key = key
        self.kind = kind
        self.channel = channel
        self.audience = audience
        self.target = target
        self.case_id = case_id
        self.reason = reason
        self.attempts = attempts
        self.at = at
