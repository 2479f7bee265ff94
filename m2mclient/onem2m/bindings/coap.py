"""The oneM2M CoAP binding (TS-0008): primitives as CoAP messages, and an AE endpoint on aiocoap.

Two layers, as in the other bindings:

* **Sans-IO mapping** (pure functions, no sockets, no clock):
  :func:`request_to_coap` / :func:`coap_to_request` and :func:`response_to_coap` /
  :func:`coap_to_response` turn primitives into the parts of a CoAP message
  (code, Uri-Path, Uri-Query, the other options as ``{number: bytes}``, payload,
  Content-Format) and back. Decoding trusts nothing: whatever a peer sends becomes
  a primitive or a :class:`~m2mclient.onem2m.primitives.OneM2MProtocolError`.
* :class:`CoapBinding`: one aiocoap context (made by
  :func:`m2mclient.coap.context.create_endpoint`) that sends requests to the CSE
  *and* serves the AE's pointOfAccess ``coap://host:port`` from the same UDP
  socket, so a NOTIFY from the CSE reaches the handler given to :meth:`CoapBinding.serve`.

Mapping (clause numbers of TS-0008 V3.9.0):

* Operation -> method (§6.2.1, Table 6.2.1-1): CREATE and NOTIFY are POST, told
  apart by the oneM2M-TY option; RETRIEVE GET; UPDATE PUT; DELETE DELETE. Non-blocking
  and flex-blocking requests are a POST with ``op`` in the Uri-Query (§6.2.1, §6.3.2-6.3.4).
* To -> Uri-Path (§6.2.2.3, Table 6.2.2.3-1): CSE-relative as is, SP-relative
  behind a ``~`` segment, absolute behind ``_``.
* Request parameters without an option (rt's responseTypeValue, rp, rcn, da, drt,
  rids, tkns, tids, ltids, tqi, asi, auri, sqi and the filter criteria) -> Uri-Query,
  one ``name=value`` option per item (§6.2.2.3), mapped as the HTTP query string is
  (TS-0009 §6.2.2.2) by :mod:`m2mclient.onem2m.query`: lists joined by ``+``,
  attribute conditions as ``<attr>=<value>`` (``c.``/``p.`` prefixes for
  child/parent attributes), partial retrieve as ``atrl``. Values travel as raw
  UTF-8 (RFC 7252 §5.10.1) with only ``%``, ``+`` and ``=`` escaped; ``op`` leads
  for a non-blocking POST.
* The other parameters -> the oneM2M options of Table 6.2.2.4.0-1 (:class:`OneM2MOption`).
* Content -> payload with Content-Format 50 (JSON) or 60 (CBOR); Accept asks for
  the same (§6.2.2.2). Incoming payloads are also read under the oneM2M-specific
  Content-Formats of Table 6.2.2.2-1.
* Response Status Code -> CoAP code (§6.2.4, Table 6.2.4-1, via
  :func:`~m2mclient.onem2m.primitives.rsc_to_coap`) and always the oneM2M-RSC option.

Block-wise transfer (RFC 7959, TS-0008 §5.2.3 and §6.5) is aiocoap's: with
``blockwise=True`` (the default) requests whose payload exceeds one block (1024 B)
go out with Block1 and large responses are fetched with Block2, on the AE's
receiver too. ``blockwise=False`` sends every request in one datagram and reports
a response that arrives as Block2 #0 of more as a
:class:`~m2mclient.onem2m.primitives.OneM2MProtocolError` instead of losing its tail.

ACME CSE 2026.5.3 over CoAP (measured against the test fixture; see
``tests/onem2m/test_coap_binding.py``, which checks each point):

* **Works**, in JSON and CBOR: AE registration, <container>, <contentInstance>,
  retrieve of ``la``, discovery (``fu=1&ty=4``), non-blocking requests *if* sent
  with their own method (``nonblocking_post=False``), DELETE; SP-relative (``~``) and
  absolute (``_``) targets; ``atrl`` partial retrieve (but not absolute To with
  ``#attr``: ACME then looks for a remote CSE, 4004 here and 404 over HTTP alike).
* **NOTIFY: ACME cannot send one over CoAP.** ``helpers/CoAPthonTools.py``
  ``operationsMethodsMap`` maps RETRIEVE/CREATE/UPDATE/DELETE only, so
  ``CoAPServer.sendRequest`` raises ``KeyError: NOTIFY`` (in ``acme.out``; the CSE
  log says "Exception during resource creation: NOTIFY"). A <subscription> whose
  nu is a ``coap://`` URL never gets a response (its verification request dies with
  the thread), and events for an AE whose poa is ``coap://`` are never delivered.
  The AE-side receiver here is therefore tested with our own aiocoap client in the
  CSE's role. Use an HTTP nu, the WebSocket binding or a <pollingChannel> for
  notifications from ACME.
* **Block-wise: broken in both directions.** CoAPthon3-ACME-CSE 1.1.4 keys its
  block state by token (``coapthon/layers/blocklayer.py``), while aiocoap (RFC 7959
  allows it) sends each block with a fresh token. Block1: the second block looks
  like a new transfer not starting at block 0, so ACME answers **4.08 Request
  Entity Incomplete** without oneM2M-RSC. Block2: a response over 1024 B comes as
  block #0 (more=1, Size2 = full size); the request for block #1 finds no state and
  crashes in ``blocklayer.py`` line 311 (``int(None)`` on the content format), so the
  CSE ACKs and never answers. With ``blockwise=False`` requests up to about 4 KB work
  (CoAPthon reads 4096-byte datagrams; more arrives truncated: 4000 "Malformed
  request/content?"), and a CREATE with ``rcn=0`` keeps the response empty; a
  retrieve over 1024 B cannot be done over CoAP at all.
* **Non-blocking** as TS-0008 §6.2.1 sends it (POST + ``op`` query) is taken for a
  NOTIFY (4000 "Missing primitive content ... NOTIFY"); ``GET ...?rt=1`` gets 1001
  and a <request> reference. Hence ``nonblocking_post``.
* No DTLS (``coaps``) on ACME's CoAP side; this binding speaks ``coap://`` only.

Transport failures do not raise from :meth:`CoapBinding.send`: as TS-0008 §6.3.1
allows, the binding answers locally with 4008 REQUEST_TIMEOUT when the CSE
acknowledged (or may have received) the request but sent no response in time,
and with 5103 TARGET_NOT_REACHABLE when no CoAP exchange happened at all (no ACK
after the retransmissions, ICMP unreachable, unresolvable host). Both carry an
``m2m:dbg`` text starting with ``m2mclient:`` saying so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiocoap
from aiocoap import error as coap_error
from aiocoap import optiontypes
from aiocoap import resource as coap_resource
from aiocoap.numbers import codes

from m2mclient.onem2m.bindings.base import RequestHandler
from m2mclient.onem2m.primitives import (
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    ResponseType,
    coap_code,
    coap_to_rsc,
    rsc_to_coap,
)
from m2mclient.onem2m.query import (
    COAP_URI_QUERY,
    enum_or_int,
    non_negative_int,
    number_or_text,
    partial_retrieve,
    query_to_parameters,
    request_fields,
    request_query_items,
)
from m2mclient.onem2m.serialization import Format, deserialize_content, serialize_content

logger = logging.getLogger(__name__)

_RSC = ResponseStatusCode

# ---------------------------------------------------------------------------
# Numbers (TS-0008 §6.2.1, §6.2.2.2, §6.2.2.4; RFC 7252 §12)
# ---------------------------------------------------------------------------


class OneM2MOption(enum.IntEnum):
    """The oneM2M CoAP options, TS-0008 V3.9.0 Table 6.2.2.4.0-1 (all Critical and Unsafe).

    These are the numbers since TS-0008 V3.7.0 (SDS-2022-0153, "Changes to CoAP
    options for IANA registration"); Release 2 used 256, 257, ... (nCube-Thyme still
    does). ACME 2026.5.3 registers the same numbers
    (``acmecse/helpers/CoAPthonTools.py`` ``registerOneM2MOptions``), plus OMR, PRPI
    and MSU, which V3.9.0 does not list yet and are taken from ACME.
    """

    OT = 259  # Originating Timestamp
    RTURI = 263  # notificationURI element of Response Type
    TY = 267  # Resource Type
    RVI = 271  # Release Version Indicator
    ASRI = 275  # Authorization Signature Request Information
    FR = 279  # From
    RQI = 283  # Request Identifier
    RQET = 291  # Request Expiration Timestamp
    RSET = 295  # Result Expiration Timestamp
    OET = 299  # Operation Execution Time
    EC = 303  # Event Category
    RSC = 307  # Response Status Code
    GID = 311  # Group Request Identifier
    CTO = 319  # Content Offset
    CTS = 323  # Content Status
    ATI = 327  # Assigned Token Identifiers
    VSI = 331  # Vendor Information
    GTM = 335  # Group Request Target Members
    AUS = 339  # Authorization Signatures
    OMR = 343  # Ontology Mapping Resources (ACME)
    PRPI = 347  # Primitive Profile Identifier (ACME)
    MSU = 351  # M2M Service User (ACME)


#: RFC 7252 §12.2 option numbers the mapping itself touches.
OPTION_CONTENT_FORMAT = 12
OPTION_ACCEPT = 17

#: RFC 7252 §12.1.1 method codes (FETCH: RFC 8132).
METHOD_GET = coap_code(0, 1)
METHOD_POST = coap_code(0, 2)
METHOD_PUT = coap_code(0, 3)
METHOD_DELETE = coap_code(0, 4)
METHOD_FETCH = coap_code(0, 5)

#: Content-Formats this binding sends (RFC 7252 §12.3 / RFC 8949 §9.5), TS-0008 §6.2.2.2.
CONTENT_FORMAT_JSON = 50
CONTENT_FORMAT_CBOR = 60
CONTENT_FORMAT_XML = 41
SEND_CONTENT_FORMATS: Mapping[Format, int] = {Format.JSON: CONTENT_FORMAT_JSON, Format.CBOR: CONTENT_FORMAT_CBOR}

#: Content-Format -> serialization for what a peer sends: the generic formats and
#: TS-0008 V3.9.0 Table 6.2.2.2-1 (oneM2M-specific, "subject to change after IANA
#: registration"); 10015 and 10016 are ACME's extra ids for the ``application/...``
#: spellings (``CoAPthonTools.registerOneM2MContentTypes``, ``Types.fromCoAP``).
#: None marks XML, which m2mclient does not read.
CONTENT_FORMATS: Mapping[int, Format | None] = {
    CONTENT_FORMAT_JSON: Format.JSON,
    10001: Format.JSON,  # vnd.onem2m-res+json
    10003: Format.JSON,  # vnd.onem2m-ntfy+json
    10007: Format.JSON,  # vnd.onem2m-preq+json
    10009: Format.JSON,  # vnd.onem2m-prsp+json
    10015: Format.JSON,  # ACME: application/vnd.onem2m-res+json
    CONTENT_FORMAT_CBOR: Format.CBOR,
    10010: Format.CBOR,  # vnd.onem2m-res+cbor
    10011: Format.CBOR,  # vnd.onem2m-ntfy+cbor
    10012: Format.CBOR,  # vnd.onem2m-preq+cbor
    10013: Format.CBOR,  # vnd.onem2m-prsp+cbor
    CONTENT_FORMAT_XML: None,
    10014: None,  # vnd.onem2m-res+xml
    10002: None,  # vnd.onem2m-ntfy+xml
    10006: None,  # vnd.onem2m-preq+xml
    10008: None,  # vnd.onem2m-prsp+xml
    10016: None,  # ACME: application/vnd.onem2m-ntfy+xml
}

# TS-0008 Table 6.2.1-1 (blocking case); the receiver side also takes FETCH as
# RETRIEVE, as ACME does (CoAPServer.handleFETCH).
_METHOD_OF: Mapping[Operation, int] = {
    Operation.CREATE: METHOD_POST,
    Operation.RETRIEVE: METHOD_GET,
    Operation.UPDATE: METHOD_PUT,
    Operation.DELETE: METHOD_DELETE,
    Operation.NOTIFY: METHOD_POST,
}
_OPERATION_OF: Mapping[int, Operation] = {
    METHOD_GET: Operation.RETRIEVE,
    METHOD_FETCH: Operation.RETRIEVE,
    METHOD_PUT: Operation.UPDATE,
    METHOD_DELETE: Operation.DELETE,
}

# Response types that TS-0008 §6.2.1 sends as POST + op (§6.3.2 to §6.3.4).
_NON_BLOCKING = frozenset(
    {ResponseType.NON_BLOCKING_REQUEST_SYNCH, ResponseType.NON_BLOCKING_REQUEST_ASYNCH, ResponseType.FLEX_BLOCKING}
)

#: A uint option longer than this is garbage: the widest oneM2M uint (RSC, TY,
#: CTO, CTS) is 2 bytes in Table 6.2.2.4.0-1; 4 leaves room for peers that pad.
MAX_UINT_OPTION_BYTES = 4


class CoapRequest(NamedTuple):
    """A CoAP request as data: what :func:`request_to_coap` makes and :func:`coap_to_request` reads.

    ``options`` holds every option except Uri-Path, Uri-Query and Content-Format
    (which have their own fields) as encoded bytes: the oneM2M options and Accept.
    """

    code: int
    uri_path: tuple[str, ...]
    uri_query: tuple[str, ...]
    options: dict[int, bytes]
    payload: bytes
    content_format: int | None


class CoapResponse(NamedTuple):
    """A CoAP response as data: what :func:`response_to_coap` makes and :func:`coap_to_response` reads."""

    code: int
    options: dict[int, bytes]
    payload: bytes
    content_format: int | None


# ---------------------------------------------------------------------------
# Option values (RFC 7252 §3.2: uint is big-endian without leading zeros; string is UTF-8)
# ---------------------------------------------------------------------------


def encode_uint(value: int) -> bytes:
    """The RFC 7252 §3.2 uint encoding: shortest big-endian, 0 is empty."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise OneM2MUsageError(f"a CoAP uint option needs a non-negative integer, got {value!r}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _option_where(number: int) -> str:
    try:
        return f"oneM2M-{OneM2MOption(number).name} ({number})"
    except ValueError:
        return f"option {number}"


def decode_uint(data: bytes, number: int) -> int:
    """A uint option value; leading zeros are accepted (RFC 7252 §3.2), absurd lengths are not."""
    if len(data) > MAX_UINT_OPTION_BYTES:
        raise OneM2MProtocolError(f"a {len(data)}-byte integer is not a oneM2M value", where=_option_where(number))
    return int.from_bytes(data, "big")


def _decode_text(data: bytes, number: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OneM2MProtocolError(
            f"string option is not UTF-8 ({exc.reason} at byte {exc.start})", where=_option_where(number)
        ) from None


def _encode_text(value: str, name: str) -> bytes:
    if not isinstance(value, str):
        raise OneM2MUsageError(f"{name} must be a string, got {value!r:.60}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise OneM2MUsageError(f"{name} contains an unpaired surrogate; it cannot travel as UTF-8") from None


@dataclasses.dataclass(frozen=True)
class _OptionCodec:
    encode: Callable[[Any, str], bytes]
    decode: Callable[[bytes, int], Any]


def _enc_str(value: Any, name: str) -> bytes:
    return _encode_text(value, name)


def _enc_uint(value: Any, name: str) -> bytes:
    if isinstance(value, str) and value.isascii() and value.isdigit():  # ec may be given as "2"
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise OneM2MUsageError(
            f"{name} travels as a CoAP uint option; it must be a non-negative integer, not {value!r}"
        )
    return encode_uint(int(value))


def _enc_time(value: Any, name: str) -> bytes:
    # m2m:absRelTimestamp: a timestamp string, or relative milliseconds (TS-0004 §6.3.3).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode("ascii")
    return _encode_text(value, name)


def _dec_time(data: bytes, number: int) -> str | int:
    return number_or_text(_decode_text(data, number), _option_where(number))


def _enc_plus_list(value: Any, name: str) -> bytes:
    # A list in one option: '+'-separated, as TS-0009 §6.4.26 writes X-M2M-OMR and §6.4.24 X-M2M-AS.
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v and "+" not in v for v in value):
        raise OneM2MUsageError(f"{name} must be a tuple of non-empty strings without '+', got {value!r:.80}")
    return _encode_text("+".join(value), name)


def _dec_plus_list(data: bytes, number: int) -> tuple[str, ...]:
    text = _decode_text(data, number)
    return tuple(part.strip() for part in text.split("+")) if text else ()


def _enc_ati(value: Any, name: str) -> bytes:
    # TS-0008 §6.2.2.4.15: "lti-value1:tkid-value1+lti-value2:tkid-value2".
    items = value.get("ltia") if isinstance(value, Mapping) else None
    pairs = []
    for item in items if isinstance(items, list) else [None]:
        lti = item.get("lti") if isinstance(item, Mapping) else None
        tkid = item.get("tkid") if isinstance(item, Mapping) else None
        if not (isinstance(lti, str) and isinstance(tkid, str) and ":" not in lti and "+" not in lti + tkid):
            raise OneM2MUsageError(f"{name} must be {{'ltia': [{{'lti': ..., 'tkid': ...}}, ...]}}, got {value!r:.80}")
        pairs.append(f"{lti}:{tkid}")
    return _encode_text("+".join(pairs), name)


def _dec_ati(data: bytes, number: int) -> dict[str, Any]:
    items = []
    for pair in _decode_text(data, number).split("+"):
        lti, sep, tkid = pair.strip().partition(":")
        if not sep:
            raise OneM2MProtocolError(
                f"{pair!r:.40} is not 'lti:tkid' (TS-0008 §6.2.2.4.15)", where=_option_where(number)
            )
        items.append({"lti": lti, "tkid": tkid})
    return {"ltia": items}


_STR = _OptionCodec(_enc_str, _decode_text)
_UINT = _OptionCodec(_enc_uint, decode_uint)
_TIME = _OptionCodec(_enc_time, _dec_time)
_PLUS_LIST = _OptionCodec(_enc_plus_list, _dec_plus_list)
_ATI = _OptionCodec(_enc_ati, _dec_ati)

_O = OneM2MOption
# Request parameter -> option (TS-0008 §6.2.2.4.1 to §6.2.2.4.20). ty and rt.nu are
# handled apart: TY only in a CREATE, RTURI is an element of rt.
_REQUEST_OPTIONS: tuple[tuple[str, OneM2MOption, _OptionCodec], ...] = (
    ("fr", _O.FR, _STR),
    ("rqi", _O.RQI, _STR),
    ("rvi", _O.RVI, _STR),
    ("ot", _O.OT, _STR),
    ("rqet", _O.RQET, _TIME),
    ("rset", _O.RSET, _TIME),
    ("oet", _O.OET, _TIME),
    ("ec", _O.EC, _UINT),
    ("gid", _O.GID, _STR),
    ("gtm", _O.GTM, _PLUS_LIST),
    ("aus", _O.AUS, _PLUS_LIST),
    ("vsi", _O.VSI, _STR),
    ("omr", _O.OMR, _PLUS_LIST),
    ("prpi", _O.PRPI, _STR),
    ("msu", _O.MSU, _STR),
)
# Response parameter -> option; rsc apart (always sent).
_RESPONSE_OPTIONS: tuple[tuple[str, OneM2MOption, _OptionCodec], ...] = (
    ("rqi", _O.RQI, _STR),
    ("rvi", _O.RVI, _STR),
    ("fr", _O.FR, _STR),
    ("ot", _O.OT, _STR),
    ("rset", _O.RSET, _TIME),
    ("ec", _O.EC, _UINT),
    ("cnst", _O.CTS, _UINT),
    ("cnot", _O.CTO, _UINT),
    ("ati", _O.ATI, _ATI),
    ("asri", _O.ASRI, _STR),
    ("vsi", _O.VSI, _STR),
)

_COLLECTED = frozenset(int(o) for o in OneM2MOption) | {OPTION_ACCEPT}


def collect_options(options: Iterable[tuple[int, bytes]]) -> dict[int, bytes]:
    """The oneM2M options and Accept of a message, from its ``(number, value)`` pairs.

    None of them is repeatable (Table 6.2.2.4.0-1; RFC 7252 §5.10), so a repeated
    one is a :class:`OneM2MProtocolError` rather than a silent choice. Other
    options (Uri-Path, Block2, ...) are left to whoever reads the message.
    """
    collected: dict[int, bytes] = {}
    for number, value in options:
        if number in _COLLECTED:
            if number in collected:
                raise OneM2MProtocolError("option repeated; it is not repeatable", where=_option_where(number))
            collected[number] = bytes(value)
    return collected


# ---------------------------------------------------------------------------
# To <-> Uri-Path (TS-0008 §6.2.2.3, Table 6.2.2.3-1)
# ---------------------------------------------------------------------------


def to_uri_path(to: str) -> tuple[tuple[str, ...], str | None]:
    """The Uri-Path segments for a To parameter, and the attribute after ``#`` (partial retrieve).

    ``//sp/cse/x`` -> ``("_", "sp", "cse", "x")``; ``/cse/x`` -> ``("~", "cse", "x")``;
    ``cse-in/x`` -> ``("cse-in", "x")``.
    """
    target, hash_sign, attribute = to.partition("#")
    if target.startswith("//"):
        segments: tuple[str, ...] = ("_", *target[2:].split("/"))
    elif target.startswith("/"):
        segments = ("~", *target[1:].split("/"))
    else:
        segments = tuple(target.split("/"))
    return segments, (attribute if hash_sign else None)


def from_uri_path(uri_path: Sequence[str]) -> str:
    """The To parameter for a Uri-Path; an empty path (the bare pointOfAccess) is ``/``."""
    if not uri_path:
        return "/"
    head, *rest = uri_path
    if head == "_":
        return "//" + "/".join(rest)
    if head == "~":
        return "/" + "/".join(rest)
    return "/".join(uri_path) or "/"  # one empty segment is the root too (RFC 7252 §6.4 step 8)


# ---------------------------------------------------------------------------
# Uri-Query (TS-0008 §6.2.2.3): m2mclient.onem2m.query, one option per item
# ---------------------------------------------------------------------------


def _uri_query(request: RequestPrimitive, op_in_query: bool, attributes: Sequence[str]) -> tuple[str, ...]:
    items = request_query_items(request, attributes, COAP_URI_QUERY)
    op = (f"op={int(request.op)}",) if op_in_query else ()
    return (*op, *(f"{name}={value}" for name, value in items))


# ---------------------------------------------------------------------------
# Request primitive <-> CoAP request
# ---------------------------------------------------------------------------


def _content_format_of(fmt: Format | str) -> tuple[Format, int]:
    try:
        chosen = Format(fmt)
    except ValueError:
        raise OneM2MUsageError(f"unknown format {fmt!r}; use Format.JSON or Format.CBOR") from None
    return chosen, SEND_CONTENT_FORMATS[chosen]


def request_to_coap(
    request: RequestPrimitive, fmt: Format | str = Format.JSON, *, nonblocking_post: bool = True
) -> CoapRequest:
    """The CoAP request for ``request`` (TS-0008 §6.2); Uri-Host/Port are the transport's.

    ``fmt`` picks the payload's serialization, its Content-Format (50 JSON, 60
    CBOR) and the Accept option, so the CSE answers in the same one.
    ``nonblocking_post=False`` sends non-blocking and flex-blocking requests
    with their own method and ``rt`` in the query, as ACME understands them,
    instead of TS-0008 §6.2.1's POST + ``op``.

    :class:`OneM2MUsageError` for what CoAP cannot carry: a CREATE without ``ty``
    (the receiver could not tell it from a NOTIFY, §6.2.1), content in a RETRIEVE
    other than a partial-retrieve attribute list, or in a DELETE.
    """
    if not isinstance(request, RequestPrimitive):
        raise OneM2MUsageError(f"expected a RequestPrimitive, got {type(request).__name__}")
    fmt, content_format = _content_format_of(fmt)
    op = request.op
    if op is Operation.CREATE and request.ty is None:
        raise OneM2MUsageError(
            "a CREATE needs ty (the resource type)",
            hint="over CoAP a POST without oneM2M-TY is a NOTIFY (TS-0008 §6.2.1)",
        )
    to, attributes = partial_retrieve(request)  # To#attr and m2m:atrl -> atrl= in the query
    uri_path, _ = to_uri_path(to)
    op_in_query = nonblocking_post and request.rt is not None and request.rt.rtv in _NON_BLOCKING
    code = METHOD_POST if op_in_query else _METHOD_OF[op]

    options: dict[int, bytes] = {}
    for name, number, codec in _REQUEST_OPTIONS:
        value = getattr(request, name)
        if value is not None:
            options[number] = codec.encode(value, name)
    if op is Operation.CREATE:
        options[OneM2MOption.TY] = _enc_uint(request.ty, "ty")
    if request.rt is not None and request.rt.nu:
        # Several URIs joined by '&', as ACME writes and reads oneM2M-RTURI (CoAPServer.py).
        if any("&" in uri for uri in request.rt.nu):
            raise OneM2MUsageError("a notificationURI of rt contains '&', which separates URIs in oneM2M-RTURI")
        options[OneM2MOption.RTURI] = _encode_text("&".join(request.rt.nu), "rt.nu")
    options[OPTION_ACCEPT] = encode_uint(content_format)

    if request.extra:
        raise OneM2MUsageError(f"parameters {sorted(request.extra)} have no place in a CoAP request (TS-0008 §6.2.2)")
    if op is Operation.DELETE and request.pc is not None:
        raise OneM2MUsageError("a DELETE carries neither content nor '#attribute' in To over CoAP")
    payload = b""
    if request.pc is not None and op is not Operation.RETRIEVE:
        payload = serialize_content(request.pc, fmt)
    query = _uri_query(request, op_in_query, attributes)
    return CoapRequest(code, uri_path, query, options, payload, content_format if payload else None)


def _format_of(content_format: int | None, fallback: Format, where: str) -> Format:
    if content_format is None:
        return fallback
    if content_format not in CONTENT_FORMATS:
        raise OneM2MProtocolError(
            f"Content-Format {content_format} is not a oneM2M serialization (JSON 50, CBOR 60, "
            "or TS-0008 Table 6.2.2.2-1)",
            where=where,
            rsc=_RSC.UNSUPPORTED_MEDIA_TYPE,
        )
    fmt = CONTENT_FORMATS[content_format]
    if fmt is None:
        raise OneM2MProtocolError(
            f"Content-Format {content_format} is XML, which m2mclient does not read",
            where=where,
            rsc=_RSC.UNSUPPORTED_MEDIA_TYPE,
        )
    return fmt


def _read_options(
    options: Mapping[int, bytes], table: Sequence[tuple[str, OneM2MOption, _OptionCodec]]
) -> dict[str, Any]:
    values = {}
    for name, number, codec in table:
        raw = options.get(number)
        if raw is not None:
            values[name] = codec.decode(bytes(raw), number)
    return values


def _split_query(uri_query: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in uri_query:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise OneM2MProtocolError(f"{item!r:.60} is not name=value", where="Uri-Query")
        pairs.append((name, value))
    return pairs


def coap_to_request(  # noqa: PLR0917  # the fields of CoapRequest, so coap_to_request(*parts) works
    code: int,
    uri_path: Sequence[str],
    uri_query: Sequence[str],
    options: Mapping[int, bytes],
    payload: bytes,
    content_format: int | None,
    *,
    fmt: Format | str = Format.JSON,
) -> RequestPrimitive:
    """The request primitive a CoAP request carries (TS-0008 §6.2), e.g. a CSE's NOTIFY to the AE.

    ``options`` as :func:`collect_options` returns them; ``fmt`` is assumed for a
    payload without Content-Format. Anything malformed is a
    :class:`OneM2MProtocolError` whose ``rsc`` is the code to answer with.
    """
    fallback = Format(fmt)
    query = query_to_parameters(_split_query(uri_query), COAP_URI_QUERY)
    op_values = query.binding.get("op", ())
    if code == METHOD_POST:
        # TS-0008 §6.2.1: a POST is a CREATE with oneM2M-TY, a NOTIFY without; op in
        # the query (non-blocking, §6.3.2-6.3.4) names any operation.
        op = Operation.CREATE if OneM2MOption.TY in options else Operation.NOTIFY
        if op_values:
            try:
                if len(op_values) != 1:
                    raise ValueError
                op = Operation(non_negative_int(op_values[0], "Uri-Query op"))
            except ValueError:
                raise OneM2MProtocolError(
                    f"op={op_values!r:.40} is not one Operation (1..5)", where="Uri-Query op"
                ) from None
    elif code in _OPERATION_OF and not op_values:
        op = _OPERATION_OF[code]
    else:
        raise OneM2MProtocolError(
            f"CoAP code {code >> 5}.{code & 0x1F:02d} is not a oneM2M request"
            + (" (op in the query needs POST, TS-0008 §6.2.1)" if op_values else ""),
            where="code",
            rsc=_RSC.OPERATION_NOT_ALLOWED,
        )

    known = _read_options(options, _REQUEST_OPTIONS)
    rqi = known.get("rqi")
    if not rqi:
        raise OneM2MProtocolError("oneM2M-RQI is missing or empty (TS-0004 §7.2.1.1)", where="oneM2M-RQI (283)")
    ty_raw = options.get(OneM2MOption.TY)
    if ty_raw is not None:
        known["ty"] = enum_or_int(ResourceType, decode_uint(bytes(ty_raw), OneM2MOption.TY))
    nu: tuple[str, ...] | None = None
    if OneM2MOption.RTURI in options:
        text = _decode_text(bytes(options[OneM2MOption.RTURI]), OneM2MOption.RTURI)
        nu = tuple(uri for uri in text.split("&") if uri)

    pc: Any = None
    if payload:
        pc = deserialize_content(bytes(payload), _format_of(content_format, fallback, "Content-Format"))
    fields = request_fields(query, op=op, to=from_uri_path(uri_path), pc=pc, nu=nu, dialect=COAP_URI_QUERY)
    try:
        return RequestPrimitive(op=op, **fields, **known)
    except OneM2MUsageError as exc:  # a value the primitive refuses is the peer's fault here
        raise OneM2MProtocolError(exc.reason or str(exc), where="request") from None


# ---------------------------------------------------------------------------
# Response primitive <-> CoAP response
# ---------------------------------------------------------------------------


def response_to_coap(
    response: ResponsePrimitive, fmt: Format | str = Format.JSON, *, op: Operation | None = None
) -> CoapResponse:
    """The CoAP response for ``response`` to an ``op`` request (TS-0008 §6.2.3, §6.2.4).

    The code follows Table 6.2.4-1, the RSC always travels in oneM2M-RSC as well;
    2000 OK to a NOTIFY is 2.04 Changed with an empty payload (so ``pc`` is left
    out there, as the table demands). :class:`OneM2MUsageError` for 1000 ACCEPTED
    ("not used" over CoAP) and for a Token Request Information (``tqf``), which
    this binding does not carry.
    """
    if not isinstance(response, ResponsePrimitive):
        raise OneM2MUsageError(f"expected a ResponsePrimitive, got {type(response).__name__}")
    fmt, content_format = _content_format_of(fmt)
    code = rsc_to_coap(response.rsc, op)
    if code is None:
        raise OneM2MUsageError(
            f"{int(response.rsc)} has no CoAP response code (TS-0008 Table 6.2.4-1: not used)",
            hint="answer 1001 or 1002 for an accepted non-blocking request",
        )
    if response.tqf is not None:
        raise OneM2MUsageError("Token Request Information (tqf) is not supported by the CoAP binding")
    if response.extra:
        raise OneM2MUsageError(f"parameters {sorted(response.extra)} have no place in a CoAP response")
    options = {int(OneM2MOption.RSC): encode_uint(int(response.rsc))}
    for name, number, codec in _RESPONSE_OPTIONS:
        value = getattr(response, name)
        if value is not None:
            options[number] = codec.encode(value, name)
    empty = response.rsc == _RSC.OK and op is Operation.NOTIFY
    payload = serialize_content(response.pc, fmt) if response.pc is not None and not empty else b""
    return CoapResponse(code, options, payload, content_format if payload else None)


def _describe_code(code: int) -> str:
    """``"4.08 Request Entity Incomplete"``; codes aiocoap does not know keep only their number."""
    name = codes.Code(code).name
    known = isinstance(name, str) and not name.startswith("(")
    return f"{code >> 5}.{code & 0x1F:02d}" + (f" {name.replace('_', ' ').title()}" if known else "")


# Why a peer answers with a bare CoAP error (no oneM2M-RSC): its CoAP layer refused
# the message before any oneM2M processing. What a person can do about each.
_COAP_LAYER_ERRORS: Mapping[int, str] = {
    coap_code(4, 2): "the receiver rejected a CoAP option (a critical oneM2M option it does not know?)",
    coap_code(4, 8): (
        "the receiver lost a block-wise (Block1) request; ACME 2026.5.3 answers every Block1 transfer "
        "this way: create the binding with blockwise=False (requests up to ~4 KB then go in one datagram)"
    ),
    coap_code(4, 13): "the request is too large for the receiver; send less, or use block-wise transfer",
    coap_code(4, 15): "the receiver does not take this Content-Format",
}


def coap_to_response(
    code: int,
    options: Mapping[int, bytes],
    payload: bytes,
    content_format: int | None,
    *,
    fmt: Format | str = Format.JSON,
) -> ResponsePrimitive:
    """The response primitive a CoAP response carries (TS-0008 §6.2.3, §6.2.4).

    The RSC comes from oneM2M-RSC; without it (a CoAP-layer error such as ACME's
    4.08 for Block1) it is derived from the code with
    :func:`~m2mclient.onem2m.primitives.coap_to_rsc` and ``pc`` becomes an
    ``m2m:dbg`` text that names the CoAP code (and the diagnostic payload, if any).
    ``fmt`` is assumed for a payload without Content-Format.
    """
    fallback = Format(fmt)
    if not 2 <= code >> 5 <= 5 or (code >> 5) == 3:
        raise OneM2MProtocolError(f"CoAP code {code >> 5}.{code & 0x1F:02d} is not a response", where="code")
    known = _read_options(options, _RESPONSE_OPTIONS)
    raw_rsc = options.get(OneM2MOption.RSC)
    pc: Any = None
    if raw_rsc is not None:
        rsc = decode_uint(bytes(raw_rsc), OneM2MOption.RSC)
        if not 1000 <= rsc <= 6999:
            raise OneM2MProtocolError(f"{rsc} is not a Response Status Code", where="oneM2M-RSC (307)")
    else:
        rsc = coap_to_rsc(code)
        if code >> 5 != 2 and content_format is None:
            # RFC 7252 §5.5.2: an error payload without Content-Format is diagnostic text.
            diagnostic = bytes(payload).decode("utf-8", errors="replace").strip()
            text = f"CoAP {_describe_code(code)} without oneM2M-RSC"
            if code in _COAP_LAYER_ERRORS:
                text += f": {_COAP_LAYER_ERRORS[code]}"
            if diagnostic:
                text += f" (diagnostic: {diagnostic[:200]})"
            pc = {"m2m:dbg": text}
            payload = b""
    if payload:
        pc = deserialize_content(bytes(payload), _format_of(content_format, fallback, "Content-Format"))
    try:
        return ResponsePrimitive(rsc=rsc, pc=pc, **known)
    except OneM2MUsageError as exc:
        raise OneM2MProtocolError(exc.reason or str(exc), where="response") from None


# ---------------------------------------------------------------------------
# The binding: aiocoap glue
# ---------------------------------------------------------------------------


def _to_message(code: int, options: Mapping[int, bytes], payload: bytes, content_format: int | None) -> Any:
    message = aiocoap.Message(code=codes.Code(code), payload=payload)
    if content_format is not None:
        message.opt.content_format = content_format
    for number, value in options.items():
        if number == OPTION_ACCEPT:
            message.opt.accept = int.from_bytes(value, "big")
        else:
            message.opt.add_option(optiontypes.OpaqueOption(number, value))
    return message


def _content_format(message: Any) -> int | None:
    number = message.opt.content_format  # aiocoap's ContentFormat, or None
    return None if number is None else int(number)


def _options_of(message: Any) -> dict[int, bytes]:
    return collect_options((int(option.number), option.encode()) for option in message.opt.option_list())


class _NotificationResource(coap_resource.Resource):  # type: ignore[misc]  # aiocoap is untyped
    """The AE's CoAP server: every path, every method, handed to the binding."""

    def __init__(self, binding: CoapBinding) -> None:
        super().__init__()
        self._binding = binding

    async def render(self, request: Any) -> Any:
        return await self._binding._answer(request)


class CoapBinding:
    """An AE's link to one CSE over CoAP (TS-0008), with a receiver for the CSE's requests.

    ``url`` is the CSE's ``coap://host:port``; targets (To) become the Uri-Path.
    ``notification_host``/``notification_port`` is where the AE listens (port 0:
    the kernel picks one after :meth:`open`); requests to the CSE leave from that
    same socket, so :attr:`point_of_access` is also the address the CSE sees.
    ``timeout`` bounds each :meth:`send`. ``blockwise=False`` turns RFC 7959
    block-wise transfer off (needed for ACME, see the module notes);
    ``nonblocking_post=False`` sends non-blocking requests with their own method.

    >>> binding = CoapBinding("coap://127.0.0.1:5683")  # doctest: +SKIP
    >>> async with binding:  # doctest: +SKIP
    ...     response = await binding.send(request)
    """

    def __init__(
        self,
        url: str,
        *,
        serialization: Format = Format.JSON,
        notification_host: str = "127.0.0.1",
        notification_port: int = 0,
        timeout: float = 30.0,
        blockwise: bool = True,
        nonblocking_post: bool = True,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "coaps":
            raise OneM2MUsageError(
                f"{url!r}: the CoAP binding speaks coap:// only (no DTLS yet)",
                hint="ACME 2026.5.3 has no CoAP DTLS either ('CoAP security is not yet supported')",
            )
        if scheme != "coap" or not parts.hostname:
            raise OneM2MUsageError(f"{url!r} is not a coap://host[:port] URL")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise OneM2MUsageError(
                f"{url!r}: give the CSE's point of access only, coap://host:port",
                hint="the target (e.g. 'cse-in/myae') goes in each request's To, which becomes the Uri-Path",
            )
        try:
            self.format = Format(serialization)
        except ValueError:
            raise OneM2MUsageError(f"unknown serialization {serialization!r}; use Format.JSON or Format.CBOR") from None
        if not isinstance(notification_port, int) or not 0 <= notification_port <= 65535:
            raise OneM2MUsageError(f"notification_port must be 0..65535, got {notification_port!r}")
        if not timeout > 0:
            raise OneM2MUsageError(f"timeout must be positive seconds, got {timeout!r}")
        self.url = f"coap://{parts.netloc}"
        self.notification_host = notification_host
        self.notification_port = notification_port
        self.timeout = float(timeout)
        self.blockwise = bool(blockwise)
        self.nonblocking_post = bool(nonblocking_post)
        self._context: Any = None
        self._handler: RequestHandler | None = None
        self._bound_port: int | None = None

    def __repr__(self) -> str:
        state = "open" if self._context is not None else "closed"
        return f"<CoapBinding {self.url} {self.format} {state}>"

    @property
    def point_of_access(self) -> list[str]:
        """``["coap://host:port"]`` of the AE's receiver (the port is known once :meth:`open` ran)."""
        port = self._bound_port if self._bound_port is not None else self.notification_port
        if port == 0:
            raise OneM2MUsageError(
                "the receiver's port is not known yet", hint="await binding.open() first, or give notification_port"
            )
        host = self.notification_host
        return [f"coap://[{host}]:{port}" if ":" in host else f"coap://{host}:{port}"]

    async def open(self) -> None:
        """Start the endpoint: listen on ``notification_host:notification_port`` and send from there."""
        if self._context is not None:
            return
        from m2mclient.coap.context import bound_port, create_endpoint

        try:
            self._context = await create_endpoint(
                _NotificationResource(self), self.url, bind=(self.notification_host, self.notification_port)
            )
        except OSError as exc:
            raise OneM2MUsageError(
                f"cannot listen for notifications on {self.notification_host}:{self.notification_port}: {exc}",
                hint="pick a free notification_port, or 0 for any",
            ) from exc
        self._bound_port = bound_port(self._context)
        logger.debug("CoAP binding to %s listening on port %s", self.url, self._bound_port)

    async def close(self) -> None:
        """Stop listening; a later :meth:`open` starts afresh."""
        context, self._context = self._context, None
        self._bound_port = None
        if context is not None:
            await context.shutdown()

    async def __aenter__(self) -> CoapBinding:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def serve(self, handler: RequestHandler) -> None:
        """Answer the CSE's requests (NOTIFY) with ``handler``; a later call replaces it."""
        self._handler = handler

    async def send(self, request: RequestPrimitive, *, timeout: float | None = None) -> ResponsePrimitive:
        """Send ``request`` to the CSE and return its response primitive, whatever the RSC.

        Raises :class:`OneM2MUsageError` for a request CoAP cannot carry and
        :class:`OneM2MProtocolError` for a response that is not valid oneM2M (or
        is cut short: block-wise disabled and the CSE answered with Block2). A
        missing response is a locally made 4008 / 5103 response (module notes).
        The response's ``rqi`` is always the request's: the CoAP token pairs them,
        and a differing oneM2M-RQI (ACME sends "None" for a request it could not
        parse) is only logged.
        """
        if self._context is None:
            raise OneM2MUsageError("the CoAP binding is not open", hint="await binding.open() (or use 'async with')")
        coap = request_to_coap(request, self.format, nonblocking_post=self.nonblocking_post)
        message = _to_message(coap.code, coap.options, coap.payload, coap.content_format)
        message.set_request_uri(self.url)
        message.opt.uri_path = coap.uri_path
        message.opt.uri_query = coap.uri_query
        wait = self.timeout if timeout is None else timeout
        try:
            reply = await asyncio.wait_for(
                self._context.request(message, handle_blockwise=self.blockwise).response, wait
            )
        except asyncio.TimeoutError:
            return self._local_answer(request, _RSC.REQUEST_TIMEOUT, self._timeout_text(wait))
        except coap_error.Error as exc:
            # ConRetransmitsExceeded (no ACK), ICMP errors, unresolvable host: nothing was processed.
            return self._local_answer(
                request, _RSC.TARGET_NOT_REACHABLE, f"no CoAP exchange with {self.url}: {exc!r:.200}"
            )
        return self._response_of(request, reply)

    def _timeout_text(self, wait: float) -> str:
        text = f"no CoAP response from {self.url} within {wait:g} s (TS-0008 §6.3.1)"
        if self.blockwise:
            text += (
                "; if the response exceeds 1024 B and the CSE is ACME 2026.5.3, its Block2 transfer never "
                "completes: use blockwise=False and rcn=0, or retrieve less"
            )
        return text

    def _local_answer(self, request: RequestPrimitive, rsc: ResponseStatusCode, text: str) -> ResponsePrimitive:
        logger.warning("%s %s: %s", request.op.name, request.to, text)
        return ResponsePrimitive(rsc=rsc, rqi=request.rqi, rvi=request.rvi, pc={"m2m:dbg": f"m2mclient: {text}"})

    def _response_of(self, request: RequestPrimitive, reply: Any) -> ResponsePrimitive:
        block2 = reply.opt.block2
        options = _options_of(reply)
        if block2 is not None and block2.more:
            rsc = options.get(OneM2MOption.RSC)
            status = f"RSC {decode_uint(rsc, OneM2MOption.RSC)}" if rsc is not None else _describe_code(int(reply.code))
            size = f"{reply.opt.size2} B" if reply.opt.size2 is not None else "more"
            raise OneM2MProtocolError(
                f"the CSE answered {status} with block 0 ({len(reply.payload)} B) of {size}, "
                "and block-wise transfer is off (blockwise=False): the response content is incomplete",
                where="Block2",
                hint="the operation itself may have succeeded; ask for less (rcn=0 on CREATE/UPDATE, "
                "a partial retrieve), or enable block-wise if the CSE supports it",
            )
        response = coap_to_response(int(reply.code), options, reply.payload, _content_format(reply), fmt=self.format)
        if response.rqi != request.rqi:
            # The CoAP token has already matched response to request (TS-0008 §6.2.2.1), so a
            # missing or different oneM2M-RQI is the peer's slip, not another request's answer:
            # ACME sends the text "None" when it could not parse the request.
            if response.rqi is not None:
                logger.warning(
                    "%s %s: the CSE echoed RQI %r for %r", request.op.name, request.to, response.rqi, request.rqi
                )
            return dataclasses.replace(response, rqi=request.rqi)
        return response

    # --- receiver ---------------------------------------------------------------------

    def _reply_format(self, request: Any) -> Format:
        for number in (request.opt.accept, request.opt.content_format):
            fmt = CONTENT_FORMATS.get(int(number)) if number is not None else None
            if fmt is not None:
                return fmt
        return self.format

    async def _answer(self, message: Any) -> Any:
        """Render one incoming CoAP request: decode, ask the handler, encode its answer."""
        reply_format = self._reply_format(message)
        op: Operation | None = None
        try:
            request = coap_to_request(
                int(message.code),
                tuple(message.opt.uri_path),
                tuple(message.opt.uri_query),
                _options_of(message),
                message.payload,
                _content_format(message),
                fmt=self.format,
            )
        except OneM2MProtocolError as exc:
            logger.warning("malformed oneM2M request over CoAP from %s: %s", message.remote, exc)
            response = ResponsePrimitive(rsc=exc.rsc, rqi=_rqi_of(message), pc={"m2m:dbg": str(exc)})
        else:
            op = request.op
            response = await self._dispatch(request)
        try:
            coap = response_to_coap(response, reply_format, op=op)
        except OneM2MUsageError as exc:
            logger.error("the request handler's answer cannot go over CoAP: %s", exc)
            coap = response_to_coap(
                ResponsePrimitive(rsc=_RSC.INTERNAL_SERVER_ERROR, rqi=response.rqi, pc={"m2m:dbg": str(exc)}),
                reply_format,
            )
        return _to_message(coap.code, coap.options, coap.payload, coap.content_format)

    async def _dispatch(self, request: RequestPrimitive) -> ResponsePrimitive:
        handler = self._handler
        if handler is None:
            logger.warning("%s %s from %s: no handler (Binding.serve)", request.op.name, request.to, request.fr)
            return ResponsePrimitive(
                rsc=_RSC.NOT_IMPLEMENTED,
                rqi=request.rqi,
                pc={"m2m:dbg": "this AE has no request handler (Binding.serve was not called)"},
            )
        try:
            response: object = await handler(request)
        except Exception as exc:  # a bug in the application must not leave the CSE waiting
            logger.exception("request handler failed on %s %s", request.op.name, request.to)
            return ResponsePrimitive(
                rsc=_RSC.INTERNAL_SERVER_ERROR, rqi=request.rqi, pc={"m2m:dbg": f"handler error: {exc!r:.200}"}
            )
        if not isinstance(response, ResponsePrimitive):
            logger.error("request handler returned %r, not a ResponsePrimitive", type(response).__name__)
            return ResponsePrimitive(
                rsc=_RSC.INTERNAL_SERVER_ERROR, rqi=request.rqi, pc={"m2m:dbg": "handler returned no response"}
            )
        # TS-0004 §7.2.1.2: the response echoes the request's identifier.
        return dataclasses.replace(response, rqi=response.rqi or request.rqi, rvi=response.rvi or request.rvi)


def _rqi_of(message: Any) -> str | None:
    """The request identifier of a request that failed to decode, if it can be read at all."""
    for option in message.opt.option_list():
        if int(option.number) == OneM2MOption.RQI:
            try:
                return str(option.encode().decode("utf-8")) or None
            except UnicodeDecodeError:
                return None
    return None
