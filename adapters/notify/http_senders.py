"""Notices over HTTP with httpx: the district's signed webhook and an SMS gateway.

Webhook (``SANSHI_WEBHOOK_URL``, ``SANSHI_WEBHOOK_SECRET``): a JSON POST of the notice
(``OutgoingNotice.payload``) with

- ``Idempotency-Key``: the notice's key; a consumer that stores it can drop a second delivery;
- ``X-Sanshi-Timestamp``: seconds since the epoch, and ``X-Sanshi-Signature``:
  ``sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed with the secret>`` (the timestamp is
  signed so a captured request cannot be replayed later: the consumer checks it is recent).

SMS gateway (``SANSHI_SMS_URL``, ``SANSHI_SMS_KEY``): a JSON POST ``{"to", "text", "out_id"}``
with the key in ``X-Api-Key`` and the notice's key in ``Idempotency-Key`` and ``out_id``.

Answers: 2xx delivered; 408, 429 and 5xx or no answer: tried again later; any other 4xx: refused
for good (a malformed notice or a bad signature does not get better by resending).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from .port import DeliveryFailed, OutgoingNotice, Receipt

SIGNATURE_HEADER = "X-Sanshi-Signature"
TIMESTAMP_HEADER = "X-Sanshi-Timestamp"
KEY_HEADER = "Idempotency-Key"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> Receipt:
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"接收方不可用 ({type(e).__name__})") from None
    status = response.status_code
    if 200 <= status < 300:
        return Receipt(f"HTTP {status}")
    transient = status in (408, 429) or status >= 500
    raise DeliveryFailed(f"接收方返回 HTTP {status}", permanent=not transient)


class WebhookSender:
    channel = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0) -> None:
        if not secret:
            raise ValueError("SANSHI_WEBHOOK_SECRET 未设置：推送接口必须签名")
        self.url = url
        self.secret = secret
        self.client = httpx.Client(timeout=timeout)

    def request(self, notice: OutgoingNotice, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(notice.payload(), ensure_ascii=False, sort_keys=True).encode("utf-8")
        timestamp = str(int(time.time() if now is None else now))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            KEY_HEADER: notice.key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        return body, headers

    def send(self, notice: OutgoingNotice) -> Receipt:
        body, headers = self.request(notice)
        return _post(self.client, self.url, body, headers)

    def close(self) -> None:
        self.client.close()


class SmsGatewaySender:
    channel = "sms"

    def __init__(self, url: str, api_key: str, timeout: float = 10.0) -> None:
        self.url = url
        self.api_key = api_key
        self.client = httpx.Client(timeout=timeout)

    def send(self, notice: OutgoingNotice) -> Receipt:
        body = json.dumps(
            {"to": notice.address, "text": notice.body, "out_id": notice.key}, ensure_ascii=False
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Api-Key": self.api_key,
            KEY_HEADER: notice.key,
        }
        return _post(self.client, self.url, body, headers)

    def close(self) -> None:
        self.client.close()
