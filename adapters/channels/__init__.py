"""Channel adapters (docs/channels.md): a raw record from one of the four intake platforms becomes an
:class:`engine.intake.IntakeCommand`, a :class:`Filtered` count (police business), or a
:class:`DeadLetter` (unreadable: the reason, where it was, and the bytes). Nothing else: no
storage, no routing, no network.

Open311 service requests (:mod:`adapters.channels.open311`) become commands of the app channel
the same way, but are answered at once: one that cannot become a case is refused to the
client instead of dead-lettered. Records reach the engine through ``adapters.transport``.

>>> from adapters.channels import adapt, read_path
>>> for raw in read_path("samples/police.jsonl"):
...     outcome = adapt("police", raw)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.config import SanshiConfig, UnitKind
from engine.deadlines import SHANGHAI
from engine.domain import SANSHI_NAMESPACE
from engine.intake import Channel, IntakeCommand

from . import app, court, enterprise, grid, hotline, media, police, town, walkin
from .common import AdapterContext, Filtered, RecordError
from .privacy import redact_raw
from .reading import RawRecord, read_one, read_path, read_stream

__all__ = [
    "CHANNELS",
    "Adapted",
    "AdapterContext",
    "DeadLetter",
    "Filtered",
    "Parsed",
    "RawRecord",
    "adapt",
    "context_for",
    "read_one",
    "read_path",
    "read_stream",
    "source_ref_for",
]

log = logging.getLogger("sanshi.intake.channels")

Adapter = Callable[[Mapping[str, Any], AdapterContext], "IntakeCommand | Filtered"]

CHANNELS: dict[str, Adapter] = {
    Channel.HOTLINE.value: hotline.adapt,
    Channel.POLICE.value: police.adapt,
    Channel.APP.value: app.adapt,
    Channel.WALKIN.value: walkin.adapt,
    Channel.GRID.value: grid.adapt,
    Channel.ENTERPRISE.value: enterprise.adapt,
    Channel.MEDIA.value: media.adapt,
    Channel.COURT.value: court.adapt,
    Channel.TOWN.value: town.adapt,
}

_DEAD_LETTER_NS = uuid.uuid5(SANSHI_NAMESPACE, "dead-letter")


@dataclass(frozen=True)
class Parsed:
    command: IntakeCommand
    position: str


@dataclass(frozen=True)
class DeadLetter:
    """A record that could not be read (docs/channels.md: nothing is dropped silently).

    ``raw`` is what arrived (its first 256 KiB when larger: ``raw_size`` and ``raw_sha256``
    describe the whole), desensitised (``redacted=True``) for every channel: identifiers must
    not be stored here, and a record that could not be read may be anything.
    """

    channel: str
    reason: str
    position: str
    raw: bytes
    raw_size: int
    raw_sha256: str
    redacted: bool = False
    source: str = "ingest"  # ingest | http | worker
    at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(SHANGHAI))

    @property
    def id(self) -> uuid.UUID:
        """The same bad record at the same place is one dead letter, however often it is
        re-sent or redelivered."""
        return uuid.uuid5(_DEAD_LETTER_NS, f"{self.channel}|{self.position}|{self.raw_sha256}")

    @property
    def raw_truncated(self) -> bool:
        return self.raw_size > len(self.raw)


Adapted = Parsed | Filtered | DeadLetter


def context_for(
    config: SanshiConfig | None,
    now: dt.datetime | None = None,
    district_key: bytes | None = None,
) -> AdapterContext:
    if config is None:
        return AdapterContext(now=now, district_key=district_key)
    codes: dict[str, str] = {}
    for category in config.categories:
        codes[category.code] = category.code
        codes[category.name] = category.code
    police_categories = (
        frozenset(police.normal_category(c) for c in config.police_categories)
        if config.police_categories
        else None
    )
    units: dict[str, str] = {}
    streets: dict[str, str] = {}
    for unit in config.units:
        units[unit.id] = unit.id
        units.setdefault(unit.name, unit.id)
        if unit.kind == UnitKind.STREET:
            streets[unit.id] = unit.id
            streets[unit.name] = unit.id
    return AdapterContext(
        category_codes=codes,
        now=now,
        district_key=district_key,
        police_categories=police_categories,
        street_units=streets,
        units=units,
    )


def source_ref_for(channel: str, ref: str, district_key: bytes | None = None) -> str:
    """The source_ref a channel's own record number is kept as (and the case id derives
    from): a police incident number and a court case number only as their keyed hashes, a media
    report by a hash of its address, the others as they are."""
    if channel == Channel.POLICE.value:
        return police.incident_ref(ref, district_key)
    if channel == Channel.COURT.value:
        return court.case_ref(ref, district_key)
    if channel == Channel.MEDIA.value and not ref.startswith(media.REF_PREFIX):
        try:  # a media report is the case: its address names it
            return media.report_ref(media.report_url(ref))
        except RecordError:
            return ref
    return ref


def dead_letter(
    channel: str,
    raw: RawRecord,
    reason: str,
    source: str = "ingest",
    ctx: AdapterContext | None = None,
) -> DeadLetter:
    """Every channel's dead letter is redacted (a police file fed to the hotline channel is
    still a police file); a police incident number becomes its keyed hash, as in the case."""
    names: list[str] = []
    replace: dict[str, str] = {}
    if raw.fields is not None:
        for key in ("caller_name", "报警人", "报警人姓名", "resident_name", "居民姓名", "来电人",
                    "contact_name", "联系人"):
            value = raw.fields.get(key)
            if isinstance(value, str):
                names.append(value)
        for key in ("incident_no", "警情编号", "接警编号"):
            value = raw.fields.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                number = str(value).strip()
                replace[number] = police.incident_ref(number, ctx.district_key if ctx else None)
        for key in ("case_no", "案号", "诉前调解案号"):
            value = raw.fields.get(key)
            if isinstance(value, str) and value.strip():
                ref = court.case_ref(value, ctx.district_key if ctx else None)
                replace[value.strip()] = ref
                replace[json.dumps(value.strip())[1:-1]] = ref  # as JSON escapes spell it
    # A court case number written anywhere in the record, in any spelling: its keyed hash.
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        for m in court.IN_TEXT.finditer(text):
            replace.setdefault(m.group(0), court.case_ref(m.group(0), ctx.district_key if ctx else None))
        break
    return DeadLetter(
        channel=channel,
        reason=reason,
        position=raw.position,
        raw=redact_raw(raw.raw, names, replace),
        raw_size=raw.raw_size,
        raw_sha256=raw.raw_sha256,
        redacted=True,
        source=source,
    )


def adapt(
    channel: str, raw: RawRecord, ctx: AdapterContext | None = None, source: str = "ingest"
) -> Adapted:
    """Never raises for a bad record: every raw record ends as exactly one of the three."""
    adapter = CHANNELS.get(channel)
    if adapter is None:
        raise ValueError(f"未知渠道「{channel}」(unknown channel); 可选: {', '.join(CHANNELS)}")
    if raw.fields is None:
        return dead_letter(channel, raw, raw.error or "无法读取 (unreadable)", source, ctx)
    try:
        result = adapter(raw.fields, ctx or AdapterContext())
    except RecordError as e:
        return dead_letter(channel, raw, e.reason, source, ctx)
    except Exception as e:  # a bug must not lose the record: keep it and say what happened
        # No traceback for police: an exception's message may quote a value.
        log.error(
            "channel %s adapter failed at %s: %s",
            channel,
            raw.position,
            type(e).__name__,
            exc_info=channel != Channel.POLICE.value,
        )
        return dead_letter(
            channel, raw, f"适配器内部错误 (adapter error: {type(e).__name__})", source, ctx
        )
    if isinstance(result, Filtered):
        return dataclasses.replace(result, position=raw.position)
    return Parsed(result, raw.position)

