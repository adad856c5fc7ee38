"""受理台 in Kafka mode (issue 21): the API answers a create once the broker holds the record
(202, 受理) and ``sanshi worker`` routes it a moment later. The operator is told at once and
then sees the case where it went, as in embedded mode: a real broker, PostgreSQL, the server and
the worker each in a process of their own, Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_ui_flow import ADDRESS, OPERATOR, UNIT, _page
from tests.support.moved_clock import CLI_CODE
from tests.support.processes import stop_process
from tests.support.served import served

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kafka_server(
    tmp_path_factory: pytest.TempPathFactory, pg_server: Any, kafka_bootstrap: str
) -> Iterator[str]:
    db = pg_server.create_database(f"ui_kafka_{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "SANSHI_DB": db, "SANSHI_KAFKA": kafka_bootstrap,
           "SANSHI_KAFKA_PREFIX": f"ui{uuid.uuid4().hex[:8]}.", "SANSHI_LOG_LEVEL": "WARNING"}
    logs = tmp_path_factory.mktemp("ui_kafka")
    with served(env, logs / "serve.log") as base, (logs / "worker.log").open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-c", CLI_CODE, "worker", "--clock-interval", "0"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            yield base
        finally:
            stop_process(worker, grace=20)


def test_a_queued_call_is_shown_where_the_worker_sent_it(browser: Any, kafka_server: str) -> None:
    op = _page(browser, kafka_server, OPERATOR)
    op.get_by_test_id("caller_phone").fill("13877900021")
    op.get_by_test_id("address").fill(ADDRESS)
    op.get_by_test_id("content").fill("茶亭路幸福里小区7栋门口的路灯坏了一个星期，晚上很黑，请尽快维修。")
    op.get_by_test_id("suggest-category").filter(has_text="市政设施").wait_for()
    with op.expect_response(lambda r: r.url.endswith("/api/cases") and r.request.method == "POST") as sent:
        op.get_by_test_id("submit-case").click()
    assert sent.value.status == 202  # answered at 受理, before any routing
    detail = op.get_by_test_id("intake-result").get_by_test_id("case-detail")
    detail.wait_for(timeout=30_000)
    assert detail.get_by_test_id("status").inner_text() == "已派单"
    assert detail.get_by_test_id("assigned-unit").inner_text() == "茶亭路社区"
    case_id = detail.get_attribute("data-case-id")
    # The page asked for the case until the worker had made it: the browser logs those 404s.
    assert [e for e in op.errors if "status of 404" not in e] == []

    # The unit finds it in its inbox and claims it, as in embedded mode.
    unit = _page(browser, kafka_server, UNIT)
    row = unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{case_id}']")
    row.wait_for()
    row.click()
    unit.get_by_test_id("do-claim").click()
    unit.get_by_test_id("case-detail").get_by_test_id("status").filter(has_text="已签收").wait_for()
    assert unit.errors == []
