"""API tokens: compared in constant time, never written to a log, and a revoked one refused on
the very next request (``sanshi token revoke`` by the token or by its fingerprint)."""

from __future__ import annotations

import hmac
import subprocess
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.bootstrap import bootstrap
from adapters.http import create_app, policy
from engine.settings import Settings
from tests.faults.support import CLI, REPO, cli_env, wait_for
from tests.support.processes import stop_process
from tests.support.services import free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OPERATOR = "demo-operator-token"
UNIT = "demo-unit-chatinglu"


def test_every_configured_token_is_compared_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """hmac.compare_digest against every configured token, with no early exit: how long a
    request takes says nothing about how much of a guess was right, or which token matched."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # what policy.hmac.compare_digest is
    assert policy.hmac is hmac  # type: ignore[attr-defined]
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    try:
        configured = len(runtime.config.tokens)
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            for token, status in [(OPERATOR, 200), (UNIT, 200), ("demo-operator-tokeX", 401),
                                  ("d", 401), ("x" * 500, 401)]:
                calls.clear()
                r = client.get("/api/meta", headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == status, (token, r.text)
                assert len(calls) == configured, f"{token!r}: {len(calls)} of {configured} compared"
                assert all(a == token.encode() for a, _ in calls)
    finally:
        runtime.close()


def test_no_token_reaches_the_server_log(tmp_path: Path) -> None:
    """A real ``sanshi serve`` at its most talkative (uvicorn debug, sanshi DEBUG) answers
    requests with good, bad and issued tokens, in headers, Open311 forms and query strings,
    and fails some of them; not one token is in what it printed."""
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    env = cli_env(db, SANSHI_LOG_LEVEL="DEBUG")
    issued = _issue(db, "operator", None, "日志测试")
    bad = "not-a-token-9f8e7d6c5b4a"
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--log-level", "debug"],
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(base), 180, "sanshi serve", every=0.3,
                 check=lambda: _alive(server, log))
        with httpx.Client(base_url=base, timeout=60) as client:
            record = {"order_no": "LOG1", "received_at": "2026-09-21 10:00",
                      "content": "路灯坏了", "caller_phone": "13912345678"}
            for token in (OPERATOR, UNIT, issued, bad):
                h = {"Authorization": f"Bearer {token}"}
                client.get("/api/meta", headers=h)
                client.post("/api/cases", headers=h, json=record)
                client.post("/api/cases", headers=h, content=b"{not json")
                client.get("/api/cases/not-a-case", headers=h)
                client.get("/api/stats?from=yesterday", headers=h)
                client.post("/open311/v2/requests.json",
                            data={"api_key": token, "service_code": "municipal",
                                  "description": "井盖丢了", "lat": "21.48", "long": "109.12"})
                client.post(f"/open311/v2/requests.json?api_key={token}",
                            data={"service_code": "nope", "description": ""})
                client.get(f"/api/meta?token={token}")
            client.get("/api/meta", headers={"Authorization": "Basic " + bad})
    finally:
        stop_process(server)
    printed = log.read_text(encoding="utf-8", errors="replace")
    assert "Uvicorn running" in printed  # the log was captured
    for token in (OPERATOR, UNIT, issued, bad):
        assert token not in printed, f"token {token[:10]}… in the server log"


def test_no_token_in_any_log_record_even_sql_and_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, every logger at DEBUG (SQLAlchemy's SQL with its parameters included) and a
    request that fails inside the server: the tokens are in none of the records."""
    import logging

    runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            issued = runtime.api_store.create_token("operator", None, "日志")
            caplog.set_level(logging.DEBUG)
            caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQL and parameters
            bad = "wrong-token-0a1b2c3d"
            for token in (OPERATOR, UNIT, issued, bad):
                h = {"Authorization": f"Bearer {token}"}
                client.get("/api/meta", headers=h)
                client.get(f"/api/meta?token={token}", headers=h)
                client.post("/open311/v2/requests.json", data={"api_key": token})

            def boom(*_: Any, **__: Any) -> Any:
                raise RuntimeError("数据库连接中断")

            monkeypatch.setattr(runtime.app, "get_case", boom)
            r = client.get("/api/cases/00000000-0000-0000-0000-000000000001",
                           headers={"Authorization": f"Bearer {issued}"})
            assert r.status_code == 500 and "数据库" not in r.text  # the cause stays in the log
    finally:
        runtime.close()
    text = "\n".join(
        f"{rec.name} {rec.getMessage()} {rec.exc_text or ''} {rec.args!r}"
        for rec in caplog.records
        if not rec.name.startswith(("httpx", "httpcore"))  # the test's own client, not the server
    )
    assert "数据库连接中断" in text and "api_tokens" in text  # the error and the SQL were logged
    for token in (OPERATOR, UNIT, issued, bad):
        assert token not in text, f"token {token[:10]}… in a log record"


def test_a_revoked_token_is_refused_at_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    env = cli_env(db)
    first = _cli(env, "token", "create", "--role", "unit", "--unit", "chatinglu").strip()
    second = _issue(db, "leader", None, "督查室")
    runtime = bootstrap(Settings(db=db, kafka=None, config_path=None, cipher_key=None))
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            def status(token: str) -> int:
                r = client.get("/api/meta", headers={"Authorization": f"Bearer {token}"})
                return int(r.status_code)

            assert status(first) == status(second) == 200
            # by the token itself, from another process
            done = _run(env, "token", "revoke", first)
            assert done.returncode == 0 and "已停用 1" in done.stdout, done.stderr
            assert status(first) == 401  # the very next request
            assert status(second) == 200
            # by the fingerprint the audit trail and the events show
            me = client.get("/api/meta", headers={"Authorization": f"Bearer {second}"}).json()
            assert me["me"]["role"] == "leader"
            fingerprint = _fingerprint(second)
            done = _run(env, "token", "revoke", fingerprint)
            assert done.returncode == 0, done.stderr
            assert status(second) == 401
            # nothing left to revoke; a token from the config file cannot be revoked in the
            # database, and the command says where it lives (exit 1)
            assert runtime.api_store.revoke_token(first) == 0
            configured = _run(env, "token", "revoke", OPERATOR)
            assert configured.returncode == 1 and "SANSHI_CONFIG" in configured.stderr
            assert status(OPERATOR) == 200
    finally:
        runtime.close()


def _issue(db: str, role: str, unit: str | None, name: str) -> str:
    """What ``sanshi token create`` does (run for real in the revoke test), without a process."""
    from adapters.http.store import ApiStore, sql_engine_for

    engine = sql_engine_for(Settings(db=db, kafka=None, config_path=None, cipher_key=None))
    try:
        return ApiStore(engine).create_token(role, unit, name)
    finally:
        engine.dispose()


def _fingerprint(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()[:8]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def _cli(env: dict[str, str], *args: str) -> str:
    done = _run(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(server: subprocess.Popen[bytes], log: Path) -> None:
    assert server.poll() is None, log.read_text(encoding="utf-8", errors="replace")[-3000:]
