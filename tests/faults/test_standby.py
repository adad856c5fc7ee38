"""One of each duty, with a standby (issue #21, adapters/leases.py): two processes contend for
a duty on PostgreSQL, one does it, the other waits; the holder is SIGKILLed and the standby
takes over within seconds, without doing anything twice.

- the deadline clock (督办) in two ``sanshi worker`` processes: exactly one escalates; after the
  kill the other escalates what comes due, and every deadline is escalated once in the log;
- ``sanshi projections follow`` twice: one applies the log, the other applies nothing until
  the holder dies, then continues from where it stopped; the views equal a rebuild.

The take-over time (from the SIGKILL to the standby holding the lock in ``pg_locks``) is
printed; docs/architecture.md ("Duties and standbys") has the figures.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime
from adapters.leases import DEADLINE_CLOCK, PROJECTIONS_FOLLOW, holder
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from projections.wiring import views_left_alone
from tests.faults.support import CLI, REPO, assert_views_equal_rebuild, cli_env, wait_for
from tests.support.fold_oracle import make_runtime
from tests.support.processes import stop_process

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LONG_AGO = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday: every deadline long past
TAKEOVER_LIMIT = 5.0  # seconds: the standby asks every second
ROADS = ("茶亭路", "珠海路", "北部湾中路", "中山东路", "贵州路", "四川路", "合浦路", "云南路", "湖北路",
         "海角路", "湛江路", "地角路", "怡秀路", "驿马路", "长青路")
ISSUES = ("门口的路灯不亮了，晚上黑乎乎的", "下水道堵塞反味好几天了", "人行道的地砖松动翘起来了",
          "垃圾桶满了没人清运", "公交站台顶棚损坏漏雨")
_numbers = itertools.count()  # every case of a run its own road, complaint and number
ESCALATED_LINE = re.compile(r"deadline clock: (\d+) deadlines escalated")


class Proc:
    """A ``sanshi`` CLI process writing its stdout and stderr to a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env, self.log, self.args = env, log, args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*CLI, *self.args], env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def check(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"exited: {self.text()[-3000:]}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def holder_pid(rt: Runtime, duty: str) -> int | None:
    name = holder(rt.views_engine, duty, rt.config.district.id)
    return None if name is None else int(name.rsplit(":", 1)[1])


def take_over_seconds(rt: Runtime, duty: str, holding: Proc, standby: Proc) -> float:
    """SIGKILL the holder; seconds until the standby holds the duty's lock."""
    assert holder_pid(rt, duty) == holding.pid
    killed = time.monotonic()
    holding.kill()
    wait_for(lambda: holder_pid(rt, duty) == standby.pid, 30, f"{duty} taken over", every=0.02,
             check=standby.check)
    return time.monotonic() - killed


def write_cases(rt: Runtime, n: int, tag: str) -> list[UUID]:
    """``n`` cases received long ago and routed; returns the dispatched ones (to a community):
    every deadline of theirs has passed."""
    cmds = []
    for _ in range(n):
        i = next(_numbers)
        cmds.append(IntakeCommand(
            channel=Channel.HOTLINE,
            source_ref=f"SB{tag}{i:04d}",
            received_at=LONG_AGO,
            # Different roads and complaints: none is a duplicate of another (合并).
            content=f"{ROADS[i % len(ROADS)]}{i}号{ISSUES[i // len(ROADS) % len(ISSUES)]}（{tag}{i}）",
            address=f"海城区{ROADS[i % len(ROADS)]}{i}号",
            caller_name="张伟",
            caller_phone="13812345678",
        ))
    results = rt.app.receive_batch(cmds)
    return [r.case_id for r in results if r.status == "dispatched"]  # not the merged ones


class Writer:
    """Keeps adding cases in a thread until stopped (the log grows while the holder dies)."""

    def __init__(self, rt: Runtime, per_turn: int, every: float) -> None:
        self.rt, self.per_turn, self.every = rt, per_turn, every
        self.cases: list[UUID] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        turn = 0
        try:
            while not self._stop.is_set():
                self.cases += write_cases(self.rt, self.per_turn, f"w{turn}-")
                turn += 1
                self._stop.wait(self.every)
        except BaseException as e:  # reported by the test
            self.errors.append(e)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self.errors, self.errors


@pytest.fixture
def writer_runtime(fresh_postgres_url: str) -> Iterator[Runtime]:
    """The test's own writer: no catch-up of the views (only the processes under test move
    them)."""
    with views_left_alone():
        rt = make_runtime(fresh_postgres_url)
    try:
        yield rt
    finally:
        rt.close()


# ---- the deadline clock ----------------------------------------------------------------------


def escalations(rt: Runtime, cases: list[UUID]) -> Counter[tuple[UUID, str]]:
    """Escalated events in the log, per case and deadline."""
    counts: Counter[tuple[UUID, str]] = Counter()
    for cid in cases:
        for e in rt.app.events.get(cid):
            if type(e).__name__ == "Escalated":
                counts[(cid, e.key)] += 1  # type: ignore[attr-defined]
    return counts


def all_escalated(rt: Runtime, cases: list[UUID]) -> bool:
    now = dt.datetime.now(SHANGHAI)
    return all(not rt.app.get_case(cid).overdue_deadlines(now) for cid in cases)


def escalated_in(text: str) -> int:
    return sum(int(n) for n in ESCALATED_LINE.findall(text))


# The workers' clock reads today's date (every case here is long overdue on any day after its
# fixed intake instant).
@pytest.mark.kafka
@pytest.mark.date_sensitive
def test_two_workers_run_one_deadline_clock_and_the_standby_takes_over_on_sigkill(
    kafka_bootstrap: str, fresh_postgres_url: str, writer_runtime: Runtime, tmp_path: Path
) -> None:
    rt = writer_runtime
    prefix = f"sb{uuid.uuid4().hex[:8]}."
    env = cli_env(
        fresh_postgres_url, kafka_bootstrap, prefix, SANSHI_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1"
    )
    cases = write_cases(rt, 15, "a")
    assert len(cases) == 15

    def worker(name: str) -> Proc:
        return Proc(env, tmp_path / f"worker-{name}.log", "worker", "--clock-interval", "1",
                    "--router", "keyword", "--instance-id", f"{prefix}{name}")

    a, b = worker("a"), worker("b")
    try:
        a.start()
        wait_for(lambda: holder_pid(rt, DEADLINE_CLOCK) == a.pid, 90, "worker a to hold the clock",
                 every=0.2, check=a.check)
        b.start()
        wait_for(lambda: "duty deadline_clock: held by" in b.text(), 90, "worker b to stand by",
                 every=0.2, check=b.check)
        wait_for(lambda: all_escalated(rt, cases), 60, "the first cases escalated", every=0.3,
                 check=a.check)
        before = escalations(rt, cases)
        # Exactly one clock: every escalation so far is worker a's.
        assert sum(before.values()) == escalated_in(a.text()) > 0
        assert escalated_in(b.text()) == 0
        assert holder_pid(rt, DEADLINE_CLOCK) == a.pid

        with Writer(rt, per_turn=3, every=0.3) as writer:
            time.sleep(1.5)  # a escalates the new ones as they come
            seconds = take_over_seconds(rt, DEADLINE_CLOCK, a, b)
            time.sleep(2.0)
        cases += writer.cases
        wait_for(lambda: all_escalated(rt, cases), 60, "every case escalated", every=0.3,
                 check=b.check)
        counts = escalations(rt, cases)
        twice = {k: n for k, n in counts.items() if n > 1}
        assert not twice, f"escalated more than once: {list(twice)[:3]}"
        assert {cid for cid, _ in counts} == set(cases)
        # b escalated only after it took the clock over, and it did escalate.
        log_b = b.text()
        took = log_b.index("duty deadline_clock: took over")
        assert escalated_in(log_b[:took]) == 0
        assert escalated_in(log_b[took:]) > 0
    finally:
        a.stop()
        b.stop()
    assert seconds < TAKEOVER_LIMIT
    print(
        f"\ndeadline clock: worker SIGKILLed, the standby took over in {seconds:.2f}s; "
        f"{sum(counts.values())} escalations of {len(cases)} cases, none twice"
    )


# ---- projections follow --------------------------------------------------------------------


def test_two_followers_one_applies_and_the_standby_continues_after_sigkill(
    fresh_postgres_url: str, writer_runtime: Runtime, tmp_path: Path
) -> None:
    rt = writer_runtime
    env = cli_env(fresh_postgres_url, SANSHI_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    write_cases(rt, 200, "f")
    projector = rt.projector

    def follower(name: str) -> Proc:
        return Proc(env, tmp_path / f"follow-{name}.log", "projections", "follow",
                    "--poll-interval", "0.2")

    a, b = follower("a"), follower("b")
    try:
        a.start()
        wait_for(lambda: holder_pid(rt, PROJECTIONS_FOLLOW) == a.pid, 60, "follower a to hold",
                 every=0.1, check=a.check)
        b.start()
        wait_for(lambda: "本进程待命" in b.text(), 60, "follower b to stand by", every=0.1,
                 check=b.check)
        wait_for(lambda: projector.position() == projector.head(), 60, "a to catch up",
                 check=a.check)
        first_head = projector.head()
        with Writer(rt, per_turn=20, every=0.1):
            wait_for(lambda: projector.position() > first_head, 60, "a to follow the live log",
                     check=a.check)
            applied_by_a = projector.position()
            seconds = take_over_seconds(rt, PROJECTIONS_FOLLOW, a, b)
            time.sleep(1.5)  # b follows the growing log
        head = projector.head()
        wait_for(lambda: projector.position() == head, 60, "b to catch up", check=b.check)
        b.stop()
        out = b.text()
        took_at = int(re.search(r"已接管视图更新：视图位置 (\d+)", out).group(1))  # type: ignore[union-attr]
        applied_by_b = int(re.search(r"本次应用 (\d+) 个事件", out).group(1))  # type: ignore[union-attr]
        # b applied nothing while a held the duty: exactly the events after the take-over.
        assert took_at >= applied_by_a
        assert applied_by_b == head - took_at > 0
        assert "duty projections_follow: took over" in out
        events = assert_views_equal_rebuild(rt.app, rt.views_engine, tmp_path)
    finally:
        a.stop()
        b.stop()
    assert seconds < TAKEOVER_LIMIT
    print(
        f"\nprojections follow: holder SIGKILLed at position {took_at}, the standby took over in "
        f"{seconds:.2f}s and applied the remaining {applied_by_b} events; views equal a replay "
        f"of {events} events"
    )
