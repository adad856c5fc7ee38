"""The one vocabulary (词表): every code sanshi writes, with its Chinese label beside it.

Kept together in one place, as Amsterdam Signals' ``workflow.py`` keeps each status code with
its label: the enumerations themselves (:class:`Status`, :class:`Action`, :class:`Channel` ...)
are defined here, next to the label each one is shown with, and every screen, printout, CSV
header and error message takes its words from here. The web UI reads the same words from
``GET /api/meta`` (:func:`as_json`) instead of keeping copies of its own, so a label changed
here changes everywhere at once.

Labels follow the project's contract (docs/lifecycle.md, docs/channels.md, docs/rates.md). Pure: standard library
only; the domain (``engine.domain``), the intake command (``engine.intake``) and the district
file (``engine.config``) import their enumerations from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal, TypeVar

# ---- the building blocks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One code and the Chinese label it is shown with; ``hint`` says more where a screen
    needs it (揪心事 is urgent)."""

    code: str
    label: str
    hint: str = ""

    @property
    def long_label(self) -> str:
        """The label with its hint: 揪心事（紧急）."""
        return f"{self.label}（{self.hint}）" if self.hint else self.label

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "label": self.label}
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass(frozen=True)
class Rate(Term):
    """One of the seven rates of docs/rates.md: numerator counts over a denominator count (codes of
    :data:`COUNTS`)."""

    numerator: tuple[str, ...] = ()
    denominator: str = ""
    # 口径: what the rate divides by what, in the words a leader reads on hover; docs/rates.md
    # carries the same text verbatim (tests/unit/test_rate_definitions.py).
    definition: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            **super().as_json(),
            "numerator": list(self.numerator),
            "denominator": self.denominator,
            "definition": self.definition,
        }


@dataclass(frozen=True)
class Vocabulary:
    """A named list of terms, in the order screens show them."""

    name: str  # the key under which /api/meta serves it
    title: str  # what the list is called (Chinese)
    terms: tuple[Term, ...]
    _by_code: dict[str, Term] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code = {t.code: t for t in self.terms}
        if len(by_code) != len(self.terms):
            raise ValueError(f"vocabulary {self.name}: a code is listed twice")
        object.__setattr__(self, "_by_code", by_code)

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self.terms)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.terms)

    def term(self, code: str) -> Term:
        return self._by_code[code]

    def label(self, code: str | None, default: str | None = None) -> str:
        """The label of ``code``; an unknown code shows ``default`` (the code itself when no
        default is given), so an old log's value still prints."""
        if code is not None and code in self._by_code:
            return self._by_code[code].label
        if default is not None:
            return default
        return "" if code is None else str(code)

    def labels(self) -> dict[str, str]:
        """code → label, in order."""
        return {t.code: t.label for t in self.terms}

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "terms": [t.as_json() for t in self.terms]}


_Code = TypeVar("_Code", bound=str)


def _vocabulary(name: str, title: str, labels: Mapping[_Code, str] | Iterable[Term]) -> Vocabulary:
    if isinstance(labels, Mapping):
        terms = tuple(Term(str(code), label) for code, label in labels.items())
    else:
        terms = tuple(labels)
    return Vocabulary(name, title, terms)


# ---- case statuses (工单状态, docs/lifecycle.md) ------------------------------------------------------------


class Status(StrEnum):
    RECEIVED = "received"  # 受理: in the centre, waiting for dispatch
    DISPATCHED = "dispatched"  # 派单
    CLAIMED = "claimed"  # 签收
    MEDIATING = "mediating"  # 调解中
    RETURNED = "returned"  # 退单: back at the centre
    RESOLVED = "resolved"  # 办结: waiting for the follow-up call
    REOPENED = "reopened"  # 重办: waiting for the next dispatch
    CLOSED = "closed"  # 结案 (terminal)
    ANSWERED_DIRECTLY = "answered_directly"  # 直办: counts as resolved
    REJECTED = "rejected"  # 不予受理 (terminal)
    MERGED = "merged"  # 合并 into another open case (terminal)
    ON_HOLD = "on_hold"  # 挂起中: the centre stopped the handling clock at the unit's request
    # 已转出: handed to another district of the city (跨区转办, docs/city.md); terminal here
    TRANSFERRED_OUT = "transferred_out"


STATUSES: Final = _vocabulary(
    "statuses",
    "工单状态",
    {
        Status.RECEIVED: "已受理",
        Status.DISPATCHED: "已派单",
        Status.CLAIMED: "已签收",
        Status.MEDIATING: "调解中",
        Status.RETURNED: "已退单",
        Status.RESOLVED: "已办结",
        Status.REOPENED: "重办",
        Status.CLOSED: "已结案",
        Status.ANSWERED_DIRECTLY: "直办",
        Status.REJECTED: "不予受理",
        Status.MERGED: "已合并",
        Status.ON_HOLD: "挂起中",
        Status.TRANSFERRED_OUT: "已转出",
    },
)

# ---- lifecycle actions (办理动作): what a command is called when it is refused ------------------


class Action(StrEnum):
    CLASSIFY = "classify"
    DISPATCH = "dispatch"
    CLAIM = "claim"
    RETURN = "return"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    START_MEDIATION = "start_mediation"
    CONCLUDE_MEDIATION = "conclude_mediation"
    RESOLVE = "resolve"
    FOLLOW_UP = "follow_up"
    ANSWER_DIRECTLY = "answer_directly"
    REJECT = "reject"
    MERGE = "merge"
    ESCALATE = "escalate"
    URGE = "urge"
    SEND_TO_MANUAL = "send_to_manual"
    LINK_DUPLICATE = "link_duplicate"
    CLOSE = "close"
    REVEAL_CONTACT = "reveal_contact"  # 查看联系方式: the claiming unit reads the caller's number
    REQUEST_HOLD = "request_hold"  # 申请挂起: the unit asks to stop the handling clock
    DECIDE_HOLD = "decide_hold"  # 审批挂起: the centre approves or refuses
    RESUME = "resume"  # 恢复办理: the clock runs again, the deadline moved by the paused time
    INSTRUCT = "instruct"  # 领导批示: a leader's instruction to the unit holding the case
    ANSWER_INSTRUCTION = "answer_instruction"  # 批示回复: the unit answers the instruction
    # 主办/协办 and 吹哨报到 (docs/lifecycle.md): parts of a case held by assisting units.
    ADD_ASSIST = "add_assist"  # 增派协办: the centre names an assisting unit
    WHISTLE = "whistle"  # 吹哨: the street/community leading the case calls departments in
    CLAIM_PART = "claim_part"  # 协办签收 / 报到: an assisting unit takes up its part
    REPORT_PART = "report_part"  # 协办反馈: an assisting unit reports its part done
    RETURN_PART = "return_part"  # 协办退回: an assisting unit gives its part back, with reason
    CLOSE_PART = "close_part"  # 关闭协办: the centre closes a part
    ESCALATE_PART = "escalate_part"  # 协办督办: the clock escalates a part's missed deadline
    # Merges under the centre's hand (docs/lifecycle.md, Merges): the operator takes a merged
    # case out again; the merged callers are told when their original is resolved.
    UNMERGE = "unmerge"  # 撤销合并: the merged case becomes its own case and is routed
    ORIGINAL_RESOLVED = "original_resolved"  # 原件办结: the merged caller waits for a callback
    REVIEW_RETURN = "review_return"  # 退单审核: the centre approves (转派) or refuses a return
    TRANSFER = "transfer"  # 转办: the centre moves a case a unit holds to another unit
    CALLBACK_UNANSWERED = "callback_unanswered"  # 回访未接通: a follow-up call nobody answered
    CLOSE_UNREACHABLE = "close_unreachable"  # 未接通结案: closed after the configured attempts
    # 认领大厅 (docs/lifecycle.md, The open shelf): the centre puts a case on the shelf, units
    # apply to claim it, the centre accepts (the claimant handles it) or refuses, or takes it off.
    SHELVE = "shelve"  # 上架
    UNSHELVE = "unshelve"  # 下架
    APPLY_CLAIM = "apply_claim"  # 认领申请
    DECIDE_CLAIM = "decide_claim"  # 认领审核
    # 实事项目 (engine/projects.py): a case taken into a project, resolved by its completion.
    LINK_PROJECT = "link_project"  # 纳入实事项目
    PROJECT_RESOLVE = "project_resolve"  # 项目办结: the project's result resolves the case
    # 跨区转办 (docs/city.md): the centre hands a case that belongs to another district of the
    # city over to it; closed here as 已转出, received there as a new case.
    TRANSFER_OUT = "transfer_out"


ACTIONS: Final = _vocabulary(
    "actions",
    "办理动作",
    {
        Action.CLASSIFY: "分类",
        Action.DISPATCH: "派单",
        Action.CLAIM: "签收",
        Action.RETURN: "退单",
        Action.REQUEST_EXTENSION: "申请延期",
        Action.DECIDE_EXTENSION: "审批延期",
        Action.START_MEDIATION: "开始调解",
        Action.CONCLUDE_MEDIATION: "结束调解",
        Action.RESOLVE: "办结",
        Action.FOLLOW_UP: "回访",
        Action.ANSWER_DIRECTLY: "直办",
        Action.REJECT: "不予受理",
        Action.MERGE: "合并",
        Action.ESCALATE: "督办",
        Action.URGE: "催办",
        Action.SEND_TO_MANUAL: "转人工",
        Action.LINK_DUPLICATE: "关联重复件",
        Action.CLOSE: "结案",
        Action.REVEAL_CONTACT: "查看联系方式",
        Action.REQUEST_HOLD: "申请挂起",
        Action.DECIDE_HOLD: "审批挂起",
        Action.RESUME: "恢复办理",
        Action.INSTRUCT: "领导批示",
        Action.ANSWER_INSTRUCTION: "批示回复",
        Action.ADD_ASSIST: "增派协办",
        Action.WHISTLE: "吹哨报到",
        Action.CLAIM_PART: "协办签收",
        Action.REPORT_PART: "协办反馈",
        Action.RETURN_PART: "协办退回",
        Action.CLOSE_PART: "关闭协办",
        Action.ESCALATE_PART: "协办督办",
        Action.UNMERGE: "撤销合并",
        Action.ORIGINAL_RESOLVED: "原件办结",
        Action.REVIEW_RETURN: "退单审核",
        Action.TRANSFER: "转办",
        Action.CALLBACK_UNANSWERED: "回访未接通",
        Action.CLOSE_UNREACHABLE: "未接通结案",
        Action.SHELVE: "上架认领",
        Action.UNSHELVE: "下架",
        Action.APPLY_CLAIM: "认领申请",
        Action.DECIDE_CLAIM: "认领审核",
        Action.LINK_PROJECT: "纳入实事项目",
        Action.PROJECT_RESOLVE: "项目办结",
        Action.TRANSFER_OUT: "跨区转办",
    },
)

# ---- event kinds (办理过程): the name of each event of a case's history --------------------------

# Codes are the events' names in the log (``Case.Received`` ...), so they stay as written.
EVENT_KINDS: Final = _vocabulary(
    "event_kinds",
    "办理过程",
    {
        "Received": "受理",
        "Classified": "分类",
        "Dispatched": "派单",
        "Claimed": "签收",
        "Returned": "退单",
        "ExtensionRequested": "申请延期",
        "ExtensionDecided": "延期审批",
        "MediationStarted": "开始调解",
        "MediationConcluded": "调解结束",
        "Resolved": "办结",
        "AnsweredDirectly": "直办",
        "Rejected": "不予受理",
        "FollowedUp": "回访",
        "Reopened": "重办",
        "Closed": "结案",
        "Escalated": "督办",
        "Urged": "催办",
        "Merged": "合并",
        "DuplicateLinked": "关联重复件",
        "SentToManual": "转人工派单",
        "ContactRevealed": "查看了联系方式",
        "MarkedConfidential": "保密件",
        "HoldRequested": "申请挂起",
        "HoldDecided": "挂起审批",
        "Resumed": "恢复办理",
        "Instructed": "领导批示",
        "InstructionAnswered": "批示回复",
        "AssistAdded": "增派协办",
        "Whistled": "吹哨",
        "PartClaimed": "协办签收",
        "PartReported": "协办反馈",
        "PartReturned": "协办退回",
        "PartClosed": "关闭协办",
        "PartEscalated": "协办督办",
        # Merges under the centre's hand, 一表通, 通报/追责
        "Unmerged": "撤销合并",
        "DuplicateUnlinked": "取消关联合并件",
        "OriginalResolved": "原件已办结",
        "MergeDeclined": "不合并，单独立案",
        "LinkedToForm": "一表通事项",
        "FormSubmitted": "一表通",
        "UnitCensured": "通报/追责",
        "ReturnReviewed": "退单审核",
        "Transferred": "转办",
        "TransferredOut": "跨区转出",
        "CallbackUnanswered": "回访未接通",
        "ClosedUnreachable": "未接通结案",
        # 附件 (engine/attachments.py)
        "AttachmentAdded": "添加附件",
        "AttachmentPublicity": "附件公开设置",
        # 工单编号 (engine.order_numbers)
        "Numbered": "工单编号",
        # 通知 (engine.notices)
        "NoticeSent": "已通知",
        "NoticeAbandoned": "通知失败",
        # 认领大厅 (docs/lifecycle.md, The open shelf)
        "ShelfListed": "上架认领",
        "ShelfWithdrawn": "下架",
        "ClaimApplied": "认领申请",
        "ClaimDecided": "认领审核",
        # 实事项目 (engine/projects.py)
        "LinkedToProject": "纳入实事项目",
        "ProjectOpened": "实事项目立项",
        "ProjectCasesLinked": "实事项目关联工单",
        "ProjectProgressReported": "实事项目进度",
        "ProjectCompleted": "实事项目完成",
    },
)

# ---- parts of a co-handled case (协办, docs/lifecycle.md) ----------------------------------------------


class PartStatus(StrEnum):
    ASSIGNED = "assigned"  # 待签收 (a whistled department: 待报到)
    CLAIMED = "claimed"  # 办理中 (signed for / reported in)
    REPORTED = "reported"  # 已反馈: the part is in
    RETURNED = "returned"  # 已退回: waits for the centre to close it
    CLOSED = "closed"  # 中心关闭: the part is in


PART_STATUSES: Final = _vocabulary(
    "part_statuses",
    "协办状态",
    {
        PartStatus.ASSIGNED: "待签收",
        PartStatus.CLAIMED: "办理中",
        PartStatus.REPORTED: "已反馈",
        PartStatus.RETURNED: "已退回",
        PartStatus.CLOSED: "中心关闭",
    },
)

# The figures of co-handled parts and whistles (docs/rates.md, 协办与吹哨); per assisting unit.
COOP_FIGURES: Final = _vocabulary(
    "coop_figures",
    "协办与吹哨统计",
    {
        "parts": "协办件",
        "claimed": "已签收",
        "claimed_on_time": "按时签收",
        "reported": "已反馈",
        "reported_on_time": "按时反馈",
        "returned": "退回",
        "closed": "中心关闭",
        "outstanding": "未完成",
        "response_rate": "协办响应率",
        "on_time_rate": "协办按时反馈率",
        "whistles": "吹哨次数",
        "called": "吹哨部门数",
        "whistled": "被吹哨",
        "reported_in": "已报到",
        "reported_in_on_time": "按时报到",
        "report_rate": "报到率",
        "mean_minutes_to_report": "平均报到用时（分钟）",
    },
)

# ---- channels (受理渠道, docs/channels.md) -----------------------------------------------------------------


class Channel(StrEnum):
    HOTLINE = "hotline"  # 12345 热线
    POLICE = "police"  # 110 非警务警情 (警司联动)
    APP = "app"  # 解忧超市 APP / 微网格
    WALKIN = "walkin"  # 到点反映 / 网格员代办
    GRID = "grid"  # 网格员上报 / 走访 (issue #20)
    ENTERPRISE = "enterprise"  # 企呼市应 (issue #20)
    MEDIA = "media"  # 媒体监督: a published report as the source
    COURT = "court"  # 诉前调解: the court's pre-litigation mediation referral
    TOWN = "town"  # 镇呼市应: a town or street asking a city department
    TRANSFER = "transfer"  # 跨区转入: handed over by another district of the city (docs/city.md)


CHANNELS: Final = _vocabulary(
    "channels",
    "受理渠道",
    {
        Channel.HOTLINE: "12345热线",
        Channel.POLICE: "110警情",
        Channel.APP: "解忧超市APP",
        Channel.WALKIN: "窗口到点反映",
        Channel.GRID: "网格员上报",
        Channel.ENTERPRISE: "企呼市应",
        Channel.MEDIA: "媒体监督",
        Channel.COURT: "诉前调解",
        Channel.TOWN: "镇呼市应",
        Channel.TRANSFER: "跨区转入",
    },
)

# ---- 三事 (concern) -------------------------------------------------------------------------------


class Concern(StrEnum):
    WORRY = "worry"  # 操心事
    TROUBLE = "trouble"  # 烦心事
    ANGUISH = "anguish"  # 揪心事 (urgent)


CONCERNS: Final = _vocabulary(
    "concerns",
    "三事",
    (
        Term(Concern.WORRY.value, "操心事"),
        Term(Concern.TROUBLE.value, "烦心事"),
        Term(Concern.ANGUISH.value, "揪心事", hint="紧急"),
    ),
)

# ---- 诉求类型 (appeal type): the code is the Chinese word itself ---------------------------------

# docs/channels.md: enquiry, help, complaint, report, suggestion, praise ("" = not given).
AppealType = Literal["", "咨询", "求助", "投诉", "举报", "建议", "表扬"]
APPEAL_TYPES: Final = _vocabulary(
    "appeal_types",
    "诉求类型",
    {t: t for t in ("咨询", "求助", "投诉", "举报", "建议", "表扬")},
)

# ---- 回访评价 (rating) ------------------------------------------------------------------------------


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


RATINGS: Final = _vocabulary(
    "ratings",
    "回访评价",
    {
        Rating.SATISFIED: "满意",
        Rating.BASICALLY_SATISFIED: "基本满意",
        Rating.DISSATISFIED: "不满意",
    },
)

# ---- roles (角色) and unit kinds (单位类型) of the district file ------------------------------------


class Role(StrEnum):
    OPERATOR = "operator"
    UNIT = "unit"
    LEADER = "leader"
    ADMIN = "admin"


ROLES: Final = _vocabulary(
    "roles",
    "角色",
    {Role.OPERATOR: "话务员", Role.UNIT: "承办单位", Role.LEADER: "领导", Role.ADMIN: "管理员"},
)


class UnitKind(StrEnum):
    CENTRE = "centre"  # 中心
    DEPARTMENT = "department"  # 职能部门
    STREET = "street"  # 街道
    COMMUNITY = "community"  # 社区
    JUDICIAL_OFFICE = "judicial_office"  # 司法所
    ENTERPRISE = "enterprise"  # 公共服务企业 (供水 供电 燃气)
    # Helpers outside government (认领大厅): they claim items the centre puts on the shelf; their
    # work is counted apart (微服务), never in the 承办单位排名 of government units.
    SOCIAL_ENTERPRISE = "social_enterprise"  # 社会企业
    SOCIAL_ORG = "social_org"  # 社会组织
    VOLUNTEER_TEAM = "volunteer_team"  # 志愿服务队


UNIT_KINDS: Final = _vocabulary(
    "unit_kinds",
    "单位类型",
    {
        UnitKind.CENTRE: "中心",
        UnitKind.DEPARTMENT: "职能部门",
        UnitKind.STREET: "街道",
        UnitKind.COMMUNITY: "社区",
        UnitKind.JUDICIAL_OFFICE: "司法所",
        UnitKind.ENTERPRISE: "公共服务企业",
        UnitKind.SOCIAL_ENTERPRISE: "社会企业",
        UnitKind.SOCIAL_ORG: "社会组织",
        UnitKind.VOLUNTEER_TEAM: "志愿服务队",
    },
)
# The helpers' kinds (社会力量): counted apart (微服务, projections.shelf), not ranked.
HELPER_KINDS: Final = frozenset(
    {UnitKind.SOCIAL_ENTERPRISE.value, UnitKind.SOCIAL_ORG.value, UnitKind.VOLUNTEER_TEAM.value}
)

# ---- deadline kinds (时限, docs/lifecycle.md): two clocks per dispatch --------------------------------------


class DeadlineKind(StrEnum):
    CLAIM = "claim"  # 签收时限
    HANDLE = "handle"  # 办理时限


DEADLINE_KINDS: Final = _vocabulary(
    "deadline_kinds",
    "时限",
    {DeadlineKind.CLAIM: "签收时限", DeadlineKind.HANDLE: "办理时限"},
)

# ---- counts and the seven rates (docs/rates.md) --------------------------------------------------------

# Every count a stats row carries; ``accepted`` is derived (received − merged − rejected).
COUNTS: Final = _vocabulary(
    "counts",
    "统计口径",
    {
        "received": "受理",
        "accepted": "有效受理",
        "merged": "合并",
        "rejected": "不予受理",
        "dispatched": "派单",
        "claimed_on_time": "按时签收",
        "returned": "退单",
        "resolved": "办结",
        "resolved_on_time": "按时办结",
        "mediations_concluded": "调解结束",
        "mediations_succeeded": "调解成功",
        "followups": "回访",
        "solved": "已解决",
        "rated": "评价",
        "satisfied": "满意",
        "basically_satisfied": "基本满意",
        "dissatisfied": "不满意",
        "notices": "通报",
        "accountabilities": "追责",
        "closed_unreachable": "未接通结案",
    },
)

RATES: Final = _vocabulary(
    "rates",
    "七率",
    (
        Rate(
            "handling_rate",
            "办结率",
            numerator=("resolved",),
            denominator="accepted",
            definition=(
                "办结率 = 办结件数 ÷ 有效受理件数（受理 − 合并 − 不予受理）。按工单计，分母是受理的"
                "工单，不是派单次数；重办后再办结仍算一件。各项计数都记在工单的受理日："
                "近期受理的工单多在办理中，当期办结率偏低。"
            ),
        ),
        Rate(
            "on_time_rate",
            "按时办结率",
            numerator=("resolved_on_time",),
            denominator="resolved",
            definition=(
                "按时办结率 = 按时办结件数 ÷ 办结件数。在办理时限当时或之前办结为按时（挂起的"
                "工作日顺延时限）；直办算按时。"
            ),
        ),
        Rate(
            "response_rate",
            "响应率",
            numerator=("claimed_on_time",),
            denominator="dispatched",
            definition=(
                "响应率 = 按时签收次数 ÷ 派单次数。按派单计，不是按工单：一件工单派了两次，"
                "就有两次签收机会。"
            ),
        ),
        Rate(
            "return_rate",
            "退单率",
            numerator=("returned",),
            denominator="dispatched",
            definition=(
                "退单率 = 退单次数 ÷ 派单次数。按派单计，不是按工单；中心审核不同意的退单也算。"
            ),
        ),
        Rate(
            "mediation_success_rate",
            "调解成功率",
            numerator=("mediations_succeeded",),
            denominator="mediations_concluded",
            definition="调解成功率 = 达成协议的调解次数 ÷ 调解结束次数。",
        ),
        Rate(
            "solved_rate",
            "解决率",
            numerator=("solved",),
            denominator="followups",
            definition=(
                "解决率 = 回访答“已解决”的次数 ÷ 回访次数。按回访计，未接通结案的工单不计入。"
            ),
        ),
        Rate(
            "satisfaction_rate",
            "满意率",
            numerator=("satisfied", "basically_satisfied"),
            denominator="rated",
            definition=(
                "满意率 =（满意 + 基本满意）÷ 有评价的回访次数。按回访计，未接通结案的工单不计入。"
            ),
        ),
    ),
)


def rate(code: str) -> Rate:
    term = RATES.term(code)
    assert isinstance(term, Rate)
    return term


def rates() -> tuple[Rate, ...]:
    return tuple(rate(c) for c in RATES.codes)


# ---- 退单审核 (return review): what became of a return (docs/lifecycle.md, Returns) ------------

RETURN_DECISIONS: Final = _vocabulary(
    "return_decisions",
    "退单审核结果",
    {
        "pending": "待审核",
        "approved": "同意退单",
        "refused": "不同意退单",
        "auto": "自动转派",
        "lapsed": "未审核（工单已合并）",
    },
)

# ---- stats dimensions (统计维度, docs/rates.md, docs/http-api.md: --by) ---------------------------------------------------

STATS_DIMENSIONS: Final = _vocabulary(
    "stats_dimensions",
    "统计维度",
    {
        "unit": "承办单位",
        "channel": "渠道",
        "category": "诉求分类",
        "street": "街道",
        "month": "月份",
        "appeal_type": "诉求类型",
        "community": "社区",
        "case_list": "清单",
    },
)
# The scope without a breakdown: the whole district.
WHOLE_DISTRICT: Final = "全区"

# ---- 一表通 and 通报/追责 (docs/lifecycle.md) ------------------------------------------------------


class FormKind(StrEnum):
    INSPECTION = "inspection"  # 网格巡查: a grid worker's round
    VISIT = "visit"  # 走访: a visit to residents
    MEETING = "meeting"  # 会议: a meeting's list of matters


FORM_KINDS: Final = _vocabulary(
    "form_kinds",
    "一表通类型",
    {FormKind.INSPECTION: "网格巡查", FormKind.VISIT: "入户走访", FormKind.MEETING: "会议议定"},
)


class CensureKind(StrEnum):
    NOTICE = "notice"  # 通报: the centre names a unit's failing in a notice
    ACCOUNTABILITY = "accountability"  # 追责: the centre holds a unit to account


CENSURE_KINDS: Final = _vocabulary(
    "censure_kinds",
    "通报追责",
    {CensureKind.NOTICE: "通报", CensureKind.ACCOUNTABILITY: "追责"},
)

# A unit's work queues (承办单位工作队列, GET /api/units/{unit}/queues): each a filter of its
# cases, counted and paged by the server (projections.unit_queues), its tab named from here.
UNIT_QUEUES: Final = _vocabulary(
    "unit_queues",
    "单位工作队列",
    (
        Term("to_claim", "待签收", "已派单、本单位尚未签收"),
        Term("handling", "办理中", "已签收（含调解中、挂起中），尚未办结"),
        Term("due_today", "今日到期", "办理时限在今天（北京时间）内、尚未超期"),
        Term("overdue", "已超期", "签收或办理时限已过；挂起中的工单时限暂停，不计"),
        Term("assists", "协办待反馈", "本单位尚未完成的协办任务"),
        Term("instructions", "批示", "领导批示待本单位回复"),
    ),
)

# ---- admin changes (管理设置, engine/admin.py): the history screen's words ---------------------------

ADMIN_CHANGES: Final = _vocabulary(
    "admin_changes",
    "管理修改",
    {
        "UnitAdded": "新增单位",
        "UnitRenamed": "单位改名",
        "UnitDeactivated": "停用单位",
        "CategoryAdded": "新增分类",
        "CategoryRelabelled": "分类改名",
        "CategoryRetired": "停用分类",
        "RoutingRuleAdded": "新增派单规则",
        "RoutingRuleChanged": "修改派单规则",
        "RoutingRuleRemoved": "删除派单规则",
    },
)

# ---- reports (日报/周报/月报, projections/reports.py, docs/reports.md) ------------------------------

REPORT_KINDS: Final = _vocabulary(
    "report_kinds",
    "报表周期",
    (
        Term("day", "日报", "一天（北京时间）"),
        Term("week", "周报", "ISO 周：周一至周日"),
        Term("month", "月报", "一个自然月"),
        Term("range", "报表", "自定起止日期"),
    ),
)

# ---- notices (通知, engine/notices.py, docs/notifications.md) ------------------------------------

NOTICE_KINDS: Final = _vocabulary(
    "notice_kinds",
    "通知类型",
    (
        Term("case_arrived", "新工单", "承办单位：有工单派到本单位"),
        Term("deadline_near", "即将到期", "承办单位：办理时限将到"),
        Term("overdue", "已超期", "承办单位：签收或办理时限已过（督办）"),
        Term("instructed", "领导批示", "承办单位：所办工单有领导批示"),
        Term("receipt", "受理回执", "来电人：工单编号"),
        Term("result", "办理结果", "来电人：诉求已办结"),
        Term("digest", "每日摘要", "领导：前一天的受理、办结与超期"),
    ),
)

NOTICE_CHANNELS: Final = _vocabulary(
    "notice_channels",
    "通知渠道",
    {"email": "邮件", "sms": "短信", "webhook": "推送接口"},
)

# ---- 认领大厅 (the open shelf, docs/lifecycle.md) ------------------------------------------------

SHELF_STATES: Final = _vocabulary(
    "shelf_states",
    "认领状态",
    {"on_shelf": "待认领", "taken": "已认领", "withdrawn": "已下架"},
)
CLAIM_STATES: Final = _vocabulary(
    "claim_states",
    "认领申请",
    {"pending": "待审核", "accepted": "已同意", "refused": "已拒绝", "lapsed": "已失效"},
)
# The helpers' figures (docs/rates.md, 社会力量与微服务), per helper unit and kind.
SHELF_FIGURES: Final = _vocabulary(
    "shelf_figures",
    "社会力量统计",
    {
        "micro_services": "微服务",
        "handling": "办理中",
        "claims": "认领申请",
        "accepted": "已同意",
        "refused": "已拒绝",
        "pending": "待审核",
        "followups": "有评价的回访",
        "satisfied": "满意及基本满意",
        "satisfaction_rate": "满意率",
    },
)

# ---- the four lists (四张清单) and 实事项目 (engine/projects.py, docs/lifecycle.md) ------------------


class CaseList(StrEnum):
    """Which of the district's four lists a case is on. Derived in the read model from the
    case's 诉求类型 (``case_list_of``) so an old log rebuilds; a case linked to a 实事项目 is on
    the project list whatever its type."""

    PROBLEM = "problem"  # 问题清单: 投诉 / 举报, and a case with no type
    OPINION = "opinion"  # 意见清单: 建议 / 表扬
    NEED = "need"  # 需求清单: 求助 / 咨询
    PROJECT = "project"  # 实事项目清单: linked to a practical project


CASE_LISTS: Final = _vocabulary(
    "case_lists",
    "四张清单",
    (
        Term(CaseList.PROBLEM.value, "问题清单", "投诉、举报及未分类型的诉求"),
        Term(CaseList.OPINION.value, "意见清单", "建议、表扬"),
        Term(CaseList.NEED.value, "需求清单", "求助、咨询"),
        Term(CaseList.PROJECT.value, "实事项目清单", "已纳入实事项目的诉求"),
    ),
)
# The stated rule: 诉求类型 → list; any other type (and "") goes to DEFAULT_CASE_LIST.
CASE_LIST_OF_APPEAL: Final[dict[str, str]] = {
    "投诉": CaseList.PROBLEM.value,
    "举报": CaseList.PROBLEM.value,
    "建议": CaseList.OPINION.value,
    "表扬": CaseList.OPINION.value,
    "求助": CaseList.NEED.value,
    "咨询": CaseList.NEED.value,
}
DEFAULT_CASE_LIST: Final = CaseList.PROBLEM.value


def case_list_of(appeal_type: str | None, in_project: bool = False) -> str:
    """The list a case is on (the one rule; SQL mirrors it in ``projections.queries``)."""
    if in_project:
        return CaseList.PROJECT.value
    return CASE_LIST_OF_APPEAL.get(appeal_type or "", DEFAULT_CASE_LIST)


PROJECT_STATUSES: Final = _vocabulary(
    "project_statuses",
    "实事项目状态",
    {"open": "实施中", "completed": "已完成"},
)

# ---- 诉源治理 (docs/rates.md#诉源治理-disputes-resolved-before-court): counts and two rates ---------

SOURCE_COUNTS: Final = _vocabulary(
    "source_counts",
    "诉源治理计数",
    {
        "disputes": "矛盾纠纷件",
        "dispute_mediations": "纠纷调解结束",
        "dispute_agreements": "纠纷调解成功",
        "court_cases": "诉前调解件",
        "court_mediations": "诉前调解结束",
        "court_agreements": "诉前调解成功",
    },
)

SOURCE_RATES: Final = _vocabulary(
    "source_rates",
    "诉源治理",
    (
        Rate(
            "dispute_agreement_rate",
            "纠纷调解成功率",
            numerator=("dispute_agreements",),
            denominator="dispute_mediations",
            definition=(
                "纠纷调解成功率 = 矛盾纠纷件调解达成协议的次数 ÷ 矛盾纠纷件调解结束的次数。矛盾纠纷件："
                "分类为需调解的分类（如矛盾纠纷）的有效受理工单，按受理月份计。"
            ),
        ),
        Rate(
            "pre_litigation_success_rate",
            "诉前调解成功率",
            numerator=("court_agreements",),
            denominator="court_mediations",
            definition=(
                "诉前调解成功率 = 法院诉前委派案件调解达成协议的次数 ÷ 其调解结束的次数。"
                "诉前调解件：渠道为诉前调解（court）的有效受理工单，按受理月份计。"
            ),
        ),
    ),
)

# ---- a city's figures (docs/city.md): what a district's row adds for the hand-overs ----------------

CITY_COUNTS: Final = _vocabulary(
    "city_counts",
    "跨区转办",
    {
        "transferred_in": "跨区转入",  # a district's row: cases other districts handed to it
        "transferred_out": "跨区转出",  # a district's row: its cases it handed to another
        "transfers": "跨区转办",  # the city's total: each hand-over once
    },
)

# ---- all of it -----------------------------------------------------------------------------------

VOCABULARIES: Final[tuple[Vocabulary, ...]] = (
    STATUSES,
    ACTIONS,
    EVENT_KINDS,
    CHANNELS,
    CONCERNS,
    APPEAL_TYPES,
    RATINGS,
    ROLES,
    UNIT_KINDS,
    DEADLINE_KINDS,
    COUNTS,
    RATES,
    STATS_DIMENSIONS,
    PART_STATUSES,
    COOP_FIGURES,
    FORM_KINDS,
    CENSURE_KINDS,
    RETURN_DECISIONS,
    UNIT_QUEUES,
    ADMIN_CHANGES,
    REPORT_KINDS,
    NOTICE_KINDS,
    NOTICE_CHANNELS,
    SHELF_STATES,
    CLAIM_STATES,
    SHELF_FIGURES,
    CASE_LISTS,
    PROJECT_STATUSES,
    SOURCE_COUNTS,
    SOURCE_RATES,
    CITY_COUNTS,
)


def as_json() -> dict[str, Any]:
    """Every vocabulary, as ``GET /api/meta`` serves it under ``vocabulary``:
    ``{name: {"title", "terms": [{"code", "label", ...}]}}``."""
    return {v.name: v.as_json() for v in VOCABULARIES}


__all__ = [
    "ACTIONS",
    "APPEAL_TYPES",
    "CASE_LISTS",
    "CASE_LIST_OF_APPEAL",
    "CHANNELS",
    "CITY_COUNTS",
    "CLAIM_STATES",
    "CONCERNS",
    "COOP_FIGURES",
    "COUNTS",
    "DEADLINE_KINDS",
    "DEFAULT_CASE_LIST",
    "EVENT_KINDS",
    "HELPER_KINDS",
    "NOTICE_CHANNELS",
    "NOTICE_KINDS",
    "PART_STATUSES",
    "PROJECT_STATUSES",
    "RATES",
    "RATINGS",
    "REPORT_KINDS",
    "RETURN_DECISIONS",
    "ROLES",
    "SHELF_FIGURES",
    "SHELF_STATES",
    "SOURCE_COUNTS",
    "SOURCE_RATES",
    "STATS_DIMENSIONS",
    "STATUSES",
    "UNIT_KINDS",
    "UNIT_QUEUES",
    "VOCABULARIES",
    "WHOLE_DISTRICT",
    "Action",
    "AppealType",
    "CaseList",
    "Channel",
    "Concern",
    "DeadlineKind",
    "PartStatus",
    "Rate",
    "Rating",
    "Role",
    "Status",
    "Term",
    "UnitKind",
    "Vocabulary",
    "as_json",
    "case_list_of",
    "rate",
    "rates",
]
