"""The one intake command every channel adapter produces (SPEC §2).

Adapters translate a raw record into an :class:`IntakeCommand` and do nothing else; the
application service turns it into a ``Case.Received`` event. The command is also the message
published to Kafka, so it (de)serialises to JSON losslessly.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.domain import case_id_for

MAX_CONTENT_CHARS = 4000  # SPEC §2: content up to 4,000 characters


class Channel(StrEnum):
    HOTLINE = "hotline"  # 12345 热线
    POLICE = "police"  # 110 非警务警情 (警司联动)
    APP = "app"  # 解忧超市 APP / 微网格
    WALKIN = "walkin"  # 到点反映 / 网格员代办


class Concern(StrEnum):
    WORRY = "worry"  # 操心事
    TROUBLE = "trouble"  # 烦心事
    ANGUISH = "anguish"  # 揪心事 (urgent)


CHANNEL_ZH: dict[str, str] = {
    Channel.HOTLINE: "12345热线",
    Channel.APP: "解忧超市APP",
    Channel.WALKIN: "窗口到点反映",
    Channel.POLICE: "110警情",
}
CONCERN_ZH: dict[str, str] = {
    Concern.WORRY: "操心事",
    Concern.TROUBLE: "烦心事",
    Concern.ANGUISH: "揪心事",
}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class IntakeCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel
    source_ref: str = Field(min_length=1, max_length=200)
    received_at: dt.datetime
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    address: str = Field("", max_length=500)
    caller_name: str = Field("", max_length=100)
    caller_phone: str = Field("", max_length=50)
    appeal_type: str = ""  # 咨询 求助 投诉 举报 建议
    urgent: bool = False
    category_hint: str = ""
    concern: Concern = Concern.WORRY
    # 保密件: the caller asked for confidentiality; no unit sees their name or number.
    confidential: bool = False
    # Channel-specific fields kept as given (photos, lat/lng, station, police category...).
    extra: dict[str, Any] = {}

    @field_validator("received_at")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("received_at must carry a timezone")
        return v

    @field_validator("content", "address", "caller_name", "source_ref")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return nfc(v)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("content is blank")
        return v

    @property
    def case_id(self) -> UUID:
        return case_id_for(self.channel.value, self.source_ref)
