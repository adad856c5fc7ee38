"""A worker that takes places over from the read model merges as one that saw the cases itself.

The kill bench (bench/worker_kills.py) found merges differing between a quiet worker and workers
killed again and again: the open-cases view kept no caller, so a worker that loaded a case from
it (a restart, a rebalance: adapters/transport/worker.py ``PlaceShards``) no longer knew who had
called, and a caller's repeat about a personal matter (merged only for the same caller) stayed
a case of its own. The view now keeps the caller as the keyed hashes the index compares
(engine.routing.callers), never the number, and the operator's 诉求类型; the index entry of a
loaded case is the entry of a case seen."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from adapters.bootstrap import Runtime, bootstrap
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.routing.callers import CallerKeys
from engine.routing.learning import LearningRouter
from engine.routing.port import CaseFacts
from engine.settings import Settings
from projections.tables import view_cases, view_open_cases

T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)
SECRET = "district secret of the merge takeover test"
PHONE, NAME = "13907790003", "黄建国"
FIRST = "想申请低保，家里老人七十多岁没人照顾，申请一直没有结果"
ADDRESS = "北海市海城区云南路"
REPEAT = "我之前反映过申请低保的事，到现在还没有结果"
_refs = itertools.count(1)


def _settings(db: str) -> Settings:
    return Settings.from_env({"SANSHI_DB": db, "SANSHI_DISTRICT_SECRET": SECRET})


def _router(rt: Runtime) -> LearningRouter:
    router = rt.router
    while not isinstance(router, LearningRouter):  # the admin wrapper (engine.admin)
        router = router.inner  # type: ignore[attr-defined]
    return router


def _repeat(phone: str, name: str, hours: float, appeal_type: str = "") -> CaseFacts:
    return CaseFacts(
        case_id=uuid4(), channel="hotline", content=REPEAT, address="云南路",
        category_hint="", urgent=False, concern="worry",
        received_at=T0 + dt.timedelta(hours=hours),
        caller_phone=phone, caller_name=name, appeal_type=appeal_type,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
    else:
        pytest.importorskip("psycopg")
        request.applymarker(pytest.mark.postgres)
        yield request.getfixturevalue("fresh_postgres_url")


def test_a_case_taken_over_from_the_read_model_merges_as_a_case_seen(db: str) -> None:
    seen = bootstrap(_settings(db))
    try:
        first = seen.app.receive(
            IntakeCommand(
                channel=Channel.HOTLINE, source_ref=f"TK{next(_refs):06d}", received_at=T0,
                content=FIRST, address=ADDRESS, caller_phone=PHONE, caller_name=NAME,
                appeal_type="咨询",
            )
        )
        case = seen.app.get_case(first.case_id)
        assert case.is_open and case.category and case.locality
        locality = case.locality
        # A worker that takes the place over: an empty index, then the read model's open cases
        # at that place (PlaceShards.settle).
        taken = bootstrap(_settings(db), warm_index=False)
        try:
            rows = taken.read_model.open_cases_for_router({locality})
            assert _router(taken).refile_localities({locality}, rows) == 1
            a, b = _router(seen), _router(taken)
            saw, loaded = a.index.get(first.case_id), b.index.get(first.case_id)
            assert saw is not None and loaded is not None
            fields = [f.name for f in dataclasses.fields(saw) if f.name not in ("vector", "ts")]
            assert {f: getattr(loaded, f) for f in fields} == {f: getattr(saw, f) for f in fields}
            assert saw.caller and saw.caller_name and saw.personal

            # The same caller again (his number written another way): merged by both.
            again = _repeat("139 0779 0003", NAME, hours=5)
            merged = [r.decide(again).merge_into for r in (a, b)]
            assert [m and m.case_id for m in merged] == [first.case_id, first.case_id]
            # Another caller, or the same number with another name: merged by neither.
            for other in (_repeat("13907790004", "王秀英", 6), _repeat(PHONE, "黄秀英", 7)):
                assert [r.decide(other).merge_into for r in (a, b)] == [None, None]

            # The lists a unit or the centre reads leave the hashes out (no linking of callers).
            held = case.dispatch.unit if case.dispatch else None
            listed = (
                taken.read_model.inbox(held, T0 + dt.timedelta(hours=8))
                if held
                else taken.read_model.manual_queue()
            )
            assert [r["case_id"] for r in listed] == [first.case_id]
            assert not {"caller_key", "caller_name_key"} & set(listed[0])

            # The view holds the keyed hashes, never the number or the name.
            with taken.views_engine.connect() as conn:
                open_rows = [dict(r._mapping) for r in conn.execute(select(view_open_cases))]
                case_rows = [dict(r._mapping) for r in conn.execute(select(view_cases))]
        finally:
            taken.close()
    finally:
        seen.close()
    dump = repr([open_rows, case_rows])
    for clear in (PHONE, NAME, "黄建"):
        assert clear not in dump
    (row,) = open_rows
    keys = CallerKeys(SECRET.encode())
    assert row["caller_key"] == keys.phone(PHONE) == saw.caller
    assert row["caller_name_key"] == keys.name(NAME) == saw.caller_name
    assert row["caller_key"] != CallerKeys.default().phone(PHONE)  # keyed by the secret
    assert row["appeal_type"] == "咨询"
    assert isinstance(row["case_id"], UUID)
