"""Issue 14, finding 6: a case the caller may not see and an id that does not exist answer
alike, in the same time. Case ids are uuid5 of ``channel:source_ref``, so anyone can compute
the id a police incident would have; an anonymous Open311 read of an existing police case
answered 404 measurably slower than an absent id (the first replays the case from the log).

Timing is measured the way an outsider would: many rounds, the two requests interleaved in a
random order within each round (drift of a shared machine hits both alike), and the medians
compared against the spread of the samples rather than a fixed number of milliseconds."""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.http import create_app
from adapters.http.timing import NOT_FOUND_FLOOR_SECONDS
from engine.application import now_shanghai
from engine.domain import SANSHI_NAMESPACE, Status
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings
from tests.support.api import OTHER_UNIT, TestClient, auth, case_in

ROUNDS = 200
# Production's floor. A smaller one (20 ms) let a hidden read overrun it now and then on this
# shared 2-core machine (lookups of 20 ms and more under load) and showed as a bias of a few
# per cent in the sign test.
FLOOR = NOT_FOUND_FLOOR_SECONDS


class Stopwatch:
    """Outermost ASGI wrapper: how long the server took to start its answer. What an outsider
    measures over the network, without the test client's own thread hops, which on a shared
    2-core machine are noisier than the difference looked for."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        t0 = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.last = time.perf_counter() - t0
            await send(message)

        await self.app(scope, receive, timed if scope["type"] == "http" else send)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Runtime]]:
    # A file database, as deployed: the hidden case is read back from disk, not from memory.
    db = tmp_path_factory.mktemp("timing") / "timing.db"
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": f"sqlite:///{db}"}))
    try:
        watch = Stopwatch(create_app(runtime, not_found_floor=FLOOR))
        with TestClient(watch, raise_server_exceptions=False) as client:
            client.watch = watch
            yield client, runtime
    finally:
        runtime.close()


DISPUTES = iter([
    "楼上漏水到楼下，两户因赔偿发生纠纷，请社区调解",
    "两家为停车位归属争吵多日，报警后转社区处理",
    "租客与房东因押金退还发生纠纷，双方各执一词",
])
_numbers = iter(range(100, 1000))


def police_case(runtime: Runtime) -> uuid.UUID:
    """A police hand-over with some history, as an attacker would probe for."""
    r = runtime.app.receive(
        IntakeCommand(
            channel=Channel.POLICE,
            source_ref=f"J{uuid.uuid4().hex[:12]}",
            received_at=now_shanghai() - dt.timedelta(hours=2),
            content=next(DISPUTES),
            address=f"海城区茶亭路{next(_numbers)}号",
            category_hint="dispute",
        )
    )
    assert r.case_id is not None
    for n in range(3):
        runtime.app.urge(r.case_id, f"请尽快处理（{n}）", "operator:test")
    return r.case_id


def absent_id() -> uuid.UUID:
    """An id computed the way sanshi computes them, for an incident that was never sent."""
    return uuid.uuid5(SANSHI_NAMESPACE, f"police:J-never-{uuid.uuid4().hex}")


def _race(
    client: Any, a: str, b: str, headers: dict[str, str]
) -> tuple[list[Any], list[float], list[float]]:
    """ROUNDS rounds of one request to ``a`` and one to ``b`` in a random order; the answers of
    the first rounds and, per round, the time of ``a`` minus the time of ``b``."""
    rnd = random.Random(14)
    for _ in range(20):  # warm both paths (imports, caches, connections)
        client.get(a, headers=headers), client.get(b, headers=headers)
    answers: list[Any] = []
    diffs: list[float] = []
    times: list[float] = []  # a's and b's time, round after round
    for _ in range(ROUNDS):
        pair = [a, b]
        rnd.shuffle(pair)
        took = {}
        for path in pair:
            r = client.get(path, headers=headers)
            took[path] = client.watch.last
            if len(answers) < 4:
                answers.append(r)
        diffs.append(took[a] - took[b])
        times += [took[a], took[b]]
    return answers, diffs, times


def assert_same_time(diffs: list[float], times: list[float]) -> None:
    """What an outsider can measure: every "not found" answer is held to the floor, the hidden
    and the absent one of a round land in the same period of it, and the median difference is
    a small fraction of the floor. The old code fails the first: it answered the absent id at
    once and the hidden case ~0.55 ms later (hidden slower in 71-72 % of 200 rounds).

    Measured, not asserted: the sign of the per-round difference. With the floor the hidden
    answer was still the later one in 48-66 % of rounds on a busy 2-core machine (median
    0.0-0.46 ms): the event loop wakes from the wait a little later after a hidden read, whose
    work (a replay in the thread pool) still competes for the GIL. docs/faults.md says so."""
    q1, med, q3 = statistics.quantiles(diffs, n=4)
    slower = sum(d > 0 for d in diffs) / len(diffs)
    same_period = sum(
        math.floor(a / FLOOR) == math.floor(b / FLOOR) for a, b in zip(times[::2], times[1::2], strict=True)
    ) / len(diffs)
    report = (
        f"median difference {med * 1e3:.3f} ms, IQR {(q3 - q1) * 1e3:.3f} ms, hidden slower in "
        f"{slower:.0%} of {len(diffs)} rounds, same period in {same_period:.0%}, "
        f"fastest answer {min(times) * 1e3:.1f} ms (floor {FLOOR * 1e3:.0f} ms)"
    )
    print(report)
    assert min(times) >= FLOOR * 0.99, report
    assert same_period >= 0.90, report  # a lookup past the floor under load lands one later
    assert abs(med) <= FLOOR / 10, report


def _same_answer(r1: Any, r2: Any, id1: str, id2: str) -> None:
    assert r1.status_code == r2.status_code == 404
    assert r1.text.replace(id1, "ID") == r2.text.replace(id2, "ID")
    drop = {"content-length"}  # the ids are the same length; the rest must be byte-equal
    h1 = {k: v for k, v in r1.headers.items() if k not in drop}
    h2 = {k: v for k, v in r2.headers.items() if k not in drop}
    assert h1 == h2
    assert r1.headers.get("content-length") == r2.headers.get("content-length")


def test_open311_and_the_api_answer_a_hidden_case_and_an_absent_id_alike(
    env: tuple[Any, Runtime],
) -> None:
    """Same status, body and headers (the time is below)."""
    client, runtime = env
    hidden, absent = str(police_case(runtime)), str(absent_id())
    for fmt in ("json", "xml"):
        a = client.get(f"/open311/v2/requests/{hidden}.{fmt}")
        b = client.get(f"/open311/v2/requests/{absent}.{fmt}")
        _same_answer(a, b, hidden, absent)
    theirs = str(case_in(runtime, Status.CLAIMED))
    for suffix in ("", "/events"):
        a = client.get(f"/api/cases/{theirs}{suffix}", headers=auth(OTHER_UNIT))
        b = client.get(f"/api/cases/{absent}{suffix}", headers=auth(OTHER_UNIT))
        _same_answer(a, b, theirs, absent)
    claim = client.post(f"/api/cases/{theirs}/claim", headers=auth(OTHER_UNIT))
    nothing = client.post(f"/api/cases/{absent}/claim", headers=auth(OTHER_UNIT))
    assert claim.status_code == nothing.status_code == 404
    assert claim.text.replace(theirs, "ID") == nothing.text.replace(absent, "ID")


def test_open311_answers_a_police_case_and_an_absent_id_alike_in_the_same_time(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    hidden, absent = str(police_case(runtime)), str(absent_id())
    assert runtime.app.get_case(uuid.UUID(hidden)).channel == "police"
    a, b = f"/open311/v2/requests/{hidden}.json", f"/open311/v2/requests/{absent}.json"
    answers, diffs, times = _race(client, a, b, {})
    by_path = {r.url.path: r for r in answers}
    _same_answer(by_path[a], by_path[b], hidden, absent)
    assert_same_time(diffs, times)


def test_an_open311_list_by_ids_takes_the_same_time_for_hidden_and_absent_ids(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    hidden, absent = str(police_case(runtime)), str(absent_id())
    a = f"/open311/v2/requests.json?service_request_id={hidden}"
    b = f"/open311/v2/requests.json?service_request_id={absent}"
    answers, diffs, times = _race(client, a, b, {})
    assert all(r.status_code == 200 and r.json() == [] for r in answers)
    assert_same_time(diffs, times)


def test_a_unit_reads_another_units_case_as_if_it_did_not_exist(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    theirs = str(case_in(runtime, Status.CLAIMED))  # 茶亭路社区's, not 城管's
    absent = str(absent_id())
    a, b = f"/api/cases/{theirs}", f"/api/cases/{absent}"
    answers, diffs, times = _race(client, a, b, auth(OTHER_UNIT))
    by_path = {r.url.path: r for r in answers}
    _same_answer(by_path[a], by_path[b], theirs, absent)
    assert by_path[a].json()["error"] == "not_found"
    assert_same_time(diffs, times)
    # Acting on it tells nothing either.
    claim = client.post(f"/api/cases/{theirs}/claim", headers=auth(OTHER_UNIT))
    nothing = client.post(f"/api/cases/{absent}/claim", headers=auth(OTHER_UNIT))
    assert claim.status_code == nothing.status_code == 404
    assert claim.text.replace(theirs, "ID") == nothing.text.replace(absent, "ID")
