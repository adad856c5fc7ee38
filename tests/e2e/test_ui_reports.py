"""The web UI in Chromium for reports (报表) and 工单打印 (issue 19), against `sanshi serve` on a
database holding the hand-counted July 2026 month (tests/support/cohandled_month.py).

The leader opens 报表, asks for the July 月报: the sheet shows the API's rates; printed (print
media) it is the sheet alone on A4; the Excel download is named after the month and holds the
same rate. A case's 打印 shows its sheet, which prints on exactly one A4 page. Screenshots and
PDFs in test-artifacts/ (looked at).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.test_ui_flow import (  # noqa: F401
    ARTIFACTS,
    LEADER,
    OPERATOR,
    REPO,
    _api,
    _free_port,
    _page,
)
from tests.support.cohandled_month import JulyCases, july_month
from tests.support.fold_oracle import make_runtime
from tests.support.served import served

# The server's clock decides the overdue list's "as of" (not asserted): run on moved clocks too.
pytestmark = pytest.mark.date_sensitive


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


@pytest.fixture(scope="module")
def july_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, JulyCases]]:
    """July's month written through the application service, then `sanshi serve` over it."""
    db = tmp_path_factory.mktemp("reports-ui") / "sanshi.db"
    rt = make_runtime(f"sqlite:///{db}")
    try:
        cases = july_month(rt)
    finally:
        rt.close()
    env = {**os.environ, "SANSHI_DB": f"sqlite:///{db}"}
    env.pop("SANSHI_KAFKA", None)
    with served(env, tmp_path_factory.getbasetemp() / "serve-reports.log") as base:
        yield base, cases


def test_the_leader_prints_the_monthly_report_and_downloads_it(
    browser: Any, july_server: tuple[str, JulyCases]
) -> None:
    base, _ = july_server
    total = _api(base, LEADER, "GET", "/api/stats?from=2026-07-01&to=2026-08-01")["total"]
    page = _page(browser, base, LEADER)
    page.get_by_test_id("tab-reports").click()
    page.get_by_test_id("report-kind").select_option("month")
    page.get_by_test_id("report-month").fill("2026-07")
    # 生成 opens the server's A4 page in a tab of its own (never parsed into the app's page).
    with page.expect_popup() as popup:
        page.get_by_test_id("report-show").click()
    sheet = popup.value
    sheet.wait_for_url(re.compile("^blob:"))
    sheet.get_by_test_id("report-title").filter(has_text="2026年7月").wait_for()
    shown = {
        code: sheet.locator(f"[data-rate={code}] td.rp-big").inner_text()
        for code in ("handling_rate", "satisfaction_rate", "mediation_success_rate")
    }
    assert shown == {code: f"{total[code]['value'] * 100:.2f}%" for code in shown}
    assert shown["handling_rate"] == "92.31%"  # 12/13, the hand count
    assert sheet.locator("script").count() == 0
    # The stylesheet came (A4 layout), although the page lives at a blob: address.
    assert sheet.evaluate("document.styleSheets.length") >= 1
    assert sheet.evaluate("document.styleSheets[0].cssRules.length") > 0

    # Printed: the sheet, on A4.
    sheet.emulate_media(media="print")
    ARTIFACTS.mkdir(exist_ok=True)
    sheet.screenshot(path=str(ARTIFACTS / "报表-月报-print.png"), full_page=True)
    pdf = sheet.pdf(format="A4", print_background=True)
    (ARTIFACTS / "报表-月报.pdf").write_bytes(pdf)
    assert 1 <= _pdf_pages(pdf) <= 4
    sheet.emulate_media(media="screen")
    sheet.screenshot(path=str(ARTIFACTS / "报表-月报-screen.png"))
    sheet.close()

    # 下载 Excel: named after the month, the same rate inside.
    with page.expect_download() as info:
        page.get_by_test_id("report-xlsx").click()
    download = info.value
    assert download.suggested_filename == "三事月报_2026-07.xlsx"
    # The browser keeps the download under a name without an extension: read the bytes.
    overview = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))["概览"]
    assert overview["A5"].value == "办结率" and overview["D5"].number_format == "0.00%"
    assert f"{overview['D5'].value * 100:.2f}%" == "92.31%"
    assert not page.errors, page.errors


@pytest.mark.parametrize("name", ["C1", "C6"])  # the longest histories of the month
def test_a_case_prints_on_one_a4_page(
    browser: Any, july_server: tuple[str, JulyCases], name: str
) -> None:
    base, cases = july_server
    page = _page(browser, base, LEADER)
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("open-id").fill(str(cases.ids[name]))
    page.get_by_role("button", name="打开").click()
    page.get_by_test_id("case-detail").wait_for()
    sheet = _case_sheet(page)
    assert "诉求工单" in sheet.inner_text("body")
    sheet.emulate_media(media="print")
    pdf = sheet.pdf(format="A4", print_background=True)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"工单打印-{name}.pdf").write_bytes(pdf)
    sheet.screenshot(path=str(ARTIFACTS / f"工单打印-{name}-print.png"), full_page=True)
    assert _pdf_pages(pdf) == 1
    sheet.close()
    assert not page.errors, page.errors


def _case_sheet(page: Any) -> Any:
    """The case's 打印: its A4 page opens in a tab of its own and asks for the print dialog.
    The dialog is recorded instead of opened: a real one still printing when the test prints
    the page to PDF fails it ("Page is already being printed", CI's moved-clock run)."""
    page.context.add_init_script("window.print = () => { window.__printAsked = true; };")
    with page.expect_popup() as popup:
        page.get_by_test_id("print-case").click()
    sheet = popup.value
    sheet.wait_for_url(re.compile("^blob:"))
    sheet.wait_for_load_state()
    sheet.wait_for_function("() => window.__printAsked === true")
    return sheet


def test_the_longest_case_still_prints_on_one_page(
    browser: Any, july_server: tuple[str, JulyCases]
) -> None:
    """Content near the 4000-character limit and a long address: cut to fit, one page."""
    base, _ = july_server
    content = ("楼下烧烤店每天营业到凌晨三点，油烟直排、噪音扰民，多次反映无果，老人孩子无法休息。" * 100)[:3900]
    created = _api(base, OPERATOR, "POST", "/api/cases", {
        "order_no": "RPT-LONG-1", "received_at": "2026-07-20 09:30:00", "content": content,
        "address": "海城区茶亭路" + "幸福里小区东侧临街商铺" * 15, "caller_name": "王先生",
        "caller_phone": "13812345678",
    })
    page = _page(browser, base, LEADER)
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("open-id").fill(created["id"])
    page.get_by_role("button", name="打开").click()
    page.get_by_test_id("case-detail").wait_for()
    sheet = _case_sheet(page)
    expect(sheet.get_by_test_id("print-content")).to_contain_text("全文见系统")
    sheet.emulate_media(media="print")
    pdf = sheet.pdf(format="A4", print_background=True)
    sheet.screenshot(path=str(ARTIFACTS / "工单打印-long-print.png"), full_page=True)
    assert _pdf_pages(pdf) == 1
    assert not page.errors, page.errors
