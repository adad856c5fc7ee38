"""The demo summary's line for the channels that are not residents calling (媒体监督, 诉前调解,
镇呼市应; adapters/simulator/referrals.py): how many came, and where the court's referrals went
(the judicial office of their street, by the district's channel rule)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.config import UnitKind
from engine.vocabulary import CHANNELS, Channel


def referral_lines(runtime: Any, start: dt.date, end: dt.date) -> list[str]:
    read_model, config = runtime.read_model, runtime.config
    period = {"from": start, "to": end}
    counts = {
        c: read_model.count_cases({"channel": c.value, **period})
        for c in (Channel.MEDIA, Channel.COURT, Channel.TOWN)
    }
    if not any(counts.values()):
        return []
    offices = config.units_of_kind(UnitKind.JUDICIAL_OFFICE)
    to_office = sum(
        read_model.count_cases({"channel": Channel.COURT.value, "dispatched_to": u.id, **period})
        for u in offices
    )
    parts = "，".join(f"{CHANNELS.label(c)} {n} 件" for c, n in counts.items())
    return [f"非来电渠道：{parts}；诉前调解委派件派往属地司法所 {to_office} 件"]
