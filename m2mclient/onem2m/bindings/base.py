"""The one interface every oneM2M binding implements, and the factory that picks one.

A binding moves primitives, nothing more: the AE layer builds a
:class:`~m2mclient.onem2m.primitives.RequestPrimitive`, the binding maps it to
HTTP / WebSocket / CoAP, and returns the
:class:`~m2mclient.onem2m.primitives.ResponsePrimitive` mapped back. Requests
the CSE sends to the AE (NOTIFY, subscription verification) arrive through the
handler registered with :meth:`Binding.serve`, and its answer goes back the
same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlsplit

from m2mclient.onem2m.primitives import OneM2MUsageError, RequestPrimitive, ResponsePrimitive
from m2mclient.onem2m.serialization import Format

#: Answers a request the CSE sent to the AE (a NOTIFY) with a response primitive.
RequestHandler = Callable[[RequestPrimitive], Awaitable[ResponsePrimitive]]


class Binding(Protocol):
    """A connection from an AE to one CSE over one protocol."""

    #: The serialization used on the wire (JSON or CBOR).
    format: Format

    @property
    def point_of_access(self) -> list[str]:
        """What the AE registers as ``poa`` so the CSE can reach it ([] when it cannot be reached)."""
        ...

    async def open(self) -> None:
        """Connect (WebSocket) or start listening for notifications (HTTP/CoAP receiver)."""
        ...

    async def send(self, request: RequestPrimitive, *, timeout: float | None = None) -> ResponsePrimitive:
        """Send one request primitive and return the CSE's response primitive (any RSC)."""
        ...

    def serve(self, handler: RequestHandler) -> None:
        """Deliver the CSE's requests to ``handler`` (one handler; a later call replaces it)."""
        ...

    async def close(self) -> None:
        """Stop listening and close connections."""
        ...


def open_binding(
    url: str,
    *,
    serialization: Format = Format.JSON,
    binding: str | None = None,
    **options: object,
) -> Binding:
    """The binding for a CSE's point of access: ``http(s)://``, ``ws(s)://`` or ``coap(s)://``.

    ``binding`` ("http", "ws", "coap") overrides what the scheme implies; other
    keyword options go to the binding's constructor.
    """
    scheme = urlsplit(url).scheme.lower()
    kind = binding or {"http": "http", "https": "http", "ws": "ws", "wss": "ws", "coap": "coap", "coaps": "coap"}.get(
        scheme
    )
    if kind == "http":
        from m2mclient.onem2m.bindings.http import HttpBinding

        return HttpBinding(url, serialization=serialization, **options)  # type: ignore[arg-type]
    if kind == "ws":
        from m2mclient.onem2m.bindings.ws import WebSocketBinding

        return WebSocketBinding(url, serialization=serialization, **options)  # type: ignore[arg-type]
    if kind == "coap":
        from m2mclient.onem2m.bindings.coap import CoapBinding

        return CoapBinding(url, serialization=serialization, **options)  # type: ignore[arg-type]
    raise OneM2MUsageError(f"no oneM2M binding for {url!r}: use http://, https://, ws://, wss://, coap:// or coaps://")
