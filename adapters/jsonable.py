"""Values as JSON can hold them (datetimes and dates as ISO text, UUIDs as text, enums as their
value, dataclasses as dicts): one function for the HTTP answers and the report files, in a module
that imports nothing of ours, so a report writer does not pull in the web app to get it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any
from uuid import UUID


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value
