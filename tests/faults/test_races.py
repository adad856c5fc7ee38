"""Two people act on one case at the same instant, through the HTTP API of two separate app
instances (two runtimes, two connection pools, one PostgreSQL database): exactly one wins,
the other gets 409 and writes nothing.

Short (CI): 100 rounds. Long (SANSHI_FAULTS_LONG=1): 1,000 rounds. The rounds cycle through:

- released together (natural races; the second to arrive may be refused by the version check
  or, having loaded the case after the first committed, by the state check — both are 409):
  two clerks of one unit claiming; two operators dispatching a case in the centre's queue to
  different units; a clerk resolving while another returns; two operators recording the
  follow-up call (satisfied / dissatisfied → 重办).
- forced interleaving (both requests have loaded the same version before either saves; the
  pause sits in front of ``app.save``): a unit resolving while the centre decides its
  extension request, and while the centre urges it. Run one after the other these two pairs
  both succeed; at the same instant only the store's (id, version) key keeps one out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.http import create_app
from engine.application import now_shanghai
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings
from tests.faults.support import size

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROUNDS = size(100, 1_000)
OPERATOR = {"Authorization": "Bearer demo-operator-token"}
UNIT_ID = "chatinglu"
UNIT = {"Authorization": f"Bearer demo-unit-{UNIT_ID}"}
_seq = itertools.count(1)


@dataclass
class Side:
    runtime: Runtime
    client: TestClient
    gate: threading.Barrier | None = None  # set: every save waits here (forced interleaving)


@pytest.fixture
def sides(fresh_postgres_url: str) -> Iterator[tuple[Side, Side]]:
    settings = Settings(db=fresh_postgres_url, kafka=None, config_path=None, cipher_key=None)
    made: list[Side] = []
    try:
        for _ in range(2):
            runtime = bootstrap(settings)
            client = TestClient(create_app(runtime), raise_server_exceptions=False)
            client.__enter__()
            side = Side(runtime, client)
            _gate_saves(side)
            made.append(side)
        yield made[0], made[1]
    finally:
        for side in made:
            side.client.__exit__(None, None, None)
            side.runtime.close()


def _gate_saves(side: Side) -> None:
    app = side.runtime.app
    save = app.save

    def gated(*args: Any, **kwargs: Any) -> Any:
        gate = side.gate
        if gate is not None:
            # Broken: the other request never reached its save, nothing to interleave with.
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait(timeout=20)
        return save(*args, **kwargs)

    app.save = gated  # type: ignore[method-assign]


# ---- cases in the state each race needs (made through the application service) ------------


def _intake(content: str, address: str) -> IntakeCommand:
    n = next(_seq)
    return IntakeCommand(
        channel=Channel.HOTLINE,
        source_ref=f"RACE{uuid.uuid4().hex[:12]}{n}",
        received_at=now_shanghai() - dt.timedelta(minutes=5),
        content=content,
        address=address,
        caller_name="张伟",
        caller_phone="13812345678",
    )


def dispatched(rt: Runtime) -> UUID:
    n = next(_seq)
    r = rt.app.receive(_intake(
        f"茶亭路{n}号门口的路灯不亮了，晚上黑乎乎的（灯杆编号 {uuid.uuid4().hex}）",
        f"海城区茶亭路{n}号",
    ))
    assert r.status == "dispatched" and r.unit == UNIT_ID, r
    return r.case_id


def at_centre(rt: Runtime) -> UUID:
    r = rt.app.receive(_intake(f"我想反映一个情况，麻烦你们记一下（{uuid.uuid4().hex}）", ""))
    assert r.status == "received", r
    return r.case_id


def claimed(rt: Runtime) -> UUID:
    cid = dispatched(rt)
    rt.app.claim(cid, UNIT_ID, "unit:setup")
    return cid


def extension_asked(rt: Runtime) -> UUID:
    cid = claimed(rt)
    case = rt.app.get_case(cid)
    assert case.dispatch is not None
    until = case.dispatch.handle_deadline + dt.timedelta(days=5)
    rt.app.request_extension(cid, UNIT_ID, until, "需要协调供电部门", "unit:setup")
    return cid


def resolved(rt: Runtime) -> UUID:
    cid = claimed(rt)
    rt.app.resolve(cid, UNIT_ID, "已更换灯泡", "unit:setup")
    return cid


# ---- the races -------------------------------------------------------------------------------

Request = tuple[str, dict[str, str], dict[str, Any] | None]  # path suffix, headers, body


@dataclass(frozen=True)
class Race:
    name: str
    setup: Callable[[Runtime], UUID]
    a: Request
    b: Request
    forced: bool  # both load the same version before either saves
    events: tuple[str, str]  # what a's and b's success writes (exactly one of them may appear)


RACES = [
    Race("two clerks claim", dispatched, ("claim", UNIT, None), ("claim", UNIT, None),
         False, ("Claimed", "Claimed")),
    Race("two operators dispatch to different units", at_centre,
         ("dispatch", OPERATOR, {"unit": "chengguan"}), ("dispatch", OPERATOR, {"unit": UNIT_ID}),
         False, ("Dispatched", "Dispatched")),
    Race("resolve while another clerk returns", claimed,
         ("resolve", UNIT, {"result": "已更换灯泡"}), ("return", UNIT, {"reason": "不属于本单位"}),
         False, ("Resolved", "Returned")),
    Race("two operators record the follow-up", resolved,
         ("followup", OPERATOR, {"solved": True, "rating": "satisfied"}),
         ("followup", OPERATOR, {"solved": False, "rating": "dissatisfied"}),
         False, ("FollowedUp", "FollowedUp")),
    Race("unit resolves while the centre decides the extension", extension_asked,
         ("resolve", UNIT, {"result": "已修复"}), ("extension/decide", OPERATOR, {"granted": True}),
         True, ("Resolved", "ExtensionDecided")),
    Race("unit resolves while the centre urges", claimed,
         ("resolve", UNIT, {"result": "已修复"}), ("urge", OPERATOR, {"note": "请抓紧"}),
         True, ("Resolved", "Urged")),
]


def _fire(sides: tuple[Side, Side], cid: UUID, race: Race) -> list[tuple[int, dict[str, Any]]]:
    start = threading.Barrier(2)
    answers: list[tuple[int, dict[str, Any]]] = [(0, {}), (0, {})]
    gate = threading.Barrier(2) if race.forced else None
    for side in sides:
        side.gate = gate

    def run(i: int, side: Side, req: Request) -> None:
        path, headers, body = req
        start.wait(timeout=30)
        r = side.client.post(f"/api/cases/{cid}/{path}", headers=headers, json=body or {})
        answers[i] = (r.status_code, r.json())

    threads = [
        threading.Thread(target=run, args=(0, sides[0], race.a)),
        threading.Thread(target=run, args=(1, sides[1], race.b)),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a request hung"
    finally:
        for side in sides:
            side.gate = None
    return answers


def test_one_case_two_hands_exactly_one_wins(sides: tuple[Side, Side]) -> None:
    a, _ = sides
    wins: Counter[str] = Counter()
    loser_codes: Counter[str] = Counter()
    for n in range(ROUNDS):
        race = RACES[n % len(RACES)]
        cid = race.setup(a.runtime)
        before = a.runtime.app.get_case(cid).version
        answers = _fire(sides, cid, race)
        codes = sorted(status for status, _ in answers)
        assert codes == [200, 409], f"round {n} ({race.name}): {answers}"
        winner = 0 if answers[0][0] == 200 else 1
        loser = answers[1 - winner][1]
        assert set(loser) == {"error", "message"}, loser
        loser_codes[loser["error"]] += 1
        wins[f"{race.name}: {'ab'[winner]}"] += 1
        # The log holds the winner's write and nothing of the loser's.
        events = [type(e).__name__ for e in a.runtime.app.events.get(cid, gt=before)]
        won, lost = race.events[winner], race.events[1 - winner]
        assert events.count(won) == 1, (race.name, events)
        if lost != won:
            assert lost not in events, (race.name, events)
        # Both API instances now show the same case at the same version.
        seen = [
            s.client.get(f"/api/cases/{cid}", headers=OPERATOR).json()["version"] for s in sides
        ]
        assert seen[0] == seen[1] == a.runtime.app.get_case(cid).version
    print(f"\nraces: {ROUNDS} rounds over two API instances on one PostgreSQL database, exactly "
          f"one winner each; losers' errors {dict(loser_codes)}; winners {dict(sorted(wins.items()))}")
