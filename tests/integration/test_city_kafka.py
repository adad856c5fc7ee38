"""A city on Kafka (docs/city.md, issue 21): each district its own topics and consumer group, as
DIGIT partitions by tenant. The city's one API answers each district's calls at 受理 (202) and
publishes them to that district's topic; ``sanshi worker --city FILE --district ID`` routes only
its district's intake into its district's log. A real broker; the workers as the CLI runs them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from adapters.city import City, bootstrap_city
from adapters.http.city import create_city_app
from adapters.transport.kafka import KafkaSettings
from tests.integration.test_city import HC_OPERATOR, YH_OPERATOR, _auth, _city_file

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
RECEIVED = "engine.domain:Case.Received"
LAMP = "{street}{n}号门口的路灯不亮了，晚上黑乎乎的，老人走路容易摔"


@pytest.fixture
def kafka_city(tmp_path: Path, kafka_bootstrap: str) -> Iterator[tuple[City, dict[str, str], Path]]:
    file = _city_file(tmp_path, *(f"sqlite:///{tmp_path / d}.db" for d in ("haicheng", "yinhai")))
    env = {"SANSHI_KAFKA": kafka_bootstrap, "SANSHI_KAFKA_PREFIX": f"city{uuid.uuid4().hex[:8]}."}
    city = bootstrap_city(file, environ=env)
    try:
        yield city, env, file
    finally:
        city.close()


def _call(n: int, street: str, order_no: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {"order_no": order_no, "received_at": now, "content": LAMP.format(street=street, n=n),
            "address": f"{street}{n}号", "caller_phone": f"1380000{n:04d}"}


def _worker(env: dict[str, str], file: Path, district: str, log: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "SANSHI_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-c", "from adapters.cli import main; main()", "worker",
         "--city", str(file), "--district", district, "--clock-interval", "0", "--idle-exit", "3"],
        cwd=REPO, env=full, capture_output=True, text=True, timeout=300,
    )


def _received(city: City, district: str) -> set[uuid.UUID]:
    notes = city.runtime(district).app.recorder.select_notifications(0, 10**6, topics=(RECEIVED,))
    return {n.originator_id for n in notes}  # type: ignore[misc]


def test_each_district_routes_its_own_calls_from_its_own_topic(
    kafka_city: tuple[City, dict[str, str], Path], tmp_path: Path
) -> None:
    city, env, file = kafka_city
    # Each district's topics and group carry its id.
    topics = {d: KafkaSettings.from_env(env["SANSHI_KAFKA"], prefix=rt.settings.kafka_prefix)
              for d, rt in city.districts.items()}
    assert topics["haicheng"].intake_topic == env["SANSHI_KAFKA_PREFIX"] + "haicheng.sanshi.intake"
    assert topics["haicheng"].group != topics["yinhai"].group

    sent: dict[str, set[str]] = {"haicheng": set(), "yinhai": set()}
    with TestClient(create_city_app(city, not_found_floor=0), raise_server_exceptions=False) as client:
        for n in range(1, 4):
            for district, token, street, prefix in (("haicheng", HC_OPERATOR, "茶亭路", "HC"),
                                                    ("yinhai", YH_OPERATOR, "银海大道", "YH")):
                call = _call(n, street, f"{prefix}20261203{n:06d}")
                r = client.post(f"/d/{district}/api/cases", json=call, headers=_auth(token))
                assert r.status_code == 202, r.text  # answered at 受理: in the district's topic
                assert r.json()["status"] == "queued"
                sent[district].add(r.json()["id"])
        # Nothing is routed before a worker runs.
        assert client.get(f"/d/haicheng/api/cases/{next(iter(sent['haicheng']))}",
                          headers=_auth(HC_OPERATOR)).status_code == 404

        # yinhai's worker alone: yinhai's calls become yinhai's cases, haicheng's wait.
        done = _worker(env, file, "yinhai", tmp_path / "yinhai.log")
        assert done.returncode == 0, done.stderr[-3000:]
        assert {str(i) for i in _received(city, "yinhai")} == sent["yinhai"]
        assert _received(city, "haicheng") == set()

        done = _worker(env, file, "haicheng", tmp_path / "haicheng.log")
        assert done.returncode == 0, done.stderr[-3000:]
        assert {str(i) for i in _received(city, "haicheng")} == sent["haicheng"]
        assert {str(i) for i in _received(city, "yinhai")} == sent["yinhai"]  # nothing more

        # Each case is its district's (its order number, its routing); the other district's
        # token does not see it.
        for district, token, other, other_token, prefix in (
            ("haicheng", HC_OPERATOR, "yinhai", YH_OPERATOR, "HC"),
            ("yinhai", YH_OPERATOR, "haicheng", HC_OPERATOR, "YH"),
        ):
            for case_id in sent[district]:
                case = client.get(f"/d/{district}/api/cases/{case_id}", headers=_auth(token))
                assert case.status_code == 200, case.text
                assert case.json()["order_no"].startswith(prefix)
                assert case.json()["status"] in ("dispatched", "merged", "received")
                hidden = client.get(f"/d/{other}/api/cases/{case_id}", headers=_auth(other_token))
                assert hidden.status_code == 404
        lamp = client.get(f"/d/haicheng/api/cases/{sorted(sent['haicheng'])[0]}",
                          headers=_auth(HC_OPERATOR)).json()
        assert lamp["status"] == "dispatched" or lamp["status"] == "merged"


def test_a_worker_for_a_district_the_city_does_not_have_is_refused(
    kafka_city: tuple[City, dict[str, str], Path], tmp_path: Path
) -> None:
    _, env, file = kafka_city
    done = _worker(env, file, "gulou", tmp_path / "gulou.log")
    assert done.returncode == 2
    assert "gulou" in done.stderr and "haicheng" in done.stderr
