"""The app channel's photo URLs (``extra.photos``): fetched only from the hosts the district
config lists (``attachments.fetch_hosts``); a URL on any other host stays in the case as the
resident's app sent it and is never requested. A record can name any URL, so requesting every
one would let a submission make this server call into the internal network (SSRF).

Redirects are not followed (one could lead to another host), the body is read up to the size
limit and no further, and every fetched file passes the same checks as an upload."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from uuid import UUID

from engine.application import CaseNotFound
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
    # A failure trying again cannot mend (the content or its size refused, the case gone); a
    # network failure (timeout, 404, 5xx, refused connection) may pass later and is retried.
    final: bool = False


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
        # An app may send a path in Chinese as it is (…/现场.png): percent-encoded for the
        # request line, what is already encoded left alone.
        wire = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
        request = urllib.request.Request(wire, headers={"User-Agent": "sanshi-photo-fetcher"})
        with self._opener.open(request, timeout=self.timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            data: bytes = response.read(limit + 1)
        if len(data) > limit:
            raise AttachmentTooLarge("文件过大")
        return data

    def import_case(self, case_id: UUID) -> list[Fetched]:
        case = self.service.app.get_case(case_id)
        done = {a.get("source_url") for a in case.attachments}
        return [self.import_url(case_id, url, done) for url in photo_urls(case.extra)]

    def import_url(self, case_id: UUID, url: str, done: set[Any] | None = None) -> Fetched:
        """One photo URL of the case: stored on it, or why not. ``done``: the source URLs the
        case already holds (read from the case when not given)."""
        if done is None:
            try:
                done = {a.get("source_url") for a in self.service.app.get_case(case_id).attachments}
            except CaseNotFound:
                return Fetched(url, "failed", "工单不存在", final=True)
        if url in done:
            return Fetched(url, "duplicate")
        if not self.allowed(url):
            return Fetched(url, "kept", "不在允许抓取的主机列表中，按原样保存")
        try:
            data = self.fetch(url)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # URLError and HTTPError (404, 5xx, a redirect not followed) are OSErrors, and so is
            # a timeout; an oversize body is an AttachmentTooLarge (below).
            return Fetched(url, "failed", _reason(exc))
        except DomainError as exc:
            return Fetched(url, "failed", _reason(exc), final=True)
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        try:
            name = clean_name(name)
        except DomainError:
            name = "照片"
        try:
            _, found = self.service.add(case_id, data, name, PRINCIPAL, source_url=url)
        except (DomainError, CaseNotFound) as exc:
            # Not a photo we take (type by content, size, an unreadable image), or no case.
            return Fetched(url, "failed", _reason(exc), final=True)
        return Fetched(url, "stored", digest=str(found["digest"]))


def photo_urls(extra: Any) -> list[str]:
    """The app record's photo URLs (``extra.photos``), as given."""
    photos = (extra or {}).get("photos") if isinstance(extra, dict) else None
    return [u for u in photos if isinstance(u, str)] if isinstance(photos, list) else []


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return "超时（timeout）"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message)[:200]
