"""主动治理: the surge detector finds the storm day the simulator plants (the right day, the
storm's categories, across the district's streets) and nothing on the month's other days and
weeks; repeated places; the Poisson tail; 诉源治理 figures. Fixed instants: no test reads the clock.

The month's ordinary days are the false-alarm check: every tested day but the storm's (20 of
them) and every week but its own must raise no flag. A second, storm-free simulated month
checked the same on another seed and cost five minutes of CI's setup; it was dropped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.simulator import simulate
from adapters.simulator.proactive import detected_surges, surge_lines
from adapters.simulator.texts import PROBLEMS
from engine.config import Surges
from engine.deadlines import SHANGHAI
from engine.settings import Settings
from engine.vocabulary import SOURCE_COUNTS, SOURCE_RATES, Rate
from projections.source_governance import SourceGovernance
from projections.surges import Baseline, SurgeViews, judge, normalised_address, poisson_sf

START = dt.datetime(2026, 3, 2, tzinfo=SHANGHAI)  # a Monday; no public holiday for four weeks
DAYS = 28
STORM = (START + dt.timedelta(days=DAYS * 2 // 3)).date()  # where the simulator puts it
NOW = START + dt.timedelta(days=DAYS + 3)
# The categories a storm brings (停电, 积水, 树倒 …): the problems weighted up on a storm day.
STORM_CATEGORIES = {p.category for p in PROBLEMS if p.surge_weight > 0}


def run(tmp: Path) -> Runtime:
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": f"sqlite:///{tmp / 'sim.db'}"}))
    # 70 % of the district's usual volume: the storm is found on the same day, in the same 6 of
    # 8 streets (4 needed) and the same week as at full volume, for ~70 % of the set-up time
    # (bench/RESULTS.md, "CI time").
    simulate(runtime, days=DAYS, start=START, seed=7, scale=0.7, surge=True)
    return runtime


@pytest.fixture(scope="module")
def stormy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = run(tmp_path_factory.mktemp("storm"))
    yield runtime
    runtime.close()


def scan(runtime: Runtime, window: str) -> dict:
    views = SurgeViews(runtime.read_model, runtime.config)
    return views.surges(window, START.date(), (START + dt.timedelta(days=DAYS)).date(), NOW)


def test_the_storm_day_is_found_in_its_categories_across_the_streets_and_nothing_else(stormy: Runtime) -> None:
    out = scan(stormy, "day")
    tested = [w for w in out["windows"] if w["tested"]]
    streets = {u.id for u in stormy.config.units if u.kind == "street"}
    assert len(tested) == DAYS - stormy.config.surges.min_history_days
    rows = out["rows"]
    assert rows, "the storm went unnoticed"
    # The right day, and only the storm's kinds of problem.
    assert {r["from"] for r in rows} == {STORM}
    assert {r["category"] for r in rows} <= STORM_CATEGORIES
    # A storm hits the whole district: most streets are flagged, each far above its usual level.
    assert len({r["place"] for r in rows}) >= len(streets) // 2
    for r in rows:
        assert r["count"] >= 3 * r["baseline"] and r["p_value"] < out["method"]["threshold"]
        assert len(r["case_ids"]) == r["count"]
    # The drill-down of the comparison table lists exactly the cases counted.
    r = rows[0]
    d = r["drill"]
    page = stormy.read_model
    from projections.leader_queries import LeaderViews

    cell = LeaderViews(page).cell_cases(
        d["field"], d["by"], d["key"], STORM, STORM + dt.timedelta(days=1), {"street": d["street"]}, limit=500
    )
    assert cell["count"] == r["count"]
    assert sorted(c["case_id"].__str__() for c in cell["rows"]) == sorted(r["case_ids"])


def test_the_storm_week_stands_out_too(stormy: Runtime) -> None:
    rows = scan(stormy, "week")["rows"]
    monday = STORM - dt.timedelta(days=STORM.weekday())
    assert rows and {r["from"] for r in rows} == {monday}
    assert {r["category"] for r in rows} <= STORM_CATEGORIES


def test_repeated_places_are_one_address_and_several_callers(stormy: Runtime) -> None:
    views = SurgeViews(stormy.read_model, stormy.config)
    out = views.repeated_places(STORM, NOW)
    assert out["rows"]
    for r in out["rows"]:
        assert r["callers"] >= stormy.config.surges.repeat_min_callers
        assert r["cases"] >= r["callers"] and len(r["case_ids"]) == r["cases"]
        cases = [stormy.read_model.case_summary(__import__("uuid").UUID(c)) for c in r["case_ids"]]
        prefixes = [stormy.config.district.city, stormy.config.district.name]
        assert {normalised_address(c["address"], prefixes) for c in cases} == {r["address"]}


def test_poisson_tail_is_exact_far_out() -> None:
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(1, 0.0) == 0.0
    assert poisson_sf(1, 2.0) == pytest.approx(1 - 2.718281828459045 ** -2.0)
    stats = pytest.importorskip("scipy.stats")
    for k, lam in ((5, 0.3), (30, 2.0), (3, 5.0), (100, 1.0), (200, 150.0), (12, 0.05)):
        assert poisson_sf(k, lam) == pytest.approx(stats.poisson.sf(k - 1, lam), rel=1e-9)


def test_a_thin_cell_is_judged_by_its_category_and_the_floor_not_by_its_empty_history() -> None:
    s = Surges()
    day = dt.date(2026, 3, 30)
    # Four weeks in which the cell saw nothing; its category came 2 a day across 2 places.
    base = Baseline(28, {("b", "c"): 56}, {"c": 56}, {"a": 28, "b": 28}, 56, {})
    # 3 cases in the empty cell: not enough (below min_count); 8: flagged.
    assert judge({("a", "c"): 3}, [day], base, ["a", "b"], ["c"], s)[0] == []
    flags, threshold = judge({("a", "c"): 8}, [day], base, ["a", "b"], ["c"], s)
    assert [f.place for f in flags] == ["a"] and flags[0].p_value < threshold
    # The busy cell (2 a day, smoothed toward the category's 1 a day per place: 1.67) at 6 is
    # within its usual: P(X ≥ 6 | 1.67) ≈ 0.008, far above 1e-3 ÷ 2 cells.
    assert judge({("b", "c"): 6}, [day], base, ["a", "b"], ["c"], s)[0] == []


def test_source_governance_counts_dispute_mediations_per_judicial_office(stormy: Runtime) -> None:
    sg = SourceGovernance(stormy.read_model, stormy.config)
    by_office = sg.figures("judicial_office", START.date(), (START + dt.timedelta(days=DAYS)).date())
    by_street = sg.figures("street", START.date(), (START + dt.timedelta(days=DAYS)).date())
    total = by_office["total"]
    assert total["disputes"] > 0 and 0 < total["dispute_agreements"] <= total["dispute_mediations"]
    # The same cases, cut two ways: the totals agree, and each cut's rows add up to them.
    assert by_street["total"] == {**total, "name": "合计"}
    for out in (by_office, by_street):
        for f in ("disputes", "dispute_mediations", "dispute_agreements"):
            assert sum(r[f] for r in out["by_key"]) == total[f]
            assert sum(r[f] for r in out["months"]) == total[f]
    # The district-wide 调解成功 counts every mediation; the dispute cases' share is part of it.
    district = stormy.read_model.stats(None, START.date(), (START + dt.timedelta(days=DAYS)).date())["total"]
    assert total["dispute_agreements"] <= district["mediations_succeeded"]
    rate = total["dispute_agreement_rate"]
    assert rate["value"] == pytest.approx(total["dispute_agreements"] / total["dispute_mediations"])


def test_the_demo_summary_prints_the_surges_the_detector_read_from_the_views(stormy: Runtime) -> None:
    end = (START + dt.timedelta(days=DAYS)).date()
    surges = detected_surges(stormy, START.date(), end, NOW)
    lines = surge_lines(surges, limit=100)
    assert f"发现 {len(surges['rows'])} 个激增" in lines[0] and surges["rows"]
    names = {u.id: u.name for u in stormy.config.units}
    for r, line in zip(surges["rows"], lines[1:], strict=True):
        assert line.strip().startswith(f"{STORM} {names[r['place']]} · {stormy.config.category(r['category']).name}：{r['count']} 件")


@pytest.mark.parametrize("term", list(SOURCE_RATES), ids=lambda t: t.code)
def test_the_source_governance_rates_are_defined_in_the_rates_doc_verbatim(term: Rate) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rates.md").read_text("utf-8")
    assert term.definition.startswith(f"{term.label} =") and "÷" in term.definition
    assert term.definition in doc
    assert term.denominator in SOURCE_COUNTS and all(n in SOURCE_COUNTS for n in term.numerator)


def test_the_district_file_sets_the_method_and_nonsense_is_refused_with_its_line() -> None:
    from engine.config import ConfigError, parse_config

    base = "district: {id: t, name: 测试区}\nunits:\n  - {id: centre, name: 测试中心, kind: centre}\n"
    cfg = parse_config(base + "surges: {place: community, alpha: 0.01, min_count: 3}\n")
    assert (cfg.surges.place, cfg.surges.alpha, cfg.surges.min_count, cfg.surges.history_weeks) == ("community", 0.01, 3, 4)
    assert parse_config(base).surges == Surges()
    for bad in ("surges: {alpha: 2}", "surges: {place: village}", "surges: {min_count: 0}", "surges: {alpha_: 0.1}"):
        with pytest.raises(ConfigError) as exc:
            parse_config(base + bad + "\n", "district.yaml")
        assert any(p.startswith("district.yaml:4: surges") for p in exc.value.problems), (bad, exc.value.problems)


def test_court_referrals_count_apart_from_disputes_per_judicial_office(tmp_path: Path) -> None:
    """Rows in the case view as the projector writes them: the 诉前调解 channel (``court``, a
    literal until the channel's branch is merged) is counted apart from the dispute cases."""
    import uuid

    from projections.tables import view_cases

    runtime = bootstrap(Settings.from_env({"SANSHI_DB": f"sqlite:///{tmp_path / 'v.db'}"}))
    try:
        office = next(u.id for u in runtime.config.units if u.kind == "judicial_office")
        street = runtime.config.street_of(office)
        at = dt.datetime(2026, 5, 6, 10, tzinfo=SHANGHAI)

        def row(channel: str, category: str, units: str, concluded: int, agreed: int, month: int = 5) -> dict:
            when = at.replace(month=month)
            return {"case_id": uuid.uuid4(), "channel": channel, "source_ref": uuid.uuid4().hex, "received_at": when,
                    "received_day": when.date(), "received_month": when.strftime("%Y-%m"), "updated_at": when,
                    "status": "closed", "category": category, "street": street.id if street else "", "resp_unit": office,
                    "units": units, "received": 1, "mediations_concluded": concluded, "mediations_succeeded": agreed}

        with runtime.read_model.engine.begin() as conn:
            conn.execute(view_cases.insert(), [
                row("court", "dispute", f"|{office}|", 1, 1), row("court", "housing", f"|{office}|", 1, 0),
                row("hotline", "dispute", f"|{office}|", 2, 1), row("hotline", "dispute", "", 0, 0, month=6),
                row("hotline", "municipal", "|chengguan|", 0, 0),  # not a dispute, not a referral
            ])
        out = SourceGovernance(runtime.read_model, runtime.config).figures("judicial_office", dt.date(2026, 5, 1), dt.date(2026, 7, 1))
        t = out["total"]
        assert (t["court_cases"], t["court_mediations"], t["court_agreements"]) == (2, 2, 1)
        assert (t["disputes"], t["dispute_mediations"], t["dispute_agreements"]) == (2, 2, 1)
        assert t["pre_litigation_success_rate"] == {"value": 0.5, "numerator": 1, "denominator": 2}
        by_key = {r["key"]: r for r in out["by_key"]}
        assert by_key[office]["court_cases"] == 2 and by_key[""]["name"] == "未经司法所" and by_key[""]["disputes"] == 1
        assert [(r["month"], r["disputes"]) for r in out["months"]] == [("2026-05", 1), ("2026-06", 1)]
    finally:
        runtime.close()
