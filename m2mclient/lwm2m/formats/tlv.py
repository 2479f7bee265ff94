"""OMA LwM2M TLV, content-format 11542 (LwM2M Core 1.2 §7.4.3).

TLV is binary and carries no data types: a value is a run of bytes whose
meaning comes from the resource definition, so both directions ask the
:class:`~m2mclient.lwm2m.registry.Registry`. Resources it does not know decode
as opaque ``bytes``.

Each TLV starts with a type byte (§7.4.3, Table 7.4.3-1)::

    bits 7-6  identifier type: 00 Object Instance, 01 Resource Instance,
              10 Multiple Resource, 11 Resource with Value
    bit  5    identifier length: 0 = 8 bits, 1 = 16 bits
    bits 4-3  length type: 00 = length in bits 2-0, 01/10/11 = 8/16/24-bit length field
    bits 2-0  the value length when bits 4-3 are 00

followed by the identifier, the length field (if any) and the value. Object
Instance TLVs hold Resource (Multiple Resource or Resource with Value) TLVs;
Multiple Resource TLVs hold Resource Instance TLVs.

What the payload holds depends on the request's target path:

============  ==========================================================
``/o``        Object Instance TLVs
``/o/i``      Resource TLVs (or, leniently, one Object Instance TLV ``i``
              wrapping them, as Leshan and Wakaama accept: a Create may send it)
``/o/i/r``    one Resource with Value or Multiple Resource TLV ``r`` (or,
              leniently, bare Resource Instance TLVs)
``/o/i/r/ri`` one Resource Instance TLV ``ri``
============  ==========================================================

An empty payload decodes to no records (at ``/o/i/r/ri`` it is an error). The
decoder types values by the registry but does not police single- versus
multiple-instance use (a Multiple Resource TLV for a single resource yields
``/o/i/r/ri`` records); checking that against the definitions is the request
layer's job. The encoder does refuse it.

The root ``/`` cannot be expressed in TLV. For a Create on ``/o`` whose instance
id the client chooses, decode at ``/o`` first (instance-wrapped payload) and,
when that fails, at ``/o/i`` with the chosen id (bare resources).
"""

from __future__ import annotations

import enum
import itertools
import math
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from m2mclient.errors import FormatError
from m2mclient.lwm2m.formats._common import Record, is_multiple, resource_type, typed_for_encoding
from m2mclient.lwm2m.model import RESERVED_ID, DataType, ObjLnk, Path, PathLevel, Value
from m2mclient.lwm2m.registry import Registry

__all__ = ["CONTENT_FORMAT", "decode", "encode"]

CONTENT_FORMAT = 11542

#: The largest value a 24-bit length field can announce (§7.4.3, length type 11).
MAX_LENGTH = 0xFFFFFF


class _Kind(enum.IntEnum):
    """The identifier type, bits 7-6 of the type byte."""

    OBJECT_INSTANCE = 0b00
    RESOURCE_INSTANCE = 0b01
    MULTIPLE_RESOURCE = 0b10
    RESOURCE_VALUE = 0b11

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").title().replace("Value", "with Value")


_RESOURCE_KINDS = frozenset({_Kind.MULTIPLE_RESOURCE, _Kind.RESOURCE_VALUE})


@dataclass(frozen=True)
class _Tlv:
    """One parsed TLV: its kind, identifier, raw value and where it sits in the payload."""

    kind: _Kind
    id: int
    value: bytes
    offset: int  # absolute offset of the type byte, for error messages
    value_offset: int  # absolute offset of the first value byte


def _error(message: str, offset: int, path: Path | None = None) -> FormatError:
    where = f"byte {offset}" if path is None else f"byte {offset}, {path}"
    return FormatError(message, content_format=CONTENT_FORMAT, where=where)


# --- decoding: bytes -> TLV tree ---------------------------------------------------------


def _parse(data: bytes, origin: int, parent: Path) -> list[_Tlv]:
    """Split ``data`` into consecutive TLVs; ``origin`` is its offset in the whole payload.

    ``parent`` is the path the TLVs lie under, for error messages.

    Every byte must belong to a TLV: a header or value that runs past the end is
    an error, so trailing garbage is caught as a truncated TLV.
    """
    tlvs = []
    pos = 0
    while pos < len(data):
        tlv, pos = _parse_one(data, pos, origin, parent)
        tlvs.append(tlv)
    return tlvs


def _parse_one(data: bytes, pos: int, origin: int, parent: Path) -> tuple[_Tlv, int]:
    start = pos
    type_byte = data[pos]
    pos += 1
    id_size = 2 if type_byte & 0x20 else 1
    length_type = (type_byte >> 3) & 0b11
    # Length type 01/10/11 means a 1/2/3-byte length field follows the identifier.
    header_rest = id_size + length_type
    if pos + header_rest > len(data):
        raise _error(
            f"truncated TLV header: needs {1 + header_rest} bytes, {len(data) - start} left", origin + start, parent
        )
    ident = int.from_bytes(data[pos : pos + id_size], "big")
    pos += id_size
    if ident == RESERVED_ID:
        raise _error("identifier 65535 is reserved (ids are 0..65534)", origin + start, parent)
    if length_type == 0:
        length = type_byte & 0x07
    else:
        length = int.from_bytes(data[pos : pos + length_type], "big")
        pos += length_type
    if pos + length > len(data):
        raise _error(
            f"TLV value of {length} bytes overruns the payload ({len(data) - pos} bytes left)", origin + start, parent
        )
    tlv = _Tlv(_Kind(type_byte >> 6), ident, data[pos : pos + length], origin + start, origin + pos)
    return tlv, pos + length


def _children(tlv: _Tlv, path: Path) -> list[_Tlv]:
    """The TLVs nested in ``tlv``, whose own path is ``path``."""
    return _parse(tlv.value, tlv.value_offset, path)


def _expect(tlv: _Tlv, kinds: Iterable[_Kind], parent: Path) -> None:
    allowed = frozenset(kinds)
    if tlv.kind not in allowed:
        wanted = " or ".join(sorted(kind.label for kind in allowed))
        raise _error(f"{tlv.kind.label} TLV {tlv.id} where {wanted} was expected", tlv.offset, parent)


def _check_unique(tlvs: Sequence[_Tlv], parent: Path) -> None:
    seen: set[int] = set()
    for tlv in tlvs:
        if tlv.id in seen:
            raise _error(f"identifier {tlv.id} appears twice", tlv.offset, parent)
        seen.add(tlv.id)


# --- decoding: values ---------------------------------------------------------------------


def _decode_integer(raw: bytes, signed: bool) -> int | None:
    # §7.4.3: integers (and Time) are 1, 2, 4 or 8 bytes, big-endian, two's complement if signed.
    if len(raw) not in (1, 2, 4, 8):
        return None
    return int.from_bytes(raw, "big", signed=signed)


def _decode_float(raw: bytes) -> float | None:
    if len(raw) == 4:
        return float(struct.unpack(">f", raw)[0])
    if len(raw) == 8:
        return float(struct.unpack(">d", raw)[0])
    return None


def _decode_bool(raw: bytes) -> bool | None:
    if raw == b"\x00":
        return False
    if raw == b"\x01":
        return True
    return None


def _decode_objlnk(raw: bytes) -> ObjLnk | None:
    # §7.4.3: an Objlnk is two 16-bit unsigned integers, object id then instance id.
    if len(raw) != 4:
        return None
    return ObjLnk(int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big"))


def _decode_text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


_VALUE_DECODERS: dict[DataType, tuple[Callable[[bytes], Value | None], str]] = {
    DataType.STRING: (_decode_text, "valid UTF-8"),
    DataType.CORELNK: (_decode_text, "valid UTF-8"),
    DataType.INTEGER: (lambda raw: _decode_integer(raw, True), "1, 2, 4 or 8 bytes"),
    DataType.TIME: (lambda raw: _decode_integer(raw, True), "1, 2, 4 or 8 bytes"),
    DataType.UNSIGNED_INTEGER: (lambda raw: _decode_integer(raw, False), "1, 2, 4 or 8 bytes"),
    DataType.FLOAT: (_decode_float, "4 or 8 bytes"),
    DataType.BOOLEAN: (_decode_bool, "one byte, 0 or 1"),
    DataType.OBJLNK: (_decode_objlnk, "4 bytes"),
    DataType.OPAQUE: (bytes, "raw bytes"),
}


def _decode_value(tlv: _Tlv, path: Path, registry: Registry) -> Record:
    data_type = resource_type(registry, path)
    if data_type is None:
        # TLV carries no type, so an unknown resource can only be handed over as bytes (§7.4).
        return Record(path, tlv.value)
    decoder, expected = _VALUE_DECODERS[data_type]
    value = decoder(tlv.value)
    if value is None:
        raise _error(
            f"a {data_type.value} value must be {expected}, got {len(tlv.value)} bytes {tlv.value[:16].hex()}",
            tlv.value_offset,
            path,
        )
    return Record(path, value)


# --- decoding: TLV tree -> records --------------------------------------------------------


def _decode_instances(tlvs: Sequence[_Tlv], resource: Path, registry: Registry) -> list[Record]:
    """Resource Instance TLVs of the multiple resource ``resource``."""
    _check_unique(tlvs, resource)
    records = []
    for tlv in tlvs:
        _expect(tlv, [_Kind.RESOURCE_INSTANCE], resource)
        records.append(_decode_value(tlv, resource.child(tlv.id), registry))
    return records


def _decode_resource(tlv: _Tlv, resource: Path, registry: Registry) -> list[Record]:
    """A Resource with Value or Multiple Resource TLV whose path is ``resource``."""
    if tlv.kind is _Kind.RESOURCE_VALUE:
        return [_decode_value(tlv, resource, registry)]
    return _decode_instances(_children(tlv, resource), resource, registry)


def _decode_resources(tlvs: Sequence[_Tlv], instance: Path, registry: Registry) -> list[Record]:
    """The Resource TLVs of object instance ``instance``."""
    _check_unique(tlvs, instance)
    records = []
    for tlv in tlvs:
        _expect(tlv, _RESOURCE_KINDS, instance)
        records.extend(_decode_resource(tlv, instance.child(tlv.id), registry))
    return records


def _decode_at_object(tlvs: Sequence[_Tlv], base: Path, registry: Registry) -> list[Record]:
    _check_unique(tlvs, base)
    records = []
    for tlv in tlvs:
        _expect(tlv, [_Kind.OBJECT_INSTANCE], base)
        instance = base.child(tlv.id)
        records.extend(_decode_resources(_children(tlv, instance), instance, registry))
    return records


def _decode_at_instance(tlvs: Sequence[_Tlv], base: Path, registry: Registry) -> list[Record]:
    if len(tlvs) == 1 and tlvs[0].kind is _Kind.OBJECT_INSTANCE:
        # Lenient: an Object Instance TLV wrapping the resources (Leshan, Wakaama; LwM2M 1.0 Create).
        wrapper = tlvs[0]
        if wrapper.id != base.instance_id:
            raise _error(f"Object Instance TLV {wrapper.id} does not match the target {base}", wrapper.offset, base)
        tlvs = _children(wrapper, base)
    return _decode_resources(tlvs, base, registry)


def _decode_at_resource(tlvs: Sequence[_Tlv], base: Path, registry: Registry) -> list[Record]:
    if all(tlv.kind is _Kind.RESOURCE_INSTANCE for tlv in tlvs):
        # Lenient: bare Resource Instance TLVs for a multiple resource (Leshan accepts them too).
        return _decode_instances(tlvs, base, registry)
    if len(tlvs) != 1:
        raise _error(f"the target {base} takes one resource TLV, got {len(tlvs)}", tlvs[1].offset, base)
    tlv = tlvs[0]
    _expect(tlv, _RESOURCE_KINDS, base.parent)
    if tlv.id != base.resource_id:
        raise _error(f"resource TLV {tlv.id} does not match the target {base}", tlv.offset, base)
    return _decode_resource(tlv, base, registry)


def _decode_at_resource_instance(tlvs: Sequence[_Tlv], base: Path, registry: Registry) -> list[Record]:
    if len(tlvs) != 1:
        offset = tlvs[1].offset if tlvs else 0
        raise _error(f"the target {base} takes one Resource Instance TLV, got {len(tlvs)}", offset, base)
    tlv = tlvs[0]
    _expect(tlv, [_Kind.RESOURCE_INSTANCE], base.parent)
    if tlv.id != base.resource_instance_id:
        raise _error(f"Resource Instance TLV {tlv.id} does not match the target {base}", tlv.offset, base)
    return [_decode_value(tlv, base, registry)]


_DECODERS_BY_LEVEL = {
    PathLevel.OBJECT: _decode_at_object,
    PathLevel.INSTANCE: _decode_at_instance,
    PathLevel.RESOURCE: _decode_at_resource,
    PathLevel.RESOURCE_INSTANCE: _decode_at_resource_instance,
}


def decode(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """Decode a TLV ``payload`` answering for ``base`` into records, in payload order.

    Values are typed by ``registry``; unknown resources come back as ``bytes``.
    Multiple resources yield one record per resource instance (``/o/i/r/ri``).
    Raises :class:`~m2mclient.errors.FormatError` (with the byte offset and path
    in ``where``) for any malformed payload, and for the root path ``/``.
    """
    data = bytes(payload)
    if base.level is PathLevel.ROOT:
        raise _error("TLV cannot answer for the root path /; target an object, instance or resource", 0)
    return _DECODERS_BY_LEVEL[base.level](_parse(data, 0, base), base, registry)


# --- encoding -----------------------------------------------------------------------------


def _header(kind: _Kind, ident: int, length: int) -> bytes:
    type_byte = kind << 6
    id_bytes = ident.to_bytes(2 if ident > 0xFF else 1, "big")
    if ident > 0xFF:
        type_byte |= 0x20
    if length < 8:
        return bytes([type_byte | length]) + id_bytes
    for length_type, size in ((0b01, 1), (0b10, 2), (0b11, 3)):
        if length < 1 << (8 * size):
            return bytes([type_byte | length_type << 3]) + id_bytes + length.to_bytes(size, "big")
    raise FormatError(
        f"a TLV value of {length} bytes exceeds the 24-bit length limit ({MAX_LENGTH})", content_format=CONTENT_FORMAT
    )


def _tlv(kind: _Kind, ident: int, value: bytes) -> bytes:
    return _header(kind, ident, len(value)) + value


def _encode_integer(value: int, signed: bool) -> bytes:
    # §7.4.3: the shortest of 1, 2, 4 or 8 bytes that holds the value.
    for size in (1, 2, 4, 8):
        try:
            return value.to_bytes(size, "big", signed=signed)
        except OverflowError:
            continue
    raise OverflowError(f"{value} does not fit in 8 bytes")


def _encode_float(value: float) -> bytes:
    # 4 bytes when the single-precision form is the same number, else 8 (§7.4.3 allows both).
    if not math.isnan(value):
        try:
            single = struct.pack(">f", value)
        except OverflowError:
            pass
        else:
            if struct.unpack(">f", single)[0] == value:
                return single
    return struct.pack(">d", value)


def _encode_value_bytes(data_type: DataType, value: Value) -> bytes:
    if data_type in (DataType.STRING, DataType.CORELNK) and isinstance(value, str):
        return value.encode("utf-8")
    if data_type in (DataType.INTEGER, DataType.TIME) and isinstance(value, int):
        return _encode_integer(value, signed=True)
    if data_type is DataType.UNSIGNED_INTEGER and isinstance(value, int):
        return _encode_integer(value, signed=False)
    if data_type is DataType.FLOAT and isinstance(value, float):
        return _encode_float(value)
    if data_type is DataType.BOOLEAN and isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if data_type is DataType.OBJLNK and isinstance(value, ObjLnk):
        return struct.pack(">HH", value.object_id, value.instance_id)
    if data_type is DataType.OPAQUE and isinstance(value, bytes):
        return value
    raise ValueError(f"no TLV encoding for {data_type.value} value {value!r}")


def _encode_value(record: Record, registry: Registry) -> bytes:
    try:
        # coerce_value lets OverflowError out for an int too large for a Float (float(2**1024)).
        data_type, value = typed_for_encoding(registry, record, CONTENT_FORMAT)
        return _encode_value_bytes(data_type, value)
    except (ValueError, OverflowError, struct.error) as exc:  # UnicodeEncodeError is a ValueError
        raise FormatError(str(exc), content_format=CONTENT_FORMAT, where=str(record.path)) from None


def _group(records: Iterable[Record], depth: int) -> dict[int, list[Record]]:
    """Records keyed by their id at ``depth`` (1 = instance, 2 = resource), in id order."""
    groups: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.path.ids[depth]].append(record)
    return {key: groups[key] for key in sorted(groups)}


def _unique_sorted(records: Iterable[Record]) -> list[Record]:
    ordered = sorted(records, key=lambda record: record.path)
    for previous, current in itertools.pairwise(ordered):
        if previous.path == current.path:
            raise FormatError("two values for one path", content_format=CONTENT_FORMAT, where=str(current.path))
    return ordered


def _encode_resource(resource: Path, records: Sequence[Record], registry: Registry) -> bytes:
    """One Resource with Value TLV, or a Multiple Resource TLV of Resource Instance TLVs."""
    singles = [record for record in records if len(record.path) == 3]
    instances = _unique_sorted(record for record in records if len(record.path) == 4)
    multiple = is_multiple(registry, resource)
    if singles and instances:
        raise FormatError(
            "values both for the resource and for its instances",
            content_format=CONTENT_FORMAT,
            where=str(resource),
        )
    if singles:
        if len(singles) > 1:
            raise FormatError("two values for one path", content_format=CONTENT_FORMAT, where=str(resource))
        if multiple:
            raise FormatError(
                "the resource is multiple-instance: give its values at /o/i/r/ri paths",
                content_format=CONTENT_FORMAT,
                where=str(resource),
            )
        return _tlv(_Kind.RESOURCE_VALUE, resource.ids[2], _encode_value(singles[0], registry))
    if multiple is False:
        raise FormatError(
            "the resource is single-instance: give its value at the /o/i/r path",
            content_format=CONTENT_FORMAT,
            where=str(resource),
        )
    if not instances and not multiple:
        raise FormatError("no value to encode", content_format=CONTENT_FORMAT, where=str(resource))
    body = b"".join(
        _tlv(_Kind.RESOURCE_INSTANCE, record.path.ids[3], _encode_value(record, registry)) for record in instances
    )
    return _tlv(_Kind.MULTIPLE_RESOURCE, resource.ids[2], body)


def _encode_resources(instance: Path, records: Sequence[Record], registry: Registry) -> bytes:
    return b"".join(
        _encode_resource(instance.child(resource_id), group, registry)
        for resource_id, group in _group(records, 2).items()
    )


def _encode_at_object(base: Path, records: Sequence[Record], registry: Registry) -> bytes:
    return b"".join(
        _tlv(_Kind.OBJECT_INSTANCE, instance_id, _encode_resources(base.child(instance_id), group, registry))
        for instance_id, group in _group(records, 1).items()
    )


def _encode_at_resource_instance(base: Path, records: Sequence[Record], registry: Registry) -> bytes:
    if len(records) != 1 or records[0].path != base:
        raise FormatError(
            f"the target {base} takes exactly one value, got {len(records)}",
            content_format=CONTENT_FORMAT,
            where=str(base),
        )
    return _tlv(_Kind.RESOURCE_INSTANCE, base.ids[3], _encode_value(records[0], registry))


_ENCODERS_BY_LEVEL: dict[PathLevel, Callable[[Path, Sequence[Record], Registry], bytes]] = {
    PathLevel.OBJECT: _encode_at_object,
    PathLevel.INSTANCE: _encode_resources,
    PathLevel.RESOURCE: _encode_resource,
    PathLevel.RESOURCE_INSTANCE: _encode_at_resource_instance,
}


def encode(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """Encode ``records`` as a TLV payload answering for ``base``.

    Records may come in any order; they are grouped by instance and resource and
    written sorted by path. Values are typed by ``registry`` (by their Python type
    for resources it does not know). Raises
    :class:`~m2mclient.errors.FormatError` when ``base`` is the root, a record
    lies outside ``base`` or above resource level, a path has two values, a value
    does not fit its type, or single/multiple-instance use contradicts the registry.
    """
    if base.level is PathLevel.ROOT:
        raise FormatError(
            "TLV cannot answer for the root path /; target an object, instance or resource",
            content_format=CONTENT_FORMAT,
            where="/",
        )
    for record in records:
        if len(record.path) < 3 or not base.is_prefix_of(record.path):
            raise FormatError(
                f"value path must be a resource (instance) at or under {base}",
                content_format=CONTENT_FORMAT,
                where=str(record.path),
            )
    return _ENCODERS_BY_LEVEL[base.level](base, list(records), registry)
