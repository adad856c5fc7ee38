"""Consultations (咨询): the resident asks how, where or what is needed, rather than reporting a
problem for a unit to fix. A 12345 centre answers these itself (直办) or from its knowledge base
(知识库); dispatching one to a department only makes it come back.

Read by phrasing, not by topic: "办理那个证需要带什么材料？" is a consultation whatever the 证 is.
A complaint that merely ends in a question ("请问为什么一直没人修？") is not: the question
words must come without the words of a grievance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How to do something with an office: procedure questions settle it on their own.
_PROCEDURE = re.compile(
    r"(需要|要)(带|准备|提供|交|开)?(什么|哪些|啥)(材料|手续|证件|资料|证明|条件)"
    r"|(怎么|怎样|如何)(办理|申请|申领|领取|补办|开具|查询|预约|报名|缴纳|登记|认定)"
    r"|(去|到|在)哪(里|儿)?(办理|办|申请|申领|领取|补办|开具|换|报名|登记)"
    r"|(办理|申请|补办|报名|登记)(的)?(流程|程序|条件|时间|地点|手续)"
    r"|(什么|哪些)(人|情况)(可以|能)(申请|办理|享受|领取)"
)
# Asking words: a consultation when no grievance comes with them.
_ASKING = re.compile(r"请问|咨询|想问|问一下|问下|打听|是否可以|能不能办|可不可以办")
# Words of a grievance: someone did wrong, something is broken, it has gone on too long.
_GRIEVANCE = re.compile(
    r"投诉|举报|反映|不修|没人管|无人管|不管|不处理|没有处理|没处理|扰民|严重|一直没|至今|"
    r"多次|拖欠|不给|不退|不肯|坏了|损坏|漏水|堵|噪音|臭|脏|乱|违规|违法|要求|希望.*(处理|解决)"
)


@dataclass(frozen=True)
class ConsultationReading:
    consultation: bool
    words: tuple[str, ...]  # the phrases that said so (for the decision's reason)


def read_consultation(text: str) -> ConsultationReading:
    """Whether a (simplified) complaint text is a consultation, and the phrases that say so."""
    procedure = [m.group(0) for m in _PROCEDURE.finditer(text)]
    if procedure:
        return ConsultationReading(True, tuple(procedure))
    asking = [m.group(0) for m in _ASKING.finditer(text)]
    if asking and not _GRIEVANCE.search(text):
        return ConsultationReading(True, tuple(asking))
    return ConsultationReading(False, ())


# The caller says they cannot say what it is about (说不太清楚 / 不知道怎么说), or only that they
# have something to report: a reading of such a call has nothing to be right about.
_VAGUE = re.compile(
    r"说不(太|大)?清(楚)?|讲不(太|大)?清(楚)?|不知道(怎么|该怎么)说|怎么说呢|说不上来"
    r"|反映(一|个|一个)?(个)?(情况|事情?)[，,。！!]*(麻烦|你们|请)?(你们)?(记|看着办|帮忙)"
)


def read_vague(text: str, has_issue_words: bool) -> tuple[str, ...]:
    """The phrases by which a (simplified) call says it cannot say what it is about, when the
    call names no issue of any category (``has_issue_words``: a keyword of some category was
    found): "物业说不清楚维修基金花在哪" names one and is not vague."""
    if has_issue_words:
        return ()
    return tuple(m.group(0) for m in _VAGUE.finditer(text))
