"""One vocabulary (engine/vocabulary.py, issue #15): every code with its Chinese label, served to
the web UI by ``/api/meta``; the UI keeps no copy of the labels nor of the overdue rule."""

from __future__ import annotations

import datetime as dt
import re
import typing
from pathlib import Path

from eventsourcing.domain import Aggregate

from adapters.http.routes_read import StatsBy
from engine.domain import Case
from engine.forms import Censure, Form
from engine.notices import AbandonedNotice, NoticeChannel, NoticeKind, SentNotice
from engine.projects import Project
from engine.vocabulary import (
    APPEAL_TYPES,
    CENSURE_KINDS,
    CHANNELS,
    COUNTS,
    RATES,
    STATS_DIMENSIONS,
    STATUSES,
    UNIT_QUEUES,
    VOCABULARIES,
    Action,
    AppealType,
    CensureKind,
    Channel,
    Concern,
    DeadlineKind,
    FormKind,
    Rating,
    Role,
    Status,
    UnitKind,
    rates,
)
from projections.queries import BY_VALUES
from projections.tables import COUNT_FIELDS
from tests.support.api import (
    ASSIGNED,
    ASSIGNED_UNIT,
    LAMP,
    LAMP_ADDRESS,
    OPERATOR,
    api_client,
    auth,
    intake,
)

APP_JS = Path(__file__).resolve().parents[2] / "adapters" / "web" / "static" / "app.js"


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def test_every_enumeration_has_exactly_one_label_per_code() -> None:
    by_name = {v.name: v for v in VOCABULARIES}
    for enum, name in (
        (Status, "statuses"),
        (Action, "actions"),
        (Channel, "channels"),
        (Concern, "concerns"),
        (Rating, "ratings"),
        (Role, "roles"),
        (UnitKind, "unit_kinds"),
        (DeadlineKind, "deadline_kinds"),
    ):
        assert by_name[name].codes == tuple(e.value for e in enum), name
    # Every event of a case's history has its name (not the library's own base classes).
    # And every event of the log's other aggregates (一表通 forms, 通报/追责, 通知).
    events = {
        n
        for cls in (Case, Form, Censure, SentNotice, AbandonedNotice, Project)
        for n, v in vars(cls).items()
        if isinstance(v, type) and issubclass(v, Aggregate.Event) and not hasattr(Aggregate, n)
    }
    assert events and events == set(by_name["event_kinds"].codes)
    assert by_name["form_kinds"].codes == tuple(k.value for k in FormKind)
    assert by_name["censure_kinds"].codes == tuple(k.value for k in CensureKind)
    assert by_name["notice_kinds"].codes == tuple(k.value for k in NoticeKind)
    assert by_name["notice_channels"].codes == tuple(c.value for c in NoticeChannel)
    assert APPEAL_TYPES.codes == tuple(t for t in typing.get_args(AppealType) if t)
    # The counts are the views' counters plus the derived "accepted"; every rate is made of them.
    assert set(COUNTS.codes) == {*COUNT_FIELDS, "accepted"}
    for r in rates():
        assert r.denominator in COUNTS and all(n in COUNTS for n in r.numerator), r.code
    assert STATS_DIMENSIONS.codes == typing.get_args(StatsBy) == tuple(BY_VALUES)
    for v in VOCABULARIES:
        assert len(set(v.codes)) == len(v) and all(t.label for t in v), v.name


def test_api_meta_serves_every_code_of_each_vocabulary() -> None:
    with api_client() as (client, _):
        for token in (OPERATOR, ASSIGNED):
            meta = client.get("/api/meta", headers=auth(token)).json()
            served = meta["vocabulary"]
            assert set(served) == {v.name for v in VOCABULARIES}
            for v in VOCABULARIES:
                terms = served[v.name]["terms"]
                assert [t["code"] for t in terms] == list(v.codes), v.name
                assert [t["label"] for t in terms] == [t.label for t in v], v.name
            rate_terms = {t["code"]: t for t in served["rates"]["terms"]}
            for r in rates():
                assert rate_terms[r.code]["numerator"] == list(r.numerator)
                assert rate_terms[r.code]["denominator"] == r.denominator
            assert meta["statuses"] == STATUSES.labels()


def _js_string_literals(source: str) -> list[str]:
    """The text of every "…", '…' and `…` literal (template parts between ${…} included)."""
    out: list[str] = []
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'|`((?:[^`\\]|\\.)*)`', source):
        text = next(g for g in m.groups() if g is not None)
        out.extend(re.split(r"\$\{[^}]*\}", text))
    return out


def test_the_web_ui_keeps_no_copy_of_the_labels() -> None:
    source = APP_JS.read_text(encoding="utf-8")
    literals = set(_js_string_literals(source))
    assert "工单详情" in literals  # the scan sees the UI's own (screen) words
    # The unit's work queues and the dashboard's 通报/追责 figures (issue 17) name theirs so too.
    for vocabulary in (STATUSES, CHANNELS, RATES, UNIT_QUEUES, CENSURE_KINDS):
        for term in vocabulary:
            assert _has_chinese(term.label)
            assert term.label not in literals, (vocabulary.name, term.code, term.label)
    # Nor the names it used to carry before there was one vocabulary.
    for code in ("notices", "accountabilities"):
        assert COUNTS.label(code) not in literals, code
    for old in ("110警务联动", "到点反映", "按时率"):
        assert not any(old in s for s in literals), old


def test_the_web_ui_keeps_no_copy_of_the_overdue_rule() -> None:
    source = APP_JS.read_text(encoding="utf-8")
    body = re.search(r"function isOverdue\(row\) \{(.*?)\}\n", source, re.S)
    assert body is not None
    assert body.group(1).strip() == "return !!row.overdue;"
    # No deadline is compared with the clock to decide lateness, and no status list decides
    # which cases can be late.
    assert "claimed_at" not in source
    assert not re.search(r'\[\s*"dispatched",\s*"claimed",\s*"mediating"\s*\]', source)


def test_case_list_rows_carry_the_servers_deadline_state() -> None:
    with api_client() as (client, runtime):
        old = runtime.app.receive(
            intake(LAMP.format(n=7001) + "（很久以前）", LAMP_ADDRESS.format(n=7001),
                   at=dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
        )
        assert old.status == "dispatched" and old.unit == ASSIGNED_UNIT
        for token in (OPERATOR, ASSIGNED):
            rows = client.get("/api/cases", headers=auth(token)).json()
            row = next(r for r in rows if r["case_id"] == str(old.case_id))
            assert row["overdue"] is True and row["overdue_kind"] == "claim"
            assert row["next_deadline_kind"] == "claim"
            inbox = client.get(f"/api/units/{ASSIGNED_UNIT}/inbox", headers=auth(token)).json()
            item = next(r for r in inbox if r["case_id"] == str(old.case_id))
            assert item["overdue"] is True and item["overdue_kind"] == "claim"
