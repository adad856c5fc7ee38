"""An in-memory sender behind the same port (tests, ``sanshi demo``): keeps what it was given,
fails on demand."""

from __future__ import annotations

import threading

from .port import DeliveryFailed, OutgoingNotice, Receipt


class MemorySender:
    def __init__(self, channel: str, *, fail_times: int = 0, permanent: bool = False) -> None:
        self.channel = channel
        self.sent: list[OutgoingNotice] = []
        self.tries = 0
        self.fail_times = fail_times  # the first N tries fail (-1: every try)
        self.permanent = permanent
        self._lock = threading.Lock()

    def send(self, notice: OutgoingNotice) -> Receipt:
        with self._lock:
            self.tries += 1
            if self.fail_times < 0 or self.tries <= self.fail_times:
                raise DeliveryFailed("模拟发送失败 (simulated failure)", permanent=self.permanent)
            self.sent.append(notice)
            return Receipt(f"memory:{len(self.sent)}")

    def close(self) -> None:
        pass
