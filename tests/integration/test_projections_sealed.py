"""SANSHI_CIPHER_KEY and the views: the text columns are stored sealed, and everything that
reads them (API lists and queues, Open311, search, the router's warm start, the projector's
own reloads, `sanshi projections rebuild`) sees the text as written.

The raw bytes of whole databases under a key are checked in ``tests/faults/test_privacy.py``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from adapters.bootstrap import Runtime, bootstrap
from adapters.cli import main
from adapters.http import create_app
from adapters.transport.sealing import TEXT_MARK, Sealer
from engine.application import now_shanghai
from engine.domain import Rating
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings
from projections.projector import Projector
from projections.queries import ReadModel
from projections.tables import make_engine
from tests.integration.test_projections_rebuild import BYS, write_log
from tests.support.api import ASSIGNED, ASSIGNED_UNIT, OPERATOR, TestClient, auth
from tests.support.fold_oracle import T0, make_runtime

KEY = base64.b64encode(bytes(range(100, 132))).decode()
SEALED = {"view_cases": ("address", "snippet", "result"), "view_open_cases": ("content", "address")}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sanshi.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


def keyed(db: str, key: str | None = KEY) -> Runtime:
    return bootstrap(Settings(db=db, kafka=None, config_path=None, cipher_key=key))


@contextmanager
def keyed_client(db: str) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = keyed(db)
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            yield client, runtime
    finally:
        runtime.close()


def cmd(ref: str, content: str, address: str = "", at: dt.datetime = T0) -> IntakeCommand:
    return IntakeCommand(
        channel=Channel.HOTLINE, source_ref=ref, received_at=at, content=content, address=address
    )


def stored(runtime: Runtime) -> list[str]:
    """Every non-empty value of the sealed columns, as the database holds it."""
    out: list[str] = []
    with runtime.views_engine.connect() as conn:
        for table, columns in SEALED.items():
            for row in conn.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
                out.extend(v for v in row if v)
    return out


def test_operators_and_units_read_the_text_as_written(db: str) -> None:
    lamp = "茶亭路1号门口的路灯不亮了，晚上黑乎乎的（灯杆编号S1）"
    done_text = "茶亭路2号门口的路灯一闪一闪（灯杆编号S2）"
    vague = "我想反映一个情况，麻烦你们记一下（S3）"
    now = now_shanghai() - dt.timedelta(minutes=5)  # Open311 lists the last 90 days
    with keyed_client(db) as (client, rt):
        app = rt.app
        a = app.receive(cmd("SEAL1", lamp, "海城区茶亭路1号幸福里", now))
        b = app.receive(cmd("SEAL2", done_text, "海城区茶亭路2号", now))
        c = app.receive(cmd("SEAL3", vague, "", now), route=False)
        assert a.unit == b.unit == ASSIGNED_UNIT
        app.claim(b.case_id, ASSIGNED_UNIT, "unit:test")
        app.resolve(b.case_id, ASSIGNED_UNIT, "已更换灯泡，恢复照明", "unit:test")

        listed = client.get("/api/cases", headers=auth(OPERATOR))
        assert listed.status_code == 200
        rows = {r["case_id"]: r for r in listed.json()}
        assert (rows[str(a.case_id)]["snippet"], rows[str(a.case_id)]["address"]) == (
            lamp, "海城区茶亭路1号幸福里")
        assert rows[str(b.case_id)]["result"] == "已更换灯泡，恢复照明"
        assert rows[str(c.case_id)]["snippet"] == vague

        inbox = client.get(f"/api/units/{ASSIGNED_UNIT}/inbox", headers=auth(ASSIGNED)).json()
        assert [(r["content"], r["address"]) for r in inbox] == [(lamp, "海城区茶亭路1号幸福里")]
        manual = client.get("/api/queue/manual", headers=auth(OPERATOR)).json()
        assert [r["content"] for r in manual] == [vague]
        # 待回访 is counted and paged ({"total", "rows"}): the rows' text opened as before.
        followup = client.get("/api/queue/followup", headers=auth(OPERATOR)).json()["rows"]
        assert [(r["content"], r["address"]) for r in followup] == [(done_text, "海城区茶亭路2号")]
        summary = rt.read_model.case_summary(a.case_id)
        assert summary is not None and summary["content"] == lamp
        public = client.get("/open311/v2/requests.json", params={"api_key": OPERATOR}).json()
        described = {r["service_request_id"]: (r["description"], r["address"]) for r in public}
        assert described[str(b.case_id)] == (done_text, "海城区茶亭路2号")

        raw = stored(rt)
    assert raw and all(v.startswith(TEXT_MARK) for v in raw), raw[:3]
    blob = "\n".join(raw)
    for plain in ("路灯", "茶亭路", "恢复照明", "反映一个情况"):
        assert plain not in blob


def test_without_a_key_the_views_hold_the_text_as_before(tmp_path: Any) -> None:
    rt = keyed(f"sqlite:///{tmp_path / 'plain.db'}", key=None)
    try:
        rt.app.receive(cmd("PLAIN1", "茶亭路1号门口的路灯不亮了", "海城区茶亭路1号"))
        assert sorted(stored(rt)) == sorted(
            ["海城区茶亭路1号", "茶亭路1号门口的路灯不亮了"] * 2)
    finally:
        rt.close()


def test_search_under_a_key_finds_and_pages_like_the_sql_search(db: str) -> None:
    """Sealed snippets are matched in Python: the same cases, in the same order, with the
    same limit/offset and count as the LIKE over plain snippets, and only in the first 120
    characters (what the snippet holds)."""
    texts = {}
    rt = keyed(db)
    try:
        rm: ReadModel = rt.read_model
        for n in range(30):
            if n % 3 == 0:
                content = f"茶亭路{n}号门口的路灯不亮了（{n}）"
            elif n % 3 == 1:
                content = f"东一巷菜场门口占道经营第{n}摊，堵住了路"
            else:  # 路灯 past the snippet: not found, as before
                content = "我想反映一个情况，" + "很长的说明" * 30 + f"，还有路灯（{n}）"
            r = rt.app.receive(cmd(f"Q{n:03d}", content, at=T0 + dt.timedelta(minutes=n % 7)))
            texts[r.case_id] = (T0 + dt.timedelta(minutes=n % 7), content)
        newest_first = sorted(texts, key=lambda cid: (-texts[cid][0].timestamp(), cid))
        lamps = [cid for cid in newest_first if "路灯" in texts[cid][1][:120]]
        assert len(lamps) == 10

        def ids(filters: dict[str, Any], limit: int, offset: int) -> list[UUID]:
            return [row["case_id"] for row in rm.cases(filters, limit, offset)]

        assert ids({"q": "路灯"}, 50, 0) == lamps
        assert ids({"q": "路灯"}, 4, 0) == lamps[:4]
        assert ids({"q": "路灯"}, 4, 8) == lamps[8:]
        assert ids({"q": "路灯"}, 4, 12) == []
        assert rm.count_cases({"q": "路灯"}) == 10
        assert rm.count_cases({"q": "没有这样的诉求"}) == 0
        # with the other filters, narrowed in SQL first
        dispatched = [cid for cid in lamps if rm.case_summary(cid)["status"] == "dispatched"]
        assert dispatched
        assert ids({"q": "路灯", "status": "dispatched"}, 50, 0) == dispatched
        assert rm.count_cases({"q": "第4摊", "category": "city_management"}) == 1
        assert rm.cases({"q": "路灯"}, 1, 0)[0]["snippet"] == texts[lamps[0]][1]
    finally:
        rt.close()
    with keyed_client(db) as (client, _rt):
        page = client.get("/api/cases", params={"q": "路灯", "limit": 3, "offset": 3},
                          headers=auth(OPERATOR))
        assert page.status_code == 200
        assert [r["case_id"] for r in page.json()] == [str(c) for c in lamps[3:6]]


def test_the_router_warms_its_duplicate_index_from_sealed_views(db: str) -> None:
    """After a restart, a repeat of a still-open case is merged into it: the router's index
    was warmed with the opened text of view_open_cases, not with ciphertext."""
    rt = keyed(db)
    try:
        first = rt.app.receive(cmd("DUP1", "茶亭路28号门口的路灯不亮了，晚上很黑",
                                   "北海市海城区茶亭路28号"))
        assert first.status == "dispatched"
    finally:
        rt.close()
    rt = keyed(db)
    try:
        rows = rt.read_model.open_cases_for_router()
        assert [(r["content"], r["address"]) for r in rows] == [
            ("茶亭路28号门口的路灯不亮了，晚上很黑", "北海市海城区茶亭路28号")]
        second = rt.app.receive(cmd("DUP2", "茶亭路28号的路灯坏了，晚上一片漆黑",
                                    "北海市海城区茶亭路28号"))
        assert rt.app.get_case(second.case_id).merged_into == first.case_id
    finally:
        rt.close()


def test_a_restarted_projector_carries_on_from_sealed_rows(db: str) -> None:
    """A new process's projector loads the sealed rows of the cases it has not seen, opens
    them, and writes them back sealed once: the unit's result survives the follow-up."""
    rt = keyed(db)
    try:
        r = rt.app.receive(cmd("RS1", "茶亭路6号门口的路灯不亮了", "海城区茶亭路6号"))
        rt.app.claim(r.case_id, r.unit, "unit:test")
        rt.app.resolve(r.case_id, r.unit, "已更换灯泡，恢复照明", "unit:test")
    finally:
        rt.close()
    rt = keyed(db)
    try:
        rt.app.follow_up(r.case_id, False, Rating.DISSATISFIED, "operator:test")  # 重办
        summary = rt.read_model.case_summary(r.case_id)
        assert summary is not None and summary["status"] == "dispatched"
        assert (summary["result"], summary["snippet"], summary["address"]) == (
            "已更换灯泡，恢复照明", "茶亭路6号门口的路灯不亮了", "海城区茶亭路6号")
    finally:
        rt.close()


def test_a_rebuild_under_the_key_gives_the_same_numbers_and_readable_views(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = keyed(db)
    try:
        write_log(rt, cases=120)
        app = rt.app
        r = app.receive(cmd("RB1", "茶亭路5号门口的路灯不亮了", "海城区茶亭路5号"))
        app.claim(r.case_id, r.unit, "unit:test")
        app.resolve(r.case_id, r.unit, "已更换灯泡", "unit:test")
        app.follow_up(r.case_id, True, Rating.SATISFIED, "operator:test")
        rm = rt.read_model
        before = view_state(rm)
        sealed_before = stored(rt)
    finally:
        rt.close()
    assert before["cases"][0]["result"] is not None
    for key in [k for k in os.environ if k.startswith("SANSHI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SANSHI_DB", db)
    monkeypatch.setenv("SANSHI_CIPHER_KEY", KEY)
    result = CliRunner().invoke(main, ["projections", "rebuild", "--batch-size", "50"])
    assert result.exit_code == 0, result.output
    assert "完成" in result.output and "已按 SANSHI_CIPHER_KEY 加密存储" in result.output
    rt = keyed(db)
    try:
        assert view_state(rt.read_model) == before
        after = stored(rt)
        assert len(after) == len(sealed_before) and all(v.startswith(TEXT_MARK) for v in after)
    finally:
        rt.close()


def view_state(rm: ReadModel) -> dict[str, Any]:
    """Numbers, every case row and the queues (by id: equal times tie in any order)."""
    def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda c: str(c["case_id"]))

    out: dict[str, Any] = {str(by): rm.stats(by) for by in BYS}
    out["cases"] = sorted(rm.cases({}, 10_000, 0), key=lambda c: (c["result"] is None, str(c["case_id"])))
    out["followup"] = by_id(rm.follow_up_queue())
    out["manual"] = by_id(rm.manual_queue())
    out["inboxes"] = {u: by_id(rm.inbox(u, T0)) for u in ("chengguan", "chatinglu", "renshe")}
    return out


def test_views_written_before_the_key_still_read_and_a_rebuild_seals_them(tmp_path: Any) -> None:
    """Rows written in clear (before a key) pass through; the projector, now sealing, reloads
    them, carries on, and a rebuild leaves nothing in clear. Text that merely starts like a
    sealed value is shown as the resident wrote it."""
    db = f"sqlite:///{tmp_path / 'mixed.db'}"
    rt = make_runtime(db)  # the log without a key; only the views are sealed here
    try:
        app = rt.app
        odd = f"{TEXT_MARK}AAAA 这不是密文，是居民自己写的"
        r = app.receive(cmd("MIX1", odd, "海城区茶亭路9号"), route=False)  # projected in clear
        write_log(rt, cases=80)  # not projected yet
        plain_projector: Projector = rt.projector
        plain_projector.catch_up(max_events=plain_projector.lag() // 2)
        sealer = Sealer(KEY)
        engine = make_engine(db)
        sealing = Projector(app, engine, centre=rt.config.centre.id, sealer=sealer)
        sealing.catch_up()
        rm = ReadModel(engine, rt.config, sealer=sealer)
        mixed = {k: view_state_plain(rm)[k] for k in ("stats", "cases")}

        reference_engine = make_engine("sqlite://")
        reference = Projector(app, reference_engine, centre=rt.config.centre.id)
        reference.ensure_schema()
        reference.catch_up()
        expected = view_state_plain(ReadModel(reference_engine, rt.config))
        assert mixed == {k: expected[k] for k in ("stats", "cases")}
        assert rm.case_summary(r.case_id)["content"] == odd  # type: ignore[index]

        with engine.connect() as conn:
            values = [v for (v,) in conn.execute(text("SELECT snippet FROM view_cases")) if v]
        assert any(not v.startswith(TEXT_MARK) for v in values)  # really mixed
        sealing.rebuild()
        with engine.connect() as conn:
            values = [v for (v,) in conn.execute(text("SELECT snippet FROM view_cases")) if v]
        assert values and all(v.startswith(TEXT_MARK) for v in values)
        assert view_state_plain(rm) == expected
        reference_engine.dispose()
        engine.dispose()
    finally:
        rt.close()


def view_state_plain(rm: ReadModel) -> dict[str, Any]:
    return {
        "stats": {str(by): rm.stats(by) for by in BYS},
        "cases": sorted(rm.cases({}, 10_000, 0), key=lambda c: str(c["case_id"])),
        "open": sorted(rm.open_cases_for_router(), key=lambda c: str(c["case_id"])),
    }


def test_views_left_with_the_old_column_widths_are_rebuilt(db: str) -> None:
    """An older version made address / snippet / result varchar(500) / varchar(120):
    PostgreSQL would refuse the sealed text, so such views are recreated and caught up from
    the log at start. Views of the current layout are left alone."""
    rt = keyed(db)
    try:
        rt.app.receive(cmd("W1", "茶亭路7号门口的路灯不亮了" * 8, "海城区茶亭路7号"))
        position = rt.projector.position()
        assert position > 0
    finally:
        rt.close()
    rt = keyed(db)
    try:
        assert rt.projector.position() == position  # current layout: kept
    finally:
        rt.close()
    if not db.startswith("postgresql"):
        return  # SQLite cannot narrow a column (and does not enforce widths)
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM view_cases")
        for table, column, width in (("view_cases", "snippet", 120), ("view_cases", "address", 500),
                                     ("view_cases", "result", 500), ("view_open_cases", "address", 500)):
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({width})")
    engine.dispose()
    rt = keyed(db)
    try:
        rows = rt.read_model.cases()  # recreated and caught up (rows were deleted)
        assert [r["snippet"] for r in rows] == [("茶亭路7号门口的路灯不亮了" * 8)[:120]]
        with rt.views_engine.connect() as conn:
            (snippet,) = conn.execute(text("SELECT snippet FROM view_cases")).one()
        assert snippet.startswith(TEXT_MARK) and len(snippet) > 120
    finally:
        rt.close()
