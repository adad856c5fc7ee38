"""紧急: danger to life or property now. Read from a reviewed word list plus the district's own
``router.urgent_words``; sentiment models trained on product reviews do not tell anguish from
annoyance (see shared notes), a list that a person reviewed does.

Patterns allow a few characters between the thing and the danger ("燃气管道有泄漏的味道"),
and a negation right before the match ("没有着火") cancels it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Reviewed list: each entry is either a literal word or a pattern with a short gap.
REVIEWED_WORDS: tuple[str, ...] = (
    # gas, fire, explosion
    "燃气泄漏", "燃气泄露", "煤气泄漏", "煤气泄露", "天然气泄漏", "漏气", "煤气味", "燃气味",
    "着火", "起火", "失火", "火灾", "冒烟", "冒火", "爆炸",
    # electricity
    "电线掉落", "电线断落", "电线掉下", "电线垂落", "电线杆倒", "漏电", "触电", "电线短路", "打火花",
    # structures, roads, water
    "坍塌", "倒塌", "塌陷", "塌方", "裂缝很大", "危房", "随时可能", "井盖丢失", "井盖缺失",
    "没有井盖", "井盖被偷", "爆管", "水管爆裂", "倒灌", "被淹", "溺水", "落水",
    "高空坠物", "广告牌松动", "树木倒伏", "大树倒",
    # people in danger
    "跳楼", "轻生", "自杀", "寻死", "割腕", "想不开", "持刀", "砍人", "打人", "家暴", "殴打",
    "被困", "电梯困人", "困人了", "困在电梯", "关在电梯", "昏迷", "晕倒", "生命危险", "救命",
    "弄死", "杀了", "砍死", "掉进去", "摔进",
    "有人受伤", "流血", "中毒", "食物中毒",
    # the resident says so
    "紧急", "十万火急", "刻不容缓", "马上派人", "赶紧来人",
)

_GAP_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("燃气/煤气泄漏", re.compile(r"(燃气|煤气|天然气|液化气|气罐)[^。！!？?]{0,8}(泄漏|泄露|漏|味道|气味|冒气|嘶嘶|钻破|破了)")),
    ("井盖缺失", re.compile(r"井盖[^。！!？?，,]{0,6}(少了|没了|丢|缺|翻|掉|不见|塌)")),
    ("持械威胁", re.compile(r"(拿着|持|举着|挥着)[^。！!？?]{0,4}(刀|砖|棍|棒|斧)")),
    ("有人受伤", re.compile(r"(人|老人|孩子|小孩|司机)[^。！!？?，,]{0,6}(受了[^。！!？?]{0,2}伤|受伤|摔伤)(?![^。！!？?]{0,4}怎么办)")),
    ("电线掉落", re.compile(r"电线[^。！!？?]{0,6}(掉|断|垂|落|裸露)")),
    ("房屋/墙体开裂倒塌", re.compile(r"(房屋|墙|楼|屋顶|天花板)[^。！!？?]{0,6}(塌|倒|开裂|脱落)")),
    ("有人被困", re.compile(r"(老人|孩子|小孩|有人|人)[^。！!？?]{0,6}(被困|困在|关在)")),
)

_NEGATION = ("没有", "没", "无", "不是", "未", "并非", "不存在")
# A danger only imagined ("万一着火消防车进不来") is a worry, not an emergency.
_HYPOTHETICAL = ("万一", "如果", "要是", "一旦", "假如", "防止", "以防", "担心", "怕")


def _negated(text: str, start: int) -> bool:
    before = text[max(0, start - 3) : start]
    if any(before.endswith(n) for n in _NEGATION):
        return True
    clause = re.split(r"[，,。！!？?；;]", text[max(0, start - 8) : start])[-1]
    return any(h in clause for h in _HYPOTHETICAL)


class UrgencyReader:
    def __init__(self, district_words: Iterable[str] = ()) -> None:
        words = {w for w in (*REVIEWED_WORDS, *district_words) if w}
        self._words = sorted(words, key=len, reverse=True)

    def read(self, text: str) -> list[str]:
        """The danger words found (reason for 紧急), longest first, no negated ones."""
        found: list[str] = []
        for word in self._words:
            start = text.find(word)
            while start != -1:
                if not _negated(text, start):
                    if not any(word in f for f in found):
                        found.append(word)
                    break
                start = text.find(word, start + 1)
        for label, pattern in _GAP_PATTERNS:
            m = pattern.search(text)
            if m and not _negated(text, m.start()) and not any(w in m.group(0) for w in found):
                found.append(label)
        return found
