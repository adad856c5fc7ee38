"""A unit's work queues (承办单位工作队列: 待签收, 办理中, 今日到期, 已超期, 协办待反馈, 批示),
counted and paged by the read model (projections.unit_queues).

"Now" is the service's clock (``app.clock()``), so "today" is what the service says it is:
tests fix or move it. A unit reads only its own queues; the centre, leaders and admins any.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from adapters.http.errors import ERROR_RESPONSES
from adapters.http.policy import Permission, Principal, allow, require_known_unit, require_own_unit
from adapters.http.routes_cases import runtime_of
from adapters.http.routes_read import _for_reader
from adapters.jsonable import jsonable
from engine.vocabulary import UNIT_QUEUES
from projections.unit_queues import UnitQueues

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES, tags=["units 承办单位"])

QueueName = Literal["to_claim", "handling", "due_today", "overdue", "assists", "instructions"]


def _known_unit(request: Request, principal: Principal, unit: str) -> None:
    require_own_unit(principal, unit)
    require_known_unit(runtime_of(request).config, unit)


@router.get("/units/{unit}/queues", summary="单位工作队列计数：待签收、办理中、今日到期、已超期、协办待反馈、批示")
def unit_queue_counts(
    request: Request,
    unit: str,
    principal: Annotated[Principal, allow(Permission.INBOX_READ)],
) -> dict[str, Any]:
    _known_unit(request, principal, unit)
    rt = runtime_of(request)
    now = rt.app.clock()
    counts = UnitQueues(rt.read_model).counts(unit, now)
    return {
        "unit": unit,
        "now": now.isoformat(),
        "queues": [
            {"queue": q, "name": UNIT_QUEUES.label(q), "total": counts[q]} for q in UNIT_QUEUES.codes
        ],
    }


@router.get("/units/{unit}/queues/{queue}", summary="单位工作队列（一页）：时限最紧者在前")
def unit_queue_page(
    request: Request,
    unit: str,
    queue: QueueName,
    principal: Annotated[Principal, allow(Permission.INBOX_READ)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    _known_unit(request, principal, unit)
    rt = runtime_of(request)
    page = UnitQueues(rt.read_model).page(unit, queue, rt.app.clock(), limit, offset)
    page["rows"] = _for_reader(request, principal, page["rows"])
    return jsonable(page)
