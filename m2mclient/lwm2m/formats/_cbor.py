"""The one place CBOR bytes are read and written, for every CBOR-based LwM2M format.

cbor2 does the CBOR; this module makes it strict enough for untrusted peers:
trailing bytes and duplicate map keys are errors, nesting is bounded, cbor2's
semantic objects (Decimal, UUID, regex ...) are refused instead of leaking into
values, and every failure becomes a :class:`FormatError`.
"""

from __future__ import annotations

import datetime as _dt
import io

import cbor2

from m2mclient.errors import FormatError

#: No LwM2M payload nests deeper than an LwM2M CBOR tree (root map, four path
#: levels, a key array); anything deeper is garbage or an attack on the stack.
MAX_NESTING = 16

_PLAIN_SCALARS = (bool, int, float, str, bytes)


def loads(payload: bytes, content_format: int) -> object:
    """Decode exactly one CBOR data item; ``FormatError`` for anything malformed."""
    stream = io.BytesIO(payload)
    decoder = cbor2.CBORDecoder(stream, max_depth=MAX_NESTING, allow_duplicate_keys=False)
    try:
        item = decoder.decode()
    except RecursionError:
        raise FormatError("CBOR nested too deeply", content_format=content_format) from None
    except Exception as exc:  # cbor2 raises CBORDecodeError, ValueError, TypeError, OverflowError...
        raise FormatError(f"malformed CBOR: {exc}", content_format=content_format) from None
    if stream.tell() != len(payload):
        raise FormatError(
            f"{len(payload) - stream.tell()} bytes after the CBOR item",
            content_format=content_format,
            where=f"byte {stream.tell()}",
        )
    return _plain(item, content_format)


def _plain(item: object, content_format: int) -> object:
    """Keep only the CBOR types LwM2M uses; epoch datetimes (tag 1) become seconds."""
    if item is None or isinstance(item, _PLAIN_SCALARS):
        return item
    if isinstance(item, _dt.datetime):
        seconds = item.timestamp()
        return int(seconds) if seconds.is_integer() else seconds
    if isinstance(item, (list, tuple)):
        plain = [_plain(element, content_format) for element in item]
        return tuple(plain) if isinstance(item, tuple) else plain
    if isinstance(item, dict):
        return {_plain(k, content_format): _plain(v, content_format) for k, v in item.items()}
    raise FormatError(
        f"CBOR item {type(item).__name__} ({item!r:.40}) has no meaning in LwM2M",
        content_format=content_format,
    )


def dumps(item: object) -> bytes:
    """Encode canonically: shortest integer heads and the narrowest lossless float."""
    return cbor2.dumps(item, canonical=True)
