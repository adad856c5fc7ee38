"""Intake through a real Kafka broker and ``sanshi worker`` processes (docs/channels.md, docs/configuration.md).

The big one: 10,000 mixed records over the six channels (5% repeated source refs, 2%
broken) published with ``sanshi ingest`` while a ``sanshi worker`` subprocess is SIGKILLed
several times mid-run and restarted. Afterwards every record is accounted for exactly once
(queued + duplicate + filtered + dead-lettered = input), the event store holds each expected
case exactly once and nothing else, the dead-letter table holds each broken record, and no
raw police name, number or ID number is in the database file or on any topic.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import bootstrap
from adapters.channels import source_ref_for
from adapters.transport import dead_letter_store
from adapters.transport.kafka import KafkaSettings
from engine.domain import case_id_for
from engine.settings import Settings
from tests.support.moved_clock import CLI_CODE

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", CLI_CODE]
RECEIVED = "engine.domain:Case.Received"

PHRASES = [
    "小区路灯坏了晚上看不清", "楼下烧烤店油烟很大", "公司拖欠工资三个月", "电梯坏了物业不修",
    "邻居深夜装修噪音扰民", "孩子入学手续办不下来", "道路积水严重需要修整", "地下室有燃气味道",
    "网购商品质量问题商家拒绝退货", "公交站台顶棚损坏", "垃圾桶满了没人清运", "自来水发黄不能喝",
    "小区门口占道经营", "养狗不拴绳吓到老人", "医保报销手续复杂", "低保申请没有回音",
    "工地夜间施工扰民", "共享单车乱停放", "下水道堵塞反味", "广场舞音响声音太大",
]
ADDRESSES = ["北海市海城区茶亭路幸福里小区", "北海市海城区中街街道", "北海市海城区东街街道海景花园",
             "北海市海城区工业园区", "北海市海城区西街街道贵州路"]
SURNAMES = ["张", "王", "李", "赵", "刘", "陈", "欧阳", "司马", "诸葛", "孔"]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅志玉兰"
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(r: random.Random) -> str:
    body = f"320302{r.randint(1950, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def mobile(r: random.Random, segments: tuple[str, ...] = ("139", "151", "186", "177")) -> str:
    return r.choice(segments) + f"{r.randint(0, 99_999_999):08d}"


POLICE_SEGMENTS = ("147", "173")  # no other channel's number can equal a police caller's


@dataclass
class Mix:
    """Files to ingest and what must come of them."""

    files: list[tuple[str, Path]]
    records: int = 0
    expected: set[tuple[str, str]] = field(default_factory=set)
    duplicates: int = 0
    filtered: int = 0
    broken: int = 0
    police_secrets: set[str] = field(default_factory=set)


def make_mix(folder: Path, n: int, seed: int = 7, repeat: float = 0.05, broken: float = 0.02) -> Mix:
    r = random.Random(seed)
    rows: dict[str, list[Any]] = {"hotline_json": [], "hotline_csv": [], "police": [], "app": [], "walkin": [],
                                  "grid": [], "enterprise": []}
    made: dict[str, list[tuple[Any, bool]]] = {k: [] for k in rows}
    mix = Mix(files=[])
    for i in range(n):
        kind = r.choice(list(rows))
        channel = "hotline" if kind.startswith("hotline") else kind
        if made[kind] and r.random() < repeat:
            record, passes = r.choice(made[kind])
            record = dict(record)
            if r.random() < 0.5:  # the same ref re-sent with edited text is still the same case
                record["content" if "content" in record else "summary"] += "（补充）"
            rows[kind].append(record)
            if passes:
                mix.duplicates += 1
            else:
                mix.filtered += 1
            continue
        text = "，".join(r.sample(PHRASES, 2)) + f"，编号{i}"
        when = f"2021-07-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00"
        if r.random() < broken:
            mix.broken += 1
            rows[kind].append(_broken(kind, i, when, r))
            continue
        passes = True
        if kind.startswith("hotline"):
            ref = f"BH{i:08d}"
            record = {"order_no": ref, "received_at": when, "caller_phone": mobile(r),
                      "caller_name": r.choice(SURNAMES) + "女士", "content": text,
                      "address": r.choice(ADDRESSES), "urgency": r.choice(["一般", "紧急"])}
        elif kind == "police":
            ref = f"JQ{i:012d}"
            name = r.choice(SURNAMES) + "".join(r.sample(GIVEN, 2))
            phone, ident = mobile(r, POLICE_SEGMENTS), id_number(r)
            category = r.choice(["纠纷", "纠纷", "求助", "咨询", "刑事", "交通"])
            record = {"incident_no": ref, "received_at": when, "caller_phone": phone, "caller_name": name,
                      "location": r.choice(ADDRESSES),
                      "summary": f"报警人{name}称{text}，联系电话{phone[:3]} {phone[3:7]} {phone[7:]}，身份证{ident}",
                      "police_category": category, "sub_category": "邻里纠纷"}
            passes = category in ("纠纷", "求助", "咨询")
            mix.police_secrets |= {name, phone, ident}
            if not passes:
                mix.filtered += 1
        elif kind == "app":
            ref = f"sub-{i}"
            record = {"submission_id": ref, "user_id": f"u{i}", "phone": mobile(r), "content": text,
                      "address": r.choice(ADDRESSES), "concern": r.choice(["worry", "trouble", "anguish"]),
                      "received_at": when, "lat": 21.48, "lng": 109.12, "photos": []}
        elif kind == "grid":
            ref = f"GR{i:08d}"
            record = {"report_no": ref, "grid_worker_id": "gw017", "grid_id": "第三网格", "received_at": when,
                      "content": text, "address": r.choice(ADDRESSES), "on_behalf": True,
                      "resident_name": "梁崇玉", "resident_phone": mobile(r), "consent": "同意",
                      "consent_method": r.choice(["口头", "书面", "签字"]), "consent_at": when}
        elif kind == "enterprise":
            ref = f"QH{i:08d}"
            record = {"request_no": ref, "received_at": when, "enterprise_name": "北海海韵食品有限公司",
                      "credit_code": r.choice(["91450500MA5K2B7C3C", "９１４５０５００ ＭＡ５Ｋ２Ｂ７Ｃ３Ｃ"]),
                      "contact_name": "覃志刚", "contact_phone": mobile(r), "content": text,
                      "address": r.choice(ADDRESSES)}
        else:
            ref = f"jy-chatinglu/{i:06d}"
            record = {"station_id": "jy-chatinglu", "ticket_no": f"{i:06d}", "staff_id": "gw017",
                      "resident_name": "梁崇玉", "phone": mobile(r), "content": text,
                      "address": r.choice(ADDRESSES), "on_behalf": str(r.random() < 0.3).lower(),
                      "received_at": when}
        made[kind].append((record, passes))
        rows[kind].append(record)
        if passes:
            mix.expected.add((channel, ref))
    mix.records = n
    mix.files = _write(folder, rows)
    return mix


def _broken(kind: str, i: int, when: str, r: random.Random) -> Any:
    choice = r.randrange(3)
    if kind in ("hotline_csv", "walkin"):  # CSV rows: no content, or a time that is not a time
        if kind == "walkin":
            return {"station_id": "jy-chatinglu", "ticket_no": f"x{i}", "content": "" if choice else "有内容",
                    "received_at": when if choice else "下周三"}
        return {"order_no": f"X{i}", "received_at": when if choice else "昨天", "content": "" if choice else "有内容"}
    if choice == 0:
        return "{this is not json"
    if choice == 1:
        return {"order_no": f"X{i}", "incident_no": f"X{i}", "submission_id": f"X{i}", "received_at": "someday",
                "content": "时间坏了", "summary": "时间坏了", "police_category": "纠纷"}
    return {"order_no": f"X{i}", "incident_no": f"X{i}", "submission_id": f"X{i}", "received_at": when,
            "content": "长" * 4001, "summary": "长" * 4001, "police_category": "纠纷"}


def _write(folder: Path, rows: dict[str, list[Any]]) -> list[tuple[str, Path]]:
    def jsonl(path: Path, items: list[Any]) -> Path:
        path.write_text(
            "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in items) + "\n",
            encoding="utf-8",
        )
        return path

    def table(path: Path, items: list[Any], header: list[str], keys: list[str], encoding: str) -> Path:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        for item in items:
            writer.writerow([item.get(k, "") for k in keys])
        path.write_bytes(out.getvalue().encode(encoding))
        return path

    hotline_keys = ["order_no", "received_at", "caller_phone", "caller_name", "content", "address", "urgency"]
    walkin_keys = ["station_id", "ticket_no", "staff_id", "resident_name", "phone", "content", "address",
                   "on_behalf", "received_at"]
    return [
        ("hotline", jsonl(folder / "hotline.jsonl", rows["hotline_json"])),
        ("hotline", table(folder / "hotline_gb18030.csv", rows["hotline_csv"],
                          ["工单编号", "来电时间", "来电号码", "来电人", "诉求内容", "诉求地址", "紧急程度"],
                          hotline_keys, "gb18030")),
        ("police", jsonl(folder / "police.jsonl", rows["police"])),
        ("app", jsonl(folder / "app.jsonl", rows["app"])),
        ("walkin", table(folder / "walkin.csv", rows["walkin"], walkin_keys, walkin_keys, "utf-8-sig")),
        ("grid", jsonl(folder / "grid.jsonl", rows["grid"])),
        ("enterprise", jsonl(folder / "enterprise.jsonl", rows["enterprise"])),
    ]


# ---- running the real commands -----------------------------------------------------------


@dataclass
class Env:
    db_url: str
    kafka: str
    prefix: str
    vars: dict[str, str]
    # The 10k run tests the transport, not the router: the keyword baseline keeps it inside
    # CI time (the sentence model costs ~1-10 ms a record). The PostgreSQL run uses the default.
    router: str = "keyword"


@pytest.fixture
def kafka_env(kafka_bootstrap: str, tmp_path: Path) -> Env:
    prefix = f"k{uuid.uuid4().hex[:10]}."
    db_url = f"sqlite:///{tmp_path / 'sanshi.db'}"
    return Env(db_url, kafka_bootstrap, prefix, _vars(db_url, kafka_bootstrap, prefix))


def _vars(db_url: str, kafka: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    env.update(
        SANSHI_DB=db_url,
        SANSHI_KAFKA=kafka,
        SANSHI_KAFKA_PREFIX=prefix,
        SANSHI_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def start_worker(env: Env, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*CLI, "worker", "--clock-interval", "0", "--instance-id", f"{env.prefix}w",
             "--router", env.router, *extra],
            env=env.vars, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )


def run_ingest(env: Env, channel: str, path: Path) -> dict[str, Any]:
    done = subprocess.run([*CLI, "ingest", channel, str(path), "--format", "json"],
                          env=env.vars, cwd=REPO, capture_output=True, text=True, timeout=300)
    # 0: all taken; 1: taken but for the mix's deliberately bad records (dead letters)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def received_in_sqlite(db_file: Path) -> tuple[int, int]:
    """(Case.Received events, distinct cases) — read straight from the file."""
    if not db_file.exists():
        return 0, 0
    con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30)
    try:
        row = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT originator_id) FROM stored_events WHERE topic = ?", (RECEIVED,)
        ).fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0, 0
    finally:
        con.close()
    return int(row[0]), int(row[1])


def topic_bytes(env: Env) -> bytes:
    """Every key, value and header on the intake and DLQ topics."""
    from kafka import KafkaConsumer, TopicPartition

    settings = KafkaSettings.from_env(env.kafka, {"SANSHI_KAFKA_PREFIX": env.prefix})
    consumer = KafkaConsumer(bootstrap_servers=env.kafka, enable_auto_commit=False, group_id=None)
    chunks: list[bytes] = []
    try:
        parts = [TopicPartition(t, p) for t in (settings.intake_topic, settings.dlq_topic)
                 for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in parts) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for rec in records:
                    chunks += [rec.key or b"", rec.value or b""]
                    chunks += [bytes(v or b"") for _, v in rec.headers or ()]
        assert all(consumer.position(tp) >= ends[tp] for tp in parts)
    finally:
        consumer.close()
    return b"\n".join(chunks)


_ESCAPED_CJK = re.compile(rb"\\u[3-9a-fA-F][0-9a-fA-F]{3}")
_DIGIT_RUN = re.compile(rb"[0-9X]{11,}")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{3,}")


def _texts(blob: bytes) -> list[str]:
    """The ways a name can sit in these bytes: UTF-8 (what sanshi writes), and JSON \\u
    escapes when there are any. (GB18030 spellings are checked in test_intake.py; decoding
    tens of megabytes twice more is not worth it here.)"""
    texts = [blob.decode("utf-8", "replace")]
    if _ESCAPED_CJK.search(blob):
        texts.append(re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), texts[0]))
    return texts


def assert_absent(secrets: set[str], *blobs: bytes) -> None:
    """No secret in any blob. Thousands of secrets over tens of megabytes: instead of one
    substring search per secret, index every window of the secrets' lengths that could be
    one (digit runs for numbers; CJK runs starting with a known surname for names)."""
    numbers = {s for s in secrets if s[:1].isdigit()}
    names = secrets - numbers
    lengths = {len(s) for s in numbers}
    name_lengths = {len(s) for s in names}
    starts = {s[0] for s in names}
    windows: set[str] = set()
    for blob in blobs:
        for raw_run in _DIGIT_RUN.findall(blob):
            run = raw_run.decode("ascii")
            windows.update(run[i : i + n] for n in lengths for i in range(len(run) - n + 1))
        for text in _texts(blob):
            for run in _CJK_RUN.findall(text):
                windows.update(
                    run[i : i + n]
                    for i, ch in enumerate(run)
                    if ch in starts
                    for n in name_lengths
                    if i + n <= len(run)
                )
    leaks = sorted(secrets & windows)
    assert not leaks, f"raw police identifiers found: {leaks[:10]}"


# ---- the tests ---------------------------------------------------------------------------


def test_ten_thousand_mixed_records_with_the_worker_killed_mid_run(
    kafka_env: Env, tmp_path: Path
) -> None:
    mix = make_mix(tmp_path, 10_000)
    db_file = tmp_path / "sanshi.db"
    log = tmp_path / "worker.log"
    expected_cases = len(mix.expected)
    kills = 0
    worker = start_worker(kafka_env, log)
    started = time.monotonic()
    reports: list[dict[str, Any]] = []
    published = [0.0]

    def publish() -> None:  # `sanshi ingest` file after file, while the worker is killed
        for channel, path in mix.files:
            reports.append(run_ingest(kafka_env, channel, path))
        published[0] = time.monotonic()

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        # Kill the worker three times while it is applying (each time once it has made
        # progress past the mark) and restart it at once.
        for fraction in (0.2, 0.45, 0.7):
            deadline = time.monotonic() + 180
            while received_in_sqlite(db_file)[0] < fraction * expected_cases:
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "worker made no progress"
                time.sleep(0.1)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            assert received_in_sqlite(db_file)[0] < expected_cases  # killed mid-run
            kills += 1
            worker = start_worker(kafka_env, log)
        publisher.join(timeout=300)
        assert not publisher.is_alive()
        deadline = time.monotonic() + 180
        while received_in_sqlite(db_file)[0] < expected_cases and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
        applied = time.monotonic()
        # Let it drain the DLQ topic and commit, then stop it the polite way.
        final = start_worker_until_idle(kafka_env, worker, log)
        assert final == 0, log.read_text()[-3000:]
    finally:
        publisher.join(timeout=300)
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    totals = {k: sum(r[k] for r in reports) for k in ("queued", "duplicate", "filtered", "dead_lettered", "failed")}
    assert totals["failed"] == 0
    assert sum(totals.values()) == mix.records == 10_000
    assert totals == {"queued": expected_cases, "duplicate": mix.duplicates, "filtered": mix.filtered,
                      "dead_lettered": mix.broken, "failed": 0}
    events, distinct = received_in_sqlite(db_file)
    assert events == distinct == expected_cases  # each case once: none twice, none missing
    runtime = bootstrap(Settings(db=kafka_env.db_url, kafka=None, config_path=None, cipher_key=None))
    try:
        notes = runtime.app.recorder.select_notifications(0, 10**7, topics=(RECEIVED,))
        key = Settings.from_env(kafka_env.vars).district_key  # police refs are kept as its HMAC
        assert {n.originator_id for n in notes} == {
            case_id_for(c, source_ref_for(c, ref, key)) for c, ref in mix.expected
        }
        assert dead_letter_store(runtime).count() == mix.broken
    finally:
        runtime.close()
    assert kills == 3
    scanning = time.monotonic()
    assert_absent(mix.police_secrets, b"".join(p.read_bytes() for p in tmp_path.glob("sanshi.db*")),
                  topic_bytes(kafka_env))
    rate_publish = mix.records / (published[0] - started)
    rate_total = mix.records / (applied - started)
    print(f"\n10k through Kafka: published {rate_publish:,.0f} records/s (4 CLI processes), "
          f"end to end {rate_total:,.0f} records/s with {kills} worker kills "
          f"({applied - started:.1f}s); privacy scan {time.monotonic() - scanning:.1f}s")


def test_the_privacy_scan_sees_what_is_there() -> None:
    secrets = {"欧阳娜娜", "孔伟明", "14712345678", "320302198001011239"}
    for secret in secrets:
        for blob in (f"x{secret}y".encode(), json.dumps(f"x{secret}y").encode(),
                     b"\x00\xff" + f"{secret}1".encode()):
            with pytest.raises(AssertionError, match=secret):
                assert_absent(secrets, b"noise", blob)
    assert_absent(secrets, "欧阳某 孔某 *******5678 **************1239".encode())


def start_worker_until_idle(env: Env, worker: subprocess.Popen[bytes], log: Path) -> int:
    """Stop the running worker with SIGTERM (it finishes its poll and commits), then run one
    with --idle-exit to drain what is left; returns its exit status."""
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    last = start_worker(env, log, "--idle-exit", "1.5")
    return last.wait(timeout=120)


def test_unparseable_message_on_the_intake_topic_is_a_dead_letter_once(kafka_env: Env, tmp_path: Path) -> None:
    from kafka import KafkaProducer

    from adapters.transport.kafka import ensure_topics

    settings = KafkaSettings.from_env(kafka_env.kafka, {"SANSHI_KAFKA_PREFIX": kafka_env.prefix})
    ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=kafka_env.kafka, acks="all")
    try:
        meta = producer.send(settings.intake_topic, key=b"k", value=b"\x00garbage{").get(timeout=30)
    finally:
        producer.close()
    log = tmp_path / "worker.log"
    for _ in range(2):  # the second run finds the offset committed: nothing twice
        assert start_worker(kafka_env, log, "--idle-exit", "1").wait(timeout=120) == 0, log.read_text()
    runtime = bootstrap(Settings(db=kafka_env.db_url, kafka=None, config_path=None, cipher_key=None))
    try:
        (letter,) = dead_letter_store(runtime).list()
    finally:
        runtime.close()
    assert letter["position"] == f"{settings.intake_topic}:{meta.partition}:{meta.offset}"
    assert letter["source"] == "worker" and "message" in letter["reason"]
    assert letter["raw_size"] == len(b"\x00garbage{")
    assert letter["id"].encode() in topic_bytes(kafka_env)  # also on the DLQ topic


def test_ingest_in_kafka_mode_says_published(kafka_env: Env, tmp_path: Path) -> None:
    samples = Path(__file__).parent.parent / "data" / "intake_samples"
    done = subprocess.run([*CLI, "ingest", "police", str(samples / "police.jsonl")],
                          env=kafka_env.vars, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "已发布" in done.stdout and "sanshi worker" in done.stdout
    assert "已受理" not in done.stdout
    assert_absent({"15150001234", "13952001234", "320302198001011239", "王某林"}, topic_bytes(kafka_env))


def test_worker_needs_kafka(tmp_path: Path) -> None:
    env = _vars(f"sqlite:///{tmp_path / 's.db'}", "", "")
    env.pop("SANSHI_KAFKA")
    done = subprocess.run([*CLI, "worker"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "SANSHI_KAFKA" in done.stderr


@pytest.mark.postgres
def test_postgres_worker_killed_mid_run_keeps_each_case_once(
    kafka_bootstrap: str, fresh_postgres_url: str, tmp_path: Path
) -> None:
    prefix = f"p{uuid.uuid4().hex[:10]}."
    env = Env(fresh_postgres_url, kafka_bootstrap, prefix,
              _vars(fresh_postgres_url, kafka_bootstrap, prefix), router="learning")
    mix = make_mix(tmp_path, 1_000, seed=11)
    log = tmp_path / "worker.log"
    runtime = bootstrap(Settings(db=fresh_postgres_url, kafka=None, config_path=None, cipher_key=None))
    try:
        def received() -> list[UUID]:
            notes = runtime.app.recorder.select_notifications(0, 10**7, topics=(RECEIVED,))
            return [n.originator_id for n in notes]  # type: ignore[misc]

        worker = start_worker(env, log)
        try:
            for channel, path in mix.files:
                run_ingest(env, channel, path)
            deadline = time.monotonic() + 120
            while len(received()) < len(mix.expected) // 2:
                assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            worker = start_worker(env, log)
            assert start_worker_until_idle(env, worker, log) == 0, log.read_text()[-3000:]
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        ids = received()
        assert len(ids) == len(set(ids)) == len(mix.expected)
        assert dead_letter_store(runtime).count() == mix.broken
    finally:
        runtime.close()
    assert_absent(mix.police_secrets, postgres_dump(fresh_postgres_url), topic_bytes(env))


def postgres_dump(url: str) -> bytes:
    """Every value of every table in the database, bytea as raw bytes."""
    import psycopg

    chunks: list[bytes] = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        assert "dead_letters" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def test_worker_runs_the_deadline_clock_and_the_projections(
    kafka_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An urgent case received in 2021 has long missed its 30-minute claim deadline: the
    worker's clock escalates it (督办) once, and the views it keeps show the case."""
    from adapters.transport import submit
    from adapters.transport.worker import Worker, WorkerOptions

    settings = Settings(db=kafka_env.db_url, kafka=kafka_env.kafka, config_path=None, cipher_key=None)
    monkeypatch.setenv("SANSHI_KAFKA_PREFIX", kafka_env.prefix)
    runtime = bootstrap(settings)
    try:
        record = {"order_no": "CLOCK1", "received_at": "2021-07-16 09:30", "urgency": "紧急",
                  "content": "茶亭路幸福里小区路灯全坏了，晚上漆黑一片", "address": "北海市海城区茶亭路幸福里小区"}
        assert submit(runtime, "hotline", record).status == "queued"
        case_id = case_id_for("hotline", "CLOCK1")
        for _ in range(2):  # a second run must not escalate the same deadline again
            Worker(runtime, KafkaSettings.from_env(kafka_env.kafka),
                   WorkerOptions(clock_interval=0.01, poll_timeout_ms=200, session_timeout_ms=6000)
                   ).run(idle_exit=0.5, max_seconds=60)
        case = runtime.app.get_case(case_id)
        if case.dispatch is None:
            pytest.skip("the router sent this case to the manual queue: no deadline to miss")
        escalations = [
            n for n in runtime.app.recorder.select_notifications(0, 1000)
            if n.originator_id == case_id and n.topic.endswith("Case.Escalated")
        ]
        assert 1 <= len(escalations) <= 2  # claim and/or handle deadline, each once
        assert case.escalation_level == len(escalations)
        assert runtime.read_model.case_summary(case_id) is not None
    finally:
        runtime.close()
