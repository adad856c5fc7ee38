"""The intake stream: raw channel records, hour by hour, as the four channels would send them.

Records are built in the formats of docs/channels.md (hotline JSON, police JSON, app JSON, walk-in
tickets) so that the real channel adapters read them like any other file. The stream is a pure
function of (config, seed, start, days, scale): it never looks at the engine, so the same seed
gives byte-for-byte the same records whatever the engine decides.

Besides the records, the stream keeps the ground truth the engine must guess: which incident a
record tells of (two reports of one broken lamp), its true category, and which records are
re-sends of the same record (a client retry).
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from adapters.simulator.clock import FastCalendar
from adapters.simulator.district import (
    CHANNEL_SHARE,
    MONDAY_MORNING_BOOST,
    NIGHT_HOURS,
    WEEKDAY_FACTOR,
    Place,
    Surge,
    address_of,
    hour_weight,
    places_of,
)
from adapters.simulator.partner_channels import PartnerChannels
from adapters.simulator.referrals import ReferralStream
from adapters.simulator.texts import (
    EMERGENCIES,
    POLICE_ONLY,
    PROBLEMS,
    Incident,
    Problem,
    incident_slots,
    person_name,
    phone_number,
    spot_of,
    tell,
)
from engine.config import SanshiConfig, UnitKind
from engine.deadlines import SHANGHAI, WorkCalendar

T = TypeVar("T")
CHANNELS = ("hotline", "app", "walkin", "police")
EMERGENCY = Problem("emergency", "", 0.0, EMERGENCIES, appeal=("求助",), concern=(0, 0, 1))


@dataclass(frozen=True)
class SimRecord:
    """One raw record and what the simulator knows about it (the engine does not)."""

    channel: str
    record: dict[str, Any]
    source_ref: str
    received_at: dt.datetime
    incident: Incident | None  # None: a police record that stays with the police
    resend: bool = False  # the same record sent again (retry / re-upload)
    passes: bool = True  # False: the police adapter must filter it out


@dataclass(order=True)
class _Pending:
    at: dt.datetime
    seq: int
    incident: Incident = field(compare=False)
    channel: str = field(compare=False)
    resend_of: SimRecord | None = field(compare=False, default=None)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


CASES_PER_COMMUNITY_DAY = 5.0


def daily_volume(config: SanshiConfig) -> float:
    """Ordinary-day intake at scale 1: five records per community (the bundled 海城区: a hundred
    a day, about what one district's share of a city's 12345 work orders is), at least thirty.
    ``--scale`` multiplies it."""
    localities = len(config.units_of_kind(UnitKind.COMMUNITY)) or len(
        config.units_of_kind(UnitKind.STREET)
    )
    return max(30.0, CASES_PER_COMMUNITY_DAY * localities)


def problems_for(config: SanshiConfig) -> list[Problem]:
    """The catalogue's problems whose category the district has, plus a plain problem made from
    the keywords of every district category the catalogue does not know."""
    codes = set(config.category_codes())
    out = [p for p in PROBLEMS if p.category in codes]
    known = {p.category for p in out}
    for c in config.categories:
        if c.code in known or not c.keywords:
            continue
        cores = tuple(
            f"{{road}}{{n}}号附近{kw}的问题{{days}}没人解决" for kw in c.keywords[:4]
        ) + tuple(f"想反映一下{{xiaoqu}}小区的{kw}问题" for kw in c.keywords[:2])
        out.append(Problem(f"generic:{c.code}", c.code, 1.5, cores, ("",), appeal=("投诉", "求助")))
    return out


class IntakeStream:
    """Yields the records of each simulated hour; deterministic in (config, seed, start)."""

    def __init__(
        self,
        config: SanshiConfig,
        seed: int,
        start: dt.datetime,
        days: int,
        scale: float = 1.0,
        surge: Surge | None = None,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.config = config
        self.rng = random.Random(f"{seed}:intake")
        self.start = start
        self.end = start + dt.timedelta(days=days)
        self.scale = scale
        self.surge = surge
        self.calendar = FastCalendar(calendar or WorkCalendar(config.calendar))
        self.places = places_of(config)
        self.problems = problems_for(config)
        self.daily = daily_volume(config) * scale
        # Some roads are busier than others (a Zipf-like weight per place, fixed by the seed).
        order = list(range(len(self.places)))
        random.Random(f"{seed}:places").shuffle(order)
        self.place_weights = [(1.0 / (1 + rank) ** 0.7, self.places[i]) for rank, i in enumerate(order)]
        self.category_names = {c.code: c.name for c in config.categories}
        self._pending: list[_Pending] = []
        self._seq = 0
        self._incidents = 0
        self._ticket: dict[str, int] = {}
        self._order = 0
        self._taken: dict[tuple[str, ...], dt.datetime] = {}  # spot → last incident there
        # (problem, spot) → when the last incident of that problem there began, and which
        self._held: dict[tuple[str, ...], tuple[dt.datetime, Incident]] = {}
        self.saturated = 0  # first reports told as another report of the incident at a taken spot
        self.seed = seed
        # 网格员上报 and 企呼市应 (adapters.simulator.partner_channels): an rng of their own.
        self.partners = PartnerChannels(self)
        self.referrals = ReferralStream(config, seed, self.calendar, self.problems, self.places, scale,
                                        spots=self)

    # ---- time ----------------------------------------------------------------------------

    def hours(self) -> Iterator[dt.datetime]:
        t = self.start
        while t < self.end:
            yield t
            t += dt.timedelta(hours=1)

    def is_surge(self, day: dt.date) -> bool:
        return self.surge is not None and day == self.surge.day

    def _rate(self, channel: str, t: dt.datetime) -> float:
        day = t.date()
        workday = self.calendar.is_workday(day)
        weekday = day.weekday()
        factor = WEEKDAY_FACTOR[weekday]
        if not workday and weekday < 5:
            factor = 0.65  # a public holiday on a weekday
        if workday and weekday >= 5:
            factor = 1.0  # 调休: a make-up working day
        total = sum(hour_weight(channel, h, weekday, workday) for h in range(24))
        if total == 0:
            return 0.0
        share = hour_weight(channel, t.hour, weekday, workday) / total
        lam = self.daily * factor * CHANNEL_SHARE[channel] * share
        if weekday == 0 and workday and 8 <= t.hour < 12:
            lam *= MONDAY_MORNING_BOOST
        if self.is_surge(day) and self.surge is not None and 5 <= t.hour < 23:
            lam *= 1 + self.surge.extra_share * 24 / 18
        return lam

    # ---- records -------------------------------------------------------------------------

    def _spots_of(self, problem: Problem, slots: dict[str, str]) -> list[tuple[str, ...]]:
        crossing = any("{road2}" in c for c in problem.cores) or "交叉口" in slots["spot"]
        return _spots(problem.category, slots, crossing, estate=problem.key in ESTATE_WIDE)

    def spot_free(self, problem: Problem, slots: dict[str, str], at: dt.datetime) -> bool:
        """No incident of the kind began at this spot within SPOT_MEMORY (for the other
        generators of the stream, adapters.simulator.referrals)."""
        return not any(self._taken.get(k, _NEVER) > at - SPOT_MEMORY for k in self._spots_of(problem, slots))

    def held_at(self, problem: Problem, slots: dict[str, str], at: dt.datetime) -> Incident | None:
        """The incident of this problem that began at one of the spot's keys within SPOT_MEMORY."""
        for k in self._spots_of(problem, slots):
            held = self._held.get((problem.key, *k))
            if held is not None and held[0] > at - SPOT_MEMORY:
                return held[1]
        return None

    def take_spot(self, problem: Problem, slots: dict[str, str], at: dt.datetime, incident: Incident) -> None:
        for k in self._spots_of(problem, slots):
            self._taken[k] = at
            self._held[(problem.key, *k)] = (at, incident)

    def records_between(self, t0: dt.datetime, t1: dt.datetime) -> list[SimRecord]:
        """Every record received in [t0, t1), in time order."""
        out: list[SimRecord] = []
        for channel in CHANNELS:
            n = poisson(self.rng, self._rate(channel, t0))
            for _ in range(n):
                at = t0 + dt.timedelta(seconds=self.rng.randrange(int((t1 - t0).total_seconds())))
                if channel == "police" and self.rng.random() < 0.45:
                    out.append(self._police_only(at))
                    continue
                incident = self._new_incident(channel, at)
                out.append(self._record(channel, incident, at, first=True))
        # 媒体监督, 诉前调解, 镇呼市应 (adapters.simulator.referrals): their own generator.
        out.extend(SimRecord(*made) for made in self.referrals.records_between(t0, t1))
        while self._pending and self._pending[0].at < t1:
            p = heapq.heappop(self._pending)
            if p.resend_of is not None:
                out.append(_resend(p.resend_of, p.at))
            else:
                out.append(self._record(p.channel, p.incident, p.at, first=False))
        out += self.partners.records_between(t0, t1)
        out.sort(key=lambda r: (r.received_at, r.channel, r.source_ref))
        # A client that retries, an export uploaded twice: the same record again, later.
        for r in list(out):
            if r.resend or r.channel not in CHANNELS:
                continue
            p_resend = {"app": 0.02, "hotline": 0.005, "walkin": 0.01, "police": 0.0}[r.channel]
            if self.rng.random() < p_resend:
                later = r.received_at + dt.timedelta(minutes=self.rng.randint(1, 90))
                self._push(_Pending(later, self._next_seq(), r.incident, r.channel, resend_of=r))  # type: ignore[arg-type]
        return out

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _push(self, p: _Pending) -> None:
        if p.at < self.end:
            heapq.heappush(self._pending, p)

    def _choose_problem(self, channel: str, at: dt.datetime) -> Problem:
        night = at.hour in NIGHT_HOURS
        surge = self.is_surge(at.date())
        weighted: list[tuple[float, Problem]] = []
        for p in self.problems:
            if channel == "police" and p.police is None:
                continue
            if channel == "walkin" and not p.walkin:
                continue
            w = p.weight
            if surge:
                w = w + p.surge_weight * 4.0
            if night:
                w *= 2.5 if p.hours == "night" else 1.0 if p.hours == "any" else 0.3
            weighted.append((w, p))
        if channel == "hotline" and self.rng.random() < 0.004:
            return EMERGENCY
        if not weighted:
            weighted = [(p.weight, p) for p in self.problems]
        return _pick(self.rng, weighted)

    def _choose_place(self) -> Place:
        return _pick(self.rng, self.place_weights)

    def _new_incident(self, channel: str, at: dt.datetime) -> Incident:
        problem = self._choose_problem(channel, at)
        place = self._choose_place()
        # Two incidents of one kind at one door, building, lamp or crossing within a month
        # are one incident to anyone who reads them (the lamp at 外沙51号 is one lamp): the
        # facts are drawn again until they name a spot no recent incident of the category has.
        crossing = any("{road2}" in c for c in problem.cores)
        for _ in range(40):
            other = self._choose_place()
            slots = incident_slots(self.rng, place.name, other.name if other != place else "")
            if not slots["road2"]:
                slots["road2"] = self.rng.choice(("中山路", "北海大道", "长青路", "新世纪大道"))
            slots["spot"] = spot_of(slots, self.rng)
            spots = _spots(
                problem.category,
                slots,
                crossing or "交叉口" in slots["spot"],
                estate=problem.key in ESTATE_WIDE,
            )
            if not any(self._taken.get(k, _NEVER) > at - SPOT_MEMORY for k in spots):
                break
        else:
            # A crowded district (a rate far above its own): every draw names a spot where an
            # incident of the category began within the month. Where one of the same problem
            # began, a resident now reporting that problem there reports that incident:
            # "港口路91号门前的井盖坏了" twice in a week is one manhole to anyone, so it is
            # told and counted as another report of it, not as a second incident.
            for k in spots:
                held = self._held.get((problem.key, *k))
                if held is not None and held[0] > at - SPOT_MEMORY:
                    self.saturated += 1
                    return held[1]
        self._incidents += 1
        urgent = problem.urgent_p > 0 and self.rng.random() < problem.urgent_p
        if problem is EMERGENCY:
            urgent = True
        incident = Incident(
            number=self._incidents,
            problem=problem,
            slots=slots,
            address=address_of(self.config, place.name, slots, self.rng),
            core=self.rng.randrange(len(problem.cores)),
            urgent=urgent,
        )
        for k in spots:
            self._taken[k] = at
            self._held[(problem.key, *k)] = (at, incident)
        # Someone else reports the same thing: on a storm day, half the street calls.
        p2 = problem.second_report_p * (2.0 if self.is_surge(at.date()) else 1.0)
        extra_reports = 0
        while extra_reports < 4 and self.rng.random() < min(p2, 0.8):
            extra_reports += 1
            delay = dt.timedelta(minutes=int(self.rng.expovariate(1 / (240 if urgent else 900))) + 5)
            ch = _pick(self.rng, [(0.6, "hotline"), (0.3, "app"), (0.1, "walkin")])
            when = at + delay
            if ch == "walkin" and not (problem.walkin and self._counter_open(when)):
                ch = "hotline"
            self._push(_Pending(when, self._next_seq(), incident, ch))
            p2 *= 0.5
        return incident

    def _counter_open(self, t: dt.datetime) -> bool:
        day = t.date()
        return hour_weight("walkin", t.hour, day.weekday(), self.calendar.is_workday(day)) > 0

    def _police_only(self, at: dt.datetime) -> SimRecord:
        cat, sub, summary = self.rng.choice(POLICE_ONLY)
        place = self._choose_place()
        slots = incident_slots(self.rng, place.name, place.name)
        self._order += 1
        ref = f"JQ{at:%Y%m%d%H%M}{self._order:05d}"
        record = {
            "incident_no": ref,
            "received_at": at.isoformat(),
            "caller_phone": phone_number(self.rng),
            "caller_name": person_name(self.rng),
            "location": f"{self.config.district.city}{self.config.district.name}{place.name}",
            "summary": summary.format(**slots),
            "police_category": cat,
            "sub_category": sub,
        }
        return SimRecord("police", record, ref, at, None, passes=False)

    def _record(self, channel: str, incident: Incident, at: dt.datetime, first: bool) -> SimRecord:
        rng = self.rng
        incident.reports += 1
        text = tell(incident, channel, rng, first)
        p = incident.problem
        appeal = rng.choice(p.appeal)
        self._order += 1
        if channel == "hotline":
            ref = f"HC{at:%Y%m%d}{self._order:06d}"
            hint = ""
            if p.category and rng.random() < 0.22:
                # The operator picked a category on the form; now and then the wrong one.
                code = p.category
                if rng.random() < 0.06:
                    code = rng.choice(self.config.category_codes())
                hint = self.category_names.get(code, code)
            rec: dict[str, Any] = {
                "order_no": ref,
                # Half of the exports carry no zone (docs/channels.md: read as Asia/Shanghai).
                "received_at": at.strftime("%Y-%m-%d %H:%M:%S") if rng.random() < 0.5 else at.isoformat(),
                "caller_phone": phone_number(rng),
                "caller_name": person_name(rng) if rng.random() < 0.8 else "",
                "content": text,
                "address": incident.address,
                "appeal_type": appeal,
                "urgency": "紧急" if incident.urgent else "一般",
            }
            if hint:
                rec["category"] = hint
            return SimRecord(channel, rec, ref, at, incident)
        if channel == "app":
            ref = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            concern = _concern(rng, p, incident.urgent)
            rec = {
                "submission_id": ref,
                "user_id": f"u{rng.randint(10000, 99999)}",
                "phone": phone_number(rng),
                "content": text,
                "address": incident.address,
                "lat": round(21.47 + rng.uniform(-0.04, 0.04), 5),
                "lng": round(109.12 + rng.uniform(-0.06, 0.06), 5),
                "photos": [f"https://img.example.cn/{ref[:8]}/{i}.jpg" for i in range(rng.choice((0, 0, 1, 2)))],
                "concern": concern,
            }
            return SimRecord(channel, rec, ref, at, incident)
        if channel == "walkin":
            station = self._station_for(incident)
            self._ticket[station] = self._ticket.get(station, 0) + 1
            ticket = f"{at:%m%d}{self._ticket[station]:04d}"
            on_behalf = rng.random() < 0.25
            rec = {
                "station_id": station,
                "ticket_no": ticket,
                "staff_id": f"gw{rng.randint(1, 60):03d}",
                "resident_name": "" if on_behalf and rng.random() < 0.5 else person_name(rng),
                "phone": phone_number(rng) if rng.random() < 0.85 else "",
                "content": text,
                "address": incident.address,
                "on_behalf": on_behalf,
                "received_at": at.isoformat(),
            }
            return SimRecord(channel, rec, f"{station}/{ticket}", at, incident)
        # police: a dispute or request for help that 110 hands to the centre (警司联动)
        cat, sub = p.police or ("求助", "")
        ref = f"JQ{at:%Y%m%d%H%M}{self._order:05d}"
        rec = {
            "incident_no": ref,
            "received_at": at.isoformat(),
            "caller_phone": phone_number(rng),
            "caller_name": person_name(rng).replace("先生", "").replace("女士", "") + rng.choice(("", "某")),
            "location": incident.address,
            "summary": text,
            "police_category": cat,
            "sub_category": sub,
        }
        return SimRecord(channel, rec, ref, at, incident)

    def _station_for(self, incident: Incident) -> str:
        for u in self.config.units:
            if u.kind == UnitKind.COMMUNITY and incident.slots["road"] in u.areas:
                return f"jy-{u.id}"
        return "jy-centre"


SPOT_MEMORY = dt.timedelta(days=30)
_NEVER = dt.datetime.min.replace(tzinfo=SHANGHAI)


# Problems of a whole 小区 (its water, power, gas): the 小区 is the spot, and two outages of one
# kind in one 小区 within a month are one outage to anyone who reads them.
ESTATE_WIDE = frozenset({"water_outage", "power_outage", "gas"})


def _spots(
    category: str, slots: dict[str, str], crossing: bool, estate: bool = False
) -> list[tuple[str, ...]]:
    """The exact spots an incident's facts name: door, building, lamp, the crossing when its
    text names one, the 小区 for a problem of the whole 小区."""
    road = slots["road"]
    spots = [
        (category, "door", road, slots["n"]),
        (category, "building", road, slots["xiaoqu"], slots["b"]),
        (category, "lamp", slots["lamp"]),
    ]
    if crossing:
        spots.append((category, "crossing", *sorted((road, slots["road2"]))))
    if estate:
        spots.append((category, "estate", road, slots["xiaoqu"]))
    return spots


def _concern(rng: random.Random, p: Problem, urgent: bool) -> str:
    if urgent:
        return "anguish"
    w, t, a = p.concern
    return _pick(rng, [(w, "worry"), (t, "trouble"), (a, "anguish")])


def _pick(rng: random.Random, weighted: Sequence[tuple[float, T]]) -> T:
    total = sum(w for w, _ in weighted)
    x = rng.random() * total
    for w, item in weighted:
        x -= w
        if x < 0:
            return item
    return weighted[-1][1]


def _resend(r: SimRecord, at: dt.datetime) -> SimRecord:
    return SimRecord(r.channel, dict(r.record), r.source_ref, at, r.incident, resend=True)


def local(t: dt.datetime) -> dt.datetime:
    return t.astimezone(SHANGHAI)
