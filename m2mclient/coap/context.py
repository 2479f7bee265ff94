"""The one place an aiocoap context is made, so every binding gets the same care.

aiocoap's defaults start TCP/TLS/WebSocket servers we do not want on a device
(and map a TCP bind port of 0 to 5683), so transports are always named.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import aiocoap
from aiocoap import interfaces

logger = logging.getLogger(__name__)

#: URI schemes a client can register over, and the aiocoap transport each needs.
TRANSPORTS = {
    "coap": "udp6",
    "coap+tcp": "tcpclient",
}


async def create_endpoint(
    site: interfaces.Resource, server_uri: str, *, bind: tuple[str, int] | None = None
) -> aiocoap.Context:
    """A context that both registers to ``server_uri`` and serves ``site`` on the same endpoint.

    Over UDP the server's requests arrive on the socket the Register left from;
    over TCP they arrive on the connection the client opened (role reversal).
    """
    scheme = urlsplit(server_uri).scheme.lower()
    transport = TRANSPORTS.get(scheme)
    if transport is None:
        supported = ", ".join(f"{s}://" for s in TRANSPORTS)
        raise ValueError(f"unsupported server URI {server_uri!r}: this build speaks {supported}")
    if transport == "udp6":
        return await aiocoap.Context.create_server_context(site, bind=bind or ("::", 0), transports=[transport])
    return await aiocoap.Context.create_server_context(site, transports=[transport])
