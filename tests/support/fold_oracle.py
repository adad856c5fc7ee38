"""An independent, plain-Python statement of the rates (docs/rates.md) over the event log, and
helpers shared by the projection tests.

``expected_stats`` is written to be obviously right rather than fast: it folds every event into
the FINAL state of each case, then counts. The projector instead keeps running counters and
moves them as cases move. The property test checks that the two agree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from adapters.bootstrap import Runtime, bootstrap
from engine.config import SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.routing.keyword import KeywordRouter
from engine.settings import Settings

COUNTS = (
    "received",
    "merged",
    "rejected",
    "dispatched",
    "claimed_on_time",
    "returned",
    "resolved",
    "resolved_on_time",
    "mediations_concluded",
    "mediations_succeeded",
    "followups",
    "solved",
    "rated",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "notices",
    "accountabilities",
    "closed_unreachable",
)
CENSURES = {"notice": "notices", "accountability": "accountabilities"}
RATE_PARTS = {
    "handling_rate": (("resolved",), "accepted"),
    "on_time_rate": (("resolved_on_time",), "resolved"),
    "response_rate": (("claimed_on_time",), "dispatched"),
    "return_rate": (("returned",), "dispatched"),
    "mediation_success_rate": (("mediations_succeeded",), "mediations_concluded"),
    "solved_rate": (("solved",), "followups"),
    "satisfaction_rate": (("satisfied", "basically_satisfied"), "rated"),
}
WITH_UNIT = {"dispatched", "claimed", "mediating"}
RESOLVED_STATES = {"resolved", "answered_directly", "closed"}
OP = "operator:test"


def events_of(runtime: Runtime) -> list[Any]:
    app = runtime.app
    notes = app.recorder.select_notifications(None, 10**9)
    return [app.mapper.to_domain_event(n) for n in notes]


def expected_stats(
    events: Iterable[Any],
    by: str | None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    centre: str = "centre",
) -> dict[str, dict[str, int]]:
    """{scope key: counts} for cases received in [start, end), by docs/rates.md and the documented
    rules: counts on the received day; category/street = latest classification; a case counts
    as resolved while it stands resolved; unit = the unit responsible now for case-level counts,
    the acting unit for dispatch/claim/return/mediation, the resolving unit for follow-ups."""
    cases: dict[UUID, dict[str, Any]] = {}
    acts: list[tuple[UUID, str, str]] = []  # (case, unit, count name)
    censures: list[tuple[dt.date, str, str]] = []  # (day made, unit, count name)

    for e in events:
        name = type(e).__name__
        cid = e.originator_id
        if name == "UnitCensured":  # 通报/追责: the unit and the district, on the day made
            censures.append((e.at.astimezone(SHANGHAI).date(), e.unit, CENSURES[e.kind]))
            continue
        if cid not in cases and name != "Received":
            continue  # a 一表通 form: not a case
        if name == "Received":
            cases[cid] = {
                "channel": e.channel,
                "day": e.received_at.astimezone(SHANGHAI).date(),
                "category": "",
                "street": "",
                "status": "received",
                "resolved": 0,
                "on_time": 0,
                "unit": None,
                "resolved_unit": None,
                "claim_deadline": None,
                "merged": 0,
            }
            continue
        c = cases[cid]
        if name == "Classified":
            c["category"], c["street"] = e.category or "", e.street or ""
        elif name == "Dispatched":
            c.update(status="dispatched", unit=e.unit, claim_deadline=e.claim_deadline)
            acts.append((cid, e.unit, "dispatched"))
        elif name == "Claimed":
            c["status"] = "claimed"
            if e.at <= c["claim_deadline"]:
                acts.append((cid, e.unit, "claimed_on_time"))
        elif name == "Returned":
            c["status"] = "returned"
            acts.append((cid, e.unit, "returned"))
        elif name == "MediationStarted":
            c["status"] = "mediating"
        elif name == "MediationConcluded":
            c["status"] = "claimed"
            acts.append((cid, e.unit, "mediations_concluded"))
            if e.agreement:
                acts.append((cid, e.unit, "mediations_succeeded"))
        elif name == "Resolved":
            c.update(status="resolved", resolved=1, on_time=int(e.on_time), resolved_unit=e.unit)
        elif name == "AnsweredDirectly":
            c.update(status="answered_directly", resolved=1, on_time=1, resolved_unit=centre)
        elif name == "Reopened":
            c.update(status="reopened", resolved=0, on_time=0)
        elif name in ("Rejected", "Merged", "Closed"):
            c["status"] = name.lower()
            if name == "Merged":
                c["merged"] = 1  # stays merged when the merged caller's case is closed
        elif name in COOP_EVENTS:
            # 主办/协办: a part changes no count of the seven rates (docs/rates.md: the district
            # counts each case once; the lead's rates count it); see expected_coop.
            pass
        elif name == "Unmerged":
            c.update(status="received", merged=0)
        elif name == "ReturnReviewed" and not e.approved:
            # 退单审核 refused: back with the unit that returned it, in the status it left.
            c.update(status=e.restored, unit=e.unit)
        elif name == "ClosedUnreachable":
            c["status"] = "closed"
            acts.append((cid, centre if e.unit == "centre" else e.unit, "closed_unreachable"))
        elif name == "FollowedUp":
            unit = centre if e.unit == "centre" else e.unit
            acts.append((cid, unit, "followups"))
            if e.solved:
                acts.append((cid, unit, "solved"))
            if e.rating:
                acts.append((cid, unit, "rated"))
                acts.append((cid, unit, e.rating))

    def responsible(c: dict[str, Any]) -> str:
        if c["merged"]:
            return centre
        if c["status"] in WITH_UNIT:
            return str(c["unit"])
        if c["status"] in RESOLVED_STATES:
            return str(c["resolved_unit"])
        return centre

    def key(c: dict[str, Any]) -> str:
        if by is None:
            return ""
        if by == "month":
            return f"{c['day']:%Y-%m}"
        if by == "unit":
            return responsible(c)
        return str(c[by])

    def included(c: dict[str, Any]) -> bool:
        return (start is None or c["day"] >= start) and (end is None or c["day"] < end)

    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for c in cases.values():
        if not included(c):
            continue
        row = out[key(c)]
        row["received"] += 1
        row["merged"] += c["merged"]
        row["rejected"] += c["status"] == "rejected"
        row["resolved"] += c["resolved"]
        row["resolved_on_time"] += c["on_time"]
    for cid, unit, count in acts:
        c = cases[cid]
        if included(c):
            out[unit if by == "unit" else key(c)][count] += 1
    for day, unit, count in censures:
        if by in (None, "unit", "month") and included({"day": day}):
            k = unit if by == "unit" else f"{day:%Y-%m}" if by == "month" else ""
            out[k][count] += 1
    return {k: v for k, v in out.items() if any(v.values())}


COOP_EVENTS = (
    "AssistAdded", "Whistled", "PartClaimed", "PartReported", "PartReturned", "PartClosed",
    "PartEscalated",
)
PART_COUNTS = (
    "parts", "claimed", "claimed_on_time", "reported", "reported_on_time", "returned", "closed",
    "outstanding",
)


def expected_coop(events: Iterable[Any]) -> dict[str, dict[str, dict[str, int]]]:
    """The figures of co-handled parts and whistles (docs/rates.md, 协办与吹哨) over the whole
    log, folded independently of the views: per assisting unit its parts' counts (on time
    judged here from the deadlines the part was given, not from the event's own flag), per
    street/community its whistles and the departments called, per department called in its
    report-ins (报到: the part signed for) and those on time."""
    parts: dict[tuple[UUID, int], dict[str, Any]] = {}
    blown: dict[str, dict[str, int]] = defaultdict(lambda: {"whistles": 0, "called": 0})
    for e in events:
        name = type(e).__name__
        if name == "Whistled":
            blown[e.unit]["whistles"] += 1
            blown[e.unit]["called"] += len(e.departments)
        elif name == "AssistAdded":
            parts[(e.originator_id, e.number)] = {
                "unit": e.unit, "state": "assigned", "whistle": e.whistle,
                "claim_deadline": e.claim_deadline, "handle_deadline": e.handle_deadline,
                "claimed": False, "claimed_on_time": False, "reported_on_time": False,
                "returned": False,
            }
        elif name in ("PartClaimed", "PartReported", "PartReturned", "PartClosed"):
            p = parts[(e.originator_id, e.number)]
            if name == "PartClaimed":
                p.update(state="claimed", claimed=True, claimed_on_time=e.at <= p["claim_deadline"])
            elif name == "PartReported":
                p.update(state="reported", reported_on_time=e.at <= p["handle_deadline"])
            elif name == "PartReturned":
                p.update(state="returned", returned=True)
            else:
                p["state"] = "closed"
    units: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PART_COUNTS, 0))
    reports: dict[str, dict[str, int]] = defaultdict(
        lambda: {"whistled": 0, "reported_in": 0, "reported_in_on_time": 0}
    )
    for p in parts.values():
        u = units[p["unit"]]
        u["parts"] += 1
        u["claimed"] += p["claimed"]
        u["claimed_on_time"] += p["claimed_on_time"]
        u["reported"] += p["state"] == "reported"
        u["reported_on_time"] += p["reported_on_time"]
        u["returned"] += p["returned"]
        u["closed"] += p["state"] == "closed"
        u["outstanding"] += p["state"] in ("assigned", "claimed", "returned")
        if p["whistle"] is not None:
            r = reports[p["unit"]]
            r["whistled"] += 1
            r["reported_in"] += p["claimed"]
            r["reported_in_on_time"] += p["claimed_on_time"]
    return {"parts": dict(units), "whistles": dict(blown), "reports": dict(reports)}


def coop_as_counts(figures: dict[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """``CoopViews.figures()`` reduced to what ``expected_coop`` folds."""
    return {
        "parts": {r["key"]: {f: r[f] for f in PART_COUNTS} for r in figures["parts"]},
        "whistles": {r["key"]: {"whistles": r["whistles"], "called": r["called"]}
                     for r in figures["whistles"]},
        "reports": {
            r["key"]: {f: r[f] for f in ("whistled", "reported_in", "reported_in_on_time")}
            for r in figures["reports"]
        },
    }


def expected_return_pairs(
    events: Iterable[Any], start: dt.date | None = None, end: dt.date | None = None
) -> dict[tuple[str, str], dict[str, int]]:
    """{(returning unit, unit it named or ""): counts} for returns made in [start, end)
    (Beijing days): returns, and what became of each (docs/lifecycle.md, Returns)."""
    returns: dict[tuple[UUID, int], dict[str, Any]] = {}
    count: dict[UUID, int] = defaultdict(int)
    pending: dict[UUID, tuple[UUID, int] | None] = {}
    for e in events:
        name, cid = type(e).__name__, e.originator_id
        if name == "Returned":
            count[cid] += 1
            key = (cid, count[cid])
            review = bool(getattr(e, "review", False))
            returns[key] = {
                "pair": (e.unit, e.suggested_unit or ""),
                "day": e.at.astimezone(SHANGHAI).date(),
                "decision": "pending" if review else "auto",
                "to": None,
            }
            pending[cid] = key if review else None
        elif name == "ReturnReviewed":
            r = returns[(cid, e.number)]
            r["decision"] = "approved" if e.approved else "refused"
            r["to"] = e.to_unit
            pending[cid] = None
        elif name == "Merged" and pending.get(cid) is not None:
            returns[pending[cid]]["decision"] = "lapsed"  # type: ignore[index]
            pending[cid] = None
    out: dict[tuple[str, str], dict[str, int]] = {}
    for r in returns.values():
        if (start is not None and r["day"] < start) or (end is not None and r["day"] >= end):
            continue
        row = out.setdefault(
            r["pair"],
            dict.fromkeys(
                ("returns", "pending", "approved", "refused", "auto", "lapsed", "approved_to_suggested"), 0
            ),
        )
        row["returns"] += 1
        row[r["decision"]] += 1
        if r["decision"] == "approved" and r["to"] == r["pair"][1]:
            row["approved_to_suggested"] += 1
    return out


def expected_rates(counts: dict[str, int]) -> dict[str, tuple[int, int]]:
    accepted = counts["received"] - counts["merged"] - counts["rejected"]
    values = {**counts, "accepted": accepted}
    return {
        field: (sum(values[n] for n in nums), values[den])
        for field, (nums, den) in RATE_PARTS.items()
    }


def assert_stats_match(actual: dict[str, Any], expected: dict[str, dict[str, int]]) -> None:
    """ReadModel.stats(...) rows (or total) equal the independent fold, counts and rates."""
    rows = actual["rows"] if actual["by"] is not None else [actual["total"]]
    got = {(r["key"] if actual["by"] is not None else ""): r for r in rows}
    if actual["by"] is None and not expected:
        expected = {"": dict.fromkeys(COUNTS, 0)}
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for k, counts in expected.items():
        row = got[k]
        assert {f: row[f] for f in COUNTS} == counts, k
        assert row["accepted"] == counts["received"] - counts["merged"] - counts["rejected"]
        for field, (n, d) in expected_rates(counts).items():
            r = row[field]
            assert (r["numerator"], r["denominator"]) == (n, d), (k, field)
            assert r["value"] == (n / d if d else None), (k, field)


# ---------------------------------------------------------------------------------------------
# Building runtimes
# ---------------------------------------------------------------------------------------------

_CONFIG: SanshiConfig | None = None


def demo_config(**router: Any) -> SanshiConfig:
    """The bundled district; ``router`` overrides e.g. merge_similarity."""
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = load_config(None)
    if not router:
        return _CONFIG
    settings = _CONFIG.router.model_copy(update=router)
    return _CONFIG.model_copy(update={"router": settings})


def make_runtime(db: str = "memory://", config: SanshiConfig | None = None) -> Runtime:
    config = config or demo_config()
    return bootstrap(
        Settings(db=db, kafka=None, config_path=None, cipher_key=None),
        config=config,
        router=KeywordRouter(config),
    )


T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
_ref = iter(range(1, 10**9))


def intake(content: str, address: str = "", at: dt.datetime = T0, channel: Channel = Channel.HOTLINE) -> IntakeCommand:
    return IntakeCommand(
        channel=channel,
        source_ref=f"P{next(_ref):07d}",
        received_at=at,
        content=content,
        address=address,
    )


LAMP = "茶亭路{n}号的路灯不亮，晚上很黑"  # municipal → 茶亭路社区 (chatinglu)
STALL = "东一巷菜场门口占道经营第{n}摊，堵住了路"  # city_management → 城管 (chengguan)
