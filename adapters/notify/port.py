"""The one port every notice goes through: ``send(notice) -> Receipt`` (docs/notifications.md).

An adapter delivers one notice or raises :class:`DeliveryFailed`, saying whether trying again
can help (``permanent``: the receiver refused it for good, e.g. HTTP 400 or SMTP 550). Every
notice carries its idempotency key: adapters pass it on (the ``Idempotency-Key`` header, the
e-mail's ``Message-ID``), so a receiver that got a notice twice (the sender crashed between
delivering and recording it) can tell.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID


@dataclass(frozen=True)
class OutgoingNotice:
    key: str  # the idempotency key (engine.notices.notice_key)
    kind: str  # engine.notices.NoticeKind
    channel: str  # email | sms | webhook
    audience: str  # unit | resident | leader
    target: str  # the unit id, the leader's name, or "resident"
    address: str  # e-mail address or mobile number ("" for the webhook)
    subject: str
    body: str
    at: dt.datetime  # when it was decided
    case_id: UUID | None = None
    order_no: str = ""

    def payload(self) -> dict[str, Any]:
        """What the webhook posts (no resident's number: residents are told by SMS only)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "audience": self.audience,
            "target": self.target,
            "case_id": str(self.case_id) if self.case_id else None,
            "order_no": self.order_no or None,
            "subject": self.subject,
            "text": self.body,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class Receipt:
    detail: str  # what the receiver answered: a message id, an HTTP status


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@runtime_checkable
class NoticeSender(Protocol):
    channel: str

    def send(self, notice: OutgoingNotice) -> Receipt: ...

    def close(self) -> None: ...
