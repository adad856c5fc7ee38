"""One ASGI app for a city (docs/city.md): each district's own app (``create_app``) mounted at
``/d/{district}/``, the city's figures at ``/city/api/…`` for the city's own tokens, the city's
page (市级平台) at ``/`` and ``/city/``, and the 跨区转办 of a case at
``/d/{district}/api/city/transfers`` for that district's operators.

A district's tokens and people live in its own file and database, so they are unknown on every
other mount and on the city's routes; the city's tokens are unknown on every district's mount.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.city import City
from adapters.http import create_app
from adapters.http.app import install_security_headers
from adapters.http.database import RETRY_AFTER_SECONDS, database_unavailable
from adapters.http.errors import ApiError, install_error_handlers
from adapters.http.policy import Permission, Principal, authenticate, bearer_token, check_role
from adapters.web import static_dir
from engine.vocabulary import ROLES as ROLE_TERMS
from engine.vocabulary import as_json as vocabulary_json

CITY_PREFIX = "/city/api"
# The city's page (adapters/web/static/city.html) and the only files it loads: it is served at
# "/" and at "/city/", and asks for "static/…" relative to itself, so both places serve them.
CITY_PAGE = "city.html"
CITY_ASSETS = {
    "app.css": "text/css; charset=utf-8",  # the districts' style sheet
    "city.css": "text/css; charset=utf-8",
    "newest.js": "text/javascript; charset=utf-8",  # newestOnly, shared with the districts' page
    "city.js": "text/javascript; charset=utf-8",
}
log = logging.getLogger(__name__)


class TransferBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: UUID
    to_district: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=500)


def city_reader(request: Request) -> str:
    """A city token (市级): its name; anything else is 401."""
    token = bearer_token(request)
    city: City = request.app.state.city
    if token:
        presented = token.encode("utf-8")
        found = None
        for t in city.config.tokens:  # every one compared, without stopping early
            if hmac.compare_digest(presented, t.token.encode("utf-8")) and found is None:
                found = t
        if found is not None:
            return found.name or ROLE_TERMS.label(found.role)
    raise ApiError(401, "unauthorized", "需要市级令牌：区的令牌只能在本区使用")


def create_city_app(city: City, not_found_floor: float | None = None) -> FastAPI:
    app = FastAPI(
        title="sanshi 三事 · 市级平台",
        version="0.1.0",
        openapi_url="/city/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.city = city
    install_error_handlers(app)
    district_apps = {
        d: create_app(rt, not_found_floor=not_found_floor) for d, rt in city.districts.items()
    }
    app.state.district_apps = district_apps

    @app.get(f"{CITY_PREFIX}/districts")
    def districts(reader: Annotated[str, Depends(city_reader)]) -> dict[str, Any]:
        return {
            "city": {"id": city.config.city.id, "name": city.config.city.name},
            "districts": districts_of(city),
        }

    @app.get(f"{CITY_PREFIX}/meta")
    def meta(reader: Annotated[str, Depends(city_reader)]) -> dict[str, Any]:
        """What the city's page needs once at sign-in: the city, its districts, who is reading,
        and the words (engine.vocabulary) its figures are named with."""
        return {
            "city": {"id": city.config.city.id, "name": city.config.city.name},
            "districts": districts_of(city),
            "reader": reader,
            "vocabulary": vocabulary_json(),
        }

    @app.get(f"{CITY_PREFIX}/stats")
    def stats(
        reader: Annotated[str, Depends(city_reader)],
        from_: Annotated[str | None, Depends(_from)] = None,
        to: str | None = None,
    ) -> dict[str, Any]:
        """市级统计: each district's row and the city's total (docs/city.md)."""
        return city.stats(from_, to)

    @app.post("/d/{district}/api/city/transfers", status_code=201)
    def transfer(district: str, body: TransferBody, request: Request) -> dict[str, Any]:
        """跨区转办: an operator of ``district`` hands one of its cases to another district."""
        sub = district_apps.get(district)
        if sub is None:
            raise ApiError(404, "not_found", "没有这个区")
        principal = _district_principal(request, sub)
        check_role(principal, Permission.CENTRE_ACT)
        if body.to_district not in city.districts:
            raise ApiError(422, "invalid", f"没有这个区：「{body.to_district}」")
        return city.transfer(district, body.case_id, body.to_district, body.reason, principal.id)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """200 when every district's database answers, else 503 (a load balancer's check; the
        details are each district's own /d/{district}/healthz)."""
        headers = {"Cache-Control": "no-store"}
        for rt in city.districts.values():
            try:
                rt.app.recorder.max_notification_id()
            except Exception as exc:
                if not database_unavailable(exc):
                    log.error("city health check failed", exc_info=exc)
                return JSONResponse(
                    {"status": "unavailable"},
                    503,
                    headers=headers | {"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
        return JSONResponse({"status": "ok"}, headers=headers)

    # 市级平台: the page holds no data (it asks /city/api/… with the city token it is given).
    static = static_dir()

    @app.get("/", include_in_schema=False)
    @app.get("/city/", include_in_schema=False)
    def city_page() -> FileResponse:
        return FileResponse(static / CITY_PAGE, media_type="text/html; charset=utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    @app.get("/city/static/{name}", include_in_schema=False)
    def city_asset(name: str) -> FileResponse:
        media_type = CITY_ASSETS.get(name)
        if media_type is None:
            raise ApiError(404, "not_found", "没有这个文件")
        return FileResponse(static / name, media_type=media_type)

    for d, sub in district_apps.items():
        app.mount(f"/d/{d}", sub, name=f"district-{d}")
    install_security_headers(app)
    return app


def districts_of(city: City) -> list[dict[str, str]]:
    """The city's districts in the city file's order, each with where its app is mounted."""
    return [{"id": d, "name": city.name(d), "mount": f"/d/{d}/"} for d in city.districts]


def _from(request: Request) -> str | None:
    return request.query_params.get("from")


def _district_principal(request: Request, sub: FastAPI) -> Principal:
    """The caller as the district's own app knows it (its tokens, its people)."""
    original = request.scope.get("app")
    request.scope["app"] = sub  # the district's token registry and people, not the city's
    try:
        credentials = None
        token = bearer_token(request)
        if token:
            from fastapi.security import HTTPAuthorizationCredentials

            credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        return authenticate(request, credentials)
    finally:
        request.scope["app"] = original
