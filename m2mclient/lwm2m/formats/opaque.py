"""application/octet-stream (content-format 42): the raw bytes of one Opaque resource.

LwM2M Core 1.2 §7.4.2: only resources of type Opaque (or ones the registry does
not know) travel as octet-stream; asking for another type is a format error,
which the engine answers with 4.06 / 4.15.
"""

from __future__ import annotations

from collections.abc import Sequence

from m2mclient.errors import FormatError
from m2mclient.lwm2m.formats._common import Record, check_single_value_target, resource_type, single_record
from m2mclient.lwm2m.model import DataType, Path
from m2mclient.lwm2m.registry import Registry

CONTENT_FORMAT = 42


def _check_opaque(base: Path, registry: Registry) -> None:
    data_type = resource_type(registry, base)
    if data_type not in (None, DataType.OPAQUE):
        raise FormatError(
            f"{base} is of type {data_type.value}; octet-stream carries only Opaque resources",
            content_format=CONTENT_FORMAT,
        )


def encode(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """The bytes of the single Opaque value at ``base``."""
    record = single_record(records, base, registry, CONTENT_FORMAT)
    _check_opaque(base, registry)
    if not isinstance(record.value, (bytes, bytearray, memoryview)):
        raise FormatError(
            f"octet-stream carries bytes, got {type(record.value).__name__}",
            content_format=CONTENT_FORMAT,
            where=str(base),
        )
    return bytes(record.value)


def decode(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """The payload, as is, as the value of ``base``."""
    check_single_value_target(base, registry, CONTENT_FORMAT)
    _check_opaque(base, registry)
    return [Record(base, bytes(payload))]
