"""Reading the event log for the projector: rows after a position, decoded to plain dicts.

eventsourcing's ``Mapper.to_domain_event`` decodes a stored event with the standard library's
JSON decoder and an ``object_hook`` that runs in Python for every JSON object, then builds a
domain event object. A ``Classified`` event carries the router's whole explanation (a hundred
small objects) that no projection reads, so that was a large share of a rebuild (bench/RESULTS.md,
"Projections: re-measured…", the profile). Here:

- the state is decrypted and decompressed by the mapper's own cipher and compressor (when
  SANSHI_CIPHER_KEY configures them), in the mapper's order;
- the JSON is parsed by orjson (when installed; the standard library otherwise) into plain
  dicts, and the transcoder's ``{"_type_": name, "_data_": value}`` objects are turned into
  values by the transcoder's own registered transcodings, innermost first, as its object hook
  does. Only the top level is walked unless the bytes hold more such objects than the top level
  has: every one is written with the literal key ``"_type_"``, which a JSON string cannot
  contain unescaped, so counting that key in the bytes is exact;
- class-version upcasting runs as in the mapper.

So the projector gets, for each event, the same attribute values the mapper would give it
(``tests/integration/test_projections_log_reader.py`` compares them on every kind of event), without the
object. With a transcoder other than eventsourcing's JSONTranscoder the mapper decodes.

On PostgreSQL the rows are read with one plain query on eventsourcing's events table (binary
results, tuples), the same query its ``select_notifications`` runs, without building a
``Notification`` object and a dict for every row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from typing import Any, Final, NamedTuple, cast
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    Notification,
    TranscodingNotRegisteredError,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from projections.memo import Memo

try:  # pragma: no branch
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
    _ORJSON = True
except ImportError:  # pragma: no cover - orjson is a dependency; the fallback is the same JSON
    _loads = json.loads
    _JSONError = (ValueError,)
    _ORJSON = False

# orjson reads an integer beyond 64 bits as a float (the standard library: as an int). Such a
# literal has 19 digits or more in a row; so may a string, which then costs only the slower
# reading. Mapping every digit to "9" and looking for 19 of them is cheap beside the parse (and
# far cheaper than a regex: bench/RESULTS.md, "Projections: re-measured…").
_DIGITS = bytes.maketrans(b"0123456789", b"9" * 10)
_LONG_NUMBER = b"9" * 19

_TYPE_KEY = b'"_type_"'
# How JSON writes a NUL character (it may also be an escaped backslash followed by "u0000",
# which only costs a walk that finds nothing).
_NUL_ESCAPE = b"\\u0000"


# One event of the log as stored, its state still encoded: (notification id, case id, version,
# topic, state). The PostgreSQL path hands on psycopg's own tuples (a NamedTuple built for each
# row was a measurable part of a rebuild: bench/RESULTS.md, "Numbers moved from comments"), so
# the projector indexes them: ID, CASE_ID, VERSION.
Stored = tuple[int, UUID, int, str, bytes]
ID: Final = 0
CASE_ID: Final = 1
VERSION: Final = 2
TOPIC: Final = 3
STATE: Final = 4


class StoredRow(NamedTuple):
    """One event of the log as stored (the same fields as ``Stored``, by name)."""

    id: int  # notification id: position in the log
    case_id: UUID  # originator id
    version: int  # originator version
    topic: str  # of the event class, e.g. "engine.domain:Case.Received"
    state: bytes


class _EventClass(NamedTuple):
    cls: type
    name: str
    class_version: int


class EventDecoder:
    """Stored event → (event class name, attributes), with the application's mapper's settings."""

    def __init__(
        self,
        mapper: Mapper[Any],
        unread: Mapping[str, str] | None = None,
        nul: str | None = None,
    ) -> None:
        """``unread``: event class name → one attribute the caller never reads (the projector:
        the router's explanation in ``Classified``). Such an attribute may be left out of the
        states ``decode`` returns, and then it is not parsed (see ``_Cut``).

        ``nul``: what a NUL character in any string of a state becomes (the projector: PostgreSQL
        text cannot hold one). JSON always writes NUL as the escape ``\u0000``, so only the
        states whose bytes hold that escape are walked: one ``in`` over the bytes for the rest."""
        self.mapper = mapper
        self.nul = nul
        self.unread = dict(unread or {})
        self._cuts: dict[str, _Cut | None] = {}
        transcoder = mapper.transcoder
        # Our JSON path is exact for eventsourcing's JSONTranscoder and its registered
        # transcodings; a subclass may decode differently, so only the class itself qualifies.
        self.plain_json = type(transcoder) is JSONTranscoder
        self._transcodings = transcoder.names if isinstance(transcoder, JSONTranscoder) else {}
        self._decoders: dict[str, Callable[[str], Any]] = {}
        self._wrapped_keys: dict[str, tuple[str, ...]] = {}
        self._classes: dict[str, _EventClass] = {}
        self._cipher = mapper.cipher
        self._compressor = mapper.compressor

    def _event_class(self, topic: str) -> _EventClass:
        found = self._classes.get(topic)
        if found is None:
            cls = resolve_topic(topic)
            found = _EventClass(cls, cls.__name__, getattr(cls, "class_version", 1))
            self._classes[topic] = found
        return found

    def decode(self, row: Stored) -> tuple[str, dict[str, Any]]:
        """The event's class name ("Received", "Dispatched", …) and its attributes, as the
        mapper would give them."""
        _, case_id, version, topic, stored = row
        ec = self._classes.get(topic) or self._event_class(topic)
        if not self.plain_json:
            note = Notification(
                id=row[ID],
                originator_id=case_id,
                originator_version=version,
                topic=topic,
                state=stored,
            )
            state = vars(self.mapper.to_domain_event(note))
            if self.nul is not None:  # not this reader's JSON: no bytes to look at first
                state = _replace_nul(state, self.nul)
            return ec.name, state
        try:
            if self._cipher is not None:
                stored = self._cipher.decrypt(stored)
            if self._compressor is not None:
                stored = self._compressor.decompress(stored)
            cut = self._cuts.get(topic, _LEARN) if self.unread else None
            if cut is None:
                state = self._json(topic, stored)
            elif cut is _LEARN:
                state = self._json(topic, stored)
                self._cuts[topic] = self._plan_cut(ec, state)
            else:
                state = self._json_cut(topic, stored, cut)
            if self.nul is not None and _NUL_ESCAPE in stored:
                state = _replace_nul(state, self.nul)
        except Exception as e:
            msg = (
                f"Failed to deserialise state of stored event with topic '{topic}', "
                f"originator_id '{case_id}' and originator_version {version}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        if ec.class_version > 1 or "class_version" in state:
            from_version = state.pop("class_version", 1)
            # The mapper upcasts a dict that also holds the id and version: so do we.
            if from_version < ec.class_version:
                state["originator_id"] = case_id
                state["originator_version"] = version
            while from_version < ec.class_version:
                getattr(ec.cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
        return ec.name, state

    def case_id(self, topic: str, originator_id: Any) -> UUID:
        """The originator id as the mapper converts it (a recorder may give a string)."""
        if type(originator_id) is UUID:
            return originator_id
        try:
            cls = self._event_class(topic).cls
        except Exception:
            # A topic this version cannot resolve: reading the log must not stop on it (the
            # projector sets the event aside when it decodes it); its id as stored.
            try:
                return UUID(str(originator_id))
            except ValueError:
                return cast(UUID, originator_id)
        convert = find_id_convertor(cls, cast(Hashable, type(originator_id)))
        return cast(UUID, convert(originator_id))

    def _plan_cut(self, ec: _EventClass, state: dict[str, Any]) -> _Cut | None:
        """How to leave this topic's unread attribute out, from a state parsed whole: the
        markers around its value and the keys the rest must have. None if the event class
        upcasts (an upcaster may read it) or its key cannot be found by its bytes alone."""
        attr = self.unread.get(ec.name)
        keys = list(state)
        if attr is None or ec.class_version != 1 or "class_version" in state:
            return None
        if attr not in keys or keys.index(attr) == 0:
            return None
        i = keys.index(attr)
        following = keys[i + 1] if i + 1 < len(keys) else None
        if not all(_plain_key(k) for k in (attr, following) if k is not None):
            return None
        return _Cut(
            b',"' + attr.encode() + b'":',
            None if following is None else b',"' + following.encode() + b'":',
            frozenset(keys) - {attr},
        )

    def _json_cut(self, topic: str, data: bytes, cut: _Cut) -> dict[str, Any]:
        """The state without the unread attribute, its value never parsed: the bytes from the
        first ``,"attr":`` to the last ``,"next":`` (or to the closing brace) are cut out.
        That is the attribute's value exactly when both markers are the top-level ones; had
        either been a nested key instead, the cut would either leave invalid JSON or lose a
        top-level key besides the attribute (a JSON string holds no unescaped quote, so the
        markers are never inside a string). So the cut is used only if what remains parses
        to exactly the other keys the topic has; anything else is parsed whole."""
        start = data.find(cut.start)
        if start > 0:
            if cut.end is None:
                end = len(data) - 1 if data.endswith(b"}") else -1
            else:
                end = data.rfind(cut.end)
            if end > start:
                try:
                    state = self._json(topic, data[:start] + data[end:])
                except Exception:  # parsed whole below, which says what is wrong
                    pass
                else:
                    if state.keys() == cut.keys:
                        return state
        return self._json(topic, data)

    def _json(self, topic: str, data: bytes) -> dict[str, Any]:
        # orjson differs from the standard library in a few corners (it refuses NaN and
        # Infinity, reads huge integers as floats): those are read as the transcoder does.
        if _ORJSON and _LONG_NUMBER in data.translate(_DIGITS):
            state = json.loads(data.decode("utf8"))
        else:
            try:
                state = _loads(data)
            except _JSONError:
                state = json.loads(data.decode("utf8"))
        wrapped = data.count(_TYPE_KEY)
        if not wrapped:
            pass
        elif type(state) is dict and self._top_level(topic, state, wrapped):
            return state
        else:
            state = _resolve(state, self._transcodings)
        if type(state) is not dict:
            raise ValueError(f"event state is not a JSON object: {type(state).__name__}")
        return state

    def _top_level(self, topic: str, state: dict[str, Any], wrapped: int) -> bool:
        """The usual case: each of the ``wrapped`` encoded values is a top-level attribute
        holding a string (a datetime, a uuid). Decodes them in place if so. Which attributes
        they are is remembered per topic, so most events look at just those."""
        plain: list[tuple[str, Any, str]] = []
        keys = self._wrapped_keys.get(topic, ())
        if len(keys) == wrapped:
            for k in keys:
                v = state.get(k)
                if type(v) is not dict or len(v) != 2:
                    break
                name, data_ = v.get("_type_"), v.get("_data_")
                if name is None or type(data_) is not str:
                    break
                plain.append((k, name, data_))
        if len(plain) != wrapped:
            plain = [
                (k, v["_type_"], v["_data_"]) for k, v in state.items() if _is_plain_wrapper(v)
            ]
            if len(plain) != wrapped:
                return False
            self._wrapped_keys[topic] = tuple(k for k, _, _ in plain)
        decoders = self._decoders
        for k, name, data_ in plain:
            decode = decoders.get(name)
            if decode is None:
                decode = decoders[name] = _fast_decode(_transcoding(self._transcodings, name))
            state[k] = decode(data_)
        return True


class _Cut(NamedTuple):
    start: bytes  # ,"attr":
    end: bytes | None  # ,"next": (None: the attribute is the last one)
    keys: frozenset[str]  # the top-level keys of the state without it


_LEARN = _Cut(b"", None, frozenset())  # not planned yet: parse whole, then plan


def _plain_key(key: str) -> bool:
    """A key JSON writes as itself between quotes (no escapes)."""
    return key.isascii() and key.isidentifier()


def _is_plain_wrapper(v: Any) -> bool:
    return (
        type(v) is dict
        and len(v) == 2
        and v.get("_type_") is not None
        and type(v.get("_data_")) is str
    )


def _fast_decode(transcoding: Any) -> Callable[[str], Any]:
    """The transcoding's decode, or for eventsourcing's own three the constructor they call
    (the same value for a string, without a Python call around it)."""
    kind = type(transcoding)
    if kind is DatetimeAsISO:
        # The same object for the same text: the events of one intake share their time and
        # many cases share a deadline; one datetime object for them lets the projector convert
        # each instant once (a datetime caches its hash).
        return Memo(dt.datetime.fromisoformat, 20_000).__getitem__
    if kind is UUIDAsHex:
        return UUID
    if kind is DecimalAsStr:
        return Decimal
    return cast(Callable[[str], Any], transcoding.decode)


def _transcoding(names: dict[str, Any], name: Any) -> Any:
    try:
        return names[name]
    except KeyError as e:
        msg = (
            f"Data serialized with name '{name}' is not deserializable. "
            "Please register a custom transcoding for this type."
        )
        raise TranscodingNotRegisteredError(msg) from e


def _replace_nul(value: Any, by: str) -> Any:
    """``value`` with NUL replaced in every string it holds (keys too), lists and dicts walked."""
    if type(value) is str:
        return value.replace("\x00", by) if "\x00" in value else value
    if type(value) is list:
        return [_replace_nul(v, by) for v in value]
    if type(value) is dict:
        return {_replace_nul(k, by): _replace_nul(v, by) for k, v in value.items()}
    return value


def _resolve(value: Any, names: dict[str, Any]) -> Any:
    """What JSONTranscoder's object hook makes of a parsed value, innermost objects first."""
    if type(value) is list:
        return [_resolve(v, names) for v in value]
    if type(value) is not dict:
        return value
    d = {k: _resolve(v, names) for k, v in value.items()}
    if len(d) == 2 and "_type_" in d and "_data_" in d:
        return _transcoding(names, d["_type_"]).decode(d["_data_"])
    return d


class LogReader:
    """Stored events after a position, in log order.

    PostgreSQL (eventsourcing.postgres): one ``SELECT`` on the events table through the
    recorder's own connection pool; any other recorder: ``select_notifications``."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        unread: Mapping[str, str] | None = None,
        nul: str | None = None,
    ) -> None:
        self.recorder = recorder
        self.decoder = EventDecoder(mapper, unread, nul)
        self._statement: Any = None
        try:
            from eventsourcing.postgres import PostgresApplicationRecorder
        except ImportError:  # pragma: no cover - psycopg is a dependency
            return
        if isinstance(recorder, PostgresApplicationRecorder):
            from psycopg.sql import SQL, Identifier

            self._statement = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {schema}.{table} WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT %s"
            ).format(
                schema=Identifier(recorder.datastore.schema),
                table=Identifier(recorder.events_table_name),
            )

    def read(self, after: int, limit: int) -> list[Stored]:
        """Up to ``limit`` events after position ``after``."""
        case_id = self.decoder.case_id
        if self._statement is None:
            notes = self.recorder.select_notifications(after, limit, inclusive_of_start=False)
            return [
                StoredRow(
                    n.id,
                    case_id(n.topic, n.originator_id),
                    n.originator_version,
                    n.topic,
                    n.state,
                )
                for n in notes
            ]
        from psycopg.rows import tuple_row

        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        with datastore.get_connection() as conn, conn.cursor(
            binary=True, row_factory=tuple_row
        ) as cur:
            cur.execute(self._statement, (after, limit), prepare=True)
            rows: list[Stored] = cur.fetchall()
        if not rows or type(rows[0][CASE_ID]) is UUID:  # eventsourcing's uuid column: always
            return rows
        return [
            (nid, case_id(topic, oid), version, topic, state)
            for nid, oid, version, topic, state in rows
        ]
