"""A hidden case and an absent one answer in the same time.

Case ids are uuid5 of ``channel:source_ref``, so anyone can compute the id a police incident or a
hotline order would have. Both read paths answer "not found" alike for a case the caller may
not see (Open311: police hand-overs and personal categories for everyone without a key, and a
unit's key on another unit's case; the API: a unit's token on another unit's case) and for an
id that does not exist; but the first loads the case from the log (its events, decrypted and
replayed) and the second finds nothing at once, and with a few hundred requests the difference
showed (issue 14, finding 6).

Making the work equal is not enough on its own: the replay costs what the case's history
costs. So every "not found" answer on the API and Open311 is held until the next multiple of
a floor (:data:`NOT_FOUND_FLOOR_SECONDS`, ``SANSHI_NOT_FOUND_FLOOR_MS``) counted from when the
request arrived: the lookup of any ordinary case ends well inside the first period, so both
answer at the floor; a lookup slower than the floor (a case with a very long history, a
database under load) lands in a later period, which the quantisation keeps coarse. An Open311
list by explicit ids (``service_request_id=a,b,c``) answers 200 whatever it finds, so it is
held likewise, one floor per id asked for.

The wait is ``asyncio.sleep`` in a pure ASGI middleware: it holds no worker thread, so a flood
of guesses costs the server sockets, not threads.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NOT_FOUND_FLOOR_SECONDS = 0.05
PREFIXES = ("/api/", "/open311/")
MAX_IDS = 1000  # open311.MAX_RESULTS: no more ids are looked up


def floor_from_env(environ: MutableMapping[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    raw = env.get("SANSHI_NOT_FOUND_FLOOR_MS")
    if not raw:
        return NOT_FOUND_FLOOR_SECONDS
    return max(0.0, float(raw) / 1000)


def _explicit_ids(scope: Scope) -> int:
    """How many ids an Open311 list asks for by ``service_request_id`` (0: not such a list)."""
    if not scope["path"].startswith("/open311/v2/requests."):
        return 0
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    ids = ",".join(query.get("service_request_id", []))
    return min(len(ids.split(",")), MAX_IDS) if ids else 0


class UniformNotFound:
    """Holds every 404 under :data:`PREFIXES` (and every Open311 list by ids) until the next
    multiple of ``floor`` since the request arrived."""

    def __init__(self, app: ASGIApp, floor: float = NOT_FOUND_FLOOR_SECONDS) -> None:
        self.app = app
        self.floor = floor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.floor <= 0 or scope["type"] != "http" or not scope["path"].startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        ids = _explicit_ids(scope) if scope.get("method") == "GET" else 0
        quantum = self.floor * max(1, ids)

        async def held(message: Message) -> None:
            if message["type"] == "http.response.start" and (ids or message["status"] == 404):
                elapsed = time.perf_counter() - start
                target = quantum * max(1, math.ceil(elapsed / quantum))
                await asyncio.sleep(target - elapsed)
            await send(message)

        await self.app(scope, receive, held)
