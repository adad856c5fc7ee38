"""The web UI in a real browser (Debian's Chromium driven by Playwright) against a real
`sanshi serve` process: an operator takes a call → the unit claims and resolves → the operator
calls back, the resident is dissatisfied → the case is reopened → the leadership dashboard's
numbers move accordingly. Screenshots of the three screens go to test-artifacts/.

Needs /usr/bin/chromium (scripts/install-browser.sh). Skipped locally when it is missing;
in CI (SANSHI_REQUIRE_SERVICES=1 or CI=true) it fails instead.
"""

from __future__ import annotations

import os
import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.served import served

# Reads today's date: CI runs it again on moved clocks (tests/support/moved_clock.py).
pytestmark = pytest.mark.date_sensitive

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("SANSHI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}

OPERATOR = "demo-operator-token"
UNIT = "demo-unit-chatinglu"
LEADER = "demo-leader-token"

ADDRESS = "北海市海城区茶亭路幸福里小区7栋"
# Ends with markup: the page must show it as text and never run it.
COMPLAINT = (
    "茶亭路幸福里小区7栋门口的路灯坏了半个月，晚上漆黑一片，老人出门容易摔跤，希望尽快修好。"
    "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>"
)


def _required() -> bool:
    return os.environ.get("SANSHI_REQUIRE_SERVICES") == "1" or os.environ.get("CI", "").lower() == "true"


def _unavailable(msg: str) -> None:
    if _required():
        pytest.fail(f"{msg} (run scripts/install-browser.sh)", pytrace=False)
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVED: dict[str, Path] = {}  # the served database, for tests that write its log directly


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sanshi serve` for real, on its own SQLite file."""
    db = tmp_path_factory.mktemp("ui") / "sanshi.db"
    SERVED["db"] = db
    env = {**os.environ, "SANSHI_DB": f"sqlite:///{db}"}
    env.pop("SANSHI_KAFKA", None)
    with served(env, tmp_path_factory.getbasetemp() / "serve.log") as base:
        yield base


def _page(browser: Any, base: str, token: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    page.goto(base + "/")
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("login").click()
    page.get_by_test_id("who").filter(has_text=re.compile(".+")).wait_for()
    return page


def _dashboard_numbers(page: Any) -> dict[str, str]:
    rates = page.get_by_test_id("rates")
    rates.and_(page.locator("[data-generation]")).wait_for()
    generation = int(rates.get_attribute("data-generation") or 0)
    page.get_by_test_id("refresh-dashboard").click()
    page.locator(f"[data-testid=rates][data-generation='{generation + 1}']").wait_for()
    out = {
        k: page.get_by_test_id(k).inner_text()
        for k in ("kpi-received", "kpi-resolved", "kpi-followups", "kpi-dissatisfied")
    }
    for rate in ("handling_rate", "satisfaction_rate", "solved_rate"):
        out[rate] = page.get_by_test_id(f"rate-{rate}").locator(".frac").inner_text()
    return out


def _count(text: str) -> int:
    return int(re.sub(r"\D", "", text) or 0)


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def test_call_to_reopen_through_the_three_screens(browser: Any, server: str) -> None:
    # ---- the leader's numbers before --------------------------------------------------------
    leader = _page(browser, server, LEADER)
    leader.get_by_test_id("rates").wait_for()
    before = _dashboard_numbers(leader)

    # ---- 受理台: the operator takes the call ------------------------------------------------
    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("caller_phone").fill("13877912345")
    op.get_by_test_id("caller_name").fill("庞女士")
    op.get_by_test_id("address").fill(ADDRESS)
    op.get_by_test_id("content").press_sequentially(COMPLAINT[:30], delay=5)
    op.get_by_test_id("content").fill(COMPLAINT)
    # The router's suggestion appears while typing.
    op.get_by_test_id("suggest-category").filter(has_text="市政设施").wait_for()
    expect(op.get_by_test_id("suggest-unit")).to_contain_text("茶亭路社区")
    _shot(op, "1-受理台-operator-intake.png")
    op.get_by_test_id("submit-case").click()
    detail = op.get_by_test_id("intake-result").get_by_test_id("case-detail")
    detail.wait_for()
    assert detail.get_by_test_id("status").inner_text() == "已派单"
    assert detail.get_by_test_id("assigned-unit").inner_text() == "茶亭路社区"
    case_id = detail.get_attribute("data-case-id")
    assert case_id
    # The markup is shown as text and never ran.
    expect(detail.get_by_test_id("case-content")).to_contain_text("<script>window.__xss=2</script>")
    assert op.evaluate("window.__xss") is None
    _shot(op, "1b-受理台-after-submit.png")

    # ---- 工单箱: the unit claims and resolves -----------------------------------------------
    unit = _page(browser, server, UNIT)
    row = unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{case_id}']")
    row.wait_for()
    _shot(unit, "2-工单箱-unit-inbox.png")
    row.click()
    card = unit.get_by_test_id("case-detail")
    card.wait_for()
    # A unit sees the caller masked.
    assert card.get_by_test_id("caller-phone").inner_text() == "138****2345"
    assert card.get_by_test_id("caller-name").inner_text() == "庞某"
    unit.get_by_test_id("do-claim").click()
    unit.get_by_test_id("case-detail").get_by_test_id("status").filter(has_text="已签收").wait_for()
    # 查看联系方式: the claiming unit reads the number to call the resident back.
    unit.get_by_test_id("do-contact").click()
    unit.get_by_test_id("revealed-phone").filter(has_text="13877912345").wait_for()
    unit.get_by_test_id("resolve-result").fill("已更换灯具，恢复照明。")
    _shot(unit, "2b-工单箱-claimed.png")
    unit.get_by_test_id("do-resolve").click()
    unit.get_by_test_id("case-detail").get_by_test_id("status").filter(has_text="已办结").wait_for()
    expect(unit.get_by_test_id("case-detail").get_by_test_id("timeline")).to_contain_text("查看了联系方式")

    resolved = _dashboard_numbers(leader)
    assert _count(resolved["kpi-received"]) == _count(before["kpi-received"]) + 1
    assert _count(resolved["kpi-resolved"]) == _count(before["kpi-resolved"]) + 1

    # ---- 回访: the resident is dissatisfied → 重办 ------------------------------------------
    op.get_by_test_id("tab-followup").click()
    op_row = op.locator(f"[data-testid=followup-table] tr[data-case-id='{case_id}']")
    op_row.wait_for()
    op_row.click()
    op.get_by_test_id("followup-solved").select_option("false")
    op.get_by_test_id("followup-rating").select_option("dissatisfied")
    op.get_by_test_id("do-followup").click()
    reopened = op.get_by_test_id("case-detail")
    reopened.get_by_test_id("status").filter(has_text="已派单").wait_for()
    timeline = reopened.get_by_test_id("timeline").inner_text()
    assert "回访" in timeline and "重办" in timeline
    assert timeline.count("派单") >= 2

    # The unit has it back in its inbox.
    unit.get_by_test_id("tab-inbox").click()
    unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{case_id}']").wait_for()

    # ---- 领导驾驶舱: the numbers moved ------------------------------------------------------
    after = _dashboard_numbers(leader)
    assert _count(after["kpi-received"]) == _count(before["kpi-received"]) + 1
    # 重办 undoes the resolution: the case counts as resolved again only when it is.
    assert _count(after["kpi-resolved"]) == _count(before["kpi-resolved"])
    assert _count(after["kpi-followups"]) == _count(before["kpi-followups"]) + 1
    assert _count(after["kpi-dissatisfied"]) == _count(before["kpi-dissatisfied"]) + 1
    num_b, den_b = (int(x) for x in before["satisfaction_rate"].split("/"))
    num_a, den_a = (int(x) for x in after["satisfaction_rate"].split("/"))
    assert (num_a, den_a) == (num_b, den_b + 1)
    assert leader.get_by_test_id("rate-satisfaction_rate").locator(".value").inner_text() == "0.0%"
    leader.get_by_test_id("trend-chart").wait_for()
    assert leader.locator("[data-testid=ranking-table] tbody tr").count() >= 1
    _shot(leader, "3-领导驾驶舱-dashboard.png")
    leader.screenshot(path=str(ARTIFACTS / "3b-领导驾驶舱-full.png"), full_page=True)

    # CSV export downloads the per-unit table.
    with leader.expect_download() as dl:
        leader.get_by_test_id("export-csv").click()
    csv_text = Path(dl.value.path()).read_text("utf-8-sig")
    assert "chatinglu" in csv_text and "办结率" in csv_text

    for page in (op, unit, leader):
        assert not page.errors, page.errors


def test_a_confidential_call_shows_the_unit_no_caller(browser: Any, server: str) -> None:
    """保密件: the operator ticks the box; the unit sees neither name nor number and no
    查看联系方式 button; the operator still sees both."""
    from playwright.sync_api import expect

    op = _page(browser, server, OPERATOR)
    box = op.get_by_test_id("intake-confidential")
    before = box.bounding_box()
    op.get_by_test_id("caller_phone").fill("13877954321")
    op.get_by_test_id("caller_name").fill("司马先生")
    op.get_by_test_id("address").fill("北海市海城区茶亭路幸福里小区9栋")
    op.get_by_test_id("content").fill("司马先生反映茶亭路幸福里小区9栋门口路灯不亮，电话13877954321")
    # The caller's history opens a moment after the number is typed; it must not move the
    # form's controls under the operator's pointer (it once did, and a tick missed its box).
    op.get_by_test_id("caller-history").wait_for()
    assert box.bounding_box() == before
    box.check()
    expect(box).to_be_checked()
    op.get_by_test_id("submit-case").click()
    detail = op.get_by_test_id("intake-result").get_by_test_id("case-detail")
    detail.wait_for()
    assert detail.get_by_test_id("caller-phone").inner_text() == "13877954321"
    assert detail.get_by_test_id("confidential").is_visible()
    case_id = detail.get_attribute("data-case-id")
    if detail.get_by_test_id("status").inner_text() == "待派单":
        # The router's auto-dispatch threshold left it in the manual queue: dispatch by hand.
        detail.get_by_test_id("dispatch-unit").select_option("chatinglu")
        detail.get_by_test_id("do-dispatch").click()
        op.get_by_test_id("intake-result").get_by_test_id("status").filter(has_text="已派单").wait_for()

    unit = _page(browser, server, UNIT)
    row = unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{case_id}']")
    row.wait_for()
    row.click()
    card = unit.get_by_test_id("case-detail")
    card.wait_for()
    unit.get_by_test_id("do-claim").click()
    card.get_by_test_id("status").filter(has_text="已签收").wait_for()
    assert card.get_by_test_id("caller-phone").inner_text() == "保密件，请联系中心转达"
    assert card.get_by_test_id("caller-name").inner_text() == "—"
    assert unit.get_by_test_id("do-contact").count() == 0
    page_text = unit.locator("body").inner_text()
    assert "司马" not in page_text and "13877954321" not in page_text
    assert not re.search(r"\*+4321", page_text), page_text
    for page in (op, unit):
        assert not page.errors, page.errors


def test_the_admin_sees_the_events_the_views_set_aside(browser: Any, server: str) -> None:
    """An event no view can apply, written straight into the served log: the views go on, and
    the admin's 隔离事件 tab lists it with its position, case and reason."""
    from tests.integration.test_projections_quarantine import claimed, poisoned_extension
    from tests.support.fold_oracle import make_runtime

    rt = make_runtime(f"sqlite:///{SERVED['db']}")
    try:
        rt.app.on_saved = None  # the server's catch-up meets it, not ours
        case = claimed("ui-quarantine")
        poisoned_extension(case)
        rt.app.save(case)
    finally:
        rt.close()
    admin = _page(browser, server, "demo-admin-token")
    admin.get_by_test_id("tab-quarantine").click()
    row = admin.get_by_test_id("quarantine-table").locator("tr", has_text=str(case.id))
    row.wait_for()
    expect(row).to_contain_text("ExtensionRequested")
    expect(row).to_contain_text("AttributeError")
    assert admin.get_by_test_id("quarantine-count").inner_text() == "1 个"
    _shot(admin, "4-隔离事件-admin-quarantine.png")
    assert not admin.errors, admin.errors


def _api(base: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import json

    req = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode("utf-8") if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode("utf-8"))


def _approve_hold_as_an_operator_would(op: Any, cid: str) -> None:
    """待审挂起 → 同意挂起 until the case shows 挂起中. The server's own deadline clock writes to
    cases too (this one was received in 2026 and is long overdue on a moved clock), so the
    approval can meet a write made a moment before it: the centre is told 刚被其他人修改 (409) and
    approves again, as an operator would. Any other error fails with its message."""
    suspended = op.get_by_test_id("case-detail").get_by_test_id("status").filter(has_text="挂起中")
    refused = op.locator("#toast.error")
    for _ in range(3):
        op.get_by_test_id("tab-holds").click()
        op.locator(f"[data-testid=holds-table] tr[data-case-id='{cid}']").click()
        op.get_by_test_id("do-hold-approve").click()
        suspended.or_(refused).wait_for()
        if suspended.is_visible():
            return
        message = refused.inner_text()
        assert "刚被其他人修改" in message, message
        refused.wait_for(state="hidden")
    raise AssertionError("同意挂起 was refused three times in a row")


def test_a_leaders_instruction_answered_and_a_suspension_approved(browser: Any, server: str) -> None:
    """领导批示 and 挂起 in the browser: the leader writes an instruction on a claimed case, the
    unit sees it at the top of the case and answers it, the leader's 批示跟踪 shows it answered
    on time; the unit asks to suspend, the centre approves in 待审挂起, the unit resumes."""
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-HOLD-{time.time_ns()}", "received_at": "2026-11-02 09:30:00",
        "content": "茶亭路幸福里小区3栋门口的路灯坏了一周，晚上漆黑，希望尽快修好",
        "address": "北海市海城区茶亭路幸福里小区3栋",
    })
    cid = case["id"]
    if case["status"] == "received":  # the router left it in the manual queue: dispatch by hand
        _api(server, OPERATOR, "POST", f"/api/cases/{cid}/dispatch", {"unit": "chatinglu"})
    _api(server, UNIT, "POST", f"/api/cases/{cid}/claim")

    # ---- the leader writes a 批示 -----------------------------------------------------------
    leader = _page(browser, server, LEADER)
    leader.get_by_test_id("tab-search").click()
    leader.get_by_test_id("open-id").fill(cid)
    leader.get_by_role("button", name="打开").click()
    leader.get_by_test_id("instruct-text").fill("请三日内核实路灯故障并回复处理情况")
    leader.get_by_test_id("do-instruct").click()
    leader.get_by_test_id("instruction").filter(has_text="待回复").wait_for()

    # ---- the unit sees it at the top and answers it ----------------------------------------
    unit = _page(browser, server, UNIT)
    unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{cid}']").click()
    card = unit.get_by_test_id("case-detail")
    card.get_by_test_id("instructions").filter(has_text="请三日内核实路灯故障").wait_for()
    _shot(unit, "5-领导批示-unit-sees-instruction.png")
    unit.get_by_test_id("instruction-reply-text").fill("已上门核实，供电抢修明日到场")
    unit.get_by_test_id("do-instruction-reply").click()
    unit.get_by_test_id("instruction-reply").filter(has_text="按时回复").wait_for()

    # ---- 批示跟踪 --------------------------------------------------------------------------------
    leader.get_by_test_id("tab-instructions").click()
    row = leader.locator(f"[data-testid=instructions-table] tr[data-case-id='{cid}']")
    row.wait_for()
    expect(row).to_contain_text("已回复")
    expect(row).to_contain_text("1/1/1")
    expect(leader.get_by_test_id("instruction-counts")).to_contain_text("已回复")
    _shot(leader, "6-批示跟踪-leader-tracking.png")

    # ---- 挂起: the unit asks, the centre approves, the unit resumes ------------------------------
    unit.get_by_test_id("hold-reason").fill("当事人外出务工，下周返回")
    unit.get_by_test_id("do-hold").click()
    unit.get_by_test_id("hold-state").filter(has_text="待中心审批").wait_for()
    assert unit.get_by_test_id("do-hold-approve").count() == 0  # never its own approval

    op = _page(browser, server, OPERATOR)
    _approve_hold_as_an_operator_would(op, cid)
    _shot(op, "7-待审挂起-operator-approved.png")

    unit.get_by_test_id("tab-inbox").click()
    unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{cid}']").click()
    unit.get_by_test_id("case-detail").get_by_test_id("status").filter(has_text="挂起中").wait_for()
    unit.get_by_test_id("do-resume").click()
    unit.get_by_test_id("case-detail").get_by_test_id("status").filter(has_text="已签收").wait_for()
    expect(unit.get_by_test_id("timeline")).to_contain_text("恢复办理")
    for page in (leader, unit, op):
        assert not page.errors, page.errors


def _claimed_lamp(server: str, tag: str, door: int) -> str:
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-{tag}-{time.time_ns()}", "received_at": "2026-11-02 09:30:00",
        "content": f"茶亭路{door}号门口主干道的路灯不亮了，晚上漆黑一片",
        "address": f"北海市海城区茶亭路{door}号", "caller_name": "庞女士", "caller_phone": "13877912345",
    })
    cid = str(case["id"])
    if case["status"] == "received" or case.get("assigned_unit") != "chatinglu":
        _api(server, OPERATOR, "POST", f"/api/cases/{cid}/dispatch", {"unit": "chatinglu"})
    _api(server, UNIT, "POST", f"/api/cases/{cid}/claim")
    return cid


def test_a_disputed_return_reviewed_by_the_centre(browser: Any, server: str) -> None:
    """退单审核 in the browser: the community returns a case naming the street; it is not
    re-routed but waits in the centre's 待审退单 tab (the unit cannot approve it), the operator
    approves it to the unit named, and the street sees the centre's note. A second return is
    refused: it goes back to the community with the centre's note, which the unit reads."""
    approved = _claimed_lamp(server, "RETURN-A", 61)
    refused = _claimed_lamp(server, "RETURN-R", 63)

    # ---- the unit returns, naming the street ------------------------------------------------
    unit = _page(browser, server, UNIT)
    for cid, reason in ((approved, "该路段路灯由中街街道统一管理，非社区职责"), (refused, "不归社区管")):
        unit.get_by_test_id("tab-inbox").click()
        unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{cid}']").click()
        unit.get_by_test_id("return-reason").fill(reason)
        unit.get_by_test_id("return-suggested").select_option("zhongjie")
        unit.get_by_test_id("do-return").click()
        unit.get_by_test_id("return-state").filter(has_text="待中心审核").wait_for()
        assert unit.get_by_test_id("do-review-approve").count() == 0  # never its own review
    _shot(unit, "8-退单-unit-returned-waiting.png")

    # ---- the centre's 待审退单 ----------------------------------------------------------------
    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-returns").click()
    row = op.locator(f"[data-testid=returns-table] tr[data-case-id='{approved}']")
    row.wait_for()
    expect(row).to_contain_text("茶亭路社区")
    expect(row).to_contain_text("中街街道")
    expect(op.get_by_test_id("return-pairs-table")).to_contain_text("中街街道")
    row.click()
    assert op.get_by_test_id("review-unit").input_value() == "zhongjie"  # the unit named
    op.get_by_test_id("review-note").fill("同意，请中街街道统筹维修")
    _shot(op, "9-待审退单-operator-review.png")
    op.get_by_test_id("do-review-approve").click()
    detail = op.get_by_test_id("case-detail")
    detail.get_by_test_id("assigned-unit").filter(has_text="中街街道").wait_for()
    expect(detail.get_by_test_id("timeline")).to_contain_text("退单审核")

    op.locator(f"[data-testid=returns-table] tr[data-case-id='{refused}']").click()
    op.get_by_test_id("review-note").fill("经核实该路灯属茶亭路社区维护，请继续办理")
    op.get_by_test_id("do-review-refuse").click()
    op.get_by_test_id("case-detail").get_by_test_id("assigned-unit").filter(has_text="茶亭路社区").wait_for()
    op.get_by_test_id("tab-returns").click()
    pairs = op.get_by_test_id("return-pairs-table")
    pairs.wait_for()
    cells = pairs.locator("tr", has_text="茶亭路社区").first.inner_text()
    assert "中街街道" in cells
    _shot(op, "10-退单争议-operator-pairs.png")

    # ---- the street reads the centre's note; the community gets its case back ----------------
    street = _page(browser, server, "demo-unit-zhongjie")
    street.locator(f"[data-testid=inbox-table] tr[data-case-id='{approved}']").click()
    sdetail = street.get_by_test_id("case-detail")
    sdetail.get_by_test_id("dispatch-note").filter(has_text="同意，请中街街道统筹维修").wait_for()
    assert "庞女士" not in sdetail.inner_text() and "13877912345" not in sdetail.inner_text()

    unit.get_by_test_id("tab-inbox").click()
    unit.locator(f"[data-testid=inbox-table] tr[data-case-id='{refused}']").click()
    udetail = unit.get_by_test_id("case-detail")
    udetail.get_by_test_id("return-refusal").filter(has_text="经核实该路灯属茶亭路社区维护").wait_for()
    udetail.get_by_test_id("status").filter(has_text="已签收").wait_for()
    assert "13877912345" not in udetail.inner_text()
    _shot(unit, "11-退单被驳回-unit-sees-note.png")
    for page in (unit, op, street):
        assert not page.errors, page.errors
