"""SANSHI_CIPHER_KEY for what is kept outside the event store: Kafka message values
(sanshi.intake, sanshi.dlq), the raw bytes in the dead-letter table, and the text columns of the
projections' tables (complaint text, address, result; see ``projections.sealed``).

The event store encrypts with eventsourcing's AES-GCM; without this, the same complaint, phone
and name would sit in clear on the topics, in ``dead_letters.raw`` and in the views. Sealed
bytes start with :data:`MARK`, sealed text with :data:`TEXT_MARK`, so a reader tells them from
plain ones written before a key was configured.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MARK = b"\x00sanshi-aesgcm1\x00"
# Text columns cannot hold NUL (PostgreSQL refuses it): sealed text is this mark + base64 of
# nonce and ciphertext. 3 UTF-8 bytes per Chinese character, +28 bytes, ×4/3: a 120-character
# snippet becomes ~540 characters.
TEXT_MARK = "sanshi-aesgcm1:"
NONCE_BYTES = 12


class Sealer:
    def __init__(self, key_b64: str) -> None:
        try:
            key = base64.b64decode(key_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("SANSHI_CIPHER_KEY 不是 base64 (not base64)") from None
        if len(key) not in (16, 24, 32):
            raise ValueError("SANSHI_CIPHER_KEY 须为 16/24/32 字节 (AES key of 16, 24 or 32 bytes)")
        self._aead = AESGCM(key)

    def seal(self, data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MARK + nonce + self._aead.encrypt(nonce, data, None)

    def open(self, data: bytes) -> bytes:
        """Plain bytes (no mark) come back as they are; sealed ones decrypted. Raises
        ValueError for sealed bytes this key cannot open (another key, or damaged)."""
        if not is_sealed(data):
            return data
        body = data[len(MARK) :]
        try:
            return self._aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], None)
        except InvalidTag:
            raise ValueError("无法解密 (cannot decrypt: another key, or damaged)") from None

    def seal_text(self, text: str) -> str:
        """Text for a text column. Empty text stays empty: there is nothing to hide (and a
        ciphertext's length shows the plaintext's anyway)."""
        if not text:
            return text
        nonce = os.urandom(NONCE_BYTES)
        body = nonce + self._aead.encrypt(nonce, text.encode("utf-8"), None)
        return TEXT_MARK + base64.b64encode(body).decode("ascii")

    def open_text(self, text: str) -> str:
        """Plain text (no mark) comes back as it is; sealed text decrypted. Raises ValueError
        for marked text this key cannot open (another key, damaged, or not ours at all)."""
        if not text.startswith(TEXT_MARK):
            return text
        try:
            body = base64.b64decode(text[len(TEXT_MARK) :], validate=True)
            return self._aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], None).decode("utf-8")
        except (ValueError, InvalidTag):  # bad base64, a short body, not UTF-8, wrong tag
            raise ValueError("无法解密 (cannot decrypt: another key, or damaged)") from None


def is_sealed(data: bytes) -> bool:
    return data.startswith(MARK)


def sealer_for(key_b64: str | None) -> Sealer | None:
    return Sealer(key_b64) if key_b64 else None
