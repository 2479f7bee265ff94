"""The oneM2M HTTP binding (TS-0009 V4.4.1): h11 parses HTTP/1.1, asyncio moves the bytes.

Two halves:

* **Sans-IO mapping** (pure functions, no sockets, no clocks), the four use cases
  of TS-0009 §6.1: :func:`request_to_http` (request primitive -> method,
  request-target, headers, body), :func:`http_to_request` (the reverse, for the
  AE's receiver), :func:`response_to_http` (response primitive -> status,
  headers, body) and :func:`http_to_response` (the reverse), with
  :func:`to_path` / :func:`path_to_to` for the three resource-ID forms of
  §6.2.2.1. The query string of §6.2.2.2 is :mod:`m2mclient.onem2m.query`'s
  mapping (shared with the CoAP binding's Uri-Query), percent-encoded per RFC
  3986 and joined with ``&``.

* **I/O**: :class:`HttpBinding`, the :class:`~m2mclient.onem2m.bindings.base.Binding`
  an AE uses. Requests go out over a small pool of keep-alive connections (one
  request in flight per connection; a server's ``Connection: close`` is obeyed; an
  idle connection the server dropped is replaced transparently, once). Requests
  the CSE sends (NOTIFY, subscription verification, deletion notices) arrive at an
  HTTP/1.1 server on ``notification_host:notification_port``, accepting any path
  (ACME posts to ``<poa>/<AE-ID>`` when ``nu`` is an AE-ID), and go to the handler
  registered with :meth:`HttpBinding.serve`.

There is no HTTP proxy support: connections go straight to the CSE, so the
``http_proxy`` family of environment variables (which would send a loopback CSE's
traffic to a proxy) never applies. h11 is an optional dependency: install
``m2mclient[http]``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import ipaddress
import logging
import ssl
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

try:
    import h11
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the oneM2M HTTP binding needs h11: pip install 'm2mclient[http]' (or pip install h11)") from exc

from m2mclient.onem2m.bindings.base import RequestHandler
from m2mclient.onem2m.primitives import (
    OneM2MError,
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    RequestPrimitive,
    ResponsePrimitive,
    ResponseStatusCode,
    http_to_rsc,
    rsc_to_http,
)
from m2mclient.onem2m.query import (
    HTTP_QUERY,
    number_or_text,
    partial_retrieve,
    query_to_parameters,
    request_fields,
    request_query_items,
    scalar_text,
)
from m2mclient.onem2m.serialization import (
    Format,
    MediaType,
    content_type,
    deserialize_content,
    parse_media_type,
    serialize_content,
)

__all__ = [
    "HttpBinding",
    "HttpConnectionError",
    "HttpRequestParts",
    "HttpResponseParts",
    "HttpTimeoutError",
    "http_to_request",
    "http_to_response",
    "path_to_to",
    "request_to_http",
    "response_to_http",
    "to_path",
]

logger = logging.getLogger(__name__)

RSC = ResponseStatusCode

# ---------------------------------------------------------------------------
# Header names (TS-0009 §6.4). HTTP header names are case-insensitive (§5.1);
# these spellings are the ones we send.
# ---------------------------------------------------------------------------

H_ORIGIN = "X-M2M-Origin"  # §6.4.7  From
H_RI = "X-M2M-RI"  # §6.4.8  Request Identifier
H_GID = "X-M2M-GID"  # §6.4.10 Group Request Identifier
H_RTU = "X-M2M-RTU"  # §6.4.11 notificationURI of Response Type, '&'-separated
H_OT = "X-M2M-OT"  # §6.4.12 Originating Timestamp
H_RST = "X-M2M-RST"  # §6.4.13 Result Expiration Timestamp
H_RET = "X-M2M-RET"  # §6.4.14 Request Expiration Timestamp
H_OET = "X-M2M-OET"  # §6.4.15 Operation Execution Time
H_EC = "X-M2M-EC"  # §6.4.16 Event Category
H_RSC = "X-M2M-RSC"  # §6.4.17 Response Status Code
H_ATI = "X-M2M-ATI"  # §6.4.18 Assigned Token Identifiers, lti:tkid pairs '+'-separated
H_AUTHORIZATION = "Authorization"  # §6.4.19 Tokens, '+'-separated
H_CTS = "X-M2M-CTS"  # §6.4.20 Content Status
H_CTO = "X-M2M-CTO"  # §6.4.21 Content Offset
H_RVI = "X-M2M-RVI"  # §6.4.22 Release Version Indicator
H_VSI = "X-M2M-VSI"  # §6.4.23 Vendor Information
H_AS = "X-M2M-AS"  # §6.4.24 Authorization Signatures, '+'-separated
H_ASRI = "X-M2M-ASRI"  # §6.4.25 Authorization Signature Request Information
H_OMR = "X-M2M-OMR"  # §6.4.26 Ontology Mapping Resources, '+'-separated
H_MSU = "X-M2M-MSU"  # §6.4.27 M2M Service User
H_PRPI = "X-M2M-PRPI"  # §6.4.28 Primitive Profile Identifier

# TS-0009 §6.2.1, Table 6.2.1-1.
_METHOD_BY_OP: Mapping[Operation, str] = {
    Operation.CREATE: "POST",
    Operation.RETRIEVE: "GET",
    Operation.UPDATE: "PUT",
    Operation.DELETE: "DELETE",
    Operation.NOTIFY: "POST",
}
# POST is CREATE or NOTIFY, told apart by ;ty= in Content-Type (§6.2.1).
_OP_BY_METHOD: Mapping[str, Operation] = {
    "GET": Operation.RETRIEVE,
    "PUT": Operation.UPDATE,
    "DELETE": Operation.DELETE,
}


class HttpRequestParts(NamedTuple):
    """An HTTP request as data: what :func:`request_to_http` returns."""

    method: str
    target: str  # origin-form: path [?query]
    headers: list[tuple[str, str]]
    body: bytes


class HttpResponseParts(NamedTuple):
    """An HTTP response as data: what :func:`response_to_http` returns."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


# ---------------------------------------------------------------------------
# Path component (TS-0009 §6.2.2.1)
# ---------------------------------------------------------------------------

# RFC 3986 pchar plus "/" stay as they are; everything else is percent-encoded.
_PATH_SAFE = "/!$&'()*+,;=:@"


def to_path(to: str) -> str:
    """The origin-form path for the resource-ID part of ``to`` (TS-0009 §6.2.2.1).

    * CSE-relative ``cse-in/ae/cnt`` -> ``/cse-in/ae/cnt`` ("/" + To),
    * SP-relative ``/id-in/cse-in/ae`` -> ``/~/id-in/cse-in/ae`` ("/~" + To),
    * absolute ``//sp.example/id-in/x`` -> ``/_/sp.example/id-in/x`` (first "/" -> "/_").

    Characters outside RFC 3986 ``pchar`` are percent-encoded. ``to`` must not
    carry a ``#attribute`` fragment here (see :func:`request_to_http`).
    """
    if not isinstance(to, str) or not to:
        raise OneM2MUsageError(f"To must be a non-empty string, got {to!r}")
    if to.startswith("//"):
        path = "/_" + to[1:]
    elif to.startswith("/"):
        path = "/~" + to
    else:
        path = "/" + to
    return quote(path, safe=_PATH_SAFE)


def path_to_to(path: str, root: str = "") -> str:
    """The To parameter for an origin-form ``path``: the reverse of :func:`to_path` (TS-0009 §6.2.2.1).

    ``root`` is a path prefix the server lives under (ACME's ``[http] root``)
    and is removed first. An empty remainder (a request to the server's root,
    e.g. a NOTIFY to a poa of ``http://host:port``) gives ``"/"``.
    """
    path = unquote(path)
    if root:
        root = "/" + root.strip("/")
        if path == root or path.startswith(root + "/"):
            path = path[len(root) :]
    if path.startswith("/_/"):
        to = "/" + path[2:]  # "/_/sp/cse/x" -> "//sp/cse/x"
    elif path.startswith("/~/"):
        to = path[2:]  # "/~/cse/x" -> "/cse/x"
    else:
        to = path[1:] if path.startswith("/") else path
    return to or "/"


# ---------------------------------------------------------------------------
# Query component (TS-0009 §6.2.2.2): m2mclient.onem2m.query, joined with '&'
# ---------------------------------------------------------------------------


def _query_string(request: RequestPrimitive, attributes: list[str]) -> str:
    return "&".join(f"{name}={value}" for name, value in request_query_items(request, attributes, HTTP_QUERY))


def _query_items(query: str) -> list[tuple[str, str]]:
    """The query's (name, value) items, still percent-encoded; empty ones ('a&&b') are skipped."""
    return [part.partition("=")[::2] for part in query.split("&") if part]


# ---------------------------------------------------------------------------
# Request primitive -> HTTP request (TS-0009 §6.1 use case 1)
# ---------------------------------------------------------------------------


def request_to_http(request: RequestPrimitive, fmt: Format | str = Format.JSON, *, root: str = "") -> HttpRequestParts:
    """Map a request primitive to an HTTP request (TS-0009 §6.2, §6.4, §6.5).

    * method from ``op`` (Table 6.2.1-1: C/N POST, R GET, U PUT, D DELETE);
    * target: ``root`` + :func:`to_path` of ``to``, then the query string of
      Table 6.2.2.2-1 (rt, rp, rcn, da, the filter criteria with '+' for
      multiplicity and attribute conditions as ``name=value``, drt, rids, tids,
      ltids, tqi, asi, auri, sqi). A partial RETRIEVE's attribute names (``to``
      ending in ``#attr`` or content ``{"m2m:atrl": [...]}``) become ``atrl=a+b``;
    * headers: X-M2M-Origin/RI/RVI/OT/RET/RST/OET/EC/GID/VSI/MSU/PRPI, X-M2M-RTU
      (the ``nu`` of rt), Authorization (tokens, '+'-joined), X-M2M-AS, X-M2M-OMR,
      ``Accept`` for ``fmt``, and with a body ``Content-Type`` (``;ty=N`` on
      CREATE, §6.4.3) and ``Content-Length``.

    Host is the transport's to add. :class:`OneM2MUsageError` for what HTTP
    cannot carry (content in a DELETE, group target members ``gtm``, ...).
    """
    if not isinstance(request, RequestPrimitive):
        raise OneM2MUsageError(f"expected a RequestPrimitive, got {type(request).__name__}")
    fmt = Format(fmt)
    op = request.op
    if request.gtm is not None:
        raise OneM2MUsageError("Group Request Target Members (gtm) has no TS-0009 HTTP mapping")

    # §6.2.2.2: a partial RETRIEVE's attribute names (To#attr, m2m:atrl) go to the query as atrl=.
    to, attributes = partial_retrieve(request)
    body = b""
    if request.pc is not None and op is not Operation.RETRIEVE:
        if op is Operation.DELETE:
            raise OneM2MUsageError("a DELETE carries no content")
        body = serialize_content(request.pc, fmt)

    path = to_path(to)
    if root.strip("/"):
        path = "/" + quote(root.strip("/"), safe=_PATH_SAFE) + path
    query = _query_string(request, attributes)
    target = f"{path}?{query}" if query else path

    headers: list[tuple[str, str]] = []
    if request.fr is not None:
        headers.append((H_ORIGIN, request.fr))
    headers.append((H_RI, request.rqi))
    if request.rvi is not None:
        headers.append((H_RVI, request.rvi))
    optional: tuple[tuple[str, Any], ...] = (
        (H_OT, request.ot),
        (H_RET, request.rqet),
        (H_RST, request.rset),
        (H_OET, request.oet),
        (H_EC, request.ec),
        (H_GID, request.gid),
        (H_VSI, request.vsi),
        (H_MSU, request.msu),
        (H_PRPI, request.prpi),
    )
    for name, value in optional:
        if value is not None:
            headers.append((name, scalar_text(value, name)))
    if request.rt is not None and request.rt.nu:
        headers.append((H_RTU, "&".join(request.rt.nu)))  # §6.4.11
    if request.tkns:
        headers.append((H_AUTHORIZATION, "+".join(request.tkns)))  # §6.4.19
    if request.aus:
        headers.append((H_AS, "+".join(request.aus)))  # §6.4.24
    if request.omr:
        headers.append((H_OMR, "+".join(request.omr)))  # §6.4.26
    headers.append(("Accept", content_type(fmt)))  # §6.4.2
    method = _METHOD_BY_OP[op]
    if body or op is Operation.CREATE:
        # §6.4.3: the resource type rides on Content-Type, and only on CREATE (it
        # is what tells a receiver's POST CREATE from NOTIFY).
        headers.append(("Content-Type", content_type(fmt, request.ty if op is Operation.CREATE else None)))
    if body or method in ("POST", "PUT"):
        headers.append(("Content-Length", str(len(body))))  # §6.4.5
    for name, value in headers:
        _check_header_value(name, value)
    return HttpRequestParts(method, target, headers, body)


def _check_header_value(name: str, value: str) -> None:
    # h11 would refuse these too, but later and without saying which parameter.
    if not value.isascii() or not value.isprintable() or value != value.strip():
        raise OneM2MUsageError(f"{name}: {value!r:.60} cannot be sent as an HTTP header value")


# ---------------------------------------------------------------------------
# HTTP request -> request primitive (TS-0009 §6.1 use case 2)
# ---------------------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


class _Headers:
    """Case-insensitive view of a header list (TS-0009 §5.1)."""

    def __init__(self, headers: Iterable[tuple[bytes | str, bytes | str]]) -> None:
        self._values: dict[str, list[str]] = {}
        try:
            for name, value in headers:
                self._values.setdefault(_text(name).strip().lower(), []).append(_text(value).strip())
        except (TypeError, ValueError):
            raise OneM2MProtocolError("headers must be (name, value) pairs", where="headers") from None

    def get(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        if not values:
            return None
        if len(values) > 1 and len(set(values)) > 1:
            raise OneM2MProtocolError(f"{name} appears {len(values)} times with different values", where=name)
        return values[0]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._values


def _header_number(hdrs: _Headers, name: str) -> str | int | None:
    """A header that is a number when all digits: relative ms (X-M2M-RET/RST/OET), an event category."""
    value = hdrs.get(name)
    return number_or_text(value, name) if value else None


def _plus_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(part.strip() for part in value.split("+") if part.strip())
    return items or None


def _split_target(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    query = query.partition("#")[0]  # a fragment is never sent; tolerate one
    if path.startswith(("http://", "https://")):  # absolute-form (via a proxy, §6.2.2.1)
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if not path.startswith("/"):
        raise OneM2MProtocolError(f"request-target {target!r:.60} is not origin-form ('/path?query')", where="target")
    return path, query


def _media(headers: _Headers) -> MediaType | None:
    value = headers.get("Content-Type")
    if value is None or value == "":
        return None
    return parse_media_type(value)


def http_to_request(
    method: bytes | str,
    target: bytes | str,
    headers: Iterable[tuple[bytes | str, bytes | str]],
    body: bytes = b"",
    *,
    root: str = "",
) -> RequestPrimitive:
    """Map an HTTP request back to a request primitive (TS-0009 §6.2, §6.4, §6.5).

    POST with ``;ty=`` in Content-Type is CREATE, without it NOTIFY (§6.2.1). The
    path gives ``to`` (:func:`path_to_to`, after removing ``root``); the query
    gives the parameters and filter criteria, any name outside Table 6.2.2.2-1
    being an attribute condition (``c.``/``p.`` prefixed: child/parent); one
    ``atrl`` name goes back into ``to`` after ``#``, several into content
    ``{"m2m:atrl": [...]}``. Tokens come from an ``Authorization`` header that is
    not a Basic/Bearer credential.

    Anything malformed is a :class:`OneM2MProtocolError` whose ``rsc`` is the
    answer to send (4000, 4015 for an unusable Content-Type, 4005 for a method
    TS-0009 does not use).
    """
    method_text = _text(method).upper()
    target_text = _text(target)
    if not isinstance(body, (bytes, bytearray)):
        raise OneM2MProtocolError(f"body must be bytes, got {type(body).__name__}", where="body")
    hdrs = _Headers(headers)
    path, query = _split_target(target_text)
    media = _media(hdrs)
    if method_text == "POST":
        op = Operation.CREATE if media is not None and media.ty is not None else Operation.NOTIFY
    elif method_text in _OP_BY_METHOD:
        op = _OP_BY_METHOD[method_text]
    else:
        raise OneM2MProtocolError(
            f"HTTP method {method_text!r:.20} has no oneM2M operation (TS-0009 Table 6.2.1-1)",
            where="method",
            rsc=RSC.OPERATION_NOT_ALLOWED,
        )

    rqi = hdrs.get(H_RI)
    if not rqi:
        raise OneM2MProtocolError("the X-M2M-RI header is missing (TS-0009 §6.4.8)", where=H_RI)
    query_parameters = query_to_parameters(_query_items(query), HTTP_QUERY)
    to = path_to_to(path, root)

    pc: dict[str, Any] | None = None
    if body:
        if media is None:
            raise OneM2MProtocolError(
                "a body without Content-Type (TS-0009 §6.4.3)", where="Content-Type", rsc=RSC.UNSUPPORTED_MEDIA_TYPE
            )
        pc = deserialize_content(bytes(body), media)
    rtu = hdrs.get(H_RTU)
    nu = None if rtu is None else tuple(u for u in rtu.split("&") if u)
    params = request_fields(query_parameters, op=op, to=to, pc=pc, nu=nu, dialect=HTTP_QUERY)
    authorization = hdrs.get(H_AUTHORIZATION)
    if authorization and authorization.split(" ", 1)[0].lower() not in ("basic", "bearer", "digest"):
        params["tkns"] = _plus_list(authorization)
    try:
        return RequestPrimitive(
            op=op,
            rqi=rqi,
            fr=hdrs.get(H_ORIGIN) or None,
            rvi=hdrs.get(H_RVI) or None,
            ty=media.ty if media is not None and op is Operation.CREATE else None,
            ot=hdrs.get(H_OT) or None,
            rqet=_header_number(hdrs, H_RET),
            rset=_header_number(hdrs, H_RST),
            oet=_header_number(hdrs, H_OET),
            ec=_header_number(hdrs, H_EC),
            gid=hdrs.get(H_GID) or None,
            vsi=hdrs.get(H_VSI) or None,
            msu=hdrs.get(H_MSU) or None,
            prpi=hdrs.get(H_PRPI) or None,
            aus=_plus_list(hdrs.get(H_AS)),
            omr=_plus_list(hdrs.get(H_OMR)),
            **params,
        )
    except OneM2MUsageError as exc:
        raise OneM2MProtocolError(exc.reason or str(exc), where="request") from None


# ---------------------------------------------------------------------------
# Response primitive <-> HTTP response (TS-0009 §6.1 use cases 3 and 4)
# ---------------------------------------------------------------------------


def _ati_header(ati: Any) -> str:
    """m2m:dynAuthLocalTokenIdAssignments -> "lti:tkid+lti:tkid" (§6.4.18)."""
    entries = ati.get("ltia") if isinstance(ati, Mapping) else ati
    if not isinstance(entries, (list, tuple)):
        raise OneM2MUsageError(f"ati must be {{'ltia': [{{'lti': ..., 'tkid': ...}}]}}, got {ati!r:.60}")
    pairs = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not {"lti", "tkid"} <= set(entry):
            raise OneM2MUsageError(f"an ati entry needs lti and tkid, got {entry!r:.60}")
        pairs.append(f"{entry['lti']}:{entry['tkid']}")
    return "+".join(pairs)


def _ati_value(header: str | None) -> dict[str, Any] | None:
    if header is None:
        return None
    entries = []
    for raw_pair in header.split("+"):
        pair = raw_pair.strip()
        if not pair:
            continue
        lti, colon, tkid = pair.partition(":")
        if not colon or not lti.strip() or not tkid.strip():
            raise OneM2MProtocolError(f"{pair!r:.40} is not lti:tkid (TS-0009 §6.4.18)", where=H_ATI)
        entries.append({"lti": lti.strip(), "tkid": tkid.strip()})
    return {"ltia": entries}


def response_to_http(response: ResponsePrimitive, fmt: Format | str = Format.JSON) -> HttpResponseParts:
    """Map a response primitive to an HTTP response (TS-0009 §6.3, §6.4, §6.5).

    Status from Table 6.3.2-1 (:func:`rsc_to_http`), the exact code in
    X-M2M-RSC (§6.4.17); X-M2M-RI/RVI/Origin/OT/RST/EC/CTS/CTO/VSI/ATI/ASRI as
    present; the content serialized in ``fmt`` with Content-Type and
    Content-Length (always sent, 0 without a body, so the peer never has to read
    to the end of the connection).
    """
    if not isinstance(response, ResponsePrimitive):
        raise OneM2MUsageError(f"expected a ResponsePrimitive, got {type(response).__name__}")
    fmt = Format(fmt)
    headers: list[tuple[str, str]] = [(H_RSC, str(int(response.rsc)))]
    optional: tuple[tuple[str, Any], ...] = (
        (H_RI, response.rqi),
        (H_RVI, response.rvi),
        (H_ORIGIN, response.fr),
        (H_OT, response.ot),
        (H_RST, response.rset),
        (H_EC, response.ec),
        (H_CTS, response.cnst),
        (H_CTO, response.cnot),
        (H_VSI, response.vsi),
        (H_ASRI, response.asri),
    )
    for name, value in optional:
        if value is not None:
            headers.append((name, scalar_text(value, name)))
    if response.ati is not None:
        headers.append((H_ATI, _ati_header(response.ati)))
    body = serialize_content(response.pc, fmt) if response.pc is not None else b""
    if body:
        headers.append(("Content-Type", content_type(fmt)))
    headers.append(("Content-Length", str(len(body))))
    for name, value in headers:
        _check_header_value(name, value)
    return HttpResponseParts(rsc_to_http(response.rsc), headers, body)


#: How much of a non-oneM2M error body (an HTML page from a proxy) is kept as debug text.
FOREIGN_BODY_CHARS = 500


def http_to_response(
    status: int, headers: Iterable[tuple[bytes | str, bytes | str]], body: bytes = b""
) -> ResponsePrimitive:
    """Map an HTTP response to a response primitive (TS-0009 §6.3, §6.4, §6.5).

    ``rsc`` comes from X-M2M-RSC; a peer that omits it (not a oneM2M server, e.g.
    a proxy's 502) gets the TS-0009 group's usual code for the status
    (:func:`~m2mclient.onem2m.primitives.http_to_rsc`). The body is decoded by
    Content-Type; an error response whose body is not JSON/CBOR (HTML, text) keeps
    the start of that text as ``{"m2m:dbg": ...}`` so it shows up in the error.
    :class:`OneM2MProtocolError` for anything else that cannot be read.
    """
    if not isinstance(status, int) or isinstance(status, bool):
        raise OneM2MProtocolError(f"status must be an integer, got {status!r:.20}", where="status")
    if not isinstance(body, (bytes, bytearray)):
        raise OneM2MProtocolError(f"body must be bytes, got {type(body).__name__}", where="body")
    hdrs = _Headers(headers)
    raw_rsc = hdrs.get(H_RSC)
    if raw_rsc is None or raw_rsc == "":
        rsc: int = http_to_rsc(status)
    elif raw_rsc.isdigit() and 1000 <= int(raw_rsc) <= 6999:
        rsc = int(raw_rsc)
    else:
        raise OneM2MProtocolError(f"X-M2M-RSC {raw_rsc!r:.20} is not a Response Status Code", where=H_RSC)

    pc: dict[str, Any] | None = None
    if body:
        try:
            media = _media(hdrs)
            if media is None:
                raise OneM2MProtocolError(
                    f"HTTP {status} with a {len(body)}-byte body but no Content-Type (TS-0009 §6.4.3)",
                    where="Content-Type",
                    rsc=RSC.UNSUPPORTED_MEDIA_TYPE,
                )
            pc = deserialize_content(bytes(body), media)
        except OneM2MProtocolError as exc:
            if not (status >= 400 or rsc >= 4000) or exc.rsc != RSC.UNSUPPORTED_MEDIA_TYPE:
                raise
            text = bytes(body[: FOREIGN_BODY_CHARS * 4]).decode("utf-8", "replace")[:FOREIGN_BODY_CHARS]
            pc = {"m2m:dbg": f"HTTP {status}: {text}"}
    try:
        cts = hdrs.get(H_CTS)
        cto = hdrs.get(H_CTO)
        return ResponsePrimitive(
            rsc=rsc,
            rqi=hdrs.get(H_RI) or None,
            pc=pc,
            fr=hdrs.get(H_ORIGIN) or None,
            rvi=hdrs.get(H_RVI) or None,
            ot=hdrs.get(H_OT) or None,
            rset=_header_number(hdrs, H_RST),
            ec=_header_number(hdrs, H_EC),
            cnst=_int_header(H_CTS, cts),
            cnot=_int_header(H_CTO, cto),
            ati=_ati_value(hdrs.get(H_ATI)),
            asri=hdrs.get(H_ASRI) or None,
            vsi=hdrs.get(H_VSI) or None,
            extra={"msu": hdrs.get(H_MSU)} if hdrs.get(H_MSU) else {},
        )
    except OneM2MUsageError as exc:
        raise OneM2MProtocolError(exc.reason or str(exc), where="response") from None


def _int_header(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise OneM2MProtocolError(f"{name} {value!r:.20} is not a number", where=name)
    return int(value)


# ---------------------------------------------------------------------------
# Errors of the transport
# ---------------------------------------------------------------------------


class HttpConnectionError(OneM2MError, ConnectionError):
    """The CSE could not be reached, or dropped the connection before answering.

    :attr:`rsc` is 5103 TARGET_NOT_REACHABLE (what a CSE would report for a
    peer it cannot reach). Nothing is known about whether the request was
    processed unless the message says the connection could not be opened.
    """

    _peer_answer = False

    def __init__(self, message: str, *, rsc: int = RSC.TARGET_NOT_REACHABLE, hint: str | None = None) -> None:
        super().__init__(message, rsc=rsc, hint=hint)


class HttpTimeoutError(HttpConnectionError, TimeoutError):
    """No complete response within the timeout; :attr:`rsc` is 4008 REQUEST_TIMEOUT."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, rsc=RSC.REQUEST_TIMEOUT, hint=hint)


class _DroppedError(Exception):
    """The server closed the connection before sending a single byte of the response."""


# ---------------------------------------------------------------------------
# Client connections
# ---------------------------------------------------------------------------

#: Largest header block h11 buffers (its default); a longer one is a protocol error.
MAX_HEADER_BYTES = 16 * 1024
#: Largest response body the client reads. A CSE's rcn=4 answer on a big tree can
#: be large; a device that needs more should page with lim/ofst.
MAX_RESPONSE_BODY = 8 * 1024 * 1024
#: Largest request body the notification server reads (a notification with a
#: resource representation, or a batch of them).
MAX_REQUEST_BODY = 1024 * 1024
#: How long the notification server keeps an idle keep-alive connection open.
SERVER_IDLE_TIMEOUT = 60.0
_READ_SIZE = 64 * 1024


class _ClientConnection:
    """One TCP (or TLS) connection, one request at a time, parsed by h11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.exchanges = 0
        self.received = False  # any byte of the current response seen yet

    def usable(self) -> bool:
        """Idle, open, and not closed by the server meanwhile."""
        return (
            self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and not self.writer.is_closing()
            and not self.reader.at_eof()
        )

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one request and read its whole response; :class:`_DroppedError` if not one byte came back."""
        try:
            data = self.h11.send(h11.Request(method=method, target=target, headers=headers)) or b""
            if body:
                data += self.h11.send(h11.Data(data=body)) or b""
            data += self.h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise OneM2MUsageError(f"cannot send this request over HTTP/1.1: {exc}") from None
        self.exchanges += 1
        self.received = False
        try:
            self.writer.write(data)
            await self.writer.drain()
            result = await self._read_response()
        except h11.RemoteProtocolError as exc:
            if not self.received:
                raise _DroppedError() from None
            raise OneM2MProtocolError(f"malformed HTTP response: {exc}") from None
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            if not self.received:
                raise _DroppedError() from exc
            raise HttpConnectionError(f"connection lost while reading the response: {exc}") from None
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()  # keep-alive: both sides agreed to go on
        else:
            self.close()  # Connection: close (either side), or HTTP/1.0
        return result

    async def _read_response(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                chunk = await self.reader.read(_READ_SIZE)
                self.received = self.received or bool(chunk)
                self.h11.receive_data(chunk)
            elif isinstance(event, h11.Response):
                status = event.status_code
                response_headers = list(event.headers)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_RESPONSE_BODY:
                    raise OneM2MProtocolError(
                        f"response body larger than {MAX_RESPONSE_BODY} bytes",
                        where="body",
                        hint="page the result with fc lim/ofst, or retrieve less (rcn)",
                    )
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, response_headers, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                if not self.received:
                    raise _DroppedError()
                raise OneM2MProtocolError("the server closed the connection in the middle of its response")
            # h11.InformationalResponse (100 Continue and the like): the real answer follows


# ---------------------------------------------------------------------------
# The binding
# ---------------------------------------------------------------------------


async def _default_handler(request: RequestPrimitive) -> ResponsePrimitive:
    """Acknowledge notifications (and verification requests) with 2000; refuse anything else."""
    if request.op is Operation.NOTIFY:
        return ResponsePrimitive(rsc=RSC.OK, rqi=request.rqi)
    return ResponsePrimitive(
        rsc=RSC.OPERATION_NOT_ALLOWED,
        rqi=request.rqi,
        pc={"m2m:dbg": f"this AE accepts only NOTIFY, not {request.op.name}"},
    )


def _host_text(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


class HttpBinding:
    """oneM2M over HTTP/1.1 (TS-0009): an h11 client to the CSE and an h11 notification server.

    Args:
        url: the CSE's point of access, ``http://host:port[/root]`` or
            ``https://...``; ``user:password@`` in it means Basic authorization.
            Targets are ``root`` + the To mapping of TS-0009 §6.2.2.1.
        serialization: JSON or CBOR for bodies and ``Accept``.
        notification_host: where the notification server listens; None runs
            no server (an AE with ``rr=false``, or one polling a <pollingChannel>).
        notification_port: its port; 0 picks a free one.
        notification_url: what :attr:`point_of_access` advertises instead of
            ``http://host:port`` (an address behind NAT, a port forward).
        ssl_context: TLS settings for ``https://``; default: the system CAs with
            certificate and host name verification.
        verify: False turns certificate verification off (logged as a warning;
            for a test CSE with a self-signed certificate only).
        keep_alive: reuse connections (False sends ``Connection: close``).
        authorization: the ``Authorization`` header for every request: a full
            value (``"Bearer <token>"``) or ``(user, password)`` for Basic
            (ACME's ``enableBasicAuth``/``enableTokenAuth``). A request's own
            Tokens parameter (``tkns``) takes its place for that request.
        timeout: seconds for a whole request (waiting for a connection,
            connecting, sending, the complete response); :meth:`send` can override it.
        release_version: the ``rvi`` for requests that carry none (ACME refuses
            a request without X-M2M-RVI with 4001).
        max_connections: requests in flight at once, each on its own connection.
            More than one keeps a handler that calls the CSE while the CSE waits
            for its answer (a verification request during a SUB CREATE) from
            waiting on the connection that CREATE holds.
    """

    def __init__(
        self,
        url: str,
        *,
        serialization: Format = Format.JSON,
        notification_host: str | None = "127.0.0.1",
        notification_port: int = 0,
        notification_url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool = True,
        keep_alive: bool = True,
        authorization: str | tuple[str, str] | None = None,
        timeout: float = 30.0,
        release_version: str | None = None,
        max_connections: int = 2,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise OneM2MUsageError(f"not an http:// or https:// URL: {url!r}")
        if parts.query or parts.fragment:
            raise OneM2MUsageError(f"the CSE URL takes no query or fragment: {url!r}")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise OneM2MUsageError(f"invalid port in {url!r}") from None
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise OneM2MUsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not isinstance(max_connections, int) or max_connections < 1:
            raise OneM2MUsageError(f"max_connections must be at least 1, got {max_connections!r}")
        self.format = Format(serialization)
        self.url = f"{scheme}://{_host_text(parts.hostname)}:{port}{parts.path.rstrip('/')}"
        self._host = parts.hostname
        self._port = port
        self._host_header = _host_text(parts.hostname) if parts.port is None else f"{_host_text(parts.hostname)}:{port}"
        self._root = parts.path.strip("/")
        self._timeout = float(timeout)
        self._keep_alive = keep_alive
        self._release_version = release_version
        self._max_connections = max_connections
        self._authorization = self._authorization_header(authorization, parts.username, parts.password)
        self._ssl = self._ssl_context(scheme, ssl_context, verify)

        self._notification_host = notification_host
        self._notification_port = notification_port
        self._notification_url = notification_url
        self._handler: RequestHandler = _default_handler
        self._server: asyncio.AbstractServer | None = None
        self._bound: tuple[str, int] | None = None
        self._server_tasks: set[asyncio.Task[None]] = set()

        self._idle: list[_ClientConnection] = []
        self._slots: asyncio.Semaphore | None = None
        self._closed = False
        #: TCP connections this binding opened to the CSE (a keep-alive check for tests and benchmarks).
        self.connections_opened = 0
        #: Connections the notification server accepted.
        self.connections_accepted = 0

    @staticmethod
    def _authorization_header(
        authorization: str | tuple[str, str] | None, user: str | None, password: str | None
    ) -> str | None:
        if isinstance(authorization, tuple):
            if len(authorization) != 2 or not all(isinstance(part, str) for part in authorization):
                raise OneM2MUsageError("authorization=(user, password) takes two strings")
            user, password = authorization
            authorization = None
        elif authorization is not None and not isinstance(authorization, str):
            raise OneM2MUsageError("authorization is a header value ('Bearer <token>') or (user, password)")
        if authorization is None and user:
            token = base64.b64encode(f"{unquote(user)}:{unquote(password or '')}".encode()).decode("ascii")
            authorization = f"Basic {token}"
        if authorization is not None:
            _check_header_value("Authorization", authorization)
        return authorization

    @staticmethod
    def _ssl_context(scheme: str, context: ssl.SSLContext | None, verify: bool) -> ssl.SSLContext | None:
        if scheme != "https":
            if context is not None:
                raise OneM2MUsageError("ssl_context given for an http:// URL; use https:// for TLS")
            return None
        if context is not None:
            if not verify:
                raise OneM2MUsageError("verify=False with your own ssl_context: set verification on that context")
            return context
        context = ssl.create_default_context()  # certificate and host name checks on (TS-0009 §7.2)
        if not verify:
            logger.warning(
                "TLS certificate verification is OFF for this CSE connection: anyone on the path can "
                "impersonate the CSE; use this only for a test CSE with a self-signed certificate"
            )
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- the Binding protocol --------------------------------------------------

    @property
    def point_of_access(self) -> list[str]:
        """``["http://host:port"]`` of the running notification server ([] before :meth:`open` or without one)."""
        if self._notification_url is not None:
            return [self._notification_url]
        if self._bound is None:
            return []
        host, port = self._bound
        return [f"http://{_host_text(host)}:{port}"]

    async def open(self) -> None:
        """Start the notification server (if configured); connections to the CSE open on demand."""
        if self._closed:
            raise OneM2MUsageError("this HttpBinding is closed; create a new one")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        if self._server is not None or self._notification_host is None:
            return
        try:
            self._server = await asyncio.start_server(
                self._serve_connection, self._notification_host, self._notification_port
            )
        except OSError as exc:
            raise HttpConnectionError(
                f"cannot listen for notifications on {self._notification_host}:{self._notification_port}: {exc}",
                rsc=RSC.INTERNAL_SERVER_ERROR,
                hint="pick another notification_port (0 = any free port)",
            ) from None
        sockname = self._server.sockets[0].getsockname()
        self._bound = (str(sockname[0]), int(sockname[1]))
        logger.debug("notification server listening on %s", self.point_of_access)

    def serve(self, handler: RequestHandler) -> None:
        """Send the CSE's requests (NOTIFY, verification, deletion notices) to ``handler``.

        Without one, notifications are answered 2000 OK and other operations 4005.
        """
        self._handler = handler

    async def send(self, request: RequestPrimitive, *, timeout: float | None = None) -> ResponsePrimitive:
        """Send ``request`` to the CSE and return its response primitive, whatever the RSC.

        Raises :class:`HttpConnectionError` when the CSE cannot be reached or drops
        the connection mid-answer, :class:`HttpTimeoutError` after ``timeout``
        seconds, :class:`OneM2MProtocolError` for a response that is not valid
        HTTP/oneM2M, :class:`OneM2MUsageError` for a request HTTP cannot carry.
        """
        if self._closed:
            raise OneM2MUsageError("this HttpBinding is closed; create a new one")
        if request.rvi is None and self._release_version is not None:
            request = dataclasses.replace(request, rvi=self._release_version)
        method, target, headers, body = request_to_http(request, self.format, root=self._root)
        headers.insert(0, ("Host", self._host_header))
        if self._authorization is not None and not request.tkns:
            headers.append((H_AUTHORIZATION, self._authorization))
        if not self._keep_alive:
            headers.append(("Connection", "close"))
        limit = self._timeout if timeout is None else timeout
        try:
            status, response_headers, payload = await asyncio.wait_for(
                self._exchange(method, target, headers, body), limit
            )
        except asyncio.TimeoutError:
            raise HttpTimeoutError(
                f"no complete response to {method} {target.partition('?')[0]} within {limit:g} s",
                hint="the CSE may be overloaded or the link down; a CREATE may still have been processed: "
                "check (e.g. retrieve /la) before repeating it",
            ) from None
        return http_to_response(status, response_headers, payload)

    async def close(self) -> None:
        """Close connections to the CSE and stop the notification server."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        if self._server is not None:
            self._server.close()
            tasks = list(self._server_tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            self._bound = None

    async def __aenter__(self) -> HttpBinding:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- client side -----------------------------------------------------------

    async def _connect(self) -> _ClientConnection:
        try:
            reader, writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._ssl else None
            )
        except ssl.SSLCertVerificationError as exc:
            raise HttpConnectionError(
                f"TLS certificate of {self._host}:{self._port} not accepted: {exc.verify_message}",
                hint="give ssl_context=ssl.create_default_context(cafile=<the CSE's CA>) for a private CA",
            ) from None
        except OSError as exc:
            raise HttpConnectionError(
                f"cannot connect to the CSE at {self._host}:{self._port}: {exc.strerror or exc}",
                hint="check the CSE URL and that the CSE is running and reachable",
            ) from None
        self.connections_opened += 1
        return _ClientConnection(reader, writer)

    async def _exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        async with self._slots:
            for attempt in (1, 2):
                connection, reused = await self._checkout()
                try:
                    result = await connection.exchange(method, target, headers, body)
                except _DroppedError:
                    connection.close()
                    if reused and attempt == 1:
                        # TS-0009 §6.6 / RFC 9112 §9.3.1: a server may close an idle
                        # keep-alive connection at any time; when it did so before
                        # answering, the request was not processed: repeat it once
                        # on a fresh connection.
                        logger.debug("idle connection was closed by the CSE; retrying on a new one")
                        continue
                    raise HttpConnectionError(
                        f"the CSE closed the connection without answering {method} {target.partition('?')[0]}"
                    ) from None
                except BaseException:
                    connection.close()  # its state is unknown (timeout, cancellation, bad bytes)
                    raise
                if self._keep_alive and connection.usable() and not self._closed:
                    self._idle.append(connection)
                else:
                    connection.close()
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _checkout(self) -> tuple[_ClientConnection, bool]:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection, True
            connection.close()
        return await self._connect(), False

    # -- notification server ---------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._server_tasks.add(task)
        self.connections_accepted += 1
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            while await self._serve_one(connection, reader, writer):
                connection.start_next_cycle()
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass  # the peer went away or stalled; nothing to answer
        except asyncio.CancelledError:
            pass  # close() stops the server
        except Exception:  # never let one peer's bytes take the receiver down
            logger.exception("notification server: unexpected error on a connection")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            if task is not None:
                self._server_tasks.discard(task)

    async def _next_event(
        self, connection: h11.Connection, reader: asyncio.StreamReader, idle: bool
    ) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = connection.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]  # h11 types the sentinel loosely
            wait = SERVER_IDLE_TIMEOUT if idle else self._timeout
            chunk = await asyncio.wait_for(reader.read(_READ_SIZE), wait)
            connection.receive_data(chunk)

    async def _serve_one(
        self, connection: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read one request, answer it; True when the connection may carry another."""
        request: h11.Request | None = None
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                event = await self._next_event(connection, reader, idle=request is None and not chunks)
                if isinstance(event, h11.Request):
                    request = event
                    if connection.they_are_waiting_for_100_continue:
                        writer.write(connection.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > MAX_REQUEST_BODY:
                        await self._answer_error(
                            connection, writer, f"request body larger than {MAX_REQUEST_BODY} bytes", request
                        )
                        return False
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    return False
        except h11.RemoteProtocolError as exc:
            await self._answer_error(connection, writer, f"malformed HTTP request: {exc}", request)
            return False
        assert request is not None
        primitive: RequestPrimitive | None = None
        request_format = self.format
        try:
            headers = _Headers(request.headers)
            media = _media(headers)
            if media is not None:
                request_format = media.format
            primitive = http_to_request(request.method, request.target, request.headers, b"".join(chunks))
        except OneM2MProtocolError as exc:
            response = ResponsePrimitive(rsc=exc.rsc, rqi=_request_id(request), pc={"m2m:dbg": str(exc)})
        else:
            response = await self._dispatch(primitive)
        await self._answer(connection, writer, response, request_format)
        return connection.our_state is h11.DONE and connection.their_state is h11.DONE

    async def _dispatch(self, request: RequestPrimitive) -> ResponsePrimitive:
        try:
            response = await self._handler(request)
            if not isinstance(response, ResponsePrimitive):
                raise TypeError(f"the handler returned {type(response).__name__}, not a ResponsePrimitive")
        except Exception as exc:
            logger.exception("notification handler failed for %s %s", request.op.name, request.to)
            return ResponsePrimitive(
                rsc=RSC.INTERNAL_SERVER_ERROR,
                rqi=request.rqi,
                pc={"m2m:dbg": f"the AE's handler failed: {type(exc).__name__}"},
            )
        changes: dict[str, Any] = {}
        if response.rqi is None:
            changes["rqi"] = request.rqi  # TS-0004 §7.2.1.2: the response echoes the request's rqi
        if response.rvi is None and request.rvi is not None:
            changes["rvi"] = request.rvi
        return dataclasses.replace(response, **changes) if changes else response

    async def _answer(
        self, connection: h11.Connection, writer: asyncio.StreamWriter, response: ResponsePrimitive, fmt: Format
    ) -> None:
        try:
            status, headers, body = response_to_http(response, fmt)
        except OneM2MUsageError as exc:
            logger.error("notification handler's response cannot be sent: %s", exc)
            status, headers, body = response_to_http(
                ResponsePrimitive(
                    rsc=RSC.INTERNAL_SERVER_ERROR, rqi=response.rqi, pc={"m2m:dbg": "unserializable response"}
                ),
                fmt,
            )
        # §6.3.3: the Reason-Phrase is omitted.
        data = connection.send(h11.Response(status_code=status, headers=headers, reason=b"")) or b""
        if body:
            data += connection.send(h11.Data(data=body)) or b""
        data += connection.send(h11.EndOfMessage()) or b""
        writer.write(data)
        await writer.drain()

    async def _answer_error(
        self, connection: h11.Connection, writer: asyncio.StreamWriter, reason: str, request: h11.Request | None
    ) -> None:
        """400 + X-M2M-RSC 4000 with the reason, then close; silent if a response is already under way."""
        if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        logger.debug("notification server: %s", reason)
        status, headers, body = response_to_http(
            ResponsePrimitive(rsc=RSC.BAD_REQUEST, rqi=_request_id(request), pc={"m2m:dbg": reason}), self.format
        )
        headers.append(("Connection", "close"))
        try:
            data = connection.send(h11.Response(status_code=status, headers=headers, reason=b"")) or b""
            data += connection.send(h11.Data(data=body)) or b""
            data += connection.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        writer.write(data)
        await writer.drain()


def _request_id(request: h11.Request | None) -> str | None:
    if request is None:
        return None
    for name, value in request.headers:
        if name == b"x-m2m-ri":
            text = value.decode("latin-1").strip()
            return text or None
    return None
