"""The demo's records of three channels that are not residents calling: 媒体监督 (a newspaper's
report), 诉前调解 (the court's referral of a dispute) and 镇呼市应 (a street asking a department),
in the formats of docs/channels.md, so the real channel adapters read them.

A few a working day, in office hours: a district sees many residents' calls for every report,
referral or street's request. Drawn with a random generator of their own, so the residents'
stream (adapters.simulator.stream) is the same record for record with or without them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Protocol

from adapters.simulator.clock import FastCalendar
from adapters.simulator.district import Place, address_of
from adapters.simulator.texts import (
    GIVEN,
    SURNAMES,
    Incident,
    Problem,
    incident_slots,
    phone_number,
)
from engine.config import SanshiConfig, UnitKind

# Incident numbers of their own (the residents' stream counts from 1).
FIRST_INCIDENT = 10_000_000
# Per working day at scale 1 (at least one of each).
PER_WORKDAY = {"media": 1.0, "court": 2.0, "town": 1.0}
OFFICE_HOURS = (9, 10, 11, 14, 15, 16)

OUTLETS = (
    ("北海日报", "www.bhrb.example.cn"),
    ("北海电视台《民生直通车》", "tv.bh.example.cn"),
    ("海城发布", "mp.example.cn"),
    ("北部湾晚报", "wb.example.cn"),
)
DISPUTE_TYPES = {
    "neighbour": "相邻关系纠纷",
    "property_dispute": "物业服务合同纠纷",
    "family": "婚姻家庭纠纷",
    "land": "土地承包经营权纠纷",
    "consumer_dispute": "买卖合同纠纷",
}
# How a court clerk may spell a case number (docs/channels.md: one hash for all of them).
SPELLINGS = ("（{y}）桂0502民诉前调{n}号", "({y})桂0502民诉前调{n}号", "〔{y}〕桂0502 民诉前调 {n} 号")


class SpotBook(Protocol):
    """Where incidents began lately (adapters.simulator.stream.IntakeStream)."""

    def spot_free(self, problem: Problem, slots: dict[str, str], at: dt.datetime) -> bool: ...

    def held_at(self, problem: Problem, slots: dict[str, str], at: dt.datetime) -> Incident | None: ...

    def take_spot(self, problem: Problem, slots: dict[str, str], at: dt.datetime, incident: Incident) -> None: ...


class ReferralStream:
    """Media reports, court referrals and street requests of each simulated hour."""

    def __init__(
        self,
        config: SanshiConfig,
        seed: int,
        calendar: FastCalendar,
        problems: Sequence[Problem],
        places: Sequence[Place],
        scale: float = 1.0,
        spots: SpotBook | None = None,
    ) -> None:
        self.config = config
        # The residents' stream's book of spots (IntakeStream): a report names a door no recent
        # incident of its kind began at, as the residents' reports do, or else is another report
        # of the incident there; so two incidents at one lamp within a month never exist (the
        # merge bench counts a merge of them as right, and the stream must agree).
        self.spots = spots
        self.rng = random.Random(f"{seed}:referrals")
        self.calendar = calendar
        self.places = list(places)
        self.scale = scale
        self.disputes = [p for p in problems if p.category == "dispute" and p.cores]
        # A street asks a department: problems whose category the rules give to a unit by id.
        # (Only categories no keyword rule splits: the gas company is asked about gas.)
        split = {r.category for r in config.routing if r.keywords}
        by_unit: dict[str, str] = {}
        for r in config.routing:
            if r.category and r.category not in split and not r.channels and config.has_unit(r.to):
                by_unit.setdefault(r.category, r.to)
        self.asks = [(p, by_unit[p.category]) for p in problems if p.category in by_unit and p.cores]
        self.for_media = [p for p in problems if p.cores and p.category not in ("dispute", "emergency")]
        self._number = FIRST_INCIDENT
        self._seq = 0
        self._plan: dict[dt.date, list[tuple[dt.datetime, str]]] = {}

    def _day_plan(self, day: dt.date, tz: dt.tzinfo | None) -> list[tuple[dt.datetime, str]]:
        if day not in self._plan:
            plan: list[tuple[dt.datetime, str]] = []
            if self.calendar.is_workday(day):
                for channel, per_day in PER_WORKDAY.items():
                    n = max(1, round(per_day * self.scale * self.rng.uniform(0.5, 1.5)))
                    for _ in range(n):
                        hour = self.rng.choice(OFFICE_HOURS)
                        at = dt.datetime.combine(day, dt.time(hour, self.rng.randrange(60)), tz)
                        plan.append((at, channel))
            self._plan = {day: sorted(plan)}  # one day at a time: the stream goes forward
        return self._plan[day]

    def records_between(self, t0: dt.datetime, t1: dt.datetime) -> list[tuple[str, dict[str, object], str, dt.datetime, Incident]]:
        """(channel, record, source_ref, received_at, incident) of every record in [t0, t1)."""
        out = []
        for at, channel in self._day_plan(t0.date(), t0.tzinfo):
            if t0 <= at < t1:
                made = self._make(channel, at)
                if made is not None:
                    out.append(made)
        return out

    def _incident(self, problem: Problem, place: Place, at: dt.datetime) -> Incident:
        for _ in range(40):
            slots = incident_slots(self.rng, place.name, place.name)
            slots["spot"] = f"{place.name}{slots['n']}号"
            if self.spots is None or self.spots.spot_free(problem, slots, at):
                break
        else:
            assert self.spots is not None
            held = self.spots.held_at(problem, slots, at)
            if held is not None:
                return held
        self._number += 1
        incident = Incident(
            number=self._number,
            problem=problem,
            slots=slots,
            address=address_of(self.config, place.name, slots, self.rng),
            core=self.rng.randrange(len(problem.cores)),
            urgent=False,
        )
        if self.spots is not None:
            self.spots.take_spot(problem, slots, at, incident)
        return incident

    def _make(
        self, channel: str, at: dt.datetime
    ) -> tuple[str, dict[str, object], str, dt.datetime, Incident] | None:
        rng = self.rng
        place = rng.choice(self.places)
        self._seq += 1
        if channel == "media" and self.for_media:
            problem = rng.choice(self.for_media)
            incident = self._incident(problem, place, at)
            core = problem.cores[incident.core].format(**incident.slots)
            outlet, host = rng.choice(OUTLETS)
            published = at - dt.timedelta(hours=rng.randint(1, 20))
            url = f"https://{host}/{published:%Y-%m/%d}/content_{self._seq:05d}.html"
            record: dict[str, object] = {
                "outlet": outlet,
                "title": f"{place.name}：{core.split('，')[0][:16]}",
                "url": url,
                "published_at": published.isoformat(),
                "received_at": at.isoformat(),
                "passage": f"记者走访发现，{core}。{self._impact(problem)}",
                "address": incident.address,
            }
            return channel, record, url, at, incident
        if channel == "court" and self.disputes:
            problem = rng.choice(self.disputes)
            incident = self._incident(problem, place, at)
            core = problem.cores[incident.core].format(**incident.slots)
            number = rng.choice(SPELLINGS).format(y=at.year, n=1000 + self._seq)
            record = {
                "case_no": number,
                "received_at": at.isoformat(),
                "court": f"{self.config.district.city}{self.config.district.name}人民法院",
                "dispute_type": DISPUTE_TYPES.get(problem.key, "民事纠纷"),
                "summary": f"{core}，双方协商未果，申请人向法院起诉，经法院引导同意诉前调解。",
                "applicant_name": self._name(),
                "applicant_phone": phone_number(rng),
                "respondent_name": self._name(),
                "address": incident.address,
            }
            return channel, record, number, at, incident
        if channel == "town" and self.asks:
            problem, unit = rng.choice(self.asks)
            street = self._street_of(place)
            if street is None:
                return None
            incident = self._incident(problem, place, at)
            core = problem.cores[incident.core].format(**incident.slots)
            request_no = f"{street.upper()}-{at:%Y%m%d}-{self._seq:03d}"
            record = {
                "request_no": request_no,
                "street": street,
                "received_at": at.isoformat(),
                "content": f"辖区{core}，街道已多次协调仍未解决，请求{self.config.unit(unit).name}支持处理。",
                "department": unit,
                "address": incident.address,
            }
            return channel, record, f"{street}/{request_no}", at, incident
        return None

    def _name(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def _impact(self, problem: Problem) -> str:
        impacts = [i for i in problem.impacts if i]
        return f"居民说，{self.rng.choice(impacts)}" if impacts else "居民说，问题反映多次仍未解决。"

    def _street_of(self, place: Place) -> str | None:
        unit = self.config.unit(place.unit) if self.config.has_unit(place.unit) else None
        if unit is None:
            return None
        if unit.kind == UnitKind.STREET:
            return unit.id
        street = self.config.street_of(unit.id)
        return street.id if street else None
