"""text/plain (content-format 0): one value as UTF-8 text (LwM2M Core 1.2 §7.4.1).

Plain text carries no type, so the registry says how to read it. Numbers are
decimal, booleans ``0``/``1``, time is seconds as a decimal integer, objlnk is
``O:I`` and opaque is base64 (§7.4.1 since LwM2M 1.1). A resource the registry
does not know is read as opaque.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Sequence

from m2mclient.errors import FormatError, ValueValidationError
from m2mclient.lwm2m.formats._common import (
    Record,
    check_single_value_target,
    resource_type,
    single_record,
    typed_for_encoding,
)
from m2mclient.lwm2m.model import DataType, ObjLnk, Path, Value, coerce_value
from m2mclient.lwm2m.registry import Registry

CONTENT_FORMAT = 0

# Python's int()/float() also accept "1_000", " 7 ", "nan" and "infinity"; the
# LwM2M text grammar does not, so numbers are matched before being converted.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: A 64-bit integer has at most 20 digits; refusing longer text early keeps a
#: hostile payload from costing a quadratic int() conversion.
_MAX_INTEGER_DIGITS = 21


def encode(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """Encode the single value at ``base`` as text."""
    record = single_record(records, base, registry, CONTENT_FORMAT)
    data_type, value = typed_for_encoding(registry, record, CONTENT_FORMAT)
    return _format(data_type, value, record.path).encode("utf-8")


def decode(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """Decode the text value of the resource (instance) at ``base``."""
    check_single_value_target(base, registry, CONTENT_FORMAT)
    data_type = resource_type(registry, base) or DataType.OPAQUE
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(f"text is not UTF-8 ({exc.reason})", base, f"byte {exc.start}") from None
    try:
        value = _parse(data_type, text, base)
    except ValueValidationError as exc:
        raise _error(str(exc), base) from None
    return [Record(base, value)]


def _error(message: str, path: Path, where: str | None = None) -> FormatError:
    return FormatError(message, content_format=CONTENT_FORMAT, where=f"{path}{', ' + where if where else ''}")


def _format(data_type: DataType, value: Value, path: Path) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _error(f"{value} has no plain-text form", path)
        return repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # str, int, ObjLnk ("O:I")


def _parse(data_type: DataType, text: str, path: Path) -> Value:
    if data_type in (DataType.STRING, DataType.CORELNK):
        return text
    if data_type in (DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.TIME):
        if len(text) > _MAX_INTEGER_DIGITS or not _INTEGER.fullmatch(text):
            raise _error(f"{data_type.value} expected as decimal digits, got {text[:40]!r}", path)
        return coerce_value(data_type, int(text))
    if data_type is DataType.FLOAT:
        if not _DECIMAL.fullmatch(text):
            raise _error(f"float expected as a decimal number, got {text[:40]!r}", path)
        number = float(text)
        if not math.isfinite(number):
            raise _error(f"float {text[:40]!r} is out of range", path)
        return number
    if data_type is DataType.BOOLEAN:
        if text not in ("0", "1"):
            raise _error(f"boolean expected as '0' or '1', got {text[:40]!r}", path)
        return text == "1"
    if data_type is DataType.OBJLNK:
        return ObjLnk.parse(text)
    return _parse_base64(text, path)


def _parse_base64(text: str, path: Path) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _error(
            f"opaque value expected as base64, got {text[:40]!r} "
            "(a resource the registry does not know is read as opaque; load its DDF)",
            path,
        ) from None
