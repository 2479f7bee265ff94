"""The CoAP face of the LwM2M engine: one aiocoap resource that serves every path.

aiocoap hands us each request a server sends over the client's own endpoint
(role reversal: the socket we registered from). We turn the message into an
engine :class:`~m2mclient.lwm2m.engine.Request`, answer with its response, and
for Observe (GET or FETCH with Observe=0) register the relation with the
:class:`~m2mclient.lwm2m.notifier.Notifier`, which later pushes notifications
through aiocoap's per-observer trigger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiocoap
from aiocoap import interfaces
from aiocoap import resource as coap_resource
from aiocoap.numbers import codes

from m2mclient.errors import PathError
from m2mclient.lwm2m.engine import Engine, Method, Request, Response
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.notifier import Notifier

logger = logging.getLogger(__name__)

_METHODS = {
    codes.GET: Method.GET,
    codes.POST: Method.POST,
    codes.PUT: Method.PUT,
    codes.DELETE: Method.DELETE,
    codes.FETCH: Method.FETCH,
    codes.iPATCH: Method.IPATCH,
}

#: Maps the remote a request came from to the Short Server ID of its server.
ServerIdentifier = Callable[[Any], int]
#: Called after every request with the engine's request and response (logging, events).
RequestObserver = Callable[[Request, Response], None]


def to_message(response: Response) -> aiocoap.Message:
    """The CoAP message for an engine response."""
    message = aiocoap.Message(code=codes.Code(_code_number(response.code)), payload=response.payload)
    if response.content_format is not None:
        message.opt.content_format = response.content_format
    if response.location_path:
        message.opt.location_path = response.location_path
    return message


def _code_number(text: str) -> int:
    major, _, minor = text.partition(".")
    return int(major) << 5 | int(minor)


class LwM2MSite(coap_resource.Resource, interfaces.ObservableResource):  # type: ignore[misc]
    """Serves all LwM2M paths from an :class:`Engine`; Observe goes to a :class:`Notifier`."""

    def __init__(
        self,
        engine: Engine,
        notifier: Notifier,
        identify_server: ServerIdentifier,
        on_request: RequestObserver | None = None,
    ):
        super().__init__()
        self.engine = engine
        self.notifier = notifier
        self._identify_server = identify_server
        self._on_request = on_request
        self._background: set[asyncio.Future[object]] = set()
        self.context: Any = None
        self._on_delivery_failure: Callable[[Any], None] | None = None
        self._failed_remotes: dict[Any, float] = {}
        #: Retransmission parameters of notifications (None: aiocoap's defaults).
        self.notification_tuning: type[aiocoap.TransportTuning] | None = None

    def tuning(self, confirmable: bool) -> aiocoap.TransportTuning:
        """The transport tuning a notification goes out with."""
        if not confirmable:
            return aiocoap.Unreliable()
        return self.notification_tuning() if self.notification_tuning is not None else aiocoap.Reliable()

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        # aiocoap reassembles Block1 writes and slices large reads into Block2 for us.
        return True

    def to_request(self, message: aiocoap.Message) -> Request | None:
        """The engine request for a CoAP message, or ``None`` when it is not LwM2M at all."""
        method = _METHODS.get(message.code)
        if method is None:
            return None
        try:
            path = Path(tuple(int(segment) for segment in message.opt.uri_path)) if message.opt.uri_path else Path()
        except (ValueError, PathError):
            return None
        return Request(
            method=method,
            path=path,
            query=tuple(message.opt.uri_query),
            content_format=_int_or_none(message.opt.content_format),
            accept=_int_or_none(message.opt.accept),
            payload=bytes(message.payload),
            observe=message.opt.observe,
            server_id=self._identify_server(message.remote),
        )

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        engine_request = self.to_request(request)
        if engine_request is None:
            return aiocoap.Message(code=codes.NOT_FOUND, payload=b"not an LwM2M path")
        # Observe queries (pmin=...) belong to the relation, not to the Read itself.
        if engine_request.observe == 0 and engine_request.method is Method.GET:
            engine_request = _without_attribute_query(engine_request)
        response = self.engine.handle(engine_request)
        if response.ok and engine_request.method in (Method.DELETE, Method.PUT, Method.POST, Method.IPATCH):
            self._after_change(engine_request)
        if self._on_request is not None:
            self._on_request(engine_request, response)
        if response.after is not None:
            # Keep a reference: the loop holds tasks only weakly (an execute must not be collected mid-run).
            task = asyncio.ensure_future(response.after)
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return to_message(response)

    def _after_change(self, request: Request) -> None:
        if request.method is Method.DELETE:
            self.notifier.changed(request.path)
        elif request.method is Method.PUT and request.content_format is None and not request.payload:
            self.notifier.attributes_changed(request.server_id, request.path)

    async def add_observation(self, request: aiocoap.Message, serverobservation: Any) -> None:
        engine_request = self.to_request(request)
        if engine_request is None or engine_request.method not in (Method.GET, Method.FETCH):
            return
        composite = engine_request.method is Method.FETCH
        try:
            paths = self.engine.composite_paths(engine_request) if composite else [engine_request.path]
        except Exception:  # a bad body: render() answers it with the proper error code
            return
        if not composite and not self.engine.exists(engine_request.path):
            return
        channel = _NotificationChannel(self, serverobservation, request)
        self.notifier.start(
            channel,
            paths,
            server_id=engine_request.server_id,
            accept=engine_request.accept,
            query=_attribute_query(engine_request.query),
            send=channel.send,
            composite=composite,
        )
        serverobservation.accept(channel.ended)

    # --- delivery failures ---------------------------------------------------------------

    def watch_delivery(self, context: aiocoap.Context, on_failure: Callable[[Any], None]) -> None:
        """Learn when a confirmable message to the server timed out (aiocoap then ends its observations).

        aiocoap reports an exhausted CON exchange to the token manager's
        ``dispatch_error``, which stops every exchange with that remote; a RST or
        the server's own cancel does not pass there. Observations ended that way
        are kept and their notifications stored until the server answers again.
        """
        self.context = context
        self._on_delivery_failure = on_failure
        for manager in context.request_interfaces:
            original = manager.dispatch_error

            def dispatch_error(exception: Exception, remote: Any, original: Any = original) -> None:
                self._failed_remotes[remote] = asyncio.get_running_loop().time()
                logger.info("delivery to %s failed: %s", remote, exception)
                if self._on_delivery_failure is not None:
                    self._on_delivery_failure(remote)
                original(exception, remote)

            manager.dispatch_error = dispatch_error

    def failed_recently(self, remote: Any) -> bool:
        failed_at = self._failed_remotes.get(remote)
        return failed_at is not None and asyncio.get_running_loop().time() - failed_at < _FAILURE_MEMORY

    def token_interface_for(self, token: bytes, remote: Any) -> Any:
        """The aiocoap token interface that carried the request with ``token`` from ``remote``."""
        for manager in getattr(self.context, "request_interfaces", ()):
            if (token, remote) in getattr(manager, "incoming_requests", {}):
                return manager.token_interface
        return None


#: How long after a delivery failure an ended observation counts as "lost by the network"
#: rather than "cancelled by the server" (the stop follows the failure within a loop turn).
_FAILURE_MEMORY = 5.0


class _NotificationChannel:
    """How one Observe relation's notifications reach the server.

    While aiocoap's observation lives they go through its per-observer trigger
    (it numbers them and handles RST). When a confirmable notification timed out,
    aiocoap has ended the observation although the server still holds it, so the
    channel sends the same way aiocoap would, on the original token with the next
    Observe number, straight to the token interface.
    """

    def __init__(self, site: LwM2MSite, serverobservation: Any, request: aiocoap.Message):
        self.site = site
        self.serverobservation = serverobservation
        self.token = request.token
        self.remote = request.remote
        self.request = request
        self.token_interface = site.token_interface_for(request.token, request.remote)
        self.attached = True
        self.sequence = 0  # aiocoap numbers the Observe response 0 and each trigger after it +1

    def send(self, response: Response, confirmable: bool) -> None:
        message = to_message(response)
        message.transport_tuning = self.site.tuning(confirmable)
        self.sequence += 1
        route = "trigger" if self.attached else "token interface"
        logger.debug("notification %d (%s) via the %s", self.sequence, response.code, route)
        if self.attached:
            self.serverobservation.trigger(message, is_last=not response.ok)
            return
        if self.token_interface is None:
            logger.warning("cannot deliver a notification of a lost observation: no token interface")
            return
        message.token = self.token
        message.remote = self.remote.as_response_address()
        message.request = self.request
        if response.ok:
            message.opt.observe = self.sequence
        self.token_interface.send_message(message, self._reset)

    def _reset(self) -> None:
        # The server answered a notification with RST: it no longer wants it (RFC 7641 §3.6).
        self.site.notifier.cancel(self)

    def ended(self) -> None:
        """aiocoap ended the observation: a server cancel, or a delivery failure to keep through."""
        failed = self.site.failed_recently(self.remote)
        logger.debug("aiocoap ended the observation (delivery failed recently: %s)", failed)
        if self.site.failed_recently(self.remote):
            self.attached = False
            return
        self.site.notifier.cancel(self)


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


_ATTRIBUTE_PREFIXES = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "edge", "con", "hqmax")


def _attribute_query(query: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(item for item in query if item.partition("=")[0] in _ATTRIBUTE_PREFIXES)


def _without_attribute_query(request: Request) -> Request:
    return replace(request, query=tuple(q for q in request.query if q not in _attribute_query(request.query)))
