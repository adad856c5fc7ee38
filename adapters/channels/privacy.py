"""Desensitising records (脱敏) before they leave an adapter (docs/channels.md).

Phone numbers keep their last four digits (``*******5678``), names keep the surname (张某,
欧阳某), ID numbers keep only their last four. Identifiers (身份证号 in any spelling, plates,
警号, bank cards, passports, phones) are found by :mod:`engine.identifiers`, the one
detector every channel and the dead-letter store use; its docstring says what the helan
library misses and why our own patterns are needed. helan still runs after it as a second
net (names after cue words, checksum-valid IDs, plates, mobiles from known segments), and our
own name pass catches names after 我叫/本人 and the caller's own name and number wherever they
appear. Masking too much is the cheap error here; a leaked number is not.
"""

from __future__ import annotations

import json
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import helan
from helan.data import SURNAMES

from engine import identifiers
from engine.identifiers import ALL_KINDS, CITIZEN_KINDS, Kind

COMPOUND_SURNAMES = frozenset(
    ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "司空", "夏侯", "轩辕", "令狐", "钟离", "端木", "南宫", "西门", "百里", "呼延", "独孤", "万俟", "闻人", "澹台", "公冶", "太史", "申屠", "赫连", "拓跋", "第五", "左丘", "东郭", "南门", "羊舌", "微生", "梁丘", "乐正", "濮阳", "淳于", "单于", "仲孙", "叔孙", "轩辕", "亓官", "司寇", "巫马", "公西", "漆雕", "壤驷", "谷梁", "宰父", "段干", "呼延", "归海", "东门", "羊角", "公良", "鲜于"]
)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DIGIT = r"[0-9０-９]"


def surname_of(name: str) -> str:
    name = name.strip()
    if not name:
        return ""
    if name[:2] in COMPOUND_SURNAMES and len(name) > 2:
        return name[:2]
    return name[0]


def mask_name(name: str) -> str:
    """张三丰 → 张某, 欧阳娜娜 → 欧阳某, Zhang Wei → Z某. Empty stays empty."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        return ""
    return surname_of(name) + "某"


def _digits(text: str) -> str:
    return "".join(str(unicodedata.digit(c)) for c in text if c.isdigit())


def mask_phone(phone: str) -> str:
    """Keep the last four digits: ``13952001234`` → ``*******1234`` (``+86`` dropped); anything
    shorter than five digits is starred completely."""
    digits = _digits(phone)
    if len(digits) <= 4:
        return "*" * len(digits) if digits else ("*" * len(phone.strip()) if phone.strip() else "")
    return _mask_keep_last4(phone)


def _mask_keep_last4(value: str) -> str:
    digits = _digits(value)
    if len(digits) == 13 and digits.startswith("86") and digits[2] == "1":
        digits = digits[2:]  # +86 mobile: the country code is not part of the number
    elif len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def _mask_id(value: str) -> str:
    # The last four (three digits + check digit) identify nobody; the region and birth date do.
    return "*" * (len(value) - 4) + value[-4:]


# Our own patterns (digit-guarded on both sides, full-width digits included).
_SEP = r"[\s\-－—.·]*"
_MOBILE = re.compile(
    rf"(?<![0-9０-９])(?:(?:\+|＋|00){_SEP}86{_SEP}|86{_SEP}(?=1[3-9]))?"
    rf"[1１][3-9３-９]{_SEP}(?:{_DIGIT}{_SEP}){{8}}{_DIGIT}(?![0-9０-９])"
)
# 百家姓 (single-character part) plus helan's list: a name after a cue word must start with one.
_BAIJIAXING = (
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛"
    "奚范彭郎鲁韦昌马苗凤花方俞任袁柳酆鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康"
    "伍余元卜顾孟平黄和穆萧尹姚邵湛汪祁毛禹狄米贝明臧计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵"
    "席季麻强贾路娄危江童颜郭梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万支柯昝管卢莫经房裘缪干解应宗"
    "丁宣贲邓郁单杭洪包诸左石崔吉钮龚程嵇邢滑裴陆荣翁荀羊於惠甄曲家封芮羿储靳汲邴糜松井段富巫"
    "乌焦巴弓牧隗山谷车侯宓蓬全郗班仰秋仲伊宫宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄"
    "印宿白怀蒲邰从鄂索咸籍赖卓蔺屠蒙池乔阴郁胥能苍双闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍却璩桑桂"
    "濮牛寿通边扈燕冀郏浦尚农温别庄晏柴瞿阎充慕连茹习宦艾鱼容向古易慎戈廖庾终暨居衡步都耿满弘"
    "匡国文寇广禄阙东欧殳沃利蔚越夔隆师巩厍聂晁勾敖融冷訾辛阚那简饶空曾毋沙乜养鞠须丰巢关蒯相"
    "查后荆红游竺权逯盖益桓公闫覃"
)
_SURNAME_CHARS = "".join(sorted(set(_BAIJIAXING) | set(SURNAMES)))
_COMPOUND_ALT = "|".join(sorted(COMPOUND_SURNAMES))
_NAME_CUES = re.compile(
    r"(?:我叫|名叫|姓名|本人叫|报警人|当事人|求助人|来电人|联系人)\s*[:：]?\s*"
    rf"((?:{_COMPOUND_ALT})[\u4e00-\u9fff]{{1,2}}|[{_SURNAME_CHARS}][\u4e00-\u9fff]{{1,2}}?)"
    r"(?=[，,。；;、\s称说在于是的与和跟因到去住家电手身（(]|$)"
)

_HELAN_TYPES = ("ID_CARD", "PHONE", "LANDLINE", "BANK_CARD", "PERSON_NAME")


@lru_cache(maxsize=1)
def _helan_recognizers() -> list[Any]:
    with warnings.catch_warnings():
        # helan warns that jieba is installed but not used: that is what we want (precision).
        warnings.simplefilter("ignore")
        return list(helan.build_recognizers(list(_HELAN_TYPES)))


def _helan_ops() -> dict[str, Any]:
    def keep_last4(entity: Any, **_: Any) -> str:
        return _mask_keep_last4(entity.text)

    def person(entity: Any, **_: Any) -> str:
        return mask_name(entity.text)

    def ident(entity: Any, **_: Any) -> str:
        return _mask_id(entity.text)

    return {
        "PHONE": keep_last4,
        "LANDLINE": keep_last4,
        "ID_CARD": ident,
        "BANK_CARD": keep_last4,
        "PERSON_NAME": person,
    }


_DIGIT_RUN = re.compile(r"[+＋]?[0-9０-９](?:[\s\-－—.·()（）]*[0-9０-９])*")


def _mask_runs_containing(text: str, numbers: set[str]) -> str:
    """The caller's own number wherever it appears, separators or not (one pass over every
    run of digits rather than one regex per number: this runs for every police record)."""

    def replace(m: re.Match[str]) -> str:
        digits = _digits(m.group(0))
        if any(n in digits for n in numbers):
            return _mask_keep_last4(m.group(0))
        return m.group(0)

    return _DIGIT_RUN.sub(replace, text)


def mask_text(
    text: str, names: Iterable[str] = (), phones: Iterable[str] = ()
) -> str:
    """Mask personal data inside free text; ``names``/``phones`` are the caller's own values,
    replaced wherever they appear."""
    if not text:
        return text
    out = text
    for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
        masked = mask_name(name)
        if masked != name:
            out = out.replace(name, masked)
    numbers = {d for d in (_digits(p) for p in phones) if len(d) >= 5}
    if numbers:
        out = _mask_runs_containing(out, numbers)
    out = identifiers.redact(out, ALL_KINDS)
    out, _ = helan.mask(out, ops=_helan_ops(), recognizers=_helan_recognizers())
    out = _MOBILE.sub(lambda m: _mask_keep_last4(m.group(0)), out)
    out = _NAME_CUES.sub(_cue_name, out)
    return out


def redact_citizen(value: str) -> str:
    """The resident's own channels (hotline, app, walk-in): ID, bank card and passport
    numbers are never kept; what else the resident wrote stays (see ``CITIZEN_KINDS``)."""
    return identifiers.redact(value, CITIZEN_KINDS) if value else value


def redact_value(value: Any, kinds: frozenset[Kind] = CITIZEN_KINDS) -> Any:
    """The same over a JSON-like value (``extra``): every string, keys included."""
    return identifiers.redact_json(value, kinds)


def _cue_name(m: re.Match[str]) -> str:
    name = m.group(1)
    if name.endswith("某") or "某" in name[1:]:
        return m.group(0)
    start, end = m.span(1)
    whole = m.group(0)
    offset = m.start()
    return whole[: start - offset] + mask_name(name) + whole[end - offset :]


# ---- dead letters ------------------------------------------------------------------------

_JSON_STRING_FIELD = re.compile(
    r'("(?:caller_name|name|resident_name|报警人|来电人|姓名)"\s*:\s*")((?:[^"\\]|\\.)*)'
)


def redact_raw(
    raw: bytes, extra_names: Iterable[str] = (), replace: Mapping[str, str] | None = None
) -> bytes:
    """A record that cannot be read still must not reach the dead-letter store in the clear:
    decode it as best we can, mask names found under their JSON keys, every identifier the
    detector knows and every other long run of digits, and keep that (flagged ``redacted``)
    instead of the bytes. ``replace`` swaps known values first (a police incident number for
    its keyed hash, so the centre can still tell which record it was). Bytes that decode as
    neither UTF-8 nor GB18030 are kept byte for byte apart from what is masked."""
    text: str | None = None
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError as e:
            if encoding == "utf-8" and e.reason == "unexpected end of data":
                # UTF-8 cut inside its last character (a record kept to its first 256 KiB):
                # not GB18030, which would re-encode larger; the cut bytes are kept as they are.
                text = raw.decode("utf-8", errors="surrogateescape")
                break
            continue
    if text is None:
        text = raw.decode("utf-8", errors="surrogateescape")
    for value, substitute in sorted((replace or {}).items(), key=lambda kv: -len(kv[0])):
        if value:
            text = text.replace(value, substitute)
    names = list(extra_names)
    for m in _JSON_STRING_FIELD.finditer(text):
        try:
            names.append(json.loads(f'"{m.group(2)}"'))
        except ValueError:
            names.append(m.group(2))
    text = _JSON_STRING_FIELD.sub(
        lambda m: m.group(1) + mask_name(_unescape(m.group(2))), text
    )
    # JSON escapes (\u0034\u0035…) would hide digits from the detector: read them first.
    text = _JSON_ESCAPE.sub(_unescape_match, text)
    masked = mask_text(text, names=names)
    masked = re.sub(r"(?<!\d)\d{7,}(?!\d)", _star_long_digits, masked)
    return masked.encode("utf-8", errors="surrogateescape")


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape_match(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    # keep quotes, backslashes and control characters escaped: the JSON stays JSON
    if ch in '"\\' or ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF:
        return m.group(0)
    return ch


def _star_long_digits(m: re.Match[str]) -> str:
    run = m.group(0)
    # Runs of 16+ digits are record numbers (incident_no JQ3203…); ID-shaped ones were masked
    # above. Anything from 7 to 15 digits may be a phone number written some odd way.
    return run if len(run) >= 16 else _mask_keep_last4(run)


def _unescape(value: str) -> str:
    try:
        result = json.loads(f'"{value}"')
    except ValueError:
        return value
    return result if isinstance(result, str) else value

