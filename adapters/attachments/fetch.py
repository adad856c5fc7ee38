"""The app channel's photo URLs (``extra.photos``): fetched only from the hosts the district
config lists (``attachments.fetch_hosts``); a URL on any other host stays in the case as the
resident's app sent it and is never requested. A record can name any URL, so requesting every
one would let a submission make this server call into the internal network (SSRF).

Redirects are not followed (one could lead to another host), the body is read up to the size
limit and no further, and every fetched file passes the same checks as an upload."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

from engine.attachments import AttachmentService, AttachmentTooLarge, clean_name
from engine.domain import DomainError

PRINCIPAL = "system:photos"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class Fetched:
    url: str
    outcome: str  # stored | duplicate | kept (not an allowed host) | failed
    detail: str = ""
    digest: str | None = None


class PhotoFetcher:
    def __init__(self, service: AttachmentService) -> None:
        self.service = service
        self.hosts = {h.strip().lower() for h in service.settings.fetch_hosts if h.strip()}
        self.timeout = service.settings.fetch_timeout_seconds
        self._opener = urllib.request.build_opener(_NoRedirect)

    def allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return False
        if parts.username or parts.password:
            return False
        host = parts.hostname.lower()
        return host in self.hosts or (port is not None and f"{host}:{port}" in self.hosts)

    def fetch(self, url: str) -> bytes:
        limit = self.service.settings.max_bytes
        request = urllib.request.Request(url, headers={"User-Agent": "sanshi-photo-fetcher"})
        with self._opener.open(request, timeout=self.timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            data: bytes = response.read(limit + 1)
        if len(data) > limit:
            raise AttachmentTooLarge("文件过大")
        return data

    def import_case(self, case_id: UUID) -> list[Fetched]:
        case = self.service.app.get_case(case_id)
        photos = (case.extra or {}).get("photos") or []
        done = {a.get("source_url") for a in case.attachments}
        out: list[Fetched] = []
        for url in photos if isinstance(photos, list) else []:
            if not isinstance(url, str):
                continue
            if url in done:
                out.append(Fetched(url, "duplicate"))
                continue
            if not self.allowed(url):
                out.append(Fetched(url, "kept", "不在允许抓取的主机列表中，按原样保存"))
                continue
            try:
                data = self.fetch(url)
                name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
                try:
                    name = clean_name(name)
                except DomainError:
                    name = "照片"
                _, found = self.service.add(case_id, data, name, PRINCIPAL, source_url=url)
                out.append(Fetched(url, "stored", digest=str(found["digest"])))
            except (OSError, urllib.error.URLError, DomainError, ValueError) as exc:
                out.append(Fetched(url, "failed", str(getattr(exc, "message", exc))[:200]))
        return out
