"""The dispatch rule (自动派单规则): whether a decided case goes out to its unit without an
operator looking, and if not, every reason why, in words an operator reads.

The rule and its defaults are the district's ``router.dispatch`` (engine/config.py); how they
were chosen, and what each candidate rule measured on cross-validation, is in
bench/routing/RESULTS_real_texts.md ("Dispatch rule"). A case that fails waits in the manual
queue with the top suggestions (the decision's ``reason.candidates``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.config import DispatchRule, SanshiConfig

# The checks, by the name an operator reads (``reason.dispatch_rule.failed``).
VAGUE = "诉求表述不清"
BELOW_THRESHOLD = "置信度低于阈值"
READERS_DISAGREE = "读法不一致"
CATEGORY_MANUAL = "该类别需人工"

READER_NAMES = {"linear": "文本模型", "keywords": "关键词", "prototypes": "句向量"}


@dataclass(frozen=True)
class GateVerdict:
    failed: tuple[tuple[str, str], ...]  # (check, the detail an operator reads)

    @property
    def dispatch(self) -> bool:
        return not self.failed

    @property
    def checks(self) -> list[str]:
        return [check for check, _ in self.failed]

    def manual_reason(self) -> str:
        return "；".join(f"{check}（{detail}）" for check, detail in self.failed) + "，转人工派单"


def disagreeing(category: str, readers: Mapping[str, Sequence[str] | None]) -> dict[str, list[str]]:
    """The readers that were consulted and name another category (a keyword tie that includes
    the category agrees with it; a reader not consulted has no say)."""
    return {
        name: list(tops)
        for name, tops in readers.items()
        if tops is not None and category not in tops
    }


def judge(
    config: SanshiConfig,
    category: str,
    confidence: float,
    threshold: float,
    readers: Mapping[str, Sequence[str] | None],
    vague_words: Sequence[str] = (),
    by_hint: bool = False,
) -> GateVerdict:
    """Every check of the district's rule the case fails (none: it goes out alone). A category
    given at intake (``by_hint``) is not the readers' to agree on."""
    rule: DispatchRule = config.router.dispatch
    failed: list[tuple[str, str]] = []
    if vague_words and not by_hint:
        failed.append((VAGUE, "、".join(vague_words)))
    if confidence < threshold:
        # Rounded down: 0.958 against 0.96 must not read "0.96低于阈值0.96".
        shown = math.floor(confidence * 1000) / 1000
        failed.append((BELOW_THRESHOLD, f"分类置信度{shown:.3f}低于阈值{threshold:.2f}"))
    if rule.readers_agree and not by_hint:
        others = disagreeing(category, readers)
        if others:
            detail = "，".join(
                f"{READER_NAMES.get(name, name)}读作{'/'.join(_name(config, c) for c in tops)}"
                for name, tops in others.items()
            )
            failed.append((READERS_DISAGREE, f"分类为{_name(config, category)}，但{detail}"))
    if category in rule.manual_categories:
        failed.append((CATEGORY_MANUAL, f"「{_name(config, category)}」由人工派单"))
    return GateVerdict(tuple(failed))


def _name(config: SanshiConfig, code: str) -> str:
    try:
        return config.category(code).name
    except (KeyError, ValueError):
        return code


def rule_reason(
    config: SanshiConfig, threshold: float, readers: Mapping[str, Any], verdict: GateVerdict
) -> dict[str, Any]:
    """What the decision's reason records of the rule (``reason.dispatch_rule``)."""
    rule = config.router.dispatch
    return {
        "confidence": round(threshold, 3),
        "readers_agree": rule.readers_agree,
        "manual_categories": list(rule.manual_categories),
        "readers": {k: (list(v) if v is not None else None) for k, v in readers.items()},
        "failed": verdict.checks,
    }
