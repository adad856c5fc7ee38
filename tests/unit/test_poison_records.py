"""A record the engine cannot compute with is that record's dead letter, never a poll that fails
for ever (a poison message holding its Kafka partition; issue 14, found by the whole-path fuzzer:
a received time in year 9999 overflowed the deadline computation in the worker)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import Parsed
from adapters.transport import dead_letter_store
from adapters.transport.port import apply_commands
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    rt = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    yield rt
    rt.close()


def _item(ref: str, received_at: dt.datetime) -> Parsed:
    fields = {
        "channel": Channel.HOTLINE, "source_ref": ref, "received_at": received_at,
        "content": "茶亭路幸福里小区路灯不亮，晚上看不清，请尽快修理", "address": "海城区茶亭路幸福里小区",
    }
    # model_construct: a message from a producer that did not check the contract (an older
    # version, another system writing to the topic) reaches the worker as it was sent.
    defaults = IntakeCommand(**{**fields, "received_at": dt.datetime(2026, 11, 20, 9, tzinfo=BEIJING)})
    return Parsed(command=defaults.model_copy(update=fields), position=f"kafka:0:{ref}")


def test_a_record_the_engine_cannot_compute_with_is_dead_lettered_and_the_rest_lands(
    runtime: Runtime,
) -> None:
    good = _item("BH-good", dt.datetime(2026, 11, 20, 9, tzinfo=BEIJING))
    poison = _item("BH-poison", dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=14))))
    outcomes, letters = apply_commands(runtime, [good, poison], "worker:test", source="worker")
    assert outcomes[0].status == "accepted"
    assert outcomes[1].status == "dead_lettered" and "处理失败" in (outcomes[1].reason or "")
    assert [letter.position for letter in letters] == ["kafka:0:BH-poison"]
    assert runtime.app.exists(outcomes[0].case_id)
    dead_letter_store(runtime).add(letters)
    assert dead_letter_store(runtime).count() == 1
