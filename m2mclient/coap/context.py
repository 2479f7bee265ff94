"""The one place an aiocoap context is made, so every binding gets the same care.

aiocoap's defaults start TCP/TLS/WebSocket servers we do not want on a device
(and map a TCP bind port of 0 to 5683), so transports are always named.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiocoap
from aiocoap import interfaces

if TYPE_CHECKING:
    from m2mclient.platform.links import DatagramLink

logger = logging.getLogger(__name__)

#: URI schemes a client can register over, and the aiocoap transport each needs.
TRANSPORTS = {
    "coap": "udp6",
    "coap+tcp": "tcpclient",
}


async def create_endpoint(
    site: interfaces.Resource,
    server_uri: str,
    *,
    bind: tuple[str, int] | None = None,
    link: DatagramLink | None = None,
) -> aiocoap.Context:
    """A context that both registers to ``server_uri`` and serves ``site`` on the same endpoint.

    Over UDP the server's requests arrive on the socket the Register left from;
    over TCP they arrive on the connection the client opened (role reversal).

    With ``link`` (a modem socket, SMS, NIDD, or a :class:`~m2mclient.platform.sockets.UdpLink`)
    the context has no socket of its own: CoAP goes through the link, which the
    caller keeps owning (the context's shutdown does not close it). ``server_uri``
    is then a ``coap://`` URI whose host the link resolves.
    """
    scheme = urlsplit(server_uri).scheme.lower()
    if link is not None:
        return await _create_link_endpoint(site, server_uri, scheme, bind, link)
    transport = TRANSPORTS.get(scheme)
    if transport is None:
        supported = ", ".join(f"{s}://" for s in TRANSPORTS)
        raise ValueError(f"unsupported server URI {server_uri!r}: this build speaks {supported}")
    if transport == "udp6":
        return await aiocoap.Context.create_server_context(site, bind=bind or ("::", 0), transports=[transport])
    return await aiocoap.Context.create_server_context(site, transports=[transport])


def bound_port(context: aiocoap.Context) -> int | None:
    """The UDP port a context from :func:`create_endpoint` listens on; None when it has no OS socket.

    ``bind=(host, 0)`` lets the kernel pick the port, and a peer that is to send
    requests to the endpoint must be told which one (a oneM2M AE's pointOfAccess).
    aiocoap has no public accessor, so this reads the socket behind its udp6
    message interface, as aiocoap's own ``_local_port`` does.
    """
    for interface in context.request_interfaces:
        message_interface = getattr(getattr(interface, "token_interface", None), "message_interface", None)
        transport = getattr(message_interface, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            return int(sock.getsockname()[1])
    return None


async def _create_link_endpoint(
    site: interfaces.Resource, server_uri: str, scheme: str, bind: tuple[str, int] | None, link: DatagramLink
) -> aiocoap.Context:
    from m2mclient.coap.link_transport import add_link_transport

    if bind is not None:
        raise ValueError("give bind= (an OS socket aiocoap opens) or link= (a link you opened), not both")
    if scheme != "coap":
        raise ValueError(f"unsupported server URI {server_uri!r} over {link!r}: a datagram link carries coap:// only")
    context = aiocoap.Context(serversite=site)
    await add_link_transport(context, link)
    return context
