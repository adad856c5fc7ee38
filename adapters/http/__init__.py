"""HTTP adapter: the JSON API, Open311 GeoReport v2, metrics and the web UI."""

from __future__ import annotations

from adapters.http.app import create_app

__all__ = ["create_app"]
