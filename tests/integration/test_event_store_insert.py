"""The PostgreSQL event store's insert (``adapters.eventstore.SanshiPostgresRecorder``): a plain
save is one call of the store's server-side function, and keeps what eventsourcing's own insert
promises — notification ids in insert order and each save's ids together (the table lock),
a conflicting version refused with nothing of its save stored, a notification for listeners.
Real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from adapters import eventstore
from adapters.bootstrap import Runtime, bootstrap
from engine.config import load_config
from engine.routing.keyword import KeywordRouter
from engine.settings import Settings
from tests.support.lifecycle import LAMP, LAMP_ADDRESS, intake

TOPIC = "tests.store:Probe"


@pytest.fixture
def runtime(fresh_postgres_url: str) -> Iterator[Runtime]:
    config = load_config(None)
    rt = bootstrap(Settings(db=fresh_postgres_url, kafka=None, config_path=None, cipher_key=None),
                   config=config, router=KeywordRouter(config))
    yield rt
    rt.close()


def _recorder(rt: Runtime) -> eventstore.SanshiPostgresRecorder:
    recorder = rt.app.recorder
    assert isinstance(recorder, eventstore.SanshiPostgresRecorder)
    return recorder


def _events(n: int, originator: uuid.UUID | None = None, first: int = 1) -> list[StoredEvent]:
    oid = originator or uuid.uuid4()
    return [StoredEvent(originator_id=oid, originator_version=first + i, topic=TOPIC,
                        state=b'{"n": %d}' % i) for i in range(n)]


def _library_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    library = eventstore.SanshiPostgresRecorder._insert_stored_events

    def spy(self: Any, curs: Any, stored: Any, **kwargs: Any) -> None:
        calls.append(len(stored))
        library(self, curs, stored, **kwargs)

    monkeypatch.setattr(eventstore.SanshiPostgresRecorder, "_insert_stored_events", spy)
    return calls


def test_a_case_saved_through_the_service_goes_through_the_function_and_reads_back(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = _library_path_calls(monkeypatch)
    case_id = runtime.app.receive(intake(LAMP, LAMP_ADDRESS)).case_id
    assert library == []  # the application's save passes tracking=None: still a plain save
    assert runtime.app.get_case(case_id).id == case_id
    stored = _recorder(runtime).select_events(case_id)
    ids = [n.id for n in _recorder(runtime).select_notifications(start=1, limit=100)]
    assert len(stored) >= 1 and len(ids) == len(set(ids)) >= len(stored)


def test_ids_come_back_in_insert_order_and_match_what_a_reader_sees(runtime: Runtime) -> None:
    recorder = _recorder(runtime)
    batch = _events(5) + _events(3)
    ids = recorder.insert_events(batch)
    assert ids is not None and ids == list(range(ids[0], ids[0] + len(batch)))
    seen = recorder.select_notifications(start=ids[0], limit=len(batch))
    assert [n.id for n in seen] == ids
    assert [(n.originator_id, n.originator_version) for n in seen] == [
        (e.originator_id, e.originator_version) for e in batch]


def test_a_version_already_taken_is_refused_and_nothing_of_its_save_is_stored(
    runtime: Runtime,
) -> None:
    recorder = _recorder(runtime)
    oid = uuid.uuid4()
    recorder.insert_events(_events(2, oid))
    fresh = uuid.uuid4()
    with pytest.raises(IntegrityError):
        recorder.insert_events(_events(1, fresh) + _events(1, oid, first=2))
    assert recorder.select_events(fresh) == []
    assert [e.originator_version for e in recorder.select_events(oid)] == [1, 2]


def test_a_save_notifies_the_librarys_channel(runtime: Runtime, fresh_postgres_url: str) -> None:
    recorder = _recorder(runtime)
    with psycopg.connect(fresh_postgres_url, autocommit=True) as listener:
        listener.execute(f'LISTEN "{recorder.channel_name}"')
        recorder.insert_events(_events(1))
        heard = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in heard] == [recorder.channel_name]


def test_concurrent_saves_each_get_a_run_of_ids_with_no_other_save_inside(
    runtime: Runtime,
) -> None:
    """The table lock is what keeps a reader from passing a gap another save fills later:
    with it, each save's ids are consecutive, whatever runs beside it."""
    recorder = _recorder(runtime)
    runs: list[list[int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(25):
                ids = recorder.insert_events(_events(4))
                assert ids is not None
                with lock:
                    runs.append(list(ids))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(runs) == 150
    for ids in runs:
        assert ids == list(range(ids[0], ids[0] + 4))
    every = sorted(i for ids in runs for i in ids)
    assert len(every) == len(set(every)) == 600
