"""Request bodies of the HTTP API (field names English, descriptions Chinese)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.contract import (
    Address,
    AppealType,
    Code,
    Content,
    LocalBusinessTime,
    Name,
    Note,
    Number,
    Phone,
    Reason,
    Ref,
    RequiredCode,
    Result,
    SourceRef,
    Summary,
    Url,
)
from engine.domain import Rating

# Every text and time field is one of the input contract's types (engine.contract): the
# same rules as Open311, ``sanshi ingest`` and Kafka; a refusal is 422 naming the field.


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A record's time as the channel adapter reads it (ISO 8601 or an export's spelling); the
# adapter applies the business-time rule.
RecordTime = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class HotlineRecord(BaseModel):
    """12345 热线工单 (docs/channels.md hotline keys)."""

    model_config = ConfigDict(extra="allow")

    order_no: SourceRef = Field(description="工单编号")
    received_at: RecordTime = Field(description="来电时间 ISO 8601；无时区按北京时间")
    content: Content = Field(description="诉求内容，最多 4000 字")
    caller_phone: Phone = Field("", description="来电号码")
    caller_name: Name = Field("", description="来电人")
    address: Address = Field("", description="诉求地址")
    appeal_type: AppealType = Field("", description="诉求类型：咨询 求助 投诉 举报 建议 表扬")
    urgency: Code = Field("", description="紧急程度：一般 / 紧急")
    category: Code = Field("", description="诉求分类（话务员预判），分类代码或中文名")
    confidential: bool = Field(False, description="保密件：承办单位看不到来电人姓名和号码，由中心转达")
    keep_separate: bool = Field(False, description="不合并：智能分拨提示重复时，话务员决定单独立案")


class ReturnBody(_Body):
    reason: Reason = Field(description="退单理由")
    suggested_unit: Code | None = Field(
        None,
        description="建议承办单位 id（选填）：中心审核同意后默认转派给它（开启自动改派时立即改派），"
        "路由也记住此处此类诉求归它",
    )


class ExtendBody(_Body):
    until: LocalBusinessTime = Field(
        description="申请延期到（办理时限）；无时区按北京时间；须晚于当前办理时限，且不超过延期上限"
    )
    reason: Reason = Field(description="延期理由")


class ConcludeMediationBody(_Body):
    agreement: bool = Field(description="是否达成调解协议")
    summary: Summary = Field("", description="调解情况")


class ResolveBody(_Body):
    result: Result = Field(description="办理结果")


class DispatchBody(_Body):
    unit: RequiredCode = Field(description="承办单位 id")
    note: Note = Field("", description="派单说明")
    assisting: list[RequiredCode] = Field(
        [], max_length=20, description="协办单位 id（选填）：主办之外同时派给的协办单位"
    )


class DecideExtensionBody(_Body):
    granted: bool = Field(description="是否同意延期")
    note: Note = ""


class HoldBody(_Body):
    reason: Reason = Field(description="挂起理由（如：等待法院开庭、当事人外出）")
    expected_resume: LocalBusinessTime | None = Field(
        None, description="预计恢复办理时间（可选）；无时区按北京时间"
    )


class DecideHoldBody(_Body):
    granted: bool = Field(description="是否同意挂起")
    note: Note = Field("", description="审批意见；不同意时必填，退回承办单位")


class InstructBody(_Body):
    text: Result = Field(description="批示内容")


class InstructionReplyBody(_Body):
    reply: Result = Field(description="批示回复")


# ---- 主办/协办 and 吹哨报到 ----------------------------------------------------------------------


class AssistBody(_Body):
    units: list[RequiredCode] = Field(min_length=1, max_length=20, description="协办单位 id")
    note: Note = Field("", description="派单说明")


class WhistleBody(_Body):
    departments: list[RequiredCode] = Field(
        min_length=1, max_length=20, description="点名报到的部门 id"
    )
    reason: Reason = Field(description="吹哨事由")


class PartReportBody(_Body):
    feedback: Result = Field(description="协办反馈：本单位办理情况")


class PartReturnBody(_Body):
    reason: Reason = Field(description="协办退回理由")


class ClosePartBody(_Body):
    note: Note = Field(description="关闭协办的意见")


class FollowUpBody(_Body):
    solved: bool = Field(description="问题是否解决")
    rating: Rating | None = Field(None, description="满意 / 基本满意 / 不满意")
    comment: Summary = Field("", description="回访记录")


class ReclassifyBody(_Body):
    category: RequiredCode = Field(description="分类代码")


class AnswerBody(_Body):
    answer: Result = Field(description="直办答复内容")


class RejectBody(_Body):
    reason: Reason = Field(description="不予受理理由")


class UrgeBody(_Body):
    note: Note = Field("", description="催办说明")


# ---- 退单审核, 转办, 回访未接通, 未接通结案 (docs/lifecycle.md) ----------------------------------


class ReviewReturnBody(_Body):
    approved: bool = Field(description="是否同意退单")
    unit: Code | None = Field(
        None, description="同意时转派的承办单位 id；不填则转派给退单建议的单位"
    )
    note: Note = Field("", description="审核意见；不同意时必填，退回原承办单位")


class TransferBody(_Body):
    unit: RequiredCode = Field(description="转办给的承办单位 id")
    note: Note = Field(description="转办说明（必填，新承办单位可见）")


class CallbackNoteBody(_Body):
    note: Note = Field("", description="回访记录（如：三次拨打均无人接听）")


class AppRecord(BaseModel):
    """解忧超市 APP / 微网格 submission (docs/channels.md app)."""

    model_config = ConfigDict(extra="allow")

    submission_id: SourceRef
    content: Content
    user_id: Ref = ""
    phone: Phone = ""
    address: Address = ""
    lat: Number | None = Field(None, ge=-90, le=90)
    lng: Number | None = Field(None, ge=-180, le=180)
    photos: list[Url] = Field([], max_length=50)
    concern: Literal["worry", "trouble", "anguish"] = "worry"
    received_at: RecordTime | None = None
    confidential: bool = Field(False, description="保密件：承办单位看不到来电人信息")


class WalkinRecord(BaseModel):
    """到点反映 / 网格员代办 ticket (docs/channels.md walkin)."""

    model_config = ConfigDict(extra="allow")

    station_id: Annotated[SourceRef, Field(max_length=100)]
    ticket_no: Annotated[SourceRef, Field(max_length=100)]
    content: Content
    staff_id: Ref = ""
    resident_name: Name = ""
    phone: Phone = ""
    address: Address = ""
    on_behalf: bool | Code = False
    received_at: RecordTime | None = None
    confidential: bool = Field(False, description="保密件：承办单位看不到来电人信息")


class MediaRecord(BaseModel):
    """媒体监督: a published report (docs/channels.md media); the adapter checks the URL."""

    model_config = ConfigDict(extra="allow")

    outlet: Annotated[Ref, StringConstraints(min_length=1)]
    title: Annotated[Note, StringConstraints(min_length=1)]
    url: Annotated[Url, StringConstraints(min_length=1)]
    published_at: RecordTime
    passage: Content
    received_at: RecordTime | None = None
    address: Address = ""
    category: Code = ""
    urgency: Code = ""


class TownRecord(BaseModel):
    """镇呼市应: a street asking a department (docs/channels.md town); the adapter checks that
    the street is one of the district's."""

    model_config = ConfigDict(extra="allow")

    street: RequiredCode
    request_no: Annotated[SourceRef, Field(max_length=100)]
    received_at: RecordTime
    content: Content
    department: Ref = ""
    address: Address = ""
    category: Code = ""
    urgency: Code = ""


def record_dict(model: BaseModel) -> dict[str, Any]:
    """The record as the channel adapter reads it (extra keys kept)."""
    return model.model_dump(exclude_none=True)
