"""LwM2M content formats: one entry point keyed by CoAP content-format id.

Value formats (text, opaque, CBOR, TLV, SenML JSON/CBOR, LwM2M CBOR, OMA JSON)
go through :func:`encode` / :func:`decode`::

    >>> from m2mclient.lwm2m import formats
    >>> formats.encode("tlv", {"/3/0/0": "ACME"}, path="/3/0").hex()
    'c40041434d45'
    >>> formats.decode(11542, bytes.fromhex("c40041434d45"), path="/3/0")
    {Path('/3/0/0'): 'ACME'}

``path`` is the request's target: what the payload is relative to (TLV, text,
opaque, CBOR) or must lie under (SenML, LwM2M CBOR). Values are typed by the
registry (default: the built-in core objects); unknown resources decode as
opaque ``bytes`` from untyped formats. SenML-ETCH (320/322) also carries bare
paths for Read-/Observe-Composite: :func:`encode_paths` / :func:`decode_paths`.
Link-format (40) carries links: :func:`encode_links` / :func:`decode_links`.

Any malformed payload raises :class:`~m2mclient.errors.FormatError`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from m2mclient.errors import FormatError, PathError, UnsupportedFormatError, ValueValidationError
from m2mclient.lwm2m.formats import cbor, lwm2m_cbor, oma_json, opaque, senml, text, tlv
from m2mclient.lwm2m.formats import link as link_format
from m2mclient.lwm2m.formats._common import Decoder, Encoder, Record
from m2mclient.lwm2m.formats.link import Link
from m2mclient.lwm2m.model import Path, Value
from m2mclient.lwm2m.registry import Registry, default_registry

__all__ = [
    "ContentFormat",
    "FormatKind",
    "Link",
    "Record",
    "decode",
    "decode_links",
    "decode_paths",
    "decode_records",
    "encode",
    "encode_links",
    "encode_paths",
    "latest_values",
    "lookup",
    "supported_formats",
]


#: What :func:`encode` takes: ``{path: value}`` (paths as :class:`Path` or text) or records.
ValuesArgument = Mapping[Path, Value] | Mapping[str, Value] | Iterable[Record]


class FormatKind(enum.Enum):
    """What a content format carries."""

    VALUES = "values"  # resource values
    PATHS = "paths"  # SenML-ETCH: paths (and optionally values) for composite operations
    LINKS = "links"  # CoRE link format: Discover responses, Register payloads


@dataclass(frozen=True)
class ContentFormat:
    """A supported content format: its CoAP id, short name, media type and codec."""

    id: int
    name: str
    media_type: str
    kind: FormatKind
    encoder: Encoder | None = None
    decoder: Decoder | None = None
    single_value: bool = False  # carries exactly one resource (instance) value
    timestamps: bool = False  # can carry the time of each value (Send, historical data)

    def __str__(self) -> str:
        return f"{self.name} ({self.id}, {self.media_type})"


TEXT = 0
LINK_FORMAT = 40
OPAQUE = 42
CBOR = 60
SENML_JSON = 110
SENML_CBOR = 112
SENML_ETCH_JSON = 320
SENML_ETCH_CBOR = 322
TLV = 11542
OMA_JSON = 11543
LWM2M_CBOR = 11544

_VALUES, _PATHS, _LINKS = FormatKind.VALUES, FormatKind.PATHS, FormatKind.LINKS
_FORMATS = (
    ContentFormat(TEXT, "text", "text/plain;charset=utf-8", _VALUES, text.encode, text.decode, single_value=True),
    ContentFormat(LINK_FORMAT, "link", "application/link-format", _LINKS),
    ContentFormat(
        OPAQUE, "opaque", "application/octet-stream", _VALUES, opaque.encode, opaque.decode, single_value=True
    ),
    ContentFormat(CBOR, "cbor", "application/cbor", _VALUES, cbor.encode, cbor.decode, single_value=True),
    ContentFormat(
        SENML_JSON, "senml-json", "application/senml+json", _VALUES, senml.encode_json, senml.decode_json,
        timestamps=True,
    ),
    ContentFormat(
        SENML_CBOR, "senml-cbor", "application/senml+cbor", _VALUES, senml.encode_cbor, senml.decode_cbor,
        timestamps=True,
    ),
    # SenML-ETCH: the same records (iPATCH values) or bare names (FETCH bodies, RFC 8790).
    ContentFormat(
        SENML_ETCH_JSON, "senml-etch-json", "application/senml-etch+json", _PATHS, senml.encode_json,
        senml.decode_json, timestamps=True,
    ),
    ContentFormat(
        SENML_ETCH_CBOR, "senml-etch-cbor", "application/senml-etch+cbor", _PATHS, senml.encode_cbor,
        senml.decode_cbor, timestamps=True,
    ),
    ContentFormat(TLV, "tlv", "application/vnd.oma.lwm2m+tlv", _VALUES, tlv.encode, tlv.decode),
    ContentFormat(
        OMA_JSON, "oma-json", "application/vnd.oma.lwm2m+json", _VALUES, oma_json.encode, oma_json.decode,
        timestamps=True,
    ),
    ContentFormat(
        LWM2M_CBOR, "lwm2m-cbor", "application/vnd.oma.lwm2m+cbor", _VALUES, lwm2m_cbor.encode, lwm2m_cbor.decode
    ),
)
_BY_ID = {fmt.id: fmt for fmt in _FORMATS}
_BY_NAME = {fmt.name: fmt for fmt in _FORMATS} | {fmt.media_type: fmt for fmt in _FORMATS}


def supported_formats() -> list[ContentFormat]:
    """Every content format m2mclient encodes and decodes, by id."""
    return sorted(_FORMATS, key=lambda fmt: fmt.id)


def lookup(content_format: int | str) -> ContentFormat:
    """Find a format by id (``11542``), its text (``"11542"``), name (``"tlv"``) or media type."""
    if isinstance(content_format, str):
        key = content_format.strip().lower()
        if key.isdigit():
            content_format = int(key)
        elif key in _BY_NAME:
            return _BY_NAME[key]
        else:
            names = ", ".join(fmt.name for fmt in supported_formats())
            raise UnsupportedFormatError(f"unknown content format {content_format!r}; known: {names}")
    found = _BY_ID.get(content_format)
    if found is None:
        raise UnsupportedFormatError(
            f"content format {content_format} is not supported", content_format=content_format
        )
    return found


def _as_path(path: Path | str) -> Path:
    return Path.parse(path)


def _as_records(values: ValuesArgument) -> list[Record]:
    if isinstance(values, Mapping):
        return [Record(_as_path(p), v) for p, v in values.items()]
    return [r if isinstance(r, Record) else Record(*r) for r in values]


def _value_format(content_format: int | str) -> ContentFormat:
    fmt = lookup(content_format)
    if fmt.encoder is None or fmt.decoder is None:
        raise FormatError(
            f"{fmt.media_type} carries links, not values; use encode_links()/decode_links()",
            content_format=fmt.id,
        )
    return fmt


def encode(
    content_format: int | str,
    values: ValuesArgument,
    *,
    path: Path | str = "/",
    registry: Registry | None = None,
) -> bytes:
    """Encode values (``{path: value}`` or :class:`Record` s) as ``content_format``.

    ``path`` is the target the payload answers for (a Read's path); every value
    must lie at or under it. Raises :class:`FormatError` when the values cannot
    be expressed in the format (two values for a single-value format, a value
    outside its type).
    """
    fmt = _value_format(content_format)
    try:
        base = _as_path(path)
        records = _as_records(values)
    except (PathError, ValueValidationError, TypeError) as exc:
        raise FormatError(str(exc), content_format=fmt.id) from None
    for record in records:
        if not base.is_prefix_of(record.path) or len(record.path) < 3:
            raise FormatError(
                f"value path {record.path} must be a resource (instance) at or under {base}",
                content_format=fmt.id,
            )
    if not fmt.timestamps and any(record.time is not None for record in records):
        raise FormatError(
            f"{fmt.name} cannot carry timestamps; use senml-cbor or senml-json for timed values",
            content_format=fmt.id,
        )
    assert fmt.encoder is not None
    return fmt.encoder(records, base, registry if registry is not None else default_registry())


def decode_records(
    content_format: int | str,
    payload: bytes,
    *,
    path: Path | str = "/",
    registry: Registry | None = None,
) -> list[Record]:
    """Decode ``payload`` into records (with timestamps where the format carries them)."""
    fmt = _value_format(content_format)
    try:
        base = _as_path(path)
    except PathError as exc:
        raise FormatError(str(exc), content_format=fmt.id) from None
    assert fmt.decoder is not None
    records = fmt.decoder(bytes(payload), base, registry if registry is not None else default_registry())
    for record in records:
        if not base.is_prefix_of(record.path):
            raise FormatError(
                f"payload holds {record.path}, outside the target {base}", content_format=fmt.id
            )
    return records


def decode(
    content_format: int | str,
    payload: bytes,
    *,
    path: Path | str = "/",
    registry: Registry | None = None,
) -> dict[Path, Value]:
    """Decode ``payload`` into ``{full path: value}``, sorted by path.

    When a format carries several timestamped values for one path (a SenML
    series) the newest wins; use :func:`decode_records` to keep them all.
    """
    return latest_values(decode_records(content_format, payload, path=path, registry=registry))


def latest_values(records: Iterable[Record]) -> dict[Path, Value]:
    """``{path: value}`` from records, sorted by path; the newest wins where a path repeats."""
    latest: dict[Path, Record] = {}
    for record in records:
        previous = latest.get(record.path)
        if previous is None or (record.time or 0.0) >= (previous.time or 0.0):
            latest[record.path] = record
    return {p: latest[p].value for p in sorted(latest)}


def encode_paths(content_format: int | str, paths: Sequence[Path | str]) -> bytes:
    """Encode a path list for Read-Composite / Observe-Composite (SenML-ETCH or SenML)."""
    fmt = lookup(content_format)
    try:
        parsed = [_as_path(p) for p in paths]
    except PathError as exc:
        raise FormatError(str(exc), content_format=fmt.id) from None
    return senml.encode_paths(parsed, fmt.id)


def decode_paths(content_format: int | str, payload: bytes) -> list[Path]:
    """Decode the path list of a Read-Composite / Observe-Composite request."""
    fmt = lookup(content_format)
    return senml.decode_paths(bytes(payload), fmt.id)


def encode_links(links: Iterable[Link]) -> bytes:
    """Serialize CoRE links (RFC 6690) as ``application/link-format``."""
    return link_format.encode(links)


def decode_links(payload: bytes) -> list[Link]:
    """Parse an ``application/link-format`` payload into :class:`Link` s."""
    return link_format.decode(bytes(payload))
