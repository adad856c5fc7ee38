"""Files and request bodies → raw records (a dict of field values, or the reason it is not one).

Every record keeps where it came from (``file:line``) and its raw bytes, so that whatever
cannot be read can be stored as a dead letter exactly as it arrived. Nothing here knows a
channel: header aliases and field rules live in the channel modules.

Encoding (docs/channels.md: UTF-8, UTF-8 with BOM, or GB18030 as Excel exports it in China): one
decision per file from its first megabyte, line by line, because a UTF-8 file with one broken
line would otherwise decode as GB18030 from start to end without a single error (GB18030
accepts most UTF-8 byte pairs) and every record would silently turn into mojibake. Lines that
do not decode in the file's encoding become dead letters.

A file in another encoding is refused as a whole (:class:`FileRefused`, :func:`check_encoding`),
once, instead of turning every line into a dead letter with a misleading reason: UTF-16/UTF-32
(a BOM, or the NUL bytes of ASCII text in 16-bit units; Excel's "Unicode text" export), and
Big5 (Taiwan, Hong Kong), which GB18030 decodes without a single error into nonsense. So does a
CSV file whose header lacks a column its channel requires (``columns``, from the channel).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

MAX_RECORD_BYTES = 256 * 1024  # a complaint is ≤ 4,000 characters; 256 KiB is no complaint
MAX_ARRAY_FILE_BYTES = 512 * 1024 * 1024
SAMPLE_BYTES = 1024 * 1024

Format = Literal["json", "csv"]
Progress = Callable[[int], None]  # bytes read so far


@dataclass
class RawRecord:
    position: str
    raw: bytes  # as received (the first MAX_RECORD_BYTES when larger)
    fields: dict[str, Any] | None = None
    error: str | None = None  # why it is not a record; set ⇔ fields is None
    raw_size: int = -1  # the full size, when raw was cut
    raw_sha256: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.raw_size < 0:
            self.raw_size = len(self.raw)
        if not self.raw_sha256:
            self.raw_sha256 = hashlib.sha256(self.raw).hexdigest()

    @property
    def raw_truncated(self) -> bool:
        return self.raw_size > len(self.raw)


class FileRefused(Exception):
    """The whole file cannot be read as the channel's records: nothing in it is taken or
    dead-lettered; ``reason`` (Chinese) says what was expected and what was found."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


ColumnCheck = Callable[[list[str]], str | None]  # a CSV header → why it is refused, or None

# ---- encoding ----------------------------------------------------------------------------

_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
# What GB18030 turns Big5 into: Big5's most frequent characters (lead bytes 0xA4-0xA5, e.g.
# 不 人 大 小 工) land on GB2312's kana rows, others on its Greek, Cyrillic, pinyin, bopomofo
# and box-drawing rows or in the private use area. A Chinese complaint, simplified or
# traditional, written in GB18030 has none of these. Measured on 1,852 short Big5 texts
# (hotline rows, converted to traditional characters with zhconv): the median share of such
# characters among the non-ASCII ones is 47 %, so a file's header and first rows are far
# above the threshold; on the GB18030 samples and on traditional text written in GB18030: 0.
_BIG5_SIGNS = (
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x04FF),  # Cyrillic
    (0x0100, 0x024F),  # pinyin letters with tone marks
    (0x3100, 0x312F),  # bopomofo
    (0x2500, 0x257F),  # box drawing
    (0xE000, 0xF8FF),  # private use
)
BIG5_SHARE = 0.05
BIG5_MIN_SIGNS = 2


def _wide_encoding(sample: bytes) -> str | None:
    for bom, name in _WIDE_BOMS:
        if sample.startswith(bom):
            return name
    if not sample:
        return None
    # No BOM: ASCII (commas, digits, line breaks) in 16-bit units leaves a NUL in every other
    # byte. A UTF-8 or GB18030 text has no NUL at all.
    head = sample[:4096]
    if len(head) < 16:  # too short to tell: its lines are read, and dead-lettered if unreadable
        return None
    even, odd = head[0::2], head[1::2]
    for half in (even, odd):
        if half and half.count(0) / len(half) > 0.3:
            return "UTF-16"
    return None


def _looks_like_big5(sample: bytes) -> bool:
    """Does a file that decodes as GB18030 read as Big5 decoded as GB18030?

    Only its lines that are neither ASCII nor UTF-8 are read: a UTF-8 file with one stray line
    of other bytes is not refused as a whole (that line is dead-lettered on its own)."""
    foreign = [
        line for line in sample.split(b"\n") if not line.isascii() and not _decodes(line, "utf-8")
    ]
    text = b"\n".join(foreign).decode("gb18030", errors="ignore")
    wide = [ord(ch) for ch in text if not ch.isascii()]
    if not wide:
        return False
    signs = sum(1 for o in wide if any(lo <= o <= hi for lo, hi in _BIG5_SIGNS))
    if signs < BIG5_MIN_SIGNS or signs / len(wide) < BIG5_SHARE:
        return False
    try:  # and it is a valid Big5 text
        sample[: sample.rfind(b"\n") + 1 or len(sample)].decode("cp950")
    except UnicodeDecodeError:
        return False
    return True


def check_encoding(sample: bytes, name: str = "", complete: bool = False) -> None:
    """Refuse a file that is not UTF-8, UTF-8 with BOM or GB18030 (docs/channels.md)."""
    expected = "应为 UTF-8、带 BOM 的 UTF-8 或 GB18030（Excel 另存为“CSV UTF-8”即可）"
    where = f"{name}：" if name else ""
    wide = _wide_encoding(sample)
    if wide is not None:
        raise FileRefused(f"{where}文件编码是 {wide}，不支持；{expected}")
    if sample.startswith(codecs.BOM_UTF8) or detect_encoding(sample, complete) != "gb18030":
        return
    if _looks_like_big5(sample):
        raise FileRefused(f"{where}文件编码看来是 Big5（繁体中文），不支持；{expected}")



def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(sample: bytes, complete: bool = False) -> str:
    """``utf-8`` or ``gb18030`` for a file, by majority over its non-ASCII lines. The sample's
    last line may be cut in the middle of a character, so it counts only when the sample is
    the ``complete`` file."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    utf8 = gb = 0
    lines = sample.split(b"\n")
    for line in lines if complete or len(lines) == 1 else lines[:-1]:
        if line.isascii():
            continue
        if _decodes(line, "utf-8"):
            utf8 += 1
        elif _decodes(line, "gb18030"):
            gb += 1
    return "gb18030" if gb > utf8 else "utf-8"


def decode_line(line: bytes, encoding: str) -> str | None:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError:
        return None


def encoding_reason(encoding: str) -> str:
    if encoding == "utf-8":
        return "编码错误：不是 UTF-8 (bad encoding: not UTF-8 like the rest of the file)"
    return "编码错误：既不是 UTF-8 也不是 GB18030 (bad encoding: neither UTF-8 nor GB18030)"


def decode_body(data: bytes) -> str | None:
    """One request body: UTF-8 (BOM or not), else GB18030, else None."""
    for encoding in ("utf-8-sig", "gb18030"):
        text = decode_line(data, encoding)
        if text is not None:
            return text
    return None


# ---- physical lines ----------------------------------------------------------------------


@dataclass
class _Line:
    number: int  # 1-based
    raw: bytes  # without the line break (cut at MAX_RECORD_BYTES)
    size: int  # full size in bytes
    sha256: str
    text: str | None  # None: did not decode, or too long


def _iter_lines(stream: BinaryIO, encoding: str, progress: Progress | None) -> Iterator[_Line]:
    number = 0
    done = 0
    while True:
        chunk = stream.readline(MAX_RECORD_BYTES + 1)
        if not chunk:
            return
        number += 1
        raw = chunk
        size = len(chunk)
        digest = hashlib.sha256(chunk)
        too_long = False
        if len(chunk) > MAX_RECORD_BYTES and not chunk.endswith(b"\n"):
            # A line longer than any record (10 MB of text): keep the head, hash and count
            # the rest, and move on to the next line.
            too_long = True
            raw = chunk[:MAX_RECORD_BYTES]
            while True:
                more = stream.readline(1024 * 1024)
                if not more:
                    break
                size += len(more)
                digest.update(more)
                if more.endswith(b"\n"):
                    break
        done += size
        if progress is not None:
            progress(done)
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        text = None if too_long else decode_line(raw, encoding)
        yield _Line(number, raw, size, digest.hexdigest(), text)


def _too_long_reason(size: int) -> str:
    return (
        f"记录过大（{size:,} 字节），超过 {MAX_RECORD_BYTES // 1024} KiB "
        f"(record too large: {size:,} bytes)"
    )


def _line_error(name: str, line: _Line, encoding: str) -> RawRecord:
    reason = (
        _too_long_reason(line.size)
        if line.size > MAX_RECORD_BYTES + 2
        else encoding_reason(encoding)
    )
    return RawRecord(
        position=f"{name}:{line.number}",
        raw=line.raw,
        error=reason,
        raw_size=line.size,
        raw_sha256=line.sha256 if line.size > len(line.raw) + 2 else "",
    )


# ---- JSON --------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        return None, f"不是 JSON (not JSON: {e.msg} at column {e.colno})"
    except (ValueError, RecursionError) as e:
        return None, f"不是 JSON (not JSON: {type(e).__name__})"
    if not isinstance(value, dict):
        return None, f"不是 JSON 对象 (not a JSON object: {type(value).__name__})"
    return value, None


def _json_lines(name: str, lines: Iterable[_Line], encoding: str) -> Iterator[RawRecord]:
    for line in lines:
        if line.text is None:
            if not line.raw.strip():
                continue
            yield _line_error(name, line, encoding)
            continue
        if not line.text.strip():
            continue
        fields, error = parse_json_object(line.text)
        yield RawRecord(position=f"{name}:{line.number}", raw=line.raw, fields=fields, error=error)


def _json_array(name: str, data: bytes) -> Iterator[RawRecord]:
    text = decode_body(data)
    if text is None:
        yield RawRecord(f"{name}:1", data[:MAX_RECORD_BYTES], error=encoding_reason("gb18030"),
                        raw_size=len(data), raw_sha256=hashlib.sha256(data).hexdigest())
        return
    try:
        items = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        reason = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        yield RawRecord(f"{name}:1", data[:MAX_RECORD_BYTES],
                        error=f"JSON 数组无法解析 (broken JSON array: {reason})",
                        raw_size=len(data), raw_sha256=hashlib.sha256(data).hexdigest())
        return
    if not isinstance(items, list):
        items = [items]
    for i, item in enumerate(items):
        raw = json.dumps(item, ensure_ascii=False).encode("utf-8")
        position = f"{name}:[{i}]"
        if len(raw) > MAX_RECORD_BYTES:
            yield RawRecord(position, raw[:MAX_RECORD_BYTES], error=_too_long_reason(len(raw)),
                            raw_size=len(raw), raw_sha256=hashlib.sha256(raw).hexdigest())
        elif isinstance(item, dict):
            yield RawRecord(position, raw, fields=item)
        else:
            yield RawRecord(position, raw,
                            error=f"不是 JSON 对象 (not a JSON object: {type(item).__name__})")


# ---- CSV ---------------------------------------------------------------------------------


def _csv_records(
    name: str, lines: Iterator[_Line], encoding: str, columns: ColumnCheck | None = None
) -> Iterator[RawRecord]:
    consumed: list[_Line] = []
    bad: list[RawRecord] = []

    def feed() -> Iterator[str]:
        for line in lines:
            if line.text is None:
                if line.raw.strip():
                    bad.append(_line_error(name, line, encoding))
                continue
            consumed.append(line)
            yield line.text + "\n"

    source = feed()
    header: list[str] | None = None
    reader = csv.reader(source)
    while True:
        row: list[str] | None = None
        malformed: str | None = None
        try:
            row = next(reader)
        except StopIteration:
            row = None
        except csv.Error as e:
            malformed = f"CSV 格式错误 (malformed CSV: {e})"
        yield from bad
        bad.clear()
        if malformed is not None:
            yield _csv_record(name, list(consumed), error=malformed)
            consumed.clear()
            reader = csv.reader(source)  # carry on with the next line
            continue
        if row is None:
            break
        lines_of_row = list(consumed)
        consumed.clear()
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lstrip("\ufeff") for cell in row]
            refused = columns(header) if columns is not None else None
            if refused is not None:
                raise FileRefused(f"{name}：{refused}")
            continue
        extra_cells = row[len(header) :]
        if any(cell.strip() for cell in extra_cells):
            yield _csv_record(
                name, lines_of_row,
                error=f"列数多于表头（{len(row)} > {len(header)}）(more cells than header columns)",
            )
            continue
        fields = {h: v for h, v in zip(header, row, strict=False) if h}
        yield _csv_record(name, lines_of_row, fields=fields)
    yield from bad


def _csv_record(
    name: str, lines: list[_Line], fields: dict[str, Any] | None = None, error: str | None = None
) -> RawRecord:
    raw = b"\n".join(line.raw for line in lines)
    first = lines[0].number if lines else 0
    if len(raw) > MAX_RECORD_BYTES:
        return RawRecord(f"{name}:{first}", raw[:MAX_RECORD_BYTES], error=_too_long_reason(len(raw)),
                         raw_size=len(raw), raw_sha256=hashlib.sha256(raw).hexdigest())
    return RawRecord(f"{name}:{first}", raw, fields=fields, error=error)


# ---- entry points ------------------------------------------------------------------------


def guess_format(name: str, sample: bytes) -> Format:
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    head = sample.lstrip(codecs.BOM_UTF8).lstrip()
    return "json" if head[:1] in (b"{", b"[") else "csv"


def read_stream(
    stream: BinaryIO,
    name: str,
    fmt: Format | None = None,
    progress: Progress | None = None,
    columns: ColumnCheck | None = None,
) -> Iterator[RawRecord]:
    """Raw records from a binary stream (a file, a request body, a test's bytes). Raises
    :class:`FileRefused` (at the first ``next``) for a file in an encoding that is not taken,
    or a CSV header that ``columns`` refuses."""
    if not stream.seekable():
        stream = io.BytesIO(stream.read())
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(0)
    complete = len(sample) < SAMPLE_BYTES
    check_encoding(sample, name, complete)
    fmt = fmt or guess_format(name, sample)
    if fmt == "json" and sample.lstrip(codecs.BOM_UTF8).lstrip()[:1] == b"[":
        data = stream.read(MAX_ARRAY_FILE_BYTES)
        if progress is not None:
            progress(len(data))
        yield from _json_array(name, data)
        return
    encoding = detect_encoding(sample, complete)
    lines = _iter_lines(stream, encoding, progress)
    if fmt == "csv":
        yield from _csv_records(name, lines, encoding, columns)
    else:
        yield from _json_lines(name, lines, encoding)


def read_path(
    path: str | os.PathLike[str],
    fmt: Format | None = None,
    progress: Progress | None = None,
    columns: ColumnCheck | None = None,
) -> Iterator[RawRecord]:
    name = os.fspath(path)
    with open(path, "rb") as stream:
        yield from read_stream(stream, name, fmt, progress, columns)


def read_one(record: Mapping[str, Any] | bytes | str, position: str = "http") -> RawRecord:
    """One record from an HTTP body (already-parsed JSON, or the bytes of it)."""
    if isinstance(record, Mapping):
        try:
            raw = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", "replace")
        except (TypeError, ValueError, RecursionError):
            raw = repr(record).encode("utf-8", "replace")
        if len(raw) > MAX_RECORD_BYTES:
            return RawRecord(position, raw[:MAX_RECORD_BYTES], error=_too_long_reason(len(raw)),
                             raw_size=len(raw), raw_sha256=hashlib.sha256(raw).hexdigest())
        return RawRecord(position, raw, fields=dict(record))
    data = record.encode("utf-8", "surrogatepass") if isinstance(record, str) else bytes(record)
    if len(data) > MAX_RECORD_BYTES:
        return RawRecord(position, data[:MAX_RECORD_BYTES], error=_too_long_reason(len(data)),
                         raw_size=len(data), raw_sha256=hashlib.sha256(data).hexdigest())
    text = decode_body(data)
    if text is None:
        return RawRecord(position, data, error=encoding_reason("gb18030"))
    fields, error = parse_json_object(text)
    return RawRecord(position, data, fields=fields, error=error)
