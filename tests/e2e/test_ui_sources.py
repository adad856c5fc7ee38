"""媒体监督, 诉前调解 and 镇呼市应 on the case page in a real browser (tests/e2e/test_ui_flow.py's
server and Chromium): the operator opens each case and sees where it came from (the report and
its address, the court's referral without its case number, the street that asked which department).
Screenshots: test-artifacts/ and /tmp/sanshi-sources-*.png."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.e2e.test_ui_flow import OPERATOR, REPO, SERVED, _api, _page, _shot, server
from tests.support.moved_clock import CLI_CODE

pytestmark = pytest.mark.date_sensitive
__all__ = ["server"]


def _letters(n: int, length: int = 8) -> str:
    return "".join(chr(ord("a") + n // 26**i % 26) for i in range(length))


def _open(page: Any, words: str) -> Any:
    """Search for the case and open it. The court case was written by another process (the
    CLI); the server's views read it from the log at the next read, so on a loaded machine the
    first search can come before it, and the operator searches again, as this does for 60 s."""
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("search-q").fill(words)
    first = page.locator("[data-testid=search-table] tr[data-case-id]").filter(has_text=words).first
    deadline = time.monotonic() + 60
    while True:
        page.get_by_test_id("search-q").press("Enter")
        try:
            first.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
    first.click()
    detail = page.get_by_test_id("case-detail")
    detail.get_by_test_id("case-content").filter(has_text=words).wait_for()
    detail.get_by_test_id("case-source").wait_for()
    detail.get_by_test_id("case-source").scroll_into_view_if_needed()
    return detail


def test_the_case_page_shows_the_source_of_media_court_and_town_cases(
    browser: Any, server: str, tmp_path: Path
) -> None:
    n = time.time_ns()
    # One search word each, in letters only: digits could be masked as an identifier (a hex
    # mark with no letter, "m34005747", is a letter and 8 digits: a passport number).
    mark = {k: k + _letters(n // d) for k, d in (("m", 1), ("c", 7), ("t", 13))}
    url = f"https://www.bhrb.example.cn/2026-11/03/content_{n}.html"
    _api(server, OPERATOR, "POST", "/api/intake/media", {
        "outlet": "北海日报", "title": "茶亭路路灯熄灭近月", "url": url,
        "published_at": "2026-11-03T07:30:00+08:00",
        "passage": f"记者走访发现，茶亭路幸福里小区门前路灯熄灭近一个月（报道{mark['m']}）",
        "address": "北海市海城区茶亭路幸福里小区",
    })
    _api(server, OPERATOR, "POST", "/api/intake/town", {
        "street": "zhongjie", "request_no": f"ZJ-{n}", "received_at": "2026-11-03T09:00:00+08:00",
        "content": f"珠海路中段雨水管网老化，请求区住建局列入改造计划（请求{mark['t']}）", "department": "zhujian",
    })
    number = f"（2026）桂0502民诉前调{n % 100000}号"
    referral = tmp_path / "court.jsonl"
    record = {
        "case_no": number, "received_at": "2026-11-03 10:00", "court": "北海市海城区人民法院",
        "dispute_type": "相邻关系纠纷", "summary": f"楼上漏水至楼下，经法院引导同意诉前调解（委派{mark['c']}）",
        "applicant_name": "黄丽华", "applicant_phone": "13977912001", "address": "北海市海城区茶亭路26号",
    }
    referral.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    env = {**os.environ, "SANSHI_DB": f"sqlite:///{SERVED['db']}"}
    env.pop("SANSHI_KAFKA", None)
    done = subprocess.run([sys.executable, "-c", CLI_CODE, "ingest", "court", str(referral)],
                          cwd=REPO, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()

    op = _page(browser, server, OPERATOR)
    media = _open(op, mark["m"])
    source = media.get_by_test_id("case-source")
    expect(source).to_contain_text("媒体报道")
    expect(source).to_contain_text("北海日报")
    assert source.get_by_test_id("source-report-url").inner_text() == url
    assert source.get_by_test_id("source-title").inner_text() == "茶亭路路灯熄灭近月"
    shutil.copy(_shot(op, "21-来源-media.png"), "/tmp/sanshi-sources-1-media.png")

    court = _open(op, mark["c"])
    text = court.get_by_test_id("case-source").inner_text()
    assert "诉前调解委派" in text and "相邻关系纠纷" in text and "北海市海城区人民法院" in text
    assert "民诉前调" not in court.inner_text()  # the number is not on the page, only its hash was kept
    expect(court.get_by_test_id("assigned-unit")).to_contain_text("中街司法所")
    shutil.copy(_shot(op, "22-来源-court.png"), "/tmp/sanshi-sources-2-court.png")

    town = _open(op, mark["t"])
    expect(town.get_by_test_id("source-requesting-unit")).to_contain_text("中街街道")
    expect(town.get_by_test_id("source-department")).to_contain_text("住房和城乡建设局")
    shutil.copy(_shot(op, "23-来源-town.png"), "/tmp/sanshi-sources-3-town.png")
    assert not op.errors, op.errors
