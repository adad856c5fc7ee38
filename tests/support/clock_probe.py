"""Which tests read the wall clock? A pytest plugin that answers it, for the ``date_sensitive`` marker.

    TEST_CLOCK_PROBE=/tmp/probe.tsv python -m pytest -p tests.support.clock_probe tests/unit/test_x.py

appends one line ``nodeid<TAB>file:line<TAB>call`` to that file for each place in the project's own
code (engine/, adapters/, projections/, tests/, bench/) that read ``datetime.now``, ``date.today``,
``time.time`` and the like while that test ran (its fixtures included), in the test process, its
threads, and the CLI processes it starts (they import tests.support.moved_clock, which installs
this probe in them too; they learn the test from PYTEST_CURRENT_TEST). Reads by the servers'
fixtures (tests/support/services.py) and by the clock mover itself are left out: they measure
start-up time, not a date a test's outcome could hang on.

Why: a test whose code never reads the clock passes on every date, so running it again on a moved
clock (scripts/test-all.sh) only costs time. A test that does read it is a candidate for the
marker; whether its outcome can depend on the date is then a reading of the test. The browser's
own clock (tests/e2e) is not seen here.

It uses ``sys.setprofile``: several times slower. A tool for a one-off look, not for CI.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

ENV = "TEST_CLOCK_PROBE"
_ROOT = str(Path(__file__).resolve().parent.parent.parent) + os.sep
_OWN = tuple(_ROOT + d + os.sep for d in ("engine", "adapters", "projections", "tests", "bench"))
_IGNORED = tuple(
    _ROOT + p for p in ("tests/support/services.py", "tests/support/moved_clock.py", "tests/support/clock_probe.py")
)
_READS = {
    dt.datetime.now: "datetime.now",
    dt.datetime.today: "datetime.today",
    dt.datetime.utcnow: "datetime.utcnow",
    dt.date.today: "date.today",
    time.time: "time.time",
    time.time_ns: "time.time_ns",
    time.localtime: "time.localtime",
    time.gmtime: "time.gmtime",
    time.ctime: "time.ctime",
    time.strftime: "time.strftime",
}
_seen: set[tuple[str, str, str]] = set()
_lock = threading.Lock()
_installed = False


def _current_test() -> str:
    # pytest sets it for each phase of each test: "path::name (call)"; a CLI child inherits it.
    return os.environ.get("PYTEST_CURRENT_TEST", "-").rsplit(" ", 1)[0]


def _profile(frame: FrameType, event: str, arg: Any) -> None:
    if event != "c_call":
        return
    try:
        what = _READS.get(arg)
    except TypeError:  # an unhashable callable
        return
    if what is None:
        return
    where = frame.f_code.co_filename
    if not where.startswith(_OWN) or where.startswith(_IGNORED):
        return
    key = (_current_test(), f"{where[len(_ROOT):]}:{frame.f_lineno}", what)
    if key not in _seen:
        with _lock:
            _seen.add(key)


def _flush() -> None:
    path = os.environ.get(ENV)
    if not path or not _seen:
        return
    with _lock, open(path, "a", encoding="utf-8") as out:
        for key in sorted(_seen):
            out.write("\t".join(key) + "\n")
        _seen.clear()


def install() -> None:
    """Watch this process and the threads it starts from now on; write the findings at exit."""
    global _installed
    if _installed:
        return
    _installed = True
    threading.setprofile(_profile)
    sys.setprofile(_profile)
    atexit.register(_flush)


def pytest_configure(config: object) -> None:
    if not os.environ.get(ENV):
        raise RuntimeError(f"{ENV}=<file> names where the probe writes")
    install()


def pytest_unconfigure(config: object) -> None:
    _flush()
