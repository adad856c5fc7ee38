"""Request bodies of the HTTP API (field names English, descriptions Chinese)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.deadlines import SHANGHAI
from engine.domain import Rating


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _aware(v: dt.datetime) -> dt.datetime:
    return v if v.tzinfo is not None else v.replace(tzinfo=SHANGHAI)


class HotlineRecord(BaseModel):
    """12345 热线工单 (SPEC §2 hotline keys)."""

    model_config = ConfigDict(extra="allow")

    order_no: str = Field(min_length=1, max_length=200, description="工单编号")
    received_at: str = Field(min_length=1, description="来电时间 ISO 8601；无时区按北京时间")
    content: str = Field(min_length=1, description="诉求内容，最多 4000 字")
    caller_phone: str = Field("", description="来电号码")
    caller_name: str = Field("", description="来电人")
    address: str = Field("", description="诉求地址")
    appeal_type: str = Field("", description="诉求类型：咨询 求助 投诉 举报 建议")
    urgency: str = Field("", description="紧急程度：一般 / 紧急")
    category: str = Field("", description="诉求分类（话务员预判），分类代码或中文名")
    confidential: bool = Field(False, description="保密件：承办单位看不到来电人姓名和号码，由中心转达")


class ReturnBody(_Body):
    reason: str = Field(min_length=1, max_length=1000, description="退单理由")


class ExtendBody(_Body):
    until: dt.datetime = Field(description="申请延期到（办理时限）")
    reason: str = Field(min_length=1, max_length=1000, description="延期理由")

    _tz = field_validator("until")(_aware)


class ConcludeMediationBody(_Body):
    agreement: bool = Field(description="是否达成调解协议")
    summary: str = Field("", max_length=2000, description="调解情况")


class ResolveBody(_Body):
    result: str = Field(min_length=1, max_length=4000, description="办理结果")


class DispatchBody(_Body):
    unit: str = Field(min_length=1, max_length=64, description="承办单位 id")
    note: str = Field("", max_length=1000, description="派单说明")


class DecideExtensionBody(_Body):
    granted: bool = Field(description="是否同意延期")
    note: str = Field("", max_length=1000)


class FollowUpBody(_Body):
    solved: bool = Field(description="问题是否解决")
    rating: Rating | None = Field(None, description="满意 / 基本满意 / 不满意")
    comment: str = Field("", max_length=2000, description="回访记录")


class ReclassifyBody(_Body):
    category: str = Field(min_length=1, max_length=64, description="分类代码")


class AnswerBody(_Body):
    answer: str = Field(min_length=1, max_length=4000, description="直办答复内容")


class RejectBody(_Body):
    reason: str = Field(min_length=1, max_length=1000, description="不予受理理由")


class UrgeBody(_Body):
    note: str = Field("", max_length=1000, description="催办说明")


class AppRecord(BaseModel):
    """解忧超市 APP / 微网格 submission (SPEC §2 app)."""

    model_config = ConfigDict(extra="allow")

    submission_id: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1)
    user_id: str = ""
    phone: str = ""
    address: str = ""
    lat: float | None = None
    lng: float | None = None
    photos: list[str] = []
    concern: Literal["worry", "trouble", "anguish"] = "worry"
    received_at: str | None = None
    confidential: bool = Field(False, description="保密件：承办单位看不到来电人信息")


class WalkinRecord(BaseModel):
    """到点反映 / 网格员代办 ticket (SPEC §2 walkin)."""

    model_config = ConfigDict(extra="allow")

    station_id: str = Field(min_length=1, max_length=100)
    ticket_no: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1)
    staff_id: str = ""
    resident_name: str = ""
    phone: str = ""
    address: str = ""
    on_behalf: bool | str = False
    received_at: str | None = None
    confidential: bool = Field(False, description="保密件：承办单位看不到来电人信息")


def record_dict(model: BaseModel) -> dict[str, Any]:
    """The record as the channel adapter reads it (extra keys kept)."""
    return model.model_dump(exclude_none=True)
