"""The district centre is the configured one (config.centre.id), not the word "centre": a district
whose centre has another id sees its 直办 and the follow-ups of them land on that centre in the
statistics; and a log written when the domain called every centre "centre" still folds there."""

from __future__ import annotations

from importlib import resources
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from adapters.bootstrap import Runtime
from engine.config import SanshiConfig, parse_config
from engine.domain import LEGACY_CENTRE, Rating, Status
from tests.support.fold_oracle import OP, T0, intake, make_runtime

CENTRE = "zhihui"
VAGUE = "我想反映一个情况，麻烦你们记一下"  # no unit fits: the centre's manual queue


def district_with_centre(centre_id: str) -> SanshiConfig:
    """The demo district, its centre under another id."""
    text = resources.files("engine").joinpath("data/haicheng.yaml").read_text("utf-8")
    line = "- {id: centre, name: 海城区社会治理中心, kind: centre}"
    assert text.count(line) == 1
    return parse_config(text.replace(line, line.replace("id: centre", f"id: {centre_id}")), "test")


@pytest.fixture
def rt() -> Any:
    config = district_with_centre(CENTRE)
    assert config.centre.id == CENTRE and not config.has_unit("centre")
    runtime = make_runtime(config=config)
    yield runtime
    runtime.close()


def _units(rt: Runtime) -> dict[str, dict[str, Any]]:
    rows = rt.read_model.stats("unit")["rows"]
    return {row["key"]: row for row in rows}


def _events(rt: Runtime, case_id: UUID) -> dict[str, Any]:
    return {type(e).__name__: e for e in rt.app.events.get(case_id)}


def test_answered_directly_and_its_follow_up_land_on_the_configured_centre(rt: Runtime) -> None:
    app = rt.app
    r = app.receive(intake(VAGUE))
    assert r.status == "received"
    app.answer_directly(r.case_id, "已当场解答政策", OP, at=T0)
    app.follow_up(r.case_id, True, Rating.SATISFIED, OP, at=T0)

    case = app.get_case(r.case_id)
    assert case.status == Status.CLOSED and case.resolved_unit == CENTRE
    events = _events(rt, r.case_id)
    assert events["AnsweredDirectly"].unit == CENTRE
    assert events["FollowedUp"].unit == CENTRE
    units = _units(rt)
    assert "centre" not in units
    centre = units[CENTRE]
    assert (centre["received"], centre["resolved"], centre["resolved_on_time"]) == (1, 1, 1)
    assert (centre["followups"], centre["solved"], centre["satisfied"]) == (1, 1, 1)


def test_a_dissatisfied_follow_up_of_a_direct_answer_is_not_dispatched_to_the_centre(
    rt: Runtime,
) -> None:
    app = rt.app
    r = app.receive(intake(VAGUE))
    app.answer_directly(r.case_id, "已解答", OP, at=T0)
    app.follow_up(r.case_id, False, Rating.DISSATISFIED, OP, at=T0)

    case = app.get_case(r.case_id)
    assert case.assigned_unit != CENTRE
    assert case.status in (Status.REOPENED, Status.DISPATCHED)
    assert _units(rt)[CENTRE]["dissatisfied"] == 1


def test_a_log_that_says_centre_folds_onto_the_configured_centre(rt: Runtime) -> None:
    """Events as the domain wrote them before it carried the centre's id: AnsweredDirectly
    without a unit, FollowedUp naming "centre"."""
    app = rt.app
    r = app.receive(intake(VAGUE))
    case = app.get_case(r.case_id)
    case.answer_directly(answer="已解答", centre=LEGACY_CENTRE, principal=OP, at=T0)
    case.follow_up(
        solved=True, rating=Rating.SATISFIED, comment="", centre=LEGACY_CENTRE, principal=OP, at=T0
    )
    transcoder = app.mapper.transcoder
    stored = []
    for event in case.collect_events():
        s = app.mapper.to_stored_event(event)
        state = transcoder.decode(s.state)
        if type(event).__name__ == "AnsweredDirectly":
            del state["unit"]  # not recorded then
        stored.append(StoredEvent(s.originator_id, s.originator_version, s.topic, transcoder.encode(state)))
    app.recorder.insert_events(stored)

    old = app.get_case(r.case_id)  # the aggregate replays it
    assert old.status == Status.CLOSED and old.resolved_unit == LEGACY_CENTRE
    assert _events(rt, r.case_id)["FollowedUp"].unit == LEGACY_CENTRE
    units = _units(rt)
    assert "centre" not in units
    centre = units[CENTRE]
    assert (centre["resolved"], centre["followups"], centre["satisfied"]) == (1, 1, 1)


def _legacy_direct_answer(rt: Runtime) -> UUID:
    """A case answered directly before the domain carried the centre's id (no unit recorded)."""
    app = rt.app
    r = app.receive(intake(VAGUE))
    case = app.get_case(r.case_id)
    case.answer_directly(answer="已解答", centre=LEGACY_CENTRE, principal=OP, at=T0)
    transcoder = app.mapper.transcoder
    (event,) = case.collect_events()
    s = app.mapper.to_stored_event(event)
    state = transcoder.decode(s.state)
    del state["unit"]
    app.recorder.insert_events(
        [StoredEvent(s.originator_id, s.originator_version, s.topic, transcoder.encode(state))]
    )
    return r.case_id


@pytest.mark.parametrize("rating", [Rating.SATISFIED, Rating.DISSATISFIED])
def test_a_legacy_direct_answer_followed_up_now_names_the_configured_centre(
    rt: Runtime, rating: Rating
) -> None:
    app = rt.app
    cid = _legacy_direct_answer(rt)
    assert app.get_case(cid).resolved_unit == LEGACY_CENTRE

    app.follow_up(cid, rating == Rating.SATISFIED, rating, OP, at=T0)  # no dispatch to "centre"

    assert _events(rt, cid)["FollowedUp"].unit == CENTRE
    units = _units(rt)
    assert "centre" not in units
    assert units[CENTRE]["followups"] == 1
    assert units[CENTRE][rating.value] == 1
