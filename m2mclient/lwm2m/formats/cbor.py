"""application/cbor (content-format 60): one value as a single CBOR data item.

LwM2M Core 1.2 §7.4.6. Integers, floats, booleans, text and byte strings map
to their CBOR major types; Time is an integer (a tag-1 epoch is accepted when
decoding); Objlnk and Corelnk travel as text strings (``"3:0"``).
"""

from __future__ import annotations

from collections.abc import Sequence

from m2mclient.errors import FormatError
from m2mclient.lwm2m.formats import _cbor
from m2mclient.lwm2m.formats._common import (
    Record,
    check_single_value_target,
    single_record,
    typed_for_encoding,
    typed_from_wire,
)
from m2mclient.lwm2m.model import ObjLnk, Path
from m2mclient.lwm2m.registry import Registry

CONTENT_FORMAT = 60


def encode(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """Encode the single value at ``base`` as one CBOR item."""
    record = single_record(records, base, registry, CONTENT_FORMAT)
    _, value = typed_for_encoding(registry, record, CONTENT_FORMAT)
    return _cbor.dumps(str(value) if isinstance(value, ObjLnk) else value)


def decode(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """Decode one CBOR item as the value of ``base``, typed by the registry."""
    check_single_value_target(base, registry, CONTENT_FORMAT)
    item = _cbor.loads(payload, CONTENT_FORMAT)
    if item is None or not isinstance(item, (bool, int, float, str, bytes)):
        raise FormatError(
            f"application/cbor carries one scalar value, got {type(item).__name__}",
            content_format=CONTENT_FORMAT,
            where=str(base),
        )
    # typed_from_wire also turns the text "3:0" into an ObjLnk for Objlnk resources.
    return [Record(base, typed_from_wire(registry, base, item, CONTENT_FORMAT))]
