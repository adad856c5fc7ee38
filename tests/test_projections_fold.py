"""An independent, plain-Python statement of SPEC §5 over the event log, and helpers shared by
the projection tests; plus small scenario tests of the rules the fold documents.

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

import pytest

from adapters.bootstrap import Runtime, bootstrap
from engine.config import SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.domain import Rating
from engine.intake import Channel, IntakeCommand
from engine.keyword_router import KeywordRouter
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
)
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
    """{scope key: counts} for cases received in [start, end), by SPEC §5 and the documented
    rules: counts on the received day; category/street = latest classification; a case counts
    as resolved while it stands resolved; unit = the unit responsible now for case-level counts,
    the acting unit for dispatch/claim/return/mediation, the resolving unit for follow-ups."""
    cases: dict[UUID, dict[str, Any]] = {}
    acts: list[tuple[UUID, str, str]] = []  # (case, unit, count name)

    for e in events:
        name = type(e).__name__
        cid = e.originator_id
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
        elif name == "FollowedUp":
            unit = centre if e.unit == "centre" else e.unit
            acts.append((cid, unit, "followups"))
            if e.solved:
                acts.append((cid, unit, "solved"))
            if e.rating:
                acts.append((cid, unit, "rated"))
                acts.append((cid, unit, e.rating))

    def responsible(c: dict[str, Any]) -> str:
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
        row["merged"] += c["status"] == "merged"
        row["rejected"] += c["status"] == "rejected"
        row["resolved"] += c["resolved"]
        row["resolved_on_time"] += c["on_time"]
    for cid, unit, count in acts:
        c = cases[cid]
        if included(c):
            out[unit if by == "unit" else key(c)][count] += 1
    return {k: v for k, v in out.items() if any(v.values())}


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


# ---------------------------------------------------------------------------------------------
# The rules, case by case
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def rt() -> Any:
    runtime = make_runtime()
    yield runtime
    runtime.close()


def _stats(rt: Runtime, by: str | None = None, **kw: Any) -> dict[str, Any]:
    return rt.extras["read_model"].stats(by, **kw)  # type: ignore[no-any-return]


def test_a_case_resolved_reopened_and_resolved_again_is_one_resolved_case(rt: Runtime) -> None:
    app = rt.app
    r = app.receive(intake(LAMP.format(n=1), "茶亭路1号"))
    unit = r.unit
    assert unit == "chatinglu"
    at = T0 + dt.timedelta(hours=1)
    app.claim(r.case_id, unit, "u", at=at)
    app.resolve(r.case_id, unit, "已修复", "u", at=at)
    assert _stats(rt)["total"]["handling_rate"]["value"] == 1.0
    app.follow_up(r.case_id, False, Rating.DISSATISFIED, OP, at=at + dt.timedelta(days=1))
    reopened = _stats(rt)["total"]
    # 重办: back with the unit, no longer resolved; the follow-up itself is counted.
    assert reopened["resolved"] == 0
    assert reopened["handling_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert reopened["satisfaction_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert reopened["dispatched"] == 2
    app.claim(r.case_id, unit, "u", at=at + dt.timedelta(days=1, hours=1))
    app.resolve(r.case_id, unit, "已彻底修复", "u", at=at + dt.timedelta(days=2))
    again = _stats(rt)["total"]
    assert again["resolved"] == 1
    assert again["handling_rate"]["value"] == 1.0
    assert again["response_rate"] == {"value": 1.0, "numerator": 2, "denominator": 2}


def test_recategorising_moves_the_case_to_its_latest_category(rt: Runtime) -> None:
    app = rt.app
    r = app.receive(intake("我想反映一个情况，麻烦你们记一下"))  # manual queue, category other
    assert r.status == "received"
    assert {row["key"] for row in _stats(rt, "category")["rows"]} == {"other"}
    app.reclassify(r.case_id, "housing", OP, at=T0)
    rows = _stats(rt, "category")["rows"]
    assert [(row["key"], row["name"], row["received"]) for row in rows] == [("housing", "住房物业", 1)]


def test_a_returned_case_leaves_the_units_workload_but_counts_in_its_return_rate(
    rt: Runtime,
) -> None:
    app = rt.app
    r = app.receive(intake(LAMP.format(n=5), "茶亭路5号"))
    first = r.unit  # 茶亭路社区; after its return the router hands up to 中街街道
    app.return_case(r.case_id, first, "不属于本单位", "u", at=T0 + dt.timedelta(hours=2))
    second = app.get_case(r.case_id).assigned_unit
    assert second is not None and second != first
    units = {row["key"]: row for row in _stats(rt, "unit")["rows"]}
    assert units[first]["received"] == 0
    assert units[first]["return_rate"] == {"value": 1.0, "numerator": 1, "denominator": 1}
    assert units[second]["received"] == 1
    assert units[second]["handling_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    total = _stats(rt)["total"]
    for field in COUNTS:
        assert sum(row[field] for row in units.values()) == total[field], field


def test_counts_land_on_the_received_day_whenever_the_work_is_done(rt: Runtime) -> None:
    app = rt.app
    r = app.receive(intake(LAMP.format(n=2), "茶亭路2号", at=dt.datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI)))
    later = dt.datetime(2026, 4, 3, 10, 0, tzinfo=SHANGHAI)
    app.claim(r.case_id, r.unit, "u", at=later)
    app.resolve(r.case_id, r.unit, "已修复", "u", at=later)
    march = _stats(rt, **{"from_": dt.date(2026, 3, 1), "to": dt.date(2026, 4, 1)})["total"]
    april = _stats(rt, **{"from_": dt.date(2026, 4, 1), "to": dt.date(2026, 5, 1)})["total"]
    assert (march["received"], march["resolved"], march["dispatched"]) == (1, 1, 1)
    assert march["response_rate"]["numerator"] == 0  # claimed after the claim deadline
    assert (april["received"], april["resolved"]) == (0, 0)
    # 23:30 Shanghai on 31 March is still March even though it is 15:30 UTC.
    assert [row["key"] for row in _stats(rt, "month")["rows"]] == ["2026-03"]


def test_rates_are_null_when_their_denominator_is_zero(rt: Runtime) -> None:
    empty = _stats(rt)
    assert empty["rows"] == []
    for field in RATE_PARTS:
        assert empty["total"][field] == {"value": None, "numerator": 0, "denominator": 0}
    rt.app.receive(intake(LAMP.format(n=3), "茶亭路3号"))
    total = _stats(rt)["total"]
    assert total["handling_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert total["mediation_success_rate"]["value"] is None
    assert total["satisfaction_rate"]["value"] is None


def test_stats_json_shape(rt: Runtime) -> None:
    rt.app.receive(intake(LAMP.format(n=4), "茶亭路4号"))
    data = _stats(rt, "unit", from_="2026-03-01", to="2026-04-01")
    assert list(data) == ["from", "to", "by", "rows", "total"]
    assert (data["from"], data["to"], data["by"]) == ("2026-03-01", "2026-04-01", "unit")
    row = data["rows"][0]
    assert (row["key"], row["name"]) == ("chatinglu", "茶亭路社区")
    assert list(row)[:2] == ["key", "name"]
    for field in RATE_PARTS:
        assert set(row[field]) == {"value", "numerator", "denominator"}
    assert set(data["total"]) == set(row)


def test_ranking_orders_units_by_their_rates_and_leaves_out_small_ones() -> None:
    rt = make_runtime(config=demo_config(merge_similarity=1.0))  # similar lamps, not merged
    app = rt.app
    at = T0 + dt.timedelta(hours=1)
    for n in range(3):  # 城管: three cases, all claimed at once and resolved on time
        r = app.receive(intake(STALL.format(n=n), "东一巷"))
        assert r.unit == "chengguan"
        app.claim(r.case_id, r.unit, "u", at=at)
        app.resolve(r.case_id, r.unit, "已清理", "u", at=at)
    for n in range(3):  # 茶亭路社区: three lamps, claimed late, one resolved
        r = app.receive(intake(LAMP.format(n=100 + n), f"茶亭路{100 + n}号"))
        assert r.unit == "chatinglu"
        app.claim(r.case_id, r.unit, "u", at=T0 + dt.timedelta(days=5))
        if n == 0:
            app.resolve(r.case_id, r.unit, "已修复", "u", at=T0 + dt.timedelta(days=20))
    r = app.receive(intake("公司拖欠工资两个月，老板不给", "云南路"))  # 人社: one case only
    ranking = rt.extras["read_model"].ranking(min_cases=2)
    assert [(row["rank"], row["key"]) for row in ranking] == [(1, "chengguan"), (2, "chatinglu")]
    assert ranking[0]["score"] == 1.0
    assert 0.0 <= ranking[1]["score"] < 0.5
    assert ranking[0]["name"] == "区城市管理局"
    rt.close()
