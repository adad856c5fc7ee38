"""Issue 14, finding 7: ``/metrics`` and ``/healthz`` told anyone how many police hand-overs
(警情移交) there were. The public health answer is now one bit; the details and the metrics need
a leader's or an admin's token, the metrics token, or the internal metrics port."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.http import create_app
from engine.application import now_shanghai
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings
from tests.faults.support import CLI, REPO, cli_env
from tests.support.api import ADMIN, ASSIGNED, LEADER, OPERATOR, TestClient, auth
from tests.support.processes import stop_process

SCRAPER = "scraper-token-0123456789abcdef"


def police_case(runtime: Runtime, n: int) -> None:
    r = runtime.app.receive(
        IntakeCommand(
            channel=Channel.POLICE,
            source_ref=f"J-OPS-{n}",
            received_at=now_shanghai() - dt.timedelta(minutes=5),
            content=f"楼上漏水到楼下，两户因赔偿发生纠纷（{n}）",
            address="海城区茶亭路8号",
            category_hint="dispute",
        )
    )
    assert r.case_id is not None


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[Any, Runtime]]:
    settings = Settings.from_env({"SANSHI_DB": "memory://", "SANSHI_METRICS_TOKEN": SCRAPER})
    runtime = bootstrap(settings)
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            for n in range(3):
                police_case(runtime, n)
            yield client, runtime
    finally:
        runtime.close()


def test_the_public_health_answer_is_only_ok(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    for headers in ({}, auth("not-a-token"), auth(OPERATOR), auth(ASSIGNED)):
        r = client.get("/healthz", headers=headers)
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}, r.text  # no event count, nothing to diff


def test_the_detailed_health_answer_is_for_leaders_admins_and_the_scraper(
    env: tuple[Any, Runtime],
) -> None:
    client, _ = env
    for token in (LEADER, ADMIN, SCRAPER):
        body = client.get("/healthz", headers=auth(token)).json()
        assert body["status"] == "ok" and body["database"] == "ok" and body["events"] > 0


def test_metrics_need_a_token_and_say_nothing_without_one(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"error", "message"} and "令牌" in anonymous.json()["message"]
    assert "police" not in anonymous.text
    for token in (OPERATOR, ASSIGNED):
        r = client.get("/metrics", headers=auth(token))
        assert r.status_code == 403 and "police" not in r.text
    for token in (LEADER, ADMIN, SCRAPER):
        r = client.get("/metrics", headers=auth(token))
        assert r.status_code == 200
        assert 'sanshi_intake_total{channel="police"} 3.0' in r.text


def test_the_metrics_token_reads_metrics_and_nothing_else(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    assert client.get("/api/cases", headers=auth(SCRAPER)).status_code == 401
    assert client.get("/api/stats", headers=auth(SCRAPER)).status_code == 401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_offers_metrics_on_an_internal_port(tmp_path: Path) -> None:
    """The real ``sanshi serve --metrics-port``: the scraper reads the internal port without a
    token; the public port keeps asking for one, and its health answer stays one bit."""
    port, internal = _free_port(), _free_port()
    env = cli_env(f"sqlite:///{tmp_path / 'ops.db'}")
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port),
         "--metrics-port", str(internal), "--clock-interval", "0", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "sanshi serve did not start"
                time.sleep(0.5)
        assert health.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 401
        scraped = httpx.get(f"http://127.0.0.1:{internal}/metrics", timeout=5)
        assert scraped.status_code == 200 and "sanshi_projection_lag_events" in scraped.text
    finally:
        stop_process(proc, grace=20)
