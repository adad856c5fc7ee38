"""The event store as this house runs it: every place where sanshi reaches past eventsourcing's
public API, in one module, so an upgrade of the library has one file to re-check.

The pure application service (``engine.application.SanshiApplication``) uses only the
library's public API. :class:`StoreApplication` is the same service with three faster paths,
and :class:`SanshiPostgresRecorder` is eventsourcing's own PostgreSQL recorder (its tables,
table lock and notifications unchanged) with a faster insert and reads of many aggregates in
one query. ``adapters.bootstrap`` builds a :class:`StoreApplication`; the application picks the
recorder through eventsourcing's ``APPLICATION_RECORDER_TOPIC`` when the store is PostgreSQL
(the other stores keep eventsourcing's recorders).

Checked against eventsourcing 9.5.6 (``CHECKED_AGAINST``; ``tests/unit/test_store_pin.py``
fails on any other version). The library internals this module copies or calls — re-read each
in the new version before moving the pin (``LIBRARY_INTERNALS`` lists the same):

- ``eventsourcing.application.Application.save``: copied by :meth:`StoreApplication.save`
  (its steps, without ``ProcessingEvent.collect_events``' runtime Protocol checks);
- ``eventsourcing.application.Application._record``: called by that copy;
- ``eventsourcing.application.Application._take_snapshots``: called by that copy;
- ``eventsourcing.application.Application._notify``: called by that copy;
- ``eventsourcing.application.ProcessingEvent.events``: filled by that copy;
- ``eventsourcing.application.ProcessingEvent.aggregates``: filled by that copy;
- ``eventsourcing.application.Repository._reconstruct_aggregate``: what
  :meth:`StoreApplication.get_cases` re-implements (``mutate`` per stored event in version
  order, starting from None; no snapshots, which sanshi does not take);
- ``eventsourcing.application.project_aggregate``: the same, without its Protocol check per
  event;
- ``eventsourcing.postgres.PostgresApplicationRecorder._insert_stored_events``: replaced by
  :meth:`SanshiPostgresRecorder._insert_stored_events` (same lock, notify and
  ``RETURNING notification_id``, another statement);
- ``eventsourcing.postgres.PostgresApplicationRecorder._lock_table``: called by it;
- ``eventsourcing.postgres.PostgresApplicationRecorder._notify_channel``: called by it;
- ``eventsourcing.postgres.PostgresApplicationRecorder._fetch_ids_after_insert_events``: reads
  the ids the replacement's statement returns (a ``notification_id`` column, in insert order);
- ``eventsourcing.postgres.PostgresApplicationRecorder.insert_events``: replaced by
  :meth:`SanshiPostgresRecorder.insert_events` for a plain save (lock, notify and insert in one
  server-side function, called in autocommit); its pipelined path (not its own
  database-function one, which sanshi leaves off) still serves a save with keyword arguments
  and is what calls the insert's replacement. The function takes the library's lock timeout
  and notifies the library's channel (the recorder's ``channel_name``, the datastore's
  ``lock_timeout``), as ``_lock_table`` and ``_notify_channel`` do.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    Recording,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import EnvType, retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from engine.application import SanshiApplication
from engine.config import SanshiConfig
from engine.domain import Case
from engine.routing.port import Router

CHECKED_AGAINST = "9.5.6"

# The advisory lock's key under which the event store's tables are created: "sanshiES" read as
# a 64-bit integer, apart from the leases' keys (hashes of duty names, ``adapters.leases``).
SCHEMA_LOCK_KEY = int.from_bytes(b"sanshiES", "big")
"""The eventsourcing version whose internals this module was last checked against."""

LIBRARY_INTERNALS: tuple[str, ...] = (
    "eventsourcing.application.Application.save",
    "eventsourcing.application.Application._record",
    "eventsourcing.application.Application._take_snapshots",
    "eventsourcing.application.Application._notify",
    "eventsourcing.application.ProcessingEvent.events",
    "eventsourcing.application.ProcessingEvent.aggregates",
    "eventsourcing.application.Repository._reconstruct_aggregate",
    "eventsourcing.application.project_aggregate",
    "eventsourcing.postgres.PostgresApplicationRecorder._insert_stored_events",
    "eventsourcing.postgres.PostgresApplicationRecorder._lock_table",
    "eventsourcing.postgres.PostgresApplicationRecorder._notify_channel",
    "eventsourcing.postgres.PostgresApplicationRecorder._fetch_ids_after_insert_events",
    "eventsourcing.postgres.PostgresApplicationRecorder.insert_events",
)
"""What this module copies, replaces or calls beyond the library's public API."""


def _columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], list[int], list[str], list[bytes]]:
    """The insert's four arrays (``unnest``'s columns), sent in binary."""
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )


class SanshiPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, with three changes:

    - the insert sends four arrays of plain types in binary (``unnest(%b::uuid[],
      %b::bigint[], %b::text[], %b::bytea[])``) instead of one array of composite rows in text,
      which psycopg builds value by value in Python, escaping every byte of the state. Same
      statement otherwise: same table lock, same notify, same ``RETURNING notification_id`` in
      insert order;
    - a plain save is one call of a server-side function (``<table>_insert``: lock, notify,
      insert) in autocommit, so the table's exclusive lock is released by the server's commit
      at the end of that statement. The library's path holds the lock across a round trip
      and the client's return to send ``COMMIT``; in a process whose threads share the GIL
      (the API's request pool, the worker's consumer) that return waited for the interpreter,
      and every other writer queued behind it (bench/RESULTS.md, API write path, twentieth
      session);
    - reads of several aggregates in one query (merge targets, re-sends of a batch).
    """

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        table = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(events_table_name))
        id_type = SQL(datastore.originator_id_type)  # "uuid" or "text", checked by eventsourcing
        self.insert_columns_statement = SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(table, id_type)
        self.select_many_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = ANY(%s::{}[]) ORDER BY originator_id, originator_version"
        ).format(table, id_type)
        self.existing_statement = SQL(
            "SELECT DISTINCT originator_id FROM {} WHERE originator_id = ANY(%s::{}[])"
        ).format(table, id_type)
        function = SQL("{}.{}").format(
            Identifier(datastore.schema), Identifier(f"{events_table_name}_insert"))
        # The library's lock statements and notify, in the order _insert_stored_events sends
        # them, then the same insert; one statement's transaction holds the lock.
        self.create_insert_function_statement = SQL(
            "CREATE OR REPLACE FUNCTION {function}("
            "ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "LOCK TABLE {table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
            "END; $BODY$"
        ).format(
            function=function, id_type=id_type, table=table,
            lock_timeout=datastore.lock_timeout, channel=Identifier(self.channel_name),
        )
        self.call_insert_function_statement = SQL(
            "SELECT * FROM {}(%b::{}[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(function, id_type)

    def create_table(self) -> None:
        """The library's, under a PostgreSQL advisory lock held for its length. Its ``CREATE
        ... IF NOT EXISTS`` statements are not safe against the same statement running at the
        same moment in another session (a unique violation on ``pg_type``, "tuple concurrently
        updated"): processes started together on a fresh database (``sanshi serve --workers
        2``, several Kafka workers) would otherwise fail at start-up."""
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
            try:
                super().create_table()
                conn.execute(self.create_insert_function_statement)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """One statement for a plain save (the same retries as the library's); the library's
        transaction for nothing to insert or anything passed beside the events (the
        application's save passes ``tracking=None`` for a plain save)."""
        if any(v is not None for v in kwargs.values()) or not stored_events:
            library: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return library
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            if not conn.autocommit:  # the library's pool hands out autocommit connections
                raise ProgrammingError("the event store's connections must be autocommit")
            curs.execute(
                self.call_insert_function_statement,
                _columns(stored_events),
                prepare=True,
            )
            return [int(row[0]) for row in curs.fetchall()]

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The library's path, taken only by a save with tracking (insert_events above). Its
        # version is lock, notify, then its parent's composite insert; super() cannot be
        # called without that insert, so the first two steps are called here.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_columns_statement, _columns(stored_events))

    def select_many(self, ids: Collection[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, by aggregate then version."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(self.select_many_statement, [[str(i) for i in ids]])
            return [
                StoredEvent(
                    originator_id=oid, originator_version=version, topic=topic, state=bytes(state)
                )
                for oid, version, topic, state in cur.fetchall()
            ]

    def existing(self, ids: Collection[UUID]) -> set[UUID]:
        """Which of these aggregates have any event."""
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(self.existing_statement, [[str(i) for i in ids]])
            return {UUID(str(row["originator_id"])) for row in cur.fetchall()}


RECORDER_TOPIC = f"{__name__}:{SanshiPostgresRecorder.__name__}"


class StoreApplication(SanshiApplication):
    """The application service with the store's faster paths: a save without the library's
    per-object Protocol checks (every store), and, on PostgreSQL, several cases read and
    checked for existence in one query each. Everything else is ``SanshiApplication``'s."""

    name = "sanshi"  # the same tables as the plain service (eventsourcing derives them from it)

    def __init__(
        self, config: SanshiConfig, router: Router, env: EnvType | None = None, **kwargs: Any
    ) -> None:
        if env is not None and env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            env = {"APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC, **env}
        super().__init__(config, router, env=env, **kwargs)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """``Application.save``; for Cases alone, its steps without the two runtime Protocol
        checks ``ProcessingEvent.collect_events`` makes per object (on Python 3.11 each walks
        the protocol's attributes)."""
        if kwargs or not all(type(obj) is Case for obj in objs):
            return super().save(*objs, **kwargs)
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for case in objs:
            processing_event.events.extend(case.collect_events())
            processing_event.aggregates[case.id] = case
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated in eventsourcing, kept as save does
        return recordings

    def get_cases(self, ids: Collection[UUID]) -> dict[UUID, Case]:
        """One query on PostgreSQL; the library's reads elsewhere. None for no ids: most cases
        have no merged callers, and every case view asks for them."""
        if not ids:
            return {}
        recorder = self.recorder
        if not isinstance(recorder, SanshiPostgresRecorder) or self.snapshots is not None:
            return super().get_cases(ids)
        to_domain_event = self.mapper.to_domain_event
        out: dict[UUID, Case] = {}
        aggregate: Any = None
        last: Any = None
        for stored in recorder.select_many(ids):  # by case, then version
            if stored.originator_id != last:
                if isinstance(aggregate, Case):
                    out[UUID(str(last))] = aggregate
                aggregate, last = None, stored.originator_id
            # What project_aggregate does, without its runtime Protocol check per event.
            aggregate = to_domain_event(stored).mutate(aggregate)  # type: ignore[attr-defined]
        if isinstance(aggregate, Case):
            out[UUID(str(last))] = aggregate
        return out

    def existing(self, ids: Collection[UUID]) -> set[UUID]:
        """One query on PostgreSQL; one per case elsewhere."""
        recorder = self.recorder
        if not isinstance(recorder, SanshiPostgresRecorder):
            return super().existing(ids)
        return recorder.existing(ids)
