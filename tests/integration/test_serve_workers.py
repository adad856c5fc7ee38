"""`sanshi serve --workers 2` on PostgreSQL: two server processes behind one port keep the
guarantees of one. Which process answers a new connection is the kernel's choice, so the test
picks it: it pauses the other process (SIGSTOP; a paused process accepts nothing, the running
one takes the connection), briefly, since uvicorn's supervisor restarts a worker that does not
answer its health check for 5 s."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from engine.deadlines import SHANGHAI
from tests.faults.support import CLI, REPO, cli_env
from tests.support.api import OPERATOR, auth
from tests.support.processes import stop_process
from tests.support.services import free_port

pytestmark = pytest.mark.postgres


def _children(pid: int) -> list[int]:
    """The worker processes uvicorn spawned (not multiprocessing's resource tracker)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return sorted(out)


def _database_ports(pid: int, server_port: int) -> set[int]:
    """The local TCP ports of ``pid``'s connections to the database server on ``server_port``:
    its sockets (``/proc/PID/fd``) matched to the kernel's TCP table by inode."""
    inodes = set()
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def _in_transaction(database_url: str, pids: list[int]) -> list[str]:
    """What the sessions of ``pids`` are doing, for those not idle: a transaction open (a
    view's catch-up holds the views' position row until it commits) or a statement running."""
    port = int(database_url.rsplit(":", 1)[1].split("/", 1)[0])
    ports = set().union(*(_database_ports(pid, port) for pid in pids))
    if not ports:
        return []
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT client_port, state, left(query, 80) FROM pg_stat_activity "
            "WHERE client_port = ANY(%s) AND state <> 'idle'", (list(ports),),
        ).fetchall()
    return [f"{p} {state}: {query}" for p, state, query in rows]


@contextmanager
def only(worker: int, workers: list[int], database_url: str) -> Iterator[None]:
    """Every new connection meanwhile is served by ``worker``: the others are paused, at a
    moment when none of them is inside a database transaction. Paused inside one (its views'
    catch-up after its last write, a thread, takes milliseconds idle and seconds on a loaded
    machine), it would hold the views' position row, and the running process's reads would
    wait for it past any timeout."""
    paused = [w for w in workers if w != worker]
    deadline = time.monotonic() + 120
    while True:
        for w in paused:
            os.kill(w, signal.SIGSTOP)
        busy = _in_transaction(database_url, paused)
        if not busy:
            break
        for w in paused:
            os.kill(w, signal.SIGCONT)
        assert time.monotonic() < deadline, f"still in a transaction after 120 s: {busy}"
        time.sleep(0.2)
    try:
        yield
    finally:
        for w in paused:
            os.kill(w, signal.SIGCONT)


def call(method: str, url: str, **kw: Any) -> httpx.Response:
    # A fresh connection each time: a kept-alive one would stay with the process that took it.
    with httpx.Client(timeout=30) as client:
        return client.request(method, url, **kw)


WARM_UP = ("幸福小区3号楼电梯故障，老人上下楼困难", "学校门口路灯坏了一个月，晚上很黑")


def record(order_no: str, content: str = "东一巷菜场门口占道经营，摊位堵住了路，早上买菜的人过不去") -> dict[str, str]:
    return {
        "order_no": order_no,
        "received_at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
        "content": content,
        "caller_phone": "13912340000",
    }


@pytest.fixture
def two_workers(fresh_postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, list[int], str]]:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        # Paused processes answer no ping: the supervisor must not replace them meanwhile.
        [*CLI, "serve", "--workers", "2", "--port", str(port), "--clock-interval", "0",
         "--worker-healthcheck", "600", "--log-level", "warning"],
        cwd=REPO, env=cli_env(fresh_postgres_url), stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        workers: list[int] = []
        while len(workers) < 2:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "sanshi serve --workers 2 did not start two workers"
            time.sleep(0.5)
            workers = _children(proc.pid)
        # Each one started: it answers while the other is paused.
        for w in workers:
            while True:
                with only(w, workers, fresh_postgres_url):
                    try:
                        if call("GET", base + "/healthz", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                assert proc.poll() is None and time.monotonic() < deadline, (
                    f"worker {w} did not answer (children now {_children(proc.pid)}):\n"
                    + (tmp_path / "serve.log").read_text(errors="replace")[-4000:]
                )
                time.sleep(1)
        yield base, workers, fresh_postgres_url
    finally:
        stop_process(proc, grace=30)
        log.close()


def test_a_case_created_through_one_process_is_claimed_through_the_other(
    two_workers: tuple[str, list[int], str],
) -> None:
    base, (first, second), url = two_workers
    # Warm both (the first create loads the sentence model), one at a time, with other matters
    # (the same one would be merged into the first as a repeat report).
    for n, w in enumerate((first, second)):
        with only(w, [first, second], url):
            assert call("POST", base + "/api/cases", json=record(f"WW00000{n}", WARM_UP[n]),
                        headers=auth(OPERATOR)).status_code == 201

    with only(first, [first, second], url):
        created = call("POST", base + "/api/cases", json=record("WW100001"), headers=auth(OPERATOR))
        case = created.json()
        if created.status_code == 201 and case["status"] == "received":
            # Left to the centre (the router not sure enough): the operator dispatches it.
            case = call("POST", f"{base}/api/cases/{case['id']}/dispatch",
                        json={"unit": "chengguan"}, headers=auth(OPERATOR)).json()
    assert created.status_code == 201, created.text
    assert case["status"] == "dispatched", json.dumps(case, ensure_ascii=False)[:3000]
    unit = case["assigned_unit"]

    with only(second, [first, second], url):
        # The same order number through the other process: the same case, not a second one.
        again = call("POST", base + "/api/cases", json=record("WW100001"), headers=auth(OPERATOR))
        # The unit's inbox (a view) there already lists it: read-your-writes across processes.
        inbox = call("GET", f"{base}/api/units/{unit}/inbox", headers=auth(f"demo-unit-{unit}"))
        claimed = call("POST", f"{base}/api/cases/{case['id']}/claim", json={},
                       headers=auth(f"demo-unit-{unit}"))
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and again.json()["id"] == case["id"]
    assert inbox.status_code == 200, inbox.text
    assert case["id"] in inbox.text
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "claimed"

    with only(first, [first, second], url):
        # Back in the first process: it sees the claim, and a second claim is refused.
        seen = call("GET", f"{base}/api/cases/{case['id']}", headers=auth(OPERATOR))
        twice = call("POST", f"{base}/api/cases/{case['id']}/claim", json={},
                     headers=auth(f"demo-unit-{unit}"))
        listed = call("GET", f"{base}/api/cases", params={"status": "claimed"}, headers=auth(OPERATOR))
    assert seen.status_code == 200 and seen.json()["status"] == "claimed", seen.text
    assert twice.status_code == 409, twice.text
    assert listed.status_code == 200 and case["id"] in listed.text, listed.text


def test_more_workers_need_postgresql(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "serve", "--workers", "2", "--port", str(free_port())],
        cwd=REPO, env=cli_env(f"sqlite:///{tmp_path / 'one.db'}"), capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "PostgreSQL" in done.stderr
