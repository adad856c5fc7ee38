"""Run the suite, or one CLI process a test starts, at another date.

``TEST_NOW=2027-02-08T10:00:00+08:00 python -m pytest`` moves every clock Python reads
(``datetime.now``, ``date.today``, ``time.time``) to that moment, ticking on from it, with the
maintained ``time-machine`` library; ``time.monotonic`` is left alone, so timeouts and benches
still measure real durations. The CLI processes the tests start import this module first
(``tests.faults.support.CLI``), so a server or worker in a subprocess lives on the same day.

Why: a test written in November with a record "from last week" passed until December, when the
30-day duplicate window had closed on it. CI runs the date-sensitive tests (marker
``date_sensitive``) again at a day in the 2027 Spring Festival, which the holiday package does
not know, and at one in 2031 (``scripts/test-all.sh``).
"""

from __future__ import annotations

import datetime as dt
import os
import time

import time_machine

# Not SANSHI_-prefixed: the tests hand their CLI processes an environment without SANSHI_*
# variables (tests.faults.support.cli_env), and this one must reach them.
ENV = "TEST_NOW"
_travel: time_machine.travel | None = None


def moved_to() -> dt.datetime | None:
    """The moment the clocks were moved to, or None when they run on the real date."""
    when = os.environ.get(ENV)
    if not when:
        return None
    moment = dt.datetime.fromisoformat(when)
    if moment.tzinfo is None:
        raise ValueError(f"{ENV} needs a UTC offset, got {when!r}")
    return moment


# The first process turns TEST_NOW into an offset from the real clock and hands the offset to
# the processes it starts: a worker started five minutes into the run must be five minutes past
# TEST_NOW too, or a start instant or a deadline the test computed is minutes off in it.
OFFSET_ENV = "TEST_NOW_OFFSET_SECONDS"


def start() -> None:
    global _travel
    if _travel is not None:
        return
    offset = os.environ.get(OFFSET_ENV)
    if offset is None:
        moment = moved_to()
        if moment is None:
            return
        offset = repr(moment.timestamp() - time.time())
        os.environ[OFFSET_ENV] = offset
    _travel = time_machine.travel(time.time() + float(offset), tick=True)
    _travel.start()


def stop() -> None:
    global _travel
    if _travel is not None:
        _travel.stop()
        _travel = None


start()

# While tests.support.clock_probe looks for the tests that read the clock, it watches the CLI
# processes they start too.
if os.environ.get("TEST_CLOCK_PROBE"):
    from tests.support import clock_probe

    clock_probe.install()


# How the tests start the `sanshi` CLI in a process of its own: on the moved clock when there is one.
CLI_CODE = "import tests.support.moved_clock; from adapters.cli import main; main()"
