"""Links over the host's own network stack: :class:`UdpLink` and :class:`TcpLink`.

They implement :class:`~m2mclient.platform.links.DatagramLink` and
:class:`~m2mclient.platform.links.StreamLink` with asyncio, for a Raspberry Pi on
Ethernet/Wi-Fi, a gateway, or a modem that is a network interface (PPP, QMI,
ECM). Modems driven by AT commands get their own links in ``platform/modems``.

    >>> link = await UdpLink.open(("0.0.0.0", 0))           # IPv4, any port
    >>> link6 = await UdpLink.open(("::", 5683))            # IPv6 and IPv4 (dual stack)
    >>> stream = await TcpLink.connect(LinkAddress("192.0.2.7", 5683))
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import logging
import socket
from types import TracebackType
from typing import TYPE_CHECKING, Any

from m2mclient.platform.links import LinkAddress, LinkClosedError, LinkError, PayloadTooLargeError

if TYPE_CHECKING:
    from m2mclient.platform.links import DatagramLink, StreamLink

__all__ = ["DEFAULT_MAX_PAYLOAD", "DEFAULT_RECEIVE_QUEUE", "TcpLink", "UdpLink"]

logger = logging.getLogger(__name__)

#: A datagram the layers above should not exceed over IP: RFC 7252 §4.6 asks CoAP to fit
#: 1152 bytes (1280-byte IPv6 minimum MTU minus IP/UDP headers and slack), so nothing is
#: fragmented on the way. Pass a larger ``max_payload`` to trade that for fewer blocks.
DEFAULT_MAX_PAYLOAD = 1152
#: Datagrams held for a slow consumer before new ones are dropped (and the drop logged).
#: UDP may lose them anyway; CoAP retransmits.
DEFAULT_RECEIVE_QUEUE = 64
#: Largest UDP payload of IPv4 (65535 - 8 UDP - 20 IP); IPv6 allows 65527, the smaller rules.
_UDP_MAX = 65507


def _canonical_host(host: str) -> str:
    """An IP literal in one spelling: compressed IPv6, IPv4 for a v4-mapped address, zone kept.

    Received addresses and resolved ones must compare equal, or replies would not
    match their requests; a host name is returned unchanged.
    """
    literal, percent, zone = host.strip("[]").partition("%")
    try:
        ip = ipaddress.ip_address(literal)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip) + percent + zone


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def _address_of(sockaddr: Any) -> LinkAddress:
    return LinkAddress(_canonical_host(str(sockaddr[0])), int(sockaddr[1]))


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, link: UdpLink):
        self.link = link

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.link._deliver(data, _address_of(addr))

    def error_received(self, exc: Exception) -> None:
        # An ICMP error (port unreachable, ...) for an earlier datagram. An unconnected
        # socket is not told which peer it concerns, so no exchange can be failed early;
        # the datagram is lost and the layer above times out or retransmits.
        logger.info("%r: the network reported an error for a sent datagram: %s", self.link, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link._lost(exc)


class UdpLink:
    """A UDP socket as a :class:`~m2mclient.platform.links.DatagramLink`.

    Open it with :meth:`open`. Bound to an IPv6 address (``"::"``) it is dual
    stack and reaches IPv4 peers too (reported as plain IPv4 addresses); bound to
    an IPv4 address it reaches IPv4 only. ``max_payload`` is enforced on send.
    """

    def __init__(self, family: socket.AddressFamily, max_payload: int, queue_size: int):
        # Use open(); the constructor only sets up state.
        self._family = family
        self._max_payload = max_payload
        self._queue_size = queue_size
        self._inbox: collections.deque[tuple[bytes, LinkAddress]] = collections.deque()
        self._readable = asyncio.Event()
        self._transport: asyncio.DatagramTransport | None = None
        self._local = LinkAddress("0.0.0.0", 0)
        self._closed = False
        self._lost_reason: Exception | None = None
        self._gone = asyncio.get_running_loop().create_future()
        #: Datagrams dropped because the consumer fell behind (see :data:`DEFAULT_RECEIVE_QUEUE`).
        self.dropped = 0

    @classmethod
    async def open(
        cls,
        local: tuple[str, int] = ("0.0.0.0", 0),
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        queue_size: int = DEFAULT_RECEIVE_QUEUE,
    ) -> UdpLink:
        """Bind a UDP socket to ``local`` (host, port; port 0 picks a free one)."""
        if not 1 <= max_payload <= _UDP_MAX:
            raise ValueError(f"max_payload must be 1..{_UDP_MAX}, got {max_payload}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        loop = asyncio.get_running_loop()
        host, port = local
        try:
            infos = await loop.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise LinkError(f"cannot bind UDP to {host!r}: {exc.strerror}") from exc
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                # Dual stack on "::": one socket for IPv6 and IPv4 peers, as NB-IoT PDNs are often v4.
                with contextlib.suppress(OSError, AttributeError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise LinkError(f"cannot bind UDP to {LinkAddress(_canonical_host(host), port)}: {exc}") from exc
        link = cls(family, max_payload, queue_size)
        transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(link), sock=sock)
        link._transport = transport
        link._local = _address_of(sock.getsockname())
        return link

    # --- DatagramLink ----------------------------------------------------------------

    @property
    def local_address(self) -> LinkAddress:
        return self._local

    @property
    def max_payload(self) -> int:
        return self._max_payload

    async def send(self, data: bytes, remote: LinkAddress) -> None:
        transport = self._open_transport()
        if len(data) > self._max_payload:
            raise PayloadTooLargeError(len(data), self._max_payload, repr(self))
        if not _is_ip_literal(remote.host):
            remote = await self.resolve(remote.host, remote.port)
        try:
            transport.sendto(data, self._sockaddr(remote))
        except (OSError, ValueError, TypeError) as exc:
            raise LinkError(f"{self!r}: cannot send to {remote}: {exc}") from exc

    async def receive(self) -> tuple[bytes, LinkAddress]:
        while True:
            if self._closed:
                raise LinkClosedError(f"{self!r} is closed") from self._lost_reason
            if self._inbox:
                return self._inbox.popleft()
            self._readable.clear()
            await self._readable.wait()

    async def resolve(self, host: str, port: int | None) -> LinkAddress:
        if port is None:
            raise LinkError(f"a UDP peer needs a port; {host!r} has none")
        host = host.strip("[]")
        if _is_ip_literal(host):
            address = LinkAddress(_canonical_host(host), port)
            self._sockaddr(address)  # raises for an IPv6 peer of an IPv4 socket
            return address
        family = socket.AF_INET if self._family == socket.AF_INET else socket.AF_UNSPEC
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise LinkError(f"cannot resolve {host!r}: {exc.strerror}") from exc
        return _address_of(infos[0][4])

    async def close(self) -> None:
        self._mark_closed(None)
        if self._transport is not None and not self._gone.done():
            self._transport.close()  # idempotent; connection_lost() follows on the next loop turn
            await asyncio.shield(self._gone)

    # --- helpers -------------------------------------------------------------------------

    async def __aenter__(self) -> UdpLink:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<UdpLink {self._local}{' closed' if self._closed else ''}>"

    def _open_transport(self) -> asyncio.DatagramTransport:
        if self._closed or self._transport is None or self._transport.is_closing():
            raise LinkClosedError(f"{self!r} is closed") from self._lost_reason
        return self._transport

    def _sockaddr(self, remote: LinkAddress) -> tuple[str, int]:
        if remote.port is None:
            raise LinkError(f"a UDP peer needs a port; {remote} has none")
        ip = ipaddress.ip_address(remote.host.partition("%")[0])
        if self._family == socket.AF_INET6 and ip.version == 4:
            return (f"::ffff:{remote.host}", remote.port)
        if self._family == socket.AF_INET and ip.version == 6:
            raise LinkError(f"{self!r} is an IPv4 socket and cannot reach {remote}; bind to '::' for both")
        return (remote.host, remote.port)

    def _deliver(self, data: bytes, source: LinkAddress) -> None:
        if self._closed:
            return
        if len(self._inbox) >= self._queue_size:
            self.dropped += 1
            logger.warning(
                "%r: %d datagrams wait unread; dropped one from %s (%d dropped so far)",
                self,
                len(self._inbox),
                source,
                self.dropped,
            )
            return
        self._inbox.append((data, source))
        self._readable.set()

    def _lost(self, exc: Exception | None) -> None:
        if exc is not None and not self._closed:
            logger.warning("%r: the socket failed: %s", self, exc)
        self._mark_closed(exc)
        if not self._gone.done():
            self._gone.set_result(None)

    def _mark_closed(self, exc: Exception | None) -> None:
        if not self._closed:
            self._closed = True
            self._lost_reason = exc
            if self._inbox:
                logger.debug("%r closed with %d datagrams unread", self, len(self._inbox))
                self._inbox.clear()
        self._readable.set()


class TcpLink:
    """A TCP connection as a :class:`~m2mclient.platform.links.StreamLink`.

    Connect with :meth:`connect`; wrap an accepted connection (``asyncio.start_server``)
    with ``TcpLink(reader, writer)``.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._closed = False
        self._local = _address_of(writer.get_extra_info("sockname"))
        self._remote = _address_of(writer.get_extra_info("peername"))

    @classmethod
    async def connect(
        cls,
        remote: LinkAddress | tuple[str, int],
        *,
        local: tuple[str, int] | None = None,
        timeout: float | None = 30.0,
    ) -> TcpLink:
        """Open a connection to ``remote`` (from ``local``, when given)."""
        target = remote if isinstance(remote, LinkAddress) else LinkAddress(remote[0].strip("[]"), remote[1])
        if target.port is None:
            raise LinkError(f"a TCP peer needs a port; {target} has none")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port, local_addr=local), timeout
            )
        except asyncio.TimeoutError as exc:
            raise LinkError(f"connecting to {target} timed out after {timeout:g} s") from exc
        except OSError as exc:
            raise LinkError(f"cannot connect to {target}: {exc}") from exc
        return cls(reader, writer)

    @property
    def local_address(self) -> LinkAddress:
        return self._local

    @property
    def remote_address(self) -> LinkAddress:
        return self._remote

    async def write(self, data: bytes) -> None:
        self._check_open()
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise LinkError(f"{self!r}: write failed: {exc}") from exc

    async def read(self, max_bytes: int = 65536) -> bytes:
        self._check_open()
        try:
            return await self._reader.read(max_bytes)
        except (ConnectionError, OSError) as exc:
            raise LinkError(f"{self!r}: read failed: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        # The peer may already be gone; closing is done either way.
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> TcpLink:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<TcpLink {self._local} -> {self._remote}{' closed' if self._closed else ''}>"

    def _check_open(self) -> None:
        if self._closed:
            raise LinkClosedError(f"{self!r} is closed")


if TYPE_CHECKING:  # mypy proves both classes implement their protocol
    _datagram_link: type[DatagramLink] = UdpLink
    _stream_link: type[StreamLink] = TcpLink
