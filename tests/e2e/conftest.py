"""The browser the UI walks share: one Chromium (and one Playwright driver) per test process,
not one per module. Starting them cost each module about a second of both cores, and CI runs
the walks three times (the suite and two moved clocks). A module's windows are closed when it
ends, so no page of a finished walk keeps polling a server that is gone."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_ui_flow import CHROMIUM, CHROMIUM_ARGS, _unavailable

_LAUNCHED: list[Any] = []


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python Playwright is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        _LAUNCHED.append(b)
        try:
            yield b
        finally:
            _LAUNCHED.remove(b)
            b.close()


@pytest.fixture(autouse=True, scope="module")
def _close_the_modules_windows() -> Iterator[None]:
    yield
    for b in _LAUNCHED:
        for context in list(b.contexts):
            context.close()
