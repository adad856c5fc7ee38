"""The search view (查找): a case by its caller's number, its order number (工单编号), its
caller's name or a word of its text, and a number's history of cases (来电弹屏).

The views hold no phone number and no name, and with SANSHI_CIPHER_KEY no word of a complaint
in clear. So what is indexed is:

- the caller's number, normalised (NFKC: full-width digits; +86 / 0086 and spaces, dashes and
  brackets dropped) and hashed with HMAC-SHA256 under the district secret
  (``Settings.district_key``, the key of the police incident numbers); a search hashes the
  number typed the same way, so ``＋86 138-0000-0000`` finds ``13800000000``;
- the caller's name, NFKC, spaces dropped, the same way keyed;
- the complaint and its address cut into words by jieba (``lcut_for_search``), and every pair
  of adjacent Chinese characters (``words``: jieba's cut alone can split a word a resident
  searches for); with the cipher key each word is replaced by its keyed hash, so the index
  answers "which cases hold this word" without holding the word;
- the order number itself (it names no one) and the 诉求类型.

Full text: on SQLite an FTS5 table (contentless: the index only, its rowid the log position of
the case's ``Received``); on PostgreSQL a GIN index over ``array_to_tsvector`` of the words,
which takes each word as a lexeme as it is (no text-search parser, which might cut Chinese or
hex differently from jieba). Two kinds of word are added there that no text holds (a word is
letters and digits only): "~<n>", the case's bucket of log positions (in the index expression),
and "@<unit>" for every unit the case was sent to (written by the fold from ``Dispatched``).
A word common to 100,000 cases is then read newest first a bucket window at a time, and a
unit's search is one more word, both inside the index (bench/RESULTS.md, "Search").

Like every view it follows the log (the projector calls ``SearchFold``), owns its tables and is
rebuilt from the log (``sanshi projections rebuild``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    String,
    Table,
    Text,
    and_,
    bindparam,
    event,
    func,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.types import Uuid

from engine.settings import district_key
from projections.tables import metadata, view_cases

SEARCH_EVENTS = frozenset({"Received", "Numbered", "FollowedUp", "Dispatched"})
# PostgreSQL: every unit a case was sent to is one more word of it, "@<unit code>" (a word is
# letters and digits only): a unit's search of a word common to the whole district is one
# lookup in the GIN index, not every match of the word joined to view_cases and thrown away.
UNIT_MARK = "@"
KEY_HEX = 32  # 128 bits of the HMAC: names and numbers
TERM_HEX = 16  # 64 bits: a word (collisions only widen a search a little)
MAX_TERMS = 10_000  # words of one case indexed (a 4,000-character complaint has fewer)
TEXT_COUNT_CAP = 1_000  # a search counts its matches up to this ("1000+": an operator pages no further)

view_search = Table(
    "view_search",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    # The log position of the case's Received: newest first, and the FTS5 rowid on SQLite.
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("order_no", String(32)),
    Column("phone_key", String(KEY_HEX)),
    Column("name_key", String(KEY_HEX)),
    Column("appeal_type", String(8), nullable=False, default=""),
    Column("appeal_chosen", Boolean, nullable=False, default=False),  # the operator's, not read
    Column("last_rating", String(32)),  # the latest 回访 rating
    # The words, space-joined (PostgreSQL's GIN index reads them); "" on SQLite, whose FTS5
    # table holds the index.
    Column("terms", Text, nullable=False, default=""),
)
Index("ix_view_search_order_no", view_search.c.order_no)
Index("ix_view_search_phone", view_search.c.phone_key, view_search.c.seq)
Index("ix_view_search_name", view_search.c.name_key, view_search.c.seq)

# PostgreSQL: one GIN index over the words and the case's *bucket* (its log position >> 11:
# 2,048 positions, a few hundred cases), written as one more lexeme "~<n>"
# (a word is letters and digits only, so it cannot look like one). A query for a word common
# to 100,000 cases then reads the newest matches a window of buckets at a time
# (``word & ('~122' | '~121')``) inside the index, instead of fetching every match from the
# heap to sort them by time. The expression is spelt once (TSV) for the index and the queries:
# the planner uses the index only for the identical expression.
BUCKET_SHIFT = 11
TSV = (
    "array_to_tsvector(array_append(string_to_array(view_search.terms, ' '), "
    f"'~' || (view_search.seq >> {BUCKET_SHIFT})::text))"
)
_TSV_INDEX = f"CREATE INDEX IF NOT EXISTS ix_view_search_words ON view_search USING gin ({TSV})"
event.listen(
    view_search,
    "after_create",
    DDL(_TSV_INDEX).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
)
# A view made before the buckets: its index (words only) replaced when the tables are checked
# (``create_tables``); on a large view this builds the new index once, at start-up.
# A view made before the buckets and the "@unit" words: the words of the units each case was
# sent to written from view_cases, and the index replaced, once, when the tables are checked
# (``create_tables``; on a large view this takes a while at that start-up).
_UPGRADE = f"""
DO $upgrade$ BEGIN
IF to_regclass('ix_view_search_words') IS NULL THEN
  UPDATE view_search s SET terms = concat_ws(' ', NULLIF(s.terms, ''), (
      SELECT string_agg('{UNIT_MARK}' || u, ' ' ORDER BY n)
      FROM unnest(string_to_array(trim(both '|' from c.units), '|')) WITH ORDINALITY AS x(u, n)))
    FROM view_cases c WHERE c.case_id = s.case_id AND c.units <> '';
  {_TSV_INDEX};
  DROP INDEX IF EXISTS ix_view_search_terms;
END IF;
END $upgrade$
"""
event.listen(
    metadata,
    "after_create",
    DDL(_UPGRADE).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
)

FTS_TABLE = "view_search_fts"
event.listen(
    view_search,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(terms, content='', "
        "tokenize='unicode61 remove_diacritics 0')"
    ).execute_if(dialect="sqlite"),
)
event.listen(
    view_search,
    "before_drop",
    DDL(f"DROP TABLE IF EXISTS {FTS_TABLE}").execute_if(  # type: ignore[no-untyped-call]
        dialect="sqlite"
    ),
)

SEARCH_TABLES = (view_search,)

# ---- keys -----------------------------------------------------------------------------------

_NOT_DIGITS = re.compile(r"[^0-9]")
_NUMERALS = str.maketrans("〇零一二三四五六七八九幺", "001234567891")


def phone_digits(number: str) -> str:
    """The number as digits: NFKC (full-width ``１３８`` → 138, as the channels' identifier
    normaliser reads numbers), Chinese numerals as digits, every separator dropped, and the
    country code (+86, 0086, 86 before a mobile number) taken off."""
    d = _NOT_DIGITS.sub("", unicodedata.normalize("NFKC", number).translate(_NUMERALS))
    if d.startswith("0086"):
        d = d[4:]
    elif d.startswith("86") and len(d) == 13 and d[2] == "1":
        d = d[2:]
    return d


def name_form(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def _word_ok(w: str) -> bool:
    return bool(w) and all(ch.isalnum() for ch in w)


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


@functools.cache
def _jieba() -> Any:
    """jieba, its dictionary cache in sanshi's cache folder (its own default is /tmp)."""
    import jieba

    from engine.settings import cache_dir

    jieba.setLogLevel(logging.WARNING)  # not "Building prefix dict ..." in every command's output
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        jieba.dt.tmp_dir = str(folder)
    except OSError:  # an unwritable cache: jieba builds its dictionary each start instead
        pass
    return jieba


def words(text_: str, for_index: bool = True) -> list[str]:
    """The words a text is indexed (``for_index``) or looked up by, each once: NFKC, lower
    case, letters and digits only.

    Indexed: jieba's words (``lcut_for_search``) and every pair of adjacent Chinese
    characters. jieba alone cuts 门口的路灯不亮了 into 路 / 灯不亮, so a search for 路灯 would
    miss it; the pairs make a Chinese word of the query match wherever its characters stand
    together. Looked up: the query's jieba words, a Chinese one as its pairs (all of them)."""
    jieba = _jieba()

    normal = unicodedata.normalize("NFKC", text_).casefold()
    seen: dict[str, None] = {}
    if for_index:
        for w in jieba.lcut_for_search(normal):
            w = w.strip()
            if _word_ok(w):
                seen[w] = None
        for run in _CJK_RUN.findall(normal):
            seen.update(dict.fromkeys(_bigrams(run)))
        return list(seen)
    for w in jieba.lcut(normal):
        w = w.strip()
        if not _word_ok(w):
            continue
        if _CJK_RUN.fullmatch(w):
            seen.update(dict.fromkeys(_bigrams(w)))
        else:
            seen[w] = None
    return list(seen)


@dataclass(frozen=True)
class SearchKeys:
    """How numbers, names and words are written into the index and looked up. ``hashed``:
    words as keyed hashes (with the cipher key); numbers and names are always keyed."""

    key: bytes
    hashed: bool = False

    @classmethod
    def default(cls, hashed: bool = False) -> SearchKeys:
        return cls(district_key(None, None), hashed)

    def _mac(self, purpose: bytes, value: str, size: int) -> str:
        mac = hmac.new(self.key, purpose + b"\0" + value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return mac.hexdigest()[:size]

    def phone(self, number: str) -> str | None:
        d = phone_digits(number)
        return self._mac(b"phone", d, KEY_HEX) if len(d) >= 5 else None

    def name(self, name: str) -> str | None:
        n = name_form(name)
        return self._mac(b"name", n, KEY_HEX) if n else None

    def term(self, word: str) -> str:
        return self._mac(b"term", word, TERM_HEX) if self.hashed else word

    def terms(self, text_: str, for_index: bool = True) -> list[str]:
        return [self.term(w) for w in words(text_, for_index)][:MAX_TERMS]


# ---- following the log ----------------------------------------------------------------------


@dataclass
class SearchWrites:
    new: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    numbered: list[dict[str, Any]] = field(default_factory=list)
    rated: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # PostgreSQL: "@<unit>" words

    def __bool__(self) -> bool:
        return bool(self.new or self.numbered or self.rated or self.sent)


class SearchFold:
    """What the search view takes from a batch of events, and its writes (one transaction
    with the other views and the position)."""

    def __init__(self, dialect: str, keys: SearchKeys) -> None:
        self.sqlite = dialect == "sqlite"
        self.keys = keys

    def note(
        self, writes: SearchWrites, position: int, case_id: UUID, name: str, e: Mapping[str, Any]
    ) -> None:
        if name == "Received":
            keys = self.keys
            body = f"{e.get('content') or ''} {e.get('address') or ''}"
            writes.new[case_id] = {
                "case_id": case_id,
                "seq": position,
                "order_no": None,
                "phone_key": keys.phone(str(e.get("caller_phone") or "")),
                "name_key": keys.name(str(e.get("caller_name") or "")),
                "appeal_type": str(e.get("appeal_type") or ""),
                "appeal_chosen": bool(e.get("appeal_type")),
                "last_rating": None,
                "terms": " ".join(keys.terms(body)),
            }
            return
        row = writes.new.get(case_id)
        if name == "Numbered":
            values = {"order_no": str(e["order_no"])}
            predicted = str(e.get("appeal_type_predicted") or "")
            if row is not None:
                row.update(values)
                if not row["appeal_chosen"] and predicted:
                    row["appeal_type"] = predicted
            else:
                writes.numbered.append({"k": case_id, "o": values["order_no"], "p": predicted})
        elif name == "Dispatched":
            if self.sqlite:
                return  # FTS5 would cut "@unit"; the unit scope joins view_cases there
            mark = f"{UNIT_MARK}{e['unit']}"
            if row is not None:
                if mark not in row["terms"].split(" "):
                    row["terms"] = f"{row['terms']} {mark}" if row["terms"] else mark
            else:
                writes.sent.append({"k": case_id, "u": mark})
        elif name == "FollowedUp" and e.get("rating") is not None:
            rating = str(getattr(e["rating"], "value", e["rating"]))
            if row is not None:
                row["last_rating"] = rating
            else:
                writes.rated.append({"k": case_id, "r": rating})

    def write(self, conn: Connection, writes: SearchWrites) -> None:
        t = view_search
        if writes.new:
            rows = list(writes.new.values())
            if self.sqlite:
                conn.execute(
                    text(f"INSERT INTO {FTS_TABLE} (rowid, terms) VALUES (:seq, :terms)"),
                    [{"seq": r["seq"], "terms": r["terms"]} for r in rows],
                )
                rows = [{**r, "terms": ""} for r in rows]
            conn.execute(t.insert(), rows)
        if writes.numbered:
            conn.execute(
                update(t)
                .where(t.c.case_id == bindparam("k"))
                .values(order_no=bindparam("o")),
                writes.numbered,
            )
            predicted = [w for w in writes.numbered if w["p"]]
            if predicted:
                conn.execute(
                    update(t)
                    .where(and_(t.c.case_id == bindparam("k"), t.c.appeal_chosen.is_(False)))
                    .values(appeal_type=bindparam("p")),
                    predicted,
                )
        if writes.rated:
            conn.execute(
                update(t).where(t.c.case_id == bindparam("k")).values(last_rating=bindparam("r")),
                writes.rated,
            )
        if writes.sent:
            conn.execute(
                text(
                    "UPDATE view_search SET terms = CASE "
                    "WHEN position(' ' || :u || ' ' in ' ' || terms || ' ') > 0 THEN terms "
                    "WHEN terms = '' THEN :u ELSE terms || ' ' || :u END WHERE case_id = :k"
                ),
                writes.sent,
            )


# ---- reading --------------------------------------------------------------------------------

SEARCH_KINDS = ("auto", "phone", "order_no", "name", "text")
_ORDER_SHAPE = re.compile(r"^[A-Za-z]{1,8}\d{14,}$")


def order_no_shaped(value: str) -> bool:
    return bool(_ORDER_SHAPE.match(value.strip()))


@dataclass(frozen=True)
class SearchPage:
    kind: str  # the kind the query was read as
    total: int
    capped: bool  # total is a lower bound (a text search counts up to TEXT_COUNT_CAP)
    ids: list[UUID]
    facts: dict[UUID, dict[str, Any]]  # order_no, appeal_type, last_rating per id


_COUNT = text(f"SELECT count(*) FROM view_search WHERE {TSV} @@ CAST(:m AS tsquery)")
_FACT_COLUMNS = (
    view_search.c.case_id,
    view_search.c.seq,
    view_search.c.order_no,
    view_search.c.appeal_type,
    view_search.c.last_rating,
)


def _page(kind: str, total: int, capped: bool, rows: Sequence[Any]) -> SearchPage:
    return SearchPage(
        kind,
        total,
        capped,
        [r.case_id for r in rows],
        {
            r.case_id: {
                "order_no": r.order_no,
                "appeal_type": r.appeal_type,
                "last_rating": r.last_rating,
            }
            for r in rows
        },
    )


class SearchIndex:
    """Queries of the search view. ``unit``: only cases ever dispatched to that unit (the
    same rule as the case list, ``view_cases.units``).

    Every kind counts its matches up to ``cap`` (``TEXT_COUNT_CAP``: "1000+"), and a page
    costs about the same whatever the number of matches (bench/RESULTS.md, "Search"): exact
    keys walk their (key, seq) index newest first; on PostgreSQL a word is looked up in the
    GIN index once (up to cap + 1 matches: a rare word is then known whole and sorted), and a
    word with more matches than that is read newest first a window of buckets at a time."""

    def __init__(self, engine: Engine, keys: SearchKeys, cap: int = TEXT_COUNT_CAP) -> None:
        self.engine = engine
        self.keys = keys
        self.cap = cap
        self.sqlite = engine.dialect.name == "sqlite"

    @staticmethod
    def read_kind(q: str) -> str:
        s = q.strip()
        if order_no_shaped(s):
            return "order_no"
        if len(phone_digits(s)) >= 5 and not re.search(r"[^\d\s+\-()（）＋－０-９]", s):
            return "phone"
        return "text"

    def _scope(self, unit: str | None) -> list[Any]:
        if unit is None:
            return []
        return [view_cases.c.units.like(f"%|{unit}|%")]

    def search(
        self, q: str, kind: str = "auto", unit: str | None = None, limit: int = 20, offset: int = 0
    ) -> SearchPage:
        if kind == "auto":
            kind = self.read_kind(q)
        s, c = view_search, view_cases
        if kind == "order_no":
            cond: Any = s.c.order_no == q.strip().upper()
        elif kind == "phone":
            key = self.keys.phone(q)
            if key is None:
                return SearchPage(kind, 0, False, [], {})
            cond = s.c.phone_key == key
        elif kind == "name":
            key = self.keys.name(q)
            if key is None:
                return SearchPage(kind, 0, False, [], {})
            cond = s.c.name_key == key
        else:
            return self._text(q, unit, limit, offset)
        scope = self._scope(unit)
        # Joined to view_cases only for a unit's scope: unscoped, the count reads the
        # (key, seq) index alone.
        source: Any = s.join(c, c.c.case_id == s.c.case_id) if scope else s
        where = and_(cond, *scope)
        with self.engine.connect() as conn:
            counted = select(func.count()).select_from(
                select(s.c.seq).select_from(source).where(where).limit(self.cap + 1).subquery()
            )
            total = int(conn.execute(counted).scalar() or 0)
            page = conn.execute(
                select(*_FACT_COLUMNS)
                .select_from(source)
                .where(where)
                .order_by(s.c.seq.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return _page(kind, min(total, self.cap), total > self.cap, page)

    def _text(self, q: str, unit: str | None, limit: int, offset: int) -> SearchPage:
        terms = self.keys.terms(q, for_index=False)[:32]
        if not terms:
            return SearchPage("text", 0, False, [], {})
        if not self.sqlite:
            return self._text_pg(" & ".join(f"'{t}'" for t in terms), unit, limit, offset)
        s, c = view_search, view_cases
        scope = self._scope(unit)
        hits = (
            select(literal_column("rowid").label("seq"))
            .select_from(text(FTS_TABLE))
            .where(text(f"{FTS_TABLE} MATCH :m"))
            .subquery("hits")
        )
        joined: Any = s.join(hits, hits.c.seq == s.c.seq)
        params: dict[str, Any] = {"m": " ".join(f'"{t}"' for t in terms)}
        if scope:
            joined = joined.join(c, c.c.case_id == s.c.case_id)
        stmt = select(*_FACT_COLUMNS).select_from(joined).where(and_(true(), *scope))
        with self.engine.connect() as conn:
            counted = select(func.count()).select_from(stmt.limit(self.cap + 1).subquery())
            total = int(conn.execute(counted, params).scalar() or 0)
            page = conn.execute(
                stmt.order_by(s.c.seq.desc()).limit(limit).offset(offset), params
            ).all()
        return _page("text", min(total, self.cap), total > self.cap, page)

    # The newest buckets read window by window (1, 2, 4, ... 64: 127 buckets, ~25,000 cases at
    # 5 log positions a case) before the whole index is asked for a count.
    FIRST_BUCKETS = 127

    def _text_pg(self, query: str, unit: str | None, limit: int, offset: int) -> SearchPage:
        if unit is not None:
            query = f"{query} & '{UNIT_MARK}{unit}'"  # the unit's cases: in the index too
        want = offset + limit
        cap = self.cap
        with self.engine.connect() as conn:
            # The GIN index or nothing: with a LIMIT and a word it thinks common, the planner
            # would rather scan the table and test every row, which for words common apart but
            # rare together (噪音 电梯) reads all of it.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            top = int(conn.execute(select(func.max(view_search.c.seq))).scalar() or 0)
            hi, width, read, counted = top >> BUCKET_SHIFT, 1, 0, 0
            found: list[Any] = []

            def walk(count_to: int, buckets: int | None) -> None:
                """Newest first, a window of buckets at a time, twice as wide each time: rows
                until the page is full, then only counts (no rows to build)."""
                nonlocal hi, width, read, counted
                while hi >= 0 and (len(found) < want or counted < count_to) and (
                    buckets is None or read < buckets
                ):
                    lo = max(0, hi - width + 1)
                    window = f"({query}) & (" + " | ".join(f"'~{b}'" for b in range(lo, hi + 1)) + ")"
                    if len(found) < want:
                        rows = self._matching(conn, window)
                        found.extend(rows)
                        counted += len(rows)
                    else:
                        counted += int(conn.execute(_COUNT, {"m": window}).scalar() or 0)
                    read += hi - lo + 1
                    hi, width = lo - 1, width * 2

            # A common word (小区: half the cases) passes the cap within the newest buckets:
            # counting it in the whole index would read a bitmap of 500,000 cases.
            walk(cap + 1, self.FIRST_BUCKETS)
            if counted > cap:
                total = cap + 1
                walk(0, None)
            elif hi < 0:
                total = counted
            else:
                # Rarer: counted in the whole index, and if within the cap, read whole and
                # sorted.
                total = int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM (SELECT FROM view_search "
                            f"WHERE {TSV} @@ CAST(:m AS tsquery) LIMIT :n) AS m"
                        ),
                        {"m": query, "n": cap + 1},
                    ).scalar()
                    or 0
                )
                if total <= cap:
                    found = self._matching(conn, query)
                else:
                    walk(0, None)
            page = [r.case_id for r in found[offset:want]]
            facts = (
                conn.execute(select(*_FACT_COLUMNS).where(view_search.c.case_id.in_(page))).all()
                if page
                else []
            )
        by_id = {r.case_id: r for r in facts}
        return _page("text", min(total, cap), total > cap, [by_id[i] for i in page if i in by_id])

    @staticmethod
    def _matching(conn: Connection, query: str) -> list[Any]:
        """(seq, case_id) of every match, newest first."""
        stmt = select(view_search.c.seq, view_search.c.case_id).where(
            text(f"{TSV} @@ CAST(:m AS tsquery)")
        )
        rows = list(conn.execute(stmt, {"m": query}).all())
        rows.sort(key=lambda r: r.seq, reverse=True)
        return rows

    def case_for_order_no(self, order_no: str) -> UUID | None:
        s = view_search
        with self.engine.connect() as conn:
            found = conn.execute(
                select(s.c.case_id).where(s.c.order_no == order_no.strip().upper()).limit(1)
            ).scalar()
        return found if isinstance(found, UUID) else (UUID(str(found)) if found else None)

    def history(self, number: str, limit: int = 50) -> list[dict[str, Any]]:
        """来电弹屏: the cases of this caller's number, open ones first, newest first."""
        key = self.keys.phone(number)
        if key is None:
            return []
        s, c = view_search, view_cases
        stmt = (
            select(
                s.c.case_id,
                s.c.order_no,
                s.c.appeal_type,
                s.c.last_rating,
                c.c.status,
                c.c.unit,
                c.c.resolved_unit,
                c.c.category,
                c.c.received_at,
                c.c.snippet,
            )
            .select_from(s.join(c, c.c.case_id == s.c.case_id))
            .where(s.c.phone_key == key)
            .order_by(s.c.seq.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]


def appeal_type_name(code: str) -> str:
    return code or "未分类"

