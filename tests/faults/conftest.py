"""The long variants (SANSHI_FAULTS_LONG=1) run for hours, past the suite's 600 s per-test
timeout: give them room."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.support import LONG

HERE = Path(__file__).resolve().parent
LONG_TIMEOUT = 8 * 3600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not LONG:
        return
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            # First, so it is the closest marker over a test's own (its CI room).
            item.add_marker(pytest.mark.timeout(LONG_TIMEOUT), append=False)
