"""``/healthz`` and ``/metrics``: what a load balancer and what an operator's scraper may know.

The load balancer needs one bit: does this instance answer, with its database? So the public
``/healthz`` says only ``{"status": "ok"}`` (200) or ``{"status": "unavailable"}`` (503, with
``Retry-After``). Anything more tells an outsider how busy the centre is: the log's head grows
with every event, and ``sanshi_intake_total{channel="police"}`` is the number of police
hand-overs (警情移交), which is not public.

The details (the log's head, the database state, on PostgreSQL who holds each duty
(``adapters.leases``); the Prometheus metrics) are for a leader's or
an admin's Bearer token, or for ``SANSHI_METRICS_TOKEN`` (a token that reads these two and
nothing else, for a scraper). ``sanshi serve --metrics-port`` serves ``/metrics`` on a second
port without a token instead, for a scraper on an internal network (bound to 127.0.0.1
unless ``--metrics-host`` says otherwise).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from adapters.bootstrap import Runtime
from adapters.http.database import RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, database_unavailable
from adapters.http.errors import ApiError
from adapters.http.policy import ROLE_ZH, TokenRegistry, bearer_token
from engine.config import Role

router = APIRouter(tags=["ops"])
log = logging.getLogger("sanshi.http")

OPS_ROLES = frozenset({Role.LEADER, Role.ADMIN})


def _metrics_token_ok(request: Request, token: str) -> bool:
    runtime: Runtime = request.app.state.runtime
    expected = getattr(runtime.settings, "metrics_token", None)
    return bool(expected) and hmac.compare_digest(token.encode("utf-8"), str(expected).encode("utf-8"))


def ops_reader(request: Request) -> bool | None:
    """True: the caller may read the details; False: a valid token of another role; None: no
    token, or one that is not valid."""
    token = bearer_token(request)
    if not token:
        return None
    if _metrics_token_ok(request, token):
        return True
    registry: TokenRegistry = request.app.state.tokens
    principal = registry.resolve(token)
    if principal is None:
        return None
    return principal.role in OPS_ROLES


def require_ops(request: Request) -> None:
    allowed = ops_reader(request)
    if allowed is None:
        raise ApiError(
            401,
            "unauthorized",
            "读取指标需要令牌：领导或管理员的 Bearer 令牌，或 SANSHI_METRICS_TOKEN",
        )
    if not allowed:
        roles = "、".join(ROLE_ZH[r] for r in sorted(OPS_ROLES))
        raise ApiError(403, "forbidden", f"只有{roles}或指标令牌可以读取指标")


@router.get("/healthz", summary="存活检查（负载均衡用；带领导/管理员/指标令牌时给出详情）")
def healthz(request: Request) -> JSONResponse:
    """200 ``{"status": "ok"}`` when the database answers; 503 ``{"status": "unavailable"}``
    when it does not, so that a load balancer takes this instance out until it does. With a
    leader's, an admin's or the metrics token: also the database state and the log's head."""
    runtime: Runtime = request.app.state.runtime
    detailed = ops_reader(request) is True
    headers = {"Cache-Control": "no-store"}
    try:
        head = runtime.app.recorder.max_notification_id()
    except Exception as exc:
        unavailable = database_unavailable(exc)
        if not unavailable:
            log.error("health check failed", exc_info=exc)
        body: dict[str, Any] = {"status": "unavailable"}
        if detailed:
            body |= {
                "database": "unavailable" if unavailable else "error",
                "message": UNAVAILABLE_MESSAGE if unavailable else "数据库检查失败，已记录",
                "detail": type(exc).__name__,
            }
        return JSONResponse(body, 503, headers=headers | {"Retry-After": str(RETRY_AFTER_SECONDS)})
    if not detailed:
        return JSONResponse({"status": "ok"}, headers=headers)
    body = {"status": "ok", "database": "ok", "events": head or 0}
    duties = _duty_holders(runtime)
    if duties is not None:
        body["duties"] = duties
    return JSONResponse(body, headers=headers)


def _duty_holders(runtime: Runtime) -> dict[str, str | None] | None:
    """值守: who holds each duty (``sanshi <duty> <host>:<pid>``, None: nobody, so nobody
    does it); None on SQLite (one process, no leases) or when it cannot be read."""
    from adapters.leases import holders

    if runtime.views_engine.dialect.name != "postgresql":
        return None
    try:
        return {h.duty: h.holder for h in holders(runtime.views_engine, runtime.config.district.id)}
    except Exception:  # e.g. pg_stat_activity not readable: the health answer stands
        log.warning("could not read who holds the duties", exc_info=True)
        return None


@router.get("/metrics", summary="Prometheus 指标（需领导/管理员/指标令牌）", response_class=Response)
def metrics(request: Request) -> Response:
    require_ops(request)
    registry: CollectorRegistry = request.app.state.metrics
    return Response(
        generate_latest(registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
