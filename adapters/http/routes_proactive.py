"""主动治理 and 诉源治理 for leaders and the centre (docs/proactive.md, docs/rates.md):
the place × category surges and the repeated places (``projections.surges``), and the
disputes settled before court per judicial office or street, monthly
(``projections.source_governance``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from adapters.http.errors import ERROR_RESPONSES
from adapters.http.policy import Permission, Principal, allow
from adapters.http.routes_cases import runtime_of
from adapters.http.routes_read import QueryDate, parse_day, read_model
from adapters.jsonable import jsonable
from engine.application import now_shanghai
from projections.source_governance import SourceGovernance
from projections.surges import SurgeViews

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

# Without a range: the last two weeks of days, the last eight weeks.
DEFAULT_SPAN = {"day": dt.timedelta(days=14), "week": dt.timedelta(weeks=8)}


def _day(value: str | None, name: str) -> dt.date | None:
    t = parse_day(value, name)
    return t.date() if t is not None else None


@router.get(
    "/proactive/surges",
    tags=["proactive 主动治理"],
    summary="主动治理：某街道（社区）某类诉求在一日或一周内明显高于平常（泊松基线）的候选，附工单",
)
def proactive_surges(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    window: Literal["day", "week"] = "day",
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
) -> Any:
    now = now_shanghai()
    end = _day(to, "to") or now.date() + dt.timedelta(days=1)
    start = _day(from_, "from") or end - DEFAULT_SPAN[window]
    views = SurgeViews(read_model(request), runtime_of(request).config)
    return jsonable(views.surges(window, start, end, now))


@router.get(
    "/proactive/repeated",
    tags=["proactive 主动治理"],
    summary="主动治理：同一地点同一类诉求、多名不同来电人重复反映的候选，附工单",
)
def proactive_repeated(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    day: Annotated[QueryDate | None, Query(description="窗口的最后一天（默认今天）")] = None,
) -> Any:
    now = now_shanghai()
    views = SurgeViews(read_model(request), runtime_of(request).config)
    return jsonable(views.repeated_places(_day(day, "day") or now.date(), now))


@router.get(
    "/stats/source-governance",
    tags=["stats 考核"],
    summary="诉源治理：矛盾纠纷调解成功与诉前调解成功，按司法所或街道、按月",
)
def source_governance(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    by: Literal["judicial_office", "street"] = "judicial_office",
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
) -> Any:
    now = now_shanghai()
    first = now.date().replace(day=1)
    end = _day(to, "to") or (first + dt.timedelta(days=32)).replace(day=1)
    start = _day(from_, "from")
    if start is None:
        # The last 12 months up to and including the current one.
        y, m = divmod(end.year * 12 + end.month - 1 - 12, 12)
        start = dt.date(y, m + 1, 1)
    return jsonable(SourceGovernance(read_model(request), runtime_of(request).config).figures(by, start, end))
