"""CoAP over any :class:`~m2mclient.platform.links.DatagramLink`: one aiocoap transport for every carrier.

With this transport a modem's UDP socket, an SMS bearer or an NB-IoT NIDD channel
carries the whole LwM2M stack unchanged (DESIGN.md rule 2): aiocoap's message
layer (message ids, CON retransmission, deduplication, piggybacked responses) and
block-wise transfer run on top, the link only moves datagrams.

Addressing. aiocoap parses only ``coap://`` URIs, so the transport claims every
``coap://host:port`` request made in a context it belongs to and asks the link to
:meth:`~m2mclient.platform.links.DatagramLink.resolve` the host: the LwM2M client's
``Message(uri=server_uri)`` works as over a socket. A peer without such a URI (an
SMS number) is addressed by setting ``message.remote = transport.endpoint(LinkAddress(...))``.

Sizing. Every address the transport hands aiocoap states the largest block that
fits one datagram of the link (``max_payload``) next to the message's own header
and options, so on a 140-byte SMS link aiocoap slices a Register or a Read answer
into 64-byte blocks by itself. aiocoap never slices Observe notifications; one that
does not fit fails loudly, like every oversized message (see :meth:`LinkTransport.send`).

aiocoap internals relied on (pinned by tests/coap/test_link_transport.py, tested
with aiocoap 0.4.17): a transport is registered the way the private
``Context._append_tokenmanaged_messagemanaged_transport`` does it, with
``aiocoap.tokenmanager.TokenManager`` and ``aiocoap.messagemanager.MessageManager``;
``MessageManager.fill_or_recognize_remote`` calls our ``recognize_remote`` (not part
of the ``MessageInterface`` ABC); ``BlockwiseRequest`` assigns ``maximum_block_size_exp``
on response addresses, so it must be a plain instance attribute.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import weakref
from typing import Any

import aiocoap
from aiocoap import error, interfaces
from aiocoap.messagemanager import MessageManager
from aiocoap.tokenmanager import TokenManager
from aiocoap.util import hostportsplit

from m2mclient.platform.links import DatagramLink, LinkAddress, LinkClosedError, LinkError, PayloadTooLargeError

__all__ = [
    "LinkEndpoint",
    "LinkNetworkError",
    "LinkResolutionError",
    "LinkTransport",
    "add_link_transport",
    "block_size_exp",
]

logger = logging.getLogger(__name__)

#: Bytes next to the payload in a response to a request that arrived over the link:
#: header 4, token up to 8, ETag 9, Content-Format 3, Block2 4, Size2 5, Observe 4,
#: payload marker 1 (RFC 7252 §3, RFC 7959 §2.2/§4, RFC 7641 §2), rounded up.
RESPONSE_OVERHEAD = 48
#: Block-wise option values the estimate of a request's overhead assumes: the widest
#: Block1 (3 bytes, RFC 7959 §2.2) so every block of the transfer fits, not just the first.
_WIDEST_BLOCK1 = (2**19 - 1, True, 6)
#: Fixed header, the longest token and the payload marker (RFC 7252 §3).
_HEADER_TOKEN_MARKER = 4 + 8 + 1
#: After this many failed reads in a row the link counts as dead (no busy loop on a broken driver).
_MAX_READ_FAILURES = 10
#: The transport reading from each link, by id(link). A dead reference frees the link.
_READERS: dict[int, weakref.ref[LinkTransport]] = {}


class LinkNetworkError(error.NetworkError):  # type: ignore[misc]  # aiocoap is untyped
    """How a link failure reaches a CoAP requester: an aiocoap ``NetworkError`` (what callers
    catch) that says what happened; ``__cause__`` is the link's own error."""

    def __str__(self) -> str:
        # aiocoap's NetworkError prints only its class name; a person needs the reason.
        return f"Network error: {self.args[0]}" if self.args else super().__str__()


class LinkResolutionError(error.ResolutionError):  # type: ignore[misc]  # aiocoap is untyped
    """The link could not resolve a request's host; ``__cause__`` is the link's error."""

    def __str__(self) -> str:
        return f"Network error: {self.args[0]}" if self.args else super().__str__()


def block_size_exp(max_payload: int, overhead: int) -> int:
    """SZX (0..6) of the largest block (16..1024 bytes, RFC 7959 §2.2) fitting one datagram next to ``overhead``.

    0 when not even 16 bytes fit; such a message then fails loudly at send time.
    """
    for exp in range(6, -1, -1):
        if 2 ** (exp + 4) + overhead <= max_payload:
            return exp
    return 0


class LinkEndpoint(interfaces.EndpointAddress):  # type: ignore[misc]  # aiocoap is untyped
    """A peer on a link, as aiocoap's ``message.remote``.

    Equal (and hash-equal) for the same link transport and the same
    :class:`~m2mclient.platform.links.LinkAddress`, whatever its block size, so
    requests, responses, block-wise transfers and observations of one peer match.
    """

    scheme = "coap"
    is_multicast = False
    is_multicast_locally = False
    #: aiocoap's BlockwiseRequest lowers this on response addresses, so it is an attribute.
    maximum_block_size_exp = 6

    def __init__(self, transport: LinkTransport, address: LinkAddress, block_exp: int):
        self.address = address
        self.maximum_block_size_exp = block_exp
        self._transport = weakref.ref(transport)
        self._key = (id(transport), address)
        self._local = str(transport.link.local_address)

    @property
    def transport(self) -> LinkTransport | None:
        """The transport this address belongs to (``None`` once it is gone)."""
        return self._transport()

    @property
    def maximum_payload_size(self) -> int:
        # aiocoap slices a response into Block2 above this size, so it is the block size.
        return int(2 ** (self.maximum_block_size_exp + 4))

    @property
    def hostinfo(self) -> str:
        return str(self.address)

    @property
    def hostinfo_local(self) -> str:
        return self._local

    @property
    def uri_base(self) -> str:
        return f"coap://{self.hostinfo}"

    @property
    def uri_base_local(self) -> str:
        return f"coap://{self._local}"

    @property
    def blockwise_key(self) -> tuple[int, LinkAddress]:
        return self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinkEndpoint) and other._key == self._key

    def __repr__(self) -> str:
        return f"<LinkEndpoint {self.hostinfo} (block {2 ** (self.maximum_block_size_exp + 4)} B)>"


class LinkTransport(interfaces.MessageInterface):  # type: ignore[misc]  # aiocoap is untyped
    """aiocoap's ``MessageInterface`` over a :class:`~m2mclient.platform.links.DatagramLink`.

    One reader task feeds received datagrams to the message manager; one writer
    task hands encoded messages to the link in order. The transport does not own
    the link: :meth:`shutdown` stops using it, closing it is the caller's business
    (so a client can stop and start again on the same modem socket). A link serves
    one transport at a time, because two readers would split its datagrams.
    """

    link: DatagramLink

    def __init__(self, mman: Any, link: DatagramLink, *, log: logging.Logger | None = None):
        reader = _READERS.get(id(link))
        current = reader() if reader is not None else None
        if current is not None and current.link is link:
            raise LinkError(
                f"{link!r} already carries a CoAP endpoint; a link has one reader, "
                "so give each endpoint (each LwM2M server) its own link"
            )
        _READERS[id(link)] = weakref.ref(self)
        self.link = link
        self._mman: Any = mman
        self._log = log or logger
        self._loop = asyncio.get_running_loop()
        self._outbox: asyncio.Queue[tuple[bytes, LinkEndpoint] | None] = asyncio.Queue()
        self._reader = self._loop.create_task(self._read_loop(), name=f"coap-link-reader {link!r}")
        self._writer = self._loop.create_task(self._write_loop(), name=f"coap-link-writer {link!r}")

    def __repr__(self) -> str:
        return f"<LinkTransport over {self.link!r}>"

    def endpoint(self, address: LinkAddress, *, overhead: int = RESPONSE_OVERHEAD) -> LinkEndpoint:
        """The aiocoap remote for a peer on this link (set it as ``message.remote``)."""
        return LinkEndpoint(self, address, block_size_exp(self.link.max_payload, overhead))

    # --- aiocoap MessageInterface ------------------------------------------------------------

    def send(self, message: aiocoap.Message) -> None:
        """Queue one message for the link (aiocoap calls this synchronously).

        A message larger than the link's ``max_payload``, and a send the link refuses,
        are reported as aiocoap reports a socket error: ``dispatch_error`` for that
        peer, which fails the requests and exchanges in flight to it with a
        ``NetworkError`` that names the cause.
        """
        if self._mman is None:
            self._log.info("not sending %r: the transport is shut down", message)
            return
        data = message.encode()
        remote: LinkEndpoint = message.remote
        limit = self.link.max_payload
        if len(data) > limit:
            exc = PayloadTooLargeError(len(data), limit, repr(self.link))
            self._log.error("cannot send %r to %s: %s", message, remote.hostinfo, exc)
            self._loop.call_soon(self._fail, exc, remote)
            return
        self._outbox.put_nowait((data, remote))

    async def recognize_remote(self, remote: object) -> bool:
        # Not in aiocoap's ABC, but MessageManager.fill_or_recognize_remote calls it.
        return isinstance(remote, LinkEndpoint) and remote.transport is self

    async def determine_remote(self, message: aiocoap.Message) -> LinkEndpoint | None:
        """Claim a ``coap://`` request: this context talks through its link, whatever the host."""
        if message.requested_scheme not in ("coap", None):
            return None
        if self._mman is None:
            raise error.LibraryShutdown()
        if message.remote is not None and message.remote.hostinfo is not None:
            host, port = hostportsplit(message.remote.hostinfo)
        elif message.opt.uri_host:
            host, port = message.opt.uri_host, message.opt.uri_port
        else:
            raise ValueError("no peer to send to (neither a URI host nor a remote on the message)")
        try:
            address = await self.link.resolve(host, port or aiocoap.COAP_PORT)
        except LinkError as exc:
            raise LinkResolutionError(str(exc)) from exc
        endpoint = self.endpoint(address, overhead=max(RESPONSE_OVERHEAD, _request_overhead(message)))
        # A caller may ask for smaller blocks on the message's remote (aiocoap's own way).
        asked = getattr(message.remote, "maximum_block_size_exp", endpoint.maximum_block_size_exp)
        endpoint.maximum_block_size_exp = min(endpoint.maximum_block_size_exp, asked)
        return endpoint

    async def shutdown(self) -> None:
        self._mman = None
        self._outbox.put_nowait(None)  # the writer hands over what is queued, then ends
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout=1.0)
        for task in (self._reader, self._writer):
            task.cancel()
        await asyncio.gather(self._reader, self._writer, return_exceptions=True)
        reader = _READERS.get(id(self.link))
        if reader is not None and reader() is self:
            del _READERS[id(self.link)]

    # --- the link side -------------------------------------------------------------------

    async def _read_loop(self) -> None:
        failures = 0
        while True:
            try:
                data, source = await self.link.receive()
            except LinkClosedError:
                if self._mman is not None:
                    self._log.warning("%r was closed under the CoAP endpoint: nothing more arrives", self.link)
                return
            except LinkError as exc:
                failures += 1
                self._log.warning("reading from %r failed (%d in a row): %s", self.link, failures, exc)
                if failures >= _MAX_READ_FAILURES:
                    self._log.error("giving up on %r after %d failed reads: nothing more arrives", self.link, failures)
                    return
                continue
            failures = 0
            self._received(data, source)

    def _received(self, data: bytes, source: LinkAddress) -> None:
        if self._mman is None:
            return
        try:
            message = aiocoap.Message.decode(data, remote=self.endpoint(source))
        except error.UnparsableMessage as exc:
            self._log.warning("dropped a %d-byte datagram from %s that is not CoAP: %s", len(data), source, exc)
            return
        try:
            self._mman.dispatch_message(message)
        except Exception:  # one bad message must not end the reader
            self._log.exception("aiocoap failed to process %r from %s", message, source)

    async def _write_loop(self) -> None:
        while True:
            item = await self._outbox.get()
            if item is None:
                return
            data, remote = item
            try:
                await self.link.send(data, remote.address)
            except LinkError as exc:
                self._log.warning("%r could not send %d bytes to %s: %s", self.link, len(data), remote.hostinfo, exc)
                self._fail(exc, remote)
            except Exception as exc:  # a driver bug must not wedge every later message
                self._log.exception("%r raised while sending to %s", self.link, remote.hostinfo)
                self._fail(exc, remote)

    def _fail(self, exc: Exception, remote: LinkEndpoint) -> None:
        if self._mman is None:
            return
        reported = LinkNetworkError(str(exc))
        reported.__cause__ = exc
        self._mman.dispatch_error(reported, remote)


def _request_overhead(message: aiocoap.Message) -> int:
    """Bytes next to the payload in the largest block of ``message`` once it is sliced (Block1 + Size1)."""
    options = copy.deepcopy(message.opt)
    options.block1 = _WIDEST_BLOCK1
    options.size1 = max(len(message.payload), 1)
    return _HEADER_TOKEN_MARKER + len(options.encode())


async def add_link_transport(context: aiocoap.Context, link: DatagramLink) -> LinkTransport:
    """Make ``context`` send and receive through ``link``; returns the transport.

    This repeats aiocoap's private ``Context._append_tokenmanaged_messagemanaged_transport``
    (protocol.py, aiocoap 0.4.x): aiocoap has no public way to add a transport of
    one's own. A token manager (requests, responses, observations) over a message
    manager (RFC 7252 message layer) over our message interface, appended to the
    context's request interfaces. tests/coap/test_link_transport.py pins the shape.
    """
    tman = TokenManager(context)
    mman = MessageManager(tman)
    transport = LinkTransport(mman, link)
    mman.message_interface = transport
    tman.token_interface = mman
    context.request_interfaces.append(tman)
    return transport
