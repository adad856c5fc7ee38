"""Property: identifiers in any spelling, inside realistic complaint text, never reach the
event store, a dead letter, a log line or a Kafka message in clear (issue 14, finding 3).

Hypothesis makes records that each carry several identifiers (IDs 15/18 with check digit or
X, in half- or full-width digits, Chinese numerals 〇一二/零/壹贰, grouped with spaces, dots,
dashes; plates of every province and kind; 警号; Luhn-valid bank cards in any grouping;
passports; mobiles with +86 and landlines), sends them through the police channel (every
kind masked) and the hotline channel (IDs, cards, passports masked), valid and broken (dead
letters), and looks for each identifier's digits, in any spelling, in what would be stored
or sent. "In clear" is matched on a normalised copy of the bytes (NFKC, Chinese numerals →
digits, separators dropped), with an implementation of its own, not the detector's.

The bulk test checks what the transport would send (the command's JSON, the DLQ message)
for at least 100,000 identifiers; the end-to-end test writes a SQLite file through the
intake port and reads its raw bytes.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.channels import DeadLetter, Filtered, Parsed, adapt, read_one
from adapters.transport.dead_letters import _row, to_message

# ---- the identifiers --------------------------------------------------------------------------

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
CN_LOWER = "〇一二三四五六七八九"
CN_ZERO_ALT = "零一二三四五六七八九"
CN_UPPER = "零壹贰叁肆伍陆柒捌玖"
SEPARATORS = [" ", "-", ".", "·", "　", "－"]
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Ident:
    kind: str
    spelled: str
    secret: str  # what must not be found, normalised (see clear())
    full: str = ""  # the whole number: for searching a whole file, where a short secret
    # (a landline's 6 digits) turns up by chance inside the numbers that are kept

    def in_file(self) -> Ident:
        if len(self.secret) >= 8 or not self.full:
            return self
        return Ident(self.kind, self.spelled, self.full, self.full)


def spell_digits(digits: str, r: random.Random) -> str:
    how = r.choice(["half", "half", "full", "cn", "cn0", "upper", "mixed"])
    if how == "half":
        return digits
    if how == "full":
        return "".join(chr(0xFF10 + int(d)) if d.isdigit() else "Ｘ" for d in digits)
    table = {"cn": CN_LOWER, "cn0": CN_ZERO_ALT, "upper": CN_UPPER}.get(how)
    if table:
        return "".join(table[int(d)] if d.isdigit() else d for d in digits)
    return "".join(
        r.choice([d, chr(0xFF10 + int(d)), CN_LOWER[int(d)]]) if d.isdigit() else d for d in digits
    )


def group(text: str, sizes: list[int], r: random.Random) -> str:
    sep = r.choice(SEPARATORS)
    out, i = [], 0
    for size in sizes:
        out.append(text[i : i + size])
        i += size
    if i < len(text):
        out.append(text[i:])
    return sep.join(p for p in out if p)


def make_id(r: random.Random) -> Ident:
    region = str(r.randint(110000, 659999))
    if r.random() < 0.15:  # a 15-digit card of before 1999
        number = region + f"{r.randint(30, 99):02d}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    else:
        body = region + f"{r.randint(1930, 2020)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
        number = body + (id_check(body) if r.random() < 0.7 else str(r.randint(0, 9)))
        if number.endswith("X") and r.random() < 0.3:
            number = number[:-1] + "x"
    spelled = spell_digits(number, r)
    if r.random() < 0.4:
        sizes = r.choice([[6, 4, 4, 4], [6, 8, 4], [4, 4, 4, 4], [3, 3, 4, 4, 4], [6, 8]])
        spelled = group(spelled, sizes, r)
    return Ident("id", spelled, number.upper()[:-4])


def make_mobile(r: random.Random) -> Ident:
    number = "1" + r.choice("3456789") + "".join(str(r.randint(0, 9)) for _ in range(9))
    spelled = spell_digits(number, r) if r.random() < 0.5 else number
    if r.random() < 0.4:
        spelled = group(spelled, [3, 4, 4], r)
    if r.random() < 0.25:
        spelled = r.choice(["+86 ", "+86", "0086-", "＋８６ "]) + spelled
    return Ident("phone", spelled, number[:-4])


def make_landline(r: random.Random) -> Ident:
    area = r.choice(["010", "020", "021", "0771", "0779", "0755"])
    local = str(r.randint(2, 8)) + "".join(str(r.randint(0, 9)) for _ in range(r.choice([6, 7])))
    spelled = r.choice([f"{area}-{local}", f"({area}){local}", f"{area}{local}", f"{area} {local}"])
    return Ident("phone", spelled, (area + local)[:-4], area + local)


def make_card(r: random.Random) -> Ident:
    length = r.randint(16, 19)
    number = luhn_complete("62" + "".join(str(r.randint(0, 9)) for _ in range(length - 3)))
    spelled = spell_digits(number, r) if r.random() < 0.3 else number
    if r.random() < 0.5:
        spelled = group(spelled, [4] * 5, r)
    return Ident("card", spelled, number[:-4])


def make_plate(r: random.Random) -> Ident:
    province, letter = r.choice(PROVINCES), r.choice(PLATE_LETTERS)
    kind = r.random()
    if kind < 0.5:
        serial = "".join(r.choice("0123456789" * 3 + PLATE_LETTERS) for _ in range(5))
        if not any(c.isdigit() for c in serial):
            serial = serial[:4] + "7"
    elif kind < 0.75:  # new energy
        serial = r.choice("DF") + "".join(str(r.randint(0, 9)) for _ in range(5))
    else:
        serial = "".join(str(r.randint(0, 9)) for _ in range(4)) + r.choice("警学挂领港澳")
    sep = r.choice(["", "", "·", "•", "-", " "])
    head = province + (letter.lower() if r.random() < 0.2 else letter)
    spelled = head + sep + (serial.lower() if r.random() < 0.2 else serial)
    return Ident("plate", spelled, province + letter + serial[:4].upper())


def make_embassy_plate(r: random.Random) -> Ident:
    number = "".join(str(r.randint(0, 9)) for _ in range(6))
    return Ident("plate", "使" + number, "使" + number[:5], "使" + number)


def make_badge(r: random.Random) -> Ident:
    number = "".join(str(r.randint(0, 9)) for _ in range(6))
    sep = r.choice(["：", ":", " ", "", "为"])
    spelled = "警号" + sep + (spell_digits(number, r) if r.random() < 0.3 else number)
    return Ident("badge", spelled, "警号" + number)


def make_passport(r: random.Random) -> Ident:
    letter = r.choice("EGPSD")
    number = "".join(str(r.randint(0, 9)) for _ in range(8))
    spelled = ("护照号" if letter not in "EG" else r.choice(["护照", "护照号", ""])) + letter + number
    return Ident("passport", spelled, letter + number[:6], letter + number)


MAKERS = {
    "id": make_id, "mobile": make_mobile, "landline": make_landline, "card": make_card,
    "plate": make_plate, "embassy": make_embassy_plate, "badge": make_badge, "passport": make_passport,
}
WEIGHTS = {"id": 5, "mobile": 3, "landline": 1, "card": 2, "plate": 3, "embassy": 1, "badge": 1, "passport": 1}
CITIZEN = {"id", "card", "passport"}  # what the hotline channel must mask too

BEFORE = ["我的身份证号是", "对方电话", "当事人", "车牌", "银行卡号", "联系方式：", "，", "。", "报警人称",
          "欠薪12000元，", "住8栋2单元301，", "工单HC20261201002444，", "2026年12月1日", "（", " ", "证件"]
AFTER = ["，", "。", "一直打不通", "的车堵住消防通道", "，请尽快处理", "）", "两个月了", " ", "的民警", "，谢谢"]
FILLER = ["楼上邻居漏水不肯维修", "小区门口有人占道经营", "公司拖欠工资三个月", "楼下烧烤店油烟很大",
          "物业不作为", "噪音扰民到凌晨", "路灯不亮", "预付卡商家跑路"]


def complaint(r: random.Random, idents: list[Ident]) -> str:
    parts = [r.choice(FILLER)]
    for ident in idents:
        parts += [r.choice(BEFORE), ident.spelled, r.choice(AFTER)]
    parts.append(r.choice(FILLER))
    return "".join(parts)


# ---- "in clear" -------------------------------------------------------------------------------

_CN = {c: str(i) for i, c in enumerate(CN_LOWER)} | {c: str(i) for i, c in enumerate(CN_UPPER)} | {"幺": "1"}
_DROP = re.compile(r"[\s\-.·•・_/()（）：:为\\\"]+")


def clear(blob: bytes | str) -> str:
    """The bytes as a person would read the digits: any spelling, separators dropped."""
    text = blob.decode("utf-8", errors="replace") if isinstance(blob, bytes) else blob
    text = unicodedata.normalize("NFKC", text).upper()
    text = "".join(_CN.get(c, c) for c in text)
    return _DROP.sub("", text)


# What the store writes by itself and a person would not read as anyone's number: wall-clock
# timestamps (SQLite keeps them in index pages too), UUIDs and hex digests. With separators
# dropped, their digits run together, and over a whole file a 7-digit mobile prefix turned up
# in them by chance (CI, stop 27: '1730348' matched on one run and not on the retry).
_MACHINE_MADE = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d:\d\d)?"
    r"|(?<![0-9a-f])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|(?=[0-9a-f]*[a-f])(?:[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32}))"
)  # exact lengths from a bound: a number written right after one is not blanked with it


def without_machine_values(blob: bytes) -> str:
    """A file's text with the values above blanked out; an identifier in clear is never one."""
    return _MACHINE_MADE.sub("\x00", blob.decode("utf-8", errors="replace"))


def leaked(idents: list[Ident], *blobs: bytes | str) -> list[Ident]:
    seen = "\n".join(clear(b) for b in blobs)
    return [i for i in idents if clear(i.secret) in seen]


def test_the_file_search_ignores_timestamps_and_hashes_but_not_a_number_beside_them() -> None:
    mobile = Ident("phone", "17303486717", "1730348")
    by_chance = b"\x1e\x03A\x012026-12-03 18:09:54.1730348\x1e\x029a5f55c9173034889334bb937fd1a2b0\x04"
    assert leaked([mobile], by_chance)  # what the raw search saw
    assert not leaked([mobile], without_machine_values(by_chance))
    for beside in (b"2026-12-03 18:09:54.123456 17303486717", b"173 0348 6717\x009a5f55c90711562289334bb9",
                   b"\xe7\x94\xb5\xe8\xaf\x9d1730348****"):
        assert leaked([mobile], without_machine_values(by_chance + beside)), beside


# ---- the bulk property -------------------------------------------------------------------------

POLICE_BASE = {"received_at": "2026-12-01 09:30:00", "caller_phone": "13977905555",
               "caller_name": "欧阳娜娜", "police_category": "纠纷"}
PER_EXAMPLE = 2_000
EXAMPLES = 52


@dataclass
class Tally:
    identifiers: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


TALLY = Tally()


def _records(r: random.Random, n_idents: int) -> list[tuple[str, dict[str, Any], list[Ident], list[Ident]]]:
    """(channel, record, identifiers that must be masked, all identifiers in it)."""
    names = list(WEIGHTS)
    weights = [WEIGHTS[n] for n in names]
    out = []
    made = 0
    while made < n_idents:
        k = r.randint(3, 8)
        idents_by = [r.choices(names, weights)[0] for _ in range(k)]
        idents = [MAKERS[n](r) for n in idents_by]
        made += k
        broken = r.random() < 0.25
        if r.random() < 0.6:
            record = {**POLICE_BASE, "incident_no": f"JQ{r.randint(10**11, 10**12)}",
                      "summary": complaint(r, idents[: k // 2 + 1]),
                      "location": complaint(r, idents[k // 2 + 1 :])}
            must = idents
            channel = "police"
        else:
            record = {"order_no": f"HC{r.randint(10**13, 10**14)}", "received_at": "2026-12-01 09:30",
                      "content": complaint(r, idents), "证件号": idents[0].spelled}
            must = [i for i, n in zip(idents, idents_by, strict=True) if n.rstrip("s") in CITIZEN]
            channel = "hotline"
        if broken:
            record["received_at"] = "下周三"  # the one fault: dead-lettered with all its content
            must = idents  # a dead letter keeps nothing in clear, whatever the channel
        out.append((channel, record, must, idents))
    return out


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_no_identifier_reaches_a_kafka_message_or_a_dead_letter_in_clear(seed: int) -> None:
    r = random.Random(seed)
    for channel, record, must, idents in _records(r, PER_EXAMPLE):
        for ident in idents:
            TALLY.kinds[ident.kind] = TALLY.kinds.get(ident.kind, 0) + 1
        TALLY.identifiers += len(idents)
        payload = json.dumps(record, ensure_ascii=r.random() < 0.2)  # \u escapes too
        out = adapt(channel, read_one(payload))
        if isinstance(out, Parsed):
            sent = out.command.model_dump_json()  # what KafkaIntake publishes
            bad = leaked(must, sent)
            assert not bad, (channel, bad[0], sent, record)
            assert record.get("incident_no", "\0") not in sent
        elif isinstance(out, DeadLetter):
            message = to_message(out)  # what goes to sanshi.dlq
            raw = base64.b64decode(json.loads(message)["raw_b64"])
            stored = _row(out)["raw"]  # what the dead-letter table keeps
            bad = leaked(must, raw, stored, out.reason)
            assert not bad, (channel, bad[0], raw.decode("utf-8", "replace"))
            assert record.get("incident_no", "\0").encode() not in raw + stored
        else:
            assert isinstance(out, Filtered), out
            bad = leaked(idents, out.reason)
            assert not bad


def test_the_bulk_property_saw_at_least_100000_identifiers() -> None:
    """Runs after the property above (same module, file order): the count is over all its
    examples."""
    if TALLY.identifiers == 0:
        pytest.skip("run with the property test")
    assert TALLY.identifiers >= 100_000, TALLY
    assert set(TALLY.kinds) == {"id", "phone", "card", "plate", "badge", "passport"}
    print(f"\nidentifiers generated: {TALLY.identifiers:,} {TALLY.kinds}")


# ---- end to end: the SQLite file, the dead-letter table, the logs ------------------------------


@settings(max_examples=2, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_no_identifier_reaches_the_database_file_or_a_log_line(
    seed: int, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    from adapters.bootstrap import bootstrap
    from adapters.channels import read_path
    from adapters.transport import ingest
    from engine.config import load_config
    from engine.routing.keyword import KeywordRouter
    from engine.settings import Settings

    caplog.clear()
    caplog.set_level(logging.DEBUG)
    r = random.Random(seed)
    folder: Path = tmp_path_factory.mktemp("ids")
    records = _records(r, 1_200)
    files: dict[str, list[str]] = {}
    for channel, record, _must, _idents in records:
        files.setdefault(channel, []).append(json.dumps(record, ensure_ascii=False))
    config = load_config(None)
    runtime = bootstrap(
        Settings.from_env({"SANSHI_DB": f"sqlite:///{folder / 'sanshi.db'}"}),
        config, router=KeywordRouter(config),
    )
    try:
        for channel, lines in files.items():
            path = folder / f"{channel}.jsonl"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            report = ingest(runtime, channel, read_path(path))
            assert report.counts["dead_lettered"] > 0 and report.counts["accepted"] > 0
    finally:
        runtime.close()
    stored = b"".join(p.read_bytes() for p in folder.glob("sanshi.db*"))
    logged = "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}" for rec in caplog.records)
    must = [i.in_file() for _c, _rec, m, _i in records for i in m]
    assert len(must) > 500
    bad = leaked(must, without_machine_values(stored))
    assert not bad, bad[:3]
    everything = [i.in_file() for _c, _rec, _m, idents in records for i in idents]
    assert not leaked(everything, logged)
    incident_numbers = [rec["incident_no"] for c, rec, _m, _i in records if c == "police"]
    assert not [n for n in incident_numbers if n.encode() in stored]


# ---- a real broker: the bytes on sanshi.intake and sanshi.dlq ----------------------------------


@pytest.mark.kafka
def test_no_identifier_reaches_a_kafka_topic_in_clear(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a cipher key (the topics are readable): what the publisher puts on the topics,
    headers included, carries no identifier it must mask."""
    import uuid

    from adapters.bootstrap import bootstrap
    from adapters.channels import read_path
    from adapters.transport import ingest
    from engine.config import load_config
    from engine.routing.keyword import KeywordRouter
    from engine.settings import Settings
    from tests.faults.support import topic_bytes

    prefix = f"ids{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("SANSHI_KAFKA_PREFIX", prefix)
    records = _records(random.Random(1414), 600)
    config = load_config(None)
    runtime = bootstrap(
        Settings.from_env({"SANSHI_DB": f"sqlite:///{tmp_path / 'sanshi.db'}", "SANSHI_KAFKA": kafka_bootstrap}),
        config, router=KeywordRouter(config),
    )
    try:
        for channel in ("police", "hotline"):
            path = tmp_path / f"{channel}.jsonl"
            lines = [json.dumps(rec, ensure_ascii=False) for c, rec, _m, _i in records if c == channel]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            report = ingest(runtime, channel, read_path(path))
            assert report.counts["queued"] > 0 and report.counts["dead_lettered"] > 0, report.counts
    finally:
        runtime.close()
    on_topics = topic_bytes(kafka_bootstrap, [f"{prefix}sanshi.intake", f"{prefix}sanshi.dlq"])
    # a dead letter's bytes travel base64-encoded: read them as a consumer would
    letters = [base64.b64decode(m) for m in re.findall(rb'"raw_b64": "([A-Za-z0-9+/=]*)"', on_topics)]
    assert letters
    on_topics += b"\n".join(letters)
    must = [i.in_file() for _c, _rec, m, _i in records for i in m]
    assert len(must) > 400
    assert not leaked(must, on_topics)
    assert not [rec["incident_no"] for c, rec, _m, _i in records
                if c == "police" and rec["incident_no"].encode() in on_topics]
