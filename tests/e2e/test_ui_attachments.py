"""附件 and the area map in a real browser (tests/e2e/test_ui_flow.py's server and Chromium):
茶亭路社区 resolves a case with a photo (办结凭证); the operator opens the case and sees the
photo's preview; the leader's 区域地图 shows the case counts on the config's polygons.
Screenshots: test-artifacts/ and /tmp/sanshi-attach-*.png."""

from __future__ import annotations

import io
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.test_ui_flow import LEADER, OPERATOR, UNIT, _api, _page, _shot, server

pytestmark = pytest.mark.date_sensitive
__all__ = ["server"]


def _photo(path: Path) -> Path:
    rnd = random.Random(5)
    img = Image.new("RGB", (320, 240), (90, 140, 200))
    for _ in range(40):
        x, y = rnd.randrange(300), rnd.randrange(220)
        img.paste((rnd.randrange(256), rnd.randrange(256), 60), (x, y, x + 20, y + 20))
    out = io.BytesIO()
    img.save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_a_unit_resolves_with_a_photo_the_operator_sees_and_the_leader_maps_counts(
    browser: Any, server: str, tmp_path: Path
) -> None:
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-PHOTO-{time.time_ns()}", "received_at": "2026-11-03 10:00:00",
        "content": "茶亭路38号路灯不亮，晚上出行不便（附件测试）",
        "address": "北海市海城区茶亭路38号",
    })
    cid = case["id"]
    if case["status"] != "dispatched" or case.get("assigned_unit") != "chatinglu":
        _api(server, OPERATOR, "POST", f"/api/cases/{cid}/dispatch", {"unit": "chatinglu"})
    _api(server, UNIT, "POST", f"/api/cases/{cid}/claim")

    unit = _page(browser, server, UNIT)
    unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{cid}']").click()
    card = unit.get_by_test_id("case-detail")
    card.get_by_test_id("resolve-result").fill("已更换灯泡，恢复照明，附现场照片")
    card.get_by_test_id("evidence-files").set_input_files(str(_photo(tmp_path / "现场照片.jpg")))
    card.get_by_test_id("do-resolve").click()
    card.get_by_test_id("status").filter(has_text="已办结").wait_for()
    card.locator("[data-testid=attachment][data-stage=evidence]").wait_for()
    shutil.copy(_shot(unit, "11-附件-unit-resolved-with-photo.png"), "/tmp/sanshi-attach-1-unit.png")

    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-search").click()
    op.get_by_test_id("search-q").fill("附件测试")
    op.get_by_test_id("search-q").press("Enter")
    op.locator(f"[data-testid=search-table] tr[data-case-id='{cid}']").first.wait_for(timeout=10_000)
    op.locator(f"[data-testid=search-table] tr[data-case-id='{cid}']").first.click()
    detail = op.get_by_test_id("case-detail")
    shown = detail.locator("[data-testid=attachment][data-stage=evidence] img[data-testid=attachment-preview]")
    shown.wait_for()
    op.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=shown.element_handle())
    expect(detail.get_by_test_id("attachments")).to_contain_text("现场照片.jpg")
    expect(detail.get_by_test_id("attachments")).to_contain_text("办结凭证")
    detail.locator("[data-testid=case-place] path.mine").wait_for()
    detail.get_by_test_id("attachments").scroll_into_view_if_needed()
    shutil.copy(_shot(op, "12-附件-operator-sees-photo.png"), "/tmp/sanshi-attach-2-operator.png")

    leader = _page(browser, server, LEADER)
    leader.get_by_test_id("tab-map").click()
    count = leader.get_by_test_id("count-chatinglu")
    count.wait_for()
    assert int(count.text_content() or "0") >= 1
    table = leader.get_by_test_id("area-table").inner_text()
    assert "中街街道" in table
    shutil.copy(_shot(leader, "13-区域地图-leader-map.png"), "/tmp/sanshi-attach-3-map.png")
