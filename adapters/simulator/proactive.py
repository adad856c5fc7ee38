"""主动治理 in the demo: the surges the detector finds in the simulated days, read from the
views (``projections.surges``) like the leader's screen reads them, never from what the
simulator planted (its storm day is only printed beside them, to compare)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from projections.surges import SurgeViews

if TYPE_CHECKING:
    from adapters.bootstrap import Runtime


def detected_surges(runtime: Runtime, first: dt.date, end: dt.date, now: dt.datetime) -> dict[str, Any]:
    """Every day of [first, end) judged against the weeks before it: the flagged place ×
    category cells (no case ids: the demo prints counts), with the method's numbers."""
    views = SurgeViews(runtime.read_model, runtime.config)
    return views.surges("day", first, end, now, case_ids=False)


def surge_lines(surges: dict[str, Any], limit: int = 6) -> list[str]:
    """The demo's summary lines: how many days were judged, then each flagged cell."""
    tested = sum(1 for w in surges["windows"] if w["tested"])
    rows = surges["rows"]
    m = surges["method"]
    head = (
        f"主动治理（激增检测，近 {m['history_weeks']} 周泊松基线，全区 {m['cells']} 个街道×分类格，"
        f"α={m['alpha']:g}）：检验 {tested} 天，发现 {len(rows)} 个激增"
    )
    if not tested:
        head += f"（模拟天数不足 {m['min_history_days']} 天的基线，未检验）"
    lines = [head]
    for r in rows[:limit]:
        lines.append(
            f"  {r['from']} {r['place_name']} · {r['category_name']}：{r['count']} 件，平常 {r['baseline']:.1f} 件"
            f"（P={r['p_value']:.1e}）"
        )
    if len(rows) > limit:
        lines.append(f"  …另有 {len(rows) - limit} 个（sanshi demo --serve 后在“主动治理”查看）")
    return lines
