"""The LwM2M data model: paths, data types, object and resource definitions, values.

Everything here is plain data. Codecs and the request engine walk these
definitions instead of knowing any particular object (the Leshan way), so a
DDF file loaded at run time is as good as a built-in object.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from m2mclient.errors import DefinitionError, PathError, ValueValidationError

#: Ids of objects, instances, resources and resource instances are 16-bit; 65535
#: is reserved (LwM2M Core 1.2 §7.1 uses it as "no instance" in Objlnk).
MAX_ID = 65534
RESERVED_ID = 65535

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, order=True)
class Path:
    """An LwM2M path: ``/``, ``/o``, ``/o/i``, ``/o/i/r`` or ``/o/i/r/ri``.

    Paths are immutable, hashable and ordered the way a server lists them
    (numerically, parents before children)::

        >>> p = Path.parse("/3/0/6/1")
        >>> p.object_id, p.resource_id, p.resource_instance_id
        (3, 6, 1)
        >>> Path.parse("/3/0").is_prefix_of(p)
        True
    """

    ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.ids) > 4:
            raise PathError(f"an LwM2M path has at most 4 segments, got {len(self.ids)}: {self.ids}")
        for segment in self.ids:
            if isinstance(segment, bool) or not isinstance(segment, int):
                raise PathError(f"path segments must be integers, got {segment!r}")
            if not 0 <= segment <= MAX_ID:
                raise PathError(
                    f"path segment {segment} out of range 0..{MAX_ID} (65535 is reserved)"
                )

    @classmethod
    def of(cls, *ids: int) -> Path:
        """Build a path from ids: ``Path.of(3, 0, 1)`` is ``/3/0/1``."""
        return cls(tuple(ids))

    @classmethod
    def parse(cls, text: str | Path) -> Path:
        """Parse ``"/3/0/1"`` (a leading slash is required; ``"/"`` is the root)."""
        if isinstance(text, Path):
            return text
        if not isinstance(text, str):
            raise PathError(f"an LwM2M path must be a string like '/3/0/1', got {text!r}")
        if not text.startswith("/"):
            raise PathError(f"an LwM2M path starts with '/': {text!r}")
        if text == "/":
            return cls(())
        body = text[1:]
        if body.endswith("/"):  # "/3/0/" is how SenML base names are written
            body = body[:-1]
        segments = body.split("/")
        ids = []
        for segment in segments:
            if len(segment) > 5:  # also keeps int() away from hostile 10,000-digit "ids"
                raise PathError(f"path segment {segment[:12]!r}... in an LwM2M path is longer than 5 digits")
            if not segment.isascii() or not segment.isdigit():
                raise PathError(f"path segment {segment!r} in {text!r} is not a decimal id")
            if len(segment) > 1 and segment.startswith("0"):
                raise PathError(f"path segment {segment!r} in {text!r} has a leading zero")
            ids.append(int(segment))
        return cls(tuple(ids))

    def __str__(self) -> str:
        return "/" + "/".join(str(i) for i in self.ids)

    def __repr__(self) -> str:
        return f"Path('{self}')"

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def level(self) -> PathLevel:
        """What the path addresses: root, object, instance, resource or resource instance."""
        return PathLevel(len(self.ids))

    def _segment(self, index: int) -> int | None:
        return self.ids[index] if len(self.ids) > index else None

    @property
    def object_id(self) -> int | None:
        return self._segment(0)

    @property
    def instance_id(self) -> int | None:
        return self._segment(1)

    @property
    def resource_id(self) -> int | None:
        return self._segment(2)

    @property
    def resource_instance_id(self) -> int | None:
        return self._segment(3)

    @property
    def parent(self) -> Path:
        if not self.ids:
            raise PathError("the root path has no parent")
        return Path(self.ids[:-1])

    def child(self, segment: int) -> Path:
        """The path one level down: ``Path.parse('/3/0').child(1)`` is ``/3/0/1``."""
        return Path((*self.ids, segment))

    def is_prefix_of(self, other: Path) -> bool:
        """True when ``other`` is this path or lies below it."""
        return other.ids[: len(self.ids)] == self.ids

    def relative_to(self, base: Path) -> tuple[int, ...]:
        """The segments of this path below ``base`` (``base`` must be a prefix)."""
        if not base.is_prefix_of(self):
            raise PathError(f"{self} is not below {base}")
        return self.ids[len(base.ids) :]

    @property
    def resource_path(self) -> Path:
        """The ``/o/i/r`` part of a resource or resource-instance path."""
        if len(self.ids) < 3:
            raise PathError(f"{self} does not address a resource")
        return Path(self.ids[:3])


class PathLevel(enum.IntEnum):
    """How deep a path goes; the value is the number of segments."""

    ROOT = 0
    OBJECT = 1
    INSTANCE = 2
    RESOURCE = 3
    RESOURCE_INSTANCE = 4


class ObjLnk(NamedTuple):
    """An Object Link value: ``(object id, instance id)``; ``65535:65535`` means "none"."""

    object_id: int
    instance_id: int

    def __str__(self) -> str:
        return f"{self.object_id}:{self.instance_id}"

    @classmethod
    def parse(cls, text: str) -> ObjLnk:
        """Parse the text form ``"O:I"``."""
        match = re.fullmatch(r"(\d{1,5}):(\d{1,5})", text.strip())
        if not match:
            raise ValueValidationError(f"an objlnk is written 'object:instance', got {text!r}")
        link = cls(int(match.group(1)), int(match.group(2)))
        if link.object_id > RESERVED_ID or link.instance_id > RESERVED_ID:
            raise ValueValidationError(f"objlnk ids are 16-bit, got {text!r}")
        return link


#: A resource value as applications and codecs see it.
Value = str | int | float | bool | bytes | ObjLnk


class DataType(enum.Enum):
    """The LwM2M resource data types (Core 1.2 Appendix C), by their DDF names."""

    STRING = "String"
    INTEGER = "Integer"
    UNSIGNED_INTEGER = "Unsigned Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"
    OPAQUE = "Opaque"
    TIME = "Time"
    OBJLNK = "Objlnk"
    CORELNK = "Corelnk"
    NONE = "none"  # executable resources carry no value

    @classmethod
    def from_ddf(cls, text: str) -> DataType:
        """Map the DDF ``<Type>`` text (case-insensitive; empty means executable)."""
        key = text.strip().lower()
        if not key:
            return cls.NONE
        for member in cls:
            if member.value.lower() == key:
                return member
        raise ValueValidationError(f"unknown LwM2M data type {text!r}")


class Operations(enum.Flag):
    """Operations a server may perform on a resource (DDF ``<Operations>``)."""

    NONE = 0
    R = enum.auto()
    W = enum.auto()
    E = enum.auto()
    RW = R | W

    @classmethod
    def from_ddf(cls, text: str) -> Operations:
        """Map ``"R"``, ``"W"``, ``"RW"``, ``"E"`` or empty (object-level only)."""
        ops = cls.NONE
        for letter in text.strip().upper():
            if letter not in ("R", "W", "E"):
                raise ValueValidationError(f"unknown operation {letter!r} in {text!r}")
            ops |= cls[letter]
        return ops

    @property
    def readable(self) -> bool:
        return bool(self & Operations.R)

    @property
    def writable(self) -> bool:
        return bool(self & Operations.W)

    @property
    def executable(self) -> bool:
        return bool(self & Operations.E)


@dataclass(frozen=True)
class ResourceDefinition:
    """One resource of an object: id, name, type, operations and constraints."""

    id: int
    name: str
    type: DataType
    operations: Operations = Operations.R
    multiple: bool = False
    mandatory: bool = False
    range_enumeration: str = ""
    units: str = ""
    description: str = ""

    def coerce(self, value: object) -> Value:
        """Coerce ``value`` to this resource's type and check its range."""
        try:
            result = coerce_value(self.type, value)
        except ValueValidationError as exc:
            raise ValueValidationError(f"resource {self.id} ({self.name}): {exc}") from None
        check_range(self, result)
        return result


@dataclass(frozen=True)
class ObjectDefinition:
    """An LwM2M object: id, version, instance rules and its resources."""

    id: int
    name: str
    resources: Mapping[int, ResourceDefinition] = field(default_factory=dict)
    version: str = "1.0"
    lwm2m_version: str = "1.0"
    multiple: bool = True
    mandatory: bool = False
    urn: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.id <= MAX_ID:
            raise DefinitionError(f"object id {self.id} out of range 0..{MAX_ID}")
        # Definitions are shared by every registry; nobody may change one in place.
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))

    def resource(self, resource_id: int) -> ResourceDefinition | None:
        return self.resources.get(resource_id)


# --- values -------------------------------------------------------------------------


def coerce_value(data_type: DataType, value: object) -> Value:
    """Return ``value`` as the Python type used for ``data_type``.

    Integers, unsigned integers and time are ``int`` (time in seconds since the
    epoch; ``datetime`` is accepted), floats are ``float``, opaque is ``bytes``,
    objlnk is :class:`ObjLnk` (a pair or ``"O:I"`` is accepted), strings and
    core links are ``str``. Raises :class:`ValueValidationError` otherwise.
    """
    coerce = _COERCERS.get(data_type)
    if coerce is None:
        raise ValueValidationError(f"resources of type {data_type.value!r} carry no value")
    return coerce(value)


def _type_name(value: object) -> str:
    return type(value).__name__


def _coerce_int(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool):
        raise ValueValidationError(f"{what} expected, got a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueValidationError(f"{what} expected, got non-integral {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise ValueValidationError(f"{what} expected, got {_type_name(value)} {value!r}")
    if not low <= value <= high:
        raise ValueValidationError(f"{what} {value} is outside {low}..{high}")
    return value


def _coerce_integer(value: object) -> int:
    return _coerce_int(value, INT64_MIN, INT64_MAX, "integer")


def _coerce_unsigned(value: object) -> int:
    return _coerce_int(value, 0, UINT64_MAX, "unsigned integer")


def _coerce_time(value: object) -> int:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueValidationError("a naive datetime is ambiguous; give it a tzinfo")
        return int(value.timestamp())
    return _coerce_int(value, INT64_MIN, INT64_MAX, "time (seconds since 1970)")


def _coerce_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueValidationError(f"float expected, got {_type_name(value)} {value!r}")
    try:
        result = float(value)
    except OverflowError:
        raise ValueValidationError(f"integer {value} is too large for a float") from None
    if isinstance(value, int) and int(result) != value:
        raise ValueValidationError(f"integer {value} cannot be represented as a float")
    return result


def _coerce_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueValidationError(f"boolean expected, got {_type_name(value)} {value!r}")
    return value


def _coerce_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueValidationError(f"string expected, got {_type_name(value)} {value!r}")
    return value


def _coerce_bytes(value: object) -> bytes:
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if not isinstance(value, bytes):
        raise ValueValidationError(f"opaque (bytes) expected, got {_type_name(value)} {value!r}")
    return value


def _coerce_objlnk(value: object) -> ObjLnk:
    if isinstance(value, str):
        return ObjLnk.parse(value)
    if isinstance(value, tuple) and len(value) == 2:
        object_id, instance_id = value
        for part in (object_id, instance_id):
            if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part <= RESERVED_ID:
                raise ValueValidationError(f"objlnk ids are 0..65535, got {value!r}")
        return ObjLnk(object_id, instance_id)
    raise ValueValidationError(f"objlnk expected as (object, instance), got {value!r}")


_COERCERS: dict[DataType, Callable[[object], Value]] = {
    DataType.STRING: _coerce_str,
    DataType.CORELNK: _coerce_str,
    DataType.INTEGER: _coerce_integer,
    DataType.UNSIGNED_INTEGER: _coerce_unsigned,
    DataType.TIME: _coerce_time,
    DataType.FLOAT: _coerce_float,
    DataType.BOOLEAN: _coerce_bool,
    DataType.OPAQUE: _coerce_bytes,
    DataType.OBJLNK: _coerce_objlnk,
}

_NUMERIC_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:\.\.|-|to)\s*(-?\d+(?:\.\d+)?)\s*$")
_LENGTH_RANGE = re.compile(r"^\s*(\d+)\s*(?:\.\.|-)\s*(\d+)\s*(?:bytes?|B)\s*$", re.IGNORECASE)


def check_range(resource: ResourceDefinition, value: Value) -> None:
    """Enforce a numeric ``RangeEnumeration`` like ``"0..100"`` or a length like ``"0-255 bytes"``.

    DDF range texts are free-form; forms we cannot read (enumerations written as
    prose) are not enforced, rather than rejecting valid values.
    """
    text = resource.range_enumeration
    if not text:
        return
    if resource.type in (DataType.STRING, DataType.OPAQUE) and isinstance(value, (str, bytes)):
        match = _LENGTH_RANGE.match(text)
        if match:
            shortest, longest = int(match.group(1)), int(match.group(2))
            size = len(value.encode("utf-8")) if isinstance(value, str) else len(value)
            if not shortest <= size <= longest:
                raise ValueValidationError(
                    f"resource {resource.id} ({resource.name}): length {size} outside {text!r}"
                )
        return
    if resource.type not in (DataType.INTEGER, DataType.UNSIGNED_INTEGER, DataType.FLOAT):
        return
    match = _NUMERIC_RANGE.match(text)
    if not match or isinstance(value, (bool, str, bytes, tuple)):
        return
    low, high = float(match.group(1)), float(match.group(2))
    if low > high:
        return
    if math.isnan(float(value)) or not low <= float(value) <= high:
        raise ValueValidationError(
            f"resource {resource.id} ({resource.name}): {value} outside range {text!r}"
        )


def infer_type(value: object) -> DataType:
    """The data type a plain Python value encodes as when no definition is known."""
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, ObjLnk):
        return DataType.OBJLNK
    if isinstance(value, int):
        return DataType.UNSIGNED_INTEGER if value > INT64_MAX else DataType.INTEGER
    if isinstance(value, float):
        return DataType.FLOAT
    if isinstance(value, str):
        return DataType.STRING
    if isinstance(value, (bytes, bytearray, memoryview)):
        return DataType.OPAQUE
    if isinstance(value, _dt.datetime):
        return DataType.TIME
    raise ValueValidationError(f"no LwM2M data type for {_type_name(value)} {value!r}")
