"""承办单位排名: each kind of unit ranked apart, by the district's published weights.

Beijing's 接诉即办 ranks its streets and its departments separately, every month, by published
weights. So does this: departments with departments, streets with streets, communities with
communities, judicial offices and enterprises each among their own (the unit kinds of the
district file; the centre is not ranked). The rule is the district's (``ranking:`` in the
district file, :class:`engine.config.Ranking`) and is printed under the table in words
(:meth:`RankingRule.definition`), so the table and its definition never disagree.

- **Score** (综合得分): the weighted mean of the unit's rates, each weight's share of the sum;
  a rate where lower is better (退单率) counts as 1 − rate.
- **A rate without data** (denominator 0, ``value`` null: no follow-up call yet, no mediation)
  is left out and the other weights are scaled up to the same total. No data is not 0 % and not
  100 % (docs/rates.md); scoring it 0 would punish a unit for the centre not having called back
  yet, scoring it 1 would reward it. Each row says which rates were left out (``unscored``).
- **Minimum volume** (样本不足): a unit dispatched fewer than ``min_volume`` cases in the period
  (``dispatched``, 派单量) is listed apart, not ranked: eight perfect cases say less than 256
  mostly good ones. Active units of the kind with no case at all are listed there too.
- **Ties**: scores are compared at six decimals; equal scores share a place (1, 2, 2, 4),
  listed by volume (more cases first), then by unit id. The same data always gives the same
  table.

Pure: works on the stats rows of ``ReadModel.stats(by="unit")`` (docs/rates.md); no SQL here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.config import Ranking, SanshiConfig, UnitKind
from engine.vocabulary import COUNTS, HELPER_KINDS, RATES, UNIT_KINDS

# Rates where a lower value is the better one: scored as 1 − rate.
LOWER_IS_BETTER: frozenset[str] = frozenset({"return_rate"})
# The count a unit's volume is read from: the cases dispatched to it (派单量).
VOLUME = "dispatched"
# The kinds ranked, in the vocabulary's order; the centre hands work out and is not ranked, and
# helpers outside government (社会企业 社会组织 志愿服务队) are not assessed: their work is counted
# apart (微服务, projections.shelf_queries).
RANKED_KINDS: tuple[str, ...] = tuple(
    k for k in UNIT_KINDS.codes if k != UnitKind.CENTRE and k not in HELPER_KINDS
)

BELOW_MIN_VOLUME = "below_min_volume"  # 样本不足
NO_DATA = "no_data"  # none of the weighted rates has data


@dataclass(frozen=True)
class RankingRule:
    """The district's rule: each weighted rate's share (summing to 1), heaviest first, and the
    minimum volume."""

    shares: tuple[tuple[str, float], ...]
    min_volume: int

    @classmethod
    def of(cls, ranking: Ranking) -> RankingRule:
        total = sum(ranking.weights.values())
        order = {code: i for i, code in enumerate(RATES.codes)}
        weighted = [(c, w / total) for c, w in ranking.weights.items() if w > 0]
        weighted.sort(key=lambda cw: (-cw[1], order[cw[0]]))
        return cls(tuple(weighted), ranking.min_volume)

    @classmethod
    def of_config(cls, config: SanshiConfig | None) -> RankingRule:
        return cls.of(config.ranking if config is not None else Ranking())

    @property
    def weights(self) -> dict[str, float]:
        return {code: round(share, 6) for code, share in self.shares}

    def definition(self) -> str:
        """The rule in words, printed under the table (综合得分 = 办结率×25% + …)."""
        terms = []
        for code, share in self.shares:
            name = RATES.label(code)
            rate = f"（1−{name}）" if code in LOWER_IS_BETTER else name
            terms.append(f"{rate}×{_percent(share)}")
        volume = COUNTS.label(VOLUME)
        return (
            f"综合得分 = {' + '.join(terms)}；"
            "某项率无数据（分母为 0）时不计该项，其余权重按比例折算；"
            f"{volume}量不足 {self.min_volume} 件的单位列为“样本不足”，不参与排名；"
            f"各类单位分别排名；得分相同者名次并列，按{volume}量多者在前。"
        )

    def score(self, row: Mapping[str, Any]) -> tuple[float | None, list[str]]:
        """The unit's score (0–1) and the weighted rates left out for want of data."""
        total = weight = 0.0
        unscored: list[str] = []
        for code, share in self.shares:
            value = row[code]["value"]
            if value is None:
                unscored.append(code)
                continue
            total += share * ((1.0 - value) if code in LOWER_IS_BETTER else value)
            weight += share
        return (round(total / weight, 6) if weight else None), unscored

    def rank(self, rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Rows of one kind → (ranked, best first, each with ``score``, ``rank``, ``of``;
        not ranked, each with ``reason``, most cases first)."""
        ranked: list[dict[str, Any]] = []
        apart: list[dict[str, Any]] = []
        for source in rows:
            row = dict(source)
            score, unscored = self.score(row)
            row["score"], row["unscored"], row["rank"] = score, unscored, None
            if row[VOLUME] < self.min_volume:
                row["reason"] = BELOW_MIN_VOLUME
                apart.append(row)
            elif score is None:
                row["reason"] = NO_DATA
                apart.append(row)
            else:
                ranked.append(row)
        ranked.sort(key=lambda r: (-r["score"], -r[VOLUME], r["key"]))
        place, previous = 0, None
        for i, row in enumerate(ranked, start=1):
            if row["score"] != previous:
                place, previous = i, row["score"]
            row["rank"], row["of"] = place, len(ranked)
        apart.sort(key=lambda r: (-r[VOLUME], r["key"]))
        return ranked, apart


def group_by_kind(
    config: SanshiConfig | None,
    unit_rows: Sequence[Mapping[str, Any]],
    empty_row: Any,
    kinds: Sequence[str] = RANKED_KINDS,
) -> dict[str, list[dict[str, Any]]]:
    """The stats rows of each kind (kinds with no unit in the district left out); an active unit
    of the kind with no row gets ``empty_row(unit_id, name)`` (it had no case: 样本不足). Rows
    of units the district does not know (a unit since removed) cannot be placed and are left
    out."""
    if config is None:
        return {}
    by_id = {str(r["key"]): r for r in unit_rows}
    out: dict[str, list[dict[str, Any]]] = {}
    for unit in config.units:
        if unit.kind.value not in kinds:
            continue
        row = by_id.get(unit.id)
        if row is None:
            if not unit.active:
                continue
            row = empty_row(unit.id, unit.name)
        out.setdefault(unit.kind.value, []).append(dict(row, kind=unit.kind.value))
    return {k: out[k] for k in kinds if k in out}


def place_text(row: Mapping[str, Any] | None, kind: str, rule: RankingRule) -> str:
    """What a unit is told of its place: 第 3 / 12 名（街道）, or why it has none."""
    kind_name = UNIT_KINDS.label(kind)
    if kind not in RANKED_KINDS:
        return f"{kind_name}不参与承办单位排名"
    if row is None:
        return "样本不足（本期没有工单）"
    if row.get("rank") is not None:
        return f"第 {row['rank']} / {row['of']} 名（{kind_name}）"
    if row.get("reason") == NO_DATA:
        return "无法计分（各项率均无数据）"
    return f"样本不足（{COUNTS.label(VOLUME)}量 {row[VOLUME]} 件，不足 {rule.min_volume} 件）"


def _percent(share: float) -> str:
    text = f"{share * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


__all__ = [
    "BELOW_MIN_VOLUME",
    "LOWER_IS_BETTER",
    "NO_DATA",
    "RANKED_KINDS",
    "VOLUME",
    "RankingRule",
    "group_by_kind",
    "place_text",
]
