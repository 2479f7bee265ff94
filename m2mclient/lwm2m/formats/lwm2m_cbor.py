"""LwM2M CBOR (application/vnd.oma.lwm2m+cbor, 11544), LwM2M Core 1.2 §7.4.7.

The payload is a tree of CBOR maps keyed by path segments, always from the root
(the first level is the object id), whatever the request's target. A key is one
segment (an unsigned integer) or several at once (a non-empty array of them), so
single-child chains fold into one key::

    {[3, 0]: {0: "Open Mobile Alliance", 6: {0: 1, 1: 5}}}     # /3/0/0, /3/0/6/0, /3/0/6/1
    {[3, 0, 0]: "Open Mobile Alliance"}                       # just /3/0/0

Leaves are values at resource or resource-instance level, in the plain CBOR
types of §7.4.6: integers, floats (the shortest lossless width), booleans, text
(String, Corelnk and Objlnk as ``"3:0"``) and byte strings (Opaque). Time is an
integer; an epoch tag (1) around an integer or float is accepted on decoding.

The format has no place for a timestamp, so records with ``time`` set are
refused: timestamped data (Send with history, notifications) goes in SenML.
A ``null`` leaf means "delete" in a Write-Composite (§7.4.7); it has no value
to return here and is refused with that explanation.
"""

from __future__ import annotations

from collections.abc import Sequence

from m2mclient.errors import FormatError
from m2mclient.lwm2m.formats import _cbor
from m2mclient.lwm2m.formats._common import Record, make_path, typed_for_encoding, typed_from_wire
from m2mclient.lwm2m.model import INT64_MIN, MAX_ID, UINT64_MAX, ObjLnk, Path, Value
from m2mclient.lwm2m.registry import Registry

CONTENT_FORMAT = 11544

#: A node of the path tree: segment -> subtree or leaf value.
_Tree = dict[int, object]


def _error(message: str, where: str | None = None) -> FormatError:
    return FormatError(message, content_format=CONTENT_FORMAT, where=where)


# --- encoding -----------------------------------------------------------------------


def _insert(tree: _Tree, path: Path, value: object) -> None:
    node = tree
    for depth, segment in enumerate(path.ids[:-1]):
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise _error(f"{path} and a value at {Path(path.ids[: depth + 1])} cannot both be written", str(path))
        node = child
    last = path.ids[-1]
    if last in node:
        clash = "has resource instances" if isinstance(node[last], dict) else "appears twice"
        raise _error(f"{path} {clash}; LwM2M CBOR holds one value per path", str(path))
    node[last] = value


def _folded(tree: _Tree) -> dict[object, object]:
    """Fold every single-child chain into one array key (§7.4.7 path compression)."""
    folded: dict[object, object] = {}
    for segment, child in tree.items():
        segments = [segment]
        node = child
        while isinstance(node, dict) and len(node) == 1:
            ((next_segment, node),) = node.items()
            segments.append(next_segment)
        key: object = segments[0] if len(segments) == 1 else tuple(segments)  # a tuple encodes as an array
        folded[key] = _folded(node) if isinstance(node, dict) else node
    return folded


def encode(records: Sequence[Record], base: Path, registry: Registry) -> bytes:
    """Encode records as one LwM2M CBOR tree rooted at the object level.

    ``base`` (the request target) does not change the payload: keys always start
    at the object id (§7.4.7). Raises :class:`FormatError` for a record with a
    timestamp, a path given twice, or values both at a resource and below it.
    """
    tree: _Tree = {}
    for record in records:
        if record.time is not None:
            raise _error(
                "LwM2M CBOR carries no timestamps; use SenML JSON or SenML CBOR for timestamped values",
                str(record.path),
            )
        _, value = typed_for_encoding(registry, record, CONTENT_FORMAT)
        _insert(tree, record.path, str(value) if isinstance(value, ObjLnk) else value)
    try:
        return _cbor.dumps(_folded(tree))
    except ValueError as exc:  # an unpaired surrogate in a string
        raise _error(f"cannot be written as CBOR: {exc}") from None


# --- decoding -----------------------------------------------------------------------


def _key_segments(key: object, prefix: tuple[int, ...]) -> tuple[int, ...]:
    where = str(Path(prefix)) if prefix else "/"
    segments = key if isinstance(key, (tuple, list)) else (key,)
    if not segments:
        raise _error("a path key array must not be empty", where)
    for segment in segments:
        # bool is an int in Python; a CBOR true/false key is not a segment.
        if isinstance(segment, bool) or not isinstance(segment, int):
            raise _error(f"a path key is an id 0..{MAX_ID} or an array of them, got {type(segment).__name__}", where)
        if not 0 <= segment <= MAX_ID:
            # Not printed: a bignum's str() can be refused (sys.get_int_max_str_digits()).
            raise _error(f"a path key is an id 0..{MAX_ID} or an array of them, got an integer out of range", where)
    return tuple(segments)


def _leaf(value: object, path: Path) -> Value:
    where = str(path)
    if value is None:
        raise _error("null (delete, only meaningful in Write-Composite) is not a value", where)
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= UINT64_MAX:
        raise _error("integer outside the 64-bit range of every LwM2M type", where)
    if not isinstance(value, (bool, int, float, str, bytes)):
        raise _error(f"a value is a number, boolean, text or byte string, got {type(value).__name__}", where)
    return value


def _walk(node: dict[object, object], prefix: tuple[int, ...], leaves: dict[Path, Value]) -> None:
    for key, child in node.items():
        ids = prefix + _key_segments(key, prefix)
        if len(ids) > 4:
            raise _error(
                f"path {ids} is longer than /object/instance/resource/instance", str(Path(prefix)) if prefix else "/"
            )
        path = make_path(ids, CONTENT_FORMAT, str(ids))
        if isinstance(child, dict):
            if len(ids) == 4:
                raise _error("a resource instance holds a value, not a map", str(path))
            _walk(child, ids, leaves)  # depth is bounded: every level adds at least one segment
            continue
        if len(ids) < 3:
            raise _error("values belong to resources or resource instances, not objects or instances", str(path))
        if path in leaves:
            raise _error("path appears twice", str(path))
        leaves[path] = _leaf(child, path)


def decode(payload: bytes, base: Path, registry: Registry) -> list[Record]:
    """Decode an LwM2M CBOR tree into records sorted by path, typed by the registry.

    Any mix of nesting and array keys is accepted as long as every value sits at
    a resource or resource instance, no path exceeds four segments and no path
    (or a resource and its instances) appears twice.
    """
    tree = _cbor.loads(payload, CONTENT_FORMAT)
    if not isinstance(tree, dict):
        raise _error(f"LwM2M CBOR is a map of path segments, got {type(tree).__name__}")
    leaves: dict[Path, Value] = {}
    _walk(tree, (), leaves)
    for path in leaves:
        if len(path) == 4 and path.parent in leaves:
            raise _error(f"{path.parent} has both a value and resource instances", str(path))
    return [
        Record(path, typed_from_wire(registry, path, value, CONTENT_FORMAT, str(path)))
        for path, value in sorted(leaves.items())
    ]
