"""A bounded memory of a conversion, for the projector's hot loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Memo(dict[Any, Any]):
    """``convert`` remembered: ``memo[x]`` is ``convert(x)``, computed once while remembered.
    A hit is a plain dict lookup (no Python frame); the memory is bounded by forgetting
    everything at once when full."""

    def __init__(self, convert: Callable[[Any], Any], size: int) -> None:
        super().__init__()
        self.convert = convert
        self.size = size

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.size:
            self.clear()
        value = self[key] = self.convert(key)
        return value
