"""OMA LwM2M JSON (application/vnd.oma.lwm2m+json, 11543), LwM2M Core 1.0 §6.4.4.

The LwM2M 1.0 predecessor of SenML JSON, still spoken by 1.0 servers::

    {"bn": "/3/0/",
     "e": [{"n": "0", "sv": "Open Mobile Alliance"}, {"n": "6/0", "v": 1},
           {"n": "13", "v": 1367491215}, {"n": "x", "bv": true}, {"n": "y", "ov": "3:0"}]}

An entry's path is ``bn`` + ``n``. Numbers are ``v``, booleans ``bv``, Objlnk
``ov`` (``"3:0"``), strings and Corelnk ``sv``; Opaque is base64 text in ``sv``,
so only the registry can tell it from a string (unknown resources decode as
``str``). ``bt`` plus an entry's ``t`` is its time; as in SenML, small times are
relative to "now" and are returned as sent (the codec reads no clock), and a
resolved time of 0 means "now" (``time=None``).

When ``bn`` is absent, an entry name starting with ``/`` is a full path and any
other name is relative to the request target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from m2mclient.errors import FormatError, ValueValidationError
from m2mclient.lwm2m.formats import _json
from m2mclient.lwm2m.formats._common import Record, parse_path, resource_type, typed_for_encoding, typed_from_wire
from m2mclient.lwm2m.formats.senml import MAX_NAME_LENGTH
from m2mclient.lwm2m.model import INT64_MAX, INT64_MIN, UINT64_MAX, DataType, ObjLnk, Path, Value
from m2mclient.lwm2m.registry import Registry

CONTENT_FORMAT = 11543

_VALUE_FIELDS = ("v", "sv", "bv", "ov")
_FIELD_OF_TYPE = {
    DataType.INTEGER: "v",
    DataType.UNSIGNED_INTEGER: "v",
    DataType.FLOAT: "v",
    DataType.TIME: "v",
    DataType.BOOLEAN: "bv",
    DataType.STRING: "sv",
    DataType.CORELNK: "sv",
    DataType.OPAQUE: "sv",
    DataType.OBJLNK: "ov",
}


def _error(message: str, where: str | None = None) -> FormatError:
    return FormatError(message, content_format=CONTENT_FORMAT, where=where)


# --- decoding -----------------------------------------------------------------------


def _text(container: dict[str, object], key: str, where: str) -> str | None:
    value = container.get(key)
    if value is None and key not in container:
        return None
    if not isinstance(value, str):
        raise _error(f"'{key}' must be text, got {type(value).__name__}", where)
    return _json.check_text(value, CONTENT_FORMAT, where)


def _number(container: dict[str, object], key: str, where: str) -> int | float:
    value = container.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(f"'{key}' must be a number, got {type(value).__name__}", where)
    # No LwM2M type holds a wider integer, and bounding it keeps later float arithmetic safe.
    if isinstance(value, int) and not INT64_MIN <= value <= UINT64_MAX:
        raise _error(f"'{key}' is outside the 64-bit range of every LwM2M type", where)
    return value


def _entry_value(entry: dict[str, object], path: Path, registry: Registry, where: str) -> Value:
    present = [key for key in _VALUE_FIELDS if key in entry]
    if len(present) != 1:
        found = ", ".join(present) or "none"
        raise _error(f"an entry carries exactly one of 'v', 'sv', 'bv', 'ov'; found {found}", where)
    key = present[0]
    value = entry[key]
    if key == "v":
        return _number(entry, key, where)
    if key == "bv":
        if not isinstance(value, bool):
            raise _error(f"'bv' must be a boolean, got {type(value).__name__}", where)
        return value
    text = _text(entry, key, where)
    assert text is not None
    if key == "ov":
        try:
            return ObjLnk.parse(text)
        except ValueValidationError as exc:
            raise _error(str(exc), where) from None
    # LwM2M 1.0 §6.4.4: an Opaque resource's value is base64 text in 'sv'.
    if resource_type(registry, path) is DataType.OPAQUE:
        return _json.b64decode(text, CONTENT_FORMAT, where)
    return text


def decode(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """Decode OMA LwM2M JSON into records (in payload order), typed by the registry."""
    document = _json.loads(payload, CONTENT_FORMAT)
    if not isinstance(document, dict):
        raise _error(f"OMA LwM2M JSON is an object with an 'e' array, got {type(document).__name__}")
    base_name = _text(document, "bn", "'bn'")
    base_time = _number(document, "bt", "'bt'")
    entries = document.get("e")
    if not isinstance(entries, list):
        raise _error(f"'e' must be an array of entries, got {type(entries).__name__}")
    target = "/" if not base.ids else f"{base}/"
    records = []
    for index, entry in enumerate(entries):
        where = f"entry {index}"
        if not isinstance(entry, dict):
            raise _error(f"an entry is an object, got {type(entry).__name__}", where)
        name = _text(entry, "n", where) or ""
        # LwM2M 1.0 §6.4.4: the full path is bn + n; without bn, relative names hang off the target.
        prefix = base_name if base_name is not None else ("" if name.startswith("/") else target)
        full_name = prefix + name
        if len(full_name) > MAX_NAME_LENGTH:
            raise _error(f"name {full_name[:40]!r}... is too long for an LwM2M path", where)
        path = parse_path(full_name, CONTENT_FORMAT, where)
        where = f"{where} ({path})"
        if len(path) < 3:
            raise _error("an entry names a resource or resource instance", where)
        time = base_time + _number(entry, "t", where)
        if not math.isfinite(time):
            raise _error("time is not finite", where)
        value = typed_from_wire(registry, path, _entry_value(entry, path, registry, where), CONTENT_FORMAT, where)
        records.append(Record(path, value, time if time != 0 else None))
    return records


# --- encoding -----------------------------------------------------------------------


def _wire_time(time: float | None, where: str) -> int | float | None:
    if time is None or time == 0:
        return None
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
        raise _error(f"record time must be a finite number of seconds, got {time!r}", where)
    if isinstance(time, int) and not INT64_MIN <= time <= UINT64_MAX:
        raise _error("record time is outside the 64-bit range", where)
    return int(time) if isinstance(time, float) and time.is_integer() and abs(time) <= INT64_MAX else time


def _entry(record: Record, prefix: Path, registry: Registry) -> dict[str, object]:
    data_type, value = typed_for_encoding(registry, record, CONTENT_FORMAT)
    where = str(record.path)
    field = _FIELD_OF_TYPE[data_type]
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(f"JSON cannot carry {value}", where)
    if isinstance(value, bytes):
        wire: object = _json.b64encode_std(value)
    elif isinstance(value, ObjLnk):
        wire = str(value)
    else:
        wire = value
    return {"n": "/".join(str(i) for i in record.path.relative_to(prefix)), field: wire}


def encode(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """Encode records with ``bn`` = the target path (with a trailing slash) and relative names.

    When a record sits exactly at the target (a single resource), ``bn`` is its
    parent so every name is non-empty. One shared time becomes ``bt``; differing
    times become per-entry ``t``.
    """
    prefix = base
    while prefix.ids and not all(prefix.is_prefix_of(r.path) and r.path != prefix for r in records):
        prefix = prefix.parent
    entries = [_entry(record, prefix, registry) for record in records]
    times = [_wire_time(record.time, str(record.path)) for record in records]
    document: dict[str, object] = {"bn": "/" if not prefix.ids else f"{prefix}/"}
    if records and times[0] is not None and all(time == times[0] for time in times):
        document["bt"] = times[0]
    else:
        for entry, time in zip(entries, times, strict=True):
            if time is not None:
                entry["t"] = time
    document["e"] = entries
    return _json.dumps(document, CONTENT_FORMAT)
