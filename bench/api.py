"""The HTTP API under concurrent load: an operator creates a hotline case (``POST /api/cases``,
routed in-process, 201 with the case) and the unit it was dispatched to claims it
(``POST /api/cases/{id}/claim`` with that unit's token), over and over from many connections,
against the same app's ``GET /healthz`` under the same load (same tool, connections, duration).

The server is ``sanshi serve`` (uvicorn, embedded mode: the views catch up in a thread woken by
each save and before every read; ``--workers N`` processes behind the port) in
its own process on PostgreSQL. The load tool is ``wrk`` (Debian package) with a Lua script when
it is installed, else a small httpx asyncio client in its own process; ``--kafka`` needs wrk.

    python -m bench.api [--seconds 20] [--connections 16] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    REPO,
    Result,
    Services,
    higher_is_better,
    print_table,
    psycopg_dsn,
    stream_items,
)
from tests.support.processes import stop_process
from tests.support.services import free_port, port_open

OPERATOR = "demo-operator-token"
BODIES = 300  # distinct complaint texts the load cycles through


def hotline_bodies(n: int = BODIES) -> list[dict[str, Any]]:
    """Request bodies from the simulated stream's texts, received now (order_no set later)."""
    now = dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
    out = []
    for item in stream_items(n):
        c = item.command
        out.append({"order_no": "", "received_at": now, "content": c.content,
                    "address": c.address, "caller_phone": c.caller_phone or "13800000000",
                    "caller_name": c.caller_name})
    return out


# ---- the server -------------------------------------------------------------------------------


def start_server(db_url: str, port: int, workers: int = 1,
                 kafka: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``kafka``: SANSHI_KAFKA and its prefix; creates then answer 202 once the broker has the
    record (受理), and routing happens in ``sanshi worker`` (:func:`start_intake_worker`)."""
    env = {**os.environ, "SANSHI_DB": db_url, "PYTHONPATH": str(REPO)}
    for key in ("SANSHI_KAFKA", "SANSHI_KAFKA_PREFIX"):
        env.pop(key, None)
    env.update(kafka or {})
    proc = subprocess.Popen(
        [sys.executable, "-c", "from adapters.cli import main; main()", "serve",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sanshi serve exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        if port_open(port):
            return proc
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("sanshi serve did not open its port")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc, grace=20)


def start_intake_worker(db_url: str, kafka: dict[str, str], log: Path,
                        nice: int = 0) -> subprocess.Popen[bytes]:
    """``sanshi worker``: routes what the API handed to Kafka (the deadline clock is off, as in
    the other benches: it is a separate duty). ``nice``: the worker's CPU priority below the
    server's, to try on one host whether the operator's click should go first and routing,
    which nobody waits on at 受理, take what is left (the lag it builds is the row "routed
    after the load ends"); not adopted in docker-compose.yml (bench/RESULTS.md)."""
    env = {**os.environ, "SANSHI_DB": db_url, "PYTHONPATH": str(REPO), **kafka,
           "SANSHI_LOG_LEVEL": "WARNING"}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from adapters.cli import main; main()", "worker",
             "--clock-interval", "0"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the server and its worker processes (Linux ``/proc``; 0 elsewhere):
    CPU per request moves less with other load on the machine than requests per second."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


# ---- wrk ------------------------------------------------------------------------------------

# The parts both loads share: each thread's number and counters, a create of the next body
# (its order number made unique), a claim by the unit's token, and the summary line.
LUA_COMMON = r"""
local bodies = {%(bodies)s}
local operator = "%(operator)s"
local counter = 0
tid = 0  -- global: setup() gives each thread its own number
threads = {}

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

function init(args)
  created = 0; claimed = 0; errors = 0
end

function create()
  counter = counter + 1
  local body = bodies[(counter %% #bodies) + 1]
  body = string.gsub(body, "@@ORDER@@", "%(prefix)s-" .. tid .. "-" .. counter)
  return wrk.format("POST", "/api/cases",
    {["Authorization"] = "Bearer " .. operator, ["Content-Type"] = "application/json"}, body)
end

function claim(id, unit)
  return wrk.format("POST", "/api/cases/" .. id .. "/claim",
    {["Authorization"] = "Bearer demo-unit-" .. unit, ["Content-Type"] = "application/json"}, "{}")
end

-- Counts one answer: the create's own status (201 embedded, 202 Kafka), a claim's 200, or an
-- error. True for a create, whose body the embedded load reads for the case to claim next.
function tally(status, created_status)
  if status == created_status then
    created = created + 1
    return true
  elseif status == 200 then
    claimed = claimed + 1
  else
    errors = errors + 1
  end
  return false
end

function done(summary, latency, requests)
  local c, k, e = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); k = k + t:get("claimed"); e = e + t:get("errors")
  end
  io.write(string.format(
    'WRKJSON {"requests": %%d, "seconds": %%.3f, "p50_ms": %%.2f, "p90_ms": %%.2f, "p99_ms": %%.2f, "errors_socket": %%d, "non2xx": %%d, "created": %%d, "claimed": %%d, "errors": %%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, c, k, e))
end
"""

# Embedded mode: each create is answered with the routed case (201), which is claimed next.
WRK_LUA = LUA_COMMON + r"""
local pending = nil  -- {id, unit} of the case just created, to be claimed next

function request()
  if pending ~= nil then
    local p = pending
    pending = nil
    return claim(p[1], p[2])
  end
  return create()
end

function response(status, headers, body)
  if tally(status, 201) then
    local id = string.match(body, '"id":"([%%w%%-]+)"')
    local unit = string.match(body, '"assigned_unit":"([%%w%%-_]+)"')
    local st = string.match(body, '"status":"(%%w+)"')
    if id ~= nil and unit ~= nil and st == "dispatched" then pending = {id, unit} end
  end
end
"""

# Kafka mode: a create answers 202 when the broker has the record, before it is routed, so the
# claim that follows it is of a case created before the load and already dispatched (a clerk
# claims what is in the inbox, not what the operator typed a millisecond ago).
KAFKA_LUA = LUA_COMMON + r"""
local pool = {%(pool)s}
local nthreads = %(threads)d
local turn = 0
local taken = 0

function request()
  turn = turn + 1
  if turn %% 2 == 0 then
    local i = tid + taken * nthreads
    if i <= #pool then
      taken = taken + 1
      return claim(pool[i][1], pool[i][2])
    end
  end
  return create()
end

function response(status, headers, body)
  tally(status, 202)
end
"""

HEALTH_LUA = r"""
function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "errors_socket": %d, "non2xx": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def _lua_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def run_wrk(url: str, script: str, seconds: float, connections: int) -> dict[str, Any]:
    """One wrk run; when not one request completed (a 2-second run on a machine busy enough
    that every answer took longer: ci18, the smoke test's size), run again for twice as long,
    up to 16 s: a rate of 0 is no measurement, and a baseline of 0 makes every ratio meaningless."""
    out = _run_wrk_once(url, script, seconds, connections)
    while out["requests"] == 0 and seconds < 16:
        seconds = max(2.0, seconds) * 2
        out = _run_wrk_once(url, script, seconds, connections)
    return out


def _run_wrk_once(url: str, script: str, seconds: float, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as f:
        f.write(script)
        path = f.name
    try:
        proc = subprocess.run(
            # At least 2 s: in a 1-second run on a busy machine /healthz completed no request
            # (the smoke test's tiny size, CI with wrk installed), a baseline of 0.
            ["wrk", "-t", "2", "-c", str(connections), "-d", f"{max(2, round(seconds))}s",
             "--timeout", "30s", "--latency", "-s", path, url],
            capture_output=True, text=True, timeout=seconds + 120,
        )
    finally:
        os.unlink(path)
    m = re.search(r"WRKJSON (\{.*\})", proc.stdout)
    if not m:
        raise RuntimeError(f"wrk failed:\n{proc.stdout}\n{proc.stderr}")
    out: dict[str, Any] = json.loads(m.group(1))
    out["rps"] = out["requests"] / out["seconds"] if out["seconds"] else 0.0
    out["tool"] = "wrk"
    return out


def _lua_bodies() -> str:
    """The load's request bodies as a Lua list, each with an order number to fill in."""
    return ",\n".join(
        _lua_string(json.dumps({**b, "order_no": "@@ORDER@@"}, ensure_ascii=False))
        for b in hotline_bodies()
    )


def wrk_create_claim(base: str, seconds: float, connections: int, prefix: str) -> dict[str, Any]:
    script = WRK_LUA % {"bodies": _lua_bodies(), "operator": OPERATOR, "prefix": prefix}
    return run_wrk(base, script, seconds, connections)


def wrk_create_claim_kafka(base: str, seconds: float, connections: int, prefix: str,
                           pool: list[tuple[str, str]]) -> dict[str, Any]:
    script = KAFKA_LUA % {
        "bodies": _lua_bodies(), "operator": OPERATOR, "prefix": prefix, "threads": 2,
        "pool": ",\n".join(f"{{{_lua_string(i)}, {_lua_string(u)}}}" for i, u in pool),
    }
    return run_wrk(base, script, seconds, connections)


# ---- httpx fallback (no wrk) -----------------------------------------------------------------


async def _httpx_load(base: str, seconds: float, connections: int, mode: str,
                      bodies: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    counts = {"created": 0, "claimed": 0, "errors": 0}
    stop = time.perf_counter() + seconds

    async def one(client: httpx.AsyncClient, worker: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            if mode == "health":
                r = await client.get("/healthz")
                latencies.append(time.perf_counter() - t0)
                counts["errors"] += r.status_code != 200
                continue
            n += 1
            body = {**bodies[n % len(bodies)], "order_no": f"{prefix}-{worker}-{n}"}
            r = await client.post("/api/cases", json=body,
                                  headers={"Authorization": f"Bearer {OPERATOR}"})
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 201:
                counts["errors"] += 1
                continue
            counts["created"] += 1
            case = r.json()
            if case.get("status") != "dispatched" or not case.get("assigned_unit"):
                continue
            t0 = time.perf_counter()
            r = await client.post(f"/api/cases/{case['id']}/claim", json={},
                                  headers={"Authorization": f"Bearer demo-unit-{case['assigned_unit']}"})
            latencies.append(time.perf_counter() - t0)
            if r.status_code == 200:
                counts["claimed"] += 1
            else:
                counts["errors"] += 1

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        await asyncio.gather(*(one(client, i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "tool": "httpx",
            **counts}


def httpx_load(base: str, seconds: float, connections: int, mode: str, prefix: str) -> dict[str, Any]:
    bodies = hotline_bodies() if mode == "create_claim" else []
    return asyncio.run(_httpx_load(base, seconds, connections, mode, bodies, prefix))


def warm_up(base: str, prefix: str, n: int = 20) -> None:
    """A few creates and claims first: the first request loads the router and the views."""
    httpx_load_count(base, n, prefix + "w")


def httpx_load_count(base: str, n: int, prefix: str) -> None:
    import httpx

    bodies = hotline_bodies()
    with httpx.Client(base_url=base, timeout=120) as client:
        for i in range(n):
            body = {**bodies[i % len(bodies)], "order_no": f"{prefix}-{i}"}
            r = client.post("/api/cases", json=body, headers={"Authorization": f"Bearer {OPERATOR}"})
            case = r.json()
            if r.status_code == 201 and case.get("status") == "dispatched":
                client.post(f"/api/cases/{case['id']}/claim", json={},
                            headers={"Authorization": f"Bearer demo-unit-{case['assigned_unit']}"})


# ---- the bench --------------------------------------------------------------------------------


def run(services: Services, seconds: float = 20.0, connections: int = 16,
        tool: str | None = None, workers: int = 1) -> list[Result]:
    tool = tool or ("wrk" if shutil.which("wrk") else "httpx")
    db = services.new_database("api")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hotline_bodies()  # make the stream outside the clock
    server = start_server(db, port, workers)
    prefix = f"B{os.getpid()}{int(time.time())}"
    try:
        # Each process loads its router and views on its first requests.
        warm_up(base, prefix, 20 * workers)
        cpu0 = server_cpu_seconds(server.pid)
        if tool == "wrk":
            health = run_wrk(base + "/healthz", HEALTH_LUA, seconds, connections)
            cpu1 = server_cpu_seconds(server.pid)
            ours = wrk_create_claim(base, seconds, connections, prefix)
        else:
            health = httpx_load(base, seconds, connections, "health", prefix)
            cpu1 = server_cpu_seconds(server.pid)
            ours = httpx_load(base, seconds, connections, "create_claim", prefix)
        cpu2 = server_cpu_seconds(server.pid)
        health["server_cpu_ms_per_request"] = 1000 * (cpu1 - cpu0) / max(1, health["requests"])
        ours["server_cpu_ms_per_request"] = 1000 * (cpu2 - cpu1) / max(1, ours["requests"])
    finally:
        stop_server(server)
        services.drop(db)
    detail = {"tool": tool, "connections": connections, "seconds": seconds, "workers": workers,
              "create_claim": ours, "healthz": health}
    return _results("api", ours, health, detail)


def _results(suite: str, ours: dict[str, Any], health: dict[str, Any],
             detail: dict[str, Any]) -> list[Result]:
    return [
        higher_is_better(suite, "create + claim vs /healthz, requests/s", ours["rps"],
                         health["rps"], "req/s", None, **detail),
        # p50/p99 as ratios too: how much slower a write is than a liveness check under load
        Result(suite, "create + claim p50 / healthz p50", ours["p50_ms"], health["p50_ms"], "ms",
               ours["p50_ms"] / health["p50_ms"] if health["p50_ms"] else 0.0, "report", None),
        Result(suite, "create + claim p99 / healthz p99", ours["p99_ms"], health["p99_ms"], "ms",
               ours["p99_ms"] / health["p99_ms"] if health["p99_ms"] else 0.0, "report", None),
        Result(suite, "server CPU per request: create + claim / healthz",
               ours["server_cpu_ms_per_request"], health["server_cpu_ms_per_request"], "ms",
               ours["server_cpu_ms_per_request"] / health["server_cpu_ms_per_request"]
               if health["server_cpu_ms_per_request"] else 0.0, "report", None),
    ]


def dispatched_pool(base: str, n: int, prefix: str, timeout: float = 600) -> list[tuple[str, str]]:
    """At least ``n`` cases created through the API (202 in Kafka mode), from a stream other than
    the load's, and waited for until the worker has routed them: (id, unit) of each one
    dispatched, for the load's claims (a report merged into an earlier case is not one)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    operator = {"Authorization": f"Bearer {OPERATOR}"}
    bodies = hotline_bodies(BODIES + 3 * n)[BODIES:]
    pool: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=120,
                      limits=httpx.Limits(max_connections=8)) as client:

        def create(i: int) -> str | None:
            body = {**bodies[i], "order_no": f"{prefix}-{i}"}
            r = client.post("/api/cases", json=body, headers=operator)
            return r.json().get("id") if r.status_code in (201, 202) else None

        def state(case_id: str) -> tuple[str, str | None]:
            r = client.get(f"/api/cases/{case_id}", headers=operator)
            if r.status_code == 404:
                return "waiting", None  # not routed yet
            case = r.json() if r.status_code == 200 else {}
            return case.get("status", "?"), case.get("assigned_unit")

        with ThreadPoolExecutor(8) as threads:
            made = 0
            while len(pool) < n and made < len(bodies) and time.monotonic() < deadline:
                chunk = range(made, min(len(bodies), made + n - len(pool) + 50))
                made = chunk.stop
                waiting = [i for i in threads.map(create, chunk) if i]
                while waiting and time.monotonic() < deadline:
                    left = []
                    for case_id, (status, unit) in zip(waiting, threads.map(state, waiting), strict=True):
                        if status == "waiting":
                            left.append(case_id)
                        elif status == "dispatched" and unit:
                            pool.append((case_id, unit))
                    waiting = left
                    if waiting:
                        time.sleep(1)
    return pool[:n]


def received_count(db_url: str) -> int:
    """Cases in the log, counted in SQL. Not through a runtime: its router would warm its
    duplicate index from the open cases and embed them in a background thread of this process,
    which went on through both loads and took most of a core from the server they measure."""
    with psycopg.connect(psycopg_dsn(db_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM sanshi_events WHERE topic = %s", ("engine.domain:Case.Received",)
        ).fetchone()
    return int(row[0]) if row else 0


def start_profile(pid: int, seconds: float, out: Path | None) -> subprocess.Popen[bytes] | None:
    """py-spy over the server during the write load: folded stacks (``--format raw``), one line
    per stack with its sample count, to sum by function or by route."""
    if out is None:
        return None
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--duration", str(max(2, round(seconds))),
         "--rate", "100", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def run_kafka(services: Services, seconds: float = 20.0, connections: int = 16,
              workers: int = 1, pool_size: int = 3000, profile: Path | None = None,
              rounds: int = 3, worker_nice: int = 0) -> list[Result]:
    """The same load with SANSHI_KAFKA: the create is answered at 受理 (202 once the broker holds
    it) and one ``sanshi worker`` routes beside the server; each claim is of a case dispatched
    before the load. Also reported: how long after the load the worker needed to make every
    accepted record a case (the price of answering at once).

    ``rounds``: /healthz and the write load alternate this many times, ``seconds`` each, the
    pool shared out between the rounds. On a two-core machine shared with the broker,
    PostgreSQL, the worker and wrk, one pair of runs moved the ratio between 0.16 and 0.28 from
    one minute to the next; the rows report the rounds' totals, and the ratio's spread."""
    db = services.new_database("apik")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    kafka = {"SANSHI_KAFKA": services.kafka_bootstrap,
             "SANSHI_KAFKA_PREFIX": f"api{os.getpid()}{int(time.time())}."}
    hotline_bodies()
    log = Path(tempfile.gettempdir()) / f"bench-api-worker-{os.getpid()}.log"
    server = start_server(db, port, workers, kafka)
    worker = start_intake_worker(db, kafka, log, worker_nice)
    prefix = f"K{os.getpid()}{int(time.time())}"
    healths: list[dict[str, Any]] = []
    loads: list[dict[str, Any]] = []
    try:
        pool = dispatched_pool(base, pool_size, prefix + "p")
        if len(pool) < pool_size:
            raise RuntimeError(f"only {len(pool)} of {pool_size} cases dispatched; worker log {log}")
        before = received_count(db)
        share = len(pool) // rounds
        for k in range(rounds):
            cpu0 = server_cpu_seconds(server.pid)
            health = run_wrk(base + "/healthz", HEALTH_LUA, seconds, connections)
            cpu1 = server_cpu_seconds(server.pid)
            routing0 = server_cpu_seconds(worker.pid)
            spy = start_profile(server.pid, seconds, profile) if k == 0 else None
            ours = wrk_create_claim_kafka(base, seconds, connections, f"{prefix}r{k}",
                                          pool[k * share:(k + 1) * share])
            if spy is not None:
                spy.wait(timeout=seconds + 120)
            cpu2 = server_cpu_seconds(server.pid)
            health["server_cpu_s"], ours["server_cpu_s"] = cpu1 - cpu0, cpu2 - cpu1
            ours["worker_cpu_s"] = server_cpu_seconds(worker.pid) - routing0
            healths.append(health)
            loads.append(ours)
        ended = time.monotonic()
        want = before + sum(o["created"] for o in loads)
        lag = None
        while time.monotonic() - ended < 600:
            if received_count(db) >= want:
                lag = time.monotonic() - ended
                break
            time.sleep(0.5)
    finally:
        stop_server(server)
        stop_process(worker, grace=20)
        services.drop(db)
    health, ours = _totals(healths), _totals(loads)
    ours["routed_after_load_s"] = lag
    ours["pool"] = len(pool)
    ratios = [o["rps"] / h["rps"] if h["rps"] else 0.0 for o, h in zip(loads, healths, strict=True)]
    ours["ratio_per_round"] = [round(r, 3) for r in ratios]
    # The worker routes the creates on the same two cores while the load runs: its share of
    # the machine is what the server cannot have.
    worker_cpu = sum(o["worker_cpu_s"] for o in loads)
    ours["worker_cpu_ms_per_create"] = 1000 * worker_cpu / max(1, ours["created"])
    ours["worker_cores"] = worker_cpu / max(1e-9, ours["seconds"])
    ours["server_cores"] = sum(o["server_cpu_s"] for o in loads) / max(1e-9, ours["seconds"])
    detail = {"tool": "wrk", "connections": connections, "seconds": seconds, "rounds": rounds,
              "workers": workers, "worker_nice": worker_nice, "kafka": True, "create_claim": ours, "healthz": health}
    suite = "api (Kafka: create answered at 受理)"
    return [
        *_results(suite, ours, health, detail),
        Result(suite, f"requests/s ratio per round, median of {rounds} (min-max "
               f"{min(ratios):.3f}-{max(ratios):.3f})", statistics.median(ratios), 1.0, "ratio",
               statistics.median(ratios), "report", None),
        Result(suite, "cores used during the write load: server / worker (routing)",
               ours["server_cores"], ours["worker_cores"], "cores",
               ours["server_cores"] / ours["worker_cores"] if ours["worker_cores"] else 0.0,
               "report", None),
        Result(suite, "routed after the load ends (every accepted record a case)",
               lag if lag is not None else float("nan"), seconds, "s",
               (lag / seconds) if lag is not None else float("nan"), "report", None),
    ]


LOCK_WAIT_SETTINGS = {"log_lock_waits": "on", "deadlock_timeout": "'10ms'",
                      "log_min_duration_statement": "'20ms'"}


def log_lock_waits(services: Services) -> Path:
    """PostgreSQL logs every lock wait over 10 ms and every statement over 20 ms (its own
    server only); the log's path, to count them after the run."""
    if services.pg is None:
        raise SystemExit("--log-lock-waits needs the bench's own PostgreSQL (no SANSHI_BENCH_PG)")
    with psycopg.connect(services.pg_url, autocommit=True) as conn:
        for name, value in LOCK_WAIT_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = {value}")
        conn.execute("SELECT pg_reload_conf()")
    return services.pg.logfile


def lock_wait_counts(log: Path) -> dict[str, int]:
    """Waits for a lock past 10 ms, and statements over 20 ms, in PostgreSQL's log."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return {"lock_waits_over_10ms": len(re.findall(r"still waiting for \w+Lock", text)),
            "statements_over_20ms": len(re.findall(r"LOG:\s+duration: ", text))}


def _totals(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several wrk runs as one: requests and CPU summed; p50 and p99 the median of the runs'
    (percentiles of separate runs cannot be merged exactly)."""
    out: dict[str, Any] = {k: sum(r.get(k, 0) for r in runs)
                           for k in ("requests", "seconds", "created", "claimed", "errors",
                                     "errors_socket", "non2xx")}
    out["rps"] = out["requests"] / out["seconds"] if out["seconds"] else 0.0
    out["p50_ms"] = statistics.median(r["p50_ms"] for r in runs)
    out["p99_ms"] = statistics.median(r["p99_ms"] for r in runs)
    out["server_cpu_ms_per_request"] = (
        1000 * sum(r["server_cpu_s"] for r in runs) / max(1, out["requests"]))
    out["tool"] = "wrk"
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--tool", choices=("wrk", "httpx"))
    ap.add_argument("--workers", type=int, default=1, help="sanshi serve --workers N (PostgreSQL)")
    ap.add_argument("--kafka", action="store_true",
                    help="SANSHI_KAFKA: creates answered at 受理 (202), routed by a sanshi worker")
    ap.add_argument("--pool", type=int,
                    help="with --kafka: cases dispatched before the load, for its claims "
                         "(default 1,600 a round: ~80 claims/s for 20 s)")
    ap.add_argument("--profile", type=Path,
                    help="with --kafka: py-spy folded stacks of the server under the write load")
    ap.add_argument("--rounds", type=int, default=3,
                    help="with --kafka: /healthz and the write load alternate this many times")
    ap.add_argument("--worker-nice", type=int, default=0,
                    help="with --kafka: the routing worker's nice value (0: as deployed)")
    ap.add_argument("--log-lock-waits", action="store_true",
                    help="PostgreSQL logs lock waits over 10 ms and statements over 20 ms; "
                         "their counts are printed after the run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.kafka and not shutil.which("wrk"):
        # The Kafka load (creates alternating with claims of a dispatched pool) is a wrk Lua
        # script only; the httpx client drives the embedded load alone.
        ap.error("--kafka needs wrk (Debian: apt-get install wrk)")
    with Services(kafka=args.kafka) as services:
        pg_log = log_lock_waits(services) if args.log_lock_waits else None
        if args.kafka:
            pool = args.pool or 1600 * args.rounds
            results = run_kafka(services, args.seconds, args.connections, args.workers, pool,
                                args.profile, args.rounds, args.worker_nice)
        else:
            results = run(services, args.seconds, args.connections, args.tool, args.workers)
        if pg_log is not None:
            print("PostgreSQL:", json.dumps(lock_wait_counts(pg_log)))
    print_table(results)
    payload = [r.to_dict() for r in results]
    print(json.dumps(payload, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
