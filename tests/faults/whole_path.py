"""Fuzz the whole path: every door -> the log -> the views -> a rebuild (issue 14).

One hypothesis ``RuleBasedStateMachine`` (``WholePath``) sends sequences of commands through
every door of one in-process runtime, with hostile values mixed into realistic ones:

- HTTP API: operator intake (``POST /api/cases``, ``/api/intake/app``, ``/api/intake/walkin``),
  unit commands (claim, return, extend, mediation start/conclude, resolve; with the owner's
  token, another unit's, or for ids that do not exist), centre decisions (dispatch, extension,
  follow-up/rating, reclassify, answer, reject, urge), reads (inbox, case, events, queues,
  stats, ranking, overdue, case search) and raw junk bodies (deep JSON, invalid UTF-8);
- Open311: ``POST requests.json|xml`` form-encoded and JSON, ``GET requests.json`` with
  parameters, ``GET requests/{id}.json``;
- ``sanshi ingest``: a file per step, through the code the CLI runs (``read_path`` + ``ingest``);
  police records only arrive this way and through Kafka (there is no police HTTP route);
- Kafka: one message through the worker's own poll step (``Worker.process``) in-process.

Invariants: no answer is ever a 5xx; after every step the views have caught up with the log
(lag 0) and nothing was set aside (``quarantined``); at the end of every example a rebuild of
the views from the log equals the live views row by row.

The clock is moved (time-machine) to an explicit start, so nothing depends on today's date;
the ``clock`` rule moves it on and runs the deadline clock.

The long variant (``python -m tests.faults.fuzz_long``) runs the same machine with a ``Tally``
that counts instead of failing, so that a million steps report every kind of failure.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import io
import json
import logging
import re
import tempfile
import time
import urllib.parse
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import time_machine
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from sqlalchemy import func, select

from adapters.accounts_store import account_events
from adapters.bootstrap import Runtime, bootstrap
from adapters.channels.reading import read_path
from adapters.http import create_app
from adapters.transport import ingest
from adapters.transport.kafka import CHANNEL_HEADER, POSITION_HEADER, KafkaSettings
from adapters.transport.worker import Worker, WorkerOptions
from engine.deadlines import SHANGHAI
from engine.settings import Settings

# ---- the clock -----------------------------------------------------------------------------

# A Monday, a working day; the moved variants start inside 2027's Spring Festival (not known
# to the holiday package) and in 2031.
START = dt.datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)
SPRING_FESTIVAL_2027 = dt.datetime(2027, 2, 8, 10, 0, tzinfo=SHANGHAI)
YEAR_2031 = dt.datetime(2031, 6, 16, 10, 0, tzinfo=SHANGHAI)

# ---- tokens ----------------------------------------------------------------------------------

OPERATOR = "demo-operator-token"
LEADER = "demo-leader-token"
ADMIN = "demo-admin-token"
NOBODY = "not-a-real-token-123"
UNITS = ("chatinglu", "chengguan", "zhujian", "renshe", "huanjing", "zhongjie", "gongdian")

# ---- values ----------------------------------------------------------------------------------


class Huge(str):
    """A long string that hypothesis prints as the expression that makes it (a failing
    example's steps stay readable)."""

    def __new__(cls, unit: str, times: int) -> Huge:
        self = super().__new__(cls, unit * times)
        self.expr = f"{unit!r} * {times}"
        return self

    def __repr__(self) -> str:
        return self.expr


class HugeBytes(bytes):
    def __new__(cls, data: bytes, expr: str) -> HugeBytes:
        self = super().__new__(cls, data)
        self.expr = expr
        return self

    def __repr__(self) -> str:
        return self.expr


PHRASES = [
    "茶亭路路灯不亮了，晚上黑乎乎的", "楼下烧烤店油烟很大", "公司拖欠工资三个月", "电梯坏了物业不修",
    "邻居深夜装修噪音扰民", "孩子入学手续办不下来", "道路积水严重需要修整", "地下室有燃气味道",
    "垃圾桶满了没人清运", "自来水发黄不能喝", "小区门口占道经营", "与邻居因漏水发生纠纷",
    "工地夜间施工扰民", "共享单车乱停放", "下水道堵塞反味", "广场舞音响声音太大",
]
ADDRESSES = [
    "海城区茶亭路幸福里小区", "北海市海城区中街街道", "北海市海城区东街街道海景花园",
    "海城区工业园区", "北海市海城区西街街道贵州路", "",
]
NAMES = ["张伟", "王芳", "欧阳娜", "李强", ""]
PHONES = ["13812345678", "15150001234", "0779-1234567", ""]

HOSTILE_TEXT = [
    "\x00",
    "办结\x00了",
    "\x01\x07\x1b[31m\x7f\x85",
    "\ud800",
    "灯\udfff坏",
    "\ud83d",  # half an emoji
    "𠮷😀👨‍👩‍👧",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\ufeff\u200b\u200d",
    "e\u0301",
    "\r\n\r\n",
    " ",
    "",
    "'; DROP TABLE stored_events; --",
    "<script>alert(1)</script>",
    "${jndi:ldap://example.org/a}",
    "%s%n",
    "ｆｕｌｌ　４５０５０２１９９００１０１１２３４",
    "四五〇五〇二一九九〇〇一〇一一二三四",
    "身份证450502199001011234，电话13877912345",
    "苏C·12345 桂E12345 警号：012345",
    "null",
    "NaN",
    Huge("一", 4000),
    Huge("一", 4001),
    Huge("长", 70_000),
]
HOSTILE_TIMES = [
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-12:00",
    "0001-01-01",
    "1970-01-01T00:00:00Z",
    "2038-01-19T03:14:08Z",
    "2026-11-02 09:00",  # naive
    "2026-11-02T09:00:00+14:00",
    "2026-11-02T09:00:00-12:00",
    "２０２６-１１-０２",
    "２０２６-１１-０２T０９:００:００+08:00",
    "二〇二六年十一月二日",
    "2026-13-45",
    "2026-02-30T25:61:00",
    "2026-11-02T09:00:00+24:00",
    "1e9",
    "-1",
    "",
    "\x00",
    "\ud800",
]
WRONG_TYPES: list[Any] = [None, 0, -1, 10**30, 1e308, True, [], {}, ["x"], {"a": 1}]
BOOLS: list[Any] = [True, False, "true", "否", 1, 0, None, "maybe"]
RATINGS: list[Any] = ["satisfied", "basically_satisfied", "dissatisfied", "满意", "非常满意", "", 1, None]
CONCERNS: list[Any] = ["worry", "trouble", "anguish", "panic", "", None, 1]
CATEGORIES: list[Any] = ["municipal", "city_management", "housing", "labour", "dispute", "other",
                         "no_such_category", "市政", "../", "municipal\x00", "", 3]
UNIT_IDS: list[Any] = [*UNITS, "centre", "nobody", "chatinglu\x00", "", "../../etc", 7]
NONEXISTENT_IDS = [str(uuid.UUID(int=0)), "not-a-uuid", "../../etc/passwd", "1 OR 1=1",
                   "0" * 10_000, "\x00", "\ud800", "１２３"]

# The spellings the real world uses: phone numbers as callers and exporters write them (the
# search must find the case whichever was typed), plates of every format, Chinese numerals.
MOBILE = "13877912345"
PHONE_SPELLINGS = [
    "13877912345", "+86 138 7791 2345", "+86-138-7791-2345", "0086 13877912345", "+8613877912345",
    "(+86) 138-7791-2345", "１３８７７９１２３４５", "＋８６　１３８－７７９１－２３４５", "138 7791 2345",
    "138-7791-2345", "（+86）13877912345",
]
PHONE_HOSTILE = [
    "一三八七七九一二三四五", "138７７９1２3４5 转 8001", "+86", "0", "+" * 50, "1" * 50, "1" * 51,
    "13877912345\x00", "tel:13877912345", "13877912345;13877912346", "\ud800", "😀",
]
PLATES = [
    "桂E12345", "桂E·12345", "桂E 12345", "桂ED12345", "桂EF12345", "桂E1234学", "桂E1234警",
    "粤Z1234港", "使012345", "WJ桂12345", "桂Ｅ１２３４５", "桂e12345", "桂E-12345", "新A·0000挂",
]
CHINESE_NUMERALS = ["二〇二六年十一月二日", "第十二号", "壹万贰仟叁佰元", "三十一栋二单元四〇二", "一百零八号"]
REAL_WORLD_TEXT = [
    *(f"车牌{p}占用消防通道" for p in PLATES), *(f"来电人电话{p}反映噪音" for p in PHONE_SPELLINGS[:4]),
    *(f"{n}路灯不亮" for n in CHINESE_NUMERALS), "１２３４５热线", "茶亭路—幸福里｜３栋", "a\u3000b\u00a0c",
]
ODD_DAYS: list[Any] = ["0001-01-01", "9999-12-31", "1999-12-31", "2000-01-01", "2099-12-31", "2100-01-01",
                       "２０２６-１１-０２", "2026-02-30", "2026-11-02T09:00:00+08:00", "", "\x00", 20261102,
                       None, "2026/11/02", "二〇二六年十一月二日"]
TOKENS_ANY = [
    "demo-operator-token", "demo-leader-token", "demo-admin-token", "not-a-real-token-123",
    "demo-unit-chatinglu", "demo-unit-zhongjie", "demo-unit-chengguan", "demo-unit-huanjing",
    "demo-unit-zhujian",
]

# ---- the newer channels (docs/channels.md): the spellings their exporters use --------------

NEW_CHANNELS = ("grid", "enterprise", "court", "media", "town")
FILE_CHANNELS = ["hotline", "police", "app", "walkin", *NEW_CHANNELS]
ABSURD_DAYS = ["2026年2月30日 09:00", "2026-02-30 09:00", "2026/2/29 9:00", "0001-01-01T00:00:00+14:00",
               "9999-12-31T23:59:59-12:00", "2026-11-02T09:00:00+05:45", "2026-11-02T09:00:00-00:30",
               "2026-11-02T09:00:00+23:59", "２０２６年１１月２日 ９:００", "二〇二六年十一月二日九时",
               "2026年11月2日9时30分", "2026.11.02 09:00", "1762045200", "2026-11-02", ""]
GRID_IDS = ["hc-zj-07", "HC-ZJ-07", "第三网格", "第３网格", "第 3 网格", "第三十二网格", "ｈｃ－ｚｊ－０７",
            "", " ", "\x00", "网格\ud800", Huge("格", 500)]
CREDIT_CODES = ["91450500MA5K2B7C3C", "９１４５０５０２ １９８７ ６５４３ ２Ｘ", "92450502-ma5l-3q8w-1e",
                "91450500MA5K2B7C3D", "91450500MA5K2B7C3", "91450500MA5K2B7C3CC", "0" * 18, "IOZSV" * 4,
                "九一四五〇五〇〇MA5K2B7C3C", "", "\x00" * 18, 914505001234567890, None]
COURT_CASE_NOS = ["（2026）桂0502民诉前调1234号", "(2026)桂0502民诉前调1301号", "（２０２６）桂０５０２民诉前调１２３４号",
                  "（二〇二六）桂0502民诉前调1号", "（0001）桂0502民诉前调1号", "（9999）桂0502民诉前调1号",
                  "〔2026〕桂0502民诉前调99号", "（2026）桂0502民诉前调0号", "（2026）桂0502民诉前调" + "9" * 40 + "号",
                  "1234", "", "\x00", 1234]
MEDIA_URLS = ["https://www.bhrb.example.cn/2026-11/02/content_{n}.html", "HTTPS://WWW.BHRB.EXAMPLE.CN/a/{n}",
              "http://tv.bh.example.cn/msztc/{n}.shtml", "https://例子.中国/新闻/{n}", "javascript:alert({n})",
              "http://", "https://a b.cn/{n}", "ftp://example.cn/{n}", "//example.cn/{n}",
              "https://example.cn/" + "a" * 2000 + "{n}", "https://example.cn/\x00{n}", "data:text/html,{n}"]
TOWN_STREETS = ["zhongjie", "东街街道", "xijie", "中街", "ＺＨＯＮＧＪＩＥ", " zhongjie ", "chatinglu", "chengguan",
                "centre", "nobody", "zhongjie/1", "", "\x00"]
DEPARTMENTS = ["zhujian", "区交通运输局", "市海洋局", "chatinglu", "", "\x00", Huge("局", 300)]
URGENCIES = ["一般", "紧急", "特急", "加急", "urgent", "normal", "很急", "", "\x00"]
SERVICES: list[Any] = ["elderly_care", "repair", "counselling", "legal_aid", "childcare", "cleaning",
                       "no_such_service", "助老", "ELDERLY_CARE", "", "\x00", 3, None]
HELPERS = ["yinling-se", "anju-se", "xinyu-so", "fayuan-so", "hongmajia-vt", "qingnian-vt"]
COUNTS: list[Any] = [1, 1, 2, 3, 0, -1, 10_001, 2**31, 2**63, 10**30, "1", "１", "一", 1.5, None]
GOOD_DAYS = ["2026-12-31", "2027-06-30", "2027-12-31", "2026-11-30", "2031-12-31"]
PROJECT_DAYS: list[Any] = [*GOOD_DAYS * 4, "2026-11-01", *ODD_DAYS, "2026年12月31日", "２０２６-１２-３１",
                           "2026-12-31T00:00:00+08:00"]
# pydantic's English, which a refusal must not show as it is (errors.py says it in Chinese)
PYDANTIC_ENGLISH = r"Input should|Value should|should have|Field required|Value error|Invalid|valid integer"
ADMIN_CODES: list[Any] = ["noise_x", "x1", "Noise", "噪音", "a" * 65, "../x", "a b", "", "\x00", "x\ud800", 7, None]
UNIT_KINDS_ANY: list[Any] = ["department", "street", "community", "judicial_office", "social_enterprise",
                             "volunteer_team", "centre", "部门", "", None]


def realistic_text(d: Any) -> str:
    return str(d(st.sampled_from(PHRASES))) + f"（{d(st.integers(0, 10**6))}号）"


@functools.cache
def texts() -> st.SearchStrategy[str]:
    """Mostly realistic; a hostile value, a realistic one with a hostile one inside it, or
    anything hypothesis makes."""
    realistic = st.sampled_from(PHRASES)
    hostile = st.sampled_from(HOSTILE_TEXT)
    spliced = st.tuples(realistic, hostile, realistic).map("".join)
    real_world = st.sampled_from(REAL_WORLD_TEXT)
    return st.one_of(realistic, realistic, realistic, hostile, spliced, real_world, st.text(max_size=40))


@functools.cache
def mostly() -> st.SearchStrategy[str]:
    """Text for the newer doors' fields: realistic most of the time (a body with four fields
    of ``texts()`` is nearly always refused, and the doors' valid paths need exploring too)."""
    return st.one_of(*[st.sampled_from(PHRASES)] * 6, texts())


@functools.cache
def values() -> st.SearchStrategy[Any]:
    """A field's value: mostly text, sometimes the wrong type."""
    return st.one_of(texts(), texts(), texts(), st.sampled_from(WRONG_TYPES))


# A business time: minutes before the (moved) clock's now, or an absurd value as it is.
_TIMES = st.one_of(
    st.integers(-240, 7 * 24 * 60), st.integers(-240, 7 * 24 * 60), st.integers(-240, 7 * 24 * 60),
    st.sampled_from(HOSTILE_TIMES).map(lambda v: ("as is", v)),
    st.sampled_from(WRONG_TYPES).map(lambda v: ("as is", v)),
)


def business_time(d: Any, now: dt.datetime) -> Any:
    drawn = d(_TIMES)
    if isinstance(drawn, tuple):
        return drawn[1]
    return (now - dt.timedelta(minutes=drawn)).isoformat()


_REF_KIND = st.integers(0, 4)
_REF_FIXED = st.sampled_from(["0000001", "DUP1"])


def deep_json(depth: int, kind: str = "list") -> str:
    text = "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth
    return Huge(text, 1) if depth < 100 else _named(text, f"deep_json({depth}, {kind!r})")


def _named(text: str, expr: str) -> Huge:
    h = Huge(text, 1)
    h.expr = expr
    return h


def deep_bytes(depth: int, kind: str = "list") -> HugeBytes:
    return HugeBytes(deep_json(depth, kind).encode(), f"deep_bytes({depth}, {kind!r})")


# ---- what the harness records ----------------------------------------------------------------


@dataclass
class Failure:
    kind: str  # server_error | stuck_views | quarantined | rebuild_mismatch | refused_wrote | leak
    #         | search_miss | wrong_status | wrong_state | harness_error
    door: str
    request: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.door}: {self.request}\n    -> {self.detail}"


@dataclass
class Tally:
    """Counts for the long variant: failures are counted and their first examples kept
    instead of stopping the run."""

    steps: int = 0
    examples: int = 0
    requests: int = 0
    rebuilds: int = 0
    events: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    doors: Counter[str] = field(default_factory=Counter)
    first: dict[tuple[str, str, str], Failure] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    announce: bool = False

    def add(self, failure: Failure) -> None:
        self.counts[failure.kind] += 1
        # One example per door and cause (the exception behind it, else the status line).
        cause = re.search(r"(?:logged|raised) (\w+)", failure.detail)
        key = (failure.kind, failure.door, cause.group(1) if cause else failure.detail[:40])
        if key not in self.first:
            self.first[key] = failure
            if self.announce:  # the long run says so at once, not only at its end
                print(f"\nnew failure after {self.steps:,} steps: {failure}", flush=True)


class _LastError(logging.Handler):
    """Keeps the last exception logged by the API or the projector: what a 5xx or a stuck
    view was caused by, for the report."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            self.last = f"{type(exc).__name__}: {str(exc)[:300]}"
        else:
            self.last = record.getMessage()[:300]


_LAST = _LastError()
for _name in ("sanshi.http", "sanshi.projections"):
    logging.getLogger(_name).addHandler(_LAST)


# ---- checks (shared with the long variant) -------------------------------------------------


def quarantined(runtime: Runtime) -> list[Any]:
    """Events the views set aside because they could not apply them (``view_quarantine``).

    Every door validates its input, so an event that reached the log from the fuzzer and still
    could not be applied is a door that let something through: the harness asserts this is
    empty. (The quarantine itself is tested with events written past the doors, in
    tests/integration/test_projections_quarantine.py.)"""
    return list(runtime.projector.quarantined(limit=20))


def _search_rows(engine: Any) -> list[tuple[Any, ...]]:
    from projections.search import view_search

    with engine.connect() as conn:
        return sorted((tuple(str(v) for v in row) for row in conn.execute(select(*view_search.columns))), key=repr)


def accounts_differences(runtime_engine: Any, people: Any) -> list[str]:
    """The people view (``view_accounts``, ``view_account_tokens``) against a rebuild of it
    from the accounts log; returns what differs."""
    from projections.accounts import AccountsView, view_account_tokens, view_accounts

    def rows() -> dict[str, list[tuple[Any, ...]]]:
        with runtime_engine.connect() as conn:
            return {t.name: sorted((tuple(str(v) for v in r) for r in conn.execute(select(*t.columns))), key=repr)
                    for t in (view_accounts, view_account_tokens)}

    # The people view follows its log when read (every read catches up first): what a
    # reader sees is the view caught up, so compare that.
    people.view.catch_up()
    live = rows()
    AccountsView(runtime_engine, people.log.after).rebuild()
    fresh = rows()
    return [f"{name}: only live {sorted(set(live[name]) - set(fresh[name]), key=repr)[:2]}, "
            f"only rebuilt {sorted(set(fresh[name]) - set(live[name]), key=repr)[:2]} "
            f"({len(live[name])} live rows, {len(fresh[name])} rebuilt)"
            for name in live if live[name] != fresh[name]]


def lag(runtime: Runtime) -> int:
    """How far the views are behind the log as a reader finds them: on PostgreSQL a server's
    views catch up in a thread after a save (projections.wiring.BackgroundCatchUp) and every
    read catches them up first, so that is when they must equal the log; a projector that
    cannot apply an event stays behind after it too."""
    read_first = runtime.read_model.before_read
    if read_first is not None:
        read_first()
    projector = runtime.projector
    return int(projector.lag())


def rebuild_differences(runtime: Runtime, rebuild_url: str) -> list[str]:
    """Replay the whole log into empty views at ``rebuild_url`` (same dialect as the live
    views) and compare every row; returns what differs (empty when equal)."""
    from projections.projector import Projector
    from projections.tables import make_engine
    from tests.faults.support import view_rows

    live_engine = runtime.views_engine
    engine = make_engine(rebuild_url)
    try:
        rebuilt = Projector(runtime.app, engine, centre=runtime.config.centre.id)
        rebuilt.ensure_schema()
        try:
            rebuilt.rebuild()
        except Exception as exc:  # `sanshi projections rebuild` would fail the same way
            return [f"the rebuild raised {type(exc).__name__}: {str(exc)[:300]}"]
        live, fresh = view_rows(live_engine), view_rows(engine)
        # The search view (查找) is a view like the others, outside VIEW_TABLES (its FTS5
        # twin on SQLite is contentless: nothing to read back).
        live["view_search"], fresh["view_search"] = _search_rows(live_engine), _search_rows(engine)
        out = []
        for name in fresh:
            if live[name] != fresh[name]:
                only_live = sorted(set(live[name]) - set(fresh[name]), key=repr)
                only_fresh = sorted(set(fresh[name]) - set(live[name]), key=repr)
                out.append(
                    f"{name}: {len(only_live)} rows only live (e.g. {only_live[:1]}), "
                    f"{len(only_fresh)} only rebuilt (e.g. {only_fresh[:1]})"
                )
        return out
    finally:
        engine.dispose()


# ---- Kafka, in-process -----------------------------------------------------------------------


class _Future:
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def get(self, timeout: float | None = None) -> int:
        return self.offset  # the stored record's offset, as librdkafka's future answers


class _Producer:
    """Takes what the worker publishes to the DLQ topic (the worker's own dead letters)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, *args: Any, **kwargs: Any) -> _Future:
        self.sent += 1
        return _Future(self.sent - 1)

    def flush(self) -> None:
        pass


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class _Record:
    offset: int
    value: bytes
    headers: list[tuple[str, bytes]]


# ---- the databases ---------------------------------------------------------------------------


@dataclass
class Databases:
    """Where one example's runtime lives and where its rebuild goes."""

    live: str = "memory://"
    rebuild: str = "sqlite://"
    cleanup: Callable[[], None] = lambda: None


def memory_databases() -> Databases:
    return Databases()


# ---- the machine -----------------------------------------------------------------------------


class WholePath(RuleBasedStateMachine):
    """Configured by the caller through class attributes (a subclass per variant)."""

    databases: Callable[[], Databases] = memory_databases
    start: dt.datetime = START
    tally: Tally | None = None  # the long variant counts instead of failing

    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.traveller = time_machine.travel(self.start, tick=False)
        self.clock = self.traveller.start()
        try:
            self._start_parts()
        except BaseException:
            # hypothesis calls teardown only on a machine that was made: the clock must not
            # stay moved for every test after this one.
            self.traveller.stop()
            raise

    def _start_parts(self) -> None:
        self.dbs = type(self).databases()
        self.rt = bootstrap(Settings.from_env({"SANSHI_DB": self.dbs.live}))
        # No 50 ms floor under 404s here: the fuzzer sends thousands of absent ids, and the
        # floor is tested on its own (tests/unit/test_uniform_not_found.py).
        # demo: the demo login's door (and its people: a helper's clerk for the shelf).
        self.client = TestClient(create_app(self.rt, not_found_floor=0, demo=True), raise_server_exceptions=False)
        self.client.__enter__()
        self.worker = Worker(self.rt, KafkaSettings(bootstrap="in-process"),
                             WorkerOptions(clock_interval=0))
        self.worker._producer = _Producer()
        self.offset = 0
        self.seq = 0
        self.tmp = Path(tempfile.mkdtemp(prefix="sanshi-fuzz-"))
        self.stuck_reported = False
        self.last_step = ""
        self.people_engine = self.client.app.state.people.engine
        self.forms: list[str] = []
        self.entries: list[str] = []
        self.attachments: list[tuple[str, str]] = []
        self.people: list[dict[str, Any]] = []
        self.person_tokens: list[tuple[str, str, dict[str, Any]]] = []
        self.projects: list[tuple[str, str]] = []  # (project id, owner unit)
        self.admin_rules: list[str] = []
        self.sent_records: dict[str, dict[str, Any]] = {}
        if self.tally is not None:
            self.tally.examples += 1

    # ---- plumbing ----------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return dt.datetime.now(SHANGHAI)

    def fail(self, kind: str, door: str, request: str, detail: str) -> None:
        failure = Failure(kind, door, request[:600], detail[:900])
        if self.tally is not None:
            self.tally.add(failure)
            return
        raise AssertionError(str(failure))

    def step(self, door: str) -> None:
        self.last_step = door
        if self.tally is not None:
            self.tally.steps += 1
            self.tally.doors[door] += 1

    def send(
        self, door: str, method: str, path: str, token: str | None = None,
        params: dict[str, Any] | None = None, body: Any = None, raw: bytes | None = None,
        content_type: str = "application/json", csrf: str | None = None,
    ) -> Any:
        """One request; a 5xx is a failure, whatever the route. Bodies are serialised here
        (``ensure_ascii`` keeps lone surrogates as JSON escapes, as a client would send them),
        query strings too (a lone surrogate becomes invalid UTF-8 percent escapes)."""
        url = path
        if params:
            url += "?" + urllib.parse.urlencode(
                {k: (v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogatepass"))
                 for k, v in params.items()}
            )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if csrf:
            headers["X-CSRF-Token"] = csrf
        content: bytes | None = raw
        if content is None and body is not None:
            content = json.dumps(body, ensure_ascii=True).encode("ascii")
        if content is not None:
            headers["Content-Type"] = content_type
        _LAST.last = ""
        before = self.snapshot() if method != "GET" else None
        try:
            resp = self.client.request(method, url, content=content, headers=headers)
        except httpx.InvalidURL:  # the client refuses to send it (a query over 64 KiB): no request
            return None
        except Exception as exc:  # the TestClient must never raise
            self.fail("server_error", door, f"{method} {url} {_show(content)}",
                      f"raised {type(exc).__name__}: {str(exc)[:300]}")
            return None
        if self.tally is not None:
            self.tally.requests += 1
        if resp.status_code >= 500:
            self.fail("server_error", door, f"{method} {url} {_show(content)}",
                      f"{resp.status_code} {resp.text[:200]} | logged: {_LAST.last}")
        elif before is not None and resp.status_code >= 400:
            after = self.snapshot()
            if after != before:  # a refused command writes nothing, in either log
                self.fail("refused_wrote", door, f"{method} {url} {_show(content)}",
                          f"{resp.status_code} {resp.text[:200]}, yet the logs went {before} -> {after}")
        return resp

    def owner(self, case_id: str) -> str | None:
        """The unit a case is with now (harness bookkeeping, straight from the log)."""
        try:
            case = self.rt.app.get_case(uuid.UUID(case_id))
        except Exception:
            return None
        return case.assigned_unit

    def handle_deadline(self, case_id: str) -> dt.datetime | None:
        try:
            case = self.rt.app.get_case(uuid.UUID(case_id))
        except Exception:
            return None
        return case.dispatch.handle_deadline if case.dispatch else None

    def ref(self, d: Any, prefix: str) -> Any:
        """A source reference: mostly new, sometimes one sent before, sometimes hostile."""
        self.seq += 1
        kind = d(_REF_KIND)
        if kind <= 2:
            return f"{prefix}{self.seq:07d}"
        if kind == 3:
            return prefix + d(_REF_FIXED)
        return d(values())

    def created(self, resp: Any, key: str) -> Any:
        if resp is not None and resp.status_code in (200, 201):
            try:
                cid = resp.json().get(key)
            except Exception:
                cid = None
            if isinstance(cid, str):
                return multiple(cid)
        return multiple()

    # ---- HTTP intake -------------------------------------------------------------------

    @initialize(target=cases)
    def seed_cases(self) -> Any:
        """A few realistic cases so that unit and centre commands have something to act on
        from the first step."""
        ids = []
        for i, text in enumerate(PHRASES[:6]):
            resp = self.send("seed", "POST", "/api/cases", OPERATOR, body={
                "order_no": f"SEED{i}", "received_at": (self.now() - dt.timedelta(hours=1)).isoformat(),
                "content": f"{text}（种子{i}）", "address": ADDRESSES[i % 5], "caller_phone": PHONES[0],
            })
            if resp is not None and resp.status_code in (200, 201):
                ids.append(resp.json()["id"])
        for i in range(2):  # waiting at the centre: what the shelf takes
            resp = self.send("seed", "POST", "/api/cases", OPERATOR, body={
                "order_no": f"SEEDV{i}", "received_at": (self.now() - dt.timedelta(hours=1)).isoformat(),
                "content": f"我想反映一个情况，麻烦你们记一下（{i}）"})
            if resp is not None and resp.status_code in (200, 201):
                ids.append(resp.json()["id"])
        return multiple(*ids)

    @rule(target=cases, data=st.data())
    def hotline(self, data: Any) -> Any:
        self.step("api_hotline")
        d = data.draw
        body: dict[str, Any] = {
            "order_no": self.ref(d, "H"), "received_at": business_time(d, self.now()),
            "content": d(texts()), "address": d(st.one_of(st.sampled_from(ADDRESSES), values())),
        }
        for key, pool in (("caller_name", NAMES), ("caller_phone", PHONES),
                          ("urgency", ["一般", "紧急", "特急"]), ("category", CATEGORIES),
                          ("appeal_type", ["投诉", "求助", "???"])):
            if d(st.booleans()):
                body[key] = d(st.one_of(st.sampled_from(pool), values()))
        if d(st.integers(0, 9)) == 0:
            body["extra"] = d(st.sampled_from([
                {"联系电话": "13877912345", "身份证号": "450502199001011234"},
                {"nested": {"deep": [1, [2, [3]]]}}, "x" * 5000, [None],
            ]))
        token = d(st.sampled_from([OPERATOR] * 8 + [ASSIGNED_TOKEN, LEADER, NOBODY, None]))
        return self.created(self.send("api_hotline", "POST", "/api/cases", token, body=body), "id")

    @rule(target=cases, data=st.data(), channel=st.sampled_from(["app", "walkin"]))
    def app_or_walkin(self, data: Any, channel: str) -> Any:
        self.step(f"api_{channel}")
        d = data.draw
        body: dict[str, Any]
        if channel == "app":
            body = {"submission_id": self.ref(d, "S"), "content": d(texts()),
                    "phone": d(st.sampled_from(PHONES)), "address": d(st.sampled_from(ADDRESSES)),
                    "concern": d(st.sampled_from(CONCERNS)), "received_at": business_time(d, self.now())}
            if d(st.booleans()):
                body["lat"], body["lng"] = d(st.sampled_from(
                    [(21.48, 109.12), (91, 181), (float("nan"), 0), ("北纬", None), (1e308, -1e308)]))
            if d(st.booleans()):
                body["photos"] = d(st.sampled_from([["https://example.org/1.jpg"], ["\x00"], "x", [1]]))
        else:
            body = {"station_id": d(st.sampled_from(["jy-chatinglu", "jy-\x00", ""])),
                    "ticket_no": self.ref(d, "T"), "content": d(texts()),
                    "resident_name": d(st.sampled_from(NAMES)), "phone": d(st.sampled_from(PHONES)),
                    "address": d(st.sampled_from(ADDRESSES)), "on_behalf": d(st.sampled_from(BOOLS)),
                    "received_at": business_time(d, self.now())}
        if d(st.integers(0, 5)) == 0:
            body[d(st.sampled_from(["content", "received_at", "address"]))] = d(values())
        path = f"/api/intake/{channel}"
        return self.created(self.send(f"api_{channel}", "POST", path, OPERATOR, body=body), "case_id")

    # ---- Open311 -----------------------------------------------------------------------

    @rule(target=cases, data=st.data(), as_json=st.booleans(), fmt=st.sampled_from(["json", "json", "xml"]))
    def open311_post(self, data: Any, as_json: bool, fmt: str) -> Any:
        self.step("open311_post")
        d = data.draw
        fields: dict[str, Any] = {
            "api_key": d(st.sampled_from([OPERATOR] * 6 + [NOBODY, "", ASSIGNED_TOKEN])),
            "service_code": d(st.one_of(st.sampled_from(["municipal", "city_management", "dispute"]),
                                        st.sampled_from(CATEGORIES))),
            "description": d(texts()) + f"#{self.seq}",
        }
        self.seq += 1
        place = d(st.integers(0, 3))
        if place in (0, 1):
            fields["address_string"] = d(st.one_of(st.sampled_from(ADDRESSES[:5]), texts()))
        if place in (1, 2):
            fields["lat"], fields["long"] = d(st.sampled_from(
                [("21.48", "109.12"), ("91", "0"), ("nan", "inf"), ("２１.４８", "１０９"), ("", "1")]))
        for key, pool in (("attribute[concern]", CONCERNS), ("attribute[appeal_type]", ["投诉", "坏"]),
                          ("email", ["a@b.cn", "\x00@x"]), ("phone", PHONES),
                          ("first_name", NAMES), ("media_url", ["https://example.org/1.jpg", "javascript:1"]),
                          ("device_id", ["dev1", "\ud800"])):
            if d(st.integers(0, 3)) == 0:
                fields[key] = d(st.one_of(st.sampled_from(pool), values()))
        path = f"/open311/v2/requests.{fmt}"
        if as_json:
            shape = d(st.integers(0, 9))
            if shape == 0:
                raw = deep_json(d(st.sampled_from([50, 1_000, 100_000])), d(st.sampled_from(["list", "dict"])))
                return self.created(self.send("open311_post_json", "POST", path, raw=raw.encode()), "")
            resp = self.send("open311_post_json", "POST", path, body=fields)
        else:
            form = urllib.parse.urlencode(
                {k: ("" if v is None else str(v)).encode("utf-8", "surrogatepass") for k, v in fields.items()}
            ).encode("ascii")
            resp = self.send("open311_post_form", "POST", path, raw=form,
                             content_type="application/x-www-form-urlencoded")
        if resp is not None and resp.status_code in (200, 201) and fmt == "json":
            try:
                cid = resp.json()[0].get("service_request_id")
            except Exception:
                cid = None
            if isinstance(cid, str):
                return multiple(cid)
        return multiple()

    @rule(data=st.data(), case_id=cases)
    def open311_get(self, data: Any, case_id: str) -> None:
        self.step("open311_get")
        d = data.draw
        key = d(st.sampled_from([None, OPERATOR, ASSIGNED_TOKEN, NOBODY]))
        if d(st.booleans()):
            cid = d(st.one_of(st.just(case_id), st.sampled_from(NONEXISTENT_IDS)))
            self.send("open311_get", "GET", f"/open311/v2/requests/{urllib.parse.quote(cid.encode('utf-8', 'surrogatepass'))}.json",
                      params={"api_key": key} if key else None)
            return
        params: dict[str, Any] = {}
        for name in ("start_date", "end_date"):
            if d(st.booleans()):
                params[name] = business_time(d, self.now())
        if d(st.booleans()):
            params["status"] = d(st.sampled_from(["open", "closed", "open,closed", "opened", "\x00"]))
        if d(st.booleans()):
            params["service_code"] = d(st.sampled_from(CATEGORIES))
        if d(st.integers(0, 4)) == 0:
            params["service_request_id"] = ",".join([case_id, *d(st.lists(st.sampled_from(NONEXISTENT_IDS), max_size=3))])
        if key:
            params["api_key"] = key
        self.send("open311_get", "GET", f"/open311/v2/requests.{d(st.sampled_from(['json', 'xml']))}", params=params)

    # ---- sanshi ingest and Kafka ---------------------------------------------------------

    @rule(data=st.data(), channel=st.sampled_from(FILE_CHANNELS), fmt=st.sampled_from(["jsonl", "jsonl", "csv"]))
    def ingest_file(self, data: Any, channel: str, fmt: str) -> None:
        """A small file through the code ``sanshi ingest`` runs (read_path + ingest)."""
        self.step(f"ingest_{channel}")
        d = data.draw
        records = [self.record(d, channel) for _ in range(d(st.integers(1, 3)))]
        path = self.tmp / f"{channel}-{self.seq}.{fmt}"
        if fmt == "jsonl":
            lines = []
            for r in records:
                lines.append(json.dumps(r, ensure_ascii=d(st.booleans()), default=str))
            if d(st.integers(0, 5)) == 0:
                lines.append(d(st.sampled_from(["{不是JSON", deep_json(100_000), "[1,2]", "\x00"])))
            path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
        else:
            out = io.StringIO()
            keys = sorted({k for r in records for k in r})
            writer = csv.DictWriter(out, keys)
            writer.writeheader()
            for r in records:
                writer.writerow({k: r.get(k, "") for k in keys})
            text = out.getvalue()
            try:
                data_bytes = text.encode(d(st.sampled_from(["utf-8", "gb18030"])))
            except UnicodeEncodeError:  # a lone surrogate: bytes no encoder makes, as a broken exporter would
                data_bytes = text.encode("utf-8", "surrogatepass")
            path.write_bytes(data_bytes)
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                report = ingest(self.rt, channel, read_path(path, "csv" if fmt == "csv" else "json"), source=str(path))
            self.accounted(f"ingest_{channel}", f"{fmt} {_show(path.read_bytes())}", report, len(records))
        except Exception as exc:
            self.fail("server_error", f"ingest_{channel}", f"{fmt} {_show(path.read_bytes())}",
                      f"ingest raised {type(exc).__name__}: {str(exc)[:300]}")
        finally:
            path.unlink(missing_ok=True)

    def accounted(self, door: str, request: str, report: Any, written: int) -> None:
        """Nothing accepted is lost and nothing refused is silent: every record read has an
        outcome, a case said accepted or duplicate is in the log, a dead letter has a reason."""
        if report.records < written:
            self.fail("lost", door, request, f"{written} records written, {report.records} outcomes: {report.to_dict()}")
        if report.counts["failed"]:
            self.fail("lost", door, request, f"records failed in-process: {report.failures[:3]}")
        for position, reason in report.dead_letters:
            if not str(reason).strip():
                self.fail("silent_dead_letter", door, request, f"dead letter at {position} without a reason")

    def record(self, d: Any, channel: str) -> dict[str, Any]:
        if channel in NEW_CHANNELS:
            return self.new_channel_record(d, channel, self.recent(d))
        when = business_time(d, self.now())
        if channel == "hotline":
            return {"order_no": self.ref(d, "IH"), "received_at": when, "content": d(texts()),
                    "address": d(st.sampled_from(ADDRESSES)), "caller_phone": d(st.sampled_from(PHONES)),
                    "caller_name": d(st.sampled_from(NAMES)), "urgency": d(st.sampled_from(["一般", "紧急", "x"]))}
        if channel == "police":
            return {"incident_no": self.ref(d, "JQ"), "received_at": when,
                    "summary": "报警人称" + d(texts()), "location": d(st.sampled_from(ADDRESSES)),
                    "caller_name": d(st.sampled_from(NAMES)), "caller_phone": d(st.sampled_from(PHONES)),
                    "police_category": d(st.sampled_from(["纠纷", "求助", "咨询", "刑事", "450502199001011234纠纷", "", None])),
                    "sub_category": d(st.sampled_from(["邻里纠纷", "\x00"]))}
        if channel == "app":
            return {"submission_id": self.ref(d, "IA"), "content": d(texts()), "received_at": when,
                    "phone": d(st.sampled_from(PHONES)), "address": d(st.sampled_from(ADDRESSES)),
                    "concern": d(st.sampled_from(CONCERNS)), "lat": 21.48, "lng": 109.12}
        return {"station_id": "jy-chatinglu", "ticket_no": self.ref(d, "IW"), "content": d(texts()),
                "received_at": when, "resident_name": d(st.sampled_from(NAMES)),
                "phone": d(st.sampled_from(PHONES)), "address": d(st.sampled_from(ADDRESSES)),
                "on_behalf": d(st.sampled_from(BOOLS))}

    @rule(data=st.data())
    def kafka_message(self, data: Any) -> None:
        """One message on the intake topic through the worker's poll step: an intake command
        as a publisher writes it (with hostile values), or bytes that are not one."""
        self.step("kafka")
        d = data.draw
        channel = d(st.sampled_from(FILE_CHANNELS))
        command: dict[str, Any] = {
            "channel": channel, "source_ref": self.ref(d, "K"), "received_at": business_time(d, self.now()),
            "content": d(texts()), "address": d(st.sampled_from(ADDRESSES)),
            "caller_name": d(st.sampled_from(NAMES)), "caller_phone": d(st.sampled_from(PHONES)),
            "urgent": d(st.sampled_from([False, True, "yes"])),
            "category_hint": d(st.sampled_from(CATEGORIES)), "concern": d(st.sampled_from(CONCERNS)),
            "extra": d(st.sampled_from([{}, {"联系电话": "13877912345"}, {"x": "\x00"}, []])),
        }
        shape = d(st.integers(0, 7))
        if shape == 0:
            value = d(st.sampled_from([b"", b"\xff\xfe", b"{", deep_bytes(100_000), b"null"]))
        else:
            value = json.dumps(command, ensure_ascii=d(st.booleans()), default=str).encode("utf-8", "surrogatepass")
        self.offset += 1
        tp = _TP(self.worker.settings.intake_topic, 0)
        record = _Record(self.offset, value, [(POSITION_HEADER, b"fuzz"), (CHANNEL_HEADER, channel.encode())])
        try:
            self.worker.process({tp: [record]})
        except Exception as exc:
            self.fail("server_error", "kafka", _show(value), f"worker raised {type(exc).__name__}: {str(exc)[:300]}")

    # ---- unit commands -----------------------------------------------------------------

    @rule(data=st.data(), case_id=cases,
          action=st.sampled_from(["claim", "claim", "return", "extend", "extend", "mediation/start",
                                  "mediation/conclude", "resolve", "resolve"]))
    def unit_command(self, data: Any, case_id: str, action: str) -> None:
        self.step(f"unit_{action}")
        d = data.draw
        owner = self.owner(case_id)
        who = d(st.sampled_from(["owner"] * 6 + ["other", "nonexistent", "operator"]))
        unit = owner or "chatinglu"
        token = f"demo-unit-{unit}"
        cid = case_id
        if who == "other":
            token = f"demo-unit-{d(st.sampled_from([u for u in UNITS if u != unit]))}"
        elif who == "nonexistent":
            cid = d(st.sampled_from(NONEXISTENT_IDS))
        elif who == "operator":
            token = OPERATOR
        body: Any = None
        if action == "return":
            body = {"reason": d(texts())}
        elif action == "extend":
            deadline = self.handle_deadline(case_id) or self.now()
            until = d(st.one_of(
                st.integers(-2, 30).map(lambda days: _later(deadline, days)),
                st.sampled_from(HOSTILE_TIMES), st.sampled_from(WRONG_TYPES)))
            body = {"until": until, "reason": d(texts())}
        elif action == "mediation/conclude":
            body = {"agreement": d(st.sampled_from(BOOLS)), "summary": d(texts())}
        elif action == "resolve":
            body = {"result": d(texts())}
        if body is not None and d(st.integers(0, 9)) == 0:
            body = d(st.sampled_from([[], "x", None, {"unknown": 1}, {**body, "extra": 1}]))
        path = f"/api/cases/{urllib.parse.quote(cid.encode('utf-8', 'surrogatepass'), safe='')}/{action}"
        self.send(f"unit_{action}", "POST", path, token, body=body)

    # ---- centre decisions ----------------------------------------------------------------

    @rule(data=st.data(), case_id=cases,
          action=st.sampled_from(["dispatch", "extension/decide", "extension/decide", "followup",
                                  "followup", "followup", "reclassify", "answer", "reject", "urge",
                                  "return/review", "return/review", "transfer",
                                  "callback/unanswered", "close/unreachable"]))
    def centre_command(self, data: Any, case_id: str, action: str) -> None:
        self.step(f"centre_{action.replace('/', '_')}")
        d = data.draw
        body: dict[str, Any]
        if action == "dispatch":
            body = {"unit": d(st.sampled_from(UNIT_IDS)), "note": d(texts())}
        elif action == "extension/decide":
            body = {"granted": d(st.sampled_from(BOOLS)), "note": d(texts())}
        elif action == "followup":
            body = {"solved": d(st.sampled_from(BOOLS)), "rating": d(st.sampled_from(RATINGS)),
                    "comment": d(texts())}
        elif action == "reclassify":
            body = {"category": d(st.sampled_from(CATEGORIES))}
        elif action == "answer":
            body = {"answer": d(texts())}
        elif action == "reject":
            body = {"reason": d(texts())}
        elif action == "return/review":
            body = {"approved": d(st.sampled_from(BOOLS)), "note": d(texts())}
            if d(st.booleans()):
                body["unit"] = d(st.sampled_from(UNIT_IDS))
        elif action == "transfer":
            body = {"unit": d(st.sampled_from(UNIT_IDS)), "note": d(texts())}
        else:
            body = {"note": d(texts())}
        token = d(st.sampled_from([OPERATOR] * 8 + [LEADER, ASSIGNED_TOKEN]))
        cid = d(st.one_of(st.just(case_id), st.just(case_id), st.sampled_from(NONEXISTENT_IDS)))
        path = f"/api/cases/{urllib.parse.quote(cid.encode('utf-8', 'surrogatepass'), safe='')}/{action}"
        self.send(f"centre_{action}", "POST", path, token, body=body)

    # ---- reads -----------------------------------------------------------------------------

    @rule(data=st.data(), case_id=cases,
          what=st.sampled_from(["inbox", "case", "events", "stats", "ranking", "overdue", "search",
                                "queue"]))
    def read(self, data: Any, case_id: str, what: str) -> None:
        self.step(f"read_{what}")
        d = data.draw
        token = d(st.sampled_from([OPERATOR, LEADER, ADMIN, ASSIGNED_TOKEN, "demo-unit-chengguan", NOBODY]))
        day = st.one_of(st.just((self.now() - dt.timedelta(days=30)).date().isoformat()),
                        st.just(self.now().isoformat()), st.sampled_from(HOSTILE_TIMES))
        params: dict[str, Any] = {}
        if what == "inbox":
            unit = d(st.one_of(st.sampled_from(UNITS), st.sampled_from(["nobody", "\x00", "..", "\ud800"])))
            path = f"/api/units/{urllib.parse.quote(unit.encode('utf-8', 'surrogatepass'), safe='')}/inbox"
        elif what in ("case", "events"):
            cid = d(st.one_of(st.just(case_id), st.sampled_from(NONEXISTENT_IDS)))
            path = f"/api/cases/{urllib.parse.quote(cid.encode('utf-8', 'surrogatepass'), safe='')}"
            path += "/events" if what == "events" else ""
        elif what == "stats":
            path = "/api/stats"
            params["by"] = d(st.sampled_from(["unit", "channel", "category", "street", "month", "week", ""]))
            for name in ("from", "to"):
                if d(st.booleans()):
                    params[name] = d(day)
            if d(st.booleans()):
                params[d(st.sampled_from(["street", "category", "channel", "unit"]))] = d(st.sampled_from(UNIT_IDS + CATEGORIES))
            if d(st.integers(0, 3)) == 0:
                params["format"] = "csv"
        elif what == "ranking":
            path = "/api/ranking"
            for name in ("from", "to"):
                if d(st.booleans()):
                    params[name] = d(day)
            if d(st.booleans()):
                params["min_cases"] = d(st.sampled_from([0, 1, 5, -1, 10**9, "x"]))
        elif what == "overdue":
            path = "/api/overdue"
        elif what == "search":
            path = "/api/cases"
            for name, pool in (("q", PHRASES[:3] + HOSTILE_TEXT[:8]), ("status", ["dispatched", "closed", "nope"]),
                               ("unit", UNIT_IDS), ("from", HOSTILE_TIMES), ("to", HOSTILE_TIMES),
                               ("limit", [1, 500, 501, 0, "x"]), ("offset", [0, 10**7, -1])):
                if d(st.integers(0, 2)) == 0:
                    params[name] = d(st.sampled_from(pool))
        else:
            path = d(st.sampled_from(["/api/queue/manual", "/api/queue/followup", "/api/queue/returns",
                                      "/api/stats/returns", "/api/meta",
                                      "/api/audit", "/healthz", "/metrics"]))
        self.send(f"read_{what}", "GET", path, token, params={k: v for k, v in params.items() if isinstance(v, str | int)})

    @rule(data=st.data())
    def junk(self, data: Any) -> None:
        """Bodies no client should send, on routes that take a body."""
        self.step("junk")
        d = data.draw
        path = d(st.sampled_from(["/api/cases", "/api/intake/app", "/api/intake/walkin",
                                  f"/api/cases/{uuid.UUID(int=1)}/resolve", "/open311/v2/requests.json"]))
        raw = d(st.sampled_from([
            deep_bytes(100_000), deep_bytes(100_000, "dict"), b"\xff\xfe\x00",
            b'{"order_no": "J1", "content": "\\ud800", "received_at": "2026-11-02"}',
            b'{"a": 1e999999}', b"[" * 10 + b"]" * 10, b"", HugeBytes(b"x" * 2_000_000, "b'x' * 2_000_000"),
            b'{"order_no": "J2", "order_no": "J3", "content": "a", "received_at": "2026-11-02"}',
        ]))
        self.send("junk", "POST", path, OPERATOR, raw=raw,
                  content_type=d(st.sampled_from(["application/json", "text/plain",
                                                  "application/x-www-form-urlencoded"])))

    # ---- the newer doors: merges, 一表通, 通报, attachments, knowledge, search, people, 协办 ----
    #
    # Each rule sends valid values and the real world's spellings mixed with hostile ones, with
    # the right token, another unit's or none; ``send`` checks that a refused command wrote
    # nothing, and the rules below check what a reader gets back: a unit never sees a case,
    # a form item, an attachment or a proposal that is not its own.

    def snapshot(self) -> tuple[int, int]:
        """How much is written: the case log's head and the accounts log's length."""
        with self.people_engine.connect() as conn:
            accounts = conn.execute(select(func.count()).select_from(account_events)).scalar_one()
        return int(self.rt.projector.head()), int(accounts)

    def case_of(self, case_id: Any) -> Any:
        try:
            return self.rt.app.get_case(uuid.UUID(str(case_id)))
        except Exception:
            return None

    def may_see(self, token: str, case_id: Any) -> bool:
        """What the policy promises: the centre's roles see every case, a unit the cases ever
        dispatched to it (or given to it as a part: ``units_ever``)."""
        case = self.case_of(case_id)
        if case is None:
            return False
        unit = _token_unit(token)
        return unit is None or unit in case.units_ever

    def leak(self, door: str, request: str, detail: str) -> None:
        self.fail("leak", door, request, detail)

    @rule(data=st.data(), case_id=cases, into=cases)
    def merge(self, data: Any, case_id: str, into: str) -> None:
        self.step("merge")
        d = data.draw
        token = d(st.sampled_from([OPERATOR] * 6 + [LEADER, ASSIGNED_TOKEN, NOBODY]))
        target = d(st.one_of(st.just(into), st.just(into), st.just(case_id),
                             st.sampled_from(NONEXISTENT_IDS), st.sampled_from(WRONG_TYPES)))
        body: Any = {"into": target, "note": d(mostly())}
        if d(st.integers(0, 9)) == 0:
            body = d(st.sampled_from([{}, [], {"into": into, "extra": 1}, {"note": "x"}]))
        resp = self.send("merge", "POST", _case_path(case_id, "merge"), token, body=body)
        if resp is not None and resp.status_code == 200:
            case = self.case_of(case_id)
            if case is None or str(case.merged_into) != str(target):
                self.fail("wrong_state", "merge", f"merge {case_id} into {target!r}",
                          f"200 but the case is merged into {getattr(case, 'merged_into', None)}")

    @rule(data=st.data(), case_id=cases)
    def unmerge(self, data: Any, case_id: str) -> None:
        self.step("unmerge")
        d = data.draw
        token = d(st.sampled_from([OPERATOR] * 6 + [LEADER, ASSIGNED_TOKEN]))
        cid = d(st.one_of(st.just(case_id), st.just(case_id), st.sampled_from(NONEXISTENT_IDS)))
        body = d(st.sampled_from([{"note": d(mostly())}, {}, {"note": d(values())}, []]))
        self.send("unmerge", "POST", _case_path(cid, "unmerge"), token, body=body)

    @rule(target=cases, data=st.data())
    def form(self, data: Any) -> Any:
        """一表通: one form, several items, each its own case."""
        self.step("form")
        d = data.draw
        def item() -> Any:
            shape = d(st.integers(0, 30))
            if shape == 0:
                return d(st.sampled_from(WRONG_TYPES))
            out: dict[str, Any] = {"content": d(st.one_of(mostly(), st.sampled_from(REAL_WORLD_TEXT)))}
            if shape > 3:
                out["address"] = d(st.one_of(st.sampled_from(ADDRESSES), texts()))
            if shape == 1:
                out["phone"] = MOBILE
            return out
        count = d(st.sampled_from([1, 1, 2, 2, 3, 4, 0, 20, 21]))
        items = [item() for _ in range(min(count, 4))]
        items += items[:1] * (count - len(items))  # 20 and 21: the same item again
        body: Any = {"ref": self.ref(d, "F"), "kind": d(st.sampled_from(
                         ["inspection", "visit", "meeting"] * 3 + ["巡查", "INSPECTION", "", None])),
                     "title": d(st.one_of(mostly(), st.sampled_from(CHINESE_NUMERALS))), "items": items}
        if d(st.integers(0, 9)) == 0:
            body = d(st.sampled_from([{**body, "extra": 1}, {**body, "items": "x"}, {**body, "items": {}},
                                      {k: v for k, v in body.items() if k != "ref"}, []]))
        token = d(st.sampled_from([OPERATOR] * 7 + [ASSIGNED_TOKEN, LEADER, NOBODY]))
        resp = self.send("form", "POST", "/api/forms", token, body=body)
        if resp is None or resp.status_code not in (200, 201):
            return multiple()
        out = resp.json()
        self.forms.append(out["id"])
        return multiple(*(i["case_id"] for i in out["items"]))

    @rule(data=st.data())
    def form_read(self, data: Any) -> None:
        self.step("form_read")
        d = data.draw
        fid = d(st.sampled_from(self.forms)) if self.forms and d(st.integers(0, 4)) else d(st.sampled_from(NONEXISTENT_IDS))
        token = d(st.sampled_from(TOKENS_ANY))
        resp = self.send("form_read", "GET", f"/api/forms/{_quoted(fid)}", token)
        if resp is None or resp.status_code != 200:
            return
        items = resp.json()["items"]
        if not any(self.may_see(token, i["case_id"]) for i in items):
            self.leak("form_read", f"GET form {fid} as {token}", "200 for a form with no item of this unit")
        for i in items:
            if (i["content"] is not None or i["address"] is not None) and not self.may_see(token, i["case_id"]):
                self.leak("form_read", f"GET form {fid} as {token}", f"item {i['item']} shown: {i}")

    @rule(data=st.data(), case_id=cases)
    def censure(self, data: Any, case_id: str) -> None:
        self.step("censure")
        d = data.draw
        body: Any = {"kind": d(st.sampled_from(["notice", "accountability", "通报", "", None])),
                     "unit": d(st.sampled_from(UNIT_IDS)), "reason": d(mostly())}
        if d(st.booleans()):
            body["case_id"] = d(st.one_of(st.just(case_id), st.sampled_from(NONEXISTENT_IDS)))
        token = d(st.sampled_from([OPERATOR] * 5 + [LEADER, ADMIN, ASSIGNED_TOKEN]))
        self.send("censure", "POST", "/api/censures", token, body=body)

    # ---- attachments ---------------------------------------------------------------------

    @rule(data=st.data(), case_id=cases)
    def attachment_upload(self, data: Any, case_id: str) -> None:
        """A file as a phone, a scanner or an attacker sends it: content and name drawn apart
        (a PDF called photo.jpg), empty, over the limit, a path for a name, a body that is not
        multipart at all."""
        self.step("attachment_upload")
        d = data.draw
        owner = self.owner(case_id)
        token = d(st.sampled_from([OPERATOR] * 4 + [f"demo-unit-{owner or 'chatinglu'}"] * 3
                                  + ["demo-unit-chengguan", LEADER, ADMIN, NOBODY]))
        content = d(st.sampled_from(list(FILES)))
        name = d(st.one_of(st.sampled_from(FILE_NAMES), st.sampled_from(FILE_NAMES),
                           st.sampled_from(list(FILES)).map(lambda k: f"现场{k}"), texts()))
        fields: list[tuple[str, Any, bytes]] = [("file", name, FILES[content]())]
        shape = d(st.integers(0, 11))
        if shape == 0:
            fields = [("files", name, FILES[content]())]  # the wrong field name
        elif shape == 1:
            fields.append(("public", None, d(st.sampled_from([b"true", b"false", b"maybe", b"\xff", b"1"]))))
        elif shape == 2:
            fields.append(("file", "second.jpg", FILES["jpeg"]()))
        path = _case_path(d(st.one_of(st.just(case_id), st.just(case_id), st.just(case_id),
                                      st.sampled_from(NONEXISTENT_IDS))), "attachments")
        if shape == 3:  # not multipart at all
            resp = self.send("attachment_upload", "POST", path, token, body={"file": name, "data": "x"})
        else:
            raw, ctype = _multipart(fields)
            if shape == 4:
                ctype = d(st.sampled_from(["multipart/form-data", "multipart/form-data; boundary=",
                                           "application/octet-stream", "image/jpeg"]))
            resp = self.send("attachment_upload", "POST", path, token, raw=raw, content_type=ctype)
        if resp is None:
            return
        if resp.status_code == 201:
            digest = resp.json().get("digest")
            if isinstance(digest, str):
                self.attachments.append((case_id, digest))
            if not self.may_see(token, case_id):
                self.leak("attachment_upload", f"upload to {case_id} as {token}", "201 on a case it may not see")
        elif content == "oversize" and shape not in (0, 3, 4) and resp.status_code not in (413, 403, 404, 400, 401, 422):
            self.fail("wrong_status", "attachment_upload", f"{len(FILES[content]())} bytes",
                      f"{resp.status_code}: {resp.text[:200]}")

    @rule(data=st.data(), case_id=cases)
    def attachment_read(self, data: Any, case_id: str) -> None:
        """Readable exactly by those who may read the case: a download answers 200 when the
        case itself does, and never when it does not."""
        self.step("attachment_read")
        d = data.draw
        if self.attachments and d(st.integers(0, 5)):
            case_id, digest = d(st.sampled_from(self.attachments))
        else:
            digest = d(st.sampled_from(["0" * 64, "../../etc/passwd", "", "A" * 64, "\x00"]))
        case = self.case_of(case_id)
        tokens = [*TOKENS_ANY, *(f"demo-unit-{u}" for u in (case.units_ever if case else []))]
        token = d(st.sampled_from(tokens))
        what = d(st.sampled_from(["", "", "/preview", "list"]))
        if what == "list":
            path = _case_path(case_id, "attachments")
        else:
            path = _case_path(case_id, f"attachments/{_quoted(digest)}{what}")
        resp = self.send("attachment_read", "GET", path, token)
        if resp is None:
            return
        sees = self.may_see(token, case_id) and token != NOBODY
        if resp.status_code == 200 and not sees:
            self.leak("attachment_read", f"GET {path} as {token}", f"200 ({len(resp.content)} bytes)")
        if resp.status_code == 200 and what == "list" and case is not None:
            shown = {a["digest"] for a in resp.json()}
            if not shown <= {a["digest"] for a in case.attachments}:
                self.leak("attachment_read", f"GET {path}", f"lists {shown} not of this case")
        if (sees and what == "" and case is not None and case.attachment(digest) is not None
                and resp.status_code != 200):
            self.fail("wrong_status", "attachment_read", f"GET {path} as {token}",
                      f"{resp.status_code} for an attachment of a case this reader may see: {resp.text[:200]}")

    @precondition(lambda self: bool(self.attachments))
    @rule(data=st.data())
    def attachment_public(self, data: Any) -> None:
        """The centre marks an attachment public; Open311's media URL shows only those."""
        self.step("attachment_public")
        d = data.draw
        case_id, digest = d(st.sampled_from(self.attachments))
        token = d(st.sampled_from([OPERATOR, OPERATOR, ASSIGNED_TOKEN, LEADER]))
        body = {"public": d(st.sampled_from(BOOLS))}
        self.send("attachment_public", "POST", _case_path(case_id, f"attachments/{digest}/public"), token, body=body)
        resp = self.send("open311_media", "GET", f"/open311/v2/media/{case_id}/{digest}.jpg")
        case = self.case_of(case_id)
        if resp is not None and resp.status_code == 200:
            found = case.attachment(digest) if case else None
            if not found or not found.get("public"):
                self.leak("open311_media", f"GET media {case_id}/{digest}", "200 for an attachment not public")

    # ---- 知识库 ----------------------------------------------------------------------------

    def entry_body(self, d: Any, partial: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        pools: list[tuple[str, st.SearchStrategy[Any]]] = [
            ("question", st.one_of(mostly(), st.sampled_from(REAL_WORLD_TEXT))),
            ("answer", st.one_of(mostly(), st.sampled_from(REAL_WORLD_TEXT))),
            ("category", st.sampled_from(CATEGORIES)), ("unit", st.sampled_from([*UNITS, *UNIT_IDS])),
            ("source", texts()), ("valid_from", st.sampled_from(["2026-01-01", *ODD_DAYS])),
            ("valid_until", st.sampled_from(["2099-12-31", *ODD_DAYS])),
        ]
        for key, pool in pools:
            required = key in ("question", "answer") and not partial
            if required or d(st.integers(0, 2)) == 0:
                body[key] = d(pool)
        return body

    def entry_id(self, d: Any) -> str:
        if self.entries and d(st.integers(0, 5)):
            return str(d(st.sampled_from(self.entries)))
        return str(d(st.sampled_from(NONEXISTENT_IDS)))

    @rule(data=st.data())
    def knowledge_write(self, data: Any) -> None:
        self.step("knowledge_write")
        d = data.draw
        action = d(st.sampled_from(["create", "create", "edit", "retire", "propose", "propose", "decide"]))
        token = d(st.sampled_from([OPERATOR, OPERATOR, ADMIN, "demo-unit-chengguan", ASSIGNED_TOKEN, LEADER]))
        if action == "create":
            resp = self.send("knowledge_create", "POST", "/api/knowledge", token, body=self.entry_body(d, False))
            if resp is not None and resp.status_code == 201:
                self.entries.append(resp.json()["id"])
            return
        eid = _quoted(self.entry_id(d))
        if action == "edit":
            self.send("knowledge_edit", "POST", f"/api/knowledge/{eid}/edit", token, body=self.entry_body(d, True))
        elif action == "retire":
            self.send("knowledge_retire", "POST", f"/api/knowledge/{eid}/retire", token, body={"reason": d(mostly())})
        elif action == "propose":
            body = {**self.entry_body(d, True), "note": d(mostly())}
            self.send("knowledge_propose", "POST", f"/api/knowledge/{eid}/propose", token, body=body)
        else:
            number = d(st.sampled_from([1, 1, 2, 0, -1, 10_001, 2**63]))
            body = {"accept": d(st.sampled_from(BOOLS)), "note": d(mostly())}
            self.send("knowledge_decide", "POST", f"/api/knowledge/{eid}/proposals/{number}/decide", token, body=body)

    @rule(data=st.data())
    def knowledge_read(self, data: Any) -> None:
        self.step("knowledge_read")
        d = data.draw
        token = d(st.sampled_from(TOKENS_ANY))
        what = d(st.sampled_from(["list", "suggest", "proposals", "entry"]))
        params: dict[str, Any] = {}
        if what == "list":
            path = "/api/knowledge"
            for name, pool in (("include_retired", BOOLS), ("offered", BOOLS), ("limit", [1, 500, 501, 0, "x"]),
                               ("offset", [0, 1_000_001, -1])):
                if d(st.integers(0, 2)) == 0:
                    params[name] = d(st.sampled_from(pool))
        elif what == "suggest":
            path = "/api/knowledge/suggest"
            params["q"] = d(st.one_of(texts(), st.sampled_from(REAL_WORLD_TEXT)))
            if d(st.booleans()):
                params["limit"] = d(st.sampled_from([1, 20, 21, 0]))
        elif what == "proposals":
            path = "/api/knowledge/proposals"
            if d(st.booleans()):
                params["state"] = d(st.sampled_from(["pending", "accepted", "rejected", "x", ""]))
        else:
            path = f"/api/knowledge/{_quoted(self.entry_id(d))}"
        resp = self.send(f"knowledge_{what}", "GET", path, token,
                         params={k: v for k, v in params.items() if isinstance(v, str | int)})
        unit = _token_unit(token)
        if resp is None or resp.status_code != 200 or unit is None or what not in ("proposals", "entry"):
            return
        found = resp.json()
        shown = found["items"] if what == "proposals" else found.get("proposals", [])
        others = [p for p in shown if p.get("unit") != unit]
        if others:
            self.leak(f"knowledge_{what}", f"GET {path} as {token}", f"another unit's proposal: {others[:1]}")

    @rule(data=st.data(), case_id=cases)
    def answer_from_knowledge(self, data: Any, case_id: str) -> None:
        self.step("answer_from_knowledge")
        d = data.draw
        body: dict[str, Any] = {"entry_id": d(st.one_of(st.just(self.entry_id(d)), st.sampled_from(WRONG_TYPES)))}
        if d(st.booleans()):
            body["answer"] = d(values())
        token = d(st.sampled_from([OPERATOR] * 4 + [ASSIGNED_TOKEN, LEADER]))
        self.send("answer_from_knowledge", "POST", _case_path(case_id, "answer-from-knowledge"), token, body=body)

    # ---- 查找 ------------------------------------------------------------------------------

    @rule(target=cases, data=st.data())
    def intake_then_search(self, data: Any) -> Any:
        """A call taken with the number spelled one way is found by its order number and by
        the number spelled another way, and the caller's history (来电弹屏) lists it."""
        self.step("intake_then_search")
        d = data.draw
        spelled = d(st.sampled_from(PHONE_SPELLINGS))
        body = {"order_no": f"S{self.seq:07d}", "received_at": (self.now() - dt.timedelta(minutes=d(st.integers(0, 600)))).isoformat(),
                "content": d(st.one_of(st.sampled_from(PHRASES), st.sampled_from(REAL_WORLD_TEXT))),
                "caller_phone": spelled, "caller_name": d(st.sampled_from(NAMES))}
        self.seq += 1
        resp = self.send("intake_then_search", "POST", "/api/cases", OPERATOR, body=body)
        if resp is None or resp.status_code != 201:
            return multiple()
        found = resp.json()
        cid, order_no = found["id"], found.get("order_no")
        typed = d(st.sampled_from(PHONE_SPELLINGS))
        for q, kind in ((order_no, "auto"), (order_no.lower() if order_no else None, "order_no"),
                        (typed, "auto"), (typed, "phone")):
            if not q:
                continue
            got = self.send("search", "GET", "/api/search", OPERATOR, params={"q": q, "kind": kind, "limit": 100})
            ids = [r["case_id"] for r in got.json()["rows"]] if got is not None and got.status_code == 200 else []
            if cid not in ids:
                self.fail("search_miss", "search", f"q={q!r} kind={kind} after intake with {spelled!r}",
                          f"{getattr(got, 'status_code', None)}: case {cid} not among {len(ids)} rows")
        got = self.send("caller_history", "GET", "/api/callers/history", OPERATOR, params={"phone": typed, "limit": 200})
        ids = [c["case_id"] for c in got.json()["cases"]] if got is not None and got.status_code == 200 else []
        if cid not in ids:
            self.fail("search_miss", "caller_history", f"phone={typed!r} after intake with {spelled!r}",
                      f"{getattr(got, 'status_code', None)}: case {cid} not among {len(ids)} cases")
        return multiple(cid)

    @rule(data=st.data())
    def search(self, data: Any) -> None:
        self.step("search")
        d = data.draw
        token = d(st.sampled_from(TOKENS_ANY))
        params: dict[str, Any] = {"q": d(st.one_of(
            texts(), st.sampled_from(PHONE_SPELLINGS + PHONE_HOSTILE + PLATES + CHINESE_NUMERALS),
            st.sampled_from(["HC20261102000001", "hc20261102000001", "HC2026110200000１", "HC", "%", "_",
                             "*", '"', "NEAR(a b)", "a OR b", "'", "茶亭", "路灯"])))}
        if d(st.booleans()):
            params["kind"] = d(st.sampled_from(["auto", "phone", "order_no", "name", "text", "x"]))
        for name, pool in (("limit", [1, 100, 101, 0, "x"]), ("offset", [0, 100_000, 100_001, -1])):
            if d(st.integers(0, 3)) == 0:
                params[name] = d(st.sampled_from(pool))
        params["q"] = params["q"][:2000]  # longer is a URL the client itself refuses
        path = d(st.sampled_from(["/api/search", "/api/search", "/api/callers/history"]))
        if path == "/api/callers/history":
            params = {"phone": params["q"], **({"limit": params["limit"]} if "limit" in params else {})}
        resp = self.send("search" if path == "/api/search" else "caller_history", "GET", path, token,
                         params={k: v for k, v in params.items() if isinstance(v, str | int)})
        if resp is None or resp.status_code != 200:
            return
        found = resp.json()
        rows = found["rows"] if path == "/api/search" else found["cases"]
        hidden = [r["case_id"] for r in rows if not self.may_see(token, r["case_id"])]
        if hidden:
            self.leak("search", f"GET {path} {params} as {token}", f"cases it may not see: {hidden[:3]}")
        if _token_unit(token) is not None and path != "/api/search":
            self.leak("caller_history", f"GET {path} as {token}", "a unit read a caller's history")

    # ---- people and sessions -----------------------------------------------------------------

    @rule(data=st.data())
    def person_create(self, data: Any) -> None:
        self.step("person_create")
        d = data.draw
        self.seq += 1
        login = d(st.one_of(*[st.just(f"p{self.seq}")] * 4, st.sampled_from(
            ["admin", "Zhang.Wei", "张伟", "a" * 41, "", " p1", "p1\x00", "../p", "p1"]), texts()))
        role = d(st.sampled_from(["unit"] * 4 + ["operator", "leader", "admin", "centre", "", None]))
        unit = d(st.one_of(st.sampled_from(UNITS), st.sampled_from(UNIT_IDS)))
        body: dict[str, Any] = {"login": login, "name": d(st.one_of(st.sampled_from(NAMES[:4]), st.sampled_from(NAMES), texts())), "role": role}
        if d(st.integers(0, 3)):
            body["unit"] = unit
        password = d(st.sampled_from([None, "correct horse 电池", "x", "p" * 257, "\x00", "😀" * 10]))
        if password is not None:
            body["password"] = password
        token = d(st.sampled_from([ADMIN] * 5 + [OPERATOR, ASSIGNED_TOKEN]))
        resp = self.send("person_create", "POST", "/api/people", token, body=body)
        if resp is not None and resp.status_code == 201:
            out = resp.json()
            self.people.append({"id": out["id"], "login": out["login"], "role": out["role"], "unit": out["unit"],
                                "password": out.get("password", password)})

    @rule(data=st.data())
    def person_change(self, data: Any) -> None:
        self.step("person_change")
        d = data.draw
        person = d(st.sampled_from(self.people)) if self.people and d(st.integers(0, 5)) else None
        aid = person["id"] if person else d(st.sampled_from(NONEXISTENT_IDS))
        action = d(st.sampled_from(["role", "password", "disable", "enable", "tokens", "revoke", "read"]))
        token = d(st.sampled_from([ADMIN] * 5 + [OPERATOR, ASSIGNED_TOKEN, NOBODY]))
        path = f"/api/people/{_quoted(aid)}"
        if action == "read":
            self.send("person_read", "GET", path, token)
            return
        body: Any = None
        if action == "role":
            body = {"role": d(st.sampled_from(["unit", "operator", "leader", "admin", "x"])),
                    "unit": d(st.sampled_from([*UNIT_IDS, None]))}
        elif action == "password":
            body = d(st.sampled_from([{}, {"password": "新密码 2026"}, {"password": ""}, {"password": None}]))
        elif action == "revoke":
            path += f"/tokens/{_quoted(d(st.sampled_from(['x', '0' * 16, '0' * 10_000, *(t[1] for t in self.person_tokens)])))}"
        resp = self.send(f"person_{action}", "POST", f"{path}/{action}" if action != "revoke" else f"{path}/revoke",
                         token, body=body)
        if person is None or resp is None or resp.status_code not in (200, 201):
            return
        out = resp.json()
        person.update(role=out["role"], unit=out["unit"])
        if action == "password":
            person["password"] = body.get("password") or out.get("password")
        if action == "tokens":
            self.person_tokens.append((out["token"], out["token_id"], person))

    @rule(data=st.data(), case_id=cases)
    def session(self, data: Any, case_id: str) -> None:
        """A person logs in (right or wrong password), reads with the cookie, logs out; or
        reads with a personal token. Either way a unit's person sees its unit's cases only."""
        self.step("session")
        d = data.draw
        if self.person_tokens and d(st.booleans()):
            token, _, person = d(st.sampled_from(self.person_tokens))
            resp = self.send("person_token_read", "GET", _case_path(case_id, ""), token)
            if resp is not None and resp.status_code == 200 and person["role"] == "unit" \
                    and person["unit"] not in self.case_of(case_id).units_ever:
                self.leak("person_token_read", f"GET case {case_id} as {person}", "200 for another unit's case")
            return
        person = d(st.sampled_from(self.people)) if self.people else None
        login = person["login"] if person else d(st.sampled_from(["admin", "", "x" * 41, "a\x00b", "ａｄｍｉｎ", "\ud800"]))
        password = d(st.sampled_from([person["password"] if person else "x", "wrong", "", "\x00", "\ud800"]))
        body: Any = {"login": d(st.sampled_from([login, login, login.upper(), f" {login}", f"{login}\x00"])),
                     "password": password}
        if d(st.integers(0, 9)) == 0:
            body = d(st.sampled_from([{}, [], {"login": login}, {**body, "extra": 1}]))
        resp = self.send("login", "POST", "/api/session", None, body=body)
        try:
            if resp is None or resp.status_code != 200:
                return
            me = self.send("session_read", "GET", "/api/session")
            if me is None or me.status_code != 200:
                self.fail("wrong_status", "session_read", f"after login as {login!r}",
                          f"{getattr(me, 'status_code', None)} {getattr(me, 'text', '')[:200]}")
                return
            unit = me.json().get("unit")
            got = self.send("session_case", "GET", _case_path(case_id, ""))
            case = self.case_of(case_id)
            if got is not None and got.status_code == 200 and me.json()["role"] == "unit" and case is not None \
                    and unit not in case.units_ever:
                self.leak("session_case", f"GET case {case_id} as {unit}", "200 for another unit's case")
            self.send("logout", "DELETE", "/api/session")
            after = self.send("session_read", "GET", "/api/session")
            if after is not None and after.status_code == 200:
                self.fail("wrong_status", "logout", "GET /api/session after DELETE", "still logged in")
        finally:
            self.client.cookies.clear()  # the cookie must not carry into the other rules

    # ---- 主办/协办, 吹哨报到 ----------------------------------------------------------------

    @rule(data=st.data(), case_id=cases)
    def coop(self, data: Any, case_id: str) -> None:
        self.step("coop")
        d = data.draw
        case = self.case_of(case_id)
        owner = self.owner(case_id) or "chatinglu"
        parts = [p.unit for p in case.parts] if case is not None else []
        action = d(st.sampled_from(["assist", "assist", "whistle", "whistle", "claim", "report", "return",
                                    "close", "queue", "stats"]))
        units = st.lists(st.one_of(st.sampled_from(UNITS), st.sampled_from(UNIT_IDS)), max_size=3)
        if action == "assist":
            token = d(st.sampled_from([OPERATOR] * 4 + [f"demo-unit-{owner}", LEADER]))
            body: Any = {"units": d(units), "note": d(mostly())}
            self.send("coop_assist", "POST", _case_path(case_id, "assist"), token, body=body)
        elif action == "whistle":
            token = d(st.sampled_from([f"demo-unit-{owner}"] * 4 + ["demo-unit-zhongjie", "demo-unit-chengguan", OPERATOR]))
            body = {"departments": d(units), "reason": d(mostly())}
            self.send("coop_whistle", "POST", _case_path(case_id, "whistle"), token, body=body)
        elif action in ("claim", "report", "return"):
            unit = d(st.sampled_from(parts)) if parts and d(st.integers(0, 4)) else d(st.sampled_from(UNITS))
            body = {"claim": None, "report": {"feedback": d(mostly())}, "return": {"reason": d(mostly())}}[action]
            self.send(f"coop_{action}", "POST", _case_path(case_id, f"part/{action}"), f"demo-unit-{unit}", body=body)
        elif action == "close":
            number = d(st.sampled_from([1, 1, 2, 0, 10_001, -1]))
            token = d(st.sampled_from([OPERATOR, OPERATOR, ASSIGNED_TOKEN]))
            self.send("coop_close", "POST", _case_path(case_id, f"parts/{number}/close"), token, body={"note": d(mostly())})
        elif action == "queue":
            unit = d(st.sampled_from(parts)) if parts and d(st.booleans()) else d(st.sampled_from(UNITS))
            token = d(st.sampled_from([f"demo-unit-{unit}"] * 3 + ["demo-unit-chengguan", OPERATOR, LEADER]))
            resp = self.send("coop_queue", "GET", f"/api/units/{_quoted(unit)}/assists", token)
            reader = _token_unit(token)
            if resp is not None and resp.status_code == 200 and reader is not None and reader != unit:
                self.leak("coop_queue", f"GET {unit}'s assists as {token}", "200 for another unit's queue")
        else:
            params = {k: d(st.sampled_from(ODD_DAYS)) for k in ("from", "to") if d(st.booleans())}
            self.send("coop_stats", "GET", "/api/stats/coop", d(st.sampled_from([LEADER, OPERATOR, ASSIGNED_TOKEN])),
                      params={k: v for k, v in params.items() if isinstance(v, str | int)})

    # ---- the newer channels: 媒体, 乡镇, 网格员, 企业, 法院 ---------------------------------

    def new_channel_record(self, d: Any, channel: str, when: Any) -> dict[str, Any]:
        """A record as the channel's exporter writes it (docs/channels.md): every field in a
        spelling the real world uses, then none, one or two fields made hostile, absurd or
        inconsistent with the others (a record with every field hostile is only ever refused,
        and the valid path needs exploring too)."""
        self.seq += 1
        n = self.seq
        absurd = st.sampled_from(ABSURD_DAYS)
        phones = st.sampled_from(PHONE_SPELLINGS + PHONE_HOSTILE)
        good: dict[str, Any]
        bad: dict[str, st.SearchStrategy[Any]]
        if channel == "grid":
            good = {"report_no": f"GR{n:07d}", "grid_worker_id": d(st.sampled_from(["gw033", "ｇｗ０３３"])),
                    "grid_id": d(st.sampled_from(GRID_IDS[:6])), "kind": d(st.sampled_from(["report", "visit", "走访", "入户走访", "巡查上报"])),
                    "received_at": when, "content": d(mostly()), "address": d(st.sampled_from(ADDRESSES)),
                    "on_behalf": d(st.sampled_from(BOOLS[:4])), "urgency": d(st.sampled_from(URGENCIES[:5]))}
            if d(st.booleans()):  # a resident's name and number, with consent
                good.update(resident_name=d(st.sampled_from(NAMES[:4])), resident_phone=d(st.sampled_from(PHONE_SPELLINGS)),
                            consent=d(st.sampled_from(["是", "同意", "已同意", True])),
                            consent_method=d(st.sampled_from(["口头", "书面", "签字", "签名", "written"])), consent_at=when)
            if d(st.booleans()):
                good["lat"], good["lng"] = d(st.sampled_from([(21.48, 109.12), ("21.4817", "109.1203")]))
            bad = {"report_no": st.sampled_from(["", "\x00", Huge("号", 300), 0, None]), "grid_id": st.sampled_from(GRID_IDS[6:]),
                   "grid_worker_id": st.sampled_from(["", "\x00", None]), "kind": st.sampled_from(["x", "", 3]),
                   "received_at": absurd, "resident_phone": phones,
                   "consent": st.sampled_from(["否", "拒绝", "maybe", None, False]),  # a number without consent
                   "consent_method": st.sampled_from(["心灵感应", "", None]),
                   "consent_at": st.sampled_from(["2000-01-01T00:00:00+08:00", *ABSURD_DAYS]),  # long after or before
                   "lat": st.sampled_from([91, "北纬", "２１.４８", float("inf"), None]), "urgency": st.sampled_from(URGENCIES[5:])}
        elif channel == "enterprise":
            good = {"request_no": f"QH{n:09d}", "received_at": when,
                    "enterprise_name": d(st.sampled_from(["北海海韵食品有限公司", "北海ＢＨ智能装备有限公司", "海城区  老陈  海鲜排档"])),
                    "credit_code": d(st.sampled_from(CREDIT_CODES[:3])), "contact_name": d(st.sampled_from(NAMES)),
                    "contact_phone": d(st.sampled_from(PHONE_SPELLINGS)), "content": d(mostly()),
                    "address": d(st.sampled_from(ADDRESSES)), "appeal_type": d(st.sampled_from(["求助", "咨询", "投诉", ""])),
                    "urgency": d(st.sampled_from(URGENCIES[:5])), "category": d(st.sampled_from(CATEGORIES[:6]))}
            bad = {"credit_code": st.sampled_from(CREDIT_CODES[3:]), "enterprise_name": st.sampled_from(["", "\x00", Huge("企", 300)]),
                   "received_at": absurd, "contact_phone": phones, "appeal_type": st.sampled_from(["吐槽", 1]),
                   "category": st.sampled_from(CATEGORIES[6:]), "request_no": st.sampled_from(["", None, 10**30])}
        elif channel == "court":
            good = {"case_no": f"（2026）桂0502民诉前调{n}号", "received_at": when,
                    "dispute_type": d(st.sampled_from(["相邻关系纠纷", "民间借贷纠纷", "物业服务合同纠纷"])),
                    "summary": d(mostly()), "applicant_name": d(st.sampled_from(NAMES)),
                    "applicant_phone": d(st.sampled_from(PHONE_SPELLINGS)), "respondent_name": d(st.sampled_from(NAMES)),
                    "respondent_phone": d(st.sampled_from(PHONES)), "court": "北海市海城区人民法院",
                    "address": d(st.sampled_from(ADDRESSES)), "mediation_deadline": "2026-12-31 17:00"}
            bad = {"case_no": st.sampled_from(COURT_CASE_NOS), "received_at": absurd,
                   "dispute_type": st.sampled_from(["", "\x00", None]), "applicant_phone": phones, "respondent_phone": phones,
                   "court": st.sampled_from(["", "\x00"]), "mediation_deadline": absurd}
        elif channel == "media":
            good = {"outlet": d(st.sampled_from(["北海日报", "北海电视台《民生直通车》", "海城发布"])),
                    "title": d(st.sampled_from(PHRASES)), "url": d(st.sampled_from(MEDIA_URLS[:4])).replace("{n}", str(n)),
                    "published_at": when, "passage": d(mostly()), "address": d(st.sampled_from(ADDRESSES)),
                    "urgency": d(st.sampled_from(URGENCIES[:5]))}
            bad = {"outlet": st.sampled_from(["", "\x00", Huge("报", 300)]), "title": texts(),
                   "url": st.sampled_from(MEDIA_URLS[4:]).map(lambda u: u.replace("{n}", str(n))),
                   "published_at": absurd,
                   "received_at": st.sampled_from(["2000-01-01T00:00:00+08:00", *ABSURD_DAYS]),  # before it was published
                   "urgency": st.sampled_from(URGENCIES[5:])}
        else:
            good = {"street": d(st.sampled_from(TOWN_STREETS[:5])), "request_no": f"ZJ-{n:07d}",
                    "received_at": when, "content": d(mostly()), "department": d(st.sampled_from(DEPARTMENTS[:4])),
                    "address": d(st.sampled_from(ADDRESSES)), "category": d(st.sampled_from(CATEGORIES[:6])),
                    "urgency": d(st.sampled_from(URGENCIES[:5]))}
            bad = {"street": st.sampled_from(TOWN_STREETS[5:]), "request_no": st.sampled_from(["", "a/b", Huge("号", 200), None]),
                   "received_at": absurd, "department": st.sampled_from(DEPARTMENTS[4:]), "urgency": st.sampled_from(URGENCIES[5:])}
        for _ in range(d(st.sampled_from([0, 0, 1, 1, 2]))):
            key = d(st.sampled_from(sorted(bad)))
            good[key] = d(bad[key])
        if d(st.integers(0, 7)) == 0:  # a sent record again: a duplicate
            good = dict(self.sent_records.get(channel, good))
        self.sent_records[channel] = good
        return good

    def recent(self, d: Any) -> str:
        """A time as an exporter writes it, within the last week (absurd ones are the records'
        hostile fields)."""
        at = self.now() - dt.timedelta(minutes=d(st.integers(1, 7 * 24 * 60)))
        return str(d(st.sampled_from([at.isoformat(), at.strftime("%Y-%m-%d %H:%M"), at.strftime("%Y/%-m/%-d %-H:%M"),
                                      f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"])))

    def refused_clearly(self, door: str, request: str, resp: Any) -> None:
        """A refusal is one of the statuses a client can act on, with a message a person reads."""
        if resp is None or resp.status_code < 400 or resp.status_code >= 500:
            return
        if resp.status_code not in (400, 401, 403, 404, 405, 409, 413, 415, 422, 429):
            self.fail("wrong_status", door, request, f"{resp.status_code} {resp.text[:200]}")
            return
        try:
            message = resp.json().get("message")
        except Exception:
            message = None
        if not isinstance(message, str) or not re.search(r"[\u4e00-\u9fff]|[A-Za-z]{3}", message):
            self.fail("unclear_refusal", door, request, f"{resp.status_code} {resp.text[:200]}")
        elif re.search(PYDANTIC_ENGLISH, message):  # pydantic's own sentence
            self.fail("unclear_refusal", door, request, f"{resp.status_code} {message[:200]}")

    @rule(target=cases, data=st.data(), channel=st.sampled_from(["media", "town"]))
    def intake_new_channel(self, data: Any, channel: str) -> Any:
        """媒体监督 and 镇呼市应 over HTTP: one record each, as the file's exporter writes it, a
        field now and then of the wrong type, or a body with a key twice."""
        self.step(f"api_{channel}")
        d = data.draw
        body = self.new_channel_record(d, channel, self.recent(d))
        if d(st.integers(0, 4)) == 0:
            body[d(st.sampled_from(sorted(body)))] = d(values())
        token = d(st.sampled_from([OPERATOR] * 6 + [ASSIGNED_TOKEN, LEADER, NOBODY]))
        path = f"/api/intake/{channel}"
        if d(st.integers(0, 9)) == 0:  # a duplicate key: JSON's last one wins, as any client's parser
            raw = json.dumps(body, ensure_ascii=True)[:-1] + ', "content": "\\u0000", "received_at": "9999-12-31"}'
            resp = self.send(f"api_{channel}", "POST", path, token, raw=raw.encode())
        else:
            resp = self.send(f"api_{channel}", "POST", path, token, body=body)
        self.refused_clearly(f"api_{channel}", f"POST {path} {_show(json.dumps(body, default=str))}", resp)
        if resp is not None and resp.status_code == 201:
            case = self.case_of(resp.json().get("case_id"))
            if case is None:
                self.fail("lost", f"api_{channel}", _show(json.dumps(body, default=str)), f"201 but no case: {resp.text[:200]}")
        return self.created(resp, "case_id")

    # ---- 认领大厅 (the open shelf) ---------------------------------------------------------

    @rule(data=st.data(), case_id=cases)
    def shelf(self, data: Any, case_id: str) -> None:
        """The centre shelves and withdraws; a unit (its own token, another's, a helper's demo
        clerk) claims; the centre decides a claim by number (absent, 0, huge, a string)."""
        self.step("shelf")
        d = data.draw
        action = d(st.sampled_from(["shelve", "shelve", "withdraw", "claim", "claim", "decide", "decide"]))
        cid = d(st.one_of(st.just(case_id), st.just(case_id), st.just(case_id), st.sampled_from(NONEXISTENT_IDS)))
        pending: list[Any] = []
        if d(st.integers(0, 2)):  # mostly a case where the action makes sense: waiting, or on the shelf
            found = self.waiting_or_shelved(d, on_shelf=action != "shelve")
            if found is not None:
                cid, pending = found
        if action == "shelve":
            token = d(st.sampled_from([OPERATOR] * 8 + [LEADER, ASSIGNED_TOKEN, ADMIN]))
            body: Any = {"service": d(st.sampled_from(SERVICES[:6] * 3 + SERVICES)),
                         "summary": d(st.one_of(*[st.sampled_from(PHRASES)] * 4, mostly(), st.sampled_from(HOSTILE_TEXT)))}
            path = _case_path(cid, "shelf")
        elif action == "withdraw":
            token = d(st.sampled_from([OPERATOR] * 3 + [ASSIGNED_TOKEN]))
            body = {"note": d(mostly())}
            path = _case_path(cid, "shelf/withdraw")
        elif action == "claim":
            token = d(st.sampled_from(["demo-unit-chengguan", "demo-unit-zhujian", ASSIGNED_TOKEN, "demo-unit-zhongjie",
                                       OPERATOR, NOBODY]))
            body = {"note": d(st.one_of(*[st.sampled_from(PHRASES)] * 3, st.sampled_from(HOSTILE_TEXT)))}
            path = _case_path(cid, "claims")
        else:
            token = d(st.sampled_from([OPERATOR] * 6 + [ASSIGNED_TOKEN, LEADER]))
            body = {"accepted": d(st.sampled_from([True, False, *BOOLS])), "note": d(st.one_of(mostly(), st.just("")))}
            number = d(st.sampled_from(pending)) if pending and d(st.integers(0, 3)) else d(st.sampled_from(COUNTS))
            path = _case_path(cid, f"claims/{_quoted(number)}/decide")
        if d(st.integers(0, 15)) == 0:
            body = d(st.sampled_from([{}, [], None, {**body, "extra": 1}, "x"]))
        resp = self.send(f"shelf_{action}", "POST", path, token, body=body)
        self.refused_clearly(f"shelf_{action}", f"POST {path} as {token} {_show(json.dumps(body, default=str))}", resp)
        if action == "claim" and resp is not None and resp.status_code == 201:
            case = self.case_of(cid)
            unit = _token_unit(token)
            if case is None or unit is None:
                self.fail("wrong_state", "shelf_claim", f"{path} as {token}", f"201 {resp.text[:200]}")

    def waiting_or_shelved(self, d: Any, on_shelf: bool) -> tuple[str, list[Any]] | None:
        """A case waiting at the centre (a new one now and then: the router sends most cases
        on at once), or one on the shelf with the numbers of its pending claims."""
        if on_shelf:
            resp = self.send("shelf_list", "GET", "/api/shelf", OPERATOR)
            items = resp.json()["items"] if resp is not None and resp.status_code == 200 else []
            if not items:
                return None
            item = d(st.sampled_from(items))
            return str(item["case_id"]), [c["number"] for c in item["claims"] if c["state"] == "pending"]
        resp = self.send("queue_manual", "GET", "/api/queue/manual", OPERATOR)
        rows = resp.json() if resp is not None and resp.status_code == 200 else []
        if not rows or d(st.integers(0, 3)) == 0:
            self.seq += 1
            made = self.send("seed", "POST", "/api/cases", OPERATOR, body={
                "order_no": f"V{self.seq:07d}", "received_at": (self.now() - dt.timedelta(minutes=5)).isoformat(),
                "content": f"我想反映一个情况，麻烦你们记一下（{self.seq}）"})
            return (str(made.json()["id"]), []) if made is not None and made.status_code == 201 else None
        return str(d(st.sampled_from(rows))["case_id"]), []

    @rule(data=st.data())
    def shelf_read(self, data: Any) -> None:
        """The shelf, a unit's claims (its own, another's), the helpers' figures; a demo
        helper's clerk reads the shelf through its session."""
        self.step("shelf_read")
        d = data.draw
        what = d(st.sampled_from(["shelf", "claims", "helpers", "helper_session"]))
        token = d(st.sampled_from(TOKENS_ANY))
        if what == "shelf":
            resp = self.send("shelf_list", "GET", "/api/shelf", token)
            unit = _token_unit(token)
            if resp is not None and resp.status_code == 200 and unit is not None:
                offered = self.rt.config.unit(unit).services if self.rt.config.has_unit(unit) else []
                for item in resp.json()["items"]:
                    service = item.get("service") if isinstance(item, dict) else None
                    if offered and service not in offered:
                        self.leak("shelf_list", f"GET /api/shelf as {token}", f"item of service {service}: {item}")
        elif what == "claims":
            unit = d(st.sampled_from([*UNITS, *HELPERS, "nobody", "\x00", "..", "\ud800"]))
            resp = self.send("shelf_claims", "GET", f"/api/units/{_quoted(unit)}/claims", token)
            reader = _token_unit(token)
            if resp is not None and resp.status_code == 200 and reader is not None and reader != unit:
                self.leak("shelf_claims", f"GET {unit}'s claims as {token}", "200 for another unit's claims")
        elif what == "helpers":
            params = {k: d(st.sampled_from(ODD_DAYS + ABSURD_DAYS)) for k in ("from", "to") if d(st.booleans())}
            resp = self.send("shelf_helpers", "GET", "/api/stats/helpers", token,
                             params={k: v for k, v in params.items() if isinstance(v, str | int)})
        else:
            resp = self.demo_session(d, "demo.volunteer")
            if resp is None:
                return
            try:
                resp = self.send("shelf_helper_session", "GET", "/api/shelf")
                if resp is not None and resp.status_code == 200:
                    items = resp.json()["items"]
                    case = d(st.sampled_from(items)) if items else None
                    if isinstance(case, dict) and case.get("case_id"):
                        claim = self.send("shelf_helper_claim", "POST", _case_path(case["case_id"], "claims"),
                                          body={"note": d(mostly())}, csrf=self.csrf)
                        self.refused_clearly("shelf_helper_claim", f"claim {case['case_id']}", claim)
            finally:
                self.client.cookies.clear()
                self.csrf = None
            return
        self.refused_clearly(f"shelf_{what}", f"GET as {token}", resp)

    # ---- 演示登录 ----------------------------------------------------------------------------

    csrf: str | None = None

    def demo_session(self, d: Any, login: str) -> Any:
        resp = self.send("demo_login", "POST", "/api/demo/session", body={"login": login})
        if resp is None or resp.status_code != 200:
            self.fail("wrong_status", "demo_login", f"log in as {login}", f"{getattr(resp, 'status_code', None)} {getattr(resp, 'text', '')[:200]}")
            return None
        self.csrf = resp.json().get("csrf_token")
        return resp

    @rule(data=st.data())
    def demo_login(self, data: Any) -> None:
        """The demo's one-click login with logins it does not know, of the wrong type, with a
        NUL, a full-width spelling; a body that is not an object."""
        self.step("demo_login")
        d = data.draw
        login = d(st.sampled_from(["demo.operator", "demo.leader", "demo.street", "demo.volunteer", "ｄｅｍｏ.ｏｐｅｒａｔｏｒ",
                                   "demo.operator\x00", "DEMO.OPERATOR", " demo.operator", "admin", "", "x" * 41,
                                   "demo.\ud800", 1, None, ["demo.operator"], {"login": "demo.operator"}]))
        body: Any = d(st.sampled_from([{"login": login}, {"login": login}, {"login": login, "password": "x"}, [], "demo.operator", {}]))
        try:
            resp = self.send("demo_login", "POST", "/api/demo/session", body=body)
            self.refused_clearly("demo_login", f"POST /api/demo/session {_show(json.dumps(body))}", resp)
            if resp is not None and resp.status_code == 200 and login not in ("demo.operator", "demo.leader", "demo.street", "demo.volunteer"):
                self.fail("wrong_status", "demo_login", f"POST /api/demo/session {_show(json.dumps(body))}", "200 for a login that is no demo account")
            self.send("demo_accounts", "GET", "/api/demo/accounts")
        finally:
            self.client.cookies.clear()

    # ---- 实事项目 ----------------------------------------------------------------------------

    def project_id(self, d: Any) -> tuple[str, str | None]:
        if self.projects and d(st.integers(0, 5)):
            pid, owner = d(st.sampled_from(self.projects))
            return pid, owner
        return str(d(st.sampled_from([*NONEXISTENT_IDS, str(uuid.uuid4())]))), None

    @rule(data=st.data(), case_id=cases, other=cases)
    def project_write(self, data: Any, case_id: str, other: str) -> None:
        """实事项目: open one (dates in every spelling, milestones after the deadline, a helper
        or an unknown unit as owner, cases that do not exist or are someone else's), link,
        report progress (the owner's token, another unit's), complete."""
        self.step("project")
        d = data.draw
        action = d(st.sampled_from(["open", "open", "link", "progress", "progress", "complete"]))
        ids = st.one_of(st.just(case_id), st.just(other), st.just(case_id), st.just(other),
                        st.sampled_from(NONEXISTENT_IDS), st.sampled_from(WRONG_TYPES))
        if action == "open":
            token = d(st.sampled_from([OPERATOR] * 3 + [LEADER] * 2 + [ASSIGNED_TOKEN, NOBODY]))
            body: Any = {"title": d(st.sampled_from(PHRASES)), "owner_unit": d(st.sampled_from(UNITS)),
                         "deadline": d(st.sampled_from(GOOD_DAYS)), "budget": d(st.sampled_from(["区财政 80 万元", "８０万", ""])),
                         "milestones": [{"title": f"第{i + 1}阶段", "due": d(st.sampled_from(GOOD_DAYS))}
                                        for i in range(d(st.integers(1, 3)))]}
            if d(st.booleans()):
                body["case_ids"] = sorted({case_id, other})
            bad: dict[str, st.SearchStrategy[Any]] = {
                "title": st.one_of(st.sampled_from(CHINESE_NUMERALS), st.sampled_from(HOSTILE_TEXT)),
                "owner_unit": st.sampled_from([*HELPERS[:2], "centre", "nobody", "", "\x00", 3]),
                "deadline": st.sampled_from(PROJECT_DAYS[len(GOOD_DAYS) * 4:]),
                "budget": st.sampled_from(["-1", "1" * 5000, "\x00", 80]),
                "milestones": st.sampled_from([[], [{"title": "节点"}] * 2, [{"title": "x", "due": "2026-12-01", "done": 1}],
                                               [{"title": "节点", "due": "2026-12-01"}] * 51, "x", {},
                                               [{"title": "节点", "due": "9999-12-31"}], [{"title": "节点", "due": "0001-01-01"}],
                                               [{"title": "\x00", "due": "2026-02-30"}]]),
                "case_ids": st.lists(ids, max_size=4),
            }
            for _ in range(d(st.sampled_from([0, 0, 1, 1, 2]))):
                key = d(st.sampled_from(sorted(bad)))
                body[key] = d(bad[key])
            resp = self.send("project_open", "POST", "/api/projects", token, body=body)
            self.refused_clearly("project_open", f"POST /api/projects {_show(json.dumps(body, default=str))}", resp)
            if resp is not None and resp.status_code == 201:
                out = resp.json()
                self.projects.append((out["project_id"], out["owner_unit"]))
            return
        pid, owner = self.project_id(d)
        owner_token = f"demo-unit-{owner}" if owner else ASSIGNED_TOKEN
        if action == "link":
            token = d(st.sampled_from([OPERATOR, OPERATOR, LEADER, owner_token]))
            body = {"case_ids": d(st.lists(ids, max_size=4))}
        elif action == "progress":
            token = d(st.sampled_from([owner_token] * 4 + ["demo-unit-chengguan", "demo-unit-zhongjie", OPERATOR]))
            body = {"milestone": d(st.sampled_from(COUNTS)), "note": d(mostly()), "done": d(st.sampled_from(BOOLS))}
        else:
            token = d(st.sampled_from([owner_token, owner_token, OPERATOR, "demo-unit-chengguan", LEADER]))
            body = {"result": d(st.one_of(mostly(), st.sampled_from(HOSTILE_TEXT)))}
        if d(st.integers(0, 9)) == 0:
            body = d(st.sampled_from([{}, [], None, {**body, "extra": 1}]))
        path = f"/api/projects/{_quoted(pid)}/{'cases' if action == 'link' else action}"
        resp = self.send(f"project_{action}", "POST", path, token, body=body)
        self.refused_clearly(f"project_{action}", f"POST {path} as {token} {_show(json.dumps(body, default=str))}", resp)
        reader = _token_unit(token)
        if resp is not None and resp.status_code == 200 and reader is not None and owner is not None and reader != owner:
            self.leak(f"project_{action}", f"POST {path} as {token}", f"200 on {owner}'s project")

    @rule(data=st.data())
    def project_read(self, data: Any) -> None:
        self.step("project_read")
        d = data.draw
        token = d(st.sampled_from(TOKENS_ANY))
        if d(st.booleans()):
            resp = self.send("project_list", "GET", "/api/projects", token)
            reader = _token_unit(token)
            if resp is not None and resp.status_code == 200 and reader is not None:
                for row in resp.json().get("rows", []):
                    if row.get("owner_unit") != reader:
                        self.leak("project_list", f"GET /api/projects as {token}", f"another unit's project {row.get('id')}")
            self.refused_clearly("project_list", f"GET /api/projects as {token}", resp)
            return
        pid, owner = self.project_id(d)
        resp = self.send("project_detail", "GET", f"/api/projects/{_quoted(pid)}", token)
        self.refused_clearly("project_detail", f"GET project {pid!r} as {token}", resp)
        reader = _token_unit(token)
        if resp is not None and resp.status_code == 200 and reader is not None and reader != owner:
            self.leak("project_detail", f"GET project {pid} as {token}", f"200 on {owner}'s project")

    # ---- 主动治理, 诉源治理 -------------------------------------------------------------------

    @rule(data=st.data())
    def proactive_read(self, data: Any) -> None:
        self.step("proactive")
        d = data.draw
        token = d(st.sampled_from([LEADER, LEADER, OPERATOR, ADMIN, ASSIGNED_TOKEN, NOBODY]))
        days = st.sampled_from([*ODD_DAYS, *ABSURD_DAYS, (self.now() - dt.timedelta(days=10)).date().isoformat(),
                                self.now().date().isoformat()])
        what = d(st.sampled_from(["surges", "repeated", "source-governance"]))
        params: dict[str, Any] = {}
        if what == "surges":
            path = "/api/proactive/surges"
            if d(st.booleans()):
                params["window"] = d(st.sampled_from(["day", "week", "month", "", "\x00", "日"]))
            for name in ("from", "to"):
                if d(st.booleans()):
                    params[name] = d(days)
        elif what == "repeated":
            path = "/api/proactive/repeated"
            if d(st.booleans()):
                params["day"] = d(days)
        else:
            path = "/api/stats/source-governance"
            if d(st.booleans()):
                params["by"] = d(st.sampled_from(["judicial_office", "street", "unit", ""]))
            for name in ("from", "to"):
                if d(st.booleans()):
                    params[name] = d(days)
        params = {k: v for k, v in params.items() if isinstance(v, str | int)}
        resp = self.send(f"proactive_{what}", "GET", path, token, params=params)
        self.refused_clearly(f"proactive_{what}", f"GET {path} {params!r} as {token}", resp)

    # ---- 管理设置 ----------------------------------------------------------------------------

    @rule(data=st.data())
    def admin(self, data: Any) -> None:
        """The district's settings changed at runtime: units, categories, rules; ids of the
        file, unknown ones, path-like ones; an admin's token or another role's."""
        self.step("admin")
        d = data.draw
        token = d(st.sampled_from([ADMIN] * 6 + [OPERATOR, LEADER, ASSIGNED_TOKEN]))
        action = d(st.sampled_from(["settings", "history", "unit", "rename", "deactivate", "category", "relabel",
                                    "retire", "rule", "rule", "change", "remove"]))
        text = st.one_of(st.sampled_from(["新单位", "噪音扰民", "夜间施工"]), st.sampled_from(HOSTILE_TEXT))
        known_unit = st.sampled_from([*UNIT_IDS, *HELPERS[:1], "zhongjie-sfs", "centre"])
        category = st.sampled_from(["municipal", "city_management", "dispute", "municipal.streetlight", *CATEGORIES])
        body: Any = None
        if action in ("settings", "history"):
            resp = self.send(f"admin_{action}", "GET", f"/api/admin/{action}", token)
            self.refused_clearly(f"admin_{action}", f"GET as {token}", resp)
            return
        if action == "unit":
            path = "/api/admin/units"
            body = {"id": d(st.sampled_from([*ADMIN_CODES, "chatinglu", "new-unit"])), "name": d(text),
                    "kind": d(st.sampled_from(UNIT_KINDS_ANY)), "parent": d(st.sampled_from(["", "zhongjie", "nobody", "chatinglu"]))}
        elif action in ("rename", "deactivate"):
            path = f"/api/admin/units/{_quoted(d(known_unit))}/{action}"
            body = {"name": d(text)} if action == "rename" else {"reason": d(mostly())}
        elif action == "category":
            path = "/api/admin/categories"
            body = {"parent": d(category), "code": d(st.sampled_from(ADMIN_CODES)), "name": d(text),
                    "keywords": d(st.lists(text, max_size=3)), "unit": d(st.sampled_from(["", "chengguan", "locality", "nobody"])),
                    "handle_workdays": d(st.sampled_from(COUNTS))}
        elif action in ("relabel", "retire"):
            path = f"/api/admin/categories/{_quoted(d(category))}/{action}"
            body = {"name": d(text)} if action == "relabel" else {"reason": d(mostly())}
        elif action == "rule":
            path = "/api/admin/rules"
            body = {"category": d(category), "keywords": d(st.lists(text, max_size=3)),
                    "to": d(st.sampled_from(["chengguan", "locality", "judicial_office", "nobody", "centre", "", "yinling-se"])),
                    "priority": d(st.sampled_from(COUNTS))}
        else:
            rid = d(st.sampled_from(self.admin_rules)) if self.admin_rules and d(st.integers(0, 3)) else \
                d(st.sampled_from(["file-1", "r1", "0" * 40, "", "\x00", "../x"]))
            if action == "change":
                path = f"/api/admin/rules/{_quoted(rid)}"
                body = {k: v for k, v in (("priority", d(st.sampled_from(COUNTS))), ("to", d(st.sampled_from(["chengguan", "nobody"]))),
                                          ("keywords", d(st.lists(text, max_size=2)))) if d(st.booleans())}
            else:
                path = f"/api/admin/rules/{_quoted(rid)}/remove"
        if body is not None and d(st.integers(0, 9)) == 0:
            body = d(st.sampled_from([{}, [], None, {**body, "extra": 1}]))
        resp = self.send(f"admin_{action}", "POST", path, token, body=body)
        self.refused_clearly(f"admin_{action}", f"POST {path} as {token} {_show(json.dumps(body, default=str))}", resp)
        if action == "rule" and resp is not None and resp.status_code == 201:
            self.admin_rules.append(resp.json()["id"])
        if resp is not None and resp.status_code < 400 and token != ADMIN:
            self.fail("wrong_status", f"admin_{action}", f"POST {path} as {token}", f"{resp.status_code}: not an admin")

    # ---- the clock -----------------------------------------------------------------------

    @rule(hours=st.sampled_from([1, 3, 26, 24 * 8, 24 * 40]))
    def clock(self, hours: int) -> None:
        """Time passes; the deadline clock escalates what is overdue (as ``sanshi worker``
        does every ``--clock-interval``)."""
        self.step("clock")
        self.clock.shift(dt.timedelta(hours=hours))
        try:
            rm = self.rt.read_model
            now = self.now()
            self.rt.app.tick(rm.due_for_escalation(now), now)
        except Exception as exc:
            self.fail("server_error", "clock", f"tick at {self.now().isoformat()}",
                      f"raised {type(exc).__name__}: {str(exc)[:300]} | logged: {_LAST.last}")

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def views_follow_the_log(self) -> None:
        if self.stuck_reported:
            return  # counted once per example in the long variant
        behind = lag(self.rt)
        if behind:
            self.stuck_reported = True
            self.fail("stuck_views", self.last_step, f"after step {self.last_step}",
                      f"views {behind} events behind the log | logged: {_LAST.last}")
        aside = quarantined(self.rt)
        if aside:
            self.stuck_reported = True
            self.fail("quarantined", self.last_step, f"after step {self.last_step}",
                      f"{len(aside)} events set aside: {aside[:3]}")

    def teardown(self) -> None:
        try:
            if not self.stuck_reported:
                diffs = rebuild_differences(self.rt, self.dbs.rebuild)
                diffs += accounts_differences(self.people_engine, self.client.app.state.people)
                if self.tally is not None:
                    self.tally.rebuilds += 1
                    self.tally.events += int(self.rt.projector.head())
                if diffs:
                    self.fail("rebuild_mismatch", "rebuild", "full rebuild of the views",
                              "; ".join(diffs))
        finally:
            with contextlib.suppress(Exception):
                self.client.__exit__(None, None, None)
            with contextlib.suppress(Exception):
                self.rt.close()
            self.traveller.stop()
            with contextlib.suppress(Exception):
                self.dbs.cleanup()
            with contextlib.suppress(OSError):
                self.tmp.rmdir()


ASSIGNED_TOKEN = "demo-unit-chatinglu"


def _later(t: dt.datetime, days: int) -> str:
    """``t`` plus ``days`` as ISO 8601; past year 9999 (a case received at an absurd time
    that got through) the largest time there is."""
    try:
        return (t + dt.timedelta(days=days)).isoformat()
    except OverflowError:
        return dt.datetime.max.replace(tzinfo=t.tzinfo).isoformat()


def _quoted(value: Any) -> str:
    return urllib.parse.quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def _case_path(case_id: Any, tail: str) -> str:
    return f"/api/cases/{_quoted(case_id)}" + (f"/{tail}" if tail else "")


def _token_unit(token: str | None) -> str | None:
    """The unit of a demo unit token (None: a centre role, or no valid token)."""
    if token and token.startswith("demo-unit-"):
        return token.removeprefix("demo-unit-")
    return None


def _multipart(fields: list[tuple[str, Any, bytes]]) -> tuple[bytes, str]:
    """A multipart body by hand: a file name is sent as the bytes given (control characters,
    a lone surrogate as invalid UTF-8), as a broken client would."""
    boundary = "sanshi-fuzz-" + "b" * 16
    out = b""
    for name, filename, data in fields:
        head = f'Content-Disposition: form-data; name="{name}"'.encode()
        if filename is not None:
            head += b'; filename="' + str(filename).replace('"', "%22").encode("utf-8", "surrogatepass") + b'"'
            head += b"\r\nContent-Type: application/octet-stream"
        out += b"--" + boundary.encode() + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, f"multipart/form-data; boundary={boundary}"


@functools.cache
def _image(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims a huge picture, then a few bytes of data (a decompression
    bomb's shape, without the bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
_WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00@\x1f\x00\x00\x01\x00\x08\x00data\x00\x00\x00\x00"
FILES: dict[str, Callable[[], bytes]] = {
    "jpeg": lambda: _image("JPEG"),
    "png": lambda: _image("PNG"),
    "gif": lambda: _image("GIF"),
    "webp": lambda: _image("WEBP"),
    "pdf": lambda: _PDF,
    "wav": lambda: _WAV,
    "amr": lambda: b"#!AMR\n" + b"\x3c" * 32,
    "mp3": lambda: b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64,
    "empty": lambda: b"",
    "jpeg_header_only": lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "jpeg_truncated": lambda: _image("JPEG")[:40],
    "png_garbage": lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    "gif_garbage": lambda: b"GIF89a" + b"\xff" * 50,
    "png_bomb": lambda: _png_claiming(100_000, 100_000),
    "png_wide": lambda: _png_claiming(2**31 - 1, 1),
    "png_zero": lambda: _png_claiming(0, 0),
    "elf": lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 64,
    "exe": lambda: b"MZ\x90\x00" + b"\x00" * 64,
    "zip": lambda: b"PK\x03\x04" + b"\x00" * 64,
    "html": lambda: b"<html><script>alert(1)</script></html>",
    "svg": lambda: b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "text": lambda: "茶亭路路灯照片".encode(),
    "oversize": lambda: _oversize(),
}


@functools.cache
def _oversize() -> bytes:
    """A JPEG's magic bytes and then more than the 10 MiB an image may have."""
    return HugeBytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * (10 * 1024 * 1024), "oversize")


FILE_NAMES = [
    "现场照片.jpg", "photo.JPG", "scan.pdf", "录音.amr", "a.png", "noext", "", ".jpg", "a.jpeg.exe",
    "../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/shadow", "C:\\photos\\a.jpg", "a/b.jpg",
    "a\x00.jpg", "a\x1b[31m.jpg", "😀👨‍👩‍👧.jpg", "名" * 300 + ".jpg", "CON.jpg", " a .jpg ",
    "%2e%2e%2fa.jpg", "a\ud800.jpg", "a\r\nContent-Type: text/html.jpg", "ｐｈｏｔｏ．ｊｐｇ",
]


def _show(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, bytes | bytearray):
        text = bytes(content).decode("utf-8", "backslashreplace")
    else:
        text = str(content)
    if len(text) > 300:
        return f"{text[:150]!r}…({len(text)} chars)…{text[-60:]!r}"
    return repr(text)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The API and the projector log every failure with a traceback; the harness reports
    them itself."""
    loggers = [logging.getLogger(n) for n in ("sanshi.http", "sanshi.projections", "sanshi.worker",
                                               "sanshi.intake", "sanshi")]
    old = [(lg, lg.level, lg.propagate) for lg in loggers]
    null = logging.NullHandler()  # or logging's last resort prints them to stderr
    for lg in loggers:
        lg.propagate = False
        lg.addHandler(null)
    try:
        yield
    finally:
        for lg, level, propagate in old:
            lg.removeHandler(null)
            lg.setLevel(level)
            lg.propagate = propagate
