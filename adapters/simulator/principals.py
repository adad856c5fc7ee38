"""Who acts in the simulated district: every command names its principal (``unit:<id>#sim``,
``operator:…#sim``), so the log says who did what."""

from __future__ import annotations

OPERATOR = "operator:中心话务员#sim"
FOLLOW_UP_DESK = "operator:回访员#sim"
LEADER = "operator:中心值班长#sim"
GRID_WORKER = "operator:网格员#sim"  # 一表通 forms from the grid


def unit_principal(unit: str) -> str:
    return f"unit:{unit}#sim"
