"""The app's photos fetched after intake (issue 18), against a real HTTP server this test starts:
an allowed host's photo is stored on the case without anyone asking, after the intake answered;
a URL on another host is never requested; a 404, a timeout, an oversize body and a page that is
not a photo are recorded failures (the network ones retried a bounded number of times) and the
case is intact."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from adapters.attachments.queue import MAX_ATTEMPTS
from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import Parsed
from adapters.http import create_app
from adapters.transport.port import apply_commands
from adapters.transport.worker import FetchPhotos, WorkerStats
from engine.attachments import AttachmentSettings
from engine.config import load_config
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings
from tests.support.api import OPERATOR, auth
from tests.support.people import Clock
from tests.unit.test_attachments_api import photo

PHOTO = photo(41)
BIG = photo(7, size=(200, 200))  # over the 40 000 bytes allowed below
LIMIT = 40_000
START = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
RELEASE = threading.Event()


@pytest.fixture
def site() -> Iterator[tuple[str, Counter[str]]]:
    seen: Counter[str] = Counter()
    RELEASE.clear()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen[self.path] += 1
            if self.path == "/missing.png":
                self.send_error(404)
                return
            if self.path == "/slow.png":
                time.sleep(2.5)  # the fetch gives up after 1 s
            if self.path == "/later.png":
                RELEASE.wait(10)  # held until the test has seen the intake's answer
            body, kind = PHOTO, "image/png"
            if self.path == "/big.png":
                body = BIG
            if self.path == "/page.png":
                body, kind = b"<html><body>not a photo</body></html>", "text/html"
            try:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the fetcher hung up (timeout)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()


@contextmanager
def fetching_from(host: str, db: Path, timeout: float = 1.0) -> Iterator[tuple[TestClient, Runtime, Clock]]:
    """A SQLite file, as `sanshi serve` runs (memory:// shares one connection between threads,
    which a background thread must not use at the same time as a request)."""
    settings = AttachmentSettings(fetch_hosts=[host], fetch_timeout_seconds=timeout, max_image_bytes=LIMIT,
                                  max_audio_bytes=LIMIT, max_document_bytes=LIMIT)
    config = load_config(None).model_copy(update={"attachments": settings})
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": f"sqlite:///{db / 'sanshi.db'}"}), config=config)
    clock = Clock(START)
    runtime.photo_queue.now = clock
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            yield client, runtime, clock
    finally:
        runtime.close()


def submit(client: TestClient, ref: str, photos: list[str]) -> str:
    r = client.post("/api/intake/app", headers=auth(OPERATOR), json={
        "submission_id": ref, "content": f"茶亭路幸福里小区路灯不亮，晚上很黑（{ref}）",
        "address": "海城区茶亭路幸福里小区", "photos": photos,
    })
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


def fetches(client: TestClient, cid: str) -> dict[str, dict[str, Any]]:
    r = client.get(f"/api/cases/{cid}/photo-fetches", headers=auth(OPERATOR))
    assert r.status_code == 200, r.text
    return {p["url"].rsplit("/", 1)[-1]: p for p in r.json()["photos"]}


def wait_until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.05)


def test_an_allowed_hosts_photo_is_stored_after_intake_and_another_host_is_never_asked(
    site: tuple[str, Counter[str]], tmp_path: Path,
) -> None:
    host, seen = site
    port = host.split(":")[1]
    with fetching_from(host, tmp_path, timeout=15.0) as (client, runtime, _clock):
        allowed = f"http://{host}/later.png"
        other = f"http://localhost:{port}/secret.png"  # the same server under a name not listed
        cid = submit(client, "PQ-1", [allowed, other])
        # The intake answered while the photo host was still holding the photo back: it was
        # not fetched in the request.
        assert fetches(client, cid)["later.png"]["status"] == "pending"
        RELEASE.set()
        wait_until(lambda: fetches(client, cid)["later.png"]["status"] == "stored")
        shown = client.get(f"/api/cases/{cid}/attachments", headers=auth(OPERATOR)).json()
        rows = shown if isinstance(shown, list) else shown.get("attachments", shown.get("rows", []))
        assert [a["name"] for a in rows] == ["later.png"]
        recorded = runtime.app.get_case(UUID(cid)).attachments
        assert [a["source_url"] for a in recorded] == [allowed]
        got = client.get(f"/api/cases/{cid}/attachments/{rows[0]['sha256']}", headers=auth(OPERATOR))
        assert got.status_code == 200 and got.content == PHOTO
        state = fetches(client, cid)
        assert state["secret.png"]["status"] == "kept"
        assert seen == Counter({"/later.png": 1})  # /secret.png never requested
        # The case keeps both URLs as the app sent them.
        case = client.get(f"/api/cases/{cid}", headers=auth(OPERATOR)).json()
        assert case["extra"]["photos"] == [allowed, other]


def test_failures_are_recorded_with_their_reason_retried_a_bounded_number_of_times_and_the_case_stays(
    site: tuple[str, Counter[str]], tmp_path: Path,
) -> None:
    host, seen = site
    with fetching_from(host, tmp_path) as (client, runtime, clock):
        names = ("missing.png", "slow.png", "big.png", "page.png")
        cid = submit(client, "PQ-2", [f"http://{host}/{n}" for n in names])
        wait_until(lambda: all(p["attempts"] >= 1 for p in fetches(client, cid).values()))
        state = fetches(client, cid)
        # Network failures wait for another try; content refusals fail at once.
        assert (state["missing.png"]["status"], state["missing.png"]["reason"]) == ("pending", "HTTP 404")
        assert state["slow.png"]["status"] == "pending" and "超时" in state["slow.png"]["reason"]
        assert state["big.png"]["status"] == "failed" and "过大" in state["big.png"]["reason"]
        assert state["page.png"]["status"] == "failed" and state["page.png"]["reason"]
        # Not again before the wait is over.
        assert runtime.photo_queue.run_due() == 0
        for _ in range(MAX_ATTEMPTS + 2):
            clock.move(minutes=31)
            runtime.photo_queue.run_due()
        state = fetches(client, cid)
        for name in ("missing.png", "slow.png"):
            assert state[name]["status"] == "failed" and state[name]["attempts"] == MAX_ATTEMPTS
        assert state["missing.png"]["reason"] == "HTTP 404"
        assert seen["/missing.png"] == MAX_ATTEMPTS and seen["/big.png"] == 1 and seen["/page.png"] == 1
        # The case is intact: received, routed, readable, no attachment.
        case = client.get(f"/api/cases/{cid}", headers=auth(OPERATOR))
        assert case.status_code == 200 and runtime.app.get_case(UUID(cid)).attachments == []
        assert case.json()["status"] in ("dispatched", "received")


def test_the_kafka_workers_step_fetches_what_applying_a_poll_queued_and_a_redelivery_queues_once(
    site: tuple[str, Counter[str]], tmp_path: Path,
) -> None:
    """The worker's path without the broker: ``apply_commands`` (step 3) queues, the
    ``FetchPhotos`` step (after the commit) fetches; the same poll applied again (a redelivery
    after a crash) is a duplicate that queues nothing new and fetches nothing twice."""
    host, seen = site
    with fetching_from(host, tmp_path) as (_client, runtime, _clock):
        command = IntakeCommand(
            channel=Channel.APP, source_ref="PQ-K", received_at=START,
            content="茶亭路幸福里小区路灯不亮，晚上很黑（PQ-K）", address="海城区茶亭路幸福里小区",
            extra={"photos": [f"http://{host}/photo.png"]},
        )
        poll = [Parsed(command, "kafka:0:1")]
        outcomes, _ = apply_commands(runtime, poll, "system:intake", source="kafka")
        assert outcomes[0].status == "accepted" and seen == Counter()  # not fetched while applying
        stats = WorkerStats()
        FetchPhotos(runtime, stats)(busy=True)
        assert stats.counts["photo_fetches"] == 1 and seen == Counter({"/photo.png": 1})
        again, _ = apply_commands(runtime, poll, "system:intake", source="kafka")
        assert again[0].status == "duplicate"
        FetchPhotos(runtime, stats)(busy=True)
        assert seen == Counter({"/photo.png": 1})
        case = runtime.app.get_case(outcomes[0].case_id)
        assert [a["source_url"] for a in case.attachments] == [f"http://{host}/photo.png"]
