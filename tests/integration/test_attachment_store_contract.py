"""One contract for every attachment store (engine.attachments.Blobs): the local directory,
the table on SQLite, and the table on a real PostgreSQL (bytea); then the whole path on
PostgreSQL with the cipher key: the table's raw bytes hold no photo in clear."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from adapters.attachments.local import LocalDirBlobs
from adapters.attachments.sql import SqlBlobs
from adapters.bootstrap import bootstrap
from engine.attachments import Blobs
from engine.domain import Status
from engine.settings import Settings
from tests.support.api import OPERATOR, TestClient, auth, case_in
from tests.unit.test_attachments_api import photo, upload


def _sqlalchemy(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@pytest.fixture(params=["dir", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "dir":
        return LocalDirBlobs(tmp_path / "store")
    if request.param == "sqlite":
        return SqlBlobs(create_engine(f"sqlite:///{tmp_path / 'blobs.db'}"))
    url = str(request.getfixturevalue("fresh_postgres_url"))
    return SqlBlobs(create_engine(_sqlalchemy(url)))


def addr(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_what_is_put_comes_back_byte_for_byte(blobs: Blobs) -> None:
    data = bytes(range(256)) * 40 + b"\x00\xff"
    assert not blobs.has(addr(data)) and blobs.get(addr(data)) is None
    blobs.put(addr(data), data)
    assert blobs.has(addr(data)) and blobs.get(addr(data)) == data


def test_put_is_idempotent_and_concurrent_puts_of_one_address_all_succeed(blobs: Blobs) -> None:
    data = os.urandom(50_000)
    errors: list[BaseException] = []

    def put() -> None:
        try:
            blobs.put(addr(data), data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert blobs.get(addr(data)) == data


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "ABC", "0" * 63, "g" * 64, "0" * 64 + "/x"])
def test_an_address_that_is_not_64_hex_is_never_a_path(blobs: Blobs, bad: str) -> None:
    assert blobs.get(bad) is None and not blobs.has(bad)
    with pytest.raises(ValueError):
        blobs.put(bad, b"x")


@pytest.mark.postgres
def test_with_the_cipher_key_postgresqls_bytes_hold_no_photo_in_clear(fresh_postgres_url: Any) -> None:
    from adapters.http import create_app

    key = base64.b64encode(os.urandom(32)).decode()
    runtime = bootstrap(Settings(db=fresh_postgres_url, kafka=None, config_path=None, cipher_key=key))
    try:
        assert isinstance(runtime.attachments.blobs, SqlBlobs)  # production: the table
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            cid = case_in(runtime, Status.DISPATCHED)
            data = photo(31, (80, 80))
            a = upload(client, cid, data).json()
            assert client.get(a["url"], headers=auth(OPERATOR)).content == data
        with create_engine(_sqlalchemy(fresh_postgres_url)).connect() as conn:
            rows = [bytes(r[0]) for r in conn.execute(text("SELECT data FROM attachment_blobs"))]
            names = [r[0] for r in conn.execute(text("SELECT address FROM attachment_blobs"))]
        assert len(rows) == 2
        assert a["sha256"] not in names
        for row in rows:
            assert data[50:82] not in row
    finally:
        runtime.close()
