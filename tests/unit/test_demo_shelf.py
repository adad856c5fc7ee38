"""`sanshi demo` shows the open shelf (认领大厅): needs listed, helpers' claims, the centre
accepting most and refusing one, the helpers resolving them; the summary's counts are what the
log and the API say, and the helpers are counted apart (微服务), never ranked."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from tests.support.api import LEADER, OPERATOR, api_client, auth
from tests.support.fold_oracle import events_of


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SANSHI_DB", "SANSHI_KAFKA", "SANSHI_CONFIG", "SANSHI_CIPHER_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_demo_shelves_needs_helpers_claim_them_and_the_summary_counts_them(in_tmp: Path) -> None:
    args = ["demo", "--days", "10", "--scale", "0.3", "--start", "2026-09-07", "--db", "shelf.db"]
    table = CliRunner().invoke(main, args)
    assert table.exit_code == 0, table.output
    assert "认领大厅：上架需求" in table.output and "社会力量微服务" in table.output
    assert "不计入承办单位排名" in table.output

    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    shelf = out["simulation"]["shelf"]
    assert shelf["listed"] >= 4 and shelf["claims"] > shelf["listed"]
    assert shelf["refused"] == 1 and shelf["accepted"] == shelf["listed"]
    helpers = out["helpers"]
    assert helpers["total"]["micro_services"] >= 1
    assert helpers["total"]["accepted"] == shelf["accepted"]
    assert helpers["total"]["refused"] == shelf["refused"]
    assert helpers["total"]["claims"] == shelf["claims"]
    # Helpers are in no ranking group.
    assert not {g["kind"] for g in out["ranking"]["groups"]} & {"social_enterprise", "social_org", "volunteer_team"}

    with api_client(f"sqlite:///{in_tmp / 'shelf.db'}") as (client, runtime):
        kinds = Counter(type(e).__name__ for e in events_of(runtime))
        assert kinds["ShelfListed"] == shelf["listed"]
        assert kinds["ClaimApplied"] == shelf["claims"]
        assert kinds["ClaimDecided"] == shelf["accepted"] + shelf["refused"]
        # The accepted helpers worked their cases as units do: the cases standing resolved by
        # a helper (a reopen takes a resolution back, as 办结) are its 微服务.
        helper_units = {r["key"] for r in helpers["rows"]}
        worked = {
            e.originator_id for e in events_of(runtime)
            if type(e).__name__ == "Resolved" and e.unit in helper_units
        }
        standing = [
            cid for cid in worked
            if runtime.app.get_case(cid).status in ("resolved", "closed")
            and runtime.app.get_case(cid).resolved_unit in helper_units
        ]
        live = client.get("/api/stats/helpers?from=2026-09-07&to=2026-09-17", headers=auth(LEADER)).json()
        assert live["total"]["micro_services"] == len(standing) == helpers["total"]["micro_services"]
        assert client.get("/api/shelf", headers=auth(OPERATOR)).json()["items"] == []
        assert runtime.projector.quarantined_count() == 0
