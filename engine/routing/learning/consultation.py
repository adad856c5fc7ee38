"""Consultations (咨询): the resident asks how, where or what is needed, rather than reporting a
problem for a unit to fix. A 12345 centre answers these itself (直办) or from its knowledge base
(知识库); dispatching one to a department only makes it come back.

Read by phrasing, not by topic: "办理那个证需要带什么材料？" is a consultation whatever the 证 is.
A complaint that merely ends in a question ("请问为什么一直没人修？") is not: the question
words must come without the words of a grievance.

Three forms, each written from the train split's texts (tests/data/real_texts; the held-out
texts were read only to measure, bench/routing/RESULTS_real_texts.md):

- a procedure question (需要什么材料, 怎么办理, 去哪里办);
- an asking word (请问, 想问一下) with no word of a grievance;
- a short knowledge question: the call is one short question about who is in charge, what
  the rule or standard is, how long or how much ("工伤向哪个部门申请？", "噪音是几点到几点算
  扰民？", "低保每月几号发放的？"). Short, because a resident with a grievance first tells it
  ("…半个多月过去了还是黑洞洞的，什么时候能亮灯？"): a long text ending in such a question
  is a complaint that asks when it will be fixed.
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


# What a knowledge question asks: who is in charge, what the rule, standard or procedure is,
# how long, how much, whether something is allowed.
_KNOWLEDGE = re.compile(
    r"(哪个|什么|哪些|哪一个)(部门|单位|机构|窗口)"
    r"|归(哪|谁)|谁(负责|管|来管|承担)"
    r"|(标准|依据|规定|条件|流程|比例|期限|时限|程序)(文件)?(是|有)?(多少|什么|怎样|怎么样|哪个|哪些|如何)"
    r"|(有没有|有无|是否有|有)(什么)?(时间)?限制"
    r"|多久|多长时间|几号|几点"
    r"|(什么时候|何时|哪天)(发放|补发|发|开始|动工|到账|生效|来水|来电|通气|办|能)"
    r"|(多少|几)(钱|费用|补贴|补偿)|(交|补偿|赔|领|收|要)多少"
    r"|是什么[?？]|怎么回事[?？]|是怎样的"
    r"|算(不算)?(扰民|工伤|违建|违规|违法|合法)|(才|是否|是不是)(合法|违规|违法)"
    r"|(怎么|如何|怎样)(报销|落户|提取|取|计算|算|赔偿|维护自己的权益|应对|查|举报|投诉|收费|申报)"
)
# The call ends as a question (or asks with 请问).
_QUESTION = re.compile(r"[?？]\s*$|[吗呢]\s*$|请问")
# Longer than this, the call tells something before it asks (see the module's docstring).
KNOWLEDGE_QUESTION_MAX_CHARS = 40


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
    if len(text.strip()) <= KNOWLEDGE_QUESTION_MAX_CHARS and _QUESTION.search(text.strip()):
        knowledge = [m.group(0) for m in _KNOWLEDGE.finditer(text)]
        if knowledge:
            return ConsultationReading(True, tuple(knowledge))
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
