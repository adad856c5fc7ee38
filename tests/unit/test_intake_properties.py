"""Property (hypothesis), through the in-process intake into a real event store: a file of
valid, repeated, mutated and broken records is accounted for exactly —
accepted + duplicate + filtered + dead-lettered = lines — the store gains exactly the accepted
cases and the dead-letter table exactly the dead letters."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import read_stream
from adapters.transport import dead_letter_store, ingest
from engine.settings import Settings

RECEIVED = "engine.domain:Case.Received"
_counter = itertools.count()


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    rt = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    yield rt
    rt.close()


def valid(channel: str, ref: str, category: str) -> dict[str, Any]:
    when = "2021-07-16 09:30:00"
    if channel == "hotline":
        return {"order_no": ref, "received_at": when, "content": f"路灯坏了{ref}", "urgency": "一般"}
    if channel == "police":
        return {"incident_no": ref, "received_at": when, "caller_name": "孔祥东", "caller_phone": "15150001234",
                "summary": f"邻里纠纷{ref}", "police_category": category}
    if channel == "app":
        return {"submission_id": ref, "content": f"纱网破了{ref}", "concern": "worry"}
    if channel == "grid":
        return {"report_no": ref, "grid_worker_id": "gw1", "grid_id": "第三网格", "received_at": when,
                "content": f"水管漏水{ref}", "on_behalf": "是", "resident_name": "梁崇玉",
                "consent": "同意", "consent_method": "签字", "consent_at": when}
    if channel == "enterprise":
        return {"request_no": ref, "received_at": when, "enterprise_name": "北海海韵食品有限公司",
                "credit_code": "91450500MA5K2B7C3C", "content": f"用电增容{ref}"}
    return {"station_id": "s1", "ticket_no": ref, "content": f"入学问题{ref}", "received_at": when}


line_kinds = st.lists(
    st.tuples(
        st.sampled_from(["valid", "valid", "repeat", "broken", "mutated"]),
        st.sampled_from(["纠纷", "求助", "刑事", "交通"]),
        st.binary(max_size=40),
        st.sampled_from(["content", "received_at", "order_no", "incident_no", "submission_id", "ticket_no", "station_id", "summary",
                         "report_no", "request_no", "credit_code", "consent"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=10), st.lists(st.integers(), max_size=2)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(channel=st.sampled_from(["hotline", "police", "app", "walkin", "grid", "enterprise"]), kinds=line_kinds)
def test_every_line_is_one_case_duplicate_filtered_or_dead_letter(
    runtime: Runtime, channel: str, kinds: list[tuple[str, str, bytes, str, Any]]
) -> None:
    run = next(_counter)
    lines: list[bytes] = []
    made: list[bytes] = []
    for i, (kind, category, junk, key, value) in enumerate(kinds):
        record = valid(channel, f"r{run}-{i}", category)
        if kind == "repeat" and made:
            line = made[i % len(made)]
        elif kind == "broken":
            line = b"x" + junk.replace(b"\n", b" ").replace(b"\r", b" ")  # never a blank line
        elif kind == "mutated":
            record[key] = value
            line = json.dumps(record, ensure_ascii=False).encode()
        else:
            line = json.dumps(record, ensure_ascii=False).encode()
            made.append(line)
        lines.append(line)
    before_cases = len(runtime.app.recorder.select_notifications(0, 10**7, topics=(RECEIVED,)))
    before_letters = dead_letter_store(runtime).count()

    records = read_stream(io.BytesIO(b"\n".join(lines)), f"run{run}.jsonl")
    report = ingest(runtime, channel, records, source="prop")

    counts = report.counts
    assert counts["accepted"] + counts["duplicate"] + counts["filtered"] + counts["dead_lettered"] == len(lines)
    assert counts["queued"] == counts["failed"] == 0
    after = runtime.app.recorder.select_notifications(0, 10**7, topics=(RECEIVED,))
    assert len(after) - before_cases == counts["accepted"]
    assert len({n.originator_id for n in after}) == len(after)  # no case received twice
    assert dead_letter_store(runtime).count() - before_letters == counts["dead_lettered"]
    if channel != "police":
        assert counts["filtered"] == 0
