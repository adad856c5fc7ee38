"""Equal candidates are ordered by the cases, not by the order the index filed them in.

A worker that saw the open cases files them as it decides them; one that takes the place over
files them from the read model, oldest received first and, for equal times, in the database's
order. With the verdicts ordered by filing, the same report was merged into another of several
equally similar open cases, and other suggestions were listed (bench.worker_kills)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from engine.config import load_config
from engine.deadlines import SHANGHAI
from engine.routing.learning.duplicates import DuplicateIndex, IssueReader, OpenCase
from engine.routing.learning.places import PlaceReader
from engine.routing.learning.text import for_compare, simplified

T0 = dt.datetime(2026, 9, 21, 9, 0, tzinfo=SHANGHAI)
TEXT = "茶亭路28号门口的路灯不亮了，晚上很黑"
ADDRESS = "茶亭路28号"


def _verdicts(order: list[tuple[UUID, dt.datetime]]) -> list[UUID]:
    config = load_config()
    places, issues = PlaceReader(config), IssueReader(["路灯"])
    index = DuplicateIndex(dt.timedelta(days=7), 0.85, 0.6)
    text = for_compare(TEXT)
    place = places.read(simplified(ADDRESS), simplified(TEXT))
    for cid, at in order:
        index.add("municipal", "chating", OpenCase(cid, text, at, place, issues.read(text)))
    found = index.find(
        UUID(int=99), "municipal", "chating", text, place, issues.read(text),
        T0 + dt.timedelta(hours=3), None,
    )
    assert found and found[0].merge
    return [v.case_id for v in found]


def test_the_merge_target_and_the_suggestions_do_not_depend_on_filing_order() -> None:
    cases = [(UUID(int=n), T0 + dt.timedelta(minutes=n // 3)) for n in range(1, 8)]  # ties in time
    first = _verdicts(cases)
    assert _verdicts(list(reversed(cases))) == first
    assert _verdicts(cases[3:] + cases[:3]) == first
    # Newest received first (6 and 7 two minutes in, 3 to 5 one minute), then by id.
    assert first == [UUID(int=6), UUID(int=7), UUID(int=3), UUID(int=4), UUID(int=5)]
