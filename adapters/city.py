"""The city's runtime (docs/city.md): one full district runtime per district of the city file
(each from ``adapters.bootstrap.bootstrap`` with its own district file and database), the
hand-over of a case from one district to another (跨区转办), and the city's figures rolled up
from the districts' read models (sums of numerators and denominators, rates recomputed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from adapters.bootstrap import Runtime, bootstrap
from engine.city import CityConfig, load_city, transfer_intake
from engine.domain import IllegalTransition, InvalidCommand, Status
from engine.settings import Settings
from engine.vocabulary import Action, Channel
from projections.queries import _as_date, with_rates
from projections.tables import COUNT_FIELDS, view_cases


class UnknownDistrict(InvalidCommand):
    """A district the city file does not name."""


@dataclass
class City:
    config: CityConfig
    districts: dict[str, Runtime]
    closers: list[Any] = field(default_factory=list)

    def runtime(self, district: str) -> Runtime:
        try:
            return self.districts[district]
        except KeyError:
            raise UnknownDistrict(f"没有这个区：「{district}」") from None

    def name(self, district: str) -> str:
        return self.runtime(district).config.district.name

    # ---- 跨区转办 -----------------------------------------------------------------------------

    def transfer(
        self,
        from_district: str,
        case_id: UUID,
        to_district: str,
        reason: str,
        principal: str,
        at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The case leaves ``from_district`` as 已转出 (its application service) and is
        received by ``to_district`` (its application service) as a case of channel 跨区转入.
        Idempotent: a retry finds the case already 已转出 to the same district and the
        received case already there (same id), and writes nothing twice."""
        if from_district == to_district:
            raise InvalidCommand("跨区转办须转到另一个区")
        a, b = self.runtime(from_district), self.runtime(to_district)
        case = a.app.get_case(case_id)
        done = case.transferred_to
        if case.status == Status.TRANSFERRED_OUT and done is not None:
            if done["district"] != to_district:
                raise IllegalTransition(case.status, Action.TRANSFER_OUT)
        else:
            case = a.app.transfer_out(
                case_id, to_district, b.config.district.name, reason, principal, at=at
            )
            done = case.transferred_to
        assert done is not None
        cmd = transfer_intake(from_district, a.config.district.name, case, str(done["reason"]))
        received = b.app.receive(cmd, principal=f"city:{from_district}:{principal}")
        return {
            "case_id": str(case_id),
            "district": from_district,
            "status": case.status.value,
            "to_district": to_district,
            "to_case_id": str(received.case_id),
            "to_status": received.status,
            "duplicate": received.duplicate,
        }

    # ---- the city's figures -------------------------------------------------------------------

    def stats(
        self, from_: dt.date | str | None = None, to: dt.date | str | None = None
    ) -> dict[str, Any]:
        """Each district's row (its own counters, with ``transferred_in`` / ``transferred_out``)
        and the city's total: the districts' counters summed, the transfers taken out once
        (docs/city.md), every rate recomputed from the sums."""
        start, end = _as_date(from_), _as_date(to)
        rows: list[dict[str, Any]] = []
        sums = dict.fromkeys(COUNT_FIELDS, 0)
        moved_in = moved_out = 0
        for district_id, rt in self.districts.items():
            total = rt.read_model.stats(None, start, end)["total"]
            counts = {f: int(total[f]) for f in COUNT_FIELDS}
            t_in = int(
                rt.read_model.stats(None, start, end, {"channel": Channel.TRANSFER.value})[
                    "total"
                ]["received"]
            )
            t_out = transferred_out(rt, start, end)
            row = with_rates(district_id, rt.config.district.name, counts)
            row["transferred_in"], row["transferred_out"] = t_in, t_out
            rows.append(row)
            for f in COUNT_FIELDS:
                sums[f] += counts[f]
            moved_in += t_in
            moved_out += t_out
        # The city received each transferred case once (in the district it came to first) and
        # rejected none of them (they were moved, not refused).
        sums["received"] -= moved_in
        sums["rejected"] -= moved_out
        city_row = with_rates(self.config.city.id, self.config.city.name, sums)
        city_row["transfers"] = moved_in
        return {
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "rows": rows,
            "total": city_row,
        }

    def close(self) -> None:
        for rt in self.districts.values():
            rt.close()


def transferred_out(rt: Runtime, start: dt.date | None, end: dt.date | None) -> int:
    """Cases of this district received in [start, end) that it transferred out (已转出)."""
    t = view_cases
    query = select(func.count()).select_from(t).where(t.c.status == Status.TRANSFERRED_OUT.value)
    if start is not None:
        query = query.where(t.c.received_day >= start)
    if end is not None:
        query = query.where(t.c.received_day < end)
    with rt.views_engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def district_settings(base: Settings, district: str, database: str) -> Settings:
    """A district's settings in the city: the environment's (cipher key, notices, …) with its
    own database and, with Kafka, its own topics and consumer group (the prefix plus the
    district's id: ``sanshi.`` + ``haicheng.`` + ``intake``), as DIGIT partitions by tenant. Each
    district's ``sanshi worker --city FILE --district ID`` routes its own intake only."""
    prefix = f"{base.kafka_prefix or ''}{district}." if base.kafka else None
    return dataclasses.replace(
        base, db=database, config_path=None, kafka_prefix=prefix
    )


def bootstrap_city(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> City:
    """Every district of the city file as its own runtime (:func:`district_settings`)."""
    city, configs = load_city(path)
    base = Settings.from_env(dict(environ) if environ is not None else None)
    runtimes: dict[str, Runtime] = {}
    try:
        for d in city.districts:
            runtimes[d.id] = bootstrap(district_settings(base, d.id, d.database), configs[d.id])
    except BaseException:
        for rt in runtimes.values():
            rt.close()
        raise
    return City(config=city, districts=runtimes)


def district_runtime(
    path: str | Path,
    district: str,
    environ: Mapping[str, str] | None = None,
    *,
    warm_index: bool = True,
) -> Runtime:
    """One district of the city file, as ``sanshi worker --city FILE --district ID`` runs it."""
    city, configs = load_city(path)
    found = next((d for d in city.districts if d.id == district), None)
    if found is None:
        known = "、".join(d.id for d in city.districts)
        raise UnknownDistrict(f"市级配置中没有区「{district}」（有：{known}）")
    base = Settings.from_env(dict(environ) if environ is not None else None)
    return bootstrap(
        district_settings(base, found.id, found.database), configs[found.id], warm_index=warm_index
    )
