"""The transport seam: what every binding moves its bytes through (DESIGN.md rule 2).

A :class:`DatagramLink` carries whole datagrams to and from peers: an OS UDP
socket, a modem's AT-command UDP socket, an SMS bearer, an NB-IoT NIDD channel.
A :class:`StreamLink` is one connected byte stream: a TCP connection, a modem's
TCP socket. CoAP, oneM2M and anything else above sees only these two protocols,
so the whole stack runs unchanged over each carrier.

Nothing here knows a protocol above it (rule 3): a link moves bytes and names
peers with a :class:`LinkAddress`, nothing more.

Why ``receive()`` is a coroutine the consumer awaits (pull), not a callback the
link calls (push): modems announce data with an unsolicited result code
("+NSONMI: 0,12", "+CMTI: "SM",3") and keep it in their own buffer until a read
command (``AT+NSORF``, ``AT+CMGR``) fetches it. A pull API maps onto that
directly: ``receive()`` waits for the announcement, then issues the read on the
AT engine in the consumer's task, so data stays in the modem until someone is
ready for it and no driver task has to hold datagrams nobody asked for. An OS
socket implements the same call with a small queue. The CoAP transport runs one
task that loops over ``receive()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from m2mclient.errors import M2MError

__all__ = [
    "DatagramLink",
    "LinkAddress",
    "LinkClosedError",
    "LinkError",
    "PayloadTooLargeError",
    "StreamLink",
]


class LinkError(M2MError):
    """A link could not move bytes: the socket, modem or bearer failed, or a peer is unreachable."""


class LinkClosedError(LinkError):
    """The link is closed (by its owner, by the peer, or because the modem dropped it); nothing more moves."""


class PayloadTooLargeError(LinkError, ValueError):
    """A datagram is larger than the link carries (:attr:`DatagramLink.max_payload`)."""

    def __init__(self, size: int, limit: int, link: str = "the link"):
        self.size = size
        self.limit = limit
        super().__init__(
            f"a {size}-byte datagram does not fit {link} (at most {limit} bytes); "
            "send less at once (smaller blocks) or use a link with a larger MTU"
        )


@dataclass(frozen=True)
class LinkAddress:
    """A peer (or our own end) on a link: a host and, where the link has ports, a port.

    ``host`` is whatever the link uses to name a peer: an IP address (``"192.0.2.7"``,
    ``"2001:db8::1"``, no brackets), a host name before resolution, an MSISDN for
    SMS (``"+491710000001"``), a NIDD APN or device id. ``port`` is ``None`` on links
    without ports (SMS, NIDD). Frozen and compared by value, so it can key a dict.
    """

    host: str
    port: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ValueError(f"a link address needs a non-empty host, got {self.host!r}")
        if self.port is not None and (isinstance(self.port, bool) or not 0 <= self.port <= 0xFFFF):
            raise ValueError(f"a port is 0..65535 or None, got {self.port!r}")

    def __str__(self) -> str:
        # URI authority style (RFC 3986 §3.2.2): an IPv6 literal goes in brackets.
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


@runtime_checkable
class DatagramLink(Protocol):
    """A carrier of whole datagrams between us and addressed peers.

    Contract, for implementers:

    * :meth:`send` hands one datagram to the carrier (it may still be lost on the
      way: delivery is the upper layer's job). It raises :class:`PayloadTooLargeError`
      for more than :attr:`max_payload` bytes, :class:`LinkClosedError` once closed
      and :class:`LinkError` when the carrier refuses it. A link serialises
      concurrent sends itself (a modem has one command channel).
    * :meth:`receive` returns the next datagram and its sender, waiting as long as
      it takes; it raises :class:`LinkClosedError` once the link is closed (also when
      closed while waiting) and :class:`LinkError` for a failed read that may be
      retried. It must be cancellation-safe: a cancelled call loses no datagram.
      One consumer at a time.
    * :meth:`resolve` turns a host (a name or a literal, as written in a URI) and port
      into the canonical :class:`LinkAddress` that :meth:`receive` reports for that
      peer, so replies match requests: IP literals normalised, names looked up by
      whoever can (the OS, or the modem's own DNS), a port dropped on a link that
      has none. It raises :class:`LinkError` when the host cannot be reached.
    * :attr:`max_payload` is the largest datagram :meth:`send` accepts; the layer
      above sizes its messages by it (SMS ~140, NB-IoT modem UDP 512..1358,
      UDP over IP 1152 by CoAP's rule).
    * :meth:`close` releases the carrier; it is idempotent.
    """

    @property
    def local_address(self) -> LinkAddress:
        """Our own end of the link (bound IP and port, own MSISDN, ...)."""
        ...

    @property
    def max_payload(self) -> int:
        """The largest datagram, in bytes, the link carries in one piece."""
        ...

    async def send(self, data: bytes, remote: LinkAddress) -> None:
        """Hand one datagram for ``remote`` to the carrier."""
        ...

    async def receive(self) -> tuple[bytes, LinkAddress]:
        """The next datagram that arrived, and who sent it."""
        ...

    async def resolve(self, host: str, port: int | None) -> LinkAddress:
        """The canonical address of ``host``/``port``, as :meth:`receive` reports it."""
        ...

    async def close(self) -> None:
        """Release the carrier; pending and later calls raise :class:`LinkClosedError`."""
        ...


@runtime_checkable
class StreamLink(Protocol):
    """One connected, ordered, reliable byte stream to a peer (TCP, a modem TCP socket).

    :meth:`write` returns once the carrier accepted the bytes (flow control waits
    here); :meth:`read` returns up to ``max_bytes`` as soon as any arrived, and
    ``b""`` once the peer closed its side. Both raise :class:`LinkClosedError` after
    :meth:`close` and :class:`LinkError` when the connection fails. Connecting is
    the implementation's constructor (e.g. ``await TcpLink.connect(...)``), so this
    protocol describes a stream that is already open.
    """

    @property
    def local_address(self) -> LinkAddress:
        """Our end of the connection."""
        ...

    @property
    def remote_address(self) -> LinkAddress:
        """The peer's end of the connection."""
        ...

    async def write(self, data: bytes) -> None:
        """Send ``data`` in order after everything written before."""
        ...

    async def read(self, max_bytes: int = 65536) -> bytes:
        """Up to ``max_bytes`` received bytes; ``b""`` at end of stream."""
        ...

    async def close(self) -> None:
        """Close the connection; idempotent."""
        ...
