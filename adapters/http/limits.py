"""Body size and JSON depth, checked before anything parses the body (the input contract,
engine.contract: ``MAX_BODY_BYTES``, ``MAX_JSON_DEPTH``).

Python's ``json`` parser recurses: a body nested 100,000 deep raised ``RecursionError`` inside
the route (a 500) before the route could look at the key. orjson is no help here: its limit
is fixed at 1024 levels and it is not the parser FastAPI and Starlette use. So this ASGI
middleware reads the body once (refusing it with 413 as soon as it passes the limit, or at
once when ``Content-Length`` says so), counts the nesting of a JSON body on the raw bytes
without recursion (strings removed by one regular expression, then a running sum over the
brackets, all in C), and hands the same bytes on to the application. Refusals are in the
project's error shape (GeoReport's under /open311/).
"""

from __future__ import annotations

import operator
import re
from itertools import accumulate, count
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.contract import MAX_BODY_BYTES, MAX_JSON_DEPTH

# A JSON string, escapes included (unrolled so that long strings do not backtrack).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
# Opening bracket → 2, closing → 0: after the k-th bracket the depth is (running sum) - k.
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def json_depth(body: bytes, at_most: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``body`` (0 for a scalar). Unbalanced or
    malformed input gives some number; the parser refuses it afterwards anyway. With
    ``at_most``: a body with no more opening brackets than that answers their count at once
    (the depth cannot be more), which is every ordinary request."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS).translate(_STEP)
    if not brackets:
        return 0
    opening = brackets.count(2)
    if at_most is not None and opening <= at_most:
        return opening
    deepest: int = max(map(operator.sub, accumulate(brackets), count(1)))
    return deepest


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            ctype = value.split(b";", 1)[0].strip().lower()
            return bool(ctype == b"application/json" or ctype.endswith(b"+json"))
    return False


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimits:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        max_depth: int = MAX_JSON_DEPTH,
        uploads: tuple[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        # (path pattern, limit): a POST there (an attachment upload) may carry a larger body,
        # the configured attachment limit; every other request keeps the contract's 1 MiB.
        self.uploads = (re.compile(uploads[0]), uploads[1]) if uploads else None

    def _limit(self, scope: Scope) -> int:
        if (
            self.uploads is not None
            and scope.get("method") == "POST"
            and self.uploads[0].match(scope.get("path", ""))
        ):
            return max(self.max_bytes, self.uploads[1])
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, 413, "too_large", self._too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, 413, "too_large", self._too_large(limit))
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and _is_json(scope) and json_depth(body, self.max_depth) > self.max_depth:
            await self._refuse(
                scope, receive, send, 400, "bad_request",
                f"请求体 JSON 嵌套过深（最多 {self.max_depth} 层）",
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, limit: int | None = None) -> str:
        return f"请求体过大（最多 {(limit or self.max_bytes) // 1024} KiB）"

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
    ) -> None:
        from adapters.http.errors import error_response

        response: Any = error_response(Request(scope), status, code, message)
        await response(scope, receive, send)
