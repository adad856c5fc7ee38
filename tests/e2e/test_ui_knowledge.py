"""The web UI in Chromium for the knowledge base (知识库, issue 18): the operator types a 咨询,
sees the entry beside the router's suggestion, takes the call, and answers it 直办 from the
entry on the case waiting at the centre; the entry records the answer; the 知识库 screen lists
it. Screenshots in /tmp and test-artifacts/."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from playwright.sync_api import expect

from engine.knowledge import demo_entries
from tests.e2e.test_ui_flow import (  # noqa: F401
    OPERATOR,
    _api,
    _page,
    _shot,
    server,
)

pytestmark = pytest.mark.date_sensitive
ADMIN = "demo-admin-token"

ASKED = "办理居住证需要带什么材料"
WANTED = ("demo-juzhuzheng-cailiao", "demo-shenfenzheng-buban", "demo-dibao-tiaojian")


def _seed(server: str) -> str:  # noqa: F811
    """The demo entries the walk needs, through the API; returns the residence permit's id."""
    ids = {}
    for row in demo_entries():
        if row["ref"] in WANTED:
            body = {k: row[k] for k in ("question", "answer", "category", "unit", "source") if row.get(k)}
            ids[row["ref"]] = _api(server, OPERATOR, "POST", "/api/knowledge", body)["id"]
    return ids[WANTED[0]]


def _keep(page: Any, name: str) -> None:
    path = _shot(page, name)
    shutil.copy(path, f"/tmp/{name}")


def test_the_operator_answers_a_consultation_from_the_knowledge_base(
    browser: Any, server: str  # noqa: F811
) -> None:
    entry = _seed(server)
    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-intake").click()
    op.get_by_test_id("caller_name").fill("李女士")
    op.get_by_test_id("caller_phone").fill("13977900001")
    op.get_by_test_id("content").press_sequentially(ASKED, delay=20)
    beside = op.get_by_test_id("kb-suggestions")
    first = beside.get_by_test_id("kb-item").first
    first.wait_for()
    assert first.get_attribute("data-entry-id") == entry
    expect(first.get_by_test_id("kb-question")).to_contain_text("居住证")
    op.get_by_test_id("suggest-category").wait_for()  # the router's suggestion beside it
    _keep(op, "kb-1-受理台-知识库口径.png")

    op.get_by_test_id("submit-case").click()
    result = op.get_by_test_id("intake-result")
    card = result.get_by_test_id("kb-case")
    card.wait_for()
    # A 咨询 is not dispatched: it waits at the centre with the entries offered.
    assert result.get_by_test_id("kb-consultation").is_visible()
    assert "中心人工派单" not in beside.inner_text()  # the panel cleared after submit
    offered = card.get_by_test_id("kb-item").first
    assert offered.get_attribute("data-entry-id") == entry
    card.scroll_into_view_if_needed()
    _keep(op, "kb-2-待直办-咨询.png")
    offered.get_by_test_id("kb-answer").click()
    result.get_by_test_id("status").filter(has_text="直办").wait_for()
    expect(result.get_by_test_id("timeline")).to_contain_text("知识库答复口径")
    op.locator("#toast").filter(has_text="按知识库口径").filter(has_text="居住证").wait_for()
    result.get_by_test_id("timeline").scroll_into_view_if_needed()
    _keep(op, "kb-3-已直办.png")
    assert _api(server, OPERATOR, "GET", f"/api/knowledge/{entry}")["answers"] == 1

    # The 知识库 screen (admin): the entry with its answer counted.
    admin = _page(browser, server, ADMIN)
    admin.get_by_test_id("tab-knowledge").click()
    row = admin.locator(f"tr[data-entry-id='{entry}']")
    row.wait_for()
    assert row.locator("td").nth(4).inner_text() == "1"
    row.click()
    admin.get_by_test_id("kb-detail").wait_for()
    _keep(admin, "kb-4-知识库管理.png")
    assert not op.errors, op.errors
    assert not admin.errors, admin.errors
