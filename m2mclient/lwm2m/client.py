"""The LwM2M client: object instances in, a registered, observable, manageable device out.

>>> client = LwM2MClient("node-1", [TemperatureSensor()], server_uri="coap://leshan.example:5683")
>>> async with client:                       # registers, serves, de-registers on exit
...     await client.wait_registered()
...     await client.send(["/3303/0/5700"])  # Send in SenML CBOR

Configuration is LwM2M's own: Security (0) and Server (1) object instances.
``server_uri=`` builds that pair for the common case; pass ``objects`` holding
your own Security/Server instances for more (several servers, queue mode,
retry policy), exactly what a bootstrap server would write.

Everything protocol-shaped lives in sans-IO parts (engine, registration
machine, observation schedules); this module wires them to aiocoap and the
event loop. :class:`SyncLwM2MClient` wraps it for firmware apps without asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiocoap

from m2mclient.errors import M2MError, ValueValidationError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.attributes import AttributeStore
from m2mclient.lwm2m.engine import Engine, Request, Response
from m2mclient.lwm2m.formats import Record
from m2mclient.lwm2m.model import Path
from m2mclient.lwm2m.notifier import Notifier
from m2mclient.lwm2m.objects.base import LwM2MObject, ObjectInstance
from m2mclient.lwm2m.objects.server import ServerSettings, binding_for_uri, server_config
from m2mclient.lwm2m.registration import (
    Deregistered,
    Disabled,
    Registered,
    RegistrationFailed,
    RegistrationMachine,
    RegistrationSettings,
    RegistrationState,
    RetryPolicy,
    Updated,
)
from m2mclient.lwm2m.registry import Registry, default_registry
from m2mclient.platform.links import DatagramLink

logger = logging.getLogger(__name__)

SECURITY, SERVER, DEVICE = 0, 1, 3
_SECURITY_URI, _SECURITY_IS_BOOTSTRAP, _SECURITY_SHORT_ID = 0, 1, 10
_SERVER_DISABLE, _SERVER_UPDATE_TRIGGER = 4, 8

E = TypeVar("E")


class SendError(M2MError):
    """A Send could not be delivered (muted by /1/x/23, not registered, or refused)."""


@dataclass(frozen=True)
class ObserveStarted:
    """A server started observing ``paths``."""

    server_id: int
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class ObserveCancelled:
    """An observation of ``paths`` ended (cancelled by the server, RST, or target deleted)."""

    server_id: int
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class ServerOperation:
    """A server performed an operation: its request and the client's answer."""

    server_id: int
    request: Request
    response: Response

    def __str__(self) -> str:
        operation = f"{self.request.method.value} {self.request.path}"
        if self.request.query:
            operation += "?" + "&".join(self.request.query)
        return f"server {self.server_id}: {operation} -> {self.response.code}"


class _ServerSession:
    """One server: its registration machine, its CoAP endpoint and the task that drives them."""

    def __init__(self, client: LwM2MClient, security: ObjectInstance, server: ObjectInstance):
        self.client = client
        self.security = security
        self.server = server
        self.uri = str(security.get(_SECURITY_URI))
        self.settings = ServerSettings.from_instance(server)
        self.server_id = self.settings.short_server_id
        self.machine = RegistrationMachine(self._registration_settings(), client.object_versions())
        self.context: aiocoap.Context | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.registered = asyncio.Event()
        self.server_remote: Any = None  # the server's address, as aiocoap answered from it

    def _registration_settings(self) -> RegistrationSettings:
        retry = RetryPolicy(
            count=self.settings.communication_retry_count,
            timer=self.settings.communication_retry_timer,
            sequence_delay=self.settings.communication_sequence_delay_timer,
            sequence_count=self.settings.communication_sequence_retry_count,
        )
        # LwM2M 1.0 has only the U and S bindings (U, UQ, S, SQ, US, UQS): a TCP, MQTT, HTTP or
        # Non-IP account cannot register as 1.0, so a 4.12 must not make it fall back that far.
        fallback = self.client.version_fallback
        if not set(self.settings.transports) <= {"U", "S"}:
            fallback = tuple(version for version in fallback if version != "1.0")
        return RegistrationSettings(
            endpoint=self.client.endpoint,
            lifetime=self.settings.lifetime,
            binding=self.settings.transports,
            version_fallback=fallback,
            queue_mode=self.settings.queue_mode,
            lwm2m_version=self.client.version,
            retry=self.client.retry or retry,
            content_formats=(self.client.engine.preferred_format or formats.SENML_CBOR,),
        )

    async def open(self) -> None:
        from m2mclient.coap.context import create_endpoint
        from m2mclient.coap.site import LwM2MSite

        site = LwM2MSite(
            self.client.engine,
            self.client.notifier,
            identify_server=lambda _remote: self.server_id,
            on_request=self._on_request,
        )
        site.notification_tuning = self.client.notification_tuning
        self.context = await create_endpoint(site, self.uri, bind=self.client.bind, link=self.client.link)
        site.watch_delivery(self.context, self._delivery_failed)
        self.machine.start(self.client.clock())
        self.task = asyncio.create_task(self._run(), name=f"lwm2m-registration-{self.server_id}")

    async def close(self) -> None:
        self.machine.stop(self.client.clock())
        self.wake.set()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, timeout=self.settings.communication_retry_timer + 10)
            except asyncio.TimeoutError:
                self.task.cancel()
        if self.context is not None:
            await self.context.shutdown()

    def _delivery_failed(self, remote: Any) -> None:
        # Only the server's own address counts: a CoAP tool that asked us something and went
        # away before our answer says nothing about whether the server is reachable.
        if not _same_remote(remote, self.server_remote):
            return
        # Hold notifications and find out with an Update whether the server is back (§6.4.4).
        self.client.notifier.server_unreachable(self.server_id)
        if self.machine.state is RegistrationState.REGISTERED:
            self.machine.trigger_update(self.client.clock())
        self.wake.set()

    def settings_changed(self) -> None:
        self.settings = ServerSettings.from_instance(self.server)
        self.machine.settings_changed(self._registration_settings())
        self.wake.set()

    def _on_request(self, request: Request, response: Response) -> None:
        self.client.emit(ServerOperation(self.server_id, request, response))

    async def _run(self) -> None:
        while True:
            now = self.client.clock()
            outgoing = self.machine.poll(now)
            if outgoing is not None:
                await self._exchange(outgoing)
                continue
            if self.machine.state in (RegistrationState.DEREGISTERED, RegistrationState.FAILED):
                return
            wakeup = self.machine.next_wakeup(now)
            timeout = None if wakeup is None else max(0.0, wakeup - now)
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def _exchange(self, outgoing: Any) -> None:
        assert self.context is not None
        message = aiocoap.Message(
            code=aiocoap.POST if outgoing.method == "POST" else aiocoap.DELETE,
            uri=self._base_uri(),
            payload=outgoing.payload,
        )
        message.opt.uri_path = tuple(self._uri_prefix(outgoing)) + tuple(outgoing.uri_path)
        message.opt.uri_query = outgoing.uri_query
        if outgoing.content_format is not None:
            message.opt.content_format = outgoing.content_format
        logger.debug("server %d: %s", self.server_id, outgoing)
        try:
            response = await asyncio.wait_for(
                self.context.request(message).response, timeout=self.machine.settings.max_transmit_wait + 30
            )
        except (aiocoap.error.Error, asyncio.TimeoutError, OSError) as exc:
            events = self.machine.on_failure(self.client.clock(), f"{type(exc).__name__}: {exc}")
        else:
            self.server_remote = response.remote
            code = response.code.dotted
            events = self.machine.on_response(self.client.clock(), code, tuple(response.opt.location_path))
        for event in events:
            self._track(event)
            self.client.emit(event)

    def _base_uri(self) -> str:
        parts = urlsplit(self.uri)
        return f"{parts.scheme}://{parts.netloc}"

    def _uri_prefix(self, outgoing: Any) -> tuple[str, ...]:
        # A Server URI with a path (coap://host/tenant) prefixes Register; Update and
        # De-register go to the absolute Location-Path the server returned.
        if outgoing.kind != "register":
            return ()
        return tuple(segment for segment in urlsplit(self.uri).path.split("/") if segment)

    def _track(self, event: object) -> None:
        if isinstance(event, Registered):
            # A fresh registration: the server forgot this client, so its old observations are void.
            self.client.notifier.cancel_server(self.server_id)
            self.client.engine.server_versions[self.server_id] = event.version
            self.client.notifier.server_reachable(self.server_id)
            self.registered.set()
        elif isinstance(event, Updated):
            self.client.notifier.server_reachable(self.server_id)
            self.registered.set()
        elif isinstance(event, RegistrationFailed):
            self.client.notifier.server_unreachable(self.server_id)
            self.registered.clear()
        elif isinstance(event, (Deregistered, Disabled)):
            self.registered.clear()


class LwM2MClient:
    """An LwM2M 1.2 client exposing ``objects`` to the servers its Security/Server instances name.

    ``objects`` holds :class:`ObjectInstance` s and/or whole :class:`LwM2MObject` s.
    With ``server_uri`` a Security and Server instance pair is built for it
    (``lifetime``, ``binding``, ``queue_mode``); otherwise ``objects`` must
    include them. A Device (3) instance is added when none is given.

    ``clock`` (monotonic seconds) drives registration and notification timing;
    tests inject a fake one and call :meth:`poke` after moving it.
    ``notification_tuning`` (an ``aiocoap.Reliable`` subclass) sets how confirmable
    notifications are retransmitted; when one still is not acknowledged the server
    counts as unreachable, notifications are stored (if /1/x/6 says so) and
    delivered, oldest first, once an Update gets through.
    ``link`` (a :class:`~m2mclient.platform.links.DatagramLink`) carries CoAP over
    something other than an OS UDP socket: a modem's AT socket, SMS, NIDD.
    ``version_fallback`` lists the LwM2M versions to try when a server answers
    4.12 to the Register (each fallback is logged and reported as an event).
    """

    def __init__(
        self,
        endpoint: str,
        objects: Iterable[ObjectInstance | LwM2MObject] = (),
        *,
        server_uri: str | None = None,
        lifetime: int = 300,
        binding: str | None = None,
        queue_mode: bool = False,
        registry: Registry | None = None,
        version: str = "1.2",
        preferred_format: int | None = None,
        retry: RetryPolicy | None = None,
        bind: tuple[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        notification_tuning: type[aiocoap.TransportTuning] | None = None,
        link: DatagramLink | None = None,
        version_fallback: tuple[str, ...] = ("1.1", "1.0"),
    ):
        if not endpoint:
            raise ValueValidationError("the endpoint client name must not be empty")
        self.endpoint = endpoint
        self.registry = registry if registry is not None else default_registry()
        self.version = version
        self.retry = retry
        self.bind = bind
        self.link = link
        self.version_fallback = version_fallback
        self.clock = clock
        self.wall_clock = wall_clock
        self.notification_tuning = notification_tuning
        self.objects: dict[int, LwM2MObject] = {}
        if server_uri is not None:
            security, server = server_config(server_uri, lifetime=lifetime, binding=binding, queue_mode=queue_mode)
            objects = [security, server, *objects]
        for item in objects:
            self._add(item)
        if DEVICE not in self.objects:
            from m2mclient.lwm2m.objects.device import DeviceObject

            # Supported Binding and Modes (/3/0/16) names the binding we register with: T over coap+tcp://.
            modes = binding or (binding_for_uri(server_uri) if server_uri is not None else "U")
            self._add(DeviceObject(binding_modes=modes + ("Q" if queue_mode and "Q" not in modes else "")))
        for object_id in (SECURITY, SERVER):
            if object_id not in self.objects:
                raise ValueValidationError(
                    "no LwM2M server configured: give server_uri= or Security (0) and Server (1) instances"
                )
        self.engine = Engine(
            self.objects.values(),
            registry=self.registry,
            attributes=AttributeStore(),
            version=version,
            preferred_format=preferred_format,
        )
        self.notifier = Notifier(self.engine, clock=clock, server_defaults=self._server_defaults)
        self.notifier.storing = self._notification_storing
        self.notifier.on_started.append(lambda server_id, paths: self.emit(ObserveStarted(server_id, paths)))
        self.notifier.on_cancelled.append(lambda server_id, paths: self.emit(ObserveCancelled(server_id, paths)))
        self._listeners: list[tuple[type | None, Callable[[Any], None]]] = []
        self._sessions: list[_ServerSession] = []
        self._notifier_task: asyncio.Task[None] | None = None
        self._known_objects = self.object_versions()
        for instance in self.instances():
            instance.add_listener(self._on_changed)

    # --- objects -------------------------------------------------------------------------

    def _add(self, item: ObjectInstance | LwM2MObject) -> None:
        if isinstance(item, LwM2MObject):
            if item.id in self.objects:
                raise ValueValidationError(f"object {item.id} given twice")
            self.objects[item.id] = item
            return
        obj = self.objects.get(item.object_id)
        if obj is None:
            obj = self.objects[item.object_id] = LwM2MObject(item.definition)
        obj.add(item)

    def instances(self) -> list[ObjectInstance]:
        return [instance for obj in self.objects.values() for instance in obj]

    def instance(self, path: Path | str) -> ObjectInstance:
        """The object instance at ``/o/i``."""
        return self.engine.instance(Path.parse(path))

    def object_versions(self) -> dict[int, tuple[str, list[int]]]:
        """Object id -> (object version, instance ids): what a Register lists."""
        return {oid: (obj.definition.version, sorted(obj.instances)) for oid, obj in sorted(self.objects.items())}

    def _on_changed(self, path: Path) -> None:
        self.notifier.changed(path)
        if path.object_id == SERVER:
            # A server wrote its lifetime, binding...: the next Update carries what changed.
            for session in self._sessions:
                if session.server.path.is_prefix_of(path):
                    session.settings_changed()

    def _check_object_list(self) -> None:
        current = self.object_versions()
        if current != self._known_objects:
            self._known_objects = current
            for instance in self.instances():
                instance.add_listener(self._on_changed)
            for session in self._sessions:
                session.machine.objects_changed(current)
                session.wake.set()

    def _server_defaults(self, server_id: int) -> tuple[int | None, int | None]:
        for session in self._sessions:
            if session.server_id == server_id:
                settings = ServerSettings.from_instance(session.server)
                return settings.default_pmin, settings.default_pmax
        return None, None

    def _notification_storing(self, server_id: int) -> bool:
        for session in self._sessions:
            if session.server_id == server_id:
                return ServerSettings.from_instance(session.server).notification_storing
        return True

    # --- events ---------------------------------------------------------------------------

    def on(self, event_type: type[E] | None, callback: Callable[[E], None]) -> None:
        """Call ``callback(event)`` for every event of ``event_type`` (``None``: every event).

        Events: :class:`~m2mclient.lwm2m.registration.Registered`, ``Updated``,
        ``Deregistered``, ``RegistrationFailed``, ``VersionFallback``,
        ``BootstrapNeeded``, ``Disabled``, :class:`ObserveStarted`,
        :class:`ObserveCancelled` and :class:`ServerOperation`.
        """
        self._listeners.append((event_type, callback))

    def emit(self, event: object) -> None:
        logger.info("%s", event)
        if isinstance(event, ServerOperation):
            self._check_object_list()
        for event_type, callback in list(self._listeners):
            if event_type is None or isinstance(event, event_type):
                try:
                    callback(event)
                except Exception:
                    logger.exception("event callback %r failed on %s", callback, event)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open an endpoint per configured server and start registering (returns at once)."""
        if self._sessions:
            return
        for security in self.objects[SECURITY]:
            if security.has_resource(_SECURITY_IS_BOOTSTRAP) and security.get(_SECURITY_IS_BOOTSTRAP):
                continue  # bootstrap servers are contacted only when registration fails
            short_id = security.get(_SECURITY_SHORT_ID)
            server = next((s for s in self.objects[SERVER] if s.get(0) == short_id), None)
            if server is None:
                raise ValueValidationError(
                    f"Security instance {security.path} names server {short_id!r}, which has no Server instance"
                )
            session = _ServerSession(self, security, server)
            self._hook_server_executes(session)
            self._sessions.append(session)
        for session in self._sessions:
            await session.open()
        self._notifier_task = asyncio.create_task(self.notifier.run(), name="lwm2m-notifier")
        self._notifier_task.add_done_callback(_log_crash)

    def _hook_server_executes(self, session: _ServerSession) -> None:
        def update_trigger(_arguments: str | None) -> None:
            session.machine.trigger_update(self.clock())
            session.wake.set()

        def disable(_arguments: str | None) -> None:
            timeout = ServerSettings.from_instance(session.server).disable_timeout
            for event in session.machine.disable(self.clock(), timeout):
                self.emit(event)
            session.wake.set()

        session.server.on_execute(_SERVER_UPDATE_TRIGGER, update_trigger)
        session.server.on_execute(_SERVER_DISABLE, disable)

    async def stop(self) -> None:
        """De-register from every server and close the endpoints."""
        if self._notifier_task is not None:
            self._notifier_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._notifier_task
            self._notifier_task = None
        for session in self._sessions:
            await session.close()
        self._sessions.clear()

    async def __aenter__(self) -> LwM2MClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- what an application does while running ---------------------------------------------

    @property
    def registered(self) -> bool:
        """True when every configured server holds a current registration."""
        return bool(self._sessions) and all(s.registered.is_set() for s in self._sessions)

    async def wait_registered(self, timeout: float | None = 30.0) -> None:
        """Wait until every server has accepted the registration."""
        await asyncio.wait_for(asyncio.gather(*(s.registered.wait() for s in self._sessions)), timeout)

    def poke(self) -> None:
        """Re-evaluate timers now (after a test moved the injected clock, or after wake-up from sleep)."""
        for session in self._sessions:
            session.wake.set()
        self.notifier.poll()

    def trigger_update(self) -> None:
        """Send a registration Update to every server now (e.g. after waking in queue mode)."""
        for session in self._sessions:
            session.machine.trigger_update(self.clock())
            session.wake.set()

    async def send(
        self,
        paths: Sequence[Path | str],
        *,
        content_format: int | str = formats.SENML_CBOR,
        server_id: int | None = None,
    ) -> None:
        """Send the current values at ``paths`` to a server (``POST /dp``, LwM2M 1.1+).

        Raises :class:`SendError` when Mute Send (/1/x/23) is set, the client is not
        registered with that server, or the server refuses the data.
        """
        fmt = formats.lookup(content_format)
        session = self._session(server_id)
        if ServerSettings.from_instance(session.server).mute_send:
            raise SendError(f"server {session.server_id} has Mute Send (/1/x/23) set")
        if not session.registered.is_set() or session.context is None:
            raise SendError(f"not registered with server {session.server_id}")
        if session.machine.registered_version == "1.0":
            raise SendError(f"server {session.server_id} speaks LwM2M 1.0, which has no Send operation")
        # SenML stamps each value; LwM2M CBOR has no time field (encoding a timestamped record there fails).
        now = self.wall_clock() if fmt.timestamps else None
        records = [Record(r.path, r.value, now) for p in paths for r in self.engine.read(Path.parse(p))]
        payload = formats.encode(fmt.id, records, path="/", registry=self.registry)
        message = aiocoap.Message(code=aiocoap.POST, uri=session._base_uri(), payload=payload)
        message.opt.uri_path = ("dp",)
        message.opt.content_format = fmt.id
        response = await session.context.request(message).response
        if not response.code.is_successful():
            raise SendError(f"server {session.server_id} answered Send with {response.code.dotted}")

    def _session(self, server_id: int | None) -> _ServerSession:
        for session in self._sessions:
            if server_id is None or session.server_id == server_id:
                return session
        raise SendError(f"no running session for server {server_id}" if server_id else "the client is not started")


def _log_crash(task: asyncio.Task[None]) -> None:
    """A background task must never die silently: observers would simply stop hearing from us."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped", task.get_name(), exc_info=task.exception())


def _same_remote(a: Any, b: Any) -> bool:
    """aiocoap addresses compare only with their own kind (a UDP address raises on a TCP one)."""
    if a is None or b is None or type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # an address type whose __eq__ assumes its own kind
        return False
