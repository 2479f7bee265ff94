"""A loopback LwM2M server for tests: strict Registration, Send, and every server operation.

:class:`LwM2MTestServer` is a small LwM2M 1.0/1.1/1.2 server built on aiocoap. It
exists to catch client mistakes, so it is strict where a production server would be
lenient: a Register with an unknown query parameter, a Security object link, a
malformed ``ver`` or a payload that is not CoRE link format is answered with
4.00 Bad Request, and the reason is recorded (:attr:`LwM2MTestServer.rejections`)
and sent back as the diagnostic payload. Everything the server receives and sends
is kept in :attr:`LwM2MTestServer.log`.

Use it as an async context manager inside ``asyncio.run(...)`` (pytest-asyncio is
not needed)::

    async def scenario() -> None:
        async with LwM2MTestServer(transport="udp") as server:
            client = make_client(server.uri)          # e.g. "coap://127.0.0.1:40123"
            await client.start()
            reg = await server.wait_registration("dev-1")
            assert (await server.read("dev-1", "/3/0/0")).values == {Path.of(3, 0, 0): "ACME"}
            obs = await server.observe("dev-1", "/3/0/13", pmin=1)
            note = await obs.next(timeout=5)
            await obs.cancel()

    asyncio.run(scenario())

Server-initiated requests (Read, Write, Observe, ...) go to the address the Register
came from, over the same socket (UDP) or the same connection (TCP), as an LwM2M
server must. Every wait has a timeout and raises :class:`TimeoutError`; nothing in
here sleeps to synchronise.

Fault injection. :meth:`LwM2MTestServer.drop_next` drops datagrams inside the server
before aiocoap sees them (incoming) or after aiocoap hands them to the socket
(outgoing). That is simpler and more faithful than a proxy in front of the server:
the client talks to the real server address, and role reversal (server requests
going back to the client's own socket) keeps working. It relies on the
``datagram_msg_received`` / ``send`` methods of aiocoap 0.4's udp6 transport and
fails loudly if they are not found. :meth:`LwM2MTestServer.restart` stops the CoAP
context and binds the same port again, forgetting every registration, so a client
must notice (4.04 on its next Update) and register again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import aiocoap
from aiocoap import Code, Message, resource
from aiocoap.pipe import Pipe

from m2mclient.errors import FormatError, M2MError, PathError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import FormatKind, Link, Record
from m2mclient.lwm2m.model import Path, Value
from m2mclient.lwm2m.registry import Registry

__all__ = [
    "DEFAULT_LIFETIME",
    "SEND_FORMATS",
    "SUPPORTED_VERSIONS",
    "LogEntry",
    "LwM2MServerFactory",
    "LwM2MTestServer",
    "LwM2MTestServerError",
    "NotRegisteredError",
    "Observation",
    "ObservationEndedError",
    "Registration",
    "Rejection",
    "RequestFailedError",
    "Response",
    "SendReport",
    "Update",
]

logger = logging.getLogger("m2mclient.testing")

#: LwM2M versions this server knows; pass a subset as ``supported_versions``.
SUPPORTED_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "1.2")
#: Lifetime (s) when a Register carries no ``lt`` (LwM2M Core: 86400).
DEFAULT_LIFETIME = 86400
#: Content formats a Send (POST /dp) may use: SenML JSON, SenML CBOR, LwM2M CBOR.
SEND_FORMATS = frozenset({formats.SENML_JSON, formats.SENML_CBOR, formats.LWM2M_CBOR})

# Registration interface query parameters, per version (Transport 1.2 Table 6.4.3.-2).
_REGISTER_PARAMS = {
    "1.0": frozenset({"ep", "lt", "lwm2m", "b", "sms"}),
    "1.1": frozenset({"ep", "lt", "lwm2m", "b", "sms", "Q"}),
    "1.2": frozenset({"ep", "lt", "lwm2m", "b", "sms", "Q", "pid"}),
}
_UPDATE_PARAMS = {
    "1.0": frozenset({"lt", "b", "sms"}),
    "1.1": frozenset({"lt", "b", "sms", "Q"}),
    "1.2": frozenset({"lt", "b", "sms", "Q"}),
}
# 1.0 binding modes carry queue mode; from 1.1 on "b" lists transports and Q is separate.
_BINDINGS_1_0 = ("U", "UQ", "S", "SQ", "US", "UQS")
_BINDING_LETTERS = {"1.1": "UTSN", "1.2": "UTSNMH"}

_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+")
_LIFETIME_RE = re.compile(r"[0-9]{1,10}")
_MSISDN_RE = re.compile(r"[0-9]{1,15}")  # 3GPP TS 23.003: digits, no leading "+"
_UINT32_MAX = 2**32 - 1

Transport = Literal["udp", "tcp"]
CancelMode = Literal["get", "forget"]
T = TypeVar("T")


# --- errors ----------------------------------------------------------------------------


class LwM2MTestServerError(M2MError):
    """Base class of the errors the test server raises."""


class NotRegisteredError(LwM2MTestServerError, LookupError):
    """An operation named an endpoint that has no current registration."""


class RequestFailedError(LwM2MTestServerError):
    """A request to the client got no response (timeout, retransmissions exhausted, connection lost)."""


class ObservationEndedError(LwM2MTestServerError):
    """The observation is over (cancelled, ended by the client, or the server stopped)."""


# --- records ---------------------------------------------------------------------------


@dataclass(eq=False)
class Response:
    """A CoAP response from the client: a reply to a request, or an Observe notification.

    ``code`` is the dotted code (``"2.05"``, ``"4.04"``) so tests can assert exact
    codes. ``values`` / ``records`` are filled when a successful response carries a
    value format (TLV, SenML, LwM2M CBOR, ...), ``links`` when it carries link format;
    a payload that does not decode leaves them ``None`` and says why in
    ``decode_error``. ``observe``, ``mtype`` (``"CON"``, ``"NON"``, ``"ACK"``; ``None``
    over TCP) and ``received_at`` (event-loop clock) describe the message itself.
    """

    code: str
    content_format: int | None = None
    payload: bytes = b""
    values: dict[Path, Value] | None = None
    records: list[Record] | None = None
    links: list[Link] | None = None
    location: str | None = None
    observe: int | None = None
    mtype: str | None = None
    received_at: float = 0.0
    decode_error: str | None = None
    message: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True for a 2.xx success code."""
        return self.code.startswith("2.")

    @property
    def text(self) -> str:
        """The payload as UTF-8 text (diagnostic payloads of error responses, text/plain values)."""
        return self.payload.decode("utf-8", "replace")

    @property
    def value(self) -> Value:
        """The single decoded value; raises :class:`LwM2MTestServerError` unless there is exactly one."""
        if not self.values or len(self.values) != 1:
            raise LwM2MTestServerError(f"expected exactly one value in the response, got {self.values!r}")
        return next(iter(self.values.values()))


@dataclass(eq=False)
class Update:
    """One Registration Update (POST /rd/<id>) as accepted by the server.

    Fields the client did not send are ``None``; ``links`` is ``None`` when the Update
    had no payload. ``remote_changed`` tells that the client's address changed
    (the server follows it, as for a NAT rebinding).
    """

    endpoint: str
    at: float
    lifetime: int | None
    binding: str | None
    sms: str | None
    queue_mode: bool | None
    links: list[Link] | None
    query: dict[str, str | None]
    remote: Any = field(repr=False)
    remote_changed: bool = False
    registration: Registration | None = field(default=None, repr=False)


@dataclass(eq=False)
class Registration:
    """A client's registration: what its Register said, and what happened since.

    ``location`` is the registration's path (``"/rd/<id>"``); ``registered_at`` and
    ``last_update_at`` use the event-loop clock. ``root_path`` is the alternate path
    from an ``rt="oma.lwm2m"`` link (``"/"`` by default); server operations prefix
    it. ``removed`` says why the registration is gone: ``"deregistered"``,
    ``"expired"``, ``"replaced"`` (the endpoint registered again), ``"forgotten"``,
    ``"restarted"`` or ``"stopped"``; ``None`` while it is active.
    """

    endpoint: str
    location: str
    lifetime: int
    version: str
    binding: str
    queue_mode: bool
    links: list[Link]
    remote: Any = field(repr=False)
    registered_at: float
    updates: list[Update] = field(default_factory=list)
    sms: str | None = None
    profile_id: str | None = None
    root_path: str = "/"
    query: dict[str, str | None] = field(default_factory=dict)
    transport: Transport = "udp"
    last_update_at: float = 0.0
    removed: str | None = None
    removed_at: float | None = None

    @property
    def id(self) -> str:
        """The registration id, the last segment of :attr:`location`."""
        return self.location.rsplit("/", 1)[-1]

    @property
    def active(self) -> bool:
        """True until the registration is removed."""
        return self.removed is None

    @property
    def remote_address(self) -> str:
        """The client's address as ``host:port``."""
        return _remote_text(self.remote)

    @property
    def objects(self) -> list[Path]:
        """The object and object-instance paths the client listed (relative to :attr:`root_path`)."""
        paths = [_link_lwm2m_path(link.target, self.root_path) for link in self.links if not _is_root_link(link)]
        return [p for p in paths if p is not None]

    @property
    def object_ids(self) -> set[int]:
        """The ids of the objects the client listed."""
        return {p.ids[0] for p in self.objects if p.ids}

    @property
    def content_formats(self) -> list[int]:
        """The content formats announced in the root link's ``ct`` (LwM2M 1.1+), else empty."""
        for link in self.links:
            if _is_root_link(link):
                return [int(v) for v in (link.get("ct") or "").split()]
        return []


@dataclass(eq=False)
class SendReport:
    """One accepted Send (POST /dp): the raw payload and its decoded records and values."""

    endpoint: str | None
    content_format: int
    payload: bytes
    records: list[Record]
    values: dict[Path, Value]
    remote: Any = field(repr=False)
    received_at: float = 0.0


@dataclass(frozen=True)
class Rejection:
    """A client request the server refused, with the reason (also sent as diagnostic payload)."""

    operation: str  # "register", "update", "deregister", "send" or "request"
    code: str
    reason: str
    endpoint: str | None
    path: str
    query: tuple[str, ...]
    payload: bytes
    remote: str
    at: float


@dataclass(frozen=True)
class LogEntry:
    """One exchange step as the server saw it.

    ``direction`` is ``"in"`` (received by the server) or ``"out"`` (sent by it).
    ``kind`` is ``"request"``, ``"response"``, ``"notification"``, ``"reset"`` (a RST
    datagram), ``"dropped"`` (removed by :meth:`LwM2MTestServer.drop_next`) or
    ``"event"`` (expiry, restart, observation cancelled). ``code`` is the method
    (``"POST"``) or the dotted response code; ``path`` is the request's path (for
    responses, the path of the request they answer).
    """

    at: float
    direction: Literal["in", "out"]
    kind: str
    code: str
    path: str
    options: str
    payload: bytes
    remote: str
    mtype: str | None = None

    @property
    def payload_hex(self) -> str:
        return self.payload.hex()

    def __str__(self) -> str:
        arrow = "<-" if self.direction == "in" else "->"
        mtype = f" {self.mtype}" if self.mtype else ""
        payload = f" payload={self.payload.hex()}" if self.payload else ""
        return (
            f"{self.at:.3f} {arrow} {self.remote} {self.kind}{mtype} {self.code} {self.path} [{self.options}]{payload}"
        )


# --- helpers ---------------------------------------------------------------------------


class _Rejected(Exception):  # noqa: N818  # control flow, not an error
    def __init__(self, code: Any, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Feed(Generic[T]):
    """Items in arrival order; waiters take the first matching item not taken before."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._taken: set[int] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._closed: Callable[[], BaseException] | None = None

    def put(self, item: T) -> None:
        self.items.append(item)
        self._wake()

    def close(self, error: Callable[[], BaseException]) -> None:
        """No more items will come; waiters that find nothing raise ``error()``."""
        self._closed = error
        self._wake()

    def discard_pending(self) -> None:
        self._taken.update(range(len(self.items)))

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def take(self, match: Callable[[T], bool], timeout: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, item in enumerate(self.items):
                if index not in self._taken and match(item):
                    self._taken.add(index)
                    return item
            if self._closed is not None:
                raise self._closed()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {timeout:g} s")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                self._waiters.remove(waiter)


def _remote_text(remote: Any) -> str:
    if remote is None:
        return "-"
    try:
        return str(remote.hostinfo)
    except Exception:  # a remote whose transport is gone
        return repr(remote)


def _same_remote(a: Any, b: Any) -> bool:
    # aiocoap's UDP address __eq__ assumes the other side is a UDP address too.
    return a is b or (type(a) is type(b) and bool(a == b))


def _mtype_name(message: Any) -> str | None:
    mtype = getattr(message, "mtype", None)
    return None if mtype is None else str(mtype.name)


def _code_text(code: Any) -> str:
    if code.is_request():
        return str(code.name)
    return str(code.dotted)


def _summarize(message: Any) -> str:
    opt = message.opt
    parts = []
    if message.token:
        parts.append(f"token={bytes(message.token).hex()}")
    if opt.observe is not None:
        parts.append(f"observe={opt.observe}")
    if opt.content_format is not None:
        parts.append(f"cf={int(opt.content_format)}")
    if opt.accept is not None:
        parts.append(f"accept={int(opt.accept)}")
    if opt.uri_query:
        parts.append("query=" + "&".join(opt.uri_query))
    if opt.location_path:
        parts.append("location=/" + "/".join(opt.location_path))
    if opt.block1 is not None:
        parts.append(f"block1={opt.block1}")
    if opt.block2 is not None:
        parts.append(f"block2={opt.block2}")
    return " ".join(parts)


def _parse_query(items: Sequence[str]) -> dict[str, str | None]:
    query: dict[str, str | None] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not name:
            raise _Rejected(Code.BAD_REQUEST, f"query parameter {item!r} has no name")
        if name in query:
            raise _Rejected(Code.BAD_REQUEST, f"query parameter {name!r} is given twice")
        query[name] = value if sep else None
    return query


def _query_value(query: Mapping[str, str | None], name: str) -> str:
    value = query[name]
    if not value:
        raise _Rejected(Code.BAD_REQUEST, f"query parameter {name!r} needs a value ({name}=...)")
    return value


def _parse_lifetime(query: Mapping[str, str | None]) -> int:
    text = _query_value(query, "lt")
    if not _LIFETIME_RE.fullmatch(text) or not 0 < int(text) <= _UINT32_MAX:
        raise _Rejected(Code.BAD_REQUEST, f"lt={text!r}: the lifetime must be an integer number of seconds > 0")
    return int(text)


def _parse_binding(version: str, query: Mapping[str, str | None]) -> tuple[str, bool]:
    """Check ``b``; return the binding and whether it (1.0 style) asks for queue mode."""
    value = _query_value(query, "b")
    if version == "1.0":
        if value not in _BINDINGS_1_0:
            raise _Rejected(
                Code.BAD_REQUEST,
                f"b={value!r} is not a LwM2M 1.0 binding mode ({', '.join(_BINDINGS_1_0)})",
            )
        return value, "Q" in value
    if "Q" in value:
        raise _Rejected(
            Code.BAD_REQUEST,
            f"b={value!r}: since LwM2M 1.1 queue mode is the separate 'Q' parameter, not a binding letter",
        )
    letters = _BINDING_LETTERS[version]
    unknown = sorted({letter for letter in value if letter not in letters})
    if unknown:
        raise _Rejected(
            Code.BAD_REQUEST,
            f"b={value!r}: unknown binding letter(s) {', '.join(unknown)} for LwM2M {version} (allowed: {letters})",
        )
    if len(set(value)) != len(value):
        raise _Rejected(Code.BAD_REQUEST, f"b={value!r} repeats a binding letter")
    return value, False


def _parse_queue_flag(version: str, query: Mapping[str, str | None]) -> bool:
    if query["Q"] is not None:
        raise _Rejected(Code.BAD_REQUEST, f"Q is a flag without value, got Q={query['Q']!r}")
    return True


def _parse_sms(query: Mapping[str, str | None]) -> str:
    value = _query_value(query, "sms")
    if not _MSISDN_RE.fullmatch(value):
        raise _Rejected(
            Code.BAD_REQUEST,
            f"sms={value!r}: an MSISDN is 1-15 digits without '+' (3GPP TS 23.003)",
        )
    return value


def _is_root_link(link: Link) -> bool:
    rt = link.get("rt")
    return rt is not None and "oma.lwm2m" in rt.split()


def _link_lwm2m_path(target: str, root_path: str) -> Path | None:
    if root_path != "/":
        if not target.startswith(root_path + "/"):
            return None
        target = target[len(root_path) :]
    if not re.fullmatch(r"/(?:[0-9]+(?:/[0-9]+){0,3})?", target):
        return None
    try:
        return Path.parse(target)
    except PathError:
        return None


def _check_root_link(root: Link, version: str) -> str:
    """Validate the ``rt="oma.lwm2m"`` link; return the root (alternate) path it names."""
    if any(segment.isdigit() for segment in root.target.strip("/").split("/")):
        raise _Rejected(
            Code.BAD_REQUEST,
            f'the rt="oma.lwm2m" link <{root.target}> must not contain a numerical URI segment',
        )
    if not root.target.startswith("/"):
        raise _Rejected(Code.BAD_REQUEST, f'the rt="oma.lwm2m" link <{root.target}> must be an absolute path')
    if version == "1.0" and root.target == "/":
        raise _Rejected(
            Code.BAD_REQUEST,
            'the root link </>;rt="oma.lwm2m" is LwM2M 1.1+; a client registering with lwm2m=1.0 must not send it',
        )
    if root.has("ct"):
        if version == "1.0":
            raise _Rejected(Code.BAD_REQUEST, "the ct attribute on the oma.lwm2m link is LwM2M 1.1+")
        cts = (root.get("ct") or "").split()
        if not cts or not all(ct.isdigit() and int(ct) <= 65535 for ct in cts):
            raise _Rejected(
                Code.BAD_REQUEST,
                f"ct={root.get('ct')!r} on the oma.lwm2m link is not a list of content-format numbers",
            )
    return root.target.rstrip("/") or "/"


def _check_links(payload: bytes, content_format: int | None, version: str) -> tuple[list[Link], str]:
    """Validate a Register / Update link payload; return the links and the root path."""
    if content_format is None:
        raise _Rejected(
            Code.BAD_REQUEST,
            "the object links payload has no Content-Format option; it must be 40 (application/link-format)",
        )
    if content_format != formats.LINK_FORMAT:
        raise _Rejected(
            Code.BAD_REQUEST,
            f"the object links payload has content-format {content_format}; it must be 40 (application/link-format)",
        )
    try:
        links = formats.decode_links(payload)
    except FormatError as exc:
        raise _Rejected(Code.BAD_REQUEST, f"the payload is not CoRE link format: {exc}") from None
    if not links:
        raise _Rejected(Code.BAD_REQUEST, "the object links payload lists no links")
    root_links = [link for link in links if _is_root_link(link)]
    if len(root_links) > 1:
        raise _Rejected(Code.BAD_REQUEST, 'more than one link with rt="oma.lwm2m"')
    root_path = _check_root_link(root_links[0], version) if root_links else "/"
    seen: set[Path] = set()
    for link in links:
        if _is_root_link(link):
            continue
        path = _link_lwm2m_path(link.target, root_path)
        if path is None:
            where = "" if root_path == "/" else f" under the alternate path {root_path}"
            raise _Rejected(
                Code.BAD_REQUEST,
                f"<{link.target}> is not an LwM2M object or object instance path{where}",
            )
        if not path.ids:
            raise _Rejected(Code.BAD_REQUEST, f'<{link.target}> lacks rt="oma.lwm2m"; only the root link may target it')
        if len(path) > 2:
            raise _Rejected(
                Code.BAD_REQUEST,
                f"<{link.target}>: the registration lists objects and object instances only, not resources",
            )
        if path.ids[0] == 0:
            raise _Rejected(Code.BAD_REQUEST, f"<{link.target}>: the Security object (/0) must not be registered")
        if path.ids[0] == 21:
            raise _Rejected(Code.BAD_REQUEST, f"<{link.target}>: the OSCORE object (/21) must not be registered")
        if path in seen:
            raise _Rejected(Code.BAD_REQUEST, f"<{link.target}> is listed twice")
        seen.add(path)
        if link.has("ver"):
            ver = link.get("ver")
            if ver is None or not _VERSION_RE.fullmatch(ver):
                raise _Rejected(
                    Code.BAD_REQUEST,
                    f"<{link.target}>;ver={ver!r}: an object version is written major.minor, e.g. ver=1.1",
                )
    return links, root_path


def _attribute_query(attrs: Mapping[str, object]) -> list[str]:
    """``pmin=10`` -> ``"pmin=10"``; ``pmax=None`` -> ``"pmax"`` (unset the attribute)."""
    query = []
    for name, value in attrs.items():
        if value is None:
            query.append(name)
        elif isinstance(value, bool):
            query.append(f"{name}={int(value)}")
        elif isinstance(value, float):
            text = repr(value)
            if "e" in text or "E" in text:
                text = f"{value:f}".rstrip("0").rstrip(".")
            query.append(f"{name}={text}")
        else:
            query.append(f"{name}={value}")
    return query


def _path_segments(path: str | Path) -> list[str]:
    return [segment for segment in str(path).split("/") if segment]


def _pick_free_tcp_port(host: str) -> int:
    family, _, _, _, sockaddr = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind(sockaddr)
        return int(probe.getsockname()[1])


class _ServerResource(resource.Resource):  # type: ignore[misc]  # aiocoap is untyped
    """The whole server site: every request goes to :meth:`LwM2MTestServer._handle`."""

    def __init__(self, server: LwM2MTestServer) -> None:
        super().__init__()
        self._server = server

    async def needs_blockwise_assembly(self, request: Any) -> bool:
        return True

    async def render(self, request: Any) -> Any:
        return self._server._handle(request)


# --- observations ----------------------------------------------------------------------


class Observation:
    """An observation the server holds on a client resource (or a composite of paths).

    ``response`` is the reply to the Observe request; the observation is
    :attr:`established` when it was a success carrying an Observe option.
    Later notifications arrive in :attr:`notifications` (nothing is dropped) and
    are handed out in order by :meth:`next` or ``async for``.
    """

    def __init__(
        self,
        server: LwM2MTestServer,
        registration: Registration,
        request: Any,
        *,
        path: str,
        paths: list[str] | None,
        decode_path: str | None,
    ) -> None:
        self.endpoint = registration.endpoint
        self.path = path
        self.paths = paths
        self.response: Response | None = None
        self.end_reason: str | None = None
        self._server = server
        self._registration = registration
        self._request = request
        self._decode_path = decode_path
        self._feed: _Feed[Response] = _Feed()
        loop = asyncio.get_running_loop()
        self._first: asyncio.Future[Response] = loop.create_future()
        self._cancel_reply: asyncio.Future[Response] | None = None
        self._stop_interest: Callable[[], None] | None = None

    def __repr__(self) -> str:
        state = "active" if self.active else f"ended: {self.end_reason}"
        return f"<Observation {self.endpoint} {self.path} ({state}, {len(self.notifications)} notifications)>"

    @property
    def token(self) -> bytes:
        """The CoAP token of the Observe request."""
        return bytes(self._request.token)

    @property
    def notifications(self) -> list[Response]:
        """Every notification received after the first response, in arrival order."""
        return self._feed.items

    @property
    def established(self) -> bool:
        """True when the client accepted the observation (a 2.xx with an Observe option)."""
        return self.response is not None and self.response.ok and self.response.observe is not None

    @property
    def active(self) -> bool:
        """True while notifications may still arrive."""
        return self.end_reason is None

    async def next(self, timeout: float = 5.0) -> Response:
        """The next notification not handed out yet.

        Raises :class:`TimeoutError` when none comes within ``timeout`` and
        :class:`ObservationEndedError` when the observation is over and all were handed out.
        """
        return await self._feed.take(lambda _: True, timeout, f"notification for {self.path}")

    def __aiter__(self) -> AsyncIterator[Response]:
        return self

    async def __anext__(self) -> Response:
        try:
            return await self.next()
        except ObservationEndedError:
            raise StopAsyncIteration from None

    async def cancel(self, mode: CancelMode = "get", timeout: float | None = None) -> Response | None:
        """End the observation.

        ``"get"`` cancels actively: the same request with Observe=1 and the same
        token (RFC 7641 §3.6); returns the client's reply to it. ``"forget"``
        cancels passively: the server just forgets the token, so it answers the
        client's next CON notification with RST (over UDP; a NON notification is
        ignored, over TCP every later notification is ignored); returns ``None``.
        """
        if not self.active:
            return None
        if mode == "forget":
            self._end("forgotten")
            self._server._log_event(f"observation of {self.path} forgotten", self._registration.remote)
            return None
        if mode != "get":
            raise ValueError(f"cancel mode must be 'get' or 'forget', got {mode!r}")
        server = self._server
        ctx = server._require_context()
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Response] = loop.create_future()
        self._cancel_reply = reply
        message = self._request.copy(observe=1, mid=None)
        message.remote = self._request.remote

        def failed() -> None:
            if not reply.done():
                reply.set_exception(RequestFailedError(f"no reply to the cancellation of {self.path}"))

        server._log_message("out", "request", message, self.path)
        try:
            interface = await ctx.find_remote_and_interface(message)
            # The token manager would pick a new token; the cancellation must reuse the old one.
            interface.token_interface.send_message(message, failed)
        except aiocoap.error.Error as exc:
            self._end("cancel failed")
            raise RequestFailedError(f"cannot send the cancellation of {self.path}: {exc}") from exc
        limit = server.request_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(reply, limit)
        except asyncio.TimeoutError:
            raise RequestFailedError(f"no reply to the cancellation of {self.path} within {limit:g} s") from None
        finally:
            self._end("cancelled")

    # -- driven by the pipe --

    def _attach(self, pipe: Any) -> None:
        self._stop_interest = pipe.on_event(self._on_event)

    def _end(self, reason: str, error: BaseException | None = None) -> None:
        if self.end_reason is None:
            self.end_reason = reason
        message = f"observation of {self.path} ended: {self.end_reason}"
        self._feed.close(lambda: ObservationEndedError(message))
        if not self._first.done():
            self._first.set_exception(error or RequestFailedError(f"observe {self.path}: {reason}"))
            self._first.exception()  # retrieved: whoever waited has seen it or gave up
        if self._cancel_reply is not None and not self._cancel_reply.done():
            self._cancel_reply.set_exception(RequestFailedError(f"observation of {self.path} ended: {reason}"))
        stop, self._stop_interest = self._stop_interest, None
        if stop is not None:
            stop()
        self._server._observations.discard(self)

    def _on_event(self, event: Any) -> bool:
        try:
            return self._process(event)
        except Exception:  # a pipe callback must not raise
            logger.exception("observation %s: cannot process %r", self.path, event)
            return True

    def _process(self, event: Any) -> bool:
        if self.end_reason is not None:
            return False
        if event.message is None:
            error = event.exception
            reason = "interest ended" if error is None else f"{type(error).__name__}: {error}"
            self._stop_interest = None  # the pipe is over already
            self._end(reason, RequestFailedError(f"observe {self.path}: {reason}") if error else None)
            return False
        message = event.message
        first = not self._first.done()
        cancel_reply = (
            self._cancel_reply is not None
            and not self._cancel_reply.done()
            and (message.opt.observe is None or _mtype_name(message) == "ACK")
        )
        kind = "response" if first or cancel_reply else "notification"
        response = self._server._make_response(message, self._decode_path, self.path, kind)
        final = bool(event.is_last) or message.opt.observe is None
        if first:
            self.response = response
            self._first.set_result(response)
        elif cancel_reply:
            assert self._cancel_reply is not None
            self._cancel_reply.set_result(response)
            final = True
        else:
            self._feed.put(response)
        if final:
            self._stop_interest = None  # returning False below ends our interest
            self._end("not established" if first else "cancelled" if cancel_reply else "ended by the client")
            return False
        return True


# --- the server ------------------------------------------------------------------------


class LwM2MTestServer:
    """A loopback LwM2M server (Registration, Send, DM and Information Reporting) for tests.

    ``port=0`` picks a free port; the bound port is :attr:`port` and the URI to give the
    client is :attr:`uri`. ``supported_versions`` limits the LwM2M versions accepted
    at Register (others get 4.12). ``lifetime_scale`` multiplies registration lifetimes
    before the server expires them (``0.01`` turns ``lt=60`` into 0.6 s).
    ``request_timeout`` bounds every server-initiated request; ``transport_tuning``
    (an ``aiocoap.TransportTuning``) applies to them, e.g. for fast retransmissions.
    ``registry`` types decoded values (default: the core objects).
    """

    __test__ = False  # not a pytest test class, whatever module imports it

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        transport: Transport = "udp",
        *,
        supported_versions: Iterable[str] = SUPPORTED_VERSIONS,
        lifetime_scale: float = 1.0,
        request_timeout: float = 10.0,
        transport_tuning: Any = None,
        registry: Registry | None = None,
        extra_register_params: Iterable[str] = (),
        check_send_objects: bool = True,
    ) -> None:
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be 'udp' or 'tcp', got {transport!r}")
        versions = tuple(supported_versions)
        unknown = [v for v in versions if v not in SUPPORTED_VERSIONS]
        if unknown or not versions:
            raise ValueError(f"supported_versions must be a non-empty subset of {SUPPORTED_VERSIONS}, got {versions}")
        if lifetime_scale <= 0:
            raise ValueError("lifetime_scale must be > 0")
        self.host = host
        self.transport: Transport = transport
        self.supported_versions = versions
        self.lifetime_scale = lifetime_scale
        self.request_timeout = request_timeout
        self.transport_tuning = transport_tuning
        self.registry = registry
        self.extra_register_params = frozenset(extra_register_params)
        self.check_send_objects = check_send_objects
        #: Active registrations by endpoint name.
        self.registrations: dict[str, Registration] = {}
        #: Every exchange step, in order (see :class:`LogEntry`).
        self.log: list[LogEntry] = []
        #: Datagrams removed by :meth:`drop_next` so far.
        self.dropped = 0
        self._port = port
        self._ctx: Any = None
        self._udp_interface: Any = None
        self._by_id: dict[str, Registration] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._observations: set[Observation] = set()
        self._registered: _Feed[Registration] = _Feed()
        self._updated: _Feed[Update] = _Feed()
        self._deregistered: _Feed[Registration] = _Feed()
        self._sends: _Feed[SendReport] = _Feed()
        self._rejections: _Feed[Rejection] = _Feed()
        self._drop_in = 0
        self._drop_out = 0

    def __repr__(self) -> str:
        state = "running" if self._ctx is not None else "stopped"
        return f"<LwM2MTestServer {self.uri} ({state}, {len(self.registrations)} registrations)>"

    # -- lifecycle --

    @property
    def port(self) -> int:
        """The bound port (the requested one before :meth:`start`)."""
        return self._port

    @property
    def uri(self) -> str:
        """The server URI for the client: ``coap://127.0.0.1:PORT`` or ``coap+tcp://...``."""
        scheme = "coap" if self.transport == "udp" else "coap+tcp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._ctx is not None

    @property
    def sends(self) -> list[SendReport]:
        """Every accepted Send, in order."""
        return self._sends.items

    @property
    def rejections(self) -> list[Rejection]:
        """Every refused client request, in order, with the reason."""
        return self._rejections.items

    @property
    def deregistrations(self) -> list[Registration]:
        """Registrations that ended by De-register or lifetime expiry, in order."""
        return self._deregistered.items

    async def __aenter__(self) -> LwM2MTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind and start serving."""
        if self._ctx is not None:
            raise LwM2MTestServerError("the server is already running")
        if self.transport == "tcp" and self._port == 0:
            # aiocoap's TCP server turns port 0 into 5683; pick a free port ourselves.
            for attempt in range(5):
                self._port = _pick_free_tcp_port(self.host)
                try:
                    await self._start_context()
                    break
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE or attempt == 4:
                        raise
            return
        await self._start_context()

    async def _start_context(self) -> None:
        site = _ServerResource(self)
        loggername = "m2mclient.testing.coap"
        if self.transport == "udp":
            ctx = await aiocoap.Context.create_server_context(
                site, bind=(self.host, self._port), transports=["udp6"], loggername=loggername
            )
            self._udp_interface = self._find_udp_interface(ctx)
            self._install_udp_hooks(self._udp_interface)
            self._port = int(self._udp_interface.transport.get_extra_info("socket").getsockname()[1])
        else:
            ctx = await aiocoap.Context.create_server_context(
                site, bind=(self.host, self._port), transports=["tcpserver"], loggername=loggername
            )
        self._ctx = ctx
        logger.info("LwM2M test server listening on %s", self.uri)

    async def stop(self) -> None:
        """Stop serving. Registrations stay readable for assertions."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for observation in list(self._observations):
            observation._end("server stopped")
        ctx, self._ctx = self._ctx, None
        self._udp_interface = None
        if ctx is not None:
            await ctx.shutdown()
            logger.info("LwM2M test server on %s stopped", self.uri)

    async def restart(self) -> None:
        """Stop and start again on the same port, forgetting every registration.

        The client learns about it only through its next Update (4.04) and must
        register again. Unconsumed registration and update events are discarded, so
        the next :meth:`wait_registration` returns a registration made after the restart.
        """
        await self.stop()
        now = self._now()
        for registration in list(self.registrations.values()):
            self._drop_registration(registration, "restarted", now)
        self._registered.discard_pending()
        self._updated.discard_pending()
        self._log_event("server restarted, registrations forgotten", None)
        await self._start_context()

    def _require_context(self) -> Any:
        if self._ctx is None:
            raise LwM2MTestServerError("the server is not running; use 'async with LwM2MTestServer(...)'")
        return self._ctx

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # -- fault injection --

    def drop_next(self, count: int = 1, direction: Literal["in", "out", "both"] = "in") -> None:
        """Drop the next ``count`` datagrams received (``"in"``), sent (``"out"``), or each.

        Incoming datagrams vanish before aiocoap sees them, so a CON from the client
        goes unanswered and must be retransmitted; outgoing ones (responses, ACKs,
        server requests) are never put on the wire. UDP only.
        """
        if self.transport != "udp":
            raise LwM2MTestServerError("drop_next() needs the UDP transport; TCP does not lose segments")
        if count < 0:
            raise ValueError("count must be >= 0")
        if direction in ("in", "both"):
            self._drop_in += count
        if direction in ("out", "both"):
            self._drop_out += count

    @property
    def pending_drops(self) -> tuple[int, int]:
        """Datagrams still to drop: (incoming, outgoing)."""
        return self._drop_in, self._drop_out

    @staticmethod
    def _find_udp_interface(ctx: Any) -> Any:
        for token_manager in ctx.request_interfaces:
            message_manager = getattr(token_manager, "token_interface", None)
            interface = getattr(message_manager, "message_interface", None)
            if interface is not None and hasattr(interface, "datagram_msg_received") and hasattr(interface, "send"):
                return interface
        raise LwM2MTestServerError(
            "cannot find aiocoap's udp6 message interface (datagram_msg_received/send); "
            "drop_next() supports aiocoap 0.4.x"
        )

    def _install_udp_hooks(self, interface: Any) -> None:
        receive = interface.datagram_msg_received
        send = interface.send

        def datagram_msg_received(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
            remote = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
            if self._drop_in > 0:
                self._drop_in -= 1
                self.dropped += 1
                self._log_datagram("in", "dropped", data, remote)
                return
            if data and (data[0] >> 4) & 0x3 == 3:
                self._log_datagram("in", "reset", data, remote)
            receive(data, ancdata, flags, address)

        def send_datagram(message: Any) -> None:
            if self._drop_out > 0:
                self._drop_out -= 1
                self.dropped += 1
                self._log_datagram("out", "dropped", message.encode(), _remote_text(message.remote))
                return
            if _mtype_name(message) == "RST":
                self._log_datagram("out", "reset", message.encode(), _remote_text(message.remote))
            send(message)

        interface.datagram_msg_received = datagram_msg_received
        interface.send = send_datagram

    # -- log --

    def _append_log(self, entry: LogEntry) -> None:
        self.log.append(entry)
        logger.debug("%s", entry)

    def _log_message(self, direction: Literal["in", "out"], kind: str, message: Any, path: str) -> None:
        self._append_log(
            LogEntry(
                at=self._now(),
                direction=direction,
                kind=kind,
                code=_code_text(message.code),
                path=path,
                options=_summarize(message),
                payload=bytes(message.payload),
                remote=_remote_text(message.remote),
                mtype=_mtype_name(message),
            )
        )

    def _log_datagram(self, direction: Literal["in", "out"], kind: str, data: bytes, remote: str) -> None:
        mtype = ("CON", "NON", "ACK", "RST")[(data[0] >> 4) & 0x3] if data else None
        mid = int.from_bytes(data[2:4], "big") if len(data) >= 4 else None
        code = "-"
        if len(data) >= 2:
            code = f"{data[1] >> 5}.{data[1] & 0x1F:02d}" if data[1] else "EMPTY"
        self._append_log(
            LogEntry(
                at=self._now(),
                direction=direction,
                kind=kind,
                code=code,
                path="",
                options=f"mid={mid}",
                payload=bytes(data),
                remote=remote,
                mtype=mtype,
            )
        )

    def _log_event(self, text: str, remote: Any) -> None:
        self._append_log(
            LogEntry(
                at=self._now(),
                direction="in",
                kind="event",
                code="-",
                path="",
                options=text,
                payload=b"",
                remote=_remote_text(remote),
            )
        )

    def format_log(self) -> str:
        """The log as text, one line per entry (handy in assertion messages)."""
        return "\n".join(str(entry) for entry in self.log)

    # -- waiting --

    async def wait_registration(self, endpoint: str | None = None, timeout: float = 5.0) -> Registration:
        """The next Register (of ``endpoint``, or anyone) not returned by an earlier call.

        A Register that happened before the call counts, so there is no race.
        """
        return await self._registered.take(
            lambda r: endpoint is None or r.endpoint == endpoint, timeout, f"registration of {endpoint or 'any client'}"
        )

    async def wait_update(self, endpoint: str | None = None, timeout: float = 5.0) -> Update:
        """The next accepted Registration Update not returned by an earlier call."""
        return await self._updated.take(
            lambda u: endpoint is None or u.endpoint == endpoint, timeout, f"update of {endpoint or 'any client'}"
        )

    async def wait_deregistration(self, endpoint: str | None = None, timeout: float = 5.0) -> Registration:
        """The next registration ended by De-register or expiry (see ``removed``)."""
        return await self._deregistered.take(
            lambda r: endpoint is None or r.endpoint == endpoint,
            timeout,
            f"de-registration of {endpoint or 'any client'}",
        )

    async def wait_send(self, endpoint: str | None = None, timeout: float = 5.0) -> SendReport:
        """The next accepted Send not returned by an earlier call."""
        return await self._sends.take(
            lambda s: endpoint is None or s.endpoint == endpoint, timeout, f"send from {endpoint or 'any client'}"
        )

    async def wait_rejection(
        self, operation: str | None = None, endpoint: str | None = None, timeout: float = 5.0
    ) -> Rejection:
        """The next refused client request (of ``operation``, e.g. ``"register"``)."""
        return await self._rejections.take(
            lambda r: (operation is None or r.operation == operation) and (endpoint is None or r.endpoint == endpoint),
            timeout,
            f"rejected {operation or 'request'}",
        )

    # -- registrations --

    def get_registration(self, endpoint: str | Registration) -> Registration:
        """The active registration of ``endpoint``; raises :class:`NotRegisteredError`."""
        name = endpoint.endpoint if isinstance(endpoint, Registration) else endpoint
        registration = self.registrations.get(name)
        if registration is None:
            known = ", ".join(sorted(self.registrations)) or "none"
            raise NotRegisteredError(f"endpoint {name!r} is not registered (registered: {known})")
        return registration

    def forget(self, endpoint: str) -> Registration:
        """Drop a registration silently, as if the server lost its state for this client."""
        registration = self.get_registration(endpoint)
        self._drop_registration(registration, "forgotten", self._now())
        self._log_event(f"registration {registration.location} of {endpoint} forgotten", registration.remote)
        return registration

    def _drop_registration(self, registration: Registration, reason: str, now: float) -> None:
        timer = self._timers.pop(registration.id, None)
        if timer is not None:
            timer.cancel()
        if self.registrations.get(registration.endpoint) is registration:
            del self.registrations[registration.endpoint]
        self._by_id.pop(registration.id, None)
        if registration.removed is None:
            registration.removed = reason
            registration.removed_at = now
        for observation in list(self._observations):
            if observation._registration is registration:
                observation._end(f"registration {reason}")

    def _arm_lifetime(self, registration: Registration) -> None:
        timer = self._timers.pop(registration.id, None)
        if timer is not None:
            timer.cancel()
        delay = registration.lifetime * self.lifetime_scale
        self._timers[registration.id] = asyncio.get_running_loop().call_later(delay, self._expire, registration)

    def _expire(self, registration: Registration) -> None:
        self._timers.pop(registration.id, None)
        if registration.removed is not None:
            return
        self._drop_registration(registration, "expired", self._now())
        self._log_event(
            f"registration {registration.location} of {registration.endpoint} expired "
            f"(lt={registration.lifetime} x {self.lifetime_scale:g})",
            registration.remote,
        )
        logger.info("registration of %s expired", registration.endpoint)
        self._deregistered.put(registration)

    def _registration_from(self, remote: Any) -> Registration | None:
        for registration in self.registrations.values():
            if _same_remote(registration.remote, remote):
                return registration
        return None

    # -- serving the client's requests --

    def _handle(self, request: Any) -> Any:
        path = "/" + "/".join(request.opt.uri_path)
        self._log_message("in", "request", request, path)
        segments = tuple(request.opt.uri_path)
        operation = "request"
        endpoint: str | None = None
        try:
            if segments == ("rd",):
                operation = "register"
                endpoint = _parse_query(request.opt.uri_query).get("ep")
                self._require_method(request, Code.POST, "Register")
                response = self._register(request)
            elif len(segments) == 2 and segments[0] == "rd":
                registration = self._by_id.get(segments[1])
                operation = "deregister" if request.code == Code.DELETE else "update"
                endpoint = registration.endpoint if registration else None
                if request.code not in (Code.POST, Code.DELETE):
                    raise _Rejected(
                        Code.METHOD_NOT_ALLOWED,
                        f"{request.code.name} {path}: a registration takes POST (Update) or DELETE (De-register)",
                    )
                if registration is None:
                    raise _Rejected(Code.NOT_FOUND, f"{path} is not a current registration")
                if request.code == Code.POST:
                    response = self._update(request, registration)
                else:
                    response = self._deregister(request, registration)
            elif segments == ("dp",):
                operation = "send"
                registration_or_none = self._registration_from(request.remote)
                endpoint = registration_or_none.endpoint if registration_or_none else None
                self._require_method(request, Code.POST, "Send")
                response = self._send(request, registration_or_none)
            else:
                raise _Rejected(Code.NOT_FOUND, f"{path}: this LwM2M server serves /rd, /rd/<id> and /dp only")
        except _Rejected as rejection:
            response = Message(code=rejection.code, payload=rejection.reason.encode("utf-8"))
            self._rejections.put(
                Rejection(
                    operation=operation,
                    code=str(rejection.code.dotted),
                    reason=rejection.reason,
                    endpoint=endpoint,
                    path=path,
                    query=tuple(request.opt.uri_query),
                    payload=bytes(request.payload),
                    remote=_remote_text(request.remote),
                    at=self._now(),
                )
            )
            logger.info(
                "rejected %s from %s: %s %s",
                operation,
                _remote_text(request.remote),
                rejection.code.dotted,
                rejection.reason,
            )
        except Exception as exc:  # a bug in here; answer instead of leaving the client hanging
            logger.exception("test server failed on %s %s", request.code, path)
            response = Message(code=Code.INTERNAL_SERVER_ERROR, payload=f"test server bug: {exc!r}".encode())
        response.remote = request.remote
        self._log_message("out", "response", response, path)
        return response

    @staticmethod
    def _require_method(request: Any, method: Any, operation: str) -> None:
        if request.code != method:
            path = "/" + "/".join(request.opt.uri_path)
            raise _Rejected(Code.METHOD_NOT_ALLOWED, f"{request.code.name} {path}: {operation} is a {method.name}")

    def _register(self, request: Any) -> Any:
        query = _parse_query(request.opt.uri_query)
        if "lwm2m" in query:
            version = _query_value(query, "lwm2m")
            if not _VERSION_RE.fullmatch(version):
                raise _Rejected(Code.BAD_REQUEST, f"lwm2m={version!r} is not a version like 1.2")
        else:
            version = "1.0"  # the LwM2M 1.0 default; 1.1+ clients must send it
        if version not in self.supported_versions:
            raise _Rejected(
                Code.PRECONDITION_FAILED,
                f"LwM2M version {version} is not supported by this server "
                f"(supported: {', '.join(self.supported_versions)})",
            )
        allowed = _REGISTER_PARAMS[version] | self.extra_register_params
        unknown = [name for name in query if name not in allowed]
        if unknown:
            raise _Rejected(
                Code.BAD_REQUEST,
                f"unknown Register parameter(s) for LwM2M {version}: {', '.join(unknown)} "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
        if "ep" not in query:
            raise _Rejected(Code.BAD_REQUEST, "the mandatory parameter ep (Endpoint Client Name) is missing")
        endpoint = _query_value(query, "ep")
        lifetime = _parse_lifetime(query) if "lt" in query else DEFAULT_LIFETIME
        binding, queue_mode = _parse_binding(version, query) if "b" in query else ("U", False)
        if "Q" in query:
            queue_mode = _parse_queue_flag(version, query)
        sms = _parse_sms(query) if "sms" in query else None
        profile_id = _query_value(query, "pid") if "pid" in query else None
        if not request.payload:
            raise _Rejected(
                Code.BAD_REQUEST,
                "a Register must list the objects and object instances as payload (content-format 40)",
            )
        content_format = request.opt.content_format
        links, root_path = _check_links(
            bytes(request.payload), None if content_format is None else int(content_format), version
        )

        now = self._now()
        previous = self.registrations.get(endpoint)
        if previous is not None:
            self._drop_registration(previous, "replaced", now)
        registration_id = secrets.token_hex(4)
        while registration_id in self._by_id:
            registration_id = secrets.token_hex(4)
        registration = Registration(
            endpoint=endpoint,
            location=f"/rd/{registration_id}",
            lifetime=lifetime,
            version=version,
            binding=binding,
            queue_mode=queue_mode,
            links=links,
            remote=request.remote,
            registered_at=now,
            sms=sms,
            profile_id=profile_id,
            root_path=root_path,
            query=query,
            transport=self.transport,
            last_update_at=now,
        )
        self.registrations[endpoint] = registration
        self._by_id[registration_id] = registration
        self._arm_lifetime(registration)
        logger.info(
            "registered %s at %s from %s (lwm2m %s, lt=%d, b=%s)",
            endpoint,
            registration.location,
            registration.remote_address,
            version,
            lifetime,
            binding,
        )
        self._registered.put(registration)
        return Message(code=Code.CREATED, location_path=("rd", registration_id))

    def _update(self, request: Any, registration: Registration) -> Any:
        version = registration.version
        query = _parse_query(request.opt.uri_query)
        allowed = _UPDATE_PARAMS[version]
        unknown = [name for name in query if name not in allowed]
        if unknown:
            raise _Rejected(
                Code.BAD_REQUEST,
                f"unknown Update parameter(s) for LwM2M {version}: {', '.join(unknown)} "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
        lifetime = _parse_lifetime(query) if "lt" in query else None
        binding: str | None = None
        queue_mode: bool | None = None
        if "b" in query:
            binding, queue_1_0 = _parse_binding(version, query)
            if version == "1.0":
                queue_mode = queue_1_0
        if "Q" in query:
            queue_mode = _parse_queue_flag(version, query)
        sms = _parse_sms(query) if "sms" in query else None
        links: list[Link] | None = None
        root_path = registration.root_path
        if request.payload:
            content_format = request.opt.content_format
            links, root_path = _check_links(
                bytes(request.payload), None if content_format is None else int(content_format), version
            )

        now = self._now()
        remote_changed = not _same_remote(registration.remote, request.remote)
        if lifetime is not None:
            registration.lifetime = lifetime
        if binding is not None:
            registration.binding = binding
        if queue_mode is not None:
            registration.queue_mode = queue_mode
        if sms is not None:
            registration.sms = sms
        if links is not None:
            registration.links = links
            registration.root_path = root_path
        if remote_changed:
            logger.info(
                "%s now at %s (was %s)",
                registration.endpoint,
                _remote_text(request.remote),
                registration.remote_address,
            )
            registration.remote = request.remote
        registration.last_update_at = now
        self._arm_lifetime(registration)
        update = Update(
            endpoint=registration.endpoint,
            at=now,
            lifetime=lifetime,
            binding=binding,
            sms=sms,
            queue_mode=queue_mode,
            links=links,
            query=query,
            remote=request.remote,
            remote_changed=remote_changed,
            registration=registration,
        )
        registration.updates.append(update)
        self._updated.put(update)
        return Message(code=Code.CHANGED)

    def _deregister(self, request: Any, registration: Registration) -> Any:
        if request.opt.uri_query:
            raise _Rejected(Code.BAD_REQUEST, "a De-register (DELETE) takes no query parameters")
        self._drop_registration(registration, "deregistered", self._now())
        logger.info("deregistered %s", registration.endpoint)
        self._deregistered.put(registration)
        return Message(code=Code.DELETED)

    def _send(self, request: Any, registration: Registration | None) -> Any:
        content_format = request.opt.content_format
        if content_format is None:
            raise _Rejected(Code.BAD_REQUEST, "a Send must carry a Content-Format (110, 112 or 11544)")
        content_format = int(content_format)
        if content_format not in SEND_FORMATS:
            raise _Rejected(
                Code.UNSUPPORTED_CONTENT_FORMAT,
                f"content-format {content_format} is not allowed for Send; use SenML JSON (110), "
                "SenML CBOR (112) or LwM2M CBOR (11544)",
            )
        if registration is None:
            raise _Rejected(Code.NOT_FOUND, f"Send from {_remote_text(request.remote)}, which has no registration here")
        if registration.version == "1.0":
            # LwM2M 1.0 has no Send (it arrived in 1.1): a client registered as 1.0 must not use it.
            reason = f"{registration.endpoint} registered as LwM2M 1.0, which has no Send"
            raise _Rejected(Code.METHOD_NOT_ALLOWED, reason)
        try:
            records = formats.decode_records(content_format, bytes(request.payload), path="/", registry=self.registry)
        except FormatError as exc:
            raise _Rejected(Code.BAD_REQUEST, f"Send payload does not decode: {exc}") from None
        if not records:
            raise _Rejected(Code.BAD_REQUEST, "a Send must carry at least one value")
        if self.check_send_objects:
            unregistered = sorted({r.path.ids[0] for r in records if r.path.ids[0] not in registration.object_ids})
            if unregistered:
                raise _Rejected(
                    Code.NOT_FOUND,
                    f"Send reports object(s) {', '.join(f'/{o}' for o in unregistered)} "
                    f"that {registration.endpoint} did not register",
                )
        report = SendReport(
            endpoint=registration.endpoint,
            content_format=content_format,
            payload=bytes(request.payload),
            records=records,
            values=formats.latest_values(records),
            remote=request.remote,
            received_at=self._now(),
        )
        self._sends.put(report)
        return Message(code=Code.CHANGED)

    # -- operations on the client --

    def _uri_path(self, registration: Registration, path: str | Path) -> list[str]:
        return _path_segments(registration.root_path) + _path_segments(path)

    def _default_format(self, registration: Registration) -> int:
        announced = registration.content_formats
        for preferred in (formats.SENML_CBOR, formats.SENML_JSON, formats.LWM2M_CBOR, formats.TLV):
            if preferred in announced:
                return preferred
        return formats.TLV if registration.version == "1.0" else formats.SENML_CBOR

    def _format_id(self, registration: Registration, content_format: int | str | None) -> int:
        if content_format is None:
            return self._default_format(registration)
        if isinstance(content_format, int):
            return content_format
        return formats.lookup(content_format).id

    def _make_response(self, message: Any, decode_path: str | None, path: str, kind: str) -> Response:
        content_format = message.opt.content_format
        response = Response(
            code=str(message.code.dotted),
            content_format=None if content_format is None else int(content_format),
            payload=bytes(message.payload),
            location=("/" + "/".join(message.opt.location_path)) if message.opt.location_path else None,
            observe=message.opt.observe,
            mtype=_mtype_name(message),
            received_at=self._now(),
            message=message,
        )
        self._log_message("in", kind, message, path)
        if decode_path is not None and response.ok and response.payload and response.content_format is not None:
            self._decode(response, decode_path)
        return response

    def _decode(self, response: Response, path: str) -> None:
        assert response.content_format is not None
        try:
            fmt = formats.lookup(response.content_format)
            if fmt.kind is FormatKind.LINKS:
                response.links = formats.decode_links(response.payload)
            elif fmt.kind is FormatKind.VALUES:
                records = formats.decode_records(fmt.id, response.payload, path=path, registry=self.registry)
                response.records = records
                response.values = formats.latest_values(records)
        except FormatError as exc:
            response.decode_error = str(exc)

    @staticmethod
    def _decode_path(path: str | Path) -> str | None:
        try:
            return str(Path.parse(path))
        except PathError:
            return None

    def _build(
        self,
        registration: Registration,
        code: Any,
        path: str | Path,
        *,
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | str | None = None,
        query: Sequence[str] = (),
        observe: int | None = None,
    ) -> Any:
        message = Message(code=code, uri_path=self._uri_path(registration, path), payload=payload)
        if content_format is not None:
            message.opt.content_format = content_format
        if accept is not None:
            message.opt.accept = self._format_id(registration, accept)
        if query:
            message.opt.uri_query = tuple(query)
        if observe is not None:
            message.opt.observe = observe
        if self.transport_tuning is not None:
            message.transport_tuning = self.transport_tuning
        message.remote = registration.remote
        return message

    async def _exchange(self, message: Any, path: str, decode_path: str | None, timeout: float | None) -> Response:
        ctx = self._require_context()
        limit = self.request_timeout if timeout is None else timeout
        self._log_message("out", "request", message, path)
        request = ctx.request(message)
        try:
            reply = await asyncio.wait_for(request.response, limit)
        except asyncio.TimeoutError:
            raise RequestFailedError(f"{message.code.name} {path}: no response within {limit:g} s") from None
        except aiocoap.error.Error as exc:
            raise RequestFailedError(f"{message.code.name} {path}: {type(exc).__name__}: {exc}") from exc
        return self._make_response(reply, decode_path, path, "response")

    async def request(
        self,
        endpoint: str | Registration,
        method: str,
        path: str | Path,
        *,
        payload: bytes = b"",
        content_format: int | str | None = None,
        accept: int | str | None = None,
        query: Sequence[str] = (),
        timeout: float | None = None,
    ) -> Response:
        """Send any request (``method`` like ``"GET"``, ``"FETCH"``) to the client, unvalidated.

        For tests of how a client handles odd requests (wrong method, unknown path,
        unsupported Content-Format). The path is sent as given, under the root path.
        """
        registration = self.get_registration(endpoint)
        code = getattr(Code, "iPATCH" if method.lower() == "ipatch" else method.upper(), None)
        if code is None or not code.is_request():
            raise ValueError(f"unknown CoAP method {method!r}")
        cf = None if content_format is None else self._format_id(registration, content_format)
        message = self._build(registration, code, path, payload=payload, content_format=cf, accept=accept, query=query)
        return await self._exchange(message, str(path), self._decode_path(path), timeout)

    async def read(
        self,
        endpoint: str | Registration,
        path: str | Path,
        accept: int | str | None = None,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Read (GET) an object, instance, resource or resource instance; values are decoded."""
        registration = self.get_registration(endpoint)
        message = self._build(registration, Code.GET, path, accept=accept)
        return await self._exchange(message, str(path), self._decode_path(path), timeout)

    def _encode(
        self,
        registration: Registration,
        path: str | Path,
        values: Any,
        content_format: int | str | None,
    ) -> tuple[bytes, int]:
        cf = self._format_id(registration, content_format)
        if isinstance(values, (bytes, bytearray, memoryview)):
            return bytes(values), cf
        if isinstance(values, Mapping) or (
            isinstance(values, (list, tuple)) and all(isinstance(v, Record) for v in values)
        ):
            return formats.encode(cf, values, path=path, registry=self.registry), cf
        return formats.encode(cf, {Path.parse(path): values}, path=path, registry=self.registry), cf

    async def write(
        self,
        endpoint: str | Registration,
        path: str | Path,
        values: Any,
        content_format: int | str | None = None,
        replace: bool = True,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Write: PUT (Replace) or, with ``replace=False``, POST (Partial Update).

        ``values`` is ``{path: value}``, a list of :class:`Record` s, a single value
        for ``path``, or ``bytes`` sent as the payload unchanged (to test malformed
        payloads). ``content_format`` defaults to one the client announced, else
        SenML CBOR (TLV for LwM2M 1.0).
        """
        registration = self.get_registration(endpoint)
        payload, cf = self._encode(registration, path, values, content_format)
        message = self._build(
            registration, Code.PUT if replace else Code.POST, path, payload=payload, content_format=cf
        )
        return await self._exchange(message, str(path), None, timeout)

    async def execute(
        self,
        endpoint: str | Registration,
        path: str | Path,
        args: str | None = None,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Execute (POST) a resource, with optional text arguments (``"0='v',1"``)."""
        registration = self.get_registration(endpoint)
        if args is None:
            message = self._build(registration, Code.POST, path)
        else:
            message = self._build(
                registration, Code.POST, path, payload=args.encode("utf-8"), content_format=formats.TEXT
            )
        return await self._exchange(message, str(path), None, timeout)

    async def create(
        self,
        endpoint: str | Registration,
        object_path: str | Path,
        values: Any,
        content_format: int | str | None = None,
        instance_id: int | None = None,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Create (POST /{object}) an object instance; the new instance is ``response.location``.

        ``values`` maps resource ids (``{5700: 21.5}``) or full paths to values, or is
        raw ``bytes``. Without ``instance_id`` the client picks the id; that form is
        only expressible in TLV (bare resource TLVs), so give ``instance_id`` or full
        paths for the other formats.
        """
        registration = self.get_registration(endpoint)
        base = Path.parse(object_path)
        if len(base) != 1:
            raise ValueError(f"Create targets an object path like '/3303', got {object_path!r}")
        cf = self._format_id(registration, content_format)
        if isinstance(values, (bytes, bytearray, memoryview)):
            payload = bytes(values)
        elif isinstance(values, Mapping) and all(isinstance(k, int) for k in values):
            if instance_id is None and cf != formats.TLV:
                raise LwM2MTestServerError(
                    "Create without instance_id is only expressible in TLV; give instance_id or full paths"
                )
            instance = base.child(0 if instance_id is None else instance_id)
            mapping = {instance.child(k): v for k, v in values.items()}
            encode_base = instance if instance_id is None else base
            payload = formats.encode(cf, mapping, path=encode_base, registry=self.registry)
        else:
            payload = formats.encode(cf, values, path=base, registry=self.registry)
        message = self._build(registration, Code.POST, base, payload=payload, content_format=cf)
        return await self._exchange(message, str(base), None, timeout)

    async def delete(self, endpoint: str | Registration, path: str | Path, *, timeout: float | None = None) -> Response:
        """Delete (DELETE) an object instance or resource instance."""
        registration = self.get_registration(endpoint)
        message = self._build(registration, Code.DELETE, path)
        return await self._exchange(message, str(path), None, timeout)

    async def discover(
        self,
        endpoint: str | Registration,
        path: str | Path,
        depth: int | None = None,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Discover (GET, Accept: link-format); the links are ``response.links``."""
        registration = self.get_registration(endpoint)
        query = [f"depth={depth}"] if depth is not None else []
        message = self._build(registration, Code.GET, path, accept=formats.LINK_FORMAT, query=query)
        return await self._exchange(message, str(path), self._decode_path(path), timeout)

    async def write_attributes(
        self,
        endpoint: str | Registration,
        path: str | Path,
        *,
        timeout: float | None = None,
        **attributes: int | float | str | bool | None,
    ) -> Response:
        """Write-Attributes (PUT with Uri-Query only): ``pmin=10``, ``gt=20.5``; ``pmax=None`` unsets ``pmax``."""
        registration = self.get_registration(endpoint)
        message = self._build(registration, Code.PUT, path, query=_attribute_query(attributes))
        return await self._exchange(message, str(path), None, timeout)

    async def read_composite(
        self,
        endpoint: str | Registration,
        paths: Sequence[str | Path],
        accept: int | str | None = None,
        content_format: int | str = formats.SENML_ETCH_CBOR,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Read-Composite: FETCH / with the paths as SenML-ETCH (CBOR by default)."""
        registration = self.get_registration(endpoint)
        cf = self._format_id(registration, content_format)
        payload = formats.encode_paths(cf, list(paths))
        message = self._build(registration, Code.FETCH, "/", payload=payload, content_format=cf, accept=accept)
        return await self._exchange(message, "/", "/", timeout)

    async def write_composite(
        self,
        endpoint: str | Registration,
        values: Any,
        content_format: int | str = formats.SENML_CBOR,
        *,
        timeout: float | None = None,
    ) -> Response:
        """Write-Composite: iPATCH / with ``{path: value}`` (or records, or raw bytes)."""
        registration = self.get_registration(endpoint)
        payload, cf = self._encode(registration, "/", values, content_format)
        message = self._build(registration, Code.iPATCH, "/", payload=payload, content_format=cf)
        return await self._exchange(message, "/", None, timeout)

    async def observe(
        self,
        endpoint: str | Registration,
        path: str | Path,
        accept: int | str | None = None,
        *,
        timeout: float | None = None,
        **attributes: int | float | str | bool | None,
    ) -> Observation:
        """Observe (GET, Observe=0, attributes as query) and return the :class:`Observation`.

        Check ``observation.response.code`` / ``observation.established``: a client that
        refuses answers with an error and the observation is over at once.
        """
        registration = self.get_registration(endpoint)
        message = self._build(
            registration, Code.GET, path, accept=accept, query=_attribute_query(attributes), observe=0
        )
        return await self._start_observation(
            registration, message, path=str(path), paths=None, decode_path=self._decode_path(path), timeout=timeout
        )

    async def observe_composite(
        self,
        endpoint: str | Registration,
        paths: Sequence[str | Path],
        accept: int | str | None = None,
        content_format: int | str = formats.SENML_ETCH_CBOR,
        *,
        timeout: float | None = None,
        **attributes: int | float | str | bool | None,
    ) -> Observation:
        """Observe-Composite: FETCH / with Observe=0 and the paths as SenML-ETCH."""
        registration = self.get_registration(endpoint)
        cf = self._format_id(registration, content_format)
        payload = formats.encode_paths(cf, list(paths))
        message = self._build(
            registration,
            Code.FETCH,
            "/",
            payload=payload,
            content_format=cf,
            accept=accept,
            query=_attribute_query(attributes),
            observe=0,
        )
        return await self._start_observation(
            registration, message, path="/", paths=[str(p) for p in paths], decode_path="/", timeout=timeout
        )

    async def _start_observation(
        self,
        registration: Registration,
        message: Any,
        *,
        path: str,
        paths: list[str] | None,
        decode_path: str | None,
        timeout: float | None,
    ) -> Observation:
        ctx = self._require_context()
        observation = Observation(self, registration, message, path=path, paths=paths, decode_path=decode_path)
        # Our own pipe instead of ctx.request(): aiocoap's observation iterator keeps only
        # the latest notification, and a test wants to see every one.
        pipe = Pipe(message, logging.getLogger("m2mclient.testing.coap"))
        observation._attach(pipe)
        self._observations.add(observation)
        self._log_message("out", "request", message, path)
        try:
            interface = await ctx.find_remote_and_interface(message)
            interface.request(pipe)
        except aiocoap.error.Error as exc:
            observation._end("cannot send")
            raise RequestFailedError(f"observe {path}: {type(exc).__name__}: {exc}") from exc
        limit = self.request_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(asyncio.shield(observation._first), limit)
        except asyncio.TimeoutError:
            observation._end("no response")
            raise RequestFailedError(f"observe {path}: no response within {limit:g} s") from None
        return observation


class LwM2MServerFactory:
    """Makes :class:`LwM2MTestServer` s with shared defaults (what the pytest fixture hands out).

    ``factory(transport="tcp")`` returns a server to use with ``async with``;
    ``factory.run(scenario)`` runs ``await scenario(server)`` in a fresh event loop
    (``asyncio.run``) with a started server, for plain synchronous tests.
    """

    __test__ = False

    def __init__(self, **defaults: Any) -> None:
        self.defaults = defaults

    def __call__(self, **options: Any) -> LwM2MTestServer:
        return LwM2MTestServer(**{**self.defaults, **options})

    def run(
        self,
        scenario: Callable[[LwM2MTestServer], Awaitable[T]],
        *,
        timeout: float | None = 60.0,
        **options: Any,
    ) -> T:
        async def main() -> T:
            async with self(**options) as server:
                return await asyncio.wait_for(scenario(server), timeout)

        return asyncio.run(main())
