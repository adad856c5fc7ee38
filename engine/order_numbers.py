"""工单编号 (order numbers) and the predicted 诉求类型 (appeal type), given at intake.

A case's id is ``uuid5(channel:source_ref)``, which no resident or operator can read out on
the phone. Every case also gets a human order number, ``HC20261201002444``: the district's
prefix, the day it was received (Beijing time) and its place among that day's cases. The day's
last number is an aggregate of its own (``OrderBook``, one per prefix and day) saved in the same
transaction as the cases it numbered, so two writers can never give out the same number (the
store refuses the second save and intake tries again), and the number is in the log
(``Numbered`` on the case): a rebuild reads it back instead of counting again.

The appeal type (咨询 求助 投诉 举报 建议 表扬, GB/T 33358) is the operator's when chosen; otherwise a
reading of the text predicts it, recorded beside the number so that every figure can be cut by
it. Consultations are read as the router reads them (``routing.learning.consultation``).
"""

from __future__ import annotations

import datetime as dt
import re
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from engine.config import SanshiConfig
from engine.deadlines import SHANGHAI
from engine.domain import SANSHI_NAMESPACE
from engine.routing.learning.consultation import read_consultation

ORDER_NO = re.compile(r"^[A-Z]{1,8}\d{8}\d{6,}$")  # HC + yyyymmdd + a sequence of 6 digits or more


class OrderBook(Aggregate):
    """The numbers given out for one prefix and day; its version moves with every batch."""

    @staticmethod
    def create_id(prefix: str, day: str) -> UUID:
        return book_id(prefix, day)

    # Like every event of the log, the book's say who acted and when (business time: the
    # received time of the cases numbered), so an audit of the log reads them as the others.
    @event("OrderBookOpened")
    def __init__(self, *, prefix: str, day: str, principal: str, at: dt.datetime) -> None:
        self.prefix = prefix
        self.day = day
        self.last = 0

    @event("OrderNumbersIssued")
    def issue(self, *, count: int, principal: str, at: dt.datetime) -> None:
        self.last += count


def book_id(prefix: str, day: str) -> UUID:
    return uuid5(SANSHI_NAMESPACE, f"order-book:{prefix}:{day}")


def order_prefix(config: SanshiConfig) -> str:
    """The district's prefix (``district.order_prefix``), else the first two letters of its id."""
    prefix = config.district.order_prefix or config.district.id[:2]
    letters = "".join(c for c in prefix.upper() if "A" <= c <= "Z")
    return letters or "SS"


def order_day(received_at: dt.datetime) -> str:
    return received_at.astimezone(SHANGHAI).strftime("%Y%m%d")


def format_order_no(prefix: str, day: str, seq: int) -> str:
    return f"{prefix}{day}{seq:06d}"


def looks_like_order_no(value: str) -> bool:
    return bool(ORDER_NO.match(value.strip().upper()))


# ---- 诉求类型 (appeal type), predicted when the operator chose none --------------------------

_PRAISE = re.compile(r"表扬|感谢|锦旗|点赞|致谢|谢谢.*(帮助|解决|处理)")
_REPORT = re.compile(r"举报|检举|揭发")
_SUGGEST = re.compile(r"建议|提议|希望(增设|增加|设置|安装|开通)|能否(增设|增加|设置|开通)")
_COMPLAINT = re.compile(
    r"投诉|扰民|噪音|不作为|态度(差|恶劣)|乱收费|拖欠|欠薪|不退|违规|违法|占道|"
    r"一直没|至今|多次反映|没人管|无人管|不处理"
)


def predict_appeal_type(text: str) -> str:
    """A reading of the complaint: praise, a report, a consultation (the router's reading),
    a suggestion, a complaint, else a request for help (求助)."""
    if _PRAISE.search(text) and not _COMPLAINT.search(text):
        return "表扬"
    if _REPORT.search(text):
        return "举报"
    if read_consultation(text).consultation:
        return "咨询"
    if _SUGGEST.search(text) and not _COMPLAINT.search(text):
        return "建议"
    if _COMPLAINT.search(text):
        return "投诉"
    return "求助"
