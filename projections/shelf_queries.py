"""The reads of the shelf views (``projections.shelf``): 认领大厅 (what is on the shelf, for the
centre or for one unit), a unit's own claims, and the helpers' figures (社会力量与微服务,
docs/rates.md).

The helpers' figures are counted apart from government units': each helper unit (the kinds of
``engine.vocabulary.HELPER_KINDS``) with its 微服务 (cases it resolved: the unit scope's
``resolved``, as any unit's 办结), the cases it holds now, its claims (made, accepted, refused,
waiting) and its follow-ups and 满意率 (the unit scope's counters, docs/rates.md's definition);
then a row per helper kind and a helpers' total. Government units are in none of these rows, and
helpers are in no 承办单位排名 (``projections.ranking``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, func, select

from engine.vocabulary import CLAIM_STATES, HELPER_KINDS, SHELF_STATES, UNIT_KINDS
from projections.queries import HELD_BY_UNIT, ReadModel, _as_date, rate
from projections.tables import view_open_cases, view_shelf, view_shelf_claims

CLAIM_FIGURES = ("claims", "accepted", "refused", "pending")


class ShelfViews:
    """The reads of the shelf views, over a :class:`ReadModel`'s database and names."""

    def __init__(self, read_model: ReadModel) -> None:
        self.rm = read_model

    def _fresh(self) -> None:
        if self.rm.before_read is not None:
            self.rm.before_read()

    def _services(self, unit: str | None) -> list[str] | None:
        """The services ``unit`` sees on the shelf (None: every one)."""
        cfg = self.rm.config
        if unit is None or cfg is None or not cfg.has_unit(unit):
            return None
        return list(cfg.unit(unit).services) or None

    def _service_name(self, code: str) -> str:
        cfg = self.rm.config
        return cfg.service_name(code) if cfg is not None else code

    def items(self, unit: str | None = None, limit: int = 200) -> dict[str, Any]:
        """认领大厅: the items on the shelf, oldest listing first. For the centre (``unit``
        None) each item carries every claim on its listing; for a unit only the items of the
        services it offers (every item for a unit listing none), each with the unit's own
        claims on it, never another unit's."""
        self._fresh()
        s, c = view_shelf, view_shelf_claims
        stmt = select(s).where(s.c.state == "on_shelf")
        services = self._services(unit)
        if services is not None:
            stmt = stmt.where(s.c.service.in_(services))
        with self.rm.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt.order_by(s.c.listed_at).limit(limit))]
            ids = [r["case_id"] for r in rows]
            claims: list[dict[str, Any]] = []
            if ids:
                q = select(c).where(c.c.case_id.in_(ids))
                if unit is not None:
                    q = q.where(c.c.unit == unit)
                claims = [dict(r._mapping) for r in conn.execute(q.order_by(c.c.number))]
        by_listing: dict[tuple[Any, int], list[dict[str, Any]]] = {}
        for claim in claims:
            by_listing.setdefault((claim["case_id"], claim["listing"]), []).append(self._claim(claim))
        items = []
        for r in rows:
            item = self._item(r)
            item["claims"] = by_listing.get((r["case_id"], r["number"]), [])
            item["pending_claims"] = sum(1 for x in item["claims"] if x["state"] == "pending")
            items.append(item)
        menu = [{"code": x.code, "name": x.name} for x in (self.rm.config.services if self.rm.config else [])]
        return {"unit": unit, "services": services, "menu": menu, "items": items}

    def claims_of(self, unit: str, limit: int = 200) -> list[dict[str, Any]]:
        """本单位的认领申请: newest first, with the item's summary and what became of it."""
        self._fresh()
        s, c = view_shelf, view_shelf_claims
        stmt = (
            select(c, s.c.service, s.c.summary, s.c.state.label("listing_state"))
            .join(s, (s.c.case_id == c.c.case_id) & (s.c.number == c.c.listing))
            .where(c.c.unit == unit)
            .order_by(c.c.applied_at.desc())
            .limit(limit)
        )
        with self.rm.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        out = []
        for r in rows:
            claim = self._claim(r)
            claim["service"] = r["service"]
            claim["service_name"] = self._service_name(r["service"])
            claim["summary"] = r["summary"]
            out.append(claim)
        return out

    def _item(self, r: dict[str, Any]) -> dict[str, Any]:
        return {
            "case_id": r["case_id"],
            "listing": r["number"],
            "service": r["service"],
            "service_name": self._service_name(r["service"]),
            "summary": r["summary"],
            "category": r["category"],
            "category_name": self.rm.name_of("category", r["category"]),
            "street": r["street"],
            "street_name": self.rm.name_of("street", r["street"]) if r["street"] else "",
            "listed_at": r["listed_at"],
            "state": r["state"],
            "state_name": SHELF_STATES.label(r["state"]),
        }

    def _claim(self, r: dict[str, Any]) -> dict[str, Any]:
        return {
            "case_id": r["case_id"],
            "number": r["number"],
            "listing": r["listing"],
            "unit": r["unit"],
            "unit_name": self.rm.name_of("unit", r["unit"]),
            "unit_kind": self._kind(r["unit"]),
            "note": r["note"],
            "applied_at": r["applied_at"],
            "state": r["state"],
            "state_name": CLAIM_STATES.label(r["state"]),
            "reason": r["reason"],
            "decided_at": r["decided_at"],
        }

    def _kind(self, unit: str) -> str:
        cfg = self.rm.config
        return cfg.unit(unit).kind.value if cfg is not None and cfg.has_unit(unit) else ""

    # ---- 社会力量与微服务 (docs/rates.md) ------------------------------------------------------

    def figures(
        self, from_: dt.date | str | None = None, to: dt.date | str | None = None
    ) -> dict[str, Any]:
        """Per helper unit, per helper kind and for all helpers, over cases received (claims:
        applied) in [from, to): ``micro_services`` (resolved), ``handling`` (held now),
        ``claims`` / ``accepted`` / ``refused`` / ``pending``, ``followups``, ``satisfied``
        (满意 + 基本满意) and ``satisfaction_rate``; plus what is on the shelf now."""
        start, end = _as_date(from_), _as_date(to)
        cfg = self.rm.config
        helpers = [u for u in (cfg.units if cfg else []) if u.kind.value in HELPER_KINDS]
        stats = self.rm.stats(by="unit", from_=start, to=end)  # catches the views up
        counts = {str(r["key"]): r for r in stats["rows"]}
        c = view_shelf_claims
        cond: list[ColumnElement[bool]] = [c.c.unit.in_([u.id for u in helpers] or [""])]
        if start is not None:
            cond.append(c.c.applied_day >= start)
        if end is not None:
            cond.append(c.c.applied_day < end)
        with self.rm.engine.connect() as conn:
            claim_rows = conn.execute(
                select(c.c.unit, c.c.state, func.count()).where(*cond).group_by(c.c.unit, c.c.state)
            ).all()
            held: dict[str, int] = dict(
                conn.execute(
                    select(view_open_cases.c.unit, func.count())
                    .where(view_open_cases.c.status.in_(HELD_BY_UNIT))
                    .group_by(view_open_cases.c.unit)
                ).all()
            )
            on_shelf = int(
                conn.execute(
                    select(func.count()).select_from(view_shelf).where(view_shelf.c.state == "on_shelf")
                ).scalar()
                or 0
            )
        claimed: dict[str, dict[str, int]] = {}
        for unit, state, n in claim_rows:
            figures = claimed.setdefault(unit, dict.fromkeys(CLAIM_FIGURES, 0))
            figures["claims"] += int(n)
            if state in figures:
                figures[state] += int(n)
        rows = []
        for u in helpers:
            unit_counts = counts.get(u.id, {})
            raw = {
                "micro_services": int(unit_counts.get("resolved", 0)),
                "handling": int(held.get(u.id, 0)),
                **claimed.get(u.id, dict.fromkeys(CLAIM_FIGURES, 0)),
                "followups": int(unit_counts.get("rated", 0)),
                "satisfied": int(unit_counts.get("satisfied", 0))
                + int(unit_counts.get("basically_satisfied", 0)),
            }
            rows.append({"key": u.id, "name": u.name, "kind": u.kind.value, **_with_rate(raw)})
        kinds = []
        for kind in UNIT_KINDS.codes:
            if kind not in HELPER_KINDS:
                continue
            of_kind = [r for r in rows if r["kind"] == kind]
            if of_kind:
                kinds.append({"key": kind, "name": UNIT_KINDS.label(kind), **_summed(of_kind)})
        return {
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "on_shelf": on_shelf,
            "rows": rows,
            "kinds": kinds,
            "total": {"key": "helpers", "name": "社会力量合计", **_summed(rows)},
        }


_SUMMED = ("micro_services", "handling", *CLAIM_FIGURES, "followups", "satisfied")


def _summed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return _with_rate({k: sum(int(r[k]) for r in rows) for k in _SUMMED})


def _with_rate(raw: dict[str, int]) -> dict[str, Any]:
    """满意率 = (满意 + 基本满意) / 回访中作出评价的 (docs/rates.md), null without a rating."""
    return {**raw, "satisfaction_rate": rate(raw["satisfied"], raw["followups"])}


__all__ = ["ShelfViews"]
