"""The one intake command every channel adapter produces (docs/channels.md).

Adapters translate a raw record into an :class:`IntakeCommand` and do nothing else; the
application service turns it into a ``Case.Received`` event. The command is also the message
published to Kafka, so it (de)serialises to JSON losslessly.
"""

from __future__ import annotations

import unicodedata
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from engine.contract import (
    MAX_CONTENT,
    Address,
    AppealType,
    BusinessTime,
    Code,
    Content,
    Extra,
    Name,
    Phone,
    SourceRef,
)
from engine.domain import case_id_for
from engine.vocabulary import Channel as Channel
from engine.vocabulary import Concern as Concern

MAX_CONTENT_CHARS = MAX_CONTENT  # docs/channels.md: content up to 4,000 characters


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class IntakeCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The input contract (engine.contract): the same rules at every door, and this command is
    # the Kafka message, so a message that breaks them is dead-lettered by the worker.
    channel: Channel
    source_ref: SourceRef
    received_at: BusinessTime
    content: Content
    address: Address = ""
    caller_name: Name = ""
    caller_phone: Phone = ""
    appeal_type: AppealType = ""  # 咨询 求助 投诉 举报 建议 表扬
    urgent: bool = False
    category_hint: Code = ""
    concern: Concern = Concern.WORRY
    # 保密件: the caller asked for confidentiality; no unit sees their name or number.
    confidential: bool = False
    # 不合并: the operator saw the router's proposed merge and kept the case separate; it is
    # routed as its own case and the proposal is recorded (MergeDeclined).
    keep_separate: bool = False
    # Channel-specific fields kept as given (photos, lat/lng, station, police category...),
    # bounded in size and depth, every string under the text rule.
    extra: Extra = {}

    @property
    def case_id(self) -> UUID:
        return case_id_for(self.channel.value, self.source_ref)
