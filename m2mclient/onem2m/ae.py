"""The oneM2M Application Entity a device app uses: register, publish, subscribe (async + sync facade).

>>> async def main() -> None:
...     async with AE("http://127.0.0.1:8080", app_id="Nsensor", name="pi-7", originator="Cpi-7",
...                   state_dir="/var/lib/sensor") as ae:
...         await ae.register()
...         await ae.create_container("temperature", mni=100)
...         await ae.publish("temperature", 21.5)
...         await ae.subscribe("temperature", print)

:class:`AE` speaks to one CSE over one :class:`~m2mclient.onem2m.bindings.Binding`
(HTTP, WebSocket or CoAP, JSON or CBOR) and takes care of what the AE SDKs
surveyed in ``shared/reference/acme-cse-peer-and-ae-sdks.md`` §2 get wrong:

* **Release versions.** ``srv`` lists the releases we speak; every request's
  ``rvi`` is the newest one the CSE's ``srv`` also lists. A CSE that will not
  show its <CSEBase> to an unregistered originator (ACME: 4103) is registered
  with our newest release first, stepping down on 4001.
* **Identity lifecycle.** The registration (AE-ID, resource name, release) is
  persisted in ``state_dir``; a restart retrieves the stored AE instead of
  registering twice, updates its ``poa`` when the binding's address changed,
  and adopts an existing AE when the CSE says the name (4105) or the
  originator (4117) is taken *and* the AE found is ours. The registration's
  expiration time is renewed before it passes.
* **Offline-first publishing.** :meth:`AE.publish` never loses a reading on a
  flaky link and never creates one twice (:mod:`~m2mclient.onem2m.offline_queue`).
* **Notifications.** Subscriptions default to ``nu`` = our AE-ID, which the CSE
  resolves to our current ``poa`` (so they survive a restart that changes the
  HTTP receiver's port) and needs no verification round trip; verification
  requests, deletion notices and batched notifications are handled. Devices
  that cannot accept connections use a <pollingChannel> instead
  (``polling_channel=True``).
* **Non-blocking requests** (``rt`` 1/2) with :meth:`AE.result` to collect the outcome.

Resource arguments are names relative to the AE (``"temperature"``,
``"temperature/la"``), CSE-relative structured ids (``"cse-in/other/data"``) or
SP-relative / absolute ids (``"/id-in/cnt123"``, ``"//sp/id-in/cnt123"``).
Failures raise :class:`~m2mclient.onem2m.primitives.OneM2MError` carrying the
RSC, its name, the request and a hint.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as _dt
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from m2mclient.onem2m import resources
from m2mclient.onem2m.bindings.base import Binding, open_binding
from m2mclient.onem2m.offline_queue import OfflineQueue, QueuedPublish, read_json_file, write_json_file
from m2mclient.onem2m.primitives import (
    SUPPORTED_RELEASES,
    FilterCriteria,
    FilterUsage,
    OneM2MError,
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    RequestPrimitive,
    ResourceType,
    ResponsePrimitive,
    ResponseStatusCode,
    ResponseType,
    ResponseTypeInfo,
    format_timestamp,
    make_rqi,
    negotiate,
    parse_timestamp,
)
from m2mclient.onem2m.resources import (
    NEW_CHILD_CREATED,
    EventNotificationCriteria,
    Notification,
    NotificationContentType,
    content_instance,
    parse_notifications,
    parse_resource,
    parse_uri_list,
)
from m2mclient.onem2m.serialization import Format, response_from_dict, response_to_dict

log = logging.getLogger(__name__)

RSC = ResponseStatusCode
T = TypeVar("T")

#: Seconds a request may take before the binding gives up. NB-IoT round trips take
#: 1-10 s with retransmissions (TS 36.300 PSM wake + RRC setup); 30 s leaves room.
DEFAULT_REQUEST_TIMEOUT = 30.0

#: How long one <pollingChannel> long poll asks the CSE to hold the request (sent
#: as a relative ``rqet`` in ms). Shorter than typical carrier NAT idle timers
#: (~60-120 s for UDP/TCP on LTE-M/NB-IoT) so the connection never looks idle.
DEFAULT_POLL_SECONDS = 25.0

#: Retry delays of the offline queue and of the polling loop: doubling from the
#: first to the last, so a CSE that is down is not hammered and a brief outage
#: costs seconds, not minutes.
RETRY_FIRST_DELAY = 1.0
RETRY_MAX_DELAY = 60.0

#: Longest wait in :meth:`AE.close` for a held <pollingChannel> poll to come back.
POLL_DRAIN_SECONDS = 3.0

#: ``sur`` of the NOTIFY an AE sends itself to wake its own held poll on close
#: (see :meth:`AE._drain_poll`); recognised and ignored when it comes back.
WAKE_MARKER = "m2mclient-wake"

#: Fraction of the remaining registration lifetime after which it is renewed; a
#: quarter left over absorbs a failed renewal attempt or two.
RENEW_AT_FRACTION = 0.75

#: Longest single sleep of the renewal task, so a wall-clock jump or suspend cannot
#: make it oversleep an expiration by more than this.
MAX_RENEW_SLEEP = 3600.0

#: RSCs a peer (a CSE or a gateway on the way) answers when it could not reach the
#: target or ran out of time: the request may be retried, unlike 4xxx refusals.
TRANSIENT_RSCS = frozenset(
    {
        RSC.REQUEST_TIMEOUT,
        RSC.TARGET_NOT_REACHABLE,
        RSC.REMOTE_ENTITY_NOT_REACHABLE,
        RSC.EXTERNAL_OBJECT_NOT_REACHABLE,
    }
)

#: Random bytes naming one reading (its rn and rqi): 48 bits make a clash between
#: two readings of one container as unlikely as a hardware fault, and an rn clash
#: is what would turn a new reading into a "4105, already delivered".
PUBLISH_ID_BYTES = 6

STATE_FILE = "registration.json"
QUEUE_FILE = "offline-queue.json"
STATE_FILE_VERSION = 1

# contentInfo (cnf) values publish() writes, and latest() / notifications read back.
CNF_TEXT = "text/plain:0"
CNF_JSON = "application/json:0"
CNF_BASE64 = "application/octet-stream:1"  # encoding 1: base64 string (TS-0004 §6.3.4.2.28)

# <request> requestStatus (m2m:requestStatus, TS-0004 §6.3.4.2.26) values that mean "not done yet".
_REQUEST_PENDING = frozenset({3, 4})  # PENDING, FORWARDED


# ---------------------------------------------------------------------------
# Values <-> content instances
# ---------------------------------------------------------------------------


def encode_value(value: Any) -> tuple[Any, str]:
    """The ``con`` and ``cnf`` that :meth:`AE.publish` sends for ``value``.

    The same call stores the same <contentInstance> whatever the binding or
    serialization, and :func:`decode_value` gives the value back:

    * ``str`` -> itself, ``text/plain:0``;
    * ``bytes`` -> base64 text, ``application/octet-stream:1``;
    * numbers, booleans, None, dicts and lists -> their JSON text,
      ``application/json:0`` (``21.5`` is stored as ``"21.5"``).

    JSON *text* rather than a native JSON/CBOR value because CSEs other than
    ACME (OM2M, Mobius) and most dashboards treat ``con`` as a string.
    """
    if isinstance(value, str):
        return value, CNF_TEXT
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii"), CNF_BASE64
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OneM2MUsageError(
            f"cannot publish {type(value).__name__} {value!r:.60}: {exc}",
            hint="publish text, bytes, a number or a JSON-like dict/list, or pass con and cnf yourself",
        ) from None
    return text, CNF_JSON


def decode_value(con: Any, cnf: str | None) -> Any:
    """The application value of a <contentInstance>'s ``con`` according to its ``cnf``.

    JSON text (``application/json:0``) is parsed, base64 (encoding 1 or 2) is
    decoded to bytes, anything else is returned as it is. Content that does not
    match its ``cnf`` is returned as it is rather than raising: it is someone
    else's data.
    """
    if not isinstance(con, str) or not cnf:
        return con
    media, _, rest = cnf.partition(":")
    encoding = rest.partition(":")[0]
    if encoding in ("1", "2"):
        try:
            return base64.b64decode(con, validate=True)
        except ValueError:
            return con
    media = media.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(con)
        except ValueError:
            return con
    return con


# ---------------------------------------------------------------------------
# Results handed to the app
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """What :meth:`AE.register` established."""

    aei: str  # the AE-ID: our originator from now on
    ri: str  # resource ID of the <AE>
    rn: str  # resource name: paths relative to the AE start at f"{cse_name}/{rn}"
    rvi: str  # release version every request carries
    srv: tuple[str, ...]
    poa: tuple[str, ...]
    app_id: str
    expires: str | None  # the <AE>'s et, as the CSE set it
    reused: bool  # True when an existing registration was taken over (restart, 4105, 4117)


@dataclass(frozen=True)
class Publication:
    """The outcome of :meth:`AE.publish`.

    ``delivered`` False means the reading waits in the offline queue and will be
    sent, with the same ``rqi`` and ``rn``, when the CSE is reachable again.
    """

    container: str  # the target (resolved)
    rn: str
    rqi: str
    delivered: bool

    @property
    def path(self) -> str:
        """The <contentInstance>'s structured id once delivered."""
        return f"{self.container}/{self.rn}"


@dataclass(frozen=True)
class ContentInstance:
    """A <contentInstance> as :meth:`AE.latest` returns it."""

    value: Any  # decode_value(con, cnf)
    con: Any
    cnf: str | None
    ri: str | None
    rn: str | None
    ct: str | None
    attributes: Mapping[str, Any]

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any]) -> ContentInstance:
        """Build from the attributes of an ``m2m:cin``."""
        cnf = attributes.get("cnf")
        cnf = cnf if isinstance(cnf, str) else None
        con = attributes.get("con")
        return cls(
            value=decode_value(con, cnf),
            con=con,
            cnf=cnf,
            ri=_str_or_none(attributes.get("ri")),
            rn=_str_or_none(attributes.get("rn")),
            ct=_str_or_none(attributes.get("ct")),
            attributes=dict(attributes),
        )


@dataclass(frozen=True)
class ReceivedNotification:
    """One notification delivered to a :meth:`AE.subscribe` callback.

    ``resource`` holds the attributes of the representation the CSE sent (for
    a new <contentInstance> also decoded into ``value``). ``deleted`` marks the
    CSE's notice that the subscription is gone (``sud``).
    """

    subscription: str | None  # sur: the <subscription> that fired
    event_type: int | None  # net (NotificationEventType)
    resource_type: ResourceType | None
    resource: Mapping[str, Any] | None
    value: Any
    deleted: bool
    notification: Notification
    request: RequestPrimitive

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (bytes as ``{"base64": ...}``), as ``m2mclient onem2m subscribe`` prints it."""
        return {
            "subscription": self.subscription,
            "event": int(self.event_type) if self.event_type is not None else None,
            "resourceType": int(self.resource_type) if self.resource_type is not None else None,
            "deleted": self.deleted,
            "value": _jsonable(self.value),
            "resource": _jsonable(self.resource),
        }


NotifyCallback = Callable[[ReceivedNotification], "Awaitable[None] | None"]


@dataclass
class Subscription:
    """A <subscription> created (or adopted) by :meth:`AE.subscribe`."""

    target: str
    path: str  # structured id: f"{target}/{rn}"
    ri: str
    callback: NotifyCallback = field(repr=False)


@dataclass(frozen=True)
class PendingRequest:
    """A non-blocking request accepted by the CSE (:meth:`AE.submit`); collect it with :meth:`AE.result`."""

    ref: str  # the <request> resource the CSE created
    rqi: str
    asynch: bool


@dataclass(frozen=True)
class FlushResult:
    """What one :meth:`AE.flush` achieved."""

    delivered: int
    rejected: int
    remaining: int


# ---------------------------------------------------------------------------
# The AE
# ---------------------------------------------------------------------------


class AE:
    """An Application Entity registered (or about to be) at one CSE.

    Args:
        cse: the CSE's point of access for the binding: ``http(s)://host:port``,
            ``ws(s)://host:port`` or ``coap://host:port``.
        binding: ``"http"``, ``"ws"``, ``"coap"`` (default: from the URL's scheme), or
            a ready :class:`~m2mclient.onem2m.bindings.Binding` (its format wins).
        serialization: ``"json"`` or ``"cbor"``. With CBOR the AE also asks for
            CBOR notifications (``csz``).
        app_id: the App-ID, ``N<anything>`` or ``Rorg.example.app``. Needed for a
            first registration; later runs take it from ``state_dir``.
        name: the AE's resource name; also from ``state_dir`` after the first run.
        originator: ``"C..."`` / ``"S..."`` for a chosen AE-ID, or ``"C"`` / ``"S"``
            to let the CSE assign one.
        cse_id, cse_name: the CSE-ID and <CSEBase> name (ACME: ``/id-in``, ``cse-in``).
        state_dir: where the registration and the offline queue persist (mode
            0700 directory, 0600 files). None keeps both in memory.
        release_versions: the releases we speak (``srv``); the newest common one is used.
        polling_channel: the device cannot accept connections (carrier NAT, PSM):
            register with ``rr=false`` and no ``poa``, and receive notifications by
            long-polling a <pollingChannel>.
        lifetime: seconds the registration should last (renewed before it passes);
            None keeps the CSE's default and renews that.
        request_timeout: seconds to wait for each response.
        on_notification: gets notifications of subscriptions not made through
            :meth:`subscribe` in this run (e.g. another AE subscribed us). Without
            it, verification requests for such subscriptions are refused (4101).
        binding_options: keyword options for the binding's constructor.
    """

    def __init__(
        self,
        cse: str,
        *,
        binding: str | Binding | None = None,
        serialization: Format | str = Format.JSON,
        app_id: str | None = None,
        name: str | None = None,
        originator: str = "C",
        cse_id: str = "/id-in",
        cse_name: str = "cse-in",
        state_dir: str | os.PathLike[str] | None = None,
        release_versions: Sequence[str] = SUPPORTED_RELEASES,
        polling_channel: bool = False,
        lifetime: float | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        on_notification: NotifyCallback | None = None,
        binding_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(originator, str) or not originator or originator[0] not in "CS/":
            raise OneM2MUsageError(
                f"originator {originator!r} must start with 'C' or 'S' (or be 'C' / 'S' for a CSE-assigned AE-ID)",
                rsc=RSC.SECURITY_ASSOCIATION_REQUIRED,
                hint="ACME answers 4107 for other originators",
            )
        if not cse_id.startswith("/"):
            raise OneM2MUsageError(f"cse_id {cse_id!r} must start with '/', e.g. '/id-in'")
        if isinstance(release_versions, str) or not release_versions:
            raise OneM2MUsageError("release_versions must be a non-empty list such as ['3', '4']")
        negotiate(release_versions, release_versions)  # rejects unknown versions early
        if lifetime is not None and lifetime <= 0:
            raise OneM2MUsageError(f"lifetime must be positive seconds, got {lifetime!r}")
        self.cse = cse
        self.cse_id = cse_id
        self.cse_name = cse_name.strip("/")
        self.app_id = app_id
        self.name = name
        self.originator = originator
        self.release_versions = tuple(release_versions)
        self.polling_channel = polling_channel
        self.lifetime = lifetime
        self.request_timeout = request_timeout
        self.poll_seconds = poll_seconds
        self.on_notification = on_notification
        self.binding, self._poll_binding_factory = _build_binding(
            cse, binding, Format(serialization), polling_channel, binding_options or {}
        )
        self.format = self.binding.format
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.queue = OfflineQueue(self.state_dir / QUEUE_FILE if self.state_dir else None)

        self._registration: Registration | None = None
        self._rvi: str | None = None
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._flush_lock = asyncio.Lock()
        self._subscriptions: dict[str, Subscription] = {}
        self._async_results: dict[str, asyncio.Future[ResponsePrimitive]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retry_task: asyncio.Task[None] | None = None
        self._refusals: dict[str, OneM2MError] = {}  # the last flush's permanent refusals, for publish()
        self._renew_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._poll_binding: Binding | None = None
        self._poll_in_flight = False  # a long poll is held at the CSE right now
        self._stopping = False
        # (CSE time, time.monotonic() when we learnt it): renewal computes the
        # CSE's "now" from the CSE's own timestamps, so a device clock that is
        # wrong (no RTC after a power loss) cannot make et land in the past.
        self._cse_clock: tuple[_dt.datetime, float] | None = None
        self._span: float | None = None  # lifetime the CSE granted, when lifetime is None
        self._load_state()

    # -- properties ---------------------------------------------------------

    @property
    def registration(self) -> Registration | None:
        """The current registration (also restored from ``state_dir``), or None."""
        return self._registration

    @property
    def aei(self) -> str:
        """Our AE-ID; :class:`OneM2MUsageError` before the first registration."""
        return self._require_registration().aei

    @property
    def path(self) -> str:
        """The <AE>'s structured id, ``f"{cse_name}/{rn}"``."""
        return f"{self.cse_name}/{self._require_registration().rn}"

    @property
    def rvi(self) -> str:
        """The release version requests carry (before negotiation: our newest)."""
        return self._rvi or _newest(self.release_versions)

    @property
    def subscriptions(self) -> list[Subscription]:
        """The subscriptions this AE delivers notifications for."""
        return list(self._subscriptions.values())

    def resolve(self, path: str) -> str:
        """The request target (``to``) for a resource argument; see the module docstring."""
        if not isinstance(path, str):
            raise OneM2MUsageError(f"a resource path is a string, got {type(path).__name__}")
        if path.startswith("/"):  # SP-relative "/id-in/...", absolute "//sp/id-in/..."
            return path.rstrip("/") or path
        if path.startswith("~/"):  # HTTP's SP-relative prefix (TS-0009 §6.2.3)
            return path[1:]
        if path.startswith("_/"):  # HTTP's absolute prefix
            return "/" + path[1:]
        if path == self.cse_name or path.startswith(self.cse_name + "/"):
            return path.rstrip("/")
        relative = path.strip("/")
        return self.path if relative in ("", ".") else f"{self.path}/{relative}"

    # -- lifecycle ----------------------------------------------------------

    async def __aenter__(self) -> AE:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the binding (connect the WebSocket, start the notification receiver)."""
        async with self._open_lock:
            if self._opened:
                return
            self.binding.serve(self._handle_request)
            known = self._registration.aei if self._registration else self.originator
            if known not in ("C", "S"):
                # A binding that ties its connection to an originator (ACME's
                # WebSocket) should open it as us, not anonymously.
                await self._after_aei_assigned(known)
            await self.binding.open()
            self._opened = True

    async def close(self) -> None:
        """Stop background work, save the queue, close the binding. The registration stays at the CSE."""
        if self._poll_task is not None and not self._poll_task.done():
            await self._drain_poll()
        for task in (self._retry_task, self._renew_task, self._poll_task, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._retry_task, self._renew_task, self._poll_task, *self._tasks):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._retry_task = self._renew_task = self._poll_task = None
        self._tasks.clear()
        for future in self._async_results.values():
            future.cancel()
        self._async_results.clear()
        self.queue.save()
        if self._poll_binding is not None:
            poll_binding, self._poll_binding = self._poll_binding, None
            with contextlib.suppress(Exception):
                await poll_binding.close()
        if self._opened:
            self._opened = False
            await self.binding.close()

    # -- registration -------------------------------------------------------

    async def register(self) -> Registration:
        """Register the AE, or take over our existing registration; see the module docstring.

        Afterwards the <pollingChannel> is polled (``polling_channel=True``),
        the expiration time is renewed in the background, and readings queued
        while offline (also by an earlier run) are sent.
        """
        await self.open()
        registration = None
        if self._registration is not None:
            registration = await self._reuse_stored(self._registration)
        if registration is None:
            registration = await self._register_fresh()
        self._registration = registration
        self._save_state()
        if self.polling_channel:
            await self._start_polling()
        self._schedule_renewal()
        if self.queue:
            await self.flush()
        return registration

    async def deregister(self) -> None:
        """Delete the <AE> (and with it everything under it) and forget the stored registration.

        Queued readings are tried once more first; what still cannot be sent
        stays in the queue file (it is never silently dropped).
        """
        registration = self._require_registration()
        if self.queue:
            with contextlib.suppress(Exception):
                await self.flush()
        for task in (self._renew_task, self._poll_task):
            if task is not None:
                task.cancel()
        self._renew_task = self._poll_task = None
        await self.open()
        request, response = await self._exchange(Operation.DELETE, self.path)
        if response.rsc != RSC.NOT_FOUND:  # already gone (expired, deleted by an admin): the goal is met
            response.raise_for_status(request)
        if self.queue:
            log.warning(
                "deregistered %s with %d reading(s) still queued in %s",
                registration.aei,
                len(self.queue),
                self.queue.path,
            )
        self._registration = None
        self._subscriptions.clear()
        self._clear_state()

    async def _reuse_stored(self, stored: Registration) -> Registration | None:
        """Our stored <AE> if the CSE still has it (with ``poa`` etc. brought up to date), else None."""
        self._rvi = stored.rvi
        request, response = await self._exchange(Operation.RETRIEVE, self.path, fr=stored.aei)
        if response.rsc in (RSC.NOT_FOUND, RSC.ORIGINATOR_HAS_NOT_REGISTERED):
            log.info("stored registration %s is gone at the CSE; registering again", stored.aei)
            return None
        response.raise_for_status(request)
        attributes = _attributes(response, ResourceType.AE, request)
        if attributes.get("aei") != stored.aei:
            log.warning("%s now belongs to AE-ID %s, not ours (%s)", self.path, attributes.get("aei"), stored.aei)
            return None
        attributes = await self._reconcile(attributes, fr=stored.aei)
        return self._registration_from(attributes, rvi=stored.rvi, reused=True)

    async def _register_fresh(self) -> Registration:
        app_id = self.app_id or (self._registration.app_id if self._registration else None)
        name = self.name or (self._registration.rn if self._registration else None)
        if not app_id or not name:
            raise OneM2MUsageError(
                "a first registration needs app_id and name",
                hint="pass app_id='N<app>' and name='<resource name>' (later runs read them from state_dir)",
            )
        originator = self._registration.aei if self._registration else self.originator
        content = resources.ae(
            app_id,
            name,
            rr=self._reachable,
            srv=self.release_versions,
            poa=self._poa,
            csz=[f"application/{self.format.value}"],
        )
        # Ask the <CSEBase> for its releases first. ACME only shows it to registered
        # originators (4103), so fall back to trying ours newest first: a CSE that
        # does not know a release answers 4001 and the next one is tried.
        candidates: list[str]
        negotiated = False
        try:
            candidates = [await self._negotiate(originator)]
            negotiated = True
        except OneM2MError as exc:
            if isinstance(exc, OneM2MUsageError) or exc.response is None:
                raise
            candidates = sorted(self.release_versions, key=_release_rank, reverse=True)
        response = request = None
        for rvi in candidates:
            self._rvi = rvi
            request, response = await self._exchange(
                Operation.CREATE, self.cse_name, ty=ResourceType.AE, pc=content, fr=originator
            )
            if response.rsc != RSC.RELEASE_VERSION_NOT_SUPPORTED:
                break
        assert request is not None and response is not None
        reused = False
        if response.rsc == RSC.CREATED:
            attributes = _attributes(response, ResourceType.AE, request)
        elif response.rsc in (RSC.CONFLICT, RSC.ORIGINATOR_HAS_ALREADY_REGISTERED):
            attributes = await self._adopt(originator, name, request, response)
            reused = True
        else:
            response.raise_for_status(request)
            raise OneM2MProtocolError(f"AE registration answered {int(response.rsc)} instead of 2001")
        if not reused:
            self._note_grant(attributes)
        aei = str(attributes.get("aei") or "")
        if not aei:
            raise OneM2MProtocolError("the CSE's <AE> has no AE-ID (aei)", where="pc.m2m:ae.aei")
        await self._after_aei_assigned(aei)
        if not negotiated:
            with contextlib.suppress(OneM2MError):
                self._rvi = await self._negotiate(aei)
        if reused:
            attributes = await self._reconcile(attributes, fr=aei)
        elif self.lifetime is not None:
            attributes = await self._set_expiration(attributes, fr=aei)
        return self._registration_from(attributes, rvi=self.rvi, reused=reused, app_id=app_id)

    async def _negotiate(self, originator: str) -> str:
        request, response = await self._exchange(Operation.RETRIEVE, self.cse_name, fr=originator)
        response.raise_for_status(request)
        cse_base = _attributes(response, ResourceType.CSE_BASE, request)
        srv = cse_base.get("srv")
        if not isinstance(srv, list):
            raise OneM2MProtocolError("the <CSEBase> has no srv (supportedReleaseVersions)", where="pc.m2m:cb.srv")
        return negotiate(srv, self.release_versions)

    async def _adopt(
        self, originator: str, name: str, request: RequestPrimitive, response: ResponsePrimitive
    ) -> dict[str, Any]:
        """The existing <AE> behind a 4105 (name taken) or 4117 (originator registered), if it is ours."""
        if originator in ("C", "S"):  # a CSE-assigned AE-ID: nothing says the existing AE is ours
            response.raise_for_status(request)
        if response.rsc == RSC.CONFLICT:
            target = f"{self.cse_name}/{name}"
        else:  # the AE-ID is its resource ID (TS-0001 §9.6.5.1); the name may be another one
            target = f"{self.cse_id}/{originator.lstrip('/')}"
        probe, found = await self._exchange(Operation.RETRIEVE, target, fr=originator)
        if not found.ok:
            response.raise_for_status(request)
        attributes = _attributes(found, ResourceType.AE, probe)
        if attributes.get("aei") != originator:
            raise OneM2MError(
                f"an AE named {name!r} already exists with AE-ID {attributes.get('aei')}",
                rsc=response.rsc,
                request=request,
                response=response,
                hint="choose another name, or pass that AE's AE-ID as originator if it is this device",
            )
        if attributes.get("rn") != name:
            log.warning("originator %s is registered as %r, not %r; reusing it", originator, attributes.get("rn"), name)
        log.info("taking over the existing registration %s (%s)", originator, attributes.get("rn"))
        return attributes

    async def _reconcile(self, attributes: dict[str, Any], *, fr: str) -> dict[str, Any]:
        """UPDATE what differs between the <AE> found and what this run needs (poa, rr, srv)."""
        wanted: dict[str, Any] = {"rr": self._reachable, "srv": list(self.release_versions), "poa": self._poa}
        changes = {
            key: value for key, value in wanted.items() if attributes.get(key, [] if key == "poa" else None) != value
        }
        if self.lifetime is not None:
            return await self._set_expiration(attributes, fr=fr, extra=changes)
        if not changes:
            return attributes
        request, response = await self._exchange(
            Operation.UPDATE, self.path_of(attributes), pc={"m2m:ae": changes}, fr=fr
        )
        response.raise_for_status(request)
        updated = _attributes(response, ResourceType.AE, request) if response.pc else {**attributes, **changes}
        self._note_grant(updated)
        return {**attributes, **updated}

    def path_of(self, attributes: Mapping[str, Any]) -> str:
        """The structured id of an <AE> of this CSE from its attributes."""
        return f"{self.cse_name}/{attributes.get('rn') or self.name}"

    async def _after_aei_assigned(self, aei: str) -> None:
        """Let a binding that binds its connection to an originator (ACME's WebSocket) switch to ``aei``."""
        rebind = getattr(self.binding, "set_originator", None)
        if callable(rebind):
            result = rebind(aei)
            if inspect.isawaitable(result):
                await result

    # -- expiration renewal -------------------------------------------------

    def _note_grant(self, attributes: Mapping[str, Any]) -> None:
        """Learn from a CREATE/UPDATE answer for our <AE> what lifetime the CSE grants.

        Its ``lt`` is the CSE's "now" at that moment, a clock source when
        responses carry no ``ot``; ``et - lt`` is the span the CSE granted, which
        renewals ask for again when no ``lifetime`` was given.
        """
        stamp, expires = attributes.get("lt"), attributes.get("et")
        if not isinstance(stamp, str):
            return
        with contextlib.suppress(OneM2MProtocolError):
            modified = parse_timestamp(stamp)
            if self._cse_clock is None:
                self._cse_clock = (modified, time.monotonic())
            if self.lifetime is None and self._span is None and isinstance(expires, str):
                self._span = (parse_timestamp(expires) - modified).total_seconds()

    def _note_cse_time(self, response: ResponsePrimitive) -> None:
        if isinstance(response.ot, str):
            with contextlib.suppress(OneM2MProtocolError):
                self._cse_clock = (parse_timestamp(response.ot), time.monotonic())

    def _cse_now(self) -> _dt.datetime:
        if self._cse_clock is None:
            return _dt.datetime.now(_dt.timezone.utc)
        moment, at = self._cse_clock
        return moment + _dt.timedelta(seconds=time.monotonic() - at)

    async def _set_expiration(
        self, attributes: Mapping[str, Any], *, fr: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        span = self.lifetime if self.lifetime is not None else self._span
        body = dict(extra or {})
        if span is not None:
            body["et"] = format_timestamp(self._cse_now() + _dt.timedelta(seconds=span))
        if not body:
            return dict(attributes)
        request, response = await self._exchange(Operation.UPDATE, self.path_of(attributes), pc={"m2m:ae": body}, fr=fr)
        response.raise_for_status(request)
        updated = _attributes(response, ResourceType.AE, request) if response.pc else body
        merged = {**attributes, **updated}
        self._note_grant(merged)
        return merged

    def _schedule_renewal(self) -> None:
        if self._renew_task is not None:
            self._renew_task.cancel()
        registration = self._registration
        if registration is None or registration.expires is None:
            return
        self._renew_task = asyncio.get_running_loop().create_task(self._renew_loop(), name="onem2m-ae-renewal")

    async def _renew_loop(self) -> None:
        delay = RETRY_FIRST_DELAY
        while self._registration is not None and self._registration.expires is not None:
            try:
                remaining = (parse_timestamp(self._registration.expires) - self._cse_now()).total_seconds()
            except OneM2MProtocolError:
                return
            wait = remaining * RENEW_AT_FRACTION if remaining > 0 else 0.0
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_RENEW_SLEEP))
                if wait > MAX_RENEW_SLEEP:
                    continue
            try:
                await self.renew()
                delay = RETRY_FIRST_DELAY
            except OneM2MError as exc:
                if exc.rsc in (RSC.NOT_FOUND, RSC.ORIGINATOR_HAS_NOT_REGISTERED):
                    log.warning("registration %s expired at the CSE; registering again", self._registration.aei)
                    with contextlib.suppress(Exception):
                        await self.register()
                    return
                if not _is_transient(exc):
                    log.error("renewing the registration failed: %s", exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                log.info("renewing the registration failed (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)

    async def renew(self) -> Registration:
        """Push the registration's expiration time forward now (the background task does this by itself)."""
        registration = self._require_registration()
        if self._span is None and self.lifetime is None and registration.expires:
            # Restored from state: the CSE's grant is unknown; keep the distance to et we see now.
            self._span = max((parse_timestamp(registration.expires) - self._cse_now()).total_seconds(), 60.0)
        attributes = await self._set_expiration({"rn": registration.rn}, fr=registration.aei)
        updated = dict(self._registration_fields(registration))
        if isinstance(attributes.get("et"), str):
            updated["expires"] = attributes["et"]
        self._registration = Registration(**updated)
        self._save_state()
        return self._registration

    # -- resources ----------------------------------------------------------

    async def create_container(
        self, name: str, *, parent: str = "", exist_ok: bool = True, **options: Any
    ) -> dict[str, Any]:
        """Create a <container> ``name`` under ``parent`` (default: the AE); returns its attributes.

        ``options`` go to :func:`~m2mclient.onem2m.resources.container` (``mni``,
        ``mbs``, ``mia``, ``lbl``, ...). With ``exist_ok`` (the default, so that
        device start-up code can run on every boot) an existing container of that
        name is retrieved instead of failing with 4105.
        """
        target = self.resolve(parent)
        request, response = await self._exchange(
            Operation.CREATE, target, ty=ResourceType.CONTAINER, pc=resources.container(name, **options)
        )
        if response.rsc == RSC.CONFLICT and exist_ok:
            return await self._retrieve_attributes(f"{target}/{name}")
        response.raise_for_status(request)
        return _attributes(response, None, request)

    async def retrieve(
        self, path: str = "", *, attributes: Sequence[str] | None = None, **params: Any
    ) -> dict[str, Any]:
        """RETRIEVE a resource; returns the whole Content (``{"m2m:cnt": {...}}``, ``{"m2m:uril": [...]}``, ...).

        ``attributes`` asks for only those attributes (partial retrieve: an
        ``m2m:atrl`` the bindings map to ``atrl=`` in the query), which saves bytes on
        a narrow link. ``params`` are request parameters by short name (``rcn=4``,
        ``fc=FilterCriteria(...)``).
        """
        if attributes:
            params["pc"] = {"m2m:atrl": list(attributes)}
        request, response = await self._exchange(Operation.RETRIEVE, self.resolve(path), **params)
        response.raise_for_status(request)
        return dict(response.pc or {})

    async def update(self, path: str, content: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        """UPDATE a resource with ``content`` such as ``{"m2m:cnt": {"lbl": ["room1"]}}``; returns its attributes."""
        request, response = await self._exchange(Operation.UPDATE, self.resolve(path), pc=content, **params)
        response.raise_for_status(request)
        return _attributes(response, None, request) if response.pc else {}

    async def delete(self, path: str, **params: Any) -> None:
        """DELETE a resource (and its children)."""
        request, response = await self._exchange(Operation.DELETE, self.resolve(path), **params)
        response.raise_for_status(request)

    async def latest(self, container: str) -> ContentInstance:
        """The newest <contentInstance> of ``container`` (its virtual ``la`` child)."""
        return ContentInstance.from_attributes(await self._retrieve_attributes(f"{self.resolve(container)}/la"))

    async def discover(self, under: str = "", **criteria: Any) -> list[str]:
        """Resource ids below ``under`` (default: the AE) matching the filter criteria.

        ``criteria`` are :class:`~m2mclient.onem2m.primitives.FilterCriteria`
        fields by short name; a single value is fine where a list is expected:
        ``discover(ty=ResourceType.CONTENT_INSTANCE, lbl="room1", lim=10)``.
        ``drt`` picks structured (1, default) or unstructured (2) ids.
        """
        drt = criteria.pop("drt", None)
        fc = _filter_criteria(criteria)
        request, response = await self._exchange(Operation.RETRIEVE, self.resolve(under), fc=fc, drt=drt)
        response.raise_for_status(request)
        return parse_uri_list(response.pc or {"m2m:uril": []})

    async def request(
        self,
        op: Operation,
        path: str,
        *,
        content: Mapping[str, Any] | None = None,
        ty: int | None = None,
        **params: Any,
    ) -> ResponsePrimitive:
        """Send any request and return the response primitive as it is (no raise on an error RSC)."""
        _, response = await self._exchange(op, self.resolve(path), pc=content, ty=ty, **params)
        return response

    # -- publishing and the offline queue -----------------------------------

    async def publish(
        self, container: str, value: Any, *, cnf: str | None = None, lbl: Sequence[str] = ()
    ) -> Publication:
        """Add a reading to ``container`` as a <contentInstance>; lossless and idempotent.

        ``value`` is encoded by :func:`encode_value` (text, bytes, numbers,
        JSON-like data); pass ``cnf`` to send ``value`` as ``con`` unchanged.
        When the CSE cannot be reached the reading is queued (and persisted in
        ``state_dir``) and sent later with the same request id and resource
        name; the result then says ``delivered=False``. An error the CSE answers
        for good (no such container, no privilege) is raised, not queued.
        """
        if cnf is None:
            con, cnf = encode_value(value)
        else:
            con = value
        token = os.urandom(PUBLISH_ID_BYTES).hex()
        rn = "cin-" + token
        item = QueuedPublish(
            id=token,
            to=self.resolve(container),
            rqi="p-" + token,
            content=content_instance(con, cnf=cnf, rn=rn, lbl=lbl),
            queued_at=time.time(),
        )
        async with self._flush_lock:
            if not self.queue:  # checked under the lock, so concurrent publishes keep their order
                try:
                    delivered = await self._deliver(item)
                except Exception as exc:
                    if not _is_transient(exc):
                        raise
                    log.info("publish to %s not delivered (%s); queued", item.to, exc)
                    delivered = False
                if not delivered:
                    self.queue.add(item)
                    self._start_retrying()
                return Publication(item.to, rn, item.rqi, delivered=delivered)
            # Older readings wait: this one goes behind them, in the order they were measured.
            self.queue.add(item)
        await self.flush()
        refusal = self._refusals.pop(item.id, None)
        if refusal is not None:
            raise refusal
        return Publication(item.to, rn, item.rqi, delivered=item.id not in self.queue)

    async def _deliver(self, item: QueuedPublish) -> bool:
        """Send one reading: True if the CSE has it, False to retry later; raises a permanent refusal."""
        request, response = await self._exchange(
            Operation.CREATE,
            item.to,
            ty=ResourceType.CONTENT_INSTANCE,
            pc=item.content,
            rqi=item.rqi,
            rcn=0,  # nothing back: saves downlink bytes, and ACME's CoAP breaks on >1 KB answers
        )
        if response.ok or response.rsc == RSC.CONFLICT:  # 4105: an earlier attempt got through
            return True
        if response.rsc in TRANSIENT_RSCS:
            return False
        response.raise_for_status(request)
        return False  # pragma: no cover - raise_for_status raised

    async def flush(self) -> FlushResult:
        """Send queued readings in order until one cannot be delivered; returns what happened."""
        delivered = rejected = 0
        async with self._flush_lock:
            self._refusals.clear()
            try:
                for item in self.queue:
                    self.queue.attempted(item.id)
                    try:
                        ok = await self._deliver(item)
                    except OneM2MError as exc:
                        if _is_transient(exc):
                            break
                        self.queue.reject(item.id, str(exc))
                        self._refusals[item.id] = exc
                        rejected += 1
                        continue
                    except Exception as exc:
                        if not _is_transient(exc):
                            raise
                        log.info("offline queue: %s still unreachable (%s)", item.to, exc)
                        break
                    if not ok:
                        break
                    self.queue.remove(item.id)
                    delivered += 1
            finally:
                self.queue.save()
        if delivered:
            log.info("offline queue: delivered %d reading(s), %d waiting", delivered, len(self.queue))
        if self.queue:
            self._start_retrying()
        return FlushResult(delivered=delivered, rejected=rejected, remaining=len(self.queue))

    def _start_retrying(self) -> None:
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = asyncio.get_running_loop().create_task(self._retry_loop(), name="onem2m-ae-queue")

    async def _retry_loop(self) -> None:
        # flush() re-arms this task only when none is running, so one loop retries at a time.
        delay = RETRY_FIRST_DELAY
        while self.queue:
            await asyncio.sleep(delay)
            try:
                result = await self.flush()
            except Exception as exc:  # a bug must not kill the retrier silently
                log.exception("offline queue retry failed: %s", exc)
                result = None
            delay = RETRY_FIRST_DELAY if result and result.delivered else min(delay * 2, RETRY_MAX_DELAY)

    # -- subscriptions and notifications ------------------------------------

    async def subscribe(
        self,
        target: str,
        on_notify: NotifyCallback,
        *,
        name: str | None = None,
        nu: Sequence[str] | None = None,
        nct: int | None = NotificationContentType.ALL_ATTRIBUTES,
        exc: int | None = None,
        su: str | None = None,
        **criteria: Any,
    ) -> Subscription:
        """Subscribe to ``target``; ``on_notify`` gets a :class:`ReceivedNotification` per event.

        ``criteria`` are :class:`~m2mclient.onem2m.resources.EventNotificationCriteria`
        fields (``net=[1, 3]``, ``chty=[4]``, ...); without them: a new child
        (e.g. a <contentInstance>) was created. ``nu`` defaults to our AE-ID
        (see the module docstring); pass URLs to have the CSE verify them.
        ``name`` defaults to ``sub-<our rn>`` so a restarted device re-subscribing
        adopts its earlier <subscription> instead of piling up new ones.

        The callback runs on the event loop; if it is a coroutine function it
        runs as a task, so a slow callback never delays the CSE's answer.
        """
        registration = self._require_registration()
        enc = EventNotificationCriteria(**criteria) if criteria else NEW_CHILD_CREATED
        rn = name or f"sub-{registration.rn}"
        recipients = list(nu) if nu is not None else [registration.aei]
        body = resources.subscription(rn, recipients, enc=enc, nct=nct, exc=exc, su=su)
        to = self.resolve(target)
        request, response = await self._exchange(Operation.CREATE, to, ty=ResourceType.SUBSCRIPTION, pc=body)
        if response.rsc == RSC.CONFLICT:
            attributes = await self._adopt_subscription(f"{to}/{rn}", body["m2m:sub"], recipients, request, response)
        else:
            response.raise_for_status(request)
            attributes = _attributes(response, ResourceType.SUBSCRIPTION, request)
        ri = str(attributes.get("ri") or rn)
        subscription = Subscription(target=to, path=f"{to}/{rn}", ri=ri, callback=on_notify)
        self._subscriptions[ri] = subscription
        return subscription

    async def _adopt_subscription(
        self,
        path: str,
        wanted: Mapping[str, Any],
        recipients: list[str],
        request: RequestPrimitive,
        response: ResponsePrimitive,
    ) -> dict[str, Any]:
        existing = await self._retrieve_attributes(path)
        if not set(recipients) & set(existing.get("nu") or []):
            response.raise_for_status(request)  # someone else's subscription of that name: 4105 stands
        changes = {
            key: wanted[key] for key in ("nu", "enc", "nct") if key in wanted and existing.get(key) != wanted[key]
        }
        if changes:
            return {**existing, **await self.update(path, {"m2m:sub": changes})}
        return existing

    async def unsubscribe(self, subscription: Subscription | str) -> None:
        """Delete a subscription (a :class:`Subscription`, or its path) and stop delivering its notifications."""
        if isinstance(subscription, Subscription):
            path, ri = subscription.path, subscription.ri
        else:
            path = self.resolve(subscription)
            ri = next((s.ri for s in self._subscriptions.values() if s.path == path), "")
        self._subscriptions.pop(ri, None)
        request, response = await self._exchange(Operation.DELETE, path)
        if response.rsc != RSC.NOT_FOUND:
            response.raise_for_status(request)

    async def _handle_request(self, request: RequestPrimitive) -> ResponsePrimitive:
        """Answer a request the CSE sent us (through the binding or the polling channel)."""
        if request.op != Operation.NOTIFY:
            return self._answer(request, RSC.OPERATION_NOT_ALLOWED, "an AE hosts no resources; only NOTIFY is accepted")
        if not request.pc:
            return self._answer(request, RSC.BAD_REQUEST, "NOTIFY without content")
        outcome = request.pc.get("m2m:rsp")
        if isinstance(outcome, Mapping):  # the result of a non-blocking asynchronous request (rt=2)
            return self._deliver_async_result(request, outcome)
        try:
            notifications = parse_notifications(request.pc)
        except OneM2MProtocolError as exc:
            log.warning("malformed notification from %s: %s", request.fr, exc)
            return self._answer(request, exc.rsc, str(exc))
        for notification in notifications:
            if notification.sur and notification.sur.endswith("/" + WAKE_MARKER):
                continue  # our own wake-up for a held poll (see _drain_poll), perhaps from an earlier run
            if notification.vrq:
                if not self._accept_verification(notification):
                    return self._answer(
                        request,
                        RSC.SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE,
                        f"AE {self._registration.aei if self._registration else '?'} does not accept "
                        f"notifications for {notification.cr}'s subscription",
                    )
                continue
            self._dispatch(notification, request)
        return self._answer(request, RSC.OK)

    def _accept_verification(self, notification: Notification) -> bool:
        ours = self._registration.aei if self._registration else None
        return notification.cr in (None, ours) or self.on_notification is not None

    def _answer(self, request: RequestPrimitive, rsc: int, debug: str | None = None) -> ResponsePrimitive:
        return ResponsePrimitive(
            rsc=rsc,
            rqi=request.rqi,
            rvi=self.rvi,
            to=request.fr,
            fr=self._registration.aei if self._registration else None,
            pc={"m2m:dbg": debug} if debug else None,
        )

    def _find_subscription(self, sur: str | None) -> Subscription | None:
        if not sur:
            return None
        last = sur.rstrip("/").rsplit("/", 1)[-1]
        for sub in self._subscriptions.values():
            if sur in (sub.ri, sub.path) or last == sub.ri or sur.endswith("/" + sub.path):
                return sub
        return None

    def _dispatch(self, notification: Notification, request: RequestPrimitive) -> None:
        subscription = self._find_subscription(notification.sur)
        callback = subscription.callback if subscription else self.on_notification
        if notification.sud and subscription is not None:
            self._subscriptions.pop(subscription.ri, None)
        if callback is None:
            log.info("notification for unknown subscription %s dropped (no on_notification)", notification.sur)
            return
        event = _received(notification, request)
        try:
            result = callback(event)
        except Exception:
            log.exception("notification callback for %s failed", notification.sur)
            return
        if inspect.isawaitable(result):
            self._spawn(_awaited(result), f"onem2m-notify-{notification.sur}")

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("notification callback failed", exc_info=task.exception())

    # -- polling channel ----------------------------------------------------

    async def _start_polling(self) -> None:
        registration = self._require_registration()
        pch = await self._ensure_polling_channel()
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.get_running_loop().create_task(
                self._poll_loop(f"{pch}/pcu"), name=f"onem2m-pcu-{registration.aei}"
            )

    async def _ensure_polling_channel(self) -> str:
        """Our <pollingChannel>'s id: the one an earlier run made, or a new ``pch``.

        Looked up first because an AE may have only one and ACME answers a second
        CREATE with 4000 "only one PCH per AE is allowed", not 4105.
        """
        existing = await self.discover(ty=ResourceType.POLLING_CHANNEL, lvl=1)
        if existing:
            return self.resolve(existing[0])
        request, response = await self._exchange(
            Operation.CREATE, self.path, ty=ResourceType.POLLING_CHANNEL, pc=resources.polling_channel("pch")
        )
        if response.rsc != RSC.CONFLICT:
            response.raise_for_status(request)
        return f"{self.path}/pch"

    async def _drain_poll(self) -> None:
        """Let a held long poll come back, and handle what it brings, before the AE goes away.

        The CSE may hand the next notification to any poll it holds for us; one
        whose client has gone loses it (ACME 2026.5.3 does not requeue it). So the
        AE sends itself a NOTIFY, which the CSE queues in our <pollingChannel>:
        that wakes the held poll at once, the loop answers the wake-up, handles
        anything else that came with it, and stops.
        """
        self._stopping = True
        task = self._poll_task
        if task is None or not self._poll_in_flight:
            return
        wake = asyncio.get_running_loop().create_task(
            self._exchange(Operation.NOTIFY, self.path, pc={"m2m:sgn": {"sur": f"{self.cse_id}/{WAKE_MARKER}"}})
        )
        try:
            await asyncio.wait_for(asyncio.shield(task), POLL_DRAIN_SECONDS)
        except (asyncio.TimeoutError, Exception):  # the CSE cannot wake it: give up, as before
            log.info("the held poll did not come back within %.0f s; closing anyway", POLL_DRAIN_SECONDS)
        finally:
            wake.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await wake

    async def _polling_binding(self) -> Binding:
        if self._poll_binding_factory is None:
            return self.binding
        if self._poll_binding is None:
            binding = self._poll_binding_factory()
            binding.serve(self._handle_request)
            await binding.open()
            self._poll_binding = binding
        return self._poll_binding

    async def _poll_loop(self, pcu: str) -> None:
        """Long-poll the <pollingChannel>, answer each request it hands out with a NOTIFY of the response."""
        delay = RETRY_FIRST_DELAY
        hold_ms = int(self.poll_seconds * 1000)
        while not self._stopping:
            started = time.monotonic()
            try:
                via = await self._polling_binding()
                self._poll_in_flight = True
                try:
                    request, response = await self._exchange(
                        Operation.RETRIEVE, pcu, rqet=hold_ms, timeout=self.poll_seconds + self.request_timeout, via=via
                    )
                finally:
                    self._poll_in_flight = False
            except Exception as exc:
                if not _is_transient(exc):
                    log.exception("polling channel %s failed", pcu)
                log.info("polling channel %s unreachable (%s); again in %.0f s", pcu, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
                continue
            if response.rsc == RSC.REQUEST_TIMEOUT:  # nothing arrived while the CSE held the poll
                if time.monotonic() - started < min(1.0, self.poll_seconds / 2):
                    # Not held at all (a CSE that ignores or rejects rqet): back off, don't spin.
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_DELAY)
                else:
                    delay = RETRY_FIRST_DELAY
                continue
            if not response.ok:
                log.warning(
                    "polling channel %s: %s", pcu, OneM2MError(rsc=response.rsc, request=request, debug=response.debug)
                )
                if response.rsc == RSC.NOT_FOUND:  # deleted (or expired): make it again
                    with contextlib.suppress(Exception):
                        pcu = f"{await self._ensure_polling_channel()}/pcu"
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
                continue
            delay = RETRY_FIRST_DELAY
            for polled in _polled_requests(response.pc):
                answer = await self._handle_request(polled)
                with contextlib.suppress(Exception):  # the CSE only logs a lost answer to a NOTIFY
                    await self._exchange(Operation.NOTIFY, pcu, pc={"m2m:rsp": response_to_dict(answer)}, via=via)

    # -- non-blocking requests ----------------------------------------------

    async def submit(
        self,
        op: Operation,
        path: str,
        *,
        content: Mapping[str, Any] | None = None,
        ty: int | None = None,
        asynch: bool = False,
        **params: Any,
    ) -> PendingRequest:
        """Send a non-blocking request (``rt`` 1 synch, or 2 asynch with the result notified to us).

        The CSE answers at once with 1001/1002 and a <request> resource; pass the
        returned :class:`PendingRequest` to :meth:`result`.
        """
        registration = self._require_registration()
        rt = (
            ResponseTypeInfo(ResponseType.NON_BLOCKING_REQUEST_ASYNCH, (registration.aei,))
            if asynch
            else ResponseTypeInfo(ResponseType.NON_BLOCKING_REQUEST_SYNCH)
        )
        rqi = make_rqi("nb-")
        if asynch:
            self._async_results[rqi] = asyncio.get_running_loop().create_future()
        request, response = await self._exchange(op, self.resolve(path), pc=content, ty=ty, rt=rt, rqi=rqi, **params)
        if not response.ok:
            self._async_results.pop(rqi, None)
        response.raise_for_status(request)
        ref = response.pc.get("m2m:uri") if response.pc else None
        if not isinstance(ref, str):
            raise OneM2MProtocolError("a non-blocking request's answer has no m2m:uri of the <request>", where="pc")
        return PendingRequest(ref=ref, rqi=rqi, asynch=asynch)

    async def result(self, pending: PendingRequest | str, *, timeout: float = 30.0) -> ResponsePrimitive:
        """The response of a non-blocking request, once the CSE has it.

        For an asynch request the notified result is used when it arrives first;
        otherwise the <request> resource is polled (0.1 s doubling to 2 s).
        Raises 4008 REQUEST_TIMEOUT :class:`OneM2MError` after ``timeout`` s.
        """
        ref = pending.ref if isinstance(pending, PendingRequest) else pending
        future = self._async_results.get(pending.rqi) if isinstance(pending, PendingRequest) else None
        target = ref if ref.startswith("/") else f"{self.cse_id}/{ref}"  # a <request> id is CSE-relative
        deadline = time.monotonic() + timeout
        interval = 0.1
        try:
            while True:
                if future is not None and future.done():
                    return future.result()
                request, response = await self._exchange(Operation.RETRIEVE, target)
                response.raise_for_status(request)
                attributes = _attributes(response, ResourceType.REQUEST, request)
                if attributes.get("rs") not in _REQUEST_PENDING and isinstance(attributes.get("ors"), Mapping):
                    return response_from_dict(attributes["ors"], where="pc.m2m:req.ors")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OneM2MError(
                        f"<request> {ref} still pending after {timeout:.0f} s",
                        rsc=RSC.REQUEST_TIMEOUT,
                        hint="the CSE is still working on it; call result() again later",
                    )
                if future is not None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(future), min(interval, left))
                else:
                    await asyncio.sleep(min(interval, left))
                interval = min(interval * 2, 2.0)
        finally:
            if isinstance(pending, PendingRequest):
                self._async_results.pop(pending.rqi, None)

    def _deliver_async_result(self, request: RequestPrimitive, outcome: Mapping[str, Any]) -> ResponsePrimitive:
        try:
            response = response_from_dict(dict(outcome), where="pc.m2m:rsp")
        except OneM2MProtocolError as exc:
            return self._answer(request, exc.rsc, str(exc))
        future = self._async_results.get(response.rqi or "")
        if future is not None and not future.done():
            future.set_result(response)
        return self._answer(request, RSC.OK)

    # -- plumbing -------------------------------------------------------------

    @property
    def _poa(self) -> list[str]:
        return [] if self.polling_channel else list(self.binding.point_of_access)

    @property
    def _reachable(self) -> bool:
        return not self.polling_channel and bool(self.binding.point_of_access)

    def _require_registration(self) -> Registration:
        if self._registration is None:
            raise OneM2MUsageError(
                "this AE is not registered",
                hint="call register() first (a state_dir lets later runs start from the stored registration)",
            )
        return self._registration

    async def _exchange(
        self,
        op: Operation,
        to: str,
        *,
        fr: str | None = None,
        rqi: str | None = None,
        timeout: float | None = None,
        via: Binding | None = None,
        **params: Any,
    ) -> tuple[RequestPrimitive, ResponsePrimitive]:
        if not self._opened:
            await self.open()
        originator = fr or (self._registration.aei if self._registration else self.originator)
        request = RequestPrimitive(op=op, to=to, rqi=rqi or make_rqi(), fr=originator, rvi=self.rvi, **params)
        response = await (via or self.binding).send(request, timeout=timeout or self.request_timeout)
        self._note_cse_time(response)
        return request, response

    async def _retrieve_attributes(self, path: str) -> dict[str, Any]:
        request, response = await self._exchange(Operation.RETRIEVE, path)
        response.raise_for_status(request)
        return _attributes(response, None, request)

    def _registration_from(
        self, attributes: Mapping[str, Any], *, rvi: str, reused: bool, app_id: str | None = None
    ) -> Registration:
        srv = attributes.get("srv")
        poa = attributes.get("poa")
        return Registration(
            aei=str(attributes["aei"]),
            ri=str(attributes.get("ri") or attributes["aei"]),
            rn=str(attributes.get("rn") or self.name),
            rvi=rvi,
            srv=tuple(srv) if isinstance(srv, list) else self.release_versions,
            poa=tuple(poa) if isinstance(poa, list) else (),
            app_id=str(attributes.get("api") or app_id or self.app_id or ""),
            expires=_str_or_none(attributes.get("et")),
            reused=reused,
        )

    @staticmethod
    def _registration_fields(registration: Registration) -> dict[str, Any]:
        return {f.name: getattr(registration, f.name) for f in fields(registration)}

    # -- state ------------------------------------------------------------------

    def _load_state(self) -> None:
        if self.state_dir is None:
            return
        stored = read_json_file(self.state_dir / STATE_FILE)
        if not isinstance(stored, Mapping) or stored.get("version") != STATE_FILE_VERSION:
            return
        if stored.get("cse_id") != self.cse_id or stored.get("cse_name") != self.cse_name:
            log.warning(
                "%s holds a registration at %s, not at %s: ignoring it",
                self.state_dir / STATE_FILE,
                stored.get("cse_id"),
                self.cse_id,
            )
            return
        if self.name and stored.get("rn") != self.name:
            log.warning("%s holds AE %r, not %r: ignoring it", self.state_dir / STATE_FILE, stored.get("rn"), self.name)
            return
        try:
            self._registration = Registration(
                aei=str(stored["aei"]),
                ri=str(stored["ri"]),
                rn=str(stored["rn"]),
                rvi=str(stored["rvi"]),
                srv=tuple(stored.get("srv") or ()),
                poa=tuple(stored.get("poa") or ()),
                app_id=str(stored.get("app_id") or ""),
                expires=_str_or_none(stored.get("expires")),
                reused=True,
            )
        except (KeyError, TypeError) as exc:
            log.error("%s is incomplete (%s); ignoring it", self.state_dir / STATE_FILE, exc)
            return
        self._rvi = self._registration.rvi
        self.name = self.name or self._registration.rn
        self.app_id = self.app_id or self._registration.app_id or None

    def _save_state(self) -> None:
        if self.state_dir is None or self._registration is None:
            return
        record = {
            "version": STATE_FILE_VERSION,
            "cse": self.cse,
            "cse_id": self.cse_id,
            "cse_name": self.cse_name,
            **{
                key: list(value) if isinstance(value, tuple) else value
                for key, value in self._registration_fields(self._registration).items()
            },
        }
        record.pop("reused")
        write_json_file(self.state_dir / STATE_FILE, record)

    def _clear_state(self) -> None:
        if self.state_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.state_dir / STATE_FILE)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _build_binding(
    cse: str,
    binding: str | Binding | None,
    fmt: Format,
    polling_channel: bool,
    binding_options: Mapping[str, Any],
) -> tuple[Binding, Callable[[], Binding] | None]:
    """The AE's binding, and a factory for a second one the <pollingChannel> poll needs (or None)."""
    if binding is not None and not isinstance(binding, str):
        return binding, None
    options = dict(binding_options)
    kind = binding or urlsplit(cse).scheme.lower().rstrip("s")
    if polling_channel and kind == "http":
        # No inbound connections is the point of polling: no notification server.
        options.setdefault("notification_host", None)
    factory: Callable[[], Binding] | None = None
    if polling_channel and kind == "coap":
        # ACME's CoAP server handles one request per client endpoint at a time:
        # a held long poll would stall every other request for poll_seconds.
        # The poll gets an endpoint (UDP socket) of its own.
        def factory() -> Binding:
            return open_binding(cse, serialization=fmt, binding=binding, **options)

    return open_binding(cse, serialization=fmt, binding=binding, **options), factory


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _newest(versions: Sequence[str]) -> str:
    return max(versions, key=_release_rank)


def _release_rank(version: str) -> int:
    order = ("1", "2", "2a", "3", "4", "5")
    return order.index(version) if version in order else -1


def _is_transient(exc: BaseException) -> bool:
    """True when the request may not have arrived and retrying it could succeed.

    Our own misuse is never transient; a CSE's answer is transient only with a
    "could not reach / out of time" RSC; a transport failure (refused, reset,
    timed out, a garbled answer) always is, since the request may or may not
    have arrived and every retry is safe to repeat.
    """
    if isinstance(exc, OneM2MUsageError):
        return False
    if isinstance(exc, OneM2MError):
        return exc.response is None or exc.rsc in TRANSIENT_RSCS
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError, EOFError)):
        return True
    # The bindings' libraries (websocket-client, aiocoap) have their own error roots.
    module = type(exc).__module__.split(".")[0]
    return module in ("websocket", "aiocoap", "h11")


def _attributes(
    response: ResponsePrimitive, expected: ResourceType | None, request: RequestPrimitive
) -> dict[str, Any]:
    if not response.pc:
        raise OneM2MProtocolError(f"{request.op.name} {request.to}: the answer has no resource representation")
    ty, attributes = parse_resource(response.pc)
    if expected is not None and ty is not None and ty != expected:
        raise OneM2MProtocolError(f"{request.op.name} {request.to}: expected a {expected.name}, got {ty.name}")
    return attributes


_FC_TUPLES = frozenset(
    f.name for f in fields(FilterCriteria) if f.name not in ("extra",) and str(f.type).startswith("tuple")
)
_FC_FIELDS = frozenset(f.name for f in fields(FilterCriteria))


def _filter_criteria(criteria: Mapping[str, Any]) -> FilterCriteria:
    values: dict[str, Any] = {"fu": FilterUsage.DISCOVERY}
    extra: dict[str, Any] = {}
    for key, value in criteria.items():
        if key not in _FC_FIELDS:
            extra[key] = value
        elif key in _FC_TUPLES:
            values[key] = tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else (value,)
        else:
            values[key] = value
    if extra:
        values["extra"] = extra
    return FilterCriteria(**values)


def _polled_requests(pc: Mapping[str, Any] | None) -> list[RequestPrimitive]:
    """The request primitives a <pollingChannel> RETRIEVE handed out (one, or a list when aggregated)."""
    from m2mclient.onem2m.serialization import request_from_dict

    if not pc:
        return []
    wrapped = pc.get("m2m:rqp")
    items = wrapped if isinstance(wrapped, list) else [pc]
    requests = []
    for item in items:
        try:
            requests.append(request_from_dict(item if "m2m:rqp" in item else {"m2m:rqp": item}))
        except OneM2MProtocolError as exc:
            log.warning("polling channel handed out a malformed request: %s", exc)
    return requests


def _received(notification: Notification, request: RequestPrimitive) -> ReceivedNotification:
    resource_type: ResourceType | None = None
    resource: dict[str, Any] | None = None
    value: Any = None
    if notification.nev is not None:
        with contextlib.suppress(OneM2MProtocolError):
            parsed = notification.nev.resource
            if parsed is not None:
                resource_type, resource = parsed
        if resource is not None and resource_type is ResourceType.CONTENT_INSTANCE:
            cnf = resource.get("cnf")
            value = decode_value(resource.get("con"), cnf if isinstance(cnf, str) else None)
        elif resource is None:
            value = notification.nev.rep  # nct=3 (resource id) and friends
    return ReceivedNotification(
        subscription=notification.sur,
        event_type=notification.nev.net if notification.nev else None,
        resource_type=resource_type,
        resource=resource,
        value=value,
        deleted=notification.sud,
        notification=notification,
        request=request,
    )


async def _awaited(awaitable: Awaitable[Any]) -> None:
    await awaitable


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------------
# Sync facade (DESIGN rule 4)
# ---------------------------------------------------------------------------


class SyncAE:
    """:class:`AE` for apps without asyncio: the AE runs on a loop in a background thread.

    Every keyword goes to :class:`AE`; every method blocks until done and
    returns what the async one returns. Subscription callbacks run on the
    loop's thread: hand work to your own thread (a ``queue.Queue``) if it is slow.

    >>> with SyncAE("http://127.0.0.1:8080", app_id="Nsensor", name="pi-7", originator="Cpi-7") as ae:
    ...     ae.register()
    ...     ae.create_container("temperature")
    ...     ae.publish("temperature", 21.5)
    """

    def __init__(self, cse: str, **options: Any) -> None:
        self._cse = cse
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ae: AE | None = None

    @property
    def ae(self) -> AE:
        """The async AE underneath."""
        if self._ae is None:
            raise RuntimeError("the AE is not started; call start() or use 'with SyncAE(...)'")
        return self._ae

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the AE is not started; call start() or use 'with SyncAE(...)'")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> None:
        """Start the loop thread and open the binding."""
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="m2mclient-onem2m", daemon=True)
        self._thread.start()

        async def create() -> AE:
            ae = AE(self._cse, **self._options)
            await ae.open()
            return ae

        try:
            self._ae = self._run(create())
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float | None = 30.0) -> None:
        """Close the AE (the registration stays) and stop the loop thread."""
        if self._loop is None or self._thread is None:
            return
        try:
            if self._ae is not None:
                self._run(self._ae.close(), timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop.close()
            self._loop, self._thread, self._ae = None, None, None

    close = stop

    def __enter__(self) -> SyncAE:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def registration(self) -> Registration | None:
        """See :attr:`AE.registration`."""
        return self.ae.registration

    @property
    def aei(self) -> str:
        """See :attr:`AE.aei`."""
        return self.ae.aei

    def register(self) -> Registration:
        """See :meth:`AE.register`."""
        return self._run(self.ae.register())

    def deregister(self) -> None:
        """See :meth:`AE.deregister`."""
        self._run(self.ae.deregister())

    def create_container(self, name: str, **options: Any) -> dict[str, Any]:
        """See :meth:`AE.create_container`."""
        return self._run(self.ae.create_container(name, **options))

    def publish(self, container: str, value: Any, **options: Any) -> Publication:
        """See :meth:`AE.publish`."""
        return self._run(self.ae.publish(container, value, **options))

    def flush(self) -> FlushResult:
        """See :meth:`AE.flush`."""
        return self._run(self.ae.flush())

    def latest(self, container: str) -> ContentInstance:
        """See :meth:`AE.latest`."""
        return self._run(self.ae.latest(container))

    def subscribe(self, target: str, on_notify: NotifyCallback, **options: Any) -> Subscription:
        """See :meth:`AE.subscribe` (``on_notify`` runs on the loop thread)."""
        return self._run(self.ae.subscribe(target, on_notify, **options))

    def unsubscribe(self, subscription: Subscription | str) -> None:
        """See :meth:`AE.unsubscribe`."""
        self._run(self.ae.unsubscribe(subscription))

    def discover(self, under: str = "", **criteria: Any) -> list[str]:
        """See :meth:`AE.discover`."""
        return self._run(self.ae.discover(under, **criteria))

    def retrieve(self, path: str = "", **params: Any) -> dict[str, Any]:
        """See :meth:`AE.retrieve`."""
        return self._run(self.ae.retrieve(path, **params))

    def update(self, path: str, content: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        """See :meth:`AE.update`."""
        return self._run(self.ae.update(path, content, **params))

    def delete(self, path: str, **params: Any) -> None:
        """See :meth:`AE.delete`."""
        self._run(self.ae.delete(path, **params))

    def submit(self, op: Operation, path: str, **options: Any) -> PendingRequest:
        """See :meth:`AE.submit`."""
        return self._run(self.ae.submit(op, path, **options))

    def result(self, pending: PendingRequest | str, *, timeout: float = 30.0) -> ResponsePrimitive:
        """See :meth:`AE.result`."""
        return self._run(self.ae.result(pending, timeout=timeout))

    def renew(self) -> Registration:
        """See :meth:`AE.renew`."""
        return self._run(self.ae.renew())
