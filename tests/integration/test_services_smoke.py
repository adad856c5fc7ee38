"""The real test services start and do their basic job."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest

from tests.support.services import PostgresServer


@pytest.mark.kafka
def test_kafka_produce_consume_roundtrip(kafka_bootstrap: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="smoke-admin")
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    sent: dict[int, list[bytes]] = defaultdict(list)
    try:
        futures = [
            producer.send(topic, key=f"case-{i % 7}".encode(), value=f"event-{i}".encode())
            for i in range(100)
        ]
        producer.flush(timeout=30)
        for i, fut in enumerate(futures):
            md = fut.get(timeout=30)
            sent[md.partition].append(f"event-{i}".encode())
    finally:
        producer.close(timeout=10)

    group = f"smoke-group-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    got: dict[int, list[bytes]] = defaultdict(list)
    keys: dict[bytes, set[int]] = defaultdict(set)
    try:
        for msg in consumer:
            got[msg.partition].append(msg.value)
            keys[msg.key].add(msg.partition)
            if sum(len(v) for v in got.values()) >= 100:
                break
        consumer.commit()
        committed = {p: consumer.committed(TopicPartition(topic, p)) for p in got}
    finally:
        consumer.close()

    assert sum(len(v) for v in got.values()) == 100
    assert dict(got) == dict(sent)  # same messages, same order, per partition
    assert all(len(parts) == 1 for parts in keys.values())  # a key stays on one partition
    assert committed == {p: len(v) for p, v in got.items()}


@pytest.mark.postgres
def test_postgres_roundtrip(fresh_postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(fresh_postgres_url, autocommit=False) as conn:
        conn.execute("CREATE TABLE smoke (id serial PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO smoke (body) VALUES (%s), (%s)", ("投诉", "grievance"))
        conn.commit()
        rows = conn.execute("SELECT body FROM smoke ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["投诉", "grievance"]


@pytest.mark.postgres
def test_postgres_fresh_databases_are_isolated(
    pg_server: PostgresServer, fresh_postgres_url: str
) -> None:
    import psycopg

    other = pg_server.create_database(f"t_{uuid.uuid4().hex}")
    with psycopg.connect(fresh_postgres_url) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(other) as conn:
        n = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'").fetchone()
    assert n is not None and n[0] == 0
