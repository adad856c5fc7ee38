"""通知 in the web UI (issue 19), Chromium against a real ``sanshi serve`` whose environment names a
webhook consumer and an SMS gateway (``tests/support/notice_receiver.py``, real processes): an
operator takes a call, and the case's 办理过程 says who was told by which channel (已通知 ·
城管（推送接口）, 已通知 · 来电人（短信）), once the server's own thread has delivered them.
Screenshot in test-artifacts/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_ui_flow import OPERATOR, _api, _free_port, _page, _shot
from tests.support.notice_receiver import API_KEY, SECRET, Receiver
from tests.support.served import served

pytestmark = pytest.mark.date_sensitive  # the server's clock: the case is received now

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Receiver, Receiver]]:
    """The receivers, then `sanshi serve` telling them."""
    folder = tmp_path_factory.mktemp("notices")
    hook = Receiver("webhook", _free_port(), folder / "hook.sqlite")
    gateway = Receiver("sms", _free_port(), folder / "sms.sqlite")
    hook.start()
    gateway.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    env.update(
        SANSHI_DB=f"sqlite:///{folder / 'sanshi.db'}",
        SANSHI_WEBHOOK_URL=hook.url, SANSHI_WEBHOOK_SECRET=SECRET,
        SANSHI_SMS_URL=gateway.url, SANSHI_SMS_KEY=API_KEY,
    )
    try:
        with served(env, folder / "serve.log") as base:
            yield base, hook, gateway
    finally:
        hook.stop()
        gateway.stop()


def test_the_timeline_says_who_was_told(browser: Any, told: tuple[str, Receiver, Receiver]) -> None:
    import datetime as dt

    from engine.deadlines import SHANGHAI

    base, hook, gateway = told
    case = _api(base, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-NOTICE-{int(time.time())}",
        "received_at": dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "content": "东一巷菜场门口占道经营，摊位堵住了路",
        "caller_phone": "13912349999",
    })
    unit = (case.get("dispatch") or {}).get("unit")
    assert unit in ("chengguan", "chatinglu"), unit  # the demo district's webhook units
    deadline = time.monotonic() + 60
    while not (hook.received() and gateway.received()):
        assert time.monotonic() < deadline, "no notice reached the receivers"
        time.sleep(0.2)
    op = _page(browser, base, OPERATOR)
    op.get_by_test_id("tab-search").click()
    op.get_by_test_id("open-id").fill(case["id"])
    op.get_by_role("button", name="打开").click()
    timeline = op.get_by_test_id("timeline")
    timeline.get_by_text("来电人（短信）").wait_for()
    text = timeline.inner_text()
    assert "已通知" in text and "（推送接口）" in text and "来电人（短信）" in text
    assert "13912349999" not in text
    timeline.scroll_into_view_if_needed()
    _shot(op, "notices-timeline.png")
    assert op.errors == []
