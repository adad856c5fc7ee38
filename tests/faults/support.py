"""What the fault tests share: sizes (short in CI, long with SANSHI_FAULTS_LONG=1), a corpus
of records over the four channels with what must come of them, ``sanshi ingest`` and
``sanshi worker`` as real processes, and the checks (each case once in the log, views equal a
rebuild, raw bytes of databases and topics)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from adapters.channels import source_ref_for
from engine.domain import case_id_for
from tests.support.moved_clock import CLI_CODE
from tests.support.processes import stop_process

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", CLI_CODE]
RECEIVED = "engine.domain:Case.Received"

LONG = os.environ.get("SANSHI_FAULTS_LONG") == "1"


def size(short: int, long: int) -> int:
    """The short figure in CI, the long one with SANSHI_FAULTS_LONG=1."""
    return long if LONG else short


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1,
    check: Callable[[], None] | None = None,
) -> None:
    """Poll instead of sleeping a fixed time: generous timeouts for two loaded cores."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# ---- a corpus of records -------------------------------------------------------------------

PHRASES = [
    "小区路灯坏了晚上看不清", "楼下烧烤店油烟很大", "公司拖欠工资三个月", "电梯坏了物业不修",
    "邻居深夜装修噪音扰民", "孩子入学手续办不下来", "道路积水严重需要修整", "地下室有燃气味道",
    "网购商品质量问题商家拒绝退货", "公交站台顶棚损坏", "垃圾桶满了没人清运", "自来水发黄不能喝",
    "小区门口占道经营", "养狗不拴绳吓到老人", "医保报销手续复杂", "低保申请没有回音",
    "工地夜间施工扰民", "共享单车乱停放", "下水道堵塞反味", "广场舞音响声音太大",
]
ADDRESSES = [
    "北海市海城区茶亭路幸福里小区", "北海市海城区中街街道", "北海市海城区东街街道海景花园",
    "北海市海城区工业园区", "北海市海城区西街街道贵州路",
]
SURNAMES = ["张", "王", "李", "赵", "刘", "陈", "欧阳", "司马", "诸葛", "孔"]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅志玉兰"
# Police callers get names no other channel's caller can have: a police name found in storage
# is then a police leak, not a namesake from the hotline.
POLICE_GIVEN = "峰岚嵩岳川泽澜涵澈渊峥嵘"
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHANNELS = ("hotline", "police", "app", "walkin", "grid", "enterprise")


def id_number(r: random.Random) -> str:
    """A checksum-valid 18-digit resident ID number."""
    body = (
        f"450502{r.randint(1950, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
        f"{r.randint(0, 999):03d}"
    )
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def mobile(r: random.Random, segments: tuple[str, ...] = ("139", "151", "186")) -> str:
    return r.choice(segments) + f"{r.randint(0, 99_999_999):08d}"


def full_name(r: random.Random, given: str = GIVEN) -> str:
    return r.choice(SURNAMES) + "".join(r.sample(given, 2))


@dataclass
class Corpus:
    """Files to ingest and what must come of them."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    records: int = 0
    expected: set[UUID] = field(default_factory=set)  # cases that must be in the log, once each
    duplicates: int = 0  # re-sent records (same channel and source_ref)
    filtered: int = 0  # police business
    broken: int = 0  # must be dead-lettered
    police_secrets: set[str] = field(default_factory=set)  # raw police name / phone / ID
    personal: set[str] = field(default_factory=set)  # every caller's name and phone
    texts: set[str] = field(default_factory=set)  # a marker from every complaint text


def make_corpus(
    folder: Path,
    n: int,
    seed: int,
    repeat: float = 0.03,
    broken: float = 0.01,
    district_key: bytes | None = None,
) -> Corpus:
    """``district_key``: the runtime's (Settings.district_key); a police case's id derives
    from the keyed hash of its incident number."""
    r = random.Random(seed)
    # Re-sent records go to a second file per channel, ingested by another process: they
    # travel through Kafka and the worker must find them already received.
    rows: dict[str, list[Any]] = {f: [] for c in CHANNELS for f in (c, f"{c}-resend")}
    sent: dict[str, list[tuple[dict[str, Any], bool]]] = {c: [] for c in CHANNELS}
    corpus = Corpus(records=n)
    for i in range(n):
        channel = r.choice(CHANNELS)
        if sent[channel] and r.random() < repeat:
            again, passes = r.choice(sent[channel])
            rows[f"{channel}-resend"].append(again)
            if passes:
                corpus.duplicates += 1
            else:
                corpus.filtered += 1
            continue
        when = f"2026-0{r.randint(3, 9)}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00"
        marker = f"编号F{seed}N{i:07d}"
        text = "，".join(r.sample(PHRASES, 2)) + f"，{marker}"
        if r.random() < broken:
            corpus.broken += 1
            rows[channel].append(_broken(channel, i, when, r))
            continue
        passes = True
        phone, name = mobile(r), full_name(r)
        if channel == "hotline":
            ref = f"BH{seed}{i:08d}"
            record: dict[str, Any] = {
                "order_no": ref, "received_at": when, "caller_phone": phone,
                "caller_name": name, "content": text, "address": r.choice(ADDRESSES),
                "urgency": r.choice(["一般", "一般", "紧急"]),
            }
        elif channel == "police":
            ref = f"JQ{seed}{i:010d}"
            phone, name = mobile(r, ("147", "173")), full_name(r, POLICE_GIVEN)
            ident = id_number(r)
            category = r.choice(["纠纷", "纠纷", "求助", "咨询", "刑事", "交通"])
            record = {
                "incident_no": ref, "received_at": when, "caller_phone": phone,
                "caller_name": name, "location": r.choice(ADDRESSES),
                "summary": f"报警人{name}称{text}，联系电话{phone}，身份证{ident}",
                "police_category": category, "sub_category": "邻里纠纷",
            }
            passes = category in ("纠纷", "求助", "咨询")
            corpus.police_secrets |= {name, phone, ident}
            if not passes:
                corpus.filtered += 1
        elif channel == "app":
            ref = f"sub-{seed}-{i}"
            name = ""
            record = {
                "submission_id": ref, "user_id": f"u{i}", "phone": phone, "content": text,
                "address": r.choice(ADDRESSES), "received_at": when, "lat": 21.48,
                "lng": 109.12, "photos": [], "concern": r.choice(["worry", "trouble", "anguish"]),
            }
        elif channel == "grid":
            ref = f"GR{seed}{i:08d}"
            record = {
                "report_no": ref, "grid_worker_id": "gw017", "grid_id": "茶亭路社区第三网格",
                "received_at": when, "content": text, "address": r.choice(ADDRESSES),
                "on_behalf": True, "resident_name": name, "resident_phone": phone,
                "consent": "同意", "consent_method": r.choice(["口头", "书面", "签字"]), "consent_at": when,
            }
        elif channel == "enterprise":
            ref = f"QH{seed}{i:08d}"
            record = {
                "request_no": ref, "received_at": when, "enterprise_name": "北海海韵食品有限公司",
                "credit_code": "91450500MA5K2B7C3C", "contact_name": name, "contact_phone": phone,
                "content": text, "address": r.choice(ADDRESSES),
            }
        else:
            ticket = f"{seed}-{i:07d}"
            ref = f"jy-chatinglu/{ticket}"
            record = {
                "station_id": "jy-chatinglu", "ticket_no": ticket, "staff_id": "gw017",
                "resident_name": name, "phone": phone, "content": text,
                "address": r.choice(ADDRESSES), "on_behalf": r.random() < 0.3, "received_at": when,
            }
        sent[channel].append((record, passes))
        rows[channel].append(record)
        if passes:
            corpus.expected.add(case_id_for(channel, source_ref_for(channel, ref, district_key)))
            corpus.texts.add(marker)
            corpus.personal |= {s for s in (phone, name) if s}
    for name, items in rows.items():
        if not items:
            continue
        path = folder / f"{name}.jsonl"
        path.write_text(
            "".join(
                (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n"
                for x in items
            ),
            encoding="utf-8",
        )
        corpus.files.append((name.removesuffix("-resend"), path))
    return corpus


def _broken(channel: str, i: int, when: str, r: random.Random) -> Any:
    kind = r.randrange(3)
    if kind == 0:
        return "{这不是 JSON"
    record = {"order_no": f"X{i}", "incident_no": f"X{i}", "submission_id": f"X{i}",
              "station_id": "jy-chatinglu", "ticket_no": f"X{i}", "police_category": "纠纷",
              "received_at": "某天" if kind == 1 else when}
    text = "长" * 4001 if kind == 2 else "时间坏了"
    record["content" if channel != "police" else "summary"] = text
    return record


# ---- real processes ------------------------------------------------------------------------


def cli_env(db_url: str, kafka: str | None = None, prefix: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    env.update(
        SANSHI_DB=db_url,
        SANSHI_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.update(extra)
    if kafka:
        env.update(SANSHI_KAFKA=kafka, SANSHI_KAFKA_PREFIX=prefix)
    return env


def run_ingest(env: dict[str, str], channel: str, path: Path, timeout: float = 900) -> dict[str, Any]:
    done = subprocess.run(
        [*CLI, "ingest", channel, str(path), "--format", "json"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: some records dead-lettered
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def run_ingest_retrying(
    env: dict[str, str], channel: str, path: Path, failures: list[str], attempts: int = 30
) -> dict[str, Any]:
    """As an operator would: run ``sanshi ingest`` again until it succeeds (re-sending is
    safe: what was published before is a duplicate). Each failed run's last words are kept."""
    for _ in range(attempts):
        done = subprocess.run(
            [*CLI, "ingest", channel, str(path), "--format", "json"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
        )
        # 0: all taken; 1: taken but for dead letters, which a second run would not change.
        if done.returncode in (0, 1):
            return json.loads(done.stdout)  # type: ignore[no-any-return]
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
        failures.append(f"exit {done.returncode}: {lines[-1][:300]}")
        time.sleep(1.0)
    raise AssertionError(f"sanshi ingest kept failing: {failures[-3:]}")


class WorkerProcess:
    """``sanshi worker`` as a child process, with static group membership so that a restart
    takes its partitions over at once."""

    def __init__(self, env: dict[str, str], log: Path, instance: str) -> None:
        self.env = env
        self.log = log
        self.instance = instance
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self, *extra: str) -> WorkerProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*CLI, "worker", "--clock-interval", "0", "--instance-id", self.instance, *extra],
                env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        assert self.alive(), f"worker exited: {self.tail()}"

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        self.kills += 1

    def drain(self, idle: float = 2.0, timeout: float = 600) -> None:
        """Stop politely (SIGTERM finishes the poll and commits), then run once more until
        every partition is consumed and nothing arrived for ``idle`` seconds."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)
        self.start("--idle-exit", str(idle))
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        assert code == 0, self.tail()

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            stop_process(self.proc)


# ---- checks --------------------------------------------------------------------------------


def received_counts(app: Any) -> Counter[UUID]:
    """Received events per case id, straight from the log."""
    counts: Counter[UUID] = Counter()
    start = 0
    while True:
        notes = app.recorder.select_notifications(
            start, 10_000, topics=(RECEIVED,), inclusive_of_start=False
        )
        if not notes:
            return counts
        counts.update(n.originator_id for n in notes)
        start = notes[-1].id


def assert_each_once(counts: Counter[UUID], expected: set[UUID]) -> None:
    doubled = [cid for cid, n in counts.items() if n > 1]
    lost = expected - set(counts)
    strange = set(counts) - expected
    assert not doubled, f"{len(doubled)} cases received twice, e.g. {doubled[:3]}"
    assert not lost, f"{len(lost)} cases lost, e.g. {sorted(lost)[:3]}"
    assert not strange, f"{len(strange)} cases nobody sent, e.g. {sorted(strange)[:3]}"


def view_rows(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table, comparable across SQLite and PostgreSQL."""
    from sqlalchemy import select

    from projections.tables import COUNT_FIELDS, VIEW_TABLES

    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in VIEW_TABLES:
            rows = [
                tuple(_plain(v) for v in row)
                for row in conn.execute(select(*table.columns))
            ]
            names = [c.name for c in table.columns]
            if names[-len(COUNT_FIELDS):] == list(COUNT_FIELDS) and table.name.startswith(
                "view_counts"
            ):
                # A counter row whose every count is 0 adds nothing to any rate; whether it
                # exists depends on where batch boundaries fell (+1 and -1 in one batch or two).
                rows = [r for r in rows if any(r[-len(COUNT_FIELDS):])]
            out[table.name] = sorted(rows, key=repr)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, float):
        return round(value, 9)
    return value


def assert_views_equal_rebuild(app: Any, live_engine: Any, folder: Path) -> int:
    """Replay the whole log into empty views in a separate SQLite file and compare every row
    with the live views; returns how many events were replayed."""
    from projections.projector import Projector
    from projections.tables import make_engine

    live_projector = Projector(app, live_engine)
    head = live_projector.head()
    assert live_projector.position() == head, (
        f"live views behind the log: {live_projector.position()} of {head}"
    )
    engine = make_engine(f"sqlite:///{folder / 'rebuild.db'}")
    try:
        rebuilt = Projector(app, engine)
        rebuilt.ensure_schema()
        applied = rebuilt.catch_up()
        live, fresh = view_rows(live_engine), view_rows(engine)
        for name in fresh:
            if live[name] != fresh[name]:
                only_live = set(live[name]) - set(fresh[name])
                only_fresh = set(fresh[name]) - set(live[name])
                raise AssertionError(
                    f"{name}: live views differ from a rebuild: {len(only_live)} rows only live "
                    f"(e.g. {sorted(only_live, key=repr)[:2]}), {len(only_fresh)} only rebuilt "
                    f"(e.g. {sorted(only_fresh, key=repr)[:2]})"
                )
        return applied
    finally:
        engine.dispose()


def topic_bytes(bootstrap: str, topics: Iterable[str]) -> bytes:
    """Every key, value and header on these topics, as raw bytes."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    chunks: list[bytes] = []
    try:
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or [])
        ]
        assert parts, "no such topics"
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, "could not read the topics to their end"
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for rec in records:
                    chunks += [rec.key or b"", rec.value or b""]
                    chunks += [bytes(v or b"") for _, v in rec.headers or ()]
    finally:
        consumer.close()
    return b"\n".join(chunks)


def postgres_dump(url: str) -> bytes:
    """Every value of every table in the database (bytea as its raw bytes)."""
    import psycopg

    chunks: list[bytes] = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode("utf-8"))
    return b"\n".join(chunks)


def spellings(secret: str) -> set[bytes]:
    """How a string may sit in bytes: UTF-8, JSON-escaped, GB18030."""
    return {secret.encode(), json.dumps(secret)[1:-1].encode(), secret.encode("gb18030")}


def leaks(secrets: Iterable[str], blob: bytes) -> list[str]:
    return sorted(s for s in secrets if any(sp in blob for sp in spellings(s)))


def count_received_pg(url: str, table: str) -> int:
    """How many Received events the log holds now (cheap enough to poll)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute(
            f'SELECT count(*) FROM "{table}" WHERE topic = %s', (RECEIVED,)
        ).fetchone()
    return int(row[0]) if row else 0
