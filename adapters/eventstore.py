"""The PostgreSQL event store as intake needs it: eventsourcing's own recorder
(``PostgresApplicationRecorder``, its tables, table lock and notifications unchanged) with a
faster insert and reads of many aggregates in one query. ``SanshiApplication`` picks it through
eventsourcing's ``APPLICATION_RECORDER_TOPIC`` when the store is PostgreSQL; the other stores
keep eventsourcing's recorders."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier


class SanshiPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, with two changes for intake:

    - the insert sends four arrays of plain types in binary (``unnest(%b::uuid[],
      %b::bigint[], %b::text[], %b::bytea[])``) instead of one array of composite rows in text,
      which psycopg builds value by value in Python, escaping every byte of the state (15-19%
      of the worker's time; 1,600 events: 45 ms → 5 ms). Same statement otherwise: same table
      lock, same notify, same ``RETURNING notification_id`` in insert order;
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

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_columns_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

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
