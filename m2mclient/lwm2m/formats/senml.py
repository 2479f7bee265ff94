"""SenML JSON (110) and SenML CBOR (112), as LwM2M uses them; also SenML-ETCH (320/322).

RFC 8428 defines SenML; LwM2M Core 1.2 §7.4.4 (JSON) and §7.4.5 (CBOR) profile it:

* a record's full name (base name + name) is an LwM2M path, ``/3/0/9`` or
  ``/3/0/6/1`` for values; composite requests also name objects and instances;
* Integer, Unsigned Integer, Float and Time values are ``v`` numbers, Boolean is
  ``vb``, String and Corelnk are ``vs``, Opaque is ``vd`` (base64url text in
  JSON, a byte string in CBOR) and Objlnk is LwM2M's own ``vlo`` (``"3:0"``),
  whose label is the text ``"vlo"`` in CBOR too, since it has no integer label;
* ``bt`` / ``t`` carry timestamps (Send, notifications with historical data).

JSON and CBOR share everything here (field checks, base-field resolution,
typing, the choice of a base name) and differ only in a :class:`_Dialect`: the
label mapping, the serializer and how opaque bytes are written.

Times: RFC 8428 §4.5.3 makes a resolved time below 2**28 relative to "now". The
codecs read no clock (the SDK is sans-IO), so :attr:`Record.time` holds the
resolved number as sent: callers that care must treat small values as relative.
A resolved time of 0 means "now" and decodes as ``time=None``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from m2mclient.errors import FormatError, ValueValidationError
from m2mclient.lwm2m.formats import _cbor, _json
from m2mclient.lwm2m.formats._common import Record, parse_path, typed_for_encoding, typed_from_wire
from m2mclient.lwm2m.model import INT64_MAX, INT64_MIN, UINT64_MAX, DataType, ObjLnk, Path, Value
from m2mclient.lwm2m.registry import Registry

SENML_JSON = 110
SENML_CBOR = 112
SENML_ETCH_JSON = 320
SENML_ETCH_CBOR = 322

#: JSON label -> CBOR label (RFC 8428 §6). That integer table is closed: extensions
#: use text map keys in CBOR, so LwM2M's Objlnk field is the text "vlo" in both.
_CBOR_LABELS: dict[str, int | str] = {
    "bver": -1,
    "bn": -2,
    "bt": -3,
    "bu": -4,
    "bv": -5,
    "bs": -6,
    "n": 0,
    "u": 1,
    "v": 2,
    "vs": 3,
    "vb": 4,
    "s": 5,
    "t": 6,
    "ut": 7,
    "vd": 8,
    "vlo": "vlo",
}

_VALUE_FIELDS = ("v", "vs", "vb", "vd", "vlo")
_NUMBER_FIELDS = frozenset({"bt", "bv", "bs", "t", "v", "s", "ut"})
_TEXT_FIELDS = frozenset({"bn", "bu", "n", "u", "vs", "vlo"})
_TIME_FIELDS = frozenset({"bt", "t"})

#: Which SenML field a value of each LwM2M type travels in (LwM2M Core 1.2 §7.4.4).
_FIELD_OF_TYPE = {
    DataType.INTEGER: "v",
    DataType.UNSIGNED_INTEGER: "v",
    DataType.FLOAT: "v",
    DataType.TIME: "v",
    DataType.BOOLEAN: "vb",
    DataType.STRING: "vs",
    DataType.CORELNK: "vs",
    DataType.OPAQUE: "vd",
    DataType.OBJLNK: "vlo",
}

Number: TypeAlias = int | float

#: The longest text an LwM2M path can be ("/65534/65534/65534/65534/"). Longer names are
#: refused before parsing, which also keeps a 5000-digit segment away from int().
MAX_NAME_LENGTH = 25


# --- the two serializations ---------------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    """What differs between SenML JSON and SenML CBOR."""

    content_format: int
    labels: Mapping[str, object]  # JSON label -> wire label
    parse: Callable[[bytes, int], object]
    serialize: Callable[[object, int], bytes]
    opaque_to_wire: Callable[[bytes], object]
    opaque_from_wire: Callable[[object, int, str], bytes]
    finite_only: bool  # JSON has no NaN / Infinity (RFC 8259 §6)

    @property
    def names(self) -> dict[object, str]:
        return {wire: name for name, wire in self.labels.items()}


def _json_opaque(value: object, content_format: int, where: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(
            f"'vd' must be base64url text, got {type(value).__name__}", content_format=content_format, where=where
        )
    return _json.b64decode(value, content_format, where)


def _cbor_opaque(value: object, content_format: int, where: str) -> bytes:
    if not isinstance(value, bytes):
        raise FormatError(
            f"'vd' must be a byte string, got {type(value).__name__}", content_format=content_format, where=where
        )
    return value


def _cbor_serialize(item: object, content_format: int) -> bytes:
    try:
        return _cbor.dumps(item)
    except ValueError as exc:  # an unpaired surrogate in a string
        raise FormatError(f"cannot be written as CBOR: {exc}", content_format=content_format) from None


_JSON = _Dialect(
    content_format=SENML_JSON,
    labels={name: name for name in _CBOR_LABELS},
    parse=_json.loads,
    serialize=_json.dumps,
    opaque_to_wire=_json.b64encode_url,
    opaque_from_wire=_json_opaque,
    finite_only=True,
)
_CBOR = _Dialect(
    content_format=SENML_CBOR,
    labels=_CBOR_LABELS,
    parse=_cbor.loads,
    serialize=_cbor_serialize,
    opaque_to_wire=bytes,
    opaque_from_wire=_cbor_opaque,
    finite_only=False,
)


def _dialect_for(content_format: int) -> _Dialect:
    if content_format in (SENML_JSON, SENML_ETCH_JSON):
        return dataclasses.replace(_JSON, content_format=content_format)
    if content_format in (SENML_CBOR, SENML_ETCH_CBOR):
        return dataclasses.replace(_CBOR, content_format=content_format)
    raise FormatError(
        f"composite path lists travel as SenML(-ETCH) JSON or CBOR (110, 112, 320, 322), not {content_format}",
        content_format=content_format,
    )


# --- reading a pack -----------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A SenML record after base-field resolution (RFC 8428 §4.6)."""

    where: str
    name: str
    time: Number | None
    value: Value | None


def _error(dialect: _Dialect, message: str, where: str | None = None) -> FormatError:
    return FormatError(message, content_format=dialect.content_format, where=where)


def _field_name(key: object, dialect: _Dialect, names: Mapping[object, str], where: str) -> str | None:
    """The JSON label of a wire key, or ``None`` for an unknown field that may be ignored."""
    # bool is an int in Python and True == 1; a CBOR ``true`` key is never a label.
    if not isinstance(key, bool) and isinstance(key, (int, str)) and key in names:
        return names[key]
    if isinstance(key, str):
        if key in dialect.labels:
            raise _error(dialect, f"label {key!r} must be written {dialect.labels[key]!r} in this format", where)
        if key.endswith("_"):
            # RFC 8428 §4.4: fields whose label ends in "_" must be understood or the pack refused.
            raise _error(dialect, f"unknown must-understand field {key!r}", where)
        return None  # RFC 8428 §4.4: other unknown fields are ignored
    if isinstance(key, int) and not isinstance(key, bool):
        return None
    raise _error(dialect, f"a SenML label is a text or integer, got {type(key).__name__}", where)


def _checked_field(name: str, value: object, dialect: _Dialect, where: str) -> object:
    """Check a known field's value type (RFC 8428 §4.3 / §6) and return it in Python form."""
    where = f"{where} '{name}'"
    if name in _NUMBER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _error(dialect, f"must be a number, got {type(value).__name__}", where)
        # Bounded before any arithmetic: a CBOR bignum or a long JSON integer would otherwise
        # overflow float conversion (and str() refuses ints past 4300 digits).
        if isinstance(value, int) and not INT64_MIN <= value <= UINT64_MAX:
            raise _error(dialect, "integer outside the 64-bit range of every LwM2M type", where)
        if name in _TIME_FIELDS and not math.isfinite(value):
            raise _error(dialect, f"time {value} is not finite", where)
        return value
    if name in _TEXT_FIELDS:
        if not isinstance(value, str):
            raise _error(dialect, f"must be text, got {type(value).__name__}", where)
        return _json.check_text(value, dialect.content_format, where)
    if name == "vb":
        if not isinstance(value, bool):
            raise _error(dialect, f"must be a boolean, got {type(value).__name__}", where)
        return value
    if name == "vd":
        return dialect.opaque_from_wire(value, dialect.content_format, where)
    # bver: RFC 8428 §4.4; LwM2M uses version 10, the default, and we understand nothing newer
    # or older differently, so it is checked for type and otherwise ignored.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(dialect, f"must be an integer, got {type(value).__name__}", where)
    return value


def _record_fields(item: object, dialect: _Dialect, names: Mapping[object, str], where: str) -> dict[str, object]:
    if not isinstance(item, dict):
        raise _error(dialect, f"a SenML record is a map, got {type(item).__name__}", where)
    fields: dict[str, object] = {}
    for key, value in item.items():
        name = _field_name(key, dialect, names, where)
        if name is not None:
            fields[name] = _checked_field(name, value, dialect, where)
    return fields


def _checked_number(number: Number, dialect: _Dialect, where: str) -> Number:
    # No LwM2M numeric type holds an integer outside int64 / uint64 (Core 1.2 Appendix C);
    # a base value can push a value out.
    if isinstance(number, int) and not INT64_MIN <= number <= UINT64_MAX:
        raise _error(dialect, "integer outside the 64-bit range of every LwM2M type", where)
    return number


def _record_value(fields: dict[str, object], base_value: Number | None, dialect: _Dialect, where: str) -> Value | None:
    present = [name for name in _VALUE_FIELDS if name in fields]
    if len(present) > 1:
        raise _error(dialect, f"a record carries one value, got {', '.join(present)}", where)
    if not present:
        return None
    name = present[0]
    value = fields[name]
    if name == "v":
        assert isinstance(value, (int, float))
        # RFC 8428 §4.1 / §4.6: the base value is added to every 'v'.
        number = value if base_value is None else base_value + value
        return _checked_number(number, dialect, where)
    if name == "vlo":
        assert isinstance(value, str)
        try:
            return ObjLnk.parse(value)
        except ValueValidationError as exc:
            raise _error(dialect, str(exc), where) from None
    assert isinstance(value, (str, bool, bytes))
    return value


def _read_pack(payload: bytes, dialect: _Dialect) -> list[_Entry]:
    """Parse a pack and resolve base name, base time and base value (RFC 8428 §4.6)."""
    pack = dialect.parse(payload, dialect.content_format)
    if not isinstance(pack, list):
        raise _error(dialect, f"a SenML pack is an array of records, got {type(pack).__name__}")
    names = dialect.names
    base_name = ""
    base_time: Number = 0
    base_value: Number | None = None
    entries = []
    for index, item in enumerate(pack):
        where = f"record {index}"
        fields = _record_fields(item, dialect, names, where)
        # Base fields apply to their own record and every later one until changed.
        base_name = str(fields.get("bn", base_name))
        base_time = _as_number(fields.get("bt", base_time))
        if "bv" in fields:
            base_value = _as_number(fields["bv"])
        name = base_name + str(fields.get("n", ""))
        if not name:
            raise _error(dialect, "record has no name (neither 'bn' nor 'n')", where)
        if len(name) > MAX_NAME_LENGTH:
            raise _error(dialect, f"name {name[:40]!r}... is too long for an LwM2M path", where)
        time = base_time + _as_number(fields.get("t", 0))
        if not math.isfinite(time):
            raise _error(dialect, "resolved time is not finite", where)
        value = _record_value(fields, base_value, dialect, where)
        entries.append(_Entry(where, name, time if time != 0 else None, value))
    return entries


def _as_number(value: object) -> Number:
    assert isinstance(value, (int, float))  # checked by _checked_field
    return value


def _decode(payload: bytes, registry: Registry, dialect: _Dialect) -> list[Record]:
    records = []
    for entry in _read_pack(payload, dialect):
        path = parse_path(entry.name, dialect.content_format, entry.where)
        where = f"{entry.where} ({path})"
        if len(path) < 3:
            raise _error(dialect, "a value record names a resource or resource instance (LwM2M Core 1.2 §7.4.4)", where)
        if entry.value is None:
            raise _error(
                dialect,
                "record carries no value ('v', 'vs', 'vb', 'vd' or 'vlo'); SenML-ETCH deletes are not accepted here",
                where,
            )
        value = typed_from_wire(registry, path, entry.value, dialect.content_format, where)
        records.append(Record(path, value, entry.time))
    return records


# --- writing a pack -----------------------------------------------------------------


def _value_fields(record: Record, registry: Registry, dialect: _Dialect) -> dict[str, object]:
    data_type, value = typed_for_encoding(registry, record, dialect.content_format)
    field = _FIELD_OF_TYPE[data_type]
    where = str(record.path)
    if isinstance(value, float) and dialect.finite_only and not math.isfinite(value):
        raise _error(dialect, f"SenML JSON cannot carry {value} (JSON has no NaN or Infinity); use SenML CBOR", where)
    if isinstance(value, str):
        _json.check_text(value, dialect.content_format, where)
    if field == "vd":
        assert isinstance(value, bytes)
        return {field: dialect.opaque_to_wire(value)}
    if field == "vlo":
        return {field: str(value)}
    return {field: value}


def _wire_time(time: float | None, dialect: _Dialect, where: str) -> Number:
    """A record time as it goes on the wire: 0 for "now", integral times as integers (shorter)."""
    if time is None:
        return 0
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
        raise _error(dialect, f"record time must be a finite number of seconds, got {time!r}", where)
    if isinstance(time, int) and not INT64_MIN <= time <= UINT64_MAX:
        raise _error(dialect, "record time is outside the 64-bit range", where)
    if isinstance(time, float) and time.is_integer() and abs(time) <= INT64_MAX:
        return int(time)
    return time


def _time_fields(records: Sequence[Record], dialect: _Dialect) -> list[dict[str, Number]]:
    """Per record, the ``bt`` / ``t`` that make its resolved time its own.

    A run of records sharing a time gets one ``bt`` (RFC 8428 §4.6: base time
    carries forward); a lone time gets ``t``. ``bt`` is only ever set to a record's
    exact time, never to a difference, so float times survive unchanged.
    """
    times = [_wire_time(r.time, dialect, str(r.path)) for r in records]
    fields: list[dict[str, Number]] = []
    base: Number = 0
    for index, time in enumerate(times):
        if time == base:
            fields.append({})
        elif base == 0 and (index + 1 == len(times) or times[index + 1] != time):
            fields.append({"t": time})
        else:
            base = time
            fields.append({"bt": time})
    return fields


def _base_name_candidates(paths: Sequence[Path]) -> list[str]:
    """No base name, or ``/``, ``/o/``, ``/o/i/``... shared by every path, each keeping a non-empty rest."""
    if not paths:
        return [""]
    shared: list[int] = []
    # zip stops at the shortest path on purpose: a prefix can be no longer than it.
    for ids in zip(*(path.ids for path in paths), strict=False):
        if any(segment != ids[0] for segment in ids):
            break
        shared.append(ids[0])
    shortest = min(len(path) for path in paths)
    depths = range(min(len(shared), shortest - 1) + 1)
    return [""] + ["/" + "".join(f"{segment}/" for segment in shared[:depth]) for depth in depths]


def _serialize_pack(paths: Sequence[Path], bodies: Sequence[dict[str, object]], dialect: _Dialect) -> bytes:
    """Serialize with the base name that gives the fewest bytes (RFC 8428 §4.5.1)."""
    names = [str(path) for path in paths]
    best: bytes | None = None
    for prefix in _base_name_candidates(paths):
        pack = []
        for index, (name, body) in enumerate(zip(names, bodies, strict=True)):
            record: dict[str, object] = {"bn": prefix} if index == 0 and prefix else {}
            record.update((k, v) for k, v in body.items() if k == "bt")
            record["n"] = name[len(prefix) :]
            record.update((k, v) for k, v in body.items() if k != "bt")
            pack.append({dialect.labels[key]: value for key, value in record.items()})
        data = dialect.serialize(pack, dialect.content_format)
        if best is None or len(data) < len(best):
            best = data
    assert best is not None
    return best


def _encode(records: Sequence[Record], registry: Registry, dialect: _Dialect) -> bytes:
    bodies = [
        times | _value_fields(record, registry, dialect)
        for record, times in zip(records, _time_fields(records, dialect), strict=True)
    ]
    return _serialize_pack([record.path for record in records], bodies, dialect)


# --- public API ---------------------------------------------------------------------


def encode_json(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """Encode records as SenML JSON (110; also SenML-ETCH JSON 320 for Write-Composite).

    Names are full LwM2M paths (LwM2M Core 1.2 §7.4.4), so ``base`` (the request
    target) does not change the payload. A shared path prefix becomes ``bn`` when
    that is shorter; record times become ``bt`` / ``t``.
    """
    return _encode(records, registry, _JSON)


def decode_json(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """Decode SenML JSON (110 / 320) into records, in payload order, typed by the registry."""
    return _decode(payload, registry, _JSON)


def encode_cbor(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """Encode records as SenML CBOR (112; also SenML-ETCH CBOR 322), see :func:`encode_json`."""
    return _encode(records, registry, _CBOR)


def decode_cbor(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """Decode SenML CBOR (112 / 322) into records, in payload order, typed by the registry."""
    return _decode(payload, registry, _CBOR)


def encode_paths(paths: list[Path], content_format: int) -> bytes:
    """Encode the path list of a Read-/Observe-Composite request: ``[{"n":"/3/0/0"},{"n":"/1/0"}]``.

    LwM2M Core 1.2 composite operations: records with names and no values, in
    SenML JSON or CBOR (110 / 320 or 112 / 322).
    """
    dialect = _dialect_for(content_format)
    return _serialize_pack(paths, [{} for _ in paths], dialect)


def decode_paths(payload: bytes, content_format: int) -> list[Path]:
    """Decode the path list of a Read-/Observe-Composite request (any level, root included).

    Values, if a record carries one, are checked for type but otherwise ignored.
    """
    dialect = _dialect_for(content_format)
    return [parse_path(entry.name, content_format, entry.where) for entry in _read_pack(payload, dialect)]
