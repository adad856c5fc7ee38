"""Privacy under inspection of the raw bytes.

- ``SANSHI_CIPHER_KEY`` set: no complaint text, address, result, caller phone or caller name
  is readable in the event log, the dead-letter store, the read side's own ``view_`` tables
  (SQLite file rows and file bytes, PostgreSQL table rows) or on the Kafka topics (raw message
  bytes of sanshi.intake and sanshi.dlq).
- No key: police identifiers (raw phone, full name, ID number) are still never stored.
- A unit (or a caller with no token) never receives another unit's case or an unmasked caller
  from any GET route of the API or of Open311, whatever path parameter it tries; on Open311 it
  sees other units' cases about public space only as the narrow public record (no text, no
  address) and cases about a person not at all.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import read_path
from adapters.http import create_app
from adapters.http.policy import Open311View, open311_view
from adapters.transport import IngestReport, dead_letter_store, ingest
from engine.application import now_shanghai
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings
from tests.faults.support import (
    LONG,
    Corpus,
    WorkerProcess,
    assert_each_once,
    cli_env,
    leaks,
    make_corpus,
    postgres_dump,
    received_counts,
    topic_bytes,
)
from tests.support.services import PostgresServer, ServiceError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY = base64.b64encode(bytes(range(32))).decode()  # a fixed 32-byte AES key for the tests
VIEW_PREFIX = "view_"
# the district key a runtime with only KEY set derives (police case ids depend on it)
_KEYED = Settings(db="memory://", kafka=None, config_path=None, cipher_key=KEY)


def _corpus(folder: Path, n: int, seed: int, district_key: bytes | None = None) -> Corpus:
    corpus = make_corpus(folder, n, seed=seed, broken=0.0, district_key=district_key)
    # Dead letters that carry real personal data: a record whose only fault is its time.
    bad = folder / "hotline-badtime.jsonl"
    lines = []
    for i in range(5):
        phone, name, marker = f"1350000{seed % 10}{i:03d}", f"欧阳明{chr(0x4E00 + seed % 500 + i)}", f"编号BAD{seed}N{i}"
        lines.append(
            f'{{"order_no": "BAD{seed}-{i}", "received_at": "下周三", "caller_phone": "{phone}", '
            f'"caller_name": "{name}", "content": "路灯坏了{marker}"}}'
        )
        corpus.personal |= {phone, name}
        corpus.texts.add(marker)
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus.files.append(("hotline", bad))
    corpus.broken += 5
    corpus.records += 5
    return corpus


def _secrets(corpus: Corpus, acted: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    return {
        "complaint text": corpus.texts,
        "caller phone or name": corpus.personal,
        "police identifiers": corpus.police_secrets,
        **(acted or {}),
    }


def _found(
    corpus: Corpus, blob: bytes, acted: dict[str, set[str]] | None = None
) -> dict[str, list[str]]:
    found = {what: leaks(s, blob) for what, s in _secrets(corpus, acted).items()}
    return {k: v[:5] for k, v in found.items() if v}


def _act_on_some(runtime: Runtime, corpus: Corpus, seed: int) -> dict[str, set[str]]:
    """Cases with addresses no other case has, taken through resolve (and the centre's direct
    answer and rejection, which write the same result column), and some of the corpus's cases
    resolved: the markers of what the views' address and result columns hold."""
    app = runtime.app
    addresses: set[str] = set()
    results: set[str] = set()
    for i in range(12):
        marker = f"T{seed}N{i}"
        address = f"海城区茶亭路{i}号幸福里地址A{marker}"
        vague = i % 4 == 0  # left at the centre: answered directly or rejected
        text = f"我想反映一个情况，编号{marker}" if vague else f"茶亭路{i}号的路灯不亮，编号{marker}"
        r = app.receive(IntakeCommand(
            channel=Channel.HOTLINE, source_ref=f"PRIVR{seed}-{i}", received_at=now_shanghai(),
            content=text, address=address,
        ))
        corpus.texts.add(f"编号{marker}")
        addresses.add(f"地址A{marker}")
        case = app.get_case(r.case_id)
        result = f"处理结果R{marker}"
        if case.status == "received":
            if i % 8 == 0:
                app.answer_directly(r.case_id, result, "operator:test")
            else:
                app.reject(r.case_id, result, "operator:test")
            results.add(result)
        elif case.assigned_unit and i % 3:
            app.claim(r.case_id, case.assigned_unit, "unit:test")
            app.resolve(r.case_id, case.assigned_unit, result, "unit:test")
            results.add(result)
    for n, cid in enumerate(sorted(corpus.expected)[:40]):
        case = app.get_case(cid)
        if case.status == "dispatched" and case.assigned_unit:
            result = f"已办结，结果R{seed}C{n}"
            app.claim(cid, case.assigned_unit, "unit:test")
            app.resolve(cid, case.assigned_unit, result, "unit:test")
            results.add(result)
    assert len(results) >= 15 and len(addresses) == 12
    return {"address": addresses, "result": results}


def _ingest_all(runtime: Runtime, corpus: Corpus) -> IngestReport:
    report = IngestReport(mode="embedded")
    for channel, path in corpus.files:
        ingest(runtime, channel, read_path(path), source=str(path), report=report)
    return report


def sqlite_tables(path: Path) -> dict[str, bytes]:
    """Every value of every table of a SQLite file, per table."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {}
        for name in names:
            chunks = [
                v if isinstance(v, bytes) else str(v).encode("utf-8")
                for row in con.execute(f'SELECT * FROM "{name}"')
                for v in row
                if v is not None
            ]
            out[name] = b"\n".join(chunks)
        return out
    finally:
        con.close()


def postgres_tables(url: str) -> dict[str, bytes]:
    import psycopg

    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
    out = {}
    for name in names:
        out[name] = postgres_dump_table(url, name)
    return out


def postgres_dump_table(url: str, table: str) -> bytes:
    import psycopg

    chunks: list[bytes] = []
    with psycopg.connect(url) as conn:
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, bytes | bytearray | memoryview):
                    chunks.append(bytes(value))
                elif value is not None:
                    chunks.append(str(value).encode("utf-8"))
    return b"\n".join(chunks)


# ---- with SANSHI_CIPHER_KEY ---------------------------------------------------------------


Stored = tuple[Corpus, dict[str, bytes], dict[str, set[str]]]


# Once per module and store: the tests below only read what it yields (bytes, a corpus and sets),
# and building it is most of their time.
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def encrypted_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """A district's intake stored with a cipher key, some of it resolved; yields the corpus,
    the raw rows of every table of the database and the markers of addresses and results."""
    tmp_path = tmp_path_factory.mktemp("encrypted_store")
    pg: PostgresServer | None = None
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    else:
        pg = request.getfixturevalue("pg_server")
        pg_name = f"t_{uuid.uuid4().hex}"
        db = pg.create_database(pg_name)
    corpus = _corpus(tmp_path, 400, seed=8100, district_key=_KEYED.district_key)
    runtime = bootstrap(Settings(db=db, kafka=None, config_path=None, cipher_key=KEY))
    try:
        report = _ingest_all(runtime, corpus)
        assert report.counts["accepted"] == len(corpus.expected)
        assert report.counts["dead_lettered"] == corpus.broken
        acted = _act_on_some(runtime, corpus, seed=8100)
        # the API's own tables too: a token issued, a personal-data read audited
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            token = runtime.api_store.create_token("operator", None, "值班话务员")
            some = next(iter(corpus.expected))
            assert client.get(f"/api/cases/{some}", headers=_auth(token)).status_code == 200
    finally:
        runtime.close()
    if request.param == "sqlite":
        tables = sqlite_tables(tmp_path / "sanshi.db")
        # and the bytes of the files themselves (free pages, WAL) for the log's table
        tables["(files)"] = b"".join(p.read_bytes() for p in tmp_path.glob("sanshi.db*"))
    else:
        tables = postgres_tables(db)
    assert token.encode() not in b"".join(tables.values()), "an API token stored in clear"
    yield corpus, tables, acted
    if pg is not None and pg.running:
        with contextlib.suppress(ServiceError):  # the server goes at session end anyway
            pg.drop_database(pg_name)


def test_cipher_key_keeps_the_log_and_the_dead_letters_unreadable(
    encrypted_store: Stored,
) -> None:
    corpus, tables, acted = encrypted_store
    checked = [t for t in tables if not t.startswith(VIEW_PREFIX) and t != "(files)"]
    assert any(t.endswith("events") for t in checked) and "dead_letters" in checked
    found = {t: f for t in checked if (f := _found(corpus, tables[t], acted))}
    assert not found, f"readable with SANSHI_CIPHER_KEY set: {found}"


def test_cipher_key_keeps_the_view_tables_unreadable(encrypted_store: Stored) -> None:
    """view_open_cases.content / address, view_cases.snippet / address / result: sealed,
    in the rows and (SQLite) anywhere in the files, free pages and WAL included."""
    corpus, tables, acted = encrypted_store
    views = [t for t in tables if t.startswith(VIEW_PREFIX)]
    assert {"view_cases", "view_open_cases"} <= set(views)
    found = {t: f for t, blob in tables.items() if (f := _found(corpus, blob, acted))}
    assert not found, f"readable with SANSHI_CIPHER_KEY set: {found}"


def test_views_never_hold_caller_phone_or_name(encrypted_store: Stored) -> None:
    """Sealed or not, the views never take the caller in the first place."""
    corpus, tables, _acted = encrypted_store
    views = b"\n".join(blob for t, blob in tables.items() if t.startswith(VIEW_PREFIX))
    assert not leaks(corpus.personal | corpus.police_secrets, views)


@pytest.mark.kafka
@pytest.mark.postgres
def test_cipher_key_keeps_the_kafka_topics_unreadable(
    kafka_bootstrap: str, fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"fc{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("SANSHI_KAFKA_PREFIX", prefix)
    corpus = _corpus(tmp_path, 200, seed=8200, district_key=_KEYED.district_key)
    publisher = bootstrap(
        Settings(db=fresh_postgres_url, kafka=kafka_bootstrap, config_path=None, cipher_key=KEY)
    )
    env = cli_env(fresh_postgres_url, kafka_bootstrap, prefix, SANSHI_CIPHER_KEY=KEY)
    worker = WorkerProcess(env, tmp_path / "worker.log", f"{prefix}w")
    try:
        report = IngestReport(mode="kafka")
        for channel, path in corpus.files:
            ingest(publisher, channel, read_path(path), source=str(path), report=report)
        assert report.counts["queued"] + report.counts["duplicate"] == (
            len(corpus.expected) + corpus.duplicates
        )
        assert report.counts["dead_lettered"] == corpus.broken
        # A worker without the key stops at the first sealed message, commits nothing and
        # stores nothing; given the same key, it reads what was sealed and applies it.
        keyless = WorkerProcess(cli_env(fresh_postgres_url, kafka_bootstrap, prefix),
                                tmp_path / "keyless.log", f"{prefix}w")
        keyless.start("--idle-exit", "2")
        assert keyless.proc is not None and keyless.proc.wait(timeout=300) != 0
        assert "SANSHI_CIPHER_KEY" in keyless.tail()
        assert not received_counts(publisher.app)
        worker.start("--idle-exit", "2")
        assert worker.proc is not None and worker.proc.wait(timeout=600) == 0, worker.tail()
        assert_each_once(received_counts(publisher.app), corpus.expected)
        assert dead_letter_store(publisher).count() == corpus.broken
        topics = [f"{prefix}sanshi.intake", f"{prefix}sanshi.dlq"]
        found = _found(corpus, topic_bytes(kafka_bootstrap, topics))
        assert not found, f"readable on the topics with SANSHI_CIPHER_KEY set: {found}"
        dump = {t: b for t, b in postgres_tables(fresh_postgres_url).items()
                if not t.startswith(VIEW_PREFIX)}
        leaked = {t: f for t, b in dump.items() if (f := _found(corpus, b))}
        assert not leaked, leaked
    finally:
        worker.stop()
        publisher.close()


# ---- without a key -----------------------------------------------------------------------


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_without_a_key_police_identifiers_are_never_stored(
    db: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'plain.db'}" if db == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    corpus = _corpus(tmp_path, 600, seed=8300)
    assert corpus.police_secrets
    # a broken police record, full of identifiers, must be dead-lettered masked
    broken = tmp_path / "police-broken.jsonl"
    name, phone, ident = "诸葛亮明", "17300001111", "450502199001011234"
    broken.write_text(
        f'{{"incident_no": "JQB1", "received_at": "昨天", "caller_phone": "{phone}", '
        f'"caller_name": "{name}", "summary": "报警人{name}称被打，电话{phone}，身份证{ident}", '
        f'"police_category": "纠纷"}}\n', encoding="utf-8")
    corpus.files.append(("police", broken))
    corpus.police_secrets |= {name, phone}
    runtime = bootstrap(Settings(db=url, kafka=None, config_path=None, cipher_key=None))
    try:
        report = _ingest_all(runtime, corpus)
        assert report.counts["dead_lettered"] == corpus.broken + 1
    finally:
        runtime.close()
    if db == "sqlite":
        blob = b"".join(p.read_bytes() for p in tmp_path.glob("plain.db*"))
    else:
        blob = postgres_dump(url)
    assert not leaks(corpus.police_secrets, blob), "raw police identifiers stored"
    # the control: without a key the other channels' callers are stored (and readable)
    assert leaks(corpus.personal, blob)


# ---- what a unit can see -------------------------------------------------------------------

_n = iter(range(10**6))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cmd(content: str, address: str, name: str, phone: str) -> IntakeCommand:
    return IntakeCommand(
        channel=Channel.HOTLINE,
        source_ref=f"PRIV{next(_n):05d}",
        received_at=now_shanghai(),
        content=content,
        address=address,
        caller_name=name,
        caller_phone=phone,
        extra={"user_id": "u-secret-1", "contact_phone": phone},
    )


def test_a_unit_sees_only_its_own_cases_and_only_masked_callers() -> None:
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    app = runtime.app
    callers: dict[UUID, tuple[str, str]] = {}
    texts = [
        ("茶亭路{n}号门口的路灯不亮了，编号PV{n:04d}", "海城区茶亭路{n}号"),
        ("小区门口有人占道经营摆摊，编号PV{n:04d}", "海城区贵州路{n}号"),
        ("公司拖欠工资三个月了，编号PV{n:04d}", "海城区工业园区{n}号"),
        ("楼上邻居漏水不肯维修，邻里纠纷，编号PV{n:04d}", "海城区茶亭路{n}号"),
        ("楼下烧烤店油烟很大，编号PV{n:04d}", "海城区四川路{n}号"),
        ("我想反映一个情况，编号PV{n:04d}", ""),
    ]
    try:
        for i, (text, address) in enumerate(texts * 2):
            n = next(_n)
            name, phone = f"东方{chr(0x4E00 + 300 + n)}{chr(0x4E00 + 700 + n)}", f"1860000{n:04d}"
            r = app.receive(_cmd(text.format(n=n), address.format(n=n), name, phone))
            callers[r.case_id] = (name, phone)
            case = app.get_case(r.case_id)
            if i == 0 and case.assigned_unit:  # one case returned and sent on elsewhere
                app.return_case(r.case_id, case.assigned_unit, "不属于本社区", "unit:test")
            elif i == 1 and case.assigned_unit:
                app.claim(r.case_id, case.assigned_unit, "unit:test")
                app.resolve(r.case_id, case.assigned_unit, "已处理", "unit:test")
        cases = {cid: app.get_case(cid) for cid in callers}
        seen_by = {cid: set(c.units_ever) for cid, c in cases.items()}
        units_with_cases = set().union(*seen_by.values())
        assert len(units_with_cases) >= 3, seen_by
        secrets = {s for pair in callers.values() for s in pair} | {"u-secret-1"}
        tokens: list[tuple[str | None, str | None]] = [
            (t.unit, t.token) for t in runtime.config.tokens if t.role.value == "unit"
        ]
        if not LONG:  # CI: the units holding cases and a few that hold none
            idle = [t for t in tokens if t[0] not in units_with_cases][:3]
            tokens = [t for t in tokens if t[0] in units_with_cases] + idle
        tokens.append((None, None))  # and nobody: no token at all

        def text_of(cid: UUID) -> set[str]:
            """What a resident wrote and where: the case's marker and its house number."""
            return {cases[cid].content.rsplit("，", 1)[-1]} | (
                {cases[cid].address} if cases[cid].address else set()
            )

        # Open311 lists every case about public space, narrow (id, service, status, agency,
        # street), to anyone; the rest (the neighbours' dispute, the unpaid wages, ...) not at all.
        private = {
            cid for cid, c in cases.items()
            if open311_view(None, channel=c.channel, category=c.category, units_ever=[])
            == Open311View.HIDDEN
        }
        assert private and private != set(cases), "the walk needs both public and private cases"
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            paths = _get_paths(client)
            assert any(p.startswith("/open311/v2/requests") for p in paths)
            requests = 0
            own_on_open311: dict[str | None, set[str]] = {}
            for unit, token in tokens:
                hidden = {cid for cid, units in seen_by.items() if unit not in units}
                hidden_text = set().union(*(text_of(cid) for cid in hidden)) if hidden else set()
                own_text = set().union(*(text_of(c) for c in cases if c not in hidden)) - hidden_text
                api_marks = {str(cid) for cid in hidden} | hidden_text
                open311_marks = {str(cid) for cid in hidden & private} | hidden_text
                for url in _expand(paths, list(cases), sorted(units_with_cases | {unit or "centre"})):
                    open311 = url.startswith("/open311/")
                    # Open311 clients send the key as api_key; the rest of the API as a Bearer.
                    ways: list[dict[str, Any]] = [{"headers": _auth(token)} if token else {}]
                    if open311 and token:
                        ways.append({"params": {"api_key": token}})
                    for way in ways:
                        r = client.get(url, **way)
                        requests += 1
                        assert r.status_code < 500, (url, r.status_code)
                        body = r.content
                        leaked = leaks(secrets, body)
                        assert not leaked, f"{unit} got unmasked callers from {url}: {leaked}"
                        marks = open311_marks if open311 else api_marks
                        if r.status_code == 404:  # "不存在：<the id asked for>" echoes the URL
                            marks = hidden_text
                        shown = leaks(marks, body)
                        assert not shown, f"{unit} got another unit's case from {url}: {shown[:3]}"
                        if open311:
                            own_on_open311.setdefault(unit, set()).update(leaks(own_text, body))
            # The control: each unit does read its own cases in full on Open311.
            for unit in units_with_cases:
                assert own_on_open311.get(unit), f"{unit} saw none of its own cases on Open311"
        print(f"\nunit walk: {len(tokens) - 1} unit tokens and no token x {len(paths)} GET routes "
              f"(Open311 with Bearer and api_key) = {requests} requests; 0 other units' cases, "
              f"0 unmasked callers, on /api and on Open311")
    finally:
        runtime.close()


def _get_paths(client: TestClient) -> list[str]:
    schema = client.get("/openapi.json").json()
    return [*sorted(p for p, ops in schema["paths"].items() if "get" in ops), "/"]


def _expand(paths: list[str], case_ids: list[UUID], units: list[str]) -> Iterator[str]:
    for path in paths:
        urls = [path]
        for name, values in (
            ("{case_id}", [str(c) for c in case_ids]),
            ("{service_request_id}", [str(c) for c in case_ids]),
            ("{unit}", units),
            ("{fmt}", ["json", "xml"]),
            ("{service_code}", ["municipal"]),
        ):
            urls = [u.replace(name, v) for u in urls for v in values] if name in path else urls
        for url in urls:
            yield url
            if url == "/api/cases":
                yield from (f"/api/cases?unit={u}" for u in units)
                yield "/api/cases?status=dispatched&limit=500"
                yield "/api/cases?q=编号PV"
            if url == "/api/stats":
                yield from (f"/api/stats?by={by}" for by in ("unit", "channel", "category"))
            if url.startswith("/open311/v2/requests.") and "{" not in url:
                yield url + "?service_request_id=" + ",".join(str(c) for c in case_ids)


# ---- the search view (issue 18) -----------------------------------------------------------

_SEARCHED = [
    ("茶亭路18号门口的路灯不亮了，晚上黑乎乎的", "海城区茶亭路18号", "李秀英", "13977900001"),
    ("楼上装修噪音扰民，每天早上七点就开始电钻", "海城区四川路56号", "王建国", "18677123456"),
    ("办理居住证需要带什么材料？", "", "陈女士", "0779-3201234"),
]


def test_with_the_cipher_key_the_search_index_holds_no_number_and_no_word(tmp_path: Path) -> None:
    """查找 works by number, name and word, yet the SQLite file, free pages and WAL included,
    holds none of the numbers (in any spelling the caller gave) and no word of the text: the
    index keeps keyed hashes only."""
    from projections.search import words

    runtime = bootstrap(Settings(db=f"sqlite:///{tmp_path / 'sanshi.db'}", kafka=None,
                                 config_path=None, cipher_key=KEY))
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            op = _auth("demo-operator-token")
            for i, (content, address, name, phone) in enumerate(_SEARCHED):
                r = client.post("/api/cases", headers=op, json={
                    "order_no": f"PRIV-S-{i}", "received_at": "2026-12-01 09:30:00",
                    "content": content, "address": address, "caller_name": name,
                    "caller_phone": phone,
                })
                assert r.status_code == 201, r.text
            found = client.get("/api/search", headers=op, params={"q": "＋86 139-7790-0001"}).json()
            assert found["total"] == 1
            assert client.get("/api/search", headers=op, params={"q": "电钻"}).json()["total"] == 1
            by_name = client.get("/api/search", headers=op, params={"q": "陈女士", "kind": "name"})
            assert by_name.json()["total"] == 1
    finally:
        runtime.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("sanshi.db*"))
    for content, address, name, phone in _SEARCHED:
        digits = "".join(ch for ch in phone if ch.isdigit())
        for secret in (phone, digits, digits[-8:], name):
            assert secret.encode() not in blob, f"{secret} readable in the database"
        tokens = [w for w in words(f"{content} {address}") if len(w) >= 2 and not w.isdigit()]
        assert tokens
        readable = [w for w in tokens if w.encode() in blob]
        assert not readable, f"words of the complaint readable in the database: {readable}"
