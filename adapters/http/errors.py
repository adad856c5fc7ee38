"""One error shape for the whole API: ``{"error": code, "message": text}``.

FastAPI's own shapes (``{"detail": ...}`` for HTTPException and validation errors) are
replaced here, and domain errors from the engine are mapped by class. The database being away
(``adapters.http.database.database_unavailable``) is 503 ``unavailable`` with ``Retry-After``,
never a 500. A part of the API with an error format of its own mounts it for its path prefix
(:func:`mount_error_format`): Open311 answers in the GeoReport v2 shape
(``[{"code", "description"}]``, JSON or XML by the path suffix).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.http.database import (
    AVAILABILITY_ERRORS,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_MESSAGE,
    database_unavailable,
)
from engine.admin import AdminConflict, AdminNotFound
from engine.application import CaseNotFound, ConcurrencyConflict
from engine.contract import problem_zh
from engine.domain import (
    ConfidentialCase,
    DomainError,
    IllegalTransition,
    InvalidCommand,
    NotAssignedUnit,
    PartConflict,
)
from projections.queries import StatsQueryError

log = logging.getLogger("sanshi.http")


class ErrorBody(BaseModel):
    error: str
    message: str


class ApiError(Exception):
    """Raised by routes and the policy; rendered as the one error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


CASE_NOT_FOUND = "工单不存在"

# Domain errors by class; first match wins (subclasses before DomainError).
DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (CaseNotFound, 404),
    (AdminNotFound, 404),  # 管理设置: an unknown unit, category or rule
    (AdminConflict, 409),  # 管理设置: e.g. deactivating the centre
    (ConcurrencyConflict, 409),
    (IllegalTransition, 409),
    (ConfidentialCase, 409),  # 保密件: the centre relays, not a wrong request
    (PartConflict, 409),  # 主办/协办: a part not yet in, already signed for, already in
    (NotAssignedUnit, 403),
    (InvalidCommand, 422),
    (DomainError, 422),
]

_STATUS_CODE = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}

_STATUS_ZH = {
    400: "请求格式错误",
    401: "未登录或令牌无效",
    403: "无权执行此操作",
    404: "资源不存在",
    405: "不支持的请求方法",
    409: "状态冲突",
    422: "请求参数有误",
    503: UNAVAILABLE_MESSAGE,
}

# Documented on every /api route in the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody, "description": _STATUS_ZH[s]}
    for s in (400, 401, 403, 404, 409, 422, 503)
}


def domain_status(exc: DomainError) -> int:
    for cls, status in DOMAIN_STATUS:
        if isinstance(exc, cls):
            return status
    return 422


# (request, status, message) → the error in a format of its own.
ErrorFormat = Callable[[Request, int, str], Response]


def mount_error_format(app: FastAPI, prefix: str, render: ErrorFormat) -> None:
    """Errors of requests under ``prefix`` are rendered by ``render`` (from the handlers below
    and from the middleware that refuses bodies, before any route is chosen)."""
    formats: dict[str, ErrorFormat] = getattr(app.state, "error_formats", {})
    app.state.error_formats = {**formats, prefix: render}


def _error_format(request: Request) -> ErrorFormat | None:
    state = getattr(request.scope.get("app"), "state", None)
    formats: dict[str, ErrorFormat] = getattr(state, "error_formats", {})
    path = request.url.path
    return next((render for prefix, render in formats.items() if path.startswith(prefix)), None)


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    render = _error_format(request)
    if render is not None:
        response = render(request, status, message)
    else:
        response = JSONResponse({"error": code, "message": message}, status_code=status)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _describe_validation(exc: RequestValidationError) -> tuple[int, str]:
    """A readable message; malformed JSON is a 400, a wrong field a 422."""
    parts: list[str] = []
    status = 422
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            status = 400
            parts.append("请求体不是合法的 JSON")
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "请求"
        parts.append(f"{where}：{problem_zh(err)}")
    return status, "；".join(parts) or _STATUS_ZH[422]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request, exc.status, exc.code, exc.message)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, CaseNotFound):
            # Names nothing: a case another unit holds, reached by its order number, must
            # answer as one never received (the id would tell the order number is in the log).
            return error_response(request, 404, exc.code, CASE_NOT_FOUND)
        return error_response(request, domain_status(exc), exc.code, exc.message)

    @app.exception_handler(StatsQueryError)
    async def _query_error(request: Request, exc: StatsQueryError) -> Response:
        return error_response(request, 422, "invalid_query", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        status, message = _describe_validation(exc)
        return error_response(request, status, _STATUS_CODE[status], message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        code = _STATUS_CODE.get(status, "error")
        message = exc.detail if isinstance(exc.detail, str) else _STATUS_ZH.get(status, "错误")
        if status == 404 and message == "Not Found":
            message = "资源不存在"
        elif status == 405:
            message = _STATUS_ZH[405]
        resp = error_response(request, status, code, message)
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    async def _database(request: Request, exc: Exception) -> Response:
        """The one handler for database errors: 503 when the database is away, else a bug."""
        if not database_unavailable(exc):
            return _internal(request, exc)
        log.warning(
            "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return error_response(request, 503, "unavailable", UNAVAILABLE_MESSAGE)

    for cls in AVAILABILITY_ERRORS:
        app.add_exception_handler(cls, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if database_unavailable(exc):  # wrapped in something else on its way up
            return await _database(request, exc)
        return _internal(request, exc)


def _internal(request: Request, exc: Exception) -> Response:
    # Never echo the exception (it may hold personal data); the log has it.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal", "服务器内部错误，已记录")
