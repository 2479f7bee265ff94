"""The oneM2M WebSocket binding (TS-0020 V2.0.0) over ``websocket-client``, bridged to asyncio.

One :class:`WebSocketBinding` is one AE's connection to its registrar CSE. The
AE is always the WebSocket client (TS-0020 §5.2: the registree uses a client,
the registrar a server), and once the connection is up request and response
primitives flow *both* ways over it: our CREATE/RETRIEVE/... go up, the CSE's
NOTIFY requests (including subscription verification) come down, and each side
answers the other's requests on the same socket.

How it maps (TS-0020 §6):

* **Handshake** (§6.2.2): ``GET /`` with ``Sec-WebSocket-Protocol`` listing the
  subprotocols we offer in order of preference (§6.2.2.7). By default those are
  the spec's name for our serialization (``oneM2M.R2.0.json`` or
  ``oneM2M.R2.0.cbor``, Table 6.2.2.9-1) *and* ACME's (``oneM2M.json`` /
  ``oneM2M.cbor``): ACME 2026.5.3 accepts only its own two names, case-sensitively,
  and answers HTTP 400 to anything else. The server selects one (§6.2.3.5);
  :attr:`WebSocketBinding.subprotocol` records which, spelled as the server
  sent it. ``X-M2M-Origin`` carries the AE-ID once known (see below).
* **Framing** (§5.1, Table 6.2.2.9-1): one primitive per WebSocket message, the
  bare short-name object (no ``m2m:rqp`` wrapper, as ACME sends and expects).
  JSON goes in text frames (opcode 0x1), CBOR in binary frames (opcode 0x2).
  Incoming frames are decoded by *opcode*, not by the negotiated subprotocol:
  ACME sends NOTIFYs as JSON text on a CBOR connection unless the AE's ``csz``
  asks for CBOR. Our own frames, answers included, always use the negotiated
  serialization: ACME decodes everything it receives by the subprotocol, so a
  JSON answer on a CBOR connection fails (a verification answered that way
  makes the SUB CREATE fail with 5204).
* **Matching** (§6.5): requests and responses are matched by ``rqi`` in both
  directions. A frame with ``op`` is a request for the handler given to
  :meth:`WebSocketBinding.serve` (run on the event loop); its response primitive
  goes back on the socket the request came in on. A frame with ``rsc``
  completes the pending :meth:`WebSocketBinding.send` with that ``rqi``. The CSE
  may send a NOTIFY *before* the response to the CREATE that triggered it (ACME
  usually does), and a subscription verification always arrives while the SUB
  CREATE is pending; matching by ``rqi`` makes the order irrelevant.
* **Bad frames** (DESIGN rule 5): a malformed request that has an ``rqi`` is
  answered 4000 BAD_REQUEST with the reason in ``m2m:dbg``; a malformed response
  whose ``rqi`` is pending fails that request with
  :class:`~m2mclient.onem2m.primitives.OneM2MProtocolError`; anything else
  (no ``rqi``, an unknown ``rqi``) is logged and dropped. Nothing is ever
  answered without an ``rqi``: two peers answering each other's garbage would
  never stop.
* **Closing** (§6.3): a close frame (opcode 0x8), then the reader waits for the
  server's close frame and closes TCP, as RFC 6455 §7.1.1 describes.
* **Reopening** (§5.2): only the client reopens. After a drop the binding
  reconnects in the background with bounded, jittered exponential back-off, and
  :meth:`WebSocketBinding.send` reconnects at once when it finds no connection
  (§5.2: "reopened when the next request primitive is sent"). Requests in flight
  when a connection drops fail with :class:`WebSocketConnectionLostError`
  (``retryable`` is True; ``sent`` is False only if the frame surely never
  left): their fate at the CSE is unknown, so retrying them is the AE layer's
  decision (its offline queue retries with the same ``rqi`` and ``rn``).

Threading: ``websocket-client`` is blocking, so each connection has exactly one
reader thread that blocks in ``recv`` and hands every frame to the event loop
with ``loop.call_soon_threadsafe``; nothing else touches the loop's objects from
that thread. Handshakes and frame writes run in the loop's default executor so a
slow link never blocks the loop. There is no thread per request.

ACME CSE 2026.5.3 behaviour this binding is built around (verified against the
``acme_cse`` test peer, see tests/onem2m/test_ws_binding.py, and
shared/reference/acme-cse-peer-and-ae-sdks.md §1.7):

* **Originator binding.** ACME ties a connection to the ``X-M2M-Origin`` of its
  handshake. A connection opened without it may only register an <AE>; every
  later request on it, even after a successful registration, gets 4103. So:
  register on an anonymous connection with ``fr: "C"``, read the assigned AE-ID
  (``aei``), then :meth:`WebSocketBinding.set_originator`, which reconnects with
  ``X-M2M-Origin: <AE-ID>``. A second connection with the same originator makes
  ACME close the first one.
* **How the CSE reaches the AE.** A NOTIFY to an AE goes over its associated
  connection only if the AE's ``poa`` holds a ``ws://`` URL. With ``poa`` absent
  or empty ACME delivers nothing (it logs "has no poa attribute" at debug level
  only), so registering without ``poa`` silently loses every notification.
  ACME's own convention, used here as :data:`WS_POINT_OF_ACCESS`, is the
  placeholder ``ws://default``: "reachable only over the connection it opens";
  ACME never dials it (with no connection it reports 5103 at once). The
  subscription's ``nu`` is the AE-ID; ACME resolves it to that ``poa`` and so
  to the socket associated with that originator. When ``nu`` is the
  subscriber's own AE-ID no verification request is sent; for another AE's ID
  the verification request goes over that AE's socket.
* **Back-to-back frames (a defect).** ACME's receive loop hands each message
  to a worker thread through a ``lambda`` that reads the loop variable
  ``message`` late (``plugins/bindings/WebSocketServer.py``,
  ``handleIncomingConnection``). When a second frame arrives before the worker
  for the first has started, the second frame is processed twice and the first
  never: a request is executed twice (two <contentInstance>s, a second DELETE
  failing with 4004/5000) or never answered (our request times out), and an
  answer to ACME's NOTIFY is lost (ACME waits 10 s; a lost verification answer
  fails the SUB CREATE with 5204). Two frames in one TCP segment trigger it
  every time; an answer to a NOTIFY followed at once by our next request
  triggers it now and then. ``min_frame_interval`` (e.g. 0.05 s) spaces our
  frames so that ACME's worker gets to the first one in time.
* **Close handling.** When ACME closes a connection (e.g. because the same
  originator connected again) it waits for the client to close TCP after the
  close frames; the reader does so at once. A client that leaves TCP open stalls
  ACME's handler for the *new* connection until its close timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
import random
import socket
import ssl
import threading
import urllib.request
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future as ConcurrentFuture
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import cbor2
import websocket

from m2mclient.onem2m.bindings.base import Binding, RequestHandler
from m2mclient.onem2m.primitives import (
    OneM2MError,
    OneM2MProtocolError,
    OneM2MUsageError,
    RequestPrimitive,
    ResponsePrimitive,
    ResponseStatusCode,
    ResponseType,
    http_to_rsc,
)
from m2mclient.onem2m.serialization import Format, decode_primitive, encode_request, encode_response

logger = logging.getLogger(__name__)

RSC = ResponseStatusCode

#: TS-0020 Table 6.2.2.9-1 subprotocol names (Release 2 serializations we speak).
SPEC_SUBPROTOCOLS: Mapping[Format, str] = {Format.JSON: "oneM2M.R2.0.json", Format.CBOR: "oneM2M.R2.0.cbor"}
#: The names ACME CSE accepts instead (exactly these, case-sensitive: ``etc/Types.py``).
ACME_SUBPROTOCOLS: Mapping[Format, str] = {Format.JSON: "oneM2M.json", Format.CBOR: "oneM2M.cbor"}

#: What a WebSocket-connected AE registers as ``poa``: ACME's "reachable over its
#: own connection only" placeholder (ACME ``Constants.defaultWebSocketSchema``).
WS_POINT_OF_ACCESS = "ws://default"

#: Per-request response timeout, handshake timeout and socket write timeout (s).
DEFAULT_TIMEOUT = 30.0
#: Reconnect back-off: the first delay is drawn from [initial/2, initial], each
#: later one doubles up to [maximum/2, maximum]. A minute at most keeps a device
#: from hammering a CSE that is down while still coming back within ~1 min.
DEFAULT_BACKOFF_INITIAL = 1.0
DEFAULT_BACKOFF_MAX = 60.0
#: How long a close waits for the server's close frame (RFC 6455 §7.1.1) before
#: dropping TCP anyway; websocket-client's own default is 3 s too.
CLOSE_TIMEOUT = 3.0

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class WebSocketConnectionError(OneM2MError, ConnectionError):
    """The CSE could not be reached over WebSocket, or the connection failed.

    :attr:`rsc` is 5103 TARGET_NOT_REACHABLE (what a CSE reports for a peer it
    cannot reach). :attr:`retryable` says whether trying again later can help
    (a refused TCP connection can; a certificate the CSE does not accept cannot).
    """

    _peer_answer = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        rsc: int = RSC.TARGET_NOT_REACHABLE,
        request: RequestPrimitive | None = None,
        sent: bool = False,
        hint: str | None = None,
    ) -> None:
        #: True if the same request may succeed when sent again later.
        self.retryable = retryable
        #: False if the request certainly never left (a retry cannot duplicate it);
        #: True if it may have reached the CSE.
        self.sent = sent
        super().__init__(message, rsc=rsc, hint=hint)
        self.request = request


class WebSocketHandshakeError(WebSocketConnectionError):
    """The server refused the opening handshake with HTTP :attr:`status` (TS-0020 §6.2.3.1)."""

    def __init__(self, message: str, *, status: int, retryable: bool, hint: str | None = None) -> None:
        #: The HTTP status of the server's handshake answer.
        self.status = status
        super().__init__(message, retryable=retryable, rsc=http_to_rsc(status), hint=hint)


class WebSocketConnectionLostError(WebSocketConnectionError):
    """The connection dropped while :attr:`request` waited for its response.

    Always :attr:`retryable`. If :attr:`sent` is False the request never left;
    if True the CSE may or may not have processed it, so a retry must be
    idempotent (same ``rqi``, and for a CREATE the same ``rn``, so a duplicate
    is answered 4105 CONFLICT instead of creating a second resource).
    """

    def __init__(self, message: str, *, request: RequestPrimitive, sent: bool) -> None:
        super().__init__(
            message,
            retryable=True,
            request=request,
            sent=sent,
            hint="retry the request unchanged (same rqi) once the binding has reconnected",
        )


class WebSocketTimeoutError(WebSocketConnectionError, TimeoutError):
    """No response (or no handshake) within the timeout; :attr:`rsc` is 4008 REQUEST_TIMEOUT."""

    def __init__(self, message: str, *, request: RequestPrimitive | None = None, sent: bool = False) -> None:
        super().__init__(
            message,
            retryable=True,
            rsc=RSC.REQUEST_TIMEOUT,
            request=request,
            sent=sent,
            hint="the CSE may still process the request: retry it unchanged (same rqi), or raise the timeout",
        )


class InsecureWebSocketWarning(UserWarning):
    """A ``wss://`` connection was asked not to verify the CSE's certificate."""


# ---------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------


def default_subprotocols(fmt: Format | str) -> list[str]:
    """The subprotocols offered for ``fmt``: the TS-0020 name first, then ACME's.

    TS-0020 §6.2.2.7: the header may list several names, in order of preference.
    Offering both keeps a spec-conformant CSE on the spec's name while ACME
    (which knows only its own names) still finds one it accepts.
    """
    fmt = Format(fmt)
    return [SPEC_SUBPROTOCOLS[fmt], ACME_SUBPROTOCOLS[fmt]]


def subprotocol_format(name: str) -> Format | None:
    """The serialization a subprotocol name stands for (by its suffix), None if unknown."""
    suffix = name.rsplit(".", 1)[-1].lower()
    return Format(suffix) if suffix in ("json", "cbor") else None


def backoff_delay(attempt: int, *, initial: float, maximum: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 is the first): jittered exponential back-off.

    The ceiling doubles per attempt from ``initial`` up to ``maximum``; the delay
    is drawn uniformly from the upper half of it ("equal jitter"), so many
    devices cut off together do not all come back in the same instant, and no
    delay is ever near zero (ACME needs a moment to notice the old connection is
    gone before the same originator connects again).
    """
    ceiling = min(maximum, initial * (1 << min(max(attempt, 0), 32)))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def _checked_subprotocols(fmt: Format, subprotocols: Sequence[str] | None) -> list[str]:
    offered = list(default_subprotocols(fmt) if subprotocols is None else subprotocols)
    if isinstance(subprotocols, str) or not offered or not all(isinstance(s, str) and s for s in offered):
        raise OneM2MUsageError(f"subprotocols must be a non-empty list of names, got {subprotocols!r}")
    for name in offered:
        if subprotocol_format(name) is None:
            raise OneM2MUsageError(
                f"subprotocol {name!r} names no serialization m2mclient speaks; "
                "use names ending in .json or .cbor (TS-0020 Table 6.2.2.9-1)"
            )
    return offered


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _peek(data: bytes, fmt: Format) -> tuple[str | None, str | None]:
    """Best-effort (kind, rqi) of a frame that failed strict decoding: ("request"|"response"|None, rqi)."""
    try:
        obj: Any = json.loads(data) if fmt is Format.JSON else cbor2.loads(data)
    except Exception:  # any garbage: json/cbor2 raise many types, RecursionError included
        return None, None
    if isinstance(obj, dict) and len(obj) == 1:
        (key,) = obj
        if key in ("m2m:rqp", "m2m:rsp") and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        return None, None
    rqi = obj.get("rqi")
    rqi = rqi if isinstance(rqi, str) and rqi else None
    if "op" in obj and "rsc" not in obj:
        return "request", rqi
    if "rsc" in obj and "op" not in obj:
        return "response", rqi
    return None, rqi


# ---------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Connection:
    """One open WebSocket and the thread reading it."""

    ws: websocket.WebSocket
    sock: socket.socket  # the raw socket, kept to wake the reader with shutdown()
    originator: str | None  # X-M2M-Origin of the handshake
    subprotocol: str | None
    done: asyncio.Future[None]  # resolved on the loop once the reader has ended
    closing: bool = False  # we asked for the close: its end is not a "drop"
    reader: threading.Thread | None = None
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # frames leave one by one, in order
    last_write: float = float("-inf")  # loop time the last frame left (for min_frame_interval)

    @property
    def open(self) -> bool:
        return not self.done.done() and not self.closing

    def abort(self) -> None:
        """Drop TCP at once; the blocked reader wakes with an error and ends."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


@dataclass(eq=False)
class _Pending:
    request: RequestPrimitive
    future: asyncio.Future[ResponsePrimitive]
    connection: _Connection
    sent: bool = False


@dataclass(frozen=True)
class _ProxySettings:
    host: str
    port: int
    auth: tuple[str, str] | None = None


# ---------------------------------------------------------------------------
# The binding
# ---------------------------------------------------------------------------


class WebSocketBinding:
    """An AE's WebSocket connection to its CSE (TS-0020), as a :class:`~m2mclient.onem2m.bindings.base.Binding`.

    >>> binding = WebSocketBinding("ws://127.0.0.1:8180")        # doctest: +SKIP
    >>> binding.serve(answer_notifications)                        # doctest: +SKIP
    >>> await binding.open()                                       # doctest: +SKIP
    >>> response = await binding.send(registration)                # fr "C": the CSE assigns the AE-ID
    >>> await binding.set_originator(aei)                          # reconnect as that AE (ACME requires it)

    Args:
        url: the CSE's WebSocket point of access, ``ws://host:port`` or ``wss://...``
            (TS-0020 §6.2.1: a CSE lists it in its <CSEBase> ``poa``).
        serialization: JSON (text frames) or CBOR (binary frames).
        subprotocols: names to offer, most preferred first; default
            :func:`default_subprotocols` (TS-0020's and ACME's name for
            ``serialization``). If the server picks one of another serialization
            (by its ``.json`` / ``.cbor`` suffix), :attr:`format` follows it.
        verify: for ``wss://``: True (default) verifies the CSE's certificate
            against the system's CAs, a string names a CA bundle file to verify
            against instead, False disables verification (with an
            :class:`InsecureWebSocketWarning`; TS-0020 §7 asks for mutually
            authenticated TLS, so only for a lab).
        ssl_context: a ready :class:`ssl.SSLContext` (e.g. with a client
            certificate for TS-0003 certificate-based SAEF); overrides ``verify``.
        timeout: seconds for the handshake, for each frame write, and the default
            wait for a response in :meth:`send`.
        reconnect: reconnect in the background after the connection drops.
        backoff_initial, backoff_max: reconnect delay bounds (see :func:`backoff_delay`).
        rng: randomness for the back-off jitter (inject a seeded one in tests).
        originator: the AE-ID for the handshake's ``X-M2M-Origin``; None before
            registration (see :meth:`set_originator`).
        headers: extra handshake headers, e.g. ``{"Authorization": "Bearer ..."}``
            for a CSE with WebSocket token or basic authentication.
        proxy: an ``http://[user:pass@]host:port`` proxy to tunnel through with
            CONNECT (TS-0020 §6.6). None: the ``http_proxy`` / ``https_proxy`` /
            ``no_proxy`` environment, if ``trust_env``.
        trust_env: read proxies from the environment. Loopback hosts never go
            through a proxy either way (websocket-client alone would send
            ``ws://127.0.0.1`` to ``http_proxy``).
        point_of_access: what :attr:`point_of_access` returns for the AE's
            ``poa``; default ``[WS_POINT_OF_ACCESS]`` (see the module docs).
        min_frame_interval: seconds to leave between two frames on one
            connection (0: none). A workaround for ACME CSE 2026.5.3, which can
            run one of two frames that reach it back to back twice and drop the
            other (see the module docs); ~0.05 s avoids that in practice.
    """

    def __init__(
        self,
        url: str,
        *,
        serialization: Format = Format.JSON,
        subprotocols: Sequence[str] | None = None,
        verify: bool | str = True,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        reconnect: bool = True,
        backoff_initial: float = DEFAULT_BACKOFF_INITIAL,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        rng: random.Random | None = None,
        originator: str | None = None,
        headers: Mapping[str, str] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        point_of_access: Sequence[str] | None = None,
        min_frame_interval: float = 0.0,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("ws", "wss") or not parts.hostname:
            raise OneM2MUsageError(f"a WebSocket point of access is ws://host[:port] or wss://..., got {url!r}")
        try:
            self.format: Format = Format(serialization)
        except ValueError:
            raise OneM2MUsageError(f"serialization must be Format.JSON or Format.CBOR, got {serialization!r}") from None
        offered = _checked_subprotocols(self.format, subprotocols)
        if not min_frame_interval >= 0:
            raise OneM2MUsageError(f"min_frame_interval must be >= 0 seconds, got {min_frame_interval!r}")
        if not timeout > 0:
            raise OneM2MUsageError(f"timeout must be positive seconds, got {timeout!r}")
        if not 0 < backoff_initial <= backoff_max:
            raise OneM2MUsageError(
                f"need 0 < backoff_initial <= backoff_max, got {backoff_initial!r} and {backoff_max!r}"
            )
        self._url = url
        self._scheme = scheme
        self._host: str = parts.hostname
        try:
            self._port = parts.port or (443 if scheme == "wss" else 80)
        except ValueError:
            raise OneM2MUsageError(f"invalid port in {url!r}") from None
        self._offered = offered
        self._timeout = float(timeout)
        self._min_frame_interval = float(min_frame_interval)
        self._reconnect_enabled = reconnect
        self._backoff_initial = float(backoff_initial)
        self._backoff_max = float(backoff_max)
        self._rng = rng if rng is not None else random.Random()
        self._originator = originator
        self._headers = dict(headers or {})
        self._proxy = self._parse_proxy(proxy) if proxy is not None else None
        self._trust_env = trust_env
        self._poa = list(point_of_access) if point_of_access is not None else [WS_POINT_OF_ACCESS]
        self._ssl_context = self._make_ssl_context(verify, ssl_context) if scheme == "wss" else None

        self._handler: RequestHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._connected_event: asyncio.Event | None = None
        self._conn: _Connection | None = None
        self._subprotocol: str | None = None
        self._pending: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closed = True  # until open()
        self._connects = 0

    # --- public state ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The CSE's WebSocket URL."""
        return self._url

    @property
    def point_of_access(self) -> list[str]:
        """The AE's ``poa``: ``["ws://default"]`` unless configured (see the module docs for why not [])."""
        return list(self._poa)

    @property
    def originator(self) -> str | None:
        """The AE-ID sent as ``X-M2M-Origin`` in handshakes (None before registration)."""
        return self._originator

    @property
    def offered_subprotocols(self) -> list[str]:
        """The subprotocols offered in each handshake, most preferred first (TS-0020 §6.2.2.7)."""
        return list(self._offered)

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected in the latest handshake, as it spelled it (TS-0020 §6.2.3.5)."""
        return self._subprotocol

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._conn is not None and self._conn.open

    @property
    def connect_count(self) -> int:
        """Connections opened so far (the first one, plus one per reconnect)."""
        return self._connects

    # --- Binding API ----------------------------------------------------------------

    def serve(self, handler: RequestHandler) -> None:
        """Answer the CSE's requests (NOTIFY, verification) with ``handler``, run on the event loop.

        The handler's :class:`ResponsePrimitive` goes back on the socket the
        request came in on; ``rqi`` is set to the request's, and ``rvi``, ``to``
        and ``fr`` are filled in when the handler left them out. A handler that
        raises :class:`OneM2MError` answers with its ``rsc``; any other exception
        answers 5000, and no handler at all answers 5001 NOT_IMPLEMENTED.
        """
        self._handler = handler

    async def open(self) -> None:
        """Connect to the CSE (TS-0020 §6.2). Idempotent while open.

        Raises :class:`WebSocketConnectionError` (or its subclasses) if the
        connection cannot be established; nothing is retried here.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop and not self._closed:
            raise OneM2MUsageError("this binding is open on another event loop; close() it there first")
        if self._loop is not loop:
            self._loop = loop
            self._lock = asyncio.Lock()
            self._connected_event = asyncio.Event()
        self._closed = False
        await self._ensure_connection()

    async def send(self, request: RequestPrimitive, *, timeout: float | None = None) -> ResponsePrimitive:
        """Send ``request`` and return the CSE's response primitive (any RSC), matched by ``rqi``.

        Reconnects first if the connection has dropped (TS-0020 §5.2). Raises
        :class:`WebSocketTimeoutError` after ``timeout`` (default: the binding's)
        seconds without a response, :class:`WebSocketConnectionLostError` if the
        connection drops first, :class:`WebSocketConnectionError` if it cannot be
        reopened, :class:`OneM2MProtocolError` if the CSE's response is malformed.
        """
        if not isinstance(request, RequestPrimitive):
            raise OneM2MUsageError(f"send() takes a RequestPrimitive, got {type(request).__name__}")
        self._check_open()
        rqi = request.rqi
        if rqi in self._pending:
            raise OneM2MUsageError(
                f"a request with rqi {rqi!r} is already waiting for its response on this binding; "
                "request identifiers must be unique among requests in flight"
            )
        data = encode_request(request, self.format)  # a usage error now, before anything is sent
        conn = await self._ensure_connection()
        loop = self._running_loop()
        entry = _Pending(request, loop.create_future(), conn)
        self._pending[rqi] = entry
        try:
            # Marked before the write: a drop reported while the frame is on its way
            # must say "may have reached the CSE", never "certainly did not".
            entry.sent = True
            try:
                await self._write(conn, data)
            except Exception as exc:
                # The frame did not leave whole, and a CSE processes only whole messages.
                raise WebSocketConnectionLostError(
                    f"could not send {request.op.name} {request.to} (rqi {rqi}): {exc}", request=request, sent=False
                ) from exc
            wait = self._timeout if timeout is None else timeout
            try:
                return await asyncio.wait_for(entry.future, wait)
            except asyncio.TimeoutError:
                raise WebSocketTimeoutError(
                    f"no response to {request.op.name} {request.to} (rqi {rqi}) within {wait:g} s",
                    request=request,
                    sent=True,
                ) from None
        finally:
            if self._pending.get(rqi) is entry:
                del self._pending[rqi]
            if not entry.future.done():
                entry.future.cancel()
            elif not entry.future.cancelled():
                entry.future.exception()  # retrieved: a drop we already reported differently is not "unhandled"

    async def close(self) -> None:
        """Close the connection (TS-0020 §6.3) and stop reconnecting. :meth:`open` may reopen."""
        if self._closed:
            return
        self._closed = True
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._close_connection(conn)
        for handler_task in list(self._tasks):
            handler_task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- originator and reconnection ---------------------------------------------------

    async def set_originator(self, originator: str) -> None:
        """Use ``originator`` (the AE-ID the CSE assigned) as ``X-M2M-Origin`` from now on.

        If a connection is open under another originator it is closed and a new
        one opened (ACME binds a connection to its handshake's originator and
        refuses every non-registration request on an anonymous one with 4103).
        Requests still waiting on the old connection fail with the retryable
        :class:`WebSocketConnectionLostError`. Raises
        :class:`WebSocketConnectionError` if the new connection cannot be opened
        (the background reconnect, if enabled, keeps trying).
        """
        if not isinstance(originator, str) or not originator:
            raise OneM2MUsageError(f"an originator is a non-empty AE-ID string, got {originator!r}")
        self._originator = originator
        if self._closed or self._lock is None:
            return  # the next open() uses it
        async with self._lock:
            conn = self._conn
            if conn is not None and conn.open and conn.originator == originator:
                return
            if conn is not None:
                self._conn = None
                # Close before reopening: the new handshake then finds no stale
                # association for this originator at the CSE (TS-0020 §6.4).
                await self._close_connection(conn)
            try:
                await self._connect_locked()
            except WebSocketConnectionError:
                self._schedule_reconnect()
                raise

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is open (e.g. after a drop); :class:`WebSocketTimeoutError` after ``timeout``."""
        self._check_open()
        assert self._connected_event is not None
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        except asyncio.TimeoutError:
            raise WebSocketTimeoutError(f"not reconnected to {self._url} within {timeout:g} s") from None

    def abort(self) -> None:
        """Drop the connection at once, without a close handshake, as a lost link would.

        For a link layer that knows the bearer is gone (a modem detach, a PDP
        context drop), so the binding reconnects now instead of waiting for TCP
        to notice; and for tests. In-flight requests fail as for any drop.
        """
        if self._conn is not None:
            self._conn.abort()

    # --- connecting ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise OneM2MUsageError("the WebSocket binding is not open: call open() first")
        if self._loop is not asyncio.get_running_loop():
            raise OneM2MUsageError("the WebSocket binding was opened on another event loop")

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    async def _ensure_connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and conn.open:
            return conn
        assert self._lock is not None
        async with self._lock:
            conn = self._conn
            if conn is not None and conn.open:
                return conn
            return await self._connect_locked()

    async def _connect_locked(self) -> _Connection:
        """Open a connection (the caller holds the lock and has checked the binding is open)."""
        loop = self._running_loop()
        originator = self._originator
        job: ConcurrentFuture[tuple[websocket.WebSocket, socket.socket]] = ConcurrentFuture()
        attempt = loop.run_in_executor(None, self._handshake_into, job, originator)
        try:
            await attempt
        except asyncio.CancelledError:
            # The handshake thread runs on; close what it produces.
            job.add_done_callback(_close_late_handshake)
            raise
        ws, sock = job.result()
        if self._closed:  # close() ran while the handshake was under way
            _close_late_handshake(job)
            raise OneM2MUsageError("the WebSocket binding was closed")
        selected = self._selected_subprotocol(ws)
        conn = _Connection(ws=ws, sock=sock, originator=originator, subprotocol=selected, done=loop.create_future())
        fmt = subprotocol_format(selected) if selected else None
        if fmt is not None and fmt is not self.format:
            logger.info("%s selected subprotocol %s: switching to %s", self._url, selected, fmt.value.upper())
            self.format = fmt
        self._subprotocol = selected
        self._conn = conn
        self._connects += 1
        conn.reader = threading.Thread(
            target=self._read_loop, args=(conn,), name=f"m2m-ws-reader-{self._host}:{self._port}", daemon=True
        )
        conn.reader.start()
        assert self._connected_event is not None
        self._connected_event.set()
        logger.info(
            "connected to %s (subprotocol %s, originator %s)",
            self._url,
            selected,
            originator or "none: registration only",
        )
        return conn

    def _selected_subprotocol(self, ws: websocket.WebSocket) -> str | None:
        # The header as the server spelled it: websocket-client's getsubprotocol()
        # lower-cases it ("onem2m.json"), and ACME's names are case-sensitive.
        headers = ws.getheaders() or {}
        spelled = headers.get("sec-websocket-protocol")
        if isinstance(spelled, str) and spelled.strip():
            return spelled.strip()
        lowered = ws.getsubprotocol()
        if not lowered:
            return None
        return next((name for name in self._offered if name.lower() == lowered.lower()), lowered)

    def _handshake_into(
        self, job: ConcurrentFuture[tuple[websocket.WebSocket, socket.socket]], originator: str | None
    ) -> None:
        """Executor: TCP (+ TLS) and the opening handshake; the outcome goes into ``job``."""
        try:
            job.set_result(self._handshake(originator))
        except BaseException as exc:  # handed to the awaiting coroutine through ``job``
            job.set_exception(exc)

    def _handshake(self, originator: str | None) -> tuple[websocket.WebSocket, socket.socket]:
        # TS-0020 §6.2.2: Host, Upgrade, Connection, Sec-WebSocket-Key/-Version come
        # from websocket-client; we add Sec-WebSocket-Protocol (§6.2.2.7) and the
        # originator the CSE binds the connection to.
        header = [f"{name}: {value}" for name, value in self._headers.items()]
        if originator:
            header.append(f"X-M2M-Origin: {originator}")
        options: dict[str, Any] = {
            "subprotocols": self._offered,
            "header": header,
            "suppress_origin": True,  # no browser Origin: not part of the §6.2.2 handshake
            "redirect_limit": 0,  # a CSE does not redirect; never follow one to another host
            "skip_utf8_validation": True,  # a bad text frame is a oneM2M 4000, not a dropped connection
            "enable_multithread": True,  # the reader thread and the writers share the socket
        }
        proxy = self._proxy_for_target()
        sock: socket.socket | None = None
        try:
            if proxy is None:
                # Our own socket: websocket-client then consults no proxy variables.
                sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames, latency matters
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # find a dead peer on an idle link
                if self._ssl_context is not None:
                    sock = self._ssl_context.wrap_socket(sock, server_hostname=self._host)
                options["socket"] = sock
            else:
                # TS-0020 §6.6: CONNECT host:port through an HTTP proxy (websocket-client's tunnel).
                options.update(
                    http_proxy_host=proxy.host,
                    http_proxy_port=proxy.port,
                    http_proxy_auth=proxy.auth,
                    proxy_type="http",
                )
                if self._ssl_context is not None:
                    options["sslopt"] = {"context": self._ssl_context}
            ws = websocket.create_connection(self._url, timeout=self._timeout, **options)
            if ws.sock is None:  # connected without a socket: cannot happen, but never hand one out
                raise websocket.WebSocketConnectionClosedException("the handshake left no socket")
        except BaseException as exc:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
            if isinstance(exc, Exception):
                raise self._connect_error(exc) from exc
            raise
        return ws, ws.sock

    def _connect_error(self, exc: Exception) -> WebSocketConnectionError:
        where = f"cannot open a WebSocket to {self._url}"
        if isinstance(exc, websocket.WebSocketBadStatusException):
            body = exc.resp_body.decode("utf-8", "replace").strip() if isinstance(exc.resp_body, bytes) else ""
            status = int(exc.status_code)
            hint = None
            if status == 400 and "subprotocol" in body.lower():
                hint = (
                    f"we offered {', '.join(self._offered)}; ACME accepts only oneM2M.json and oneM2M.cbor "
                    "(case-sensitive)"
                )
            return WebSocketHandshakeError(
                f"{where}: the server refused the handshake with HTTP {status}" + (f" ({body[:200]})" if body else ""),
                status=status,
                retryable=status >= 500 or status in (408, 429),
                hint=hint,
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return WebSocketConnectionError(
                f"{where}: the CSE's certificate was not accepted: {exc.verify_message or exc}",
                retryable=False,
                hint="give the CA that signed the CSE's certificate as verify='ca.pem' or ssl_context",
            )
        if isinstance(exc, (websocket.WebSocketTimeoutException, TimeoutError)):
            return WebSocketTimeoutError(f"{where}: no handshake within {self._timeout:g} s")
        if isinstance(exc, (OSError, websocket.WebSocketConnectionClosedException)):
            return WebSocketConnectionError(f"{where}: {exc}", retryable=True)
        if isinstance(exc, websocket.WebSocketProxyException):
            return WebSocketConnectionError(f"{where}: proxy failed: {exc}", retryable=True)
        # Invalid handshake answer (e.g. no subprotocol selected, TS-0020 §6.2.3.5).
        return WebSocketConnectionError(f"{where}: {exc}", retryable=False)

    # --- TLS and proxies ------------------------------------------------------------

    @staticmethod
    def _make_ssl_context(verify: bool | str, given: ssl.SSLContext | None) -> ssl.SSLContext:
        if given is not None:
            return given
        if verify is False:
            warnings.warn(
                "verify=False: the CSE's certificate is not checked, so anyone on the path can impersonate "
                "it (TS-0020 §7 asks for mutually authenticated TLS); use only in a lab",
                InsecureWebSocketWarning,
                stacklevel=3,
            )
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if isinstance(verify, str):
            return ssl.create_default_context(cafile=verify)
        if verify is True:
            return ssl.create_default_context()
        raise OneM2MUsageError(f"verify is True, False or a CA bundle path, got {verify!r}")

    @staticmethod
    def _parse_proxy(url: str) -> _ProxySettings:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise OneM2MUsageError(
                f"proxy must be http://[user:password@]host:port (TS-0020 §6.6 tunnels with CONNECT), got {url!r}"
            )
        try:
            port = parts.port or 80
        except ValueError:
            raise OneM2MUsageError(f"invalid proxy port in {url!r}") from None
        auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        return _ProxySettings(parts.hostname, port, auth)

    def _proxy_for_target(self) -> _ProxySettings | None:
        if _is_loopback(self._host):
            return None  # a loopback CSE is never behind a proxy, whatever the environment says
        if self._proxy is not None:
            return self._proxy
        if not self._trust_env:
            return None
        configured = urllib.request.getproxies().get("https" if self._scheme == "wss" else "http")
        if not configured or urllib.request.proxy_bypass(self._host):  # no_proxy
            return None
        return self._parse_proxy(configured)

    # --- the reader thread ---------------------------------------------------------------

    def _read_loop(self, conn: _Connection) -> None:
        """Reader thread: block in recv, post each message to the loop; report the end."""
        error: BaseException | None = None
        try:
            while True:
                try:
                    opcode, data = conn.ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    continue  # an idle link; the socket timeout is for writes (pings are answered in recv)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    # websocket-client has answered with its close frame (RFC 6455 §5.5.1);
                    # now close TCP at once, which the server waits for (TS-0020 §6.3).
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    logger.debug("%s sent a close frame (code %s)", self._url, code)
                    break
                self._post(self._on_message, conn, opcode, data)
        except Exception as exc:  # the socket was closed, reset or shut down; a protocol violation
            error = exc
        finally:
            with contextlib.suppress(OSError):
                conn.sock.close()
            self._post(self._on_closed, conn, error)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to tell
            loop.call_soon_threadsafe(callback, *args)

    # --- on the loop: dispatch ---------------------------------------------------------

    def _on_message(self, conn: _Connection, opcode: int, data: bytes) -> None:
        # Decode by opcode (TS-0020 Table 6.2.2.9-1), not by the subprotocol: ACME
        # sends JSON text NOTIFYs on CBOR connections unless the AE's csz says CBOR.
        fmt = Format.JSON if opcode == websocket.ABNF.OPCODE_TEXT else Format.CBOR
        try:
            primitive = decode_primitive(data, fmt)
        except OneM2MProtocolError as exc:
            self._on_malformed(conn, data, fmt, exc)
            return
        if isinstance(primitive, RequestPrimitive):
            logger.debug(
                "%s frame: %s request rqi=%s from %s",
                "text" if fmt is Format.JSON else "binary",
                primitive.op.name,
                primitive.rqi,
                primitive.fr,
            )
            self._start_handler(conn, primitive)
            return
        logger.debug(
            "%s frame: response rsc=%s rqi=%s",
            "text" if fmt is Format.JSON else "binary",
            int(primitive.rsc),
            primitive.rqi,
        )
        self._on_response(primitive)

    def _on_response(self, response: ResponsePrimitive) -> None:
        if response.rqi is None:
            # ACME answers a frame it cannot parse with 4000 and no rqi (TS-0004 has none to echo).
            logger.warning(
                "%s sent a response without rqi (rsc %s; it could not read one of our frames?): %s",
                self._url,
                int(response.rsc),
                response.debug,
            )
            return
        entry = self._pending.get(response.rqi)
        if entry is None:
            logger.warning(
                "%s sent a response for unknown rqi %r (rsc %s): no request of ours is waiting for it "
                "(it timed out, or the CSE answered twice); dropped",
                self._url,
                response.rqi,
                int(response.rsc),
            )
            return
        if not entry.future.done():
            entry.future.set_result(response)

    def _on_malformed(self, conn: _Connection, data: bytes, fmt: Format, exc: OneM2MProtocolError) -> None:
        kind, rqi = _peek(data, fmt)
        if kind == "request" and rqi is not None:
            logger.warning("%s sent a malformed request (rqi %s), answering 4000: %s", self._url, rqi, exc)
            answer = ResponsePrimitive(
                rsc=RSC.BAD_REQUEST, rqi=rqi, to=None, fr=self._originator, pc={"m2m:dbg": str(exc)}
            )
            self._spawn(self._send_answer(conn, answer))
            return
        if kind == "response" and rqi is not None and rqi in self._pending:
            logger.warning("%s sent a malformed response to rqi %s: %s", self._url, rqi, exc)
            future = self._pending[rqi].future
            if not future.done():
                future.set_exception(exc)
            return
        logger.warning(
            "%s sent a %s frame that is no oneM2M primitive (%d bytes), dropped: %s",
            self._url,
            "text" if fmt is Format.JSON else "binary",
            len(data),
            exc,
        )

    def _on_closed(self, conn: _Connection, error: BaseException | None) -> None:
        if not conn.done.done():
            conn.done.set_result(None)
        for entry in [e for e in self._pending.values() if e.connection is conn]:
            if not entry.future.done():
                request = entry.request
                entry.future.set_exception(
                    WebSocketConnectionLostError(
                        f"the WebSocket to {self._url} closed while {request.op.name} {request.to} "
                        f"(rqi {request.rqi}) waited for its response"
                        + (f" ({error})" if error is not None and not conn.closing else ""),
                        request=request,
                        sent=entry.sent,
                    )
                )
        if conn is not self._conn:
            return  # an old connection we replaced or closed on purpose
        self._conn = None
        if self._connected_event is not None:
            self._connected_event.clear()
        if conn.closing or self._closed:
            return
        logger.warning("the WebSocket to %s dropped%s", self._url, f": {error}" if error else " (closed by the CSE)")
        self._schedule_reconnect()

    # --- on the loop: answering the CSE's requests -------------------------------------

    def _start_handler(self, conn: _Connection, request: RequestPrimitive) -> None:
        self._spawn(self._answer(conn, request))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = self._running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, conn: _Connection, request: RequestPrimitive) -> None:
        response = await self._handle(request)
        if request.rt is not None and request.rt.rtv == ResponseType.NO_RESPONSE:
            return  # TS-0004 §6.3.4.2.6: the originator asked for no response
        updates: dict[str, Any] = {}
        if response.rqi != request.rqi:
            updates["rqi"] = request.rqi
        if response.rvi is None and request.rvi is not None:
            updates["rvi"] = request.rvi
        if response.to is None and request.fr is not None:
            updates["to"] = request.fr
        if response.fr is None and self._originator is not None:
            updates["fr"] = self._originator
        await self._send_answer(conn, dataclasses.replace(response, **updates) if updates else response)

    async def _handle(self, request: RequestPrimitive) -> ResponsePrimitive:
        handler = self._handler
        if handler is None:
            logger.warning("%s request rqi %s arrived but no handler is set (serve())", request.op.name, request.rqi)
            return ResponsePrimitive(rsc=RSC.NOT_IMPLEMENTED, pc={"m2m:dbg": "the AE handles no requests"})
        try:
            # The CSE waits a bounded time for our answer (ACME: 10 s); so do we.
            response: object = await asyncio.wait_for(handler(request), self._timeout)
        except asyncio.CancelledError:
            raise
        except OneM2MError as exc:
            return ResponsePrimitive(rsc=exc.rsc, pc={"m2m:dbg": str(exc)})
        except asyncio.TimeoutError:
            logger.error("the request handler did not answer %s rqi %s in time", request.op.name, request.rqi)
            return ResponsePrimitive(rsc=RSC.REQUEST_TIMEOUT, pc={"m2m:dbg": "the AE did not answer in time"})
        except Exception:
            logger.exception("the request handler failed on %s rqi %s", request.op.name, request.rqi)
            return ResponsePrimitive(rsc=RSC.INTERNAL_SERVER_ERROR, pc={"m2m:dbg": "the AE failed to handle it"})
        if not isinstance(response, ResponsePrimitive):
            logger.error("the request handler returned %s, not a ResponsePrimitive", type(response).__name__)
            return ResponsePrimitive(rsc=RSC.INTERNAL_SERVER_ERROR, pc={"m2m:dbg": "the AE failed to handle it"})
        return response

    async def _send_answer(self, conn: _Connection, response: ResponsePrimitive) -> None:
        try:
            # Always the negotiated serialization: the CSE decodes by subprotocol.
            data = encode_response(response, self.format)
        except OneM2MUsageError as exc:
            logger.error("cannot serialize the answer to rqi %s: %s", response.rqi, exc)
            data = encode_response(
                ResponsePrimitive(rsc=RSC.INTERNAL_SERVER_ERROR, rqi=response.rqi, to=response.to, fr=response.fr),
                self.format,
            )
        if not conn.open:
            logger.warning("cannot answer rqi %s: its connection is gone (the CSE will time out)", response.rqi)
            return
        try:
            await self._write(conn, data)
        except Exception as exc:
            logger.warning("cannot answer rqi %s: %s", response.rqi, exc)

    # --- writing ---------------------------------------------------------------------------

    async def _write(self, conn: _Connection, data: bytes) -> None:
        # TS-0020 Table 6.2.2.9-1: JSON in text frames, CBOR in binary frames.
        opcode = websocket.ABNF.OPCODE_TEXT if self.format is Format.JSON else websocket.ABNF.OPCODE_BINARY
        loop = self._running_loop()
        async with conn.write_lock:
            if self._min_frame_interval:
                # Pacing for a peer that mishandles back-to-back frames (ACME, see the module docs).
                pause = conn.last_write + self._min_frame_interval - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
            try:
                await loop.run_in_executor(None, conn.ws.send, data, opcode)
            except Exception:
                # A write that failed or timed out may have left half a frame on the
                # wire: this connection is unusable. Drop it; the reader reports the end.
                conn.abort()
                raise
            finally:
                conn.last_write = loop.time()

    async def _close_connection(self, conn: _Connection) -> None:
        """Close handshake (TS-0020 §6.3 / RFC 6455 §7), then wait for the reader to end."""
        conn.closing = True
        with contextlib.suppress(Exception):
            await self._running_loop().run_in_executor(None, conn.ws.send_close)
        try:
            await asyncio.wait_for(asyncio.shield(conn.done), CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            logger.debug("%s did not answer the close frame in %g s; dropping TCP", self._url, CLOSE_TIMEOUT)
            conn.abort()
            await conn.done

    # --- background reconnect ------------------------------------------------------------

    def _schedule_reconnect(self) -> None:
        if not self._reconnect_enabled or self._closed:
            return
        if self._reconnect_task is not None and not self._reconnect_task.done():
            return
        self._reconnect_task = self._running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while not self._closed:
            delay = backoff_delay(attempt, initial=self._backoff_initial, maximum=self._backoff_max, rng=self._rng)
            logger.info("reconnecting to %s in %.2f s (attempt %d)", self._url, delay, attempt + 1)
            await asyncio.sleep(delay)
            assert self._lock is not None
            async with self._lock:
                if self._closed or (self._conn is not None and self._conn.open):
                    return  # closed meanwhile, or send() has reconnected already
                try:
                    await self._connect_locked()
                    return
                except WebSocketConnectionError as exc:
                    if not exc.retryable:
                        logger.error("giving up reconnecting to %s: %s", self._url, exc)
                        return
                    logger.warning("reconnect to %s failed: %s", self._url, exc)
            attempt += 1


def _close_late_handshake(job: ConcurrentFuture[tuple[websocket.WebSocket, socket.socket]]) -> None:
    if not job.cancelled() and job.exception() is None:
        with contextlib.suppress(Exception):
            job.result()[0].close(timeout=0)


if TYPE_CHECKING:
    _conforms: type[Binding] = WebSocketBinding  # mypy checks the Binding protocol here
