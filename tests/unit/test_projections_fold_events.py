"""The views' fold knows every event of a case (issue 15): each has a rule of its own or is
listed in ``IGNORED`` with why it changes no view, and an event name it does not know is an
error, never dropped in silence (the projector sets such an event aside: see
tests/integration/test_projections_quarantine.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import uuid4

import pytest

from engine.admin import DistrictAdmin
from engine.deadlines import SHANGHAI
from engine.domain import Case
from engine.forms import Censure, Form
from engine.knowledge import KnowledgeEntry
from engine.notices import AbandonedNotice, SentNotice
from engine.order_numbers import OrderBook
from engine.projects import Project
from projections.fold import IGNORED, OTHER_EVENTS, CaseFold, CaseRow, Deltas, UnknownEvent

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


def case_event_names() -> set[str]:
    """The event classes a case records: ``Received`` and one per ``@event`` method, without
    the generic bases eventsourcing gives every aggregate (``Case.Event``, ``Case.Created``)."""
    return {
        name
        for name, value in vars(Case).items()
        if isinstance(value, type)
        and issubclass(value, Case.Event)
        and value not in (Case.Event, Case.Created)
    }


def received(fold: CaseFold, deltas: Deltas) -> CaseRow:
    event = {
        "channel": "hotline",
        "source_ref": "fold-events",
        "received_at": T0,
        "at": T0,
        "content": "茶亭路5号的路灯不亮",
        "address": "茶亭路5号",
        "urgent": False,
        "concern": "worry",
        "extra": {},
    }
    row = fold.apply(None, uuid4(), "Received", event, deltas)
    assert row is not None
    return row


def test_the_events_of_a_case_are_found() -> None:
    names = case_event_names()
    assert {"Received", "Dispatched", "Closed", "Urged", "ContactRevealed"} <= names
    assert not names & {"Event", "Created"}


def test_every_event_of_a_case_has_a_rule_or_is_listed_as_changing_no_view() -> None:
    handled = CaseFold().handled_events
    names = case_event_names()
    assert sorted(names - handled - IGNORED.keys()) == []  # no event left without a rule
    assert sorted((handled | IGNORED.keys()) - names) == []  # no rule for an event gone
    assert sorted(handled & IGNORED.keys()) == []  # a rule or ignored, not both
    assert all(why.strip() for why in IGNORED.values())


def test_the_events_of_the_other_aggregates_are_known_and_need_no_case_row() -> None:
    """一表通 forms, 通报/追责, knowledge-base entries, the days' order books (工单编号) and the
    notices' outcomes (通知) share the log
    with the cases: the fold knows their events (no case row: a censure counts for its unit, a
    form, an entry and an order book not at all; the knowledge view keeps the entries,
    projections.knowledge; the search view the order numbers)."""
    names = {
        name
        for cls in (Form, Censure, KnowledgeEntry, OrderBook, DistrictAdmin, SentNotice, AbandonedNotice, Project)
        for name, value in vars(cls).items()
        if isinstance(value, type) and issubclass(value, cls.Event)
        and value not in (cls.Event, cls.Created)
    }
    assert names == set(OTHER_EVENTS) and not names & case_event_names()
    fold, deltas = CaseFold(), Deltas()
    assert fold.apply(None, uuid4(), "FormSubmitted", {"at": T0}, deltas) is None
    assert deltas.rows == {}
    censure = {"kind": "notice", "unit": "chatinglu", "reason": "超期", "at": T0}
    assert fold.apply(None, uuid4(), "UnitCensured", censure, deltas) is None
    assert fold.apply(None, uuid4(), "KnowledgeEntryEdited", {"at": T0}, deltas) is None
    counted = {k: v for k, v in deltas.rows.items()}
    assert set(counted) == {("total", "", T0.date()), ("unit", "chatinglu", T0.date())}


@pytest.mark.parametrize("with_row", [True, False], ids=["known case", "unknown case"])
def test_an_event_name_the_fold_does_not_know_raises(with_row: bool) -> None:
    fold, deltas = CaseFold(), Deltas()
    row = received(fold, deltas) if with_row else None
    before = dict(row) if row is not None else None
    counts = {k: list(v) for k, v in deltas.rows.items()}
    with pytest.raises(UnknownEvent, match="'Shelved'") as raised:
        fold.apply(row, uuid4(), "Shelved", {"at": T0 + dt.timedelta(hours=1)}, deltas)
    assert raised.value.name == "Shelved"
    assert row == before and {k: list(v) for k, v in deltas.rows.items()} == counts


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_an_ignored_event_changes_no_count_and_no_column_but_updated_at(name: str) -> None:
    fold, deltas = CaseFold(), Deltas()
    row = received(fold, deltas)
    before: dict[str, Any] = dict(row)
    counts = {k: list(v) for k, v in deltas.rows.items()}
    later = T0 + dt.timedelta(hours=1)
    after = fold.apply(row, row["case_id"], name, {"at": later}, deltas)
    assert after is not None and after["updated_at"] == later
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    assert {k: list(v) for k, v in deltas.rows.items()} == counts
