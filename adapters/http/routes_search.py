"""查找 (search) and 来电弹屏 (caller history), and order numbers in case paths.

- ``GET /api/search?q=…&kind=auto|phone|order_no|name|text``: paged, newest first. A unit
  finds only cases ever dispatched to it (the case list's rule), and only by order number or
  text: a caller's number or name is the centre's to look up (units see them masked).
- ``GET /api/callers/history?phone=…``: a number's open and past cases for the intake form
  (operators only).
- Every case route takes the order number (工单编号, ``HC20261201002444``) where it takes the
  case id: :class:`OrderNumberPaths` resolves ``/api/cases/<order no>/…`` to the id, here and
  nowhere else.

The numbers and names are looked up by their keyed hashes (``projections.search``): the views
never hold them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, FastAPI, Query, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.bootstrap import Runtime
from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.policy import Permission, Principal, allow
from adapters.http.routes_cases import runtime_of
from adapters.http.routes_read import _for_reader
from adapters.http.views import unit_name
from adapters.jsonable import jsonable
from engine.application import now_shanghai
from engine.config import Role
from engine.contract import Phone, SearchText
from engine.vocabulary import RATINGS, STATUSES
from projections.fold import TERMINAL
from projections.search import SearchIndex, order_no_shaped

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

SearchKind = Literal["auto", "phone", "order_no", "name", "text"]
_PERSONAL_KINDS = ("phone", "name")


def search_index(runtime: Runtime) -> SearchIndex:
    return runtime.search_index()


@router.get("/search", tags=["cases 工单"], summary="查找工单：来电号码、工单编号、来电人姓名或诉求内容")
def search(
    request: Request,
    principal: Annotated[Principal, allow(Permission.CASE_LIST)],
    q: Annotated[SearchText, Query(min_length=1, description="号码、工单编号、姓名或内容中的词")],
    kind: Annotated[SearchKind, Query(description="auto：按输入判断")] = "auto",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Any:
    runtime = runtime_of(request)
    index = search_index(runtime)
    read_as = index.read_kind(q) if kind == "auto" else kind
    unit = principal.unit if principal.role == Role.UNIT else None
    if unit is not None and read_as in _PERSONAL_KINDS:
        raise ApiError(403, "forbidden", "承办单位只能按工单编号或诉求内容查找")
    page = index.search(q, read_as, unit=unit, limit=limit, offset=offset)
    rows: list[dict[str, Any]] = []
    if page.ids:
        found = runtime.read_model.cases({"ids": page.ids}, len(page.ids), 0, now=now_shanghai())
        by_id = {str(r["case_id"]): r for r in found}
        rows = [by_id[str(i)] for i in page.ids if str(i) in by_id]
        rows = _for_reader(request, principal, rows)
        for r in rows:
            facts = page.facts.get(UUID(str(r["case_id"])), {})
            r.update(facts)
    return jsonable(
        {
            "q": q,
            "kind": page.kind,
            "total": page.total,
            "capped": page.capped,
            "limit": limit,
            "offset": offset,
            "rows": rows,
        }
    )


@router.get(
    "/callers/history",
    tags=["centre 中心"],
    summary="来电弹屏：该号码的在办和历史工单（状态、承办单位、最近评价）",
)
def caller_history(
    request: Request,
    principal: Annotated[Principal, allow(Permission.CALLER_HISTORY)],
    phone: Annotated[Phone, Query(min_length=1, description="来电号码（可带 +86、空格、横线，全角亦可）")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    runtime = runtime_of(request)
    config = runtime.config
    rows = search_index(runtime).history(phone, limit)
    out = []
    for r in rows:
        status = str(r["status"])
        unit = r["unit"] or r["resolved_unit"]
        out.append(
            {
                "case_id": str(r["case_id"]),
                "order_no": r["order_no"],
                "status": status,
                "status_name": STATUSES.label(status),
                "open": status not in TERMINAL,
                "unit": unit,
                "unit_name": unit_name(config, unit),
                "appeal_type": r["appeal_type"],
                "last_rating": r["last_rating"],
                "last_rating_name": RATINGS.label(r["last_rating"]) if r["last_rating"] else None,
                "received_at": r["received_at"],
                "snippet": r["snippet"],
            }
        )
    open_first = sorted(out, key=lambda c: not c["open"])  # stable: newest first within each
    return jsonable({"phone_known": bool(out), "cases": open_first})


# ---- order numbers in case paths ------------------------------------------------------------

_CASE_PATH = re.compile(r"^/api/cases/([^/]+)(/.*)?$")
_UNAVAILABLE = (
    b'{"error":"unavailable","message":"\xe6\x95\xb0\xe6\x8d\xae\xe5\xba\x93\xe6\x9a\x82\xe6\x97\xb6'
    b'\xe4\xb8\x8d\xe5\x8f\xaf\xe7\x94\xa8\xef\xbc\x8c\xe8\xaf\xb7\xe7\xa8\x8d\xe5\x90\x8e\xe9\x87\x8d'
    b'\xe8\xaf\x95"}'
)


class OrderNumberPaths:
    """``/api/cases/HC20261201002444/…`` → ``/api/cases/<case id>/…`` before routing, so that
    every case route (and any added later) takes the order number. An order number not in the
    log is left as it is: the route answers 404 as for any unknown id."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            m = _CASE_PATH.match(scope.get("path", ""))
            if m and order_no_shaped(m.group(1)):
                try:
                    found = await anyio.to_thread.run_sync(self._lookup, m.group(1))
                except Exception:
                    await _unavailable(send)
                    return
                if found is not None:
                    path = f"/api/cases/{found}{m.group(2) or ''}"
                    scope = {**scope, "path": path, "raw_path": path.encode("ascii")}
        await self.app(scope, receive, send)

    def _lookup(self, order_no: str) -> UUID | None:
        return search_index(self.runtime).case_for_order_no(order_no)


async def _unavailable(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", b"2"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _UNAVAILABLE})


def install(app: FastAPI, runtime: Runtime) -> None:
    """The routes, and the order-number resolution in front of every case route."""
    app.include_router(router)
    app.add_middleware(OrderNumberPaths, runtime=runtime)
