"""附件 through the API: upload and download with the case's own authorisation, hostile inputs
refused with 400/413/422 (never a 500), Open311's media_url only for public images of
public-space cases, and with SANSHI_CIPHER_KEY no photo in clear on disk."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
from pathlib import Path

import pytest
from PIL import Image

from adapters.bootstrap import bootstrap
from adapters.http import create_app
from engine.domain import Status
from engine.settings import Settings
from tests.support.api import (
    ADMIN,
    ASSIGNED,
    LEADER,
    OPERATOR,
    OTHER_UNIT,
    api_client,
    auth,
    case_in,
)


def photo(seed: int = 1, size: tuple[int, int] = (64, 48), fmt: str = "PNG") -> bytes:
    """Random pixels: incompressible, so any stretch of the file is unique to it."""
    rnd = random.Random(seed)
    img = Image.frombytes("RGB", size, bytes(rnd.randrange(256) for _ in range(size[0] * size[1] * 3)))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(client, cid, data, name="现场.png", token=OPERATOR, **form):
    return client.post(
        f"/api/cases/{cid}/attachments",
        files={"file": (name, data, "application/octet-stream")},
        data={k: str(v).lower() for k, v in form.items()},
        headers=auth(token),
    )


def test_an_operators_photo_is_stored_by_its_sha256_and_read_back_by_those_who_see_the_case() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.DISPATCHED)
        data = photo()
        r = upload(client, cid, data)
        assert r.status_code == 201, r.text
        a = r.json()
        assert a["sha256"] == hashlib.sha256(data).hexdigest()
        assert (a["kind"], a["mime"], a["size"], a["stage"]) == ("image", "image/png", len(data), "intake")
        events = client.get(f"/api/cases/{cid}/events", headers=auth(OPERATOR)).json()
        added = [e for e in events if e["type"] == "AttachmentAdded"]
        assert added and added[0]["data"]["digest"] == a["sha256"] and added[0]["type_name"] == "添加附件"
        for token in (OPERATOR, LEADER, ADMIN, ASSIGNED):
            got = client.get(a["url"], headers=auth(token))
            assert got.status_code == 200 and got.content == data, token
            assert got.headers["content-type"] == "image/png"
        thumb = client.get(a["preview_url"], headers=auth(OPERATOR))
        assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
        # The same bytes again: recorded once.
        assert upload(client, cid, data).status_code == 201
        assert len(client.get(f"/api/cases/{cid}/attachments", headers=auth(OPERATOR)).json()) == 1


def test_another_units_attachment_is_404_like_an_absent_one() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.DISPATCHED)
        a = upload(client, cid, photo(2)).json()
        absent = client.get(f"/api/cases/{cid}/attachments/{'0' * 64}", headers=auth(OPERATOR))
        for path in (a["url"], a["preview_url"], f"/api/cases/{cid}/attachments"):
            r = client.get(path, headers=auth(OTHER_UNIT))
            assert r.status_code == 404, path
            assert r.json()["error"] == absent.json()["error"] == "not_found"
        # Knowing a digest opens nothing through another case, even one the reader may see.
        other = case_in(rt, Status.DISPATCHED)
        assert client.get(f"/api/cases/{other}/attachments/{a['sha256']}", headers=auth(ASSIGNED)).status_code == 404
        assert upload(client, cid, photo(3), token=OTHER_UNIT).status_code == 404
        assert client.get(a["url"]).status_code == 401


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("现场.jpg", photo(4), 422),  # PNG bytes named .jpg
        ("report.pdf", photo(5), 422),
        ("photo.png", PDF, 422),
        ("empty.png", b"", 422),
        ("notes.txt", b"just some text, not a photo", 422),
        ("page.html", b"<html><script>alert(1)</script></html>", 422),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 422),
        ("fake.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 200, 422),  # a JPEG header on nothing
        ("../../etc/passwd.png", photo(6), 400),
        ("..\\..\\boot.png", photo(7), 400),
        ("C:x.png", photo(8), 400),
        ("x" * 300 + ".png", photo(10), 400),
        ("invoice.exe", photo(11), 422),  # a real photo, named to be run or rendered
        ("page.html", photo(12), 422),
        ("\u202egnp.exe", photo(13), 400),  # shown as "exe.png": a right-to-left override
    ],
)
def test_hostile_uploads_are_refused_and_nothing_is_recorded(name: str, data: bytes, status: int) -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.DISPATCHED)
        r = upload(client, cid, data, name=name)
        assert r.status_code == status, (r.status_code, r.text)
        assert r.json()["error"] and r.json()["message"]
        assert client.get(f"/api/cases/{cid}/attachments", headers=auth(OPERATOR)).json() == []


def test_oversize_is_413_by_the_configured_limit() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.DISPATCHED)
        limit = rt.config.attachments.max_image_bytes
        big = photo(11) + b"\x00" * (limit + 10)
        r = upload(client, cid, big)
        assert r.status_code == 413, r.text
        # Beyond the body limit of the upload route itself: refused before it is parsed.
        huge = b"\x89PNG" + b"\x00" * (rt.config.attachments.max_bytes + 200_000)
        assert upload(client, cid, huge).status_code == 413
        # Other routes keep the 1 MiB body limit.
        r = client.post(f"/api/cases/{cid}/urge", content=b"{" + b" " * 2_000_000 + b"}",
                        headers={**auth(OPERATOR), "Content-Type": "application/json"})
        assert r.status_code == 413


def test_a_unit_adds_evidence_only_while_it_holds_the_case_and_resolves_with_it() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.CLAIMED)
        r = upload(client, cid, photo(12), token=ASSIGNED)
        assert r.status_code == 201 and r.json()["stage"] == "evidence", r.text
        assert upload(client, cid, photo(13), token=ASSIGNED, public=True).status_code == 403
        assert client.post(f"/api/cases/{cid}/resolve", json={"result": "已修复，见照片"}, headers=auth(ASSIGNED)).status_code == 200
        # Resolved: no longer the unit's to add to (409), the operator still may.
        assert upload(client, cid, photo(14), token=ASSIGNED).status_code == 409
        assert upload(client, cid, photo(15)).status_code == 201
        for token in (LEADER, ADMIN):
            assert upload(client, cid, photo(16), token=token).status_code == 403


def test_open311_media_url_only_for_public_images_of_public_space_cases() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.DISPATCHED)  # a street lamp: municipal, public space
        a = upload(client, cid, photo(17)).json()
        assert client.get(f"/open311/v2/requests/{cid}.json").json()[0]["media_url"] is None
        public = f"/open311/v2/media/{cid}/{a['sha256']}.jpg"
        assert client.get(public).status_code == 404
        assert client.post(f"{a['url']}/public", json={"public": True}, headers=auth(ASSIGNED)).status_code == 403
        r = client.post(f"{a['url']}/public", json={"public": True}, headers=auth(OPERATOR))
        assert r.status_code == 200 and r.json()["public"] is True
        assert client.get(f"/open311/v2/requests/{cid}.json").json()[0]["media_url"] == public
        got = client.get(public)
        assert got.status_code == 200 and got.content[:3] == b"\xff\xd8\xff"
        assert got.content != photo(17)  # the preview, never the original
        # A dispute (personal) stays out of Open311 whatever is marked.
        dispute = rt.app.receive(__import__("tests.support.api", fromlist=["intake"]).intake(
            "邻居因宅基地边界吵架，希望调解", "海城区茶亭路9号")).case_id
        b = upload(client, dispute, photo(18)).json()
        client.post(f"{b['url']}/public", json={"public": True}, headers=auth(OPERATOR))
        assert client.get(f"/open311/v2/media/{dispute}/{b['sha256']}.jpg").status_code == 404


def test_with_the_cipher_key_neither_the_database_nor_the_store_holds_the_photo_in_clear(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings.from_env({"SANSHI_DB": f"sqlite:///{tmp_path}/sanshi.db", "SANSHI_CIPHER_KEY": key})
    runtime = bootstrap(settings)
    from fastapi.testclient import TestClient

    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            cid = case_in(runtime, Status.DISPATCHED)
            data = photo(19, (96, 96))
            a = upload(client, cid, data, name="张伟家门口.png").json()
            preview = client.get(a["preview_url"], headers=auth(OPERATOR)).content
            assert client.get(a["url"], headers=auth(OPERATOR)).content == data
            # And in the database table, when that is the store.
            db_store = __import__("adapters.attachments.wiring", fromlist=["x"]).attachment_service(
                runtime, __import__("adapters.attachments.sql", fromlist=["x"]).SqlBlobs(runtime.views_engine))
            db_store.add(cid, data, "again.png", "operator:test")
        store = tmp_path / "attachments"
        files = [p for p in store.rglob("*") if p.is_file()]
        assert len(files) == 2  # the photo and its preview
        digest = hashlib.sha256(data).hexdigest()
        assert all(digest not in str(p) for p in files)  # names do not confirm a known photo
        raw = b"".join(p.read_bytes() for p in files)
        raw_db = b"".join(p.read_bytes() for p in tmp_path.glob("sanshi.db*"))
        for needle in (data[40:72], data[-64:-32], preview[200:232], "张伟家门口".encode()):
            assert needle not in raw
            assert needle not in raw_db
    finally:
        runtime.close()


@pytest.mark.parametrize(
    "name",
    ["bad\x00name.png", "line\nbreak.png", "../x.png", "a/b.png", "..", "C:x.png", "\ud800.png",
     "\u202egnp.exe", "photo\u200b.png", "\ufeffphoto.png"],
)
def test_names_that_are_paths_or_carry_control_characters_are_refused(name: str) -> None:
    # (HTTP clients escape some of these in a multipart header; the rule holds whatever arrives.)
    from engine.attachments import AttachmentNameRefused, clean_name

    with pytest.raises(AttachmentNameRefused):
        clean_name(name)
    assert clean_name("  现场照片.JPG ") == "现场照片.JPG"
