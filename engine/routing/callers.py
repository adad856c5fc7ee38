"""Who called (来电人), as the duplicate index compares callers: keyed hashes of the phone number
and of the name, never the number or the name themselves.

The same keys are computed by the router when it decides or files a case it sees, and by the
projection of the open cases (``view_open_cases.caller_key`` / ``caller_name_key``), from which a
router files the open cases it takes over (a restart, a Kafka worker's new partitions). So a
caller's repeat merges alike whichever way its first case reached the index. The key is the
district secret (``Settings.district_key``, which also keys the police incident numbers and the
search view's numbers): an 11-digit number hashed without a key could be found again by trying
them all."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

from engine.settings import district_key

KEY_HEX = 16  # 64 bits: two callers of one place and time colliding is not a concern


@dataclass(frozen=True)
class CallerKeys:
    key: bytes

    @classmethod
    def default(cls) -> CallerKeys:
        """Under the development district secret (what a Settings without secrets gives)."""
        return cls(district_key(None, None))

    def _mac(self, purpose: bytes, value: str) -> str:
        data = purpose + b"\0" + value.encode("utf-8", "surrogatepass")
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()[:KEY_HEX]

    def phone(self, phone: str) -> str:
        """"" when there is no usable number: none, too short, or masked like 138****5678. The
        digits however written (full-width １３８, separators, +86): NFKC, then ASCII digits."""
        phone = unicodedata.normalize("NFKC", phone)
        if "*" in phone:
            return ""
        digits = re.sub(r"[^0-9]", "", phone)
        if len(digits) < 7:
            return ""
        return self._mac(b"caller phone", digits[-11:])

    def name(self, name: str) -> str:
        name = re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))
        return self._mac(b"caller name", name) if name else ""
